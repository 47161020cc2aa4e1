//! `arena up --demo`'s seed (what `make demo` shows): a rounds competition played to D2 through
//! the real ingest and workers, whose boards fill with numbers from the pipeline — round 1 final,
//! round 2 provisional — and a second seed that changes nothing.

use arena_tests::{AppOptions, spawn_app_with};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(240);

fn scores(board: &Value, which: &str) -> BTreeMap<String, f64> {
    board[which]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let team = r["team"].as_str().unwrap_or_default().to_owned();
            (team, r["score"].as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seed_plays_two_rounds_through_the_pipeline() {
    arena_web::telemetry::init(arena_web::telemetry::LogFormat::Text);
    let started = Instant::now();
    let app = spawn_app_with(AppOptions {
        workers: 2,
        ..AppOptions::default()
    })
    .await;
    arena_web::demo::seed(&app.ctx)
        .await
        .unwrap_or_else(|e| panic!("seed: {e}"));
    app.wait_idle(WAIT).await;
    eprintln!(
        "demo seeded and scored in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let (status, r1) = app
        .get_json("/api/v1/competitions/demo/leaderboard?round=1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(r1["provisional"], false, "D1 closed: round 1 is final");
    let det = scores(&r1, "detection");
    assert_eq!(
        det.keys().map(String::as_str).collect::<Vec<_>>(),
        ["constant-lab", "edges-lab", "redblue-lab", "weak-lab"]
    );
    assert!(det["edges-lab"] >= 0.85, "{r1}");
    assert!(det["weak-lab"] < det["edges-lab"], "{r1}");
    assert_eq!(det["constant-lab"], 0.5);
    let cre = scores(&r1, "creation");
    assert_eq!(
        cre.keys().map(String::as_str).collect::<Vec<_>>(),
        ["careful-swaps", "crude-swaps"]
    );
    assert!(cre.values().all(|s| s.is_finite()), "{r1}");

    // The default board is round 2: D2 open, creations scored against D1's finals.
    let (_, r2) = app
        .get_json("/api/v1/competitions/demo/leaderboard", None)
        .await;
    assert_eq!(
        (r2["round"].as_i64(), r2["provisional"].as_bool()),
        (Some(2), Some(true))
    );
    let det = scores(&r2, "detection");
    assert_eq!(det.len(), 3, "{r2}");
    assert!(det.values().all(|s| s.is_finite()), "{r2}");
    let cre = scores(&r2, "creation");
    assert_eq!(cre.len(), 3, "{r2}");
    assert!(cre.values().all(|s| s.is_finite()), "{r2}");
    assert!(
        r2["ratings"].as_array().is_some_and(|r| r.len() == 6),
        "{r2}"
    );
    let (status, matrix) = app.get_json("/api/v1/competitions/demo/matrix", None).await;
    assert_eq!(status, 200, "{matrix}");

    // Seeding again is a no-op.
    let before = app.submission_count().await;
    arena_web::demo::seed(&app.ctx)
        .await
        .unwrap_or_else(|e| panic!("second seed: {e}"));
    assert_eq!(app.submission_count().await, before);
    let tokens = std::fs::read_to_string(app.dir.path().join("demo-tokens.txt"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        tokens.lines().any(|l| l.starts_with("edges-lab ")),
        "{tokens}"
    );
}
