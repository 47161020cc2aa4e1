//! The organizers' `/admin` page, driven over HTTP like a browser without JavaScript (session
//! cookie + CSRF token): competitions, phases, team registration and approval, ratings import,
//! disqualification and rerun (also through the JSON API), and the worker log lines a
//! submission's team sees on its page.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where the app misbehaves"
)]

use arena_datasets::video;
use arena_tests::web::{Page, WebClient};
use arena_tests::{AppOptions, Backend, TestApp, backends, spawn_app_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(180);

/// The text between `start` and the next `end` in `html`.
fn between(html: &str, start: &str, end: &str) -> Option<String> {
    let at = html.find(start)? + start.len();
    let rest = &html[at..];
    Some(rest[..rest.find(end)?].to_owned())
}

async fn accepted(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    let body: Value = resp.json().await.unwrap_or_default();
    body["id"].as_i64().expect("submission id")
}

/// A logged-in browser and its CSRF token.
async fn browser(app: &TestApp, token: &str) -> (WebClient, String) {
    let mut b = WebClient::new(&app.address);
    assert_eq!(b.login(token).await.status, 303);
    let csrf = b.csrf("/login").await;
    (b, csrf)
}

async fn form(b: &mut WebClient, path: &str, csrf: &str, fields: &[(&str, &str)]) -> Page {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    b.post_form(path, &all).await
}

fn ok_message(page: &Page) -> String {
    between(&page.body, "id=\"admin-ok\">", "</p>").unwrap_or_default()
}

fn error_code(page: &Page) -> String {
    between(&page.body, "id=\"admin-error\" data-code=\"", "\"").unwrap_or_default()
}

/// Whether a bearer token is accepted (the tasks list answers 403 to detector teams, 401 to
/// unknown tokens).
async fn can_auth(app: &TestApp, token: &str) -> bool {
    let (status, _) = app
        .get_json("/api/v1/competitions/live/tasks", Some(token))
        .await;
    assert!(matches!(status, 200 | 401 | 403), "tasks: {status}");
    status != 401
}

async fn phase_states(app: &TestApp, slug: &str) -> Vec<(String, String)> {
    let (status, body) = app
        .get_json(&format!("/api/v1/competitions/{slug}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn competitions_and_phases(app: &TestApp, admin: &mut WebClient, csrf: &str) {
    let page = admin.get("/admin").await;
    assert_eq!(page.status, 200);
    for id in [
        "competition-form",
        "phase-form",
        "team-form",
        "ratings-form",
    ] {
        assert!(page.body.contains(&format!("id=\"{id}\"")), "no {id}");
    }
    let live = [("slug", "live"), ("title", "Live one"), ("mode", "live")];
    let done = form(admin, "/admin/competitions", csrf, &live).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(ok_message(&done).contains("live"), "{}", ok_message(&done));
    let (status, body) = app.get_json("/api/v1/competitions/live", None).await;
    assert_eq!((status, body["mode"].as_str()), (200, Some("live")));

    // Bad input: a refused form stores nothing.
    let bad = [("slug", "Not A Slug"), ("title", "x"), ("mode", "live")];
    let refused = form(admin, "/admin/competitions", csrf, &bad).await;
    assert_eq!(
        (refused.status, error_code(&refused).as_str()),
        (400, "invalid_slug")
    );
    let again = form(admin, "/admin/competitions", csrf, &live).await;
    assert_eq!(
        (again.status, error_code(&again).as_str()),
        (409, "conflict")
    );
    let bad_limit = [("slug", "odd"), ("title", "x"), ("daily_limit", "-3")];
    let refused = form(admin, "/admin/competitions", csrf, &bad_limit).await;
    assert_eq!(refused.status, 400);
    let (_, list) = app.get_json("/api/v1/competitions", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    let rounds = [
        ("slug", "rnd"),
        ("title", "Rounds"),
        ("mode", "rounds"),
        ("preset", "dfgc2022"),
        ("board", "last"),
        ("daily_limit", "5"),
    ];
    assert_eq!(
        form(admin, "/admin/competitions", csrf, &rounds)
            .await
            .status,
        200
    );
    for (kind, opens, closes) in [
        ("creation", "2030-01-01T00:00", "2030-01-02T00:00"),
        ("detection", "2030-01-02T00:00", "2030-01-03T00:00"),
    ] {
        let fields = [
            ("competition", "rnd"),
            ("kind", kind),
            ("round", "1"),
            ("opens_at", opens),
            ("closes_at", closes),
        ];
        let done = form(admin, "/admin/phases", csrf, &fields).await;
        assert_eq!(done.status, 200, "{}", done.body);
    }
    let backwards = [
        ("competition", "rnd"),
        ("kind", "creation"),
        ("round", "2"),
        ("opens_at", "2030-02-02T00:00"),
        ("closes_at", "2030-02-01T00:00"),
    ];
    let refused = form(admin, "/admin/phases", csrf, &backwards).await;
    assert_eq!(
        (refused.status, error_code(&refused).as_str()),
        (400, "invalid_phase")
    );
    let upcoming = |s: &str| (s.to_owned(), "upcoming".to_owned());
    assert_eq!(
        phase_states(app, "rnd").await,
        vec![upcoming("C1"), upcoming("D1")]
    );

    let advance = [("competition", "rnd")];
    let done = form(admin, "/admin/phases/advance", csrf, &advance).await;
    assert!(
        ok_message(&done).contains("C1 opened"),
        "{}",
        ok_message(&done)
    );
    let states = phase_states(app, "rnd").await;
    assert_eq!(
        states[0],
        ("C1".to_owned(), "open".to_owned()),
        "{states:?}"
    );
    let done = form(admin, "/admin/phases/advance", csrf, &advance).await;
    assert!(
        ok_message(&done).contains("C1 closed, D1 opened"),
        "{}",
        done.body
    );
    let states = phase_states(app, "rnd").await;
    assert_eq!(
        states,
        vec![
            ("C1".to_owned(), "closed".to_owned()),
            ("D1".to_owned(), "open".to_owned())
        ]
    );
}

async fn registration_and_approval(app: &TestApp, admin: &mut WebClient, csrf: &str) {
    let mut visitor = WebClient::new(&app.address);
    let form_page = visitor.get("/register").await;
    assert_eq!(form_page.status, 200);
    let vcsrf = form_page.csrf().expect("register form token");
    let sent = form(
        &mut visitor,
        "/register",
        &vcsrf,
        &[("name", "newbie"), ("role", "creator")],
    )
    .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert!(sent.body.contains("id=\"registered\""));
    let taken = form(
        &mut visitor,
        "/register",
        &vcsrf,
        &[("name", "newbie"), ("role", "detector")],
    )
    .await;
    assert_eq!(taken.status, 409);
    let no_csrf = visitor
        .post_form("/register", &[("name", "sneaky"), ("role", "creator")])
        .await;
    assert_eq!(no_csrf.status, 403);
    let sent = form(
        &mut visitor,
        "/register",
        &vcsrf,
        &[("name", "unwanted"), ("role", "both")],
    )
    .await;
    assert_eq!(sent.status, 201);

    // Pending: listed for approval, no public page, no token works.
    let page = admin.get("/admin").await;
    let id_of = |html: &str, name: &str| -> i64 {
        between(html, &format!("data-team=\"{name}\" data-id=\""), "\"")
            .and_then(|s| s.parse().ok())
            .expect("pending row")
    };
    let newbie = id_of(&page.body, "newbie");
    let unwanted = id_of(&page.body, "unwanted");
    assert_eq!(visitor.get("/teams/newbie").await.status, 404);
    let forged = format!("arena_{newbie}_{}", "ab".repeat(32));
    assert!(
        !can_auth(app, &forged).await,
        "a pending team cannot authenticate"
    );

    let approved = form(admin, &format!("/admin/teams/{newbie}/approve"), csrf, &[]).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    let token = between(&approved.body, "data-team=\"newbie\">", "</code>").expect("token shown");
    assert!(can_auth(app, &token).await, "the issued token works");
    let (mut newbie_browser, _) = browser(app, &token).await;
    assert_eq!(newbie_browser.get("/teams/newbie").await.status, 200);
    let again = form(admin, &format!("/admin/teams/{newbie}/approve"), csrf, &[]).await;
    assert_eq!(
        (again.status, error_code(&again).as_str()),
        (409, "not_pending")
    );
    assert!(
        !admin.get("/admin").await.body.contains(&token),
        "shown once"
    );

    let rejected = form(admin, &format!("/admin/teams/{unwanted}/reject"), csrf, &[]).await;
    assert_eq!(rejected.status, 200);
    let late = form(
        admin,
        &format!("/admin/teams/{unwanted}/approve"),
        csrf,
        &[],
    )
    .await;
    assert_eq!(late.status, 409, "a rejected team is not approved later");
    let forged = format!("arena_{unwanted}_{}", "cd".repeat(32));
    assert!(!can_auth(app, &forged).await);
    let missing = form(admin, "/admin/teams/999999/approve", csrf, &[]).await;
    assert_eq!(
        (missing.status, error_code(&missing).as_str()),
        (404, "team_not_found")
    );

    let made = form(
        admin,
        "/admin/teams",
        csrf,
        &[("name", "made-here"), ("role", "detector")],
    )
    .await;
    assert_eq!(made.status, 200);
    let token = between(&made.body, "data-team=\"made-here\">", "</code>").expect("token");
    assert!(can_auth(app, &token).await);
}

async fn import_ratings(app: &TestApp, admin: &mut WebClient, csrf: &str, creation: i64) {
    let send = |csv: String| {
        reqwest::multipart::Form::new()
            .text("csrf", csrf.to_owned())
            .text("competition", "live")
            .text("csv", csv)
    };
    let csv = format!("creation,axis,value\n{creation},realism,4.5\n{creation},id,0.25\n");
    let done = admin
        .post_multipart("/admin/ratings", send(csv), false)
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        ok_message(&done).contains("2 ratings imported"),
        "{}",
        done.body
    );
    let comp = arena::repo::competitions::find_by_slug(app.ctx.db(), "live")
        .await
        .expect("db")
        .expect("competition");
    let stored = || async {
        let mut rows: Vec<(String, f64)> = arena::repo::human_ratings::list(app.ctx.db(), comp.id)
            .await
            .expect("db")
            .into_iter()
            .map(|r| (r.axis, r.value))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    let want = vec![("id".to_owned(), 0.25), ("realism".to_owned(), 4.5)];
    assert_eq!(stored().await, want);
    // A bad line refuses the whole file and keeps the previous import.
    let bad = format!("creation,axis,value\n{creation},quality,3\n{creation},beauty,4\n");
    let refused = admin
        .post_multipart("/admin/ratings", send(bad), false)
        .await;
    assert_eq!(
        (refused.status, error_code(&refused).as_str()),
        (422, "invalid_ratings")
    );
    assert_eq!(stored().await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_runs_a_competition() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 1,
            ..AppOptions::default()
        })
        .await;
        let alice = app.team("alice", "creator").await;
        let mut anonymous = WebClient::new(&app.address);
        let redirect = anonymous.get("/admin").await;
        assert_eq!(redirect.status, 303);
        assert_eq!(redirect.location.as_deref(), Some("/login?next=/admin"));
        let (mut creator, creator_csrf) = browser(&app, &alice).await;
        assert_eq!(creator.get("/admin").await.status, 403);
        let fields = [("slug", "nope"), ("title", "Nope")];
        let refused = form(&mut creator, "/admin/competitions", &creator_csrf, &fields).await;
        assert_eq!(refused.status, 403);

        let (mut admin, csrf) = browser(&app, &app.admin_token).await;
        assert!(admin.get("/").await.body.contains("href=\"/admin\""));
        let doc = app
            .client
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .expect("openapi")
            .text()
            .await
            .unwrap_or_default();
        for needle in [
            "/api/admin/submissions/{id}/rerun",
            "/api/admin/submissions/{id}/disqualify",
            "not_failed",
            "already_disqualified",
        ] {
            assert!(doc.contains(needle), "the OpenAPI lacks {needle}");
        }
        let forged = admin
            .post_form(
                "/admin/competitions",
                &[("csrf", "0"), ("slug", "x"), ("title", "x")],
            )
            .await;
        assert_eq!(forged.status, 403, "CSRF first");
        competitions_and_phases(&app, &mut admin, &csrf).await;
        registration_and_approval(&app, &mut admin, &csrf).await;
        let creation = accepted(
            app.post_creation("live", Some(&alice), &video("fake_1.mp4"))
                .await,
        )
        .await;
        import_ratings(&app, &mut admin, &csrf, creation).await;
    }
}

fn rows_of(board: &Value, table: &str) -> Vec<i64> {
    board[table]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["submission"].as_i64())
        .collect()
}

fn log_lines(body: &Value) -> Vec<String> {
    body["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["message"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the leaderboard satisfies `pred` (boards are rebuilt from events).
async fn board_until(app: &TestApp, slug: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, board) = app
            .get_json(&format!("/api/v1/competitions/{slug}/leaderboard"), None)
            .await;
        assert_eq!(status, 200);
        if pred(&board) {
            return board;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{board}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_logs_for_the_owner_and_disqualification() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 2,
            ..AppOptions::default()
        })
        .await;
        app.competition("g").await;
        let alice = app.team("alice", "creator").await;
        let bob = app.team("bob", "creator").await;
        let dana = app.team("dana", "detector").await;
        let mut subs = Vec::new();
        for name in ["real_1.mp4", "real_2.mp4"] {
            subs.push(accepted(app.post_real("g", &video(name)).await).await);
        }
        let a = accepted(
            app.post_creation("g", Some(&alice), &video("fake_1.mp4"))
                .await,
        )
        .await;
        let b = accepted(
            app.post_creation("g", Some(&bob), &video("fake_2.mp4"))
                .await,
        )
        .await;
        let d = accepted(app.post_detector("g", Some(&dana), "redblue").await).await;
        subs.extend([a, b, d]);
        for id in &subs {
            assert_eq!(app.wait_submission(*id, WAIT).await["status"], "finished");
        }

        // The owner sees its jobs' log lines, in the JSON and on the page.
        let (status, mine) = app
            .get_json(&format!("/api/v1/submissions/{a}"), Some(&alice))
            .await;
        assert_eq!(status, 200);
        let lines = log_lines(&mine);
        assert!(
            lines.iter().any(|l| l.contains("claimed prepare_video")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("decoded ") && l.contains("faces in")),
            "{lines:?}"
        );
        // The pair's score is stored (the submission is finished) just before its job writes
        // the `scored …` line: wait for the line.
        let start = Instant::now();
        let det_lines = loop {
            let (_, det) = app
                .get_json(&format!("/api/v1/submissions/{d}"), Some(&dana))
                .await;
            let lines = log_lines(&det);
            if lines.iter().any(|l| l.starts_with("scored ")) || start.elapsed() > WAIT {
                break lines;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            det_lines
                .iter()
                .any(|l| l.starts_with("scored ") && l.contains("with detector")),
            "{det_lines:?}"
        );
        let (mut alice_browser, _) = browser(&app, &alice).await;
        let page = alice_browser.get(&format!("/submissions/{a}")).await;
        assert!(page.body.contains("id=\"logs\"") && page.body.contains("claimed prepare_video"));
        // Nobody else's team sees them: neither the JSON nor the page.
        let (status, other) = app
            .get_json(&format!("/api/v1/submissions/{a}"), Some(&bob))
            .await;
        assert_eq!(status, 403);
        assert!(!other.to_string().contains("claimed"), "{other}");
        let (mut bob_browser, _) = browser(&app, &bob).await;
        let page = bob_browser.get(&format!("/submissions/{a}")).await;
        assert_eq!(page.status, 403);
        assert!(!page.body.contains("claimed") && !page.body.contains("decoded"));
        let mut anonymous = WebClient::new(&app.address);
        let page = anonymous.get(&format!("/submissions/{a}")).await;
        assert_eq!(page.status, 303);
        let (status, _) = app
            .get_json(&format!("/api/v1/submissions/{a}"), None)
            .await;
        assert_eq!(status, 401);

        // Disqualify alice's creation from the admin page: gone from the boards and ratings.
        let board = board_until(&app, "g", |b| rows_of(b, "creation").contains(&a)).await;
        assert!(rows_of(&board, "detection").contains(&d));
        let (mut admin, csrf) = browser(&app, &app.admin_token).await;
        let reason = [("reason", "copied another team's video")];
        let done = form(
            &mut admin,
            &format!("/admin/submissions/{a}/disqualify"),
            &csrf,
            &reason,
        )
        .await;
        assert_eq!(done.status, 200, "{}", done.body);
        let board = board_until(&app, "g", |b| !rows_of(b, "creation").contains(&a)).await;
        assert!(rows_of(&board, "creation").contains(&b), "{board}");
        let teams: Vec<&str> = board["ratings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["team"].as_str())
            .collect();
        assert!(
            !teams.contains(&"alice") && teams.contains(&"bob"),
            "{teams:?}"
        );
        let (_, matrix) = app.get_json("/api/v1/competitions/g/matrix", None).await;
        assert!(
            !matrix.to_string().contains("alice"),
            "pairs no longer count: {matrix}"
        );
        let page = alice_browser.get(&format!("/submissions/{a}")).await;
        assert!(page.body.contains("disqualified") && page.body.contains("copied another"));
        let (_, mine) = app
            .get_json(&format!("/api/v1/submissions/{a}"), Some(&alice))
            .await;
        assert_eq!(mine["status"], "disqualified");

        // The JSON API: the same action, with stable codes for bad input.
        let api = |id: i64, what: &str| format!("/api/admin/submissions/{id}/{what}");
        let (status, body) = app.admin_post(&api(a, "disqualify"), json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("already_disqualified"))
        );
        let (status, body) = app.admin_post(&api(999_999, "disqualify"), json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("submission_not_found"))
        );
        let (status, body) = app.admin_post(&api(subs[0], "disqualify"), json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("not_disqualifiable"))
        );
        let (status, body) = app.admin_post(&api(b, "rerun"), json!({})).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("not_failed")));
        let (status, body) = app.admin_post(&api(999_999, "rerun"), json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("submission_not_found"))
        );
        let (status, body) = app
            .admin_post(&api(d, "disqualify"), json!({ "reason": "random outputs" }))
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("disqualified")),
            "{body}"
        );
        let board = board_until(&app, "g", |b| !rows_of(b, "detection").contains(&d)).await;
        assert!(rows_of(&board, "detection").is_empty(), "{board}");

        // Undone: alice is back on the board once her pairs count again.
        let (status, body) = app.admin_post(&api(b, "requalify"), json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("not_disqualified"))
        );
        let (status, body) = app.admin_post(&api(a, "requalify"), json!({})).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("running")),
            "{body}"
        );
        let board = board_until(&app, "g", |b| rows_of(b, "creation").contains(&a)).await;
        assert!(rows_of(&board, "creation").contains(&b), "{board}");
        let finished = app.wait_submission(a, Duration::from_secs(120)).await;
        assert_eq!(finished["status"], "finished", "{finished}");
    }
}

/// Where the object store keeps a submission's (only) video.
async fn video_file(app: &TestApp, submission: i64) -> std::path::PathBuf {
    let videos = arena::repo::videos::list_for_submission(app.ctx.db(), submission)
        .await
        .expect("db");
    let key = &videos.first().expect("a video").storage_key;
    app.dir.path().join("objects").join(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_requeues_a_failed_submission_until_it_finishes() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 0,
            tweak: |s| s.queue.max_attempts = 2,
            ..AppOptions::default()
        })
        .await;
        app.competition("r").await;
        let alice = app.team("alice", "creator").await;
        let a = accepted(
            app.post_creation("r", Some(&alice), &video("fake_1.mp4"))
                .await,
        )
        .await;
        // The stored video goes missing: every attempt fails on our side, the submission fails.
        let stored = video_file(&app, a).await;
        let aside = stored.with_extension("aside");
        std::fs::rename(&stored, &aside).expect("move the object away");
        let pool = arena_web::spawn_workers(&app.ctx, 1);
        let failed = app.wait_submission(a, WAIT).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        app.wait_idle(WAIT).await;
        let (_, mine) = app
            .get_json(&format!("/api/v1/submissions/{a}"), Some(&alice))
            .await;
        let lines = log_lines(&mine);
        assert!(lines.iter().any(|l| l.contains("retry 2/2")), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.contains("out of attempts")),
            "{lines:?}"
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.contains(app.dir.path().to_str().unwrap_or("/tmp"))),
            "no server path in the team's log: {lines:?}"
        );

        // The object is back; the organizers rerun it from the admin page.
        std::fs::rename(&aside, &stored).expect("restore the object");
        let (mut admin, csrf) = browser(&app, &app.admin_token).await;
        let page = admin.get("/admin").await;
        assert!(
            page.body
                .contains(&format!("action=\"/admin/submissions/{a}/rerun\""))
        );
        let done = form(
            &mut admin,
            &format!("/admin/submissions/{a}/rerun"),
            &csrf,
            &[],
        )
        .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(
            ok_message(&done).contains("running again (1 job queued)"),
            "{}",
            done.body
        );
        let again = app.wait_submission(a, WAIT).await;
        assert_eq!(again["status"], "finished", "{again}");
        assert!(again["error"].is_null(), "{again}");
        // The job is marked done just after it finished the submission.
        app.wait_idle(WAIT).await;
        let jobs = arena::repo::jobs::list_for_submission(app.ctx.db(), a)
            .await
            .expect("db");
        assert!(
            jobs.iter().all(|j| j.state == "done" && j.attempts == 1),
            "{jobs:?}"
        );
        let (status, body) = app
            .admin_post(&format!("/api/admin/submissions/{a}/rerun"), json!({}))
            .await;
        assert_eq!((status, body["code"].as_str()), (409, Some("not_failed")));
        pool.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_over_the_api_resets_a_dead_detector() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    app.competition("x").await;
    let dana = app.team("dana", "detector").await;
    let d = accepted(app.post_detector("x", Some(&dana), "redblue").await).await;
    // Its activation job dies (as a worker would record it), failing the submission.
    let queue = app.ctx.queue();
    let claimed = queue.claim("test", 1).await.expect("claim");
    let job = claimed.first().expect("the activation job");
    queue
        .fail(job.id, "test", "boom", true)
        .await
        .expect("fail");
    arena::repo::submissions::fail(app.ctx.db(), d, "evaluation_failed", "boom")
        .await
        .expect("fail the submission");
    let (status, body) = app
        .admin_post(&format!("/api/admin/submissions/{d}/rerun"), json!({}))
        .await;
    assert_eq!((status, body["jobs"].as_i64()), (200, Some(1)), "{body}");
    let (_, sub) = app
        .get_json(&format!("/api/v1/submissions/{d}"), Some(&dana))
        .await;
    assert_eq!(sub["status"], "running", "{sub}");
    assert!(sub["error"].is_null());
    let jobs = arena::repo::jobs::list_for_submission(app.ctx.db(), d)
        .await
        .expect("db");
    assert!(
        jobs.iter()
            .all(|j| j.state == "queued" && j.attempts == 0 && j.last_error.is_none())
    );
    let pool = arena_web::spawn_workers(&app.ctx, 1);
    assert_eq!(app.wait_submission(d, WAIT).await["status"], "finished");
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_status_and_job_logs_migrate_up_and_down() {
    use arena_migrations::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    for backend in backends() {
        let dir = tempfile::tempdir().expect("dir");
        let url = arena_tests::fresh_database_url(&backend, dir.path())
            .await
            .expect("database");
        let db = sea_orm::Database::connect(url.as_str()).await.expect("db");
        Migrator::up(&db, Some(9)).await.expect("up to 9");
        db.execute_unprepared(
            "INSERT INTO teams (name, role, token_hash, is_admin, is_baseline, created_at_ms) \
             VALUES ('old-team', 'creator', 'h', false, false, 0)",
        )
        .await
        .expect("a team from before");
        Migrator::up(&db, None).await.expect("up");
        let old = arena::repo::teams::find_by_name(&db, "old-team")
            .await
            .expect("db")
            .expect("team");
        assert_eq!(old.status, "approved", "existing teams stay usable");
        let sql = "SELECT count(*) FROM job_logs";
        assert!(db.execute_unprepared(sql).await.is_ok());
        // Back to migration 9, whatever came after these two.
        let later = u32::try_from(Migrator::migrations().len() - 9).expect("count");
        Migrator::down(&db, Some(later)).await.expect("down");
        assert!(
            db.execute_unprepared(sql).await.is_err(),
            "job_logs dropped"
        );
        assert!(
            db.execute_unprepared("SELECT count(*) FROM worker_slots")
                .await
                .is_err(),
            "worker_slots dropped"
        );
        let status = "SELECT status FROM teams";
        assert!(
            db.execute_unprepared(status).await.is_err(),
            "column dropped"
        );
        let revealed = "SELECT revealed_at_ms FROM competitions";
        assert!(
            db.execute_unprepared(revealed).await.is_err(),
            "revealed_at_ms dropped"
        );
        Migrator::up(&db, None).await.expect("up again");
        assert!(db.execute_unprepared(status).await.is_ok());
        assert!(db.execute_unprepared(revealed).await.is_ok());
    }
}
