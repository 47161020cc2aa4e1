//! Final picks and notes (`PUT /api/v1/submissions/{id}/final` and `/note`): a team's final picks
//! decide which of its submissions the board ranks, at most `settings.final_picks` of them.

use arena_datasets::video;
use arena_tests::web::WebClient;
use arena_tests::{TestApp, backends, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

async fn accepted(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    resp.json::<Value>().await.unwrap_or_default()["id"]
        .as_i64()
        .unwrap_or_default()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let resp = app
        .client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn pick(app: &TestApp, id: i64, token: &str, pick: bool) -> (u16, Value) {
    put(
        app,
        &format!("/api/v1/submissions/{id}/final"),
        token,
        json!({ "final": pick }),
    )
    .await
}

/// The detection row the board shows for `team`, once `done` holds for it.
async fn row(app: &TestApp, slug: &str, team: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, board) = app
            .get_json(&format!("/api/v1/competitions/{slug}/leaderboard"), None)
            .await;
        let rows: Vec<Value> = board["detection"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["team"] == team)
            .cloned()
            .collect();
        assert!(rows.len() <= 1, "one row per team: {board}");
        let found = rows.into_iter().next().unwrap_or(Value::Null);
        if done(&found) || std::time::Instant::now() > deadline {
            assert!(done(&found), "the board never showed it: {board}");
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_final_picks_decide_its_board_entry() {
    for backend in backends() {
        let app = spawn_app_with(arena_tests::AppOptions {
            backend,
            ..arena_tests::AppOptions::default()
        })
        .await;
        finals(&app).await;
    }
}

async fn finals(app: &TestApp) {
    let settings = json!({ "final_picks": 2 });
    let (status, body) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "f", "title": "finals", "settings": settings }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "nofinals", "title": "no finals" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let alice = app.team("f-alice", "creator").await;
    let dana = app.team("f-dana", "detector").await;
    let mut all = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        all.push(accepted(app.post_real("f", &video(name)).await).await);
    }
    // fake_2 is what redblue (and greenish) spot and constant cannot (datasets/fixtures/README.md).
    all.push(
        accepted(
            app.post_creation("f", Some(&alice), &video("fake_2.mp4"))
                .await,
        )
        .await,
    );
    let good = accepted(app.post_detector("f", Some(&dana), "redblue").await).await;
    let worst = accepted(app.post_detector("f", Some(&dana), "constant").await).await;
    let third = accepted(app.post_detector("f", Some(&dana), "greenish").await).await;
    let elsewhere = accepted(app.post_detector("nofinals", Some(&dana), "redblue").await).await;
    all.extend([good, worst, third, elsewhere]);
    for id in all {
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    }

    // No picks: the best/last policy (best) as before.
    let best = row(app, "f", "f-dana", |r| {
        r["score"].is_number() && r["submission"] != worst
    })
    .await;
    assert_eq!(best["final"], false, "{best}");
    let best_score = best["score"].as_f64().unwrap_or_default();
    let (_, sub) = app
        .get_json(&format!("/api/v1/submissions/{worst}"), Some(&dana))
        .await;
    assert_eq!((&sub["final"], &sub["note"]), (&json!(false), &Value::Null));

    // Only its team (or an organizer), only where finals are on.
    let (status, body) = pick(app, worst, &alice, true).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_yours")));
    let (status, body) = pick(app, elsewhere, &dana, true).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("finals_off")),
        "{body}"
    );
    let (status, body) = pick(app, 999_999, &dana, true).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("submission_not_found"))
    );
    let (status, body) = put(
        app,
        &format!("/api/v1/submissions/{worst}/final"),
        &dana,
        json!({ "final": "yes" }),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));

    // The worse detector picked final: the board ranks it, marked final.
    let (status, body) = pick(app, worst, &dana, true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["final"], &body["submission"]),
        (&json!(true), &json!(worst))
    );
    let shown = row(app, "f", "f-dana", |r| r["submission"] == worst).await;
    assert_eq!(shown["final"], true, "{shown}");
    let shown_score = shown["score"].as_f64().unwrap_or(f64::NAN);
    assert!(shown_score < best_score, "{shown} vs {best}");
    let (_, sub) = app
        .get_json(&format!("/api/v1/submissions/{worst}"), Some(&dana))
        .await;
    assert_eq!(sub["final"], true, "{sub}");
    // The CSV carries the flag too.
    let csv = app
        .client
        .get(app.url("/api/v1/competitions/f/leaderboard?format=csv&board=detection"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(
        csv.lines().next().is_some_and(|h| h.ends_with(",final")),
        "{csv}"
    );

    // Picking again is idempotent; a second pick is allowed, a third beyond final_picks = 2 not.
    assert_eq!(pick(app, worst, &dana, true).await.0, 200);
    assert_eq!(pick(app, third, &dana, true).await.0, 200);
    let (status, body) = pick(app, good, &dana, true).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("final_picks_exceeded")),
        "{body}"
    );
    let (_, sub) = app
        .get_json(&format!("/api/v1/submissions/{good}"), Some(&dana))
        .await;
    assert_eq!(sub["final"], false, "a refused pick leaves nothing: {sub}");

    // Unpicking both: the best again, not marked final.
    assert_eq!(pick(app, worst, &dana, false).await.0, 200);
    assert_eq!(pick(app, third, &dana, false).await.0, 200);
    let back = row(app, "f", "f-dana", |r| {
        r["submission"] == best["submission"]
    })
    .await;
    assert_eq!(back["final"], false, "{back}");

    // Notes: shown on the submission, at most 280 characters, empty clears.
    let note_path = format!("/api/v1/submissions/{good}/note");
    let (status, body) = put(
        app,
        &note_path,
        &dana,
        json!({ "note": "resnet, 3 epochs" }),
    )
    .await;
    assert_eq!(
        (status, &body["note"]),
        (200, &json!("resnet, 3 epochs")),
        "{body}"
    );
    let (_, sub) = app
        .get_json(&format!("/api/v1/submissions/{good}"), Some(&dana))
        .await;
    assert_eq!(sub["note"], "resnet, 3 epochs", "{sub}");
    let (status, body) = put(app, &note_path, &dana, json!({ "note": "x".repeat(281) })).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_note")));
    let (status, body) = put(app, &note_path, &alice, json!({ "note": "mine" })).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_yours")));
    let (_, sub) = app
        .get_json(&format!("/api/v1/submissions/{good}"), Some(&dana))
        .await;
    assert_eq!(sub["note"], "resnet, 3 epochs", "refusals leave it: {sub}");
    let (status, body) = put(app, &note_path, &dana, json!({ "note": "" })).await;
    assert_eq!((status, &body["note"]), (200, &Value::Null), "{body}");

    // The submission page: its team sets both with the page's forms (CSRF-checked).
    let mut browser = WebClient::new(&app.address);
    assert_eq!(browser.login(&dana).await.status, 303);
    let page_path = format!("/submissions/{worst}");
    let page = browser.get(&page_path).await;
    assert!(!page.body.contains("id=\"final-badge\""), "{}", page.body);
    assert!(page.body.contains("Mark as final pick"), "{}", page.body);
    let csrf = page.csrf().unwrap_or_default();
    let forged = browser
        .post_form(
            &format!("/submissions/{worst}/note"),
            &[("csrf", "forged"), ("note", "nope")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let done = browser
        .post_form(
            &format!("/submissions/{worst}/note"),
            &[("csrf", &csrf), ("note", "the <constant> one")],
        )
        .await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some(page_path.as_str()))
    );
    let done = browser
        .post_form(
            &format!("/submissions/{worst}/final"),
            &[("csrf", &csrf), ("final", "true")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = browser.get(&page_path).await;
    assert!(page.body.contains("id=\"final-badge\""), "{}", page.body);
    assert!(
        page.body.contains("the &#60;constant&#62; one"),
        "the note, escaped: {}",
        page.body
    );
    assert!(page.body.contains("Unmark as final pick"), "{}", page.body);
    row(app, "f", "f-dana", |r| {
        r["submission"] == worst && r["final"] == true
    })
    .await;
    let board = WebClient::new(&app.address).get("/c/f").await;
    assert!(board.body.contains("(final pick)"), "{}", board.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_mode_counts_picks_per_phase_and_settles_them_at_its_close() {
    let app = spawn_app_with(arena_tests::AppOptions::default()).await;
    let (status, body) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "r", "title": "r", "mode": "rounds",
                "settings": { "final_picks": 1 } }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let now = arena::time::now_ms();
    let phase = json!({ "kind": "creation", "round": 1, "opens_at_ms": now - 1000,
        "closes_at_ms": now + 3_600_000 });
    let (status, body) = app.admin_post("/api/v1/competitions/r/phases", phase).await;
    assert_eq!(status, 201, "{body}");
    for task in ["t1", "t2"] {
        let form = reqwest::multipart::Form::new()
            .part("target", arena_tests::part(&video("real_1.mp4")))
            .text("task_id", task)
            .text("round", "1")
            .text("donor", "id1");
        let resp = app
            .client
            .post(app.url("/api/v1/competitions/r/tasks"))
            .bearer_auth(&app.admin_token)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status().as_u16(), 201);
    }
    let alice = app.team("alice", "creator").await;
    let mut ids = Vec::new();
    for (task, fake) in [("t1", "fake_1.mp4"), ("t2", "fake_2.mp4")] {
        let form = reqwest::multipart::Form::new()
            .part("file", arena_tests::part(&video(fake)))
            .text("task", task);
        let resp = app
            .client
            .post(app.url("/api/v1/competitions/r/creations"))
            .bearer_auth(&alice)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let id = accepted(resp).await;
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
        ids.push(id);
    }
    let (first, second) = (ids[0], ids[1]);
    assert_eq!(pick(&app, first, &alice, true).await.0, 200);
    let (status, body) = pick(&app, second, &alice, true).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("final_picks_exceeded")),
        "{body}"
    );
    let (status, body) = app
        .admin_post("/api/v1/competitions/r/phases/advance", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    // C1 closed: its picks are settled for the team, organizers can still change them.
    let (status, body) = pick(&app, first, &alice, false).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("phase_closed")),
        "{body}"
    );
    let admin = app.admin_token.clone();
    let (status, body) = pick(&app, first, &admin, false).await;
    assert_eq!((status, &body["final"]), (200, &json!(false)), "{body}");
}
