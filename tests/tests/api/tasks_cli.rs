//! A creator team's tasks from the command line (`arena tasks list|download`) and on its team
//! page: the tasks of the creation rounds that have opened, with their target clips.

use arena::time::now_ms;
use arena_datasets::video;
use arena_tests::web::WebClient;
use arena_tests::{AppOptions, TestApp, arena_bin, part, spawn_app_with};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;

async fn setup(app: &TestApp) {
    let (status, _) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "t", "title": "Tasks", "mode": "rounds" }),
        )
        .await;
    assert_eq!(status, 201);
    let now = now_ms();
    for (kind, round, opens) in [
        ("creation", 1, now - 1000),
        ("detection", 1, now + HOUR),
        ("creation", 2, now + 2 * HOUR),
    ] {
        let body = json!({ "kind": kind, "round": round, "opens_at_ms": opens,
            "closes_at_ms": opens + HOUR });
        let (status, body) = app.admin_post("/api/v1/competitions/t/phases", body).await;
        assert_eq!(status, 201, "{body}");
    }
    for (id, round, target) in [("t1", 1, "real_1.mp4"), ("t2", 2, "real_2.mp4")] {
        let form = reqwest::multipart::Form::new()
            .part("target", part(&video(target)))
            .text("task_id", id)
            .text("round", round.to_string())
            .text("donor", format!("donor{round}"));
        let resp = app
            .client
            .post(app.url("/api/v1/competitions/t/tasks"))
            .bearer_auth(&app.admin_token)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status().as_u16(), 201);
    }
}

fn cli(app: &TestApp, args: &[&str], token: &str) -> std::process::Output {
    std::process::Command::new(arena_bin())
        .arg("tasks")
        .args(args)
        .args([
            "--competition",
            "t",
            "--server",
            &app.address,
            "--token",
            token,
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creators_list_and_download_the_open_tasks() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    setup(&app).await;
    let alice = app.team("alice", "creator").await;
    let dana = app.team("dana", "detector").await;

    let out = cli(&app, &["list"], &alice);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec!["t1\t1\tdonor1"],
        "round 2 has not opened"
    );
    let out = cli(&app, &["list"], &dana);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong_role"));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dest = dir.path().join("tasks");
    let dest_s = dest.to_string_lossy().into_owned();
    let out = cli(&app, &["download", "--out", &dest_s], &alice);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dest.join("t1.mp4")).unwrap_or_default(),
        std::fs::read(video("real_1.mp4")).unwrap_or_default()
    );
    assert!(!dest.join("t2.mp4").exists());
    let index: Value =
        serde_json::from_slice(&std::fs::read(dest.join("tasks.json")).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(index[0]["task_id"], "t1", "{index}");
    let out = cli(
        &app,
        &["download", "--out", &dest_s, "--task", "t2"],
        &alice,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("task_not_found"));

    // The team page lists the same task with a link its browser can follow.
    let mut browser = WebClient::new(&app.address);
    assert_eq!(browser.login(&alice).await.status, 303);
    let page = browser.get("/teams/alice").await;
    assert!(page.body.contains("id=\"tasks\""), "{}", page.body);
    assert!(
        page.body.contains("href=\"/c/t/tasks/t1/target\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/c/t/tasks/t2/target"), "{}", page.body);
    let clip = app
        .client
        .get(app.url("/c/t/tasks/t1/target"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(clip.status().as_u16(), 401, "not signed in");
    let page = browser.get("/c/t/tasks/t2/target").await;
    assert_eq!(page.status, 404);
    let session = browser
        .cookie("arena_session")
        .unwrap_or_default()
        .to_owned();
    let clip = app
        .client
        .get(app.url("/c/t/tasks/t1/target"))
        .header(reqwest::header::COOKIE, format!("arena_session={session}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(clip.status().as_u16(), 200);
    assert_eq!(
        clip.bytes().await.unwrap_or_default().as_ref(),
        std::fs::read(video("real_1.mp4"))
            .unwrap_or_default()
            .as_slice()
    );
    // Others see no tasks on alice's page.
    let mut anon = WebClient::new(&app.address);
    let page = anon.get("/teams/alice").await;
    assert!(!page.body.contains("id=\"tasks\""), "{}", page.body);
}
