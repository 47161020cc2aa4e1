//! Withdrawal and erasure (`DELETE /api/v1/submissions/{id}`): who may, what leaves the boards,
//! and that no byte of a withdrawn upload stays in the data directory or the object store unless
//! another submission holds the same content.

use arena_datasets::video;
use arena_tests::{AppOptions, TestApp, backends, spawn_app_with};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

async fn accepted(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    resp.json::<Value>().await.unwrap_or_default()["id"]
        .as_i64()
        .unwrap_or_default()
}

async fn delete(app: &TestApp, id: i64, token: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .delete(app.url(&format!("/api/v1/submissions/{id}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub(crate) fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:x}", Sha256::digest(&bytes))
}

/// Every file under `dir` whose path names `sha` or whose bytes are exactly `content`'s.
///
/// Only files of `content`'s size are opened, and never the SQLite files: the server under test
/// runs in this process, and closing any descriptor of a file drops every POSIX lock this
/// process holds on it (sqlite.org/howtocorrupt.html, 2.2), the database's included. An `arena`
/// process opened on the same data dir afterwards (`arena purge` in `deletion.rs`) then finds no
/// other user of the `-shm` file, truncates it under the server's mapping, and the test binary
/// dies of SIGBUS (CI, 2026-12-05).
pub(crate) fn traces(dir: &Path, sha: &str, content: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            let named = p.display().to_string().contains(sha);
            let sqlite = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("arena.db"));
            let same = !sqlite
                && p.metadata()
                    .is_ok_and(|m| m.is_file() && m.len() == content.len() as u64)
                && std::fs::read(&p).is_ok_and(|b| b == content);
            if named || same {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

fn teams_on(board: &Value, which: &str) -> Vec<String> {
    board[which]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["team"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_submissions_leave_the_boards_and_no_byte_behind() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            ..AppOptions::default()
        })
        .await;
        withdraw_and_erase(&app).await;
    }
}

async fn withdraw_and_erase(app: &TestApp) {
    let (status, _) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "w", "title": "withdrawals" }),
        )
        .await;
    assert_eq!(status, 201);
    let alice = app.team("w-alice", "creator").await;
    let bob = app.team("w-bob", "creator").await;
    let carol = app.team("w-carol", "creator").await;
    let dana = app.team("w-dana", "detector").await;
    let erin = app.team("w-erin", "detector").await;
    let mut all = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        all.push(accepted(app.post_real("w", &video(name)).await).await);
    }
    let fake_1 = video("fake_1.mp4");
    let a = accepted(app.post_creation("w", Some(&alice), &fake_1).await).await;
    let b = accepted(
        app.post_creation("w", Some(&bob), &video("fake_2.mp4"))
            .await,
    )
    .await;
    // carol's upload is byte for byte alice's: one stored object, two submissions.
    let c = accepted(app.post_creation("w", Some(&carol), &fake_1).await).await;
    let d = accepted(app.post_detector("w", Some(&dana), "redblue").await).await;
    let e = accepted(app.post_detector("w", Some(&erin), "constant").await).await;
    all.extend([a, b, c, d, e]);
    for id in all {
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    }
    let fake_sha = sha256_of(&fake_1);
    let fake_bytes = std::fs::read(&fake_1).unwrap_or_default();
    let (model_path, _) = arena_datasets::detector("redblue");
    let model_sha = sha256_of(&model_path);
    let model_bytes = std::fs::read(&model_path).unwrap_or_default();
    let objects = app.stored_objects();
    assert!(objects.iter().any(|o| o.contains(&fake_sha)), "{objects:?}");
    assert!(
        objects
            .iter()
            .any(|o| o.starts_with(&format!("crops/{fake_sha}"))),
        "{objects:?}"
    );
    assert!(
        objects.iter().any(|o| o.contains(&model_sha)),
        "{objects:?}"
    );

    // Only its team or an organizer.
    assert_eq!(delete(app, a, None).await.0, 401);
    let (status, body) = delete(app, a, Some(&bob)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_yours")),
        "{body}"
    );
    assert_eq!(delete(app, 999_999, Some(&alice)).await.0, 404);

    // alice withdraws: off the board, but carol still holds the same bytes.
    let (status, body) = delete(app, a, Some(&alice)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "withdrawn");
    assert_eq!(body["contents_kept"], 1, "{body}");
    assert_eq!(
        body["objects_deleted"].as_array().map(Vec::len),
        Some(0),
        "{body}"
    );
    let (status, body) = delete(app, a, Some(&alice)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_withdrawn"))
    );
    let (_, sub) = app
        .get_json(&format!("/api/v1/submissions/{a}"), Some(&alice))
        .await;
    assert_eq!(sub["status"], "withdrawn", "{sub}");
    let board = wait_board(app, |b| {
        !teams_on(b, "creation").contains(&"w-alice".to_owned())
    })
    .await;
    assert!(
        teams_on(&board, "creation").contains(&"w-carol".to_owned()),
        "{board}"
    );
    assert!(app.stored_objects().iter().any(|o| o.contains(&fake_sha)));

    // carol withdraws the last copy: the object and its caches go.
    let (status, body) = delete(app, c, Some(&carol)).await;
    assert_eq!(status, 200, "{body}");
    let deleted: Vec<String> = body["objects_deleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    assert!(deleted.contains(&format!("videos/{fake_sha}")), "{body}");
    assert!(
        deleted
            .iter()
            .any(|k| k.starts_with(&format!("crops/{fake_sha}"))),
        "{body}"
    );
    let left = traces(app.dir.path(), &fake_sha, &fake_bytes);
    assert!(left.is_empty(), "withdrawn bytes left behind: {left:?}");
    assert!(!app.stored_objects().iter().any(|o| o.contains(&fake_sha)));

    // dana's detector: its model and its scores go, the board no longer lists it.
    let (status, body) = delete(app, d, Some(&dana)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["scores_deleted"].as_u64().unwrap_or(0) >= 4, "{body}");
    // The stored model goes at once; a worker slot's scoring child that still held it (a link
    // in its own folder) is dropped at the slot's next idle sweep.
    assert!(!app.stored_objects().iter().any(|o| o.contains(&model_sha)));
    let start = std::time::Instant::now();
    let left = loop {
        let left = traces(app.dir.path(), &model_sha, &model_bytes);
        if left.is_empty() || start.elapsed() > Duration::from_secs(20) {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(left.is_empty(), "withdrawn model left behind: {left:?}");
    let board = wait_board(app, |b| {
        !teams_on(b, "detection").contains(&"w-dana".to_owned())
    })
    .await;
    assert_eq!(
        teams_on(&board, "detection"),
        vec!["w-erin".to_owned()],
        "{board}"
    );
    assert_eq!(
        teams_on(&board, "creation"),
        vec!["w-bob".to_owned()],
        "{board}"
    );
    let (_, matrix) = app.get_json("/api/v1/competitions/w/matrix", None).await;
    assert_eq!(
        matrix["detectors"].as_array().map(Vec::len),
        Some(1),
        "{matrix}"
    );
    assert_eq!(
        matrix["creations"].as_array().map(Vec::len),
        Some(1),
        "{matrix}"
    );

    // Organizers erase any submission; a team cannot withdraw the organizers' reals.
    let (status, body) = delete(app, e, Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    let (_, sub) = app
        .get_json(&format!("/api/v1/submissions/{b}"), Some(&bob))
        .await;
    assert_eq!(
        sub["status"], "finished",
        "bob's creation is untouched: {sub}"
    );
}

/// The default board once `done` holds for it (the cache is rebuilt after the event).
async fn wait_board(app: &TestApp, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, board) = app
            .get_json("/api/v1/competitions/w/leaderboard", None)
            .await;
        if done(&board) || std::time::Instant::now() > deadline {
            assert!(done(&board), "the board never updated: {board}");
            return board;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
