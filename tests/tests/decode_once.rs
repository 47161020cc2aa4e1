//! A video is decoded once however many detectors arrive (its own test binary, so the
//! process-wide decode counter sees no other test's decodes).

use arena_datasets::video;
use arena_tests::{AppOptions, spawn_app_with};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

/// The decode counter is process-wide: these tests run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn id_of(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    let body: Value = resp.json().await.unwrap_or_default();
    body["id"].as_i64().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_detector_reuses_cached_frames() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app_with(AppOptions::default()).await;
    app.competition("cache").await;
    let alice = app.team("alice", "creator").await;
    let dana = app.team("dana", "detector").await;
    let erin = app.team("erin", "detector").await;
    let real = id_of(app.post_real("cache", &video("real_1.mp4")).await).await;
    let fake = id_of(
        app.post_creation("cache", Some(&alice), &video("fake_1.mp4"))
            .await,
    )
    .await;
    let d1 = id_of(app.post_detector("cache", Some(&dana), "redblue").await).await;
    for id in [real, fake, d1] {
        app.wait_submission(id, WAIT).await;
    }
    let decodes = arena_worker::media::decode_count();
    let d2 = id_of(app.post_detector("cache", Some(&erin), "greenish").await).await;
    let done = app.wait_submission(d2, WAIT).await;
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(done["progress"]["total"], 2);
    assert_eq!(
        arena_worker::media::decode_count(),
        decodes,
        "a new detector must not decode again"
    );
}

/// Two workers racing on the same content (uploaded twice) decode it once: the first claims it,
/// the second waits for its cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_on_the_same_content_decode_it_once() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app_with(AppOptions {
        workers: 2,
        ..AppOptions::default()
    })
    .await;
    app.competition("race").await;
    let decodes = arena_worker::media::decode_count();
    let clip = video("real_2.mp4");
    let (a, b) = tokio::join!(app.post_real("race", &clip), app.post_real("race", &clip));
    let (a, b) = (id_of(a).await, id_of(b).await);
    for id in [a, b] {
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    }
    assert_eq!(
        arena_worker::media::decode_count() - decodes,
        1,
        "one decode for one content"
    );
}
