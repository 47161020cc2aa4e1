//! Human rating in the platform over real HTTP: organizers create raters, a rater logs in, is
//! shown one fake (blind), streams it with Range requests (206 with the fake's own bytes), rates
//! it on the five axes, and the dfgc2022 creation score moves; nobody else can stream a rater's
//! fake; raters are balanced across fakes; organizers see Krippendorff's alpha per axis.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly where the app misbehaves"
)]

use crate::scoring::game;
use arena_datasets::video;
use arena_tests::web::WebClient;
use arena_tests::{AppOptions, TestApp, backends, spawn_app_with};
use serde_json::{Value, json};

fn hidden(html: &str, name: &str) -> Option<String> {
    let key = format!("name=\"{name}\" value=\"");
    let at = html.find(&key)? + key.len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

fn creation_row(board: &Value, team: &str) -> Value {
    board["creation"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["team"] == team)
        .cloned()
        .unwrap_or_default()
}

async fn rate(b: &mut WebClient, values: [&str; 5]) -> u16 {
    let page = b.get("/rate/r").await;
    let csrf = page.csrf().expect("csrf");
    let shown = hidden(&page.body, "assignment").expect("an assigned fake");
    let axes = ["realism", "quality", "expression", "mouth", "identity"];
    let mut fields: Vec<(&str, &str)> = vec![("csrf", &csrf), ("assignment", &shown)];
    fields.extend(axes.iter().copied().zip(values));
    b.post_form("/rate/r", &fields).await.status
}

/// On SQLite, and on PostgreSQL when `ARENA_TEST_POSTGRES_URL` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raters_stream_rate_and_move_the_creation_score() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            ..AppOptions::default()
        })
        .await;
        rating_flow(&app).await;
    }
}

async fn rating_flow(app: &TestApp) {
    let (alice_sub, _bob_sub) = game(app, "r", "dfgc2022").await;
    let (_, board) = app
        .get_json("/api/v1/competitions/r/leaderboard", None)
        .await;
    assert!(
        creation_row(&board, "r-alice")["score"].is_null(),
        "no human ratings yet: no dfgc2022 score: {board}"
    );

    // Organizers create raters; the token comes once. Teams may not.
    let alice_token = app.team("r-alice2", "creator").await;
    let refused = app
        .client
        .post(app.url("/api/v1/competitions/r/raters"))
        .bearer_auth(&alice_token)
        .json(&json!({ "name": "rita" }))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status().as_u16(), 403);
    let (status, rita) = app
        .admin_post("/api/v1/competitions/r/raters", json!({ "name": "rita" }))
        .await;
    assert_eq!(status, 201, "{rita}");
    assert_eq!(rita["role"], "rater");
    let rita_token = rita["token"].as_str().expect("token").to_owned();
    let (status, again) = app
        .admin_post("/api/v1/competitions/r/raters", json!({ "name": "rita" }))
        .await;
    assert_eq!((status, again["code"].as_str()), (409, Some("conflict")));
    let (_, ross) = app
        .admin_post("/api/v1/competitions/r/raters", json!({ "name": "ross" }))
        .await;
    let ross_token = ross["token"].as_str().expect("token").to_owned();

    // A rater's login lands on its rating page: one fake, blind to the team.
    let mut rita_b = WebClient::new(&app.address);
    let login = rita_b.login(&rita_token).await;
    assert_eq!(
        (login.status, login.location.as_deref()),
        (303, Some("/rate/r"))
    );
    let page = rita_b.get("/rate/r").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<video id=\"fake\""), "{}", page.body);
    for leak in ["r-alice", "r-bob", "/creations/", "/submissions/"] {
        assert!(!page.body.contains(leak), "the page names {leak}");
    }

    // The video streams with Range: the first 100 bytes of alice's own file (the least-rated
    // fake with the lowest id), the whole file, and a refused range past its end.
    let fake_1 = std::fs::read(video("fake_1.mp4")).expect("fixture");
    let len = fake_1.len();
    let (status, range, body) = rita_b.get_range("/rate/r/video", Some("bytes=0-99")).await;
    assert_eq!(status, 206);
    assert_eq!(range.as_deref(), Some(format!("bytes 0-99/{len}").as_str()));
    assert_eq!(body, fake_1[..100]);
    let (status, _, tail) = rita_b
        .get_range("/rate/r/video", Some(&format!("bytes={}-", len - 10)))
        .await;
    assert_eq!((status, tail.as_slice()), (206, &fake_1[len - 10..]));
    let (status, _, whole) = rita_b.get_range("/rate/r/video", None).await;
    assert_eq!((status, whole == fake_1), (200, true));
    let (status, range, _) = rita_b
        .get_range("/rate/r/video", Some(&format!("bytes={len}-")))
        .await;
    assert_eq!(status, 416);
    assert_eq!(range.as_deref(), Some(format!("bytes */{len}").as_str()));

    // Nobody else streams it: a stranger, a team, a rater with no fake assigned yet.
    let mut stranger = WebClient::new(&app.address);
    let (status, _, body) = stranger.get_range("/rate/r/video", None).await;
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("login_required"));
    let mut team_b = WebClient::new(&app.address);
    team_b.login(&alice_token).await;
    let (status, _, body) = team_b.get_range("/rate/r/video", None).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("not_a_rater"));
    assert_eq!(team_b.get("/rate/r").await.status, 403);
    let mut ross_b = WebClient::new(&app.address);
    ross_b.login(&ross_token).await;
    let (status, _, body) = ross_b.get_range("/rate/r/video", None).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("nothing_to_rate"));
    // Balanced: with alice's fake open for rita, ross is shown bob's, and streams only that.
    assert_eq!(ross_b.get("/rate/r").await.status, 200);
    let (_, _, ross_video) = ross_b.get_range("/rate/r/video", None).await;
    let fake_2 = std::fs::read(video("fake_2.mp4")).expect("fixture");
    assert!(ross_video == fake_2, "ross is shown bob's fake");

    // Refused ratings store nothing: no CSRF token, a value outside 1–5.
    let shown = hidden(&page.body, "assignment").expect("assignment");
    let csrf = page.csrf().expect("csrf");
    let five = [
        ("realism", "5"),
        ("quality", "5"),
        ("expression", "5"),
        ("mouth", "5"),
    ];
    let mut fields: Vec<(&str, &str)> = vec![("assignment", &shown), ("identity", "5")];
    fields.extend(five);
    assert_eq!(rita_b.post_form("/rate/r", &fields).await.status, 403);
    let mut bad = fields.clone();
    bad.push(("csrf", &csrf));
    bad[1] = ("identity", "6");
    let refused = rita_b.post_form("/rate/r", &bad).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("invalid_rating"));
    let stored = arena::repo::video_ratings::list(app.ctx.db(), comp_id(app).await).await;
    assert!(stored.expect("list").is_empty());

    // Rita rates alice's fake 5 on every axis: the score moves from none to 25 + 5·(1 − s_d),
    // s_d = 5/12 (redblue 1/3, constant 1/2).
    let mut ok = fields.clone();
    ok.push(("csrf", &csrf));
    let done = rita_b.post_form("/rate/r", &ok).await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some("/rate/r"))
    );
    assert_eq!(
        rita_b.post_form("/rate/r", &ok).await.status,
        409,
        "the same form twice"
    );
    let (_, board) = app
        .get_json("/api/v1/competitions/r/leaderboard", None)
        .await;
    let alice = creation_row(&board, "r-alice");
    assert_eq!(alice["submission"], alice_sub);
    let score = alice["score"].as_f64().expect("a score now");
    assert!((score - (25.0 + 35.0 / 12.0)).abs() < 1e-9, "{alice}");

    // Ross and rita both rate bob's fake; then rita has nothing left (alice's is hers already).
    assert_eq!(rate(&mut ross_b, ["1", "1", "1", "1", "1"]).await, 303);
    assert_eq!(rate(&mut rita_b, ["2", "2", "2", "2", "2"]).await, 303);
    let left = rita_b.get("/rate/r").await;
    assert!(left.body.contains("id=\"nothing-left\""), "{}", left.body);
    let (_, board) = app
        .get_json("/api/v1/competitions/r/leaderboard", None)
        .await;
    let bob = creation_row(&board, "r-bob");
    // bob: mean 1.5 per axis → 7.5, + 5·(1 − (1 + 1/2)/2) = 5/4.
    assert!(
        (bob["score"].as_f64().unwrap_or(0.0) - 8.75).abs() < 1e-9,
        "{bob}"
    );

    // Agreement (organizers only): one pairable fake rated 1 and 2 → α = 1 − 1/1 = 0.
    let (status, _) = app
        .get_json(
            "/api/v1/competitions/r/ratings/agreement",
            Some(&alice_token),
        )
        .await;
    assert_eq!(status, 403);
    let (status, agreement) = app
        .get_json(
            "/api/v1/competitions/r/ratings/agreement",
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(status, 200, "{agreement}");
    assert_eq!(agreement["ratings"], 3);
    assert_eq!(agreement["raters"], 2);
    assert_eq!(agreement["videos_pairable"], 1);
    let realism = &agreement["axes"][0];
    assert_eq!(realism["axis"], "realism");
    assert!(
        realism["alpha"].as_f64().is_some_and(|a| a.abs() < 1e-12),
        "{agreement}"
    );
    let mut admin_b = WebClient::new(&app.address);
    admin_b.login(&app.admin_token).await;
    let admin_page = admin_b.get("/admin").await;
    assert!(
        admin_page
            .body
            .contains("3 ratings by 2 raters of 2 fakes (1 rated twice or more)"),
        "the admin page shows the agreement"
    );
    assert!(admin_page.body.contains("realism 0.00"));
    assert!(
        realism["mean"]
            .as_f64()
            .is_some_and(|m| (m - 8.0 / 3.0).abs() < 1e-12),
        "{agreement}"
    );
}

async fn comp_id(app: &TestApp) -> i64 {
    arena::repo::competitions::find_by_slug(app.ctx.db(), "r")
        .await
        .expect("db")
        .expect("competition")
        .id
}

/// `arena rater add` on the server's database prints a token that logs in to the rating page;
/// an unknown competition is refused with nothing made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arena_rater_add_prints_a_working_token() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    app.competition("cli").await;
    let cli = |args: &[&str]| {
        std::process::Command::new(arena_tests::arena_bin())
            .arg("--data")
            .arg(app.dir.path())
            .arg("--database-url")
            .arg(app.ctx.settings().database_url())
            .args(args)
            .env("ARENA_LOG_FORMAT", "text")
            .output()
            .expect("arena runs")
    };
    let refused = cli(&["rater", "add", "rosa", "--competition", "nope"]);
    assert!(!refused.status.success());
    let made = cli(&["rater", "add", "rosa", "--competition", "cli"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let stdout = String::from_utf8_lossy(&made.stdout);
    let token = stdout.lines().last().unwrap_or_default().trim().to_owned();
    let mut b = WebClient::new(&app.address);
    let login = b.login(&token).await;
    assert_eq!(
        (login.status, login.location.as_deref()),
        (303, Some("/rate/cli"))
    );
    let page = b.get("/rate/cli").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"nothing-left\""), "no fakes yet");
}
