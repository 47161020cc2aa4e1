//! Creation zips: bombs (caps counted on inflated bytes, whatever the headers say), entries that
//! would land outside the upload folder or follow a link, too many entries, archives in archives.

use crate::common::{answer, app, case, refused};
use arena::Settings;

async fn zip(file: &str, tweak: fn(&mut Settings), code: &str) {
    let app = app(tweak).await;
    app.competition("c").await;
    let creator = app.team("mallory", "creator").await;
    let resp = app
        .post_creation("c", Some(&creator), &case(&format!("archives/{file}")))
        .await;
    refused(&app, &answer(resp).await, 422, code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_bomb_over_the_ratio() {
    zip("zip_bomb_ratio.zip", |_| {}, "archive_too_large").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_bomb_whose_headers_lie_about_sizes() {
    zip("zip_bomb_lying_header.zip", |_| {}, "archive_too_large").await;
}

/// Entries within the ratio whose sum passes the total cap (4× the video cap, 800 kB here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_bomb_over_the_total() {
    let tweak = |s: &mut Settings| s.limits.max_video_bytes = 200_000;
    zip("zip_bomb_total.zip", tweak, "archive_too_large").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_slip_with_dotdot() {
    zip("zip_slip_dotdot.zip", |_| {}, "archive_unsafe_path").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_slip_with_an_absolute_path() {
    zip("zip_slip_absolute.zip", |_| {}, "archive_unsafe_path").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_symlink_to_the_secret() {
    zip("zip_symlink.zip", |_| {}, "archive_unsafe_path").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_with_too_many_entries() {
    zip(
        "zip_too_many_entries.zip",
        |_| {},
        "archive_too_many_entries",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_inside_a_zip() {
    zip("zip_nested.zip", |_| {}, "nested_archive").await;
}
