//! Organizers release a finished competition as a research dataset (`GET …/release`,
//! `arena competition release S --out DIR`): a zip whose manifest matches the database — labels,
//! tasks, creations, detectors and every stored score — and whose files hold exactly the bytes the
//! manifest's sha256 names; refused while a phase is open or to come.

use crate::withdraw::sha256_of;
use arena_datasets::video;
use arena_tests::{AppOptions, Backend, TestApp, arena_bin, backends, spawn_app_with};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
const HOUR: i64 = 3_600_000;

async fn accepted(resp: reqwest::Response) -> i64 {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}");
    body["id"].as_i64().unwrap_or_default()
}

/// Rounds competition `r`: task t1 (target real_1, donor id1), hidden reals real_2 and real_3,
/// alice's fake_1 in C1, dana's redblue detector in D1. Returns (creation, detector) ids.
async fn game(app: &TestApp) -> (i64, i64) {
    let (status, _) = app
        .admin_post(
            "/api/v1/competitions",
            json!({ "slug": "r", "title": "Release", "mode": "rounds" }),
        )
        .await;
    assert_eq!(status, 201);
    let now = arena::time::now_ms();
    for (kind, opens) in [("creation", now - 1000), ("detection", now + HOUR)] {
        let phase = json!({ "kind": kind, "round": 1, "opens_at_ms": opens,
            "closes_at_ms": opens + HOUR });
        let (status, body) = app.admin_post("/api/v1/competitions/r/phases", phase).await;
        assert_eq!(status, 201, "{body}");
    }
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
    let mut ids = Vec::new();
    for name in ["real_2.mp4", "real_3.mp4"] {
        ids.push(accepted(app.post_real("r", &video(name)).await).await);
    }
    let alice = app.team("alice", "creator").await;
    let dana = app.team("dana", "detector").await;
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
    let creation = accepted(resp).await;
    ids.push(creation);
    for id in &ids {
        assert_eq!(app.wait_submission(*id, WAIT).await["status"], "finished");
    }
    let (status, body) = app
        .admin_post("/api/v1/competitions/r/phases/advance", json!({}))
        .await;
    assert_eq!(
        (status, body["opened"].as_str()),
        (200, Some("D1")),
        "{body}"
    );
    let detector = accepted(app.post_detector("r", Some(&dana), "redblue").await).await;
    assert_eq!(
        app.wait_submission(detector, WAIT).await["status"],
        "finished"
    );
    app.wait_idle(WAIT).await;
    (creation, detector)
}

fn release_cli(app: &TestApp, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(arena_bin())
        .args(["competition", "release", "r", "--out"])
        .arg(out)
        .args(extra)
        .args(["--server", &app.address, "--token", &app.admin_token])
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Every file of the zip: name → bytes.
fn unzip(path: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut zip = zip::ZipArchive::new(file).unwrap_or_else(|e| panic!("{e}"));
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap_or_else(|e| panic!("{e}"));
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        out.insert(entry.name().to_owned(), bytes);
    }
    out
}

async fn release_http(app: &TestApp, query: &str, token: &str) -> (u16, Vec<u8>) {
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/competitions/r/release{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap_or_default().to_vec())
}

/// The stored scores of `detector_sub`'s detector: video sha256 → score.
async fn db_scores(app: &TestApp, detector_sub: i64) -> BTreeMap<String, f64> {
    use arena::entities::{detectors, scores, videos};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = app.ctx.db();
    let det = detectors::Entity::find()
        .filter(detectors::Column::SubmissionId.eq(detector_sub))
        .one(db)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no detector row"));
    let mut out = BTreeMap::new();
    for s in scores::Entity::find()
        .filter(scores::Column::DetectorId.eq(det.id))
        .all(db)
        .await
        .unwrap_or_default()
    {
        let v = videos::Entity::find_by_id(s.video_id)
            .one(db)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no video {}", s.video_id));
        out.insert(v.sha256, s.score);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_competition_is_released_with_a_manifest_that_matches_the_database() {
    for backend in backends() {
        release(backend).await;
    }
}

async fn release(backend: Backend) {
    let app = spawn_app_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let (creation, detector) = game(&app).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("release");

    // D1 is still open: refused, over HTTP and from the CLI, and nothing is written.
    let (status, body) = release_http(&app, "", &app.admin_token).await;
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("competition_not_finished"))
    );
    let refused = release_cli(&app, &out, &[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("competition_not_finished"), "{stderr}");
    assert!(!out.exists());
    let alice = app.team("eve", "creator").await;
    let (status, _) = release_http(&app, "?force=true", &alice).await;
    assert_eq!(status, 403, "organizers only");

    let (status, body) = app
        .admin_post("/api/v1/competitions/r/phases/advance", json!({}))
        .await;
    assert_eq!(
        (status, body["closed"].as_str()),
        (200, Some("D1")),
        "{body}"
    );
    let (status, body) = release_http(&app, "?reals=video-999999", &app.admin_token).await;
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unknown_real")),
        "{body}"
    );

    // Publish real_2 only (named by its sha256), teams named.
    let (real_1, real_2, real_3, fake_1) = (
        sha256_of(&video("real_1.mp4")),
        sha256_of(&video("real_2.mp4")),
        sha256_of(&video("real_3.mp4")),
        sha256_of(&video("fake_1.mp4")),
    );
    let done = release_cli(&app, &out, &["--reals", &real_2]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let files = unzip(&out.join("r-release.zip"));
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap_or_default();
    assert_eq!(manifest["format"], "arena-release/1");
    assert_eq!(manifest["competition"]["slug"], "r");
    assert_eq!(manifest["competition"]["mode"], "rounds");
    assert_eq!(manifest["anonymised"], false);
    assert_eq!(
        manifest["tasks"].as_array().map(Vec::len),
        Some(1),
        "{manifest}"
    );
    let task = &manifest["tasks"][0];
    assert_eq!(
        (
            &task["task_id"],
            &task["donor_identity"],
            &task["target_sha256"]
        ),
        (&json!("t1"), &json!("id1"), &json!(real_1)),
    );
    assert_eq!(
        task["target_file"],
        Value::Null,
        "the target was not chosen"
    );
    let creation_name = format!("alice#{creation}");
    let detector_name = format!("dana#{detector}");
    assert_eq!(manifest["creations"][0]["name"], creation_name.as_str());
    assert_eq!(manifest["detectors"][0]["name"], detector_name.as_str());
    assert_eq!(manifest["detectors"][0]["round"], 1);

    // The videos: the fake and the chosen real, with their labels, no other real.
    let videos = manifest["videos"].as_array().cloned().unwrap_or_default();
    let by_sha: BTreeMap<String, Value> = videos
        .iter()
        .map(|v| (v["sha256"].as_str().unwrap_or("").to_owned(), v.clone()))
        .collect();
    assert_eq!(
        by_sha.keys().cloned().collect::<Vec<_>>(),
        {
            let mut k = vec![fake_1.clone(), real_2.clone()];
            k.sort();
            k
        },
        "{manifest}"
    );
    assert_eq!(by_sha[&fake_1]["label"], 1);
    assert_eq!(by_sha[&fake_1]["creation"], creation_name.as_str());
    assert_eq!(by_sha[&fake_1]["team"], "alice");
    assert_eq!(by_sha[&fake_1]["task"], "t1");
    assert_eq!(by_sha[&fake_1]["round"], 1);
    assert_eq!(by_sha[&real_2]["label"], 0);
    assert_eq!(by_sha[&real_2]["role"], "real");
    assert!(
        !files["manifest.json"]
            .windows(64)
            .any(|w| w == real_3.as_bytes())
    );

    // Every score the database holds for a published video, and only those.
    let stored = db_scores(&app, detector).await;
    for (sha, v) in &by_sha {
        let want = stored.get(sha).copied();
        assert!(want.is_some(), "{sha} was scored");
        assert_eq!(v["scores"][&detector_name].as_f64(), want, "{v}");
        assert_eq!(v["scores"].as_object().map(|o| o.len()), Some(1), "{v}");
    }

    // The zip holds the manifest and one file per published video, with the bytes it names.
    assert_eq!(files.len(), 1 + videos.len(), "{:?}", files.keys());
    for v in &videos {
        let path = v["file"].as_str().unwrap_or("");
        let bytes = files
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in the zip"));
        assert_eq!(format!("{:x}", Sha256::digest(bytes)), v["sha256"]);
    }
    assert_eq!(
        files[by_sha[&fake_1]["file"].as_str().unwrap_or("")],
        std::fs::read(video("fake_1.mp4")).unwrap_or_default()
    );

    // Anonymised, every real: no team name left; the target clip ships with its task.
    let (status, bytes) = release_http(&app, "?reals=all&anonymise=true", &app.admin_token).await;
    assert_eq!(status, 200);
    let zip_path = dir.path().join("anon.zip");
    std::fs::write(&zip_path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let files = unzip(&zip_path);
    let text = String::from_utf8_lossy(&files["manifest.json"]).into_owned();
    assert!(!text.contains("alice") && !text.contains("dana"), "{text}");
    let manifest: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(manifest["anonymised"], true);
    assert_eq!(manifest["creations"][0]["name"], "creation-1");
    assert_eq!(manifest["creations"][0]["submission"], Value::Null);
    assert_eq!(manifest["detectors"][0]["name"], "detector-1");
    let target_file = manifest["tasks"][0]["target_file"].as_str().unwrap_or("");
    assert_eq!(
        files.get(target_file).cloned().unwrap_or_default(),
        std::fs::read(video("real_1.mp4")).unwrap_or_default()
    );
    let shas: Vec<&str> = (manifest["videos"].as_array().into_iter().flatten())
        .filter_map(|v| v["sha256"].as_str())
        .collect();
    for sha in [&real_1, &real_2, &real_3, &fake_1] {
        assert!(shas.contains(&sha.as_str()), "{sha} missing: {text}");
    }
}
