//! The slice of the game end to end: reals, two creations, a detector → scores → boards, with
//! every number checked against an AUC computed by hand for the fixtures.
//!
//! Fixture detector `redblue` scores sigmoid(4·(meanR − meanB)/255), so it orders the fixtures
//! real_1 (−140) < fake_1 (−56) < real_2 (0) < real_3 (140) < fake_2 (200).
//! AUC(redblue, A = {fake_1}) = 1/3 (beats real_1 only); AUC(redblue, B = {fake_2}) = 1.

use arena_datasets::video;
use arena_tests::{AppOptions, Backend, TestApp, backends, spawn_app_with};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

async fn id_of(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["status"], "queued");
    body["id"].as_i64().unwrap_or_default()
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

async fn play(app: &TestApp, detector_first: bool) {
    app.competition("game").await;
    let alice = app.team("alice", "creator").await;
    let bob = app.team("bob", "creator").await;
    let dana = app.team("dana", "detector").await;

    let mut subs = Vec::new();
    if detector_first {
        subs.push(id_of(app.post_detector("game", Some(&dana), "redblue").await).await);
    }
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        subs.push(id_of(app.post_real("game", &video(name)).await).await);
    }
    let a = id_of(
        app.post_creation("game", Some(&alice), &video("fake_1.mp4"))
            .await,
    )
    .await;
    let b = id_of(
        app.post_creation("game", Some(&bob), &video("fake_2.mp4"))
            .await,
    )
    .await;
    subs.extend([a, b]);
    if !detector_first {
        subs.push(id_of(app.post_detector("game", Some(&dana), "redblue").await).await);
    }
    for id in &subs {
        let done = app.wait_submission(*id, WAIT).await;
        assert_eq!(done["status"], "finished", "{done}");
        assert_eq!(done["progress"]["done"], done["progress"]["total"]);
    }

    let (status, board) = app
        .get_json("/api/v1/competitions/game/leaderboard", None)
        .await;
    assert_eq!(status, 200);
    let det = &board["detection"][0];
    assert_eq!(det["team"], "dana");
    assert_eq!(det["rank"], 1);
    assert!(close(&det["score"], 2.0 / 3.0), "{det}");
    assert!(close(&det["pooled_auc"], 4.0 / 6.0), "{det}");
    assert!(close(&det["worst_auc"], 1.0 / 3.0), "{det}");

    let creation = board["creation"].as_array().cloned().unwrap_or_default();
    assert_eq!(creation.len(), 2);
    assert_eq!(creation[0]["team"], "alice");
    assert_eq!(creation[0]["rank"], 1);
    assert!(close(&creation[0]["anti_detection"], 2.0 / 3.0), "{board}");
    assert_eq!(creation[1]["team"], "bob");
    assert!(close(&creation[1]["anti_detection"], 0.0), "{board}");

    // The creator sees its own submission; another team does not.
    let (status, body) = app
        .get_json(&format!("/api/v1/submissions/{a}"), Some(&alice))
        .await;
    assert_eq!((status, body["team"].as_str()), (200, Some("alice")));
    let (status, body) = app
        .get_json(&format!("/api/v1/submissions/{a}"), Some(&bob))
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_yours")));

    // The page shows both tables with the same numbers.
    let page = app
        .client
        .get(app.url("/c/game"))
        .send()
        .await
        .map(|r| r.text());
    let html = match page {
        Ok(fut) => fut.await.unwrap_or_default(),
        Err(e) => panic!("page: {e}"),
    };
    assert!(html.contains("id=\"detection\"") && html.contains("id=\"creation\""));
    assert!(html.contains("dana") && html.contains("alice") && html.contains("0.6667"));

    let csv = app
        .client
        .get(app.url("/api/v1/competitions/game/leaderboard?format=csv&board=creation"))
        .send()
        .await;
    let csv = match csv {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => panic!("csv: {e}"),
    };
    assert!(
        csv.starts_with("rank,team,submission,score,anti_detection,") && csv.contains("\n1,alice,"),
        "{csv}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_then_detector_on_every_backend() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 2,
            ..AppOptions::default()
        })
        .await;
        play(&app, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_then_videos_gives_the_same_board() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        ..AppOptions::default()
    })
    .await;
    play(&app, true).await;
}
