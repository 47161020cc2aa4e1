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

/// Two detectors with different crop policies (manifest `margin` and `align`) on the same videos:
/// both are scored from the one decode of each video (the cache keeps the face's context; each
/// crop is cut from it at score time), their crops differ, and `arena eval`'s offline pipeline
/// gives the same scores as the platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detectors_with_different_crops_share_one_decode() {
    use arena::entities::{detectors, scores};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let _serial = SERIAL.lock().await;
    let app = spawn_app_with(AppOptions::default()).await;
    app.competition("crops").await;
    let alice = app.team("alice", "creator").await;
    let dana = app.team("dana", "detector").await;
    let erin = app.team("erin", "detector").await;
    let (model, manifest) = arena_datasets::detector("greenish");
    let model_bytes = std::fs::read(&model).unwrap_or_default();
    let base = std::fs::read_to_string(&manifest).unwrap_or_default();
    let tight = format!("{base}margin = 1.0\n");
    let wide = format!("{base}margin = 2.5\nalign = true\n");

    let decodes = arena_worker::media::decode_count();
    let clips = [video("face_moving.mp4"), video("face_hflip.mp4")];
    let real = id_of(app.post_real("crops", &clips[0]).await).await;
    let fake = id_of(app.post_creation("crops", Some(&alice), &clips[1]).await).await;
    let d1 = id_of(
        app.post_detector_bytes(
            "crops",
            Some(&dana),
            model_bytes.clone(),
            tight.clone().into(),
        )
        .await,
    )
    .await;
    let d2 = id_of(
        app.post_detector_bytes(
            "crops",
            Some(&erin),
            model_bytes.clone(),
            wide.clone().into(),
        )
        .await,
    )
    .await;
    for id in [real, fake, d1, d2] {
        let done = app.wait_submission(id, WAIT).await;
        assert_eq!(done["status"], "finished", "{done}");
    }
    app.wait_idle(WAIT).await;
    assert_eq!(
        arena_worker::media::decode_count() - decodes,
        2,
        "one decode per video, whatever the detectors' crops"
    );

    // Each detector's scores, by video content order (the real clip, then the creation).
    let db = app.ctx.db();
    let mut platform = Vec::new();
    for sub in [d1, d2] {
        let det = detectors::Entity::find()
            .filter(detectors::Column::SubmissionId.eq(sub))
            .one(db)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no detector for submission {sub}"));
        let mut rows = scores::Entity::find()
            .filter(scores::Column::DetectorId.eq(det.id))
            .all(db)
            .await
            .unwrap_or_default();
        rows.sort_by_key(|s| s.video_id);
        assert_eq!(rows.len(), 2, "detector {}: {rows:?}", det.id);
        assert!(rows.iter().all(|s| !s.failed), "{rows:?}");
        platform.push(rows);
    }
    // Different crops, different per-frame scores.
    assert_ne!(platform[0][0].per_frame, platform[1][0].per_frame);

    // `arena eval` over the same files and manifests: the same scores.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut dets = Vec::new();
    for (name, text) in [("tight", &tight), ("wide", &wide)] {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        dets.push((model.clone(), path));
    }
    let opts = arena_worker::eval::EvalOptions {
        parallel: 1,
        intra_threads: 1,
        ..arena_worker::eval::EvalOptions::from_settings(app.ctx.settings())
    };
    let videos = clips.to_vec();
    let report = tokio::task::spawn_blocking(move || {
        arena_worker::eval::evaluate_offline(&videos, &dets, &opts)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.decodes, 2);
    for (d, rows) in platform.iter().enumerate() {
        for (v, row) in rows.iter().enumerate() {
            let offline = report.videos[v].scores[d]
                .score
                .unwrap_or_else(|| panic!("{:?}", report.videos[v]));
            assert!(
                (f64::from(offline) - row.score).abs() < 1e-6,
                "detector {d} video {v}: eval {offline} vs platform {}",
                row.score
            );
        }
    }
}
