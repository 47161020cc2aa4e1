//! Videos posted as a creation: playlists and scripts that would make FFmpeg open another file,
//! files that are not videos, and videos over the limits.

use crate::common::{answer, app, case, refused};

async fn creation(file: &str, status: u16, code: &str) {
    let app = app(|_| {}).await;
    app.competition("c").await;
    let creator = app.team("mallory", "creator").await;
    let resp = app
        .post_creation("c", Some(&creator), &case(&format!("videos/{file}")))
        .await;
    refused(&app, &answer(resp).await, status, code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_playlist_naming_the_secret() {
    creation("hls_playlist.mp4", 415, "unsupported_media").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffconcat_script_naming_the_secret() {
    creation("ffconcat.mp4", 415, "unsupported_media").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avi_carrying_a_playlist() {
    creation("avi_playlist.mp4", 415, "unsupported_media").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_bytes() {
    creation("zero_bytes.mp4", 415, "unsupported_media").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_mp4() {
    creation("truncated.mp4", 422, "invalid_video").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn png_image() {
    creation("not_a_video.png", 415, "unsupported_media").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_dimensions() {
    creation("absurd_dimensions.mp4", 422, "video_limits_exceeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_duration() {
    creation("absurd_duration.mp4", 422, "video_limits_exceeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_frame_count() {
    creation("absurd_frame_count.mp4", 422, "video_limits_exceeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_streams() {
    creation("too_many_streams.mp4", 422, "video_limits_exceeded").await;
}
