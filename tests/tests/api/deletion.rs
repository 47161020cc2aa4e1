//! Organizers delete a team (`DELETE /api/v1/teams/{name}`) and a competition
//! (`DELETE /api/v1/competitions/{slug}`), and purge a finished competition's uploads
//! (`arena purge`): every upload is erased as a withdrawal erases it, so no byte of it stays in
//! the data directory or the object store (local or S3) unless another live submission holds
//! the same content.

use crate::withdraw::{sha256_of, traces};
use arena_datasets::video;
use arena_tests::moto::MotoServer;
use arena_tests::{AppOptions, TestApp, arena_bin, backends, spawn_app_with};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

async fn accepted(resp: reqwest::Response) -> i64 {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    body["id"].as_i64().unwrap_or_default()
}

async fn delete(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.delete(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Keys in the app's object store (local folder or S3 bucket).
async fn keys(app: &TestApp) -> Vec<String> {
    let mut keys: Vec<String> = app
        .ctx
        .storage()
        .list()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    keys
}

/// Where a fixture's bytes could still be: keys naming its sha256, files in the data directory
/// naming it or holding its bytes.
async fn left_of(app: &TestApp, fixture: &PathBuf) -> Vec<String> {
    let sha = sha256_of(fixture);
    let bytes = std::fs::read(fixture).unwrap_or_default();
    let mut out: Vec<String> = keys(app)
        .await
        .into_iter()
        .filter(|k| k.contains(&sha))
        .collect();
    out.extend(traces(app.dir.path(), &sha, &bytes));
    out
}

/// [`left_of`] once it is empty, or after 20 s: a worker slot's scoring child that still held a
/// model (a link in its own folder) drops it at the slot's next idle sweep.
async fn left_soon(app: &TestApp, fixture: &PathBuf) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let left = left_of(app, fixture).await;
        if left.is_empty() || start.elapsed() > Duration::from_secs(20) {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn model() -> PathBuf {
    arena_datasets::detector("redblue").0
}

fn teams_on(board: &Value, which: &str) -> Vec<String> {
    board[which]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["team"].as_str().map(str::to_owned))
        .collect()
}

async fn rows(app: &TestApp) -> [u64; 4] {
    use arena::entities::{detectors, scores, submissions, videos};
    use sea_orm::{EntityTrait, PaginatorTrait};
    let db = app.ctx.db();
    [
        submissions::Entity::find().count(db).await.unwrap_or(99),
        videos::Entity::find().count(db).await.unwrap_or(99),
        detectors::Entity::find().count(db).await.unwrap_or(99),
        scores::Entity::find().count(db).await.unwrap_or(99),
    ]
}

/// Competition `d`: three reals, alice's fake_1 and fake_2, carol's fake_1 (the same bytes as
/// alice's), dana's redblue detector; plus competition `keep` holding real_1 too.
async fn game(app: &TestApp) -> (String, String, String) {
    for slug in ["d", "keep"] {
        let (status, _) = app
            .admin_post(
                "/api/v1/competitions",
                json!({ "slug": slug, "title": slug }),
            )
            .await;
        assert_eq!(status, 201);
    }
    let alice = app.team("alice", "creator").await;
    let carol = app.team("carol", "creator").await;
    let dana = app.team("dana", "detector").await;
    let mut ids = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        ids.push(accepted(app.post_real("d", &video(name)).await).await);
    }
    ids.push(accepted(app.post_real("keep", &video("real_1.mp4")).await).await);
    for (token, name) in [
        (&alice, "fake_1.mp4"),
        (&alice, "fake_2.mp4"),
        (&carol, "fake_1.mp4"),
    ] {
        ids.push(accepted(app.post_creation("d", Some(token), &video(name)).await).await);
    }
    ids.push(accepted(app.post_detector("d", Some(&dana), "redblue").await).await);
    for id in ids {
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    }
    app.wait_idle(WAIT).await;
    (alice, carol, dana)
}

async fn delete_team_then_competition(app: &TestApp) {
    let (alice, carol, _dana) = game(app).await;
    let keys_before = keys(app).await;
    let fake_2_sha = sha256_of(&video("fake_2.mp4"));
    assert!(
        keys_before
            .iter()
            .any(|k| k.starts_with(&format!("crops/{fake_2_sha}"))),
        "{keys_before:?}"
    );

    // Organizers only; unknown teams and organizer teams are refused.
    assert_eq!(delete(app, "/api/v1/teams/alice", None).await.0, 401);
    let (status, body) = delete(app, "/api/v1/teams/alice", Some(&carol)).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("admin_only")));
    let (status, body) = delete(app, "/api/v1/teams/nobody", Some(&app.admin_token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("team_not_found"))
    );
    let (status, body) = delete(app, "/api/v1/teams/admin", Some(&app.admin_token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("team_is_organizer")),
        "{body}"
    );

    // alice goes: fake_2 (hers alone) is erased everywhere, fake_1 stays for carol.
    let (status, body) = delete(app, "/api/v1/teams/alice", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["submissions_erased"], 2, "{body}");
    let deleted: Vec<&str> = body["objects_deleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        deleted.contains(&format!("videos/{fake_2_sha}").as_str()),
        "{body}"
    );
    let left = left_soon(app, &video("fake_2.mp4")).await;
    assert!(left.is_empty(), "alice's bytes left behind: {left:?}");
    assert!(
        !left_of(app, &video("fake_1.mp4")).await.is_empty(),
        "carol's identical upload lost its object"
    );
    // The team is gone: its token, its page, its board rows; its name is free again.
    let (status, _) = app
        .get_json("/api/v1/competitions/d/tasks", Some(&alice))
        .await;
    assert_eq!(status, 401);
    assert_eq!(app.get_json("/teams/alice", None).await.0, 404);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, board) = app
            .get_json("/api/v1/competitions/d/leaderboard", None)
            .await;
        if teams_on(&board, "creation") == vec!["carol".to_owned()] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{board}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.team("alice", "creator").await;

    // The competition goes: every row and every byte of its uploads, but not the reals another
    // competition holds.
    let (status, body) = delete(app, "/api/v1/competitions/d", Some(&carol)).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("admin_only")));
    let (status, body) = delete(app, "/api/v1/competitions/d", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], true);
    assert_eq!(
        body["submissions_erased"], 5,
        "3 reals, carol's, dana's: {body}"
    );
    let (status, body) = app.get_json("/api/v1/competitions/d", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("competition_not_found"))
    );
    let (status, _) = delete(app, "/api/v1/competitions/d", Some(&app.admin_token)).await;
    assert_eq!(status, 404);
    for fixture in [
        video("fake_1.mp4"),
        video("real_2.mp4"),
        video("real_3.mp4"),
        model(),
    ] {
        let left = left_soon(app, &fixture).await;
        assert!(left.is_empty(), "{}: {left:?}", fixture.display());
    }
    assert!(
        !left_of(app, &video("real_1.mp4")).await.is_empty(),
        "competition keep still holds real_1"
    );
    // Only `keep`'s submission (its real) and its video stay; no detector, no score.
    assert_eq!(rows(app).await, [1, 1, 0, 0]);
    let (status, _) = app.get_json("/api/v1/competitions/keep", None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_team_or_a_competition_erases_its_uploads() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            ..AppOptions::default()
        })
        .await;
        delete_team_then_competition(&app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_on_s3_storage_leaves_nothing_in_the_bucket() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    moto.create_bucket("arena")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = spawn_app_with(AppOptions {
        tweak: |s| s.storage = Some("s3://arena/objects".to_owned()),
        s3: Some(moto.options()),
        ..AppOptions::default()
    })
    .await;
    assert!(app.stored_objects().is_empty());
    delete_team_then_competition(&app).await;
    let left = keys(&app).await;
    assert!(
        left.iter()
            .all(|k| k.contains(&sha256_of(&video("real_1.mp4")))),
        "only keep's real_1 (its object and caches) remain: {left:?}"
    );
}

fn arena_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(arena_bin())
        .arg("--data")
        .arg(app.dir.path())
        .arg("--database-url")
        .arg(app.ctx.settings().database_url())
        .args(args)
        .env("ARENA_LOG_FORMAT", "text")
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_exports_then_erases_a_finished_competitions_uploads() {
    let app = spawn_app_with(AppOptions::default()).await;
    game(&app).await;
    let out = app.dir.path().join("export");
    let out_s = out.to_string_lossy().into_owned();
    // A live competition never finishes by itself: refused without --force, nothing erased.
    let refused = arena_cli(&app, &["purge", "--competition", "d", "--out", &out_s]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("competition_not_finished"), "{stderr}");
    assert!(!left_of(&app, &video("fake_2.mp4")).await.is_empty());
    let (_, board) = app
        .get_json("/api/v1/competitions/d/leaderboard", None)
        .await;

    let done = arena_cli(
        &app,
        &["purge", "--competition", "d", "--out", &out_s, "--force"],
    );
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(stdout.contains("erased 7 submissions"), "{stdout}");
    // The export is the board as it was, and its pairs.
    let exported: Value =
        serde_json::from_slice(&std::fs::read(out.join("d-leaderboard.json")).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(exported["detection"], board["detection"], "{exported}");
    assert_eq!(exported["creation"], board["creation"], "{exported}");
    let csv = std::fs::read_to_string(out.join("d-scores-detection.csv")).unwrap_or_default();
    assert_eq!(
        csv.lines().next(),
        Some("detector,creation,video,label,score")
    );
    assert_eq!(
        csv.lines().count(),
        1 + 6,
        "redblue × (3 reals + 3 fakes): {csv}"
    );
    // Every upload is gone, but real_1, which competition keep holds.
    for fixture in [
        video("fake_1.mp4"),
        video("fake_2.mp4"),
        video("real_2.mp4"),
        model(),
    ] {
        let left = left_soon(&app, &fixture).await;
        assert!(left.is_empty(), "{}: {left:?}", fixture.display());
    }
    assert!(!left_of(&app, &video("real_1.mp4")).await.is_empty());
    // The competition stays, its submissions are withdrawn tombstones, its board is empty.
    let (status, _) = app.get_json("/api/v1/competitions/d", None).await;
    assert_eq!(status, 200);
    // The server hears of it through the events table (the CLI is another process).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, board) = app
            .get_json("/api/v1/competitions/d/leaderboard", None)
            .await;
        if teams_on(&board, "creation").is_empty() && teams_on(&board, "detection").is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{board}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subs = arena::repo::submissions::list_for_competition(
        app.ctx.db(),
        arena::repo::competitions::find_by_slug(app.ctx.db(), "d")
            .await
            .ok()
            .flatten()
            .map(|c| c.id)
            .unwrap_or_default(),
    )
    .await
    .unwrap_or_default();
    assert_eq!(subs.len(), 7);
    assert!(subs.iter().all(|s| s.status == "withdrawn"), "{subs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rounds_competition_is_purged_once_its_last_phase_closed() {
    let app = spawn_app_with(AppOptions::default()).await;
    let (status, _) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "r", "title": "r", "mode": "rounds" }),
        )
        .await;
    assert_eq!(status, 201);
    let now = arena::time::now_ms();
    let phase = json!({ "kind": "creation", "round": 1, "opens_at_ms": now - 1000,
        "closes_at_ms": now + 3_600_000 });
    let (status, body) = app.admin_post("/api/v1/competitions/r/phases", phase).await;
    assert_eq!(status, 201, "{body}");
    let form = reqwest::multipart::Form::new()
        .part("target", arena_tests::part(&video("real_1.mp4")))
        .text("task_id", "t1")
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
    let alice = app.team("alice", "creator").await;
    let form = reqwest::multipart::Form::new()
        .part("file", arena_tests::part(&video("fake_1.mp4")))
        .text("task", "t1");
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
    app.wait_idle(WAIT).await;
    let out = app.dir.path().join("export");
    let out_s = out.to_string_lossy().into_owned();

    // C1 is open: not finished.
    let refused = arena_cli(&app, &["purge", "--competition", "r", "--out", &out_s]);
    assert!(!refused.status.success());
    assert!(!left_of(&app, &video("fake_1.mp4")).await.is_empty());
    let (status, body) = app
        .admin_post("/api/v1/competitions/r/phases/advance", json!({}))
        .await;
    assert_eq!(
        (status, body["closed"].as_str()),
        (200, Some("C1")),
        "{body}"
    );
    let done = arena_cli(&app, &["purge", "--competition", "r", "--out", &out_s]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    for file in [
        "r-round1-leaderboard.json",
        "r-round1-scores-detection.csv",
        "r-round1-scores-creation.csv",
    ] {
        assert!(out.join(file).is_file(), "{file} not exported");
    }
    // The fake and the task's target clip are erased; the task is gone with its target.
    for fixture in [video("fake_1.mp4"), video("real_1.mp4")] {
        let left = left_soon(&app, &fixture).await;
        assert!(left.is_empty(), "{}: {left:?}", fixture.display());
    }
    let (status, tasks) = app
        .get_json("/api/v1/competitions/r/tasks", Some(&app.admin_token))
        .await;
    assert_eq!((status, tasks), (200, json!([])));
}
