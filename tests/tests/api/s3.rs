//! Object storage on a real S3-compatible server (moto): the store itself, and a whole game
//! played with every upload, crop cache and model in the bucket.

use arena::storage::Storage;
use arena_datasets::video;
use arena_tests::moto::MotoServer;
use arena_tests::{AppOptions, spawn_app_with};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_round_trips_through_s3_with_multipart() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket("arena-test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Storage::open(Some("s3://arena-test/run1"), dir.path(), &moto.options())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!store.exists("videos/a").await.unwrap_or(true));
    store
        .put("videos/a", bytes::Bytes::from_static(b"abc"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.get("videos/a").await.unwrap_or_default().as_ref(),
        b"abc"
    );
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 253) as u8).collect();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &big).unwrap_or_else(|e| panic!("{e}"));
    store
        .put_file("videos/big", &path)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.get("videos/big").await.unwrap_or_default().len(),
        big.len()
    );
    store
        .delete("videos/a")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!store.exists("videos/a").await.unwrap_or(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_runs_on_s3_storage() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket("arena")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = moto.options();
    let app = spawn_app_with(AppOptions {
        tweak: |s| s.storage = Some("s3://arena/objects".to_owned()),
        s3: Some(opts),
        ..AppOptions::default()
    })
    .await;
    app.competition("s").await;
    let alice = app.team("alice", "creator").await;
    let dana = app.team("dana", "detector").await;
    let mut ids = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4"] {
        ids.push(app.post_real("s", &video(name)).await);
    }
    ids.push(
        app.post_creation("s", Some(&alice), &video("fake_2.mp4"))
            .await,
    );
    ids.push(app.post_detector("s", Some(&dana), "redblue").await);
    for resp in ids {
        assert_eq!(resp.status().as_u16(), 202);
        let id = resp.json::<Value>().await.unwrap_or_default()["id"]
            .as_i64()
            .unwrap_or_default();
        assert_eq!(
            app.wait_submission(id, Duration::from_secs(120)).await["status"],
            "finished"
        );
    }
    let (_, board) = app
        .get_json("/api/v1/competitions/s/leaderboard", None)
        .await;
    assert_eq!(
        board["detection"][0]["score"].as_f64(),
        Some(1.0),
        "{board}"
    );
    assert!(
        app.stored_objects().is_empty(),
        "nothing lands on the local disk: {:?}",
        app.stored_objects()
    );
}
