//! The DFGC rules of creation uploads through the HTTP API, on SQLite and PostgreSQL: a fake
//! matches its task's target clip in displayed size and frame count, an upload answers a task
//! once, the total and daily quotas hold, and an upload that fails on our side is refunded. A
//! refused upload leaves no row and no stored object behind.

use arena::storage::sha256_hex;
use arena::time::now_ms;
use arena_datasets::video;
use arena_tests::{AppOptions, TestApp, backends, part, spawn_app_with};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
const HOUR: i64 = 3_600_000;

async fn accepted(resp: reqwest::Response) -> i64 {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    body["id"].as_i64().unwrap_or_default()
}

async fn refused(resp: reqwest::Response, status: u16, code: &str) -> String {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    body["message"].as_str().unwrap_or_default().to_owned()
}

async fn competition(app: &TestApp, slug: &str, mode: &str, settings: Value) {
    let (status, body) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": slug, "title": slug, "mode": mode, "settings": settings }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn add_task(app: &TestApp, slug: &str, task_id: &str, round: i32, target: &str) {
    let form = reqwest::multipart::Form::new()
        .part("target", part(&video(target)))
        .text("task_id", task_id.to_owned())
        .text("round", round.to_string())
        .text("donor", "id1".to_owned());
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/competitions/{slug}/tasks")))
        .bearer_auth(&app.admin_token)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 201);
}

/// Uploads `file` (a video or a zip) as a creation, answering `task` when given.
async fn upload(
    app: &TestApp,
    slug: &str,
    token: &str,
    file: &Path,
    task: Option<&str>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part("file", part(file));
    if let Some(t) = task {
        form = form.text("task", t.to_owned());
    }
    app.client
        .post(app.url(&format!("/api/v1/competitions/{slug}/creations")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A zip of `(entry name, fixture video)` in `dir`.
fn zip_of(dir: &Path, entries: &[(&str, &str)]) -> std::path::PathBuf {
    let path = dir.join("fakes.zip");
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut zip = zip::ZipWriter::new(file);
    for (name, fixture) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(video(fixture)).unwrap_or_else(|e| panic!("{e}"));
        std::io::Write::write_all(&mut zip, &bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    zip.finish().unwrap_or_else(|e| panic!("{e}"));
    path
}

fn sha_of(fixture: &str) -> String {
    sha256_hex(&std::fs::read(video(fixture)).unwrap_or_else(|e| panic!("{e}")))
}

/// Nothing of a refused upload stays: no new row, no stored object of its bytes, no spooled file.
async fn nothing_kept(app: &TestApp, rows_before: u64, fixtures: &[&str]) {
    assert_eq!(app.submission_count().await, rows_before, "a row was kept");
    let objects = app.stored_objects();
    for f in fixtures {
        let sha = sha_of(f);
        assert!(
            !objects.iter().any(|o| o.contains(&sha)),
            "{f} was stored: {objects:?}"
        );
    }
    let spooled: Vec<_> = std::fs::read_dir(app.dir.path().join("uploads"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(spooled.is_empty(), "upload spool not emptied: {spooled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fakes_match_their_targets_size_and_frame_count_and_answer_a_task_once() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 0,
            ..AppOptions::default()
        })
        .await;
        task_checks(&app).await;
    }
}

async fn task_checks(app: &TestApp) {
    // Default tolerance: 2 % of the target's frame count; "loose" allows 20 %.
    competition(app, "strict", "live", json!({})).await;
    competition(app, "loose", "live", json!({ "frame_tolerance": 0.2 })).await;
    for slug in ["strict", "loose"] {
        add_task(app, slug, "t1", 1, "real_1.mp4").await; // 64×64, 10 frames
        add_task(app, slug, "t2", 1, "real_2.mp4").await;
    }
    let alice = app.team("alice", "creator").await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rows = app.submission_count().await;

    // resolution_mismatch: a 320×240 clip for a 64×64 target.
    let face = video("face_moving.mp4");
    let msg = refused(
        upload(app, "strict", &alice, &face, Some("t1")).await,
        422,
        "resolution_mismatch",
    )
    .await;
    assert!(msg.contains("320×240") && msg.contains("64×64"), "{msg}");
    // frame_count_mismatch: 8 frames for a 10-frame target, outside 2 %.
    let short = video("fake_1_8frames.mp4");
    let msg = refused(
        upload(app, "strict", &alice, &short, Some("t1")).await,
        422,
        "frame_count_mismatch",
    )
    .await;
    assert!(msg.contains("8 frames") && msg.contains("10"), "{msg}");
    // duplicate_task: two zip entries answering t1.
    let dup = zip_of(
        dir.path(),
        &[("t1.mp4", "fake_1.mp4"), ("t1.webm", "real_1.webm")],
    );
    refused(
        upload(app, "strict", &alice, &dup, None).await,
        422,
        "duplicate_task",
    )
    .await;
    // One bad entry refuses the whole zip: its good entry is not kept either.
    let mixed = zip_of(
        dir.path(),
        &[("t1.mp4", "fake_2.mp4"), ("t2.mp4", "fake_1_8frames.mp4")],
    );
    refused(
        upload(app, "strict", &alice, &mixed, None).await,
        422,
        "frame_count_mismatch",
    )
    .await;
    nothing_kept(
        app,
        rows,
        &[
            "face_moving.mp4",
            "fake_1_8frames.mp4",
            "fake_1.mp4",
            "fake_2.mp4",
            "real_1.webm",
        ],
    )
    .await;

    // The same 8-frame fake is within a 20 % tolerance (|8 − 10| ≤ 0.2 · 10).
    let id = accepted(upload(app, "loose", &alice, &short, Some("t1")).await).await;
    assert!(id > 0);
    // A zip answering each task once, with matching clips, is accepted as one submission.
    let good = zip_of(
        dir.path(),
        &[("t1.mp4", "fake_1.mp4"), ("t2.mp4", "fake_2.mp4")],
    );
    accepted(upload(app, "strict", &alice, &good, None).await).await;
    assert_eq!(app.submission_count().await, rows + 2);
    assert!(
        app.stored_objects()
            .iter()
            .any(|o| o.contains(&sha_of("fake_2.mp4")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_limit_holds_per_team_kind_and_phase() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 0,
            ..AppOptions::default()
        })
        .await;
        total_limit(&app).await;
    }
}

async fn total_limit(app: &TestApp) {
    competition(
        app,
        "live",
        "live",
        json!({ "total_limit": 2, "daily_limit": 10 }),
    )
    .await;
    let carl = app.team("carl", "both").await;
    let bob = app.team("bob", "creator").await;
    let fake = video("fake_1.mp4");
    for _ in 0..2 {
        accepted(upload(app, "live", &carl, &fake, None).await).await;
    }
    let rows = app.submission_count().await;
    let msg = refused(
        upload(app, "live", &carl, &fake, None).await,
        429,
        "quota_exceeded",
    )
    .await;
    assert!(msg.contains("total quota of 2"), "{msg}");
    assert_eq!(
        app.submission_count().await,
        rows,
        "a refused upload left a row"
    );
    // Per team and per kind: bob and carl's detectors have their own counts; organizers have none.
    accepted(upload(app, "live", &bob, &fake, None).await).await;
    accepted(app.post_detector("live", Some(&carl), "constant").await).await;
    let admin = app.admin_token.clone();
    for _ in 0..3 {
        accepted(upload(app, "live", &admin, &fake, None).await).await;
    }

    // Rounds mode: the limit is per phase; C2 gives a team a fresh count.
    competition(app, "r", "rounds", json!({ "total_limit": 1 })).await;
    let now = now_ms();
    for (i, (kind, round)) in [("creation", 1), ("detection", 1), ("creation", 2)]
        .into_iter()
        .enumerate()
    {
        let opens = if i == 0 {
            now - 1000
        } else {
            now + i as i64 * HOUR
        };
        let body = json!({ "kind": kind, "round": round, "opens_at_ms": opens,
            "closes_at_ms": now + (i as i64 + 1) * HOUR });
        let (status, body) = app.admin_post("/api/v1/competitions/r/phases", body).await;
        assert_eq!(status, 201, "{body}");
    }
    add_task(app, "r", "t1", 1, "real_1.mp4").await;
    add_task(app, "r", "t2", 2, "real_2.mp4").await;
    accepted(upload(app, "r", &bob, &fake, Some("t1")).await).await;
    refused(
        upload(app, "r", &bob, &fake, Some("t1")).await,
        429,
        "quota_exceeded",
    )
    .await;
    for (closed, opened) in [("C1", "D1"), ("D1", "C2")] {
        let (status, body) = app
            .admin_post("/api/v1/competitions/r/phases/advance", json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["closed"].as_str(), body["opened"].as_str()),
            (Some(closed), Some(opened))
        );
    }
    accepted(upload(app, "r", &bob, &video("fake_2.mp4"), Some("t2")).await).await;
    refused(
        upload(app, "r", &bob, &fake, Some("t2")).await,
        429,
        "quota_exceeded",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_fails_on_our_side_does_not_count_against_the_daily_limit() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            workers: 0,
            tweak: |s| s.queue.max_attempts = 2,
            ..AppOptions::default()
        })
        .await;
        refund(&app).await;
    }
}

async fn refund(app: &TestApp) {
    competition(app, "d", "live", json!({ "daily_limit": 1 })).await;
    let alice = app.team("alice", "creator").await;
    let a = accepted(upload(app, "d", &alice, &video("fake_1.mp4"), None).await).await;
    // The limit binds while the first upload waits.
    refused(
        upload(app, "d", &alice, &video("fake_2.mp4"), None).await,
        429,
        "quota_exceeded",
    )
    .await;
    // Its stored video goes missing (our storage failed): every attempt fails on our side.
    let stored = app
        .dir
        .path()
        .join("objects")
        .join(arena::storage::video_key(&sha_of("fake_1.mp4")));
    std::fs::remove_file(&stored).unwrap_or_else(|e| panic!("{}: {e}", stored.display()));
    let pool = arena_web::spawn_workers(&app.ctx, 1);
    app.wait_failed(a, WAIT).await;
    app.wait_idle(WAIT).await;
    // The team is told it was our failure, without our internals (the server's paths).
    let (_, mine) = app
        .get_json(&format!("/api/v1/submissions/{a}"), Some(&alice))
        .await;
    assert_eq!(mine["error"]["message"], "storage (on our side)", "{mine}");
    let data_dir = app.dir.path().to_string_lossy().into_owned();
    assert!(!mine.to_string().contains(&data_dir), "{mine}");

    // The failure is refunded: the same day, the team uploads again; that one counts.
    let b = accepted(upload(app, "d", &alice, &video("fake_2.mp4"), None).await).await;
    let done = app.wait_submission(b, WAIT).await;
    assert_eq!(done["status"], "finished", "{done}");
    refused(
        upload(app, "d", &alice, &video("fake_1.mp4"), None).await,
        429,
        "quota_exceeded",
    )
    .await;
    pool.stop().await;
}
