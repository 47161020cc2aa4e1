//! The DFGC-2021 ID term measured by the worker: with an `[identity]` face-embedding model
//! configured (the fixture `identity.onnx`), each fake's ID is the mean cosine similarity between
//! its face crops' embeddings and those of its task's donor reference clip, and the creation board
//! ranks by S_C = SSIM + ID + 2·A through the real server.

use arena_datasets::video;
use arena_tests::{AppOptions, Backend, TestApp, backends, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

async fn accepted(resp: reqwest::Response) -> i64 {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    body["id"].as_i64().unwrap_or_default()
}

fn with_identity_model(s: &mut arena::Settings) {
    let models =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures/models");
    s.identity.model = Some(models.join("identity.onnx"));
    s.identity.manifest = Some(models.join("identity.toml"));
}

async fn creation(app: &TestApp, token: &str, file: &str) -> i64 {
    let form = reqwest::multipart::Form::new()
        .part("file", arena_tests::part(&video(file)))
        .text("task", "t1");
    let resp = app
        .client
        .post(app.url("/api/v1/competitions/idc/creations"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    accepted(resp).await
}

fn row<'a>(board: &'a Value, team: &str) -> &'a Value {
    board["creation"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["team"] == team))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_model_gives_each_creation_its_id_term() {
    for backend in backends() {
        id_term(backend).await;
    }
}

async fn id_term(backend: Backend) {
    let app = spawn_app_with(AppOptions {
        backend,
        tweak: with_identity_model,
        ..AppOptions::default()
    })
    .await;
    let (status, _) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "idc", "title": "Identity", "preset": "dfgc2021" }),
        )
        .await;
    assert_eq!(status, 201);
    // Task t1: target real_1; the donor's reference clip is fake_1's bytes. A fake that is
    // exactly that clip has the reference's own crops: each of its crops meets itself among the
    // references (cosine 1) and the others differ only by the moving box, so its ID is near 1,
    // above any other clip's.
    let form = reqwest::multipart::Form::new()
        .part("target", arena_tests::part(&video("real_1.mp4")))
        .part("donor_reference", arena_tests::part(&video("fake_1.mp4")))
        .text("task_id", "t1")
        .text("round", "1")
        .text("donor", "id9");
    let resp = app
        .client
        .post(app.url("/api/v1/competitions/idc/tasks"))
        .bearer_auth(&app.admin_token)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 201);
    let mut ids = Vec::new();
    for name in ["real_2.mp4", "real_3.mp4"] {
        ids.push(accepted(app.post_real("idc", &video(name)).await).await);
    }
    let alice = app.team("alice", "creator").await;
    let bob = app.team("bob", "creator").await;
    let dana = app.team("dana", "detector").await;
    ids.push(creation(&app, &alice, "fake_1.mp4").await);
    ids.push(creation(&app, &bob, "fake_2.mp4").await);
    ids.push(accepted(app.post_detector("idc", Some(&dana), "redblue").await).await);
    for id in ids {
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    }
    app.wait_idle(WAIT).await;
    let (_, board) = app
        .get_json("/api/v1/competitions/idc/leaderboard", None)
        .await;
    assert_eq!(board["preset_fallback"], Value::Null, "{board}");
    let (a, b) = (row(&board, "alice"), row(&board, "bob"));
    let id_a = a["id"].as_f64().unwrap_or(f64::NAN);
    let id_b = b["id"].as_f64().unwrap_or(f64::NAN);
    assert!(
        id_a > 0.99 && id_a <= 1.0 + 1e-9,
        "the donor's own clip: {a}"
    );
    assert!(
        (-1.0..id_a).contains(&id_b),
        "another face is less similar: {a} {b}"
    );
    for r in [a, b] {
        let (ssim, id, anti) = (
            r["ssim"].as_f64().unwrap_or(f64::NAN),
            r["id"].as_f64().unwrap_or(f64::NAN),
            r["anti_detection"].as_f64().unwrap_or(f64::NAN),
        );
        let score = r["score"].as_f64().unwrap_or(f64::NAN);
        assert!((score - (ssim + id + 2.0 * anti)).abs() < 1e-9, "{r}");
    }
    // The measured ID stands: an imported `id` rating no longer replaces it.
    let csv = format!(
        "creation,axis,value\n{},id,0.25\n",
        a["submission"].as_i64().unwrap_or_default()
    );
    let resp = app
        .client
        .post(app.url("/api/v1/competitions/idc/ratings"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(resp.status().is_success(), "{}", resp.status());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, board) = app
            .get_json("/api/v1/competitions/idc/leaderboard", None)
            .await;
        let id = row(&board, "alice")["id"].as_f64().unwrap_or(f64::NAN);
        assert!((id - id_a).abs() < 1e-12, "{board}");
        if std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The release publishes the donor's reference clip with its task when reals are chosen.
    let resp = app
        .client
        .get(app.url("/api/v1/competitions/idc/release?reals=all&force=true"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 200);
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec()))
        .unwrap_or_else(|e| panic!("{e}"));
    let manifest: Value = {
        use std::io::Read;
        let mut text = String::new();
        zip.by_name("manifest.json")
            .unwrap_or_else(|e| panic!("{e}"))
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&text).unwrap_or_default()
    };
    let task = &manifest["tasks"][0];
    assert_eq!(
        task["donor_reference_sha256"].as_str(),
        Some(crate::withdraw::sha256_of(&video("fake_1.mp4")).as_str()),
        "{manifest}"
    );
    let file = task["donor_reference_file"].as_str().unwrap_or_default();
    assert!(zip.by_name(file).is_ok(), "{file} is in the zip");
}
