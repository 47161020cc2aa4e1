//! The server-rendered pages show the same numbers as the API: boards with rating interval bars,
//! the AUC heatmap with hover titles, a submission's progress per pair, a team's history, and the
//! API docs generated from the handlers.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where the app misbehaves"
)]

use arena_datasets::video;
use arena_tests::web::WebClient;
use arena_tests::{AppOptions, Backend, spawn_app_with};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

async fn accepted(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    let body: Value = resp.json().await.unwrap_or_default();
    body["id"].as_i64().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_the_boards_matrix_submissions_and_teams() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 2,
        ..AppOptions::default()
    })
    .await;
    app.competition("game").await;
    let alice = app.team("alice", "creator").await;
    let bob = app.team("bob", "creator").await;
    let dana = app.team("dana", "detector").await;
    let mut subs = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        subs.push(accepted(app.post_real("game", &video(name)).await).await);
    }
    let a = accepted(
        app.post_creation("game", Some(&alice), &video("fake_1.mp4"))
            .await,
    )
    .await;
    let b = accepted(
        app.post_creation("game", Some(&bob), &video("fake_2.mp4"))
            .await,
    )
    .await;
    let d = accepted(app.post_detector("game", Some(&dana), "redblue").await).await;
    subs.extend([a, b, d]);
    for id in &subs {
        let done = app.wait_submission(*id, WAIT).await;
        assert_eq!(done["status"], "finished", "{done}");
    }
    let mut anon = WebClient::new(&app.address);

    let index = anon.get("/").await;
    assert_eq!(index.status, 200);
    assert!(index.body.contains("href=\"/c/game\"") && index.body.contains("Test game"));

    let board = anon.get("/c/game").await;
    assert_eq!(board.status, 200);
    assert!(board.content_type.starts_with("text/html"));
    for needle in [
        "id=\"detection\"",
        "id=\"creation\"",
        "id=\"ratings\"",
        "<svg class=\"bar\"",
        "0.6667", // dana's mean AUC (1/3 + 1)/2
        "0.3333", // her worst pair
        "<script src=\"/static/board.js\" defer></script>",
        "dana",
        "alice",
        "bob",
    ] {
        assert!(board.body.contains(needle), "board page lacks {needle}");
    }
    // Its live-update script (served from this origin: the CSP allows no inline script).
    let script = anon.get("/static/board.js").await;
    assert!(script.body.contains("new EventSource("), "{}", script.body);
    // The page's rating rows carry the API's numbers.
    let (_, json) = app
        .get_json("/api/v1/competitions/game/leaderboard", None)
        .await;
    for r in json["ratings"].as_array().into_iter().flatten() {
        let rating = format!("{:.1}", r["rating"].as_f64().unwrap_or_default());
        assert!(board.body.contains(&rating), "rating {rating} missing");
    }

    let matrix = anon.get("/c/game/matrix").await;
    assert_eq!(matrix.status, 200);
    assert!(matrix.body.contains("<svg id=\"heatmap\""));
    assert!(
        matrix.body.contains(&format!(
            "<title>dana #{d} vs alice #{a}: AUC 0.3333</title>"
        )),
        "{}",
        matrix.body
    );
    assert!(
        matrix
            .body
            .contains(&format!("<title>dana #{d} vs bob #{b}: AUC 1.0000</title>"))
    );

    // Submission pages need a login: anonymous visitors are sent to it.
    let redirect = anon.get(&format!("/submissions/{a}")).await;
    assert_eq!(redirect.status, 303);
    assert_eq!(
        redirect.location.as_deref(),
        Some(format!("/login?next=/submissions/{a}").as_str())
    );
    let mut browser = WebClient::new(&app.address);
    assert_eq!(browser.login(&alice).await.status, 303);
    let page = browser.get(&format!("/submissions/{a}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<strong id=\"status\">finished</strong>")
    );
    assert!(page.body.contains(&format!("dana #{d}")) && page.body.contains("1/1"));
    assert!(
        !page.body.contains("real_1"),
        "hidden reals are never named"
    );
    let theirs = browser.get(&format!("/submissions/{b}")).await;
    assert_eq!(theirs.status, 403);
    assert!(theirs.body.contains("not_yours"));

    // A detector's progress is per creation and for the real set, with counts only.
    let mut detector = WebClient::new(&app.address);
    detector.login(&dana).await;
    let page = detector.get(&format!("/submissions/{d}")).await;
    assert!(page.body.contains("hidden real videos") && page.body.contains("3/3"));
    assert!(page.body.contains(&format!("alice #{a}")) && page.body.contains(&format!("bob #{b}")));

    // Team pages: public history; the upload forms only on your own.
    let public = anon.get("/teams/alice").await;
    assert_eq!(public.status, 200);
    assert!(public.body.contains(&format!("data-key=\"{a}\"")));
    assert!(!public.body.contains("id=\"creation-form\""));
    let own = browser.get("/teams/alice").await;
    assert!(
        own.body.contains("id=\"creation-form\"") && !own.body.contains("id=\"detector-form\"")
    );
    assert_eq!(anon.get("/teams/nobody").await.status, 404);
    assert_eq!(anon.get("/c/nope").await.status, 404);

    // The API docs list every API route, generated from the handlers.
    let (status, doc) = app.get_json("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/competitions",
        "/api/v1/competitions/{slug}",
        "/api/v1/competitions/{slug}/leaderboard",
        "/api/v1/competitions/{slug}/matrix",
        "/api/v1/competitions/{slug}/events",
        "/api/v1/competitions/{slug}/creations",
        "/api/v1/competitions/{slug}/detectors",
        "/api/v1/competitions/{slug}/reals",
        "/api/v1/competitions/{slug}/phases",
        "/api/v1/competitions/{slug}/phases/advance",
        "/api/v1/competitions/{slug}/tasks",
        "/api/v1/competitions/{slug}/tasks/{task_id}/target",
        "/api/v1/competitions/{slug}/ratings",
        "/api/v1/submissions/{id}",
        "/api/v1/teams",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let docs = anon.get("/api/docs").await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.body
            .contains("/api/v1/competitions/{slug}/leaderboard")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_phases_with_countdowns() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let (status, _) = app
        .admin_post(
            "/api/v1/competitions",
            serde_json::json!({ "slug": "r", "title": "Rounds", "mode": "rounds" }),
        )
        .await;
    assert_eq!(status, 201);
    let now = arena::time::now_ms();
    let hour = 3_600_000;
    for (kind, opens, closes) in [
        ("creation", now - hour, now + hour),
        ("detection", now + hour, now + 3 * hour),
    ] {
        let (status, _) = app
            .admin_post(
                "/api/v1/competitions/r/phases",
                serde_json::json!({ "kind": kind, "round": 1, "opens_at_ms": opens, "closes_at_ms": closes }),
            )
            .await;
        assert_eq!(status, 201);
    }
    let page = WebClient::new(&app.address).get("/c/r").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"phases\""));
    assert!(page.body.contains("class=\"state-open\">open") && page.body.contains("closes in 59m"));
    assert!(
        page.body.contains("class=\"state-upcoming\">upcoming")
            && page.body.contains("opens in 59m")
    );
    assert!(
        page.body
            .contains(&format!("data-deadline=\"{}\"", now + hour))
    );
}
