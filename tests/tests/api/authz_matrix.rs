//! The authorization matrix: anonymous, a creator, another creator, a detector and an admin,
//! each against every endpoint (API with Bearer tokens, pages and forms with a browser session),
//! with the expected status per cell.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where the app misbehaves"
)]

use arena_datasets::video;
use arena_tests::web::WebClient;
use arena_tests::{AppOptions, Backend, TestApp, part, spawn_app_with};
use reqwest::multipart::Form;
use serde_json::{Value, json};

const WHO: [&str; 5] = ["anonymous", "creator", "other creator", "detector", "admin"];

/// One caller: a token for the API, a logged-in browser for pages (none for anonymous).
struct Caller {
    name: &'static str,
    token: Option<String>,
    browser: WebClient,
    csrf: String,
}

/// What each row does; `n` makes names unique per caller.
#[derive(Clone, Copy)]
enum Call {
    Get,
    PostJson(fn(usize) -> Value),
    PutJson(fn(usize) -> Value),
    PostCsv,
    Creation,
    Detector,
    Real,
    Task,
    Page,
    FormDetector,
    FormCreation,
    Logout,
    /// A urlencoded browser form (the caller's CSRF token added).
    UrlForm(fn(usize) -> Vec<(&'static str, String)>),
    /// The admin page's ratings import (multipart, with the caller's CSRF token).
    FormRatings,
}

fn form_for(call: Call, csrf: &str, n: usize) -> Option<Form> {
    let (model, manifest) = arena_datasets::detector("redblue");
    Some(match call {
        Call::Creation => Form::new().part("file", part(&video("fake_1.mp4"))),
        Call::Detector => Form::new()
            .part("model", part(&model))
            .part("manifest", part(&manifest)),
        Call::Real => Form::new().part("file", part(&video("real_1.mp4"))),
        Call::Task => Form::new()
            .part("target", part(&video("real_2.mp4")))
            .text("task_id", format!("t{n}"))
            .text("round", "1")
            .text("donor", "id9"),
        Call::FormDetector => Form::new()
            .text("csrf", csrf.to_owned())
            .text("competition", "m")
            .part("model", part(&model))
            .part("manifest", part(&manifest)),
        Call::FormCreation => Form::new()
            .text("csrf", csrf.to_owned())
            .text("competition", "m")
            .part("file", part(&video("fake_1.mp4"))),
        Call::FormRatings => Form::new()
            .text("csrf", csrf.to_owned())
            .text("competition", "m")
            .text("csv", "creation,axis,value\n"),
        _ => return None,
    })
}

async fn status(app: &TestApp, c: &mut Caller, call: Call, path: &str, n: usize) -> u16 {
    let url = app.url(path);
    let authed = |req: reqwest::RequestBuilder| match &c.token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    let send = |req: reqwest::RequestBuilder| async move {
        req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    };
    match call {
        Call::Get => send(authed(app.client.get(&url))).await,
        Call::PostJson(body) => send(authed(app.client.post(&url)).json(&body(n))).await,
        Call::PutJson(body) => send(authed(app.client.put(&url)).json(&body(n))).await,
        Call::PostCsv => {
            let req = authed(app.client.post(&url)).header("Content-Type", "text/csv");
            send(req.body("creation,axis,value\n")).await
        }
        Call::Creation | Call::Detector | Call::Real | Call::Task => {
            let form = form_for(call, "", n).unwrap_or_default();
            send(authed(app.client.post(&url)).multipart(form)).await
        }
        Call::Page => c.browser.get(path).await.status,
        Call::FormDetector | Call::FormCreation | Call::FormRatings => {
            let form = form_for(call, &c.csrf, n).unwrap_or_default();
            c.browser.post_multipart(path, form, false).await.status
        }
        Call::Logout => {
            let csrf = c.csrf.clone();
            c.browser.post_form(path, &[("csrf", &csrf)]).await.status
        }
        Call::UrlForm(fields) => {
            let mut all = vec![("csrf", c.csrf.clone())];
            all.extend(fields(n));
            let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.browser.post_form(path, &pairs).await.status
        }
    }
}

fn competition(n: usize) -> Value {
    json!({ "slug": format!("new{n}"), "title": "New" })
}
fn team(n: usize) -> Value {
    json!({ "name": format!("team{n}"), "role": "creator" })
}
fn rater(n: usize) -> Value {
    json!({ "name": format!("rater{n}") })
}
fn rating_form(_: usize) -> Vec<(&'static str, String)> {
    ["realism", "quality", "expression", "mouth", "identity"]
        .into_iter()
        .map(|axis| (axis, "3".to_owned()))
        .collect()
}
fn phase(_: usize) -> Value {
    json!({ "kind": "creation", "round": 1, "opens_at_ms": 0, "closes_at_ms": 1 })
}
fn final_pick(_: usize) -> Value {
    json!({ "final": true })
}
fn note(n: usize) -> Value {
    json!({ "note": format!("note {n}") })
}
fn note_form(n: usize) -> Vec<(&'static str, String)> {
    vec![("note", format!("form note {n}"))]
}
fn final_form(_: usize) -> Vec<(&'static str, String)> {
    vec![("final", "true".to_owned())]
}
fn no_fields(_: usize) -> Vec<(&'static str, String)> {
    Vec::new()
}
fn competition_form(n: usize) -> Vec<(&'static str, String)> {
    vec![("slug", format!("form{n}")), ("title", "Form".to_owned())]
}
fn phase_form(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("competition", "p".to_owned()),
        ("kind", "detection".to_owned()),
        ("round", (n + 1).to_string()),
        ("opens_at", "2030-01-01T00:00".to_owned()),
        ("closes_at", "2030-01-02T00:00".to_owned()),
    ]
}
fn advance_form(_: usize) -> Vec<(&'static str, String)> {
    vec![("competition", "p".to_owned())]
}
fn team_form(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("name", format!("formteam{n}")),
        ("role", "detector".to_owned()),
    ]
}
fn register_form(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("name", format!("hopeful{n}")),
        ("role", "creator".to_owned()),
    ]
}
fn reason_form(_: usize) -> Vec<(&'static str, String)> {
    vec![("reason", "matrix".to_owned())]
}

/// A team registered through the public form (pending), by id.
async fn pending_team(app: &TestApp, name: &str) -> i64 {
    let mut visitor = WebClient::new(&app.address);
    let csrf = visitor.csrf("/register").await;
    let page = visitor
        .post_form(
            "/register",
            &[("csrf", &csrf), ("name", name), ("role", "creator")],
        )
        .await;
    assert_eq!(page.status, 201);
    arena::repo::teams::find_by_name(app.ctx.db(), name)
        .await
        .ok()
        .flatten()
        .map(|t| t.id)
        .expect("registered team")
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_every_endpoint() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Sqlite,
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    app.competition("m").await;
    app.competition("p").await;
    let tokens = [
        None,
        Some(app.team("alice", "creator").await),
        Some(app.team("bob", "creator").await),
        Some(app.team("dana", "detector").await),
        Some(app.admin_token.clone()),
    ];
    // Fixtures the rows refer to: alice's submission and a task.
    let alice_sub = {
        let resp = app
            .post_creation("m", tokens[1].as_deref(), &video("fake_2.mp4"))
            .await;
        resp.json::<Value>().await.unwrap_or_default()["id"]
            .as_i64()
            .unwrap_or_default()
    };
    let task = Form::new()
        .part("target", part(&video("real_3.mp4")))
        .text("task_id", "t0")
        .text("round", "1")
        .text("donor", "id1");
    let resp = app
        .client
        .post(app.url("/api/v1/competitions/m/tasks"))
        .bearer_auth(&app.admin_token)
        .multipart(task)
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(resp.ok(), Some(201));

    // Fixtures of the organizer rows: creations to disqualify and teams waiting for approval.
    let mut disqualify = Vec::new();
    for _ in 0..2 {
        let resp = app
            .post_creation("m", tokens[2].as_deref(), &video("fake_1.mp4"))
            .await;
        let id = resp.json::<Value>().await.unwrap_or_default()["id"]
            .as_i64()
            .unwrap_or_default();
        disqualify.push(id);
    }
    let approve = pending_team(&app, "waiting1").await;
    let reject = pending_team(&app, "waiting2").await;

    let mut callers = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let mut browser = WebClient::new(&app.address);
        if let Some(t) = &token {
            assert_eq!(browser.login(t).await.status, 303);
        }
        let csrf = browser.csrf("/login").await;
        callers.push(Caller {
            name: WHO[i],
            token,
            browser,
            csrf,
        });
    }

    let sub_api = format!("/api/v1/submissions/{alice_sub}");
    let sub_page = format!("/submissions/{alice_sub}");
    let sub_api: &'static str = Box::leak(sub_api.into_boxed_str());
    let sub_page: &'static str = Box::leak(sub_page.into_boxed_str());
    let final_api = leak(format!("/api/v1/submissions/{alice_sub}/final"));
    let note_api = leak(format!("/api/v1/submissions/{alice_sub}/note"));
    let final_form_path = leak(format!("/submissions/{alice_sub}/final"));
    let note_form_path = leak(format!("/submissions/{alice_sub}/note"));
    let dq_api = leak(format!(
        "/api/admin/submissions/{}/disqualify",
        disqualify[0]
    ));
    let dq_form = leak(format!("/admin/submissions/{}/disqualify", disqualify[1]));
    let rerun_api = leak(format!("/api/admin/submissions/{alice_sub}/rerun"));
    let rerun_form = leak(format!("/admin/submissions/{alice_sub}/rerun"));
    let approve_form = leak(format!("/admin/teams/{approve}/approve"));
    let reject_form = leak(format!("/admin/teams/{reject}/reject"));
    use Call::*;
    //   anonymous, creator, other creator, detector, admin
    let rows: Vec<(Call, &str, [u16; 5])> = vec![
        (Get, "/healthz", [200, 200, 200, 200, 200]),
        (Get, "/api/v1/competitions", [200, 200, 200, 200, 200]),
        (
            PostJson(competition),
            "/api/v1/competitions",
            [401, 403, 403, 403, 201],
        ),
        (Get, "/api/v1/competitions/m", [200, 200, 200, 200, 200]),
        (
            Get,
            "/api/v1/competitions/m/leaderboard",
            [200, 200, 200, 200, 200],
        ),
        (
            Get,
            "/api/v1/competitions/m/matrix",
            [200, 200, 200, 200, 200],
        ),
        (
            Get,
            "/api/v1/competitions/m/scores.csv",
            [401, 403, 403, 403, 200],
        ),
        // A live competition never finishes by itself: the organizer is told so.
        (
            Get,
            "/api/v1/competitions/m/release",
            [401, 403, 403, 403, 409],
        ),
        (
            Creation,
            "/api/v1/competitions/m/creations",
            [401, 202, 202, 403, 202],
        ),
        (
            Detector,
            "/api/v1/competitions/m/detectors",
            [401, 403, 403, 202, 202],
        ),
        (
            Real,
            "/api/v1/competitions/m/reals",
            [401, 403, 403, 403, 202],
        ),
        (Get, sub_api, [401, 200, 403, 403, 200]),
        // Finals are off in `m`: past every check, refused on the competition's settings.
        (PutJson(final_pick), final_api, [401, 409, 403, 403, 409]),
        (PutJson(note), note_api, [401, 200, 403, 403, 200]),
        (PostJson(team), "/api/v1/teams", [401, 403, 403, 403, 201]),
        // Human rating: organizers make raters and see agreement; the rating page, its video
        // and its form are for raters only (anonymous pages go to the login form).
        (
            PostJson(rater),
            "/api/v1/competitions/m/raters",
            [401, 403, 403, 403, 201],
        ),
        (
            Get,
            "/api/v1/competitions/m/ratings/agreement",
            [401, 403, 403, 403, 200],
        ),
        (Page, "/rate/m", [303, 403, 403, 403, 403]),
        (Page, "/rate/m/video", [401, 403, 403, 403, 403]),
        (UrlForm(rating_form), "/rate/m", [401, 403, 403, 403, 403]),
        (
            PostCsv,
            "/api/v1/competitions/m/ratings",
            [401, 403, 403, 403, 200],
        ),
        (
            PostJson(phase),
            "/api/v1/competitions/p/phases",
            [401, 403, 403, 403, 201],
        ),
        (
            PostJson(|_| json!({})),
            "/api/v1/competitions/p/phases/advance",
            [401, 403, 403, 403, 200],
        ),
        // `m` has no private part: past every check, refused on its settings.
        (
            PostJson(|_| json!({})),
            "/api/v1/competitions/m/reveal",
            [401, 403, 403, 403, 409],
        ),
        (
            Get,
            "/api/v1/competitions/m/tasks",
            [401, 200, 200, 403, 200],
        ),
        (
            Task,
            "/api/v1/competitions/m/tasks",
            [401, 403, 403, 403, 201],
        ),
        (
            Get,
            "/api/v1/competitions/m/tasks/t0/target",
            [401, 200, 200, 403, 200],
        ),
        (Get, "/api/openapi.json", [200, 200, 200, 200, 200]),
        (Get, "/readyz", [200, 200, 200, 200, 200]),
        (Get, "/metrics", [200, 200, 200, 200, 200]),
        (Page, "/", [200, 200, 200, 200, 200]),
        (Page, "/c/m", [200, 200, 200, 200, 200]),
        (Page, "/c/m/matrix", [200, 200, 200, 200, 200]),
        // Detector pages are public; an unknown one is a 404 for everyone.
        (Page, "/c/m/detectors/999999", [404, 404, 404, 404, 404]),
        (
            Get,
            "/api/v1/competitions/m/detectors/999999",
            [404, 404, 404, 404, 404],
        ),
        (Page, "/teams/alice", [200, 200, 200, 200, 200]),
        (Page, sub_page, [303, 200, 403, 403, 200]),
        (
            UrlForm(note_form),
            note_form_path,
            [401, 303, 403, 403, 303],
        ),
        (
            UrlForm(final_form),
            final_form_path,
            [401, 409, 403, 403, 409],
        ),
        (Page, "/login", [200, 200, 200, 200, 200]),
        (Page, "/api/docs", [200, 200, 200, 200, 200]),
        (FormDetector, "/forms/detectors", [401, 403, 403, 303, 303]),
        (FormCreation, "/forms/creations", [401, 303, 303, 403, 303]),
        // Organizers: the JSON API (rerun of a submission that did not fail is a 409 for the
        // admin: past every check, refused on its state) and the admin page's forms.
        (PostJson(|_| json!({})), dq_api, [401, 403, 403, 403, 200]),
        (
            PostJson(|_| json!({})),
            rerun_api,
            [401, 403, 403, 403, 409],
        ),
        (Page, "/admin", [303, 403, 403, 403, 200]),
        (
            UrlForm(competition_form),
            "/admin/competitions",
            [401, 403, 403, 403, 200],
        ),
        (
            UrlForm(phase_form),
            "/admin/phases",
            [401, 403, 403, 403, 200],
        ),
        (
            UrlForm(advance_form),
            "/admin/phases/advance",
            [401, 403, 403, 403, 200],
        ),
        (
            UrlForm(team_form),
            "/admin/teams",
            [401, 403, 403, 403, 200],
        ),
        (UrlForm(no_fields), approve_form, [401, 403, 403, 403, 200]),
        (UrlForm(no_fields), reject_form, [401, 403, 403, 403, 200]),
        (FormRatings, "/admin/ratings", [401, 403, 403, 403, 200]),
        (UrlForm(no_fields), rerun_form, [401, 403, 403, 403, 409]),
        (UrlForm(reason_form), dq_form, [401, 403, 403, 403, 200]),
        // Anyone may ask to register a team (it waits for approval).
        (Page, "/register", [200, 200, 200, 200, 200]),
        (
            UrlForm(register_form),
            "/register",
            [201, 201, 201, 201, 201],
        ),
        (Logout, "/logout", [303, 303, 303, 303, 303]),
    ];
    let mut wrong = Vec::new();
    for (row, (call, path, expected)) in rows.iter().enumerate() {
        for (i, c) in callers.iter_mut().enumerate() {
            let got = status(&app, c, *call, path, row * 10 + i).await;
            if got != expected[i] {
                wrong.push(format!(
                    "{path} as {}: {got}, expected {}",
                    c.name, expected[i]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "authorization matrix:\n{}",
        wrong.join("\n")
    );
    // The SSE stream is public (checked without reading it to the end).
    for c in &callers {
        let mut req = app.client.get(app.url("/api/v1/competitions/m/events"));
        if let Some(t) = &c.token {
            req = req.bearer_auth(t);
        }
        let status = req.send().await.map(|r| r.status().as_u16()).ok();
        assert_eq!(status, Some(200), "events as {}", c.name);
    }
}
