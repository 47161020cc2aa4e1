//! Rounds mode over HTTP: C1 → D1 → C2 → D2, asserting exactly which (detector, video) pairs are
//! scored after each step, plus the phase, task and quota rules of creation uploads.

use arena::storage::sha256_hex;
use arena::time::now_ms;
use arena_datasets::video;
use arena_tests::{AppOptions, TestApp, spawn_app, spawn_app_with};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
const HOUR: i64 = 3_600_000;

/// (detector team, video fixture) pairs with a score.
async fn scored(app: &TestApp) -> BTreeSet<(String, String)> {
    use arena::entities::{detectors, scores, submissions, teams, videos};
    let db = app.ctx.db();
    let names: HashMap<String, &str> = [
        "real_1.mp4",
        "real_2.mp4",
        "real_3.mp4",
        "fake_1.mp4",
        "fake_2.mp4",
    ]
    .into_iter()
    .map(|n| (sha256_hex(&std::fs::read(video(n)).unwrap_or_default()), n))
    .collect();
    let teams: HashMap<i64, String> = teams::Entity::find()
        .all(db)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let subs: HashMap<i64, i64> = submissions::Entity::find()
        .all(db)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.id, s.team_id))
        .collect();
    let dets: HashMap<i64, i64> = detectors::Entity::find()
        .all(db)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d.id, d.submission_id))
        .collect();
    let vids: HashMap<i64, String> = videos::Entity::find()
        .all(db)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.id, v.sha256))
        .collect();
    scores::Entity::find()
        .all(db)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let team = teams[&subs[&dets[&s.detector_id]]].clone();
            let name = names
                .get(&vids[&s.video_id])
                .copied()
                .unwrap_or("?")
                .to_owned();
            (team, name)
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn accepted(resp: reqwest::Response) -> i64 {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    body["id"].as_i64().unwrap_or_default()
}

async fn refused(resp: reqwest::Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status);
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], code, "{body}");
}

async fn post_creation(
    app: &TestApp,
    token: &str,
    file: &str,
    task: Option<&str>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part("file", arena_tests::part(&video(file)));
    if let Some(t) = task {
        form = form.text("task", t.to_owned());
    }
    app.client
        .post(app.url("/api/v1/competitions/r/creations"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn add_task(app: &TestApp, task_id: &str, round: i32, target: &str) {
    let form = reqwest::multipart::Form::new()
        .part("target", arena_tests::part(&video(target)))
        .text("task_id", task_id.to_owned())
        .text("round", round.to_string())
        .text("donor", "id7".to_owned());
    let resp = app
        .client
        .post(app.url("/api/v1/competitions/r/tasks"))
        .bearer_auth(&app.admin_token)
        .multipart(form)
        .send()
        .await;
    assert_eq!(resp.map(|r| r.status().as_u16()).unwrap_or_default(), 201);
}

async fn advance(app: &TestApp, closed: Option<&str>, opened: Option<&str>) {
    let (status, body) = app
        .admin_post("/api/v1/competitions/r/phases/advance", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["closed"].as_str(), body["opened"].as_str()),
        (closed, opened)
    );
    app.wait_idle(WAIT).await;
}

async fn setup(app: &TestApp) -> (String, String, String, String, String) {
    let settings = json!({ "daily_limit": 2 });
    let (status, _) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "r", "title": "Rounds", "mode": "rounds", "settings": settings }),
        )
        .await;
    assert_eq!(status, 201);
    let now = now_ms();
    for (i, (kind, round)) in [
        ("creation", 1),
        ("detection", 1),
        ("creation", 2),
        ("detection", 2),
    ]
    .into_iter()
    .enumerate()
    {
        let opens = if i == 0 {
            now - 1000
        } else {
            now + i as i64 * HOUR
        };
        let body = json!({ "kind": kind, "round": round, "opens_at_ms": opens, "closes_at_ms": now + (i as i64 + 1) * HOUR });
        assert_eq!(
            app.admin_post("/api/v1/competitions/r/phases", body)
                .await
                .0,
            201
        );
    }
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        accepted(app.post_real("r", &video(name)).await).await;
    }
    add_task(app, "t1", 1, "real_1.mp4").await;
    add_task(app, "t2", 2, "real_2.mp4").await;
    let (status, body) = app
        .admin_post(
            "/api/v1/teams",
            json!({ "name": "org-baseline", "role": "detector", "baseline": true }),
        )
        .await;
    assert_eq!(status, 201);
    let base = body["token"].as_str().unwrap_or_default().to_owned();
    (
        base,
        app.team("alice", "creator").await,
        app.team("bob", "creator").await,
        app.team("dana", "detector").await,
        app.team("erin", "detector").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_d1_c2_d2_scores_exactly_the_scheduled_pairs() {
    let app = spawn_app().await;
    let (base, alice, bob, dana, erin) = setup(&app).await;

    // D0: the organizer's baseline detector, outside any phase.
    let id = accepted(app.post_detector("r", Some(&base), "constant").await).await;
    app.wait_submission(id, WAIT).await;
    // C1 is open: detection uploads are refused; creations must answer a round-1 task.
    refused(
        app.post_detector("r", Some(&dana), "redblue").await,
        409,
        "phase_closed",
    )
    .await;
    refused(
        post_creation(&app, &alice, "fake_1.mp4", None).await,
        422,
        "task_required",
    )
    .await;
    refused(
        post_creation(&app, &alice, "fake_1.mp4", Some("t2")).await,
        422,
        "unknown_task",
    )
    .await;
    let c1 = accepted(post_creation(&app, &alice, "fake_1.mp4", Some("t1")).await).await;
    assert_eq!(app.wait_submission(c1, WAIT).await["status"], "finished");
    let reals = |team: &'static str| {
        [
            (team, "real_1.mp4"),
            (team, "real_2.mp4"),
            (team, "real_3.mp4"),
        ]
    };
    let mut expected = pairs(&reals("org-baseline"));
    expected.extend(pairs(&[("org-baseline", "fake_1.mp4")]));
    assert_eq!(scored(&app).await, expected, "C1: fakes against D0 only");
    let (_, board) = app
        .get_json("/api/v1/competitions/r/leaderboard", None)
        .await;
    assert_eq!(
        (board["round"].as_i64(), board["provisional"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(board["creation"][0]["team"], "alice");

    advance(&app, Some("C1"), Some("D1")).await;
    refused(
        post_creation(&app, &alice, "fake_2.mp4", Some("t1")).await,
        409,
        "phase_closed",
    )
    .await;
    let d1 = accepted(app.post_detector("r", Some(&dana), "redblue").await).await;
    assert_eq!(app.wait_submission(d1, WAIT).await["status"], "finished");
    expected.extend(pairs(&reals("dana")));
    expected.extend(pairs(&[("dana", "fake_1.mp4")]));
    assert_eq!(
        scored(&app).await,
        expected,
        "D1: against C1's fakes and the reals"
    );

    advance(&app, Some("D1"), Some("C2")).await;
    assert_eq!(
        scored(&app).await,
        expected,
        "closing D1 scores nothing new: C1×D1 is done"
    );
    let (_, board) = app
        .get_json("/api/v1/competitions/r/leaderboard?round=1", None)
        .await;
    assert_eq!(
        board["provisional"], false,
        "round 1 is final once D1 closed"
    );
    // AUC(redblue, {fake_1}) = 1/3 → alice's anti-detection 2/3 against D1's finals.
    assert!(
        (board["creation"][0]["anti_detection"]
            .as_f64()
            .unwrap_or(0.0)
            - 2.0 / 3.0)
            .abs()
            < 1e-9,
        "{board}"
    );
    // dfgc2021 (the default preset): S_C = SSIM(c) + ID(c) + 2·A(c), SSIM computed by the worker
    // against task t1's target clip (real_1), ID 0 without imported ratings.
    assert_eq!(
        board["preset_fallback"],
        Value::Null,
        "it has tasks: {board}"
    );
    let alice_row = &board["creation"][0];
    let ssim = alice_row["ssim"].as_f64().unwrap_or(f64::NAN);
    assert!(
        ssim > 0.0 && ssim < 1.0,
        "fake_1 differs from its target real_1: {alice_row}"
    );
    let score = alice_row["score"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (score - (ssim + 2.0 * 2.0 / 3.0)).abs() < 1e-9,
        "{alice_row}"
    );
    let c2 = accepted(post_creation(&app, &bob, "fake_2.mp4", Some("t2")).await).await;
    assert_eq!(app.wait_submission(c2, WAIT).await["status"], "finished");
    expected.extend(pairs(&[("dana", "fake_2.mp4")]));
    assert_eq!(scored(&app).await, expected, "C2: against D1's finals only");

    advance(&app, Some("C2"), Some("D2")).await;
    let d2 = accepted(app.post_detector("r", Some(&erin), "greenish").await).await;
    assert_eq!(app.wait_submission(d2, WAIT).await["status"], "finished");
    expected.extend(pairs(&reals("erin")));
    expected.extend(pairs(&[("erin", "fake_2.mp4")]));
    assert_eq!(
        scored(&app).await,
        expected,
        "D2: against C2's fakes and the reals"
    );

    advance(&app, Some("D2"), None).await;
    assert_eq!(
        scored(&app).await,
        expected,
        "no pair is ever scored twice or out of scope"
    );
    let (_, board) = app
        .get_json("/api/v1/competitions/r/leaderboard", None)
        .await;
    assert_eq!(
        (board["round"].as_i64(), board["provisional"].as_bool()),
        (Some(2), Some(false))
    );
    assert_eq!(board["detection"][0]["team"], "erin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_listed_per_open_round_and_quotas_hold() {
    let app = spawn_app().await;
    let (_base, alice, _bob, dana, _erin) = setup(&app).await;
    let (status, tasks) = app
        .get_json("/api/v1/competitions/r/tasks", Some(&alice))
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = tasks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["task_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["t1"],
        "round 2's tasks stay hidden until C2 opens"
    );
    let target = app
        .client
        .get(app.url("/api/v1/competitions/r/tasks/t1/target"))
        .bearer_auth(&alice)
        .send()
        .await;
    let bytes = match target {
        Ok(r) if r.status().as_u16() == 200 => r.bytes().await.unwrap_or_default(),
        other => panic!("target download: {other:?}"),
    };
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(video("real_1.mp4"))
            .unwrap_or_default()
            .as_slice()
    );
    let (status, _) = app
        .get_json("/api/v1/competitions/r/tasks/t2/target", Some(&alice))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .get_json("/api/v1/competitions/r/tasks", Some(&dana))
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("wrong_role")));

    // A zip answering t1 with a 64×64 10-frame fake is accepted; the daily limit is 2.
    accepted(post_creation(&app, &alice, "fake_1.mp4", Some("t1")).await).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let zip_path = dir.path().join("c.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap_or_else(|e| panic!("{e}"));
        let mut zip = zip::ZipWriter::new(file);
        zip.start_file("t1.mp4", zip::write::SimpleFileOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        std::io::Write::write_all(
            &mut zip,
            &std::fs::read(video("fake_2.mp4")).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        zip.finish().unwrap_or_else(|e| panic!("{e}"));
    }
    let form = reqwest::multipart::Form::new().part("file", arena_tests::part(&zip_path));
    let resp = app
        .client
        .post(app.url("/api/v1/competitions/r/creations"))
        .bearer_auth(&alice)
        .multipart(form)
        .send()
        .await;
    accepted(resp.unwrap_or_else(|e| panic!("{e}"))).await;
    refused(
        post_creation(&app, &alice, "fake_1.mp4", Some("t1")).await,
        429,
        "quota_exceeded",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fakes_are_checked_against_the_targets_displayed_size() {
    let app = spawn_app().await;
    let (_base, alice, bob, _dana, _erin) = setup(&app).await;
    // The target is a phone-style clip: stored 240×320 with a "rotate 90" display matrix, shown
    // 320×240. A fake re-encoded upright (what FFmpeg's CLI writes, applying the rotation) looks
    // identical and is accepted; before display sizes it was a resolution_mismatch.
    add_task(&app, "t3", 1, "face_rot90.mp4").await;
    accepted(post_creation(&app, &alice, "face_moving.mp4", Some("t3")).await).await;
    // An anamorphic fake (240×240 stored, 4:3 pixels) is shown 320×240 too.
    accepted(post_creation(&app, &alice, "face_anamorphic.mp4", Some("t3")).await).await;
    // A clip of another displayed size still is not.
    refused(
        post_creation(&app, &bob, "real_1.mp4", Some("t3")).await,
        422,
        "resolution_mismatch",
    )
    .await;
}

/// A fake's SSIM against its task's target is the same whether videos are decoded in sandbox
/// children or in the worker's own process (there the fake's frames are not kept from the
/// decode: they are read back from the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fakes_ssim_is_the_same_with_or_without_isolation() {
    use arena::entities::videos;
    use sea_orm::{ColumnTrait, QueryFilter};
    let mut seen = Vec::new();
    for isolate in [true, false] {
        let app = spawn_app_with(AppOptions {
            isolate,
            ..AppOptions::default()
        })
        .await;
        let (_base, alice, ..) = setup(&app).await;
        let id = accepted(post_creation(&app, &alice, "fake_1.mp4", Some("t1")).await).await;
        let done = app.wait_submission(id, WAIT).await;
        assert_eq!(done["status"], "finished", "isolate {isolate}: {done}");
        let fake = videos::Entity::find()
            .filter(videos::Column::SubmissionId.eq(id))
            .one(app.ctx.db())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no video for submission {id}"));
        seen.push(fake.ssim);
    }
    let ssim = seen[0].unwrap_or(f64::NAN);
    assert!(ssim > 0.0 && ssim < 1.0, "{seen:?}");
    assert_eq!(seen[0], seen[1], "sandboxed, then in process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_withdraws_only_while_its_phase_is_open() {
    let app = spawn_app().await;
    let (_, alice, bob, _, _) = setup(&app).await;
    let delete = |id: i64, token: String| {
        app.client
            .delete(app.url(&format!("/api/v1/submissions/{id}")))
            .bearer_auth(token)
            .send()
    };
    let a = accepted(post_creation(&app, &alice, "fake_1.mp4", Some("t1")).await).await;
    let b = accepted(post_creation(&app, &bob, "fake_1.mp4", Some("t1")).await).await;
    assert_eq!(app.wait_submission(a, WAIT).await["status"], "finished");
    assert_eq!(app.wait_submission(b, WAIT).await["status"], "finished");
    // C1 is open: bob takes his creation back.
    let resp = delete(b, bob.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 200);
    // C1 closes: alice can no longer withdraw; the organizers still can.
    advance(&app, Some("C1"), Some("D1")).await;
    refused(
        delete(a, alice.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        409,
        "phase_closed",
    )
    .await;
    let resp = delete(a, app.admin_token.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 200);
}
