//! Bad uploads get a 4xx with a stable code and leave nothing stored. A detector's model is
//! checked after its upload (202), in its first job: a model the checks refuse ends `failed`
//! with the same stable code on its submission, and its object is deleted.

use arena_datasets::video;
use arena_tests::{AppOptions, TestApp, spawn_app, spawn_app_with};
use serde_json::Value;

async fn expect(resp: reqwest::Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status);
    let body: Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn nothing_stored(app: &TestApp) {
    assert_eq!(app.submission_count().await, 0);
    no_object_left(app);
}

fn no_object_left(app: &TestApp) {
    assert!(
        app.stored_objects().is_empty(),
        "{:?}",
        app.stored_objects()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_file_is_not_a_video() {
    let app = spawn_app().await;
    app.competition("c").await;
    let creator = app.team("carol", "creator").await;
    let resp = app
        .post_creation("c", Some(&creator), &video("not_a_video.mp4"))
        .await;
    expect(resp, 415, "unsupported_media").await;
    nothing_stored(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_disguised_as_mp4_is_refused() {
    let app = spawn_app().await;
    app.competition("c").await;
    let creator = app.team("carol", "creator").await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secret = dir.path().join("secret.mp4");
    std::fs::copy(video("real_1.mp4"), &secret).unwrap_or_else(|e| panic!("{e}"));
    let playlist = dir.path().join("innocent.mp4");
    let text = format!(
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nfile://{}\n#EXT-X-ENDLIST\n",
        secret.display()
    );
    std::fs::write(&playlist, text).unwrap_or_else(|e| panic!("{e}"));
    let resp = app.post_creation("c", Some(&creator), &playlist).await;
    expect(resp, 415, "unsupported_media").await;
    nothing_stored(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_models_and_manifests_are_refused() {
    let app = spawn_app().await;
    app.competition("c").await;
    let team = app.team("dave", "detector").await;
    let (model, manifest) = arena_datasets::detector("redblue");
    let model = std::fs::read(model).unwrap_or_default();
    let manifest = std::fs::read(manifest).unwrap_or_default();

    let resp = app
        .post_detector_bytes(
            "c",
            Some(&team),
            b"\x08\x96\x01garbage\xff\xff".to_vec(),
            manifest.clone(),
        )
        .await;
    app.refused_by_checks(resp, "invalid_model").await;
    no_object_left(&app);
    let refused = app.submission_count().await;

    let mut bad_manifest = manifest.clone();
    bad_manifest.extend_from_slice(b"\nsurprise = 1\n");
    let resp = app
        .post_detector_bytes("c", Some(&team), model.clone(), bad_manifest)
        .await;
    expect(resp, 422, "invalid_manifest").await;

    // The crop keys: `margin` within 1.0..=2.5 and a number, `align` a boolean.
    for bad in [
        "margin = 2.6\n",
        "margin = 0.5\n",
        "margin = \"wide\"\n",
        "align = \"yes\"\n",
        "align = 1\n",
    ] {
        let mut m = manifest.clone();
        m.extend_from_slice(format!("\n{bad}").as_bytes());
        let resp = app
            .post_detector_bytes("c", Some(&team), model.clone(), m)
            .await;
        assert_eq!(resp.status().as_u16(), 422, "{bad}");
        let body: Value = resp.json().await.unwrap_or_default();
        assert_eq!(body["code"], "invalid_manifest", "{bad}: {body}");
        let key = bad.split(' ').next().unwrap_or_default();
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(key)),
            "{bad}: {body}"
        );
    }

    let wrong_input =
        String::from_utf8_lossy(&manifest).replace("input = \"input\"", "input = \"pixels\"");
    let resp = app
        .post_detector_bytes("c", Some(&team), model.clone(), wrong_input.into_bytes())
        .await;
    app.refused_by_checks(resp, "model_manifest_mismatch").await;

    let wrong_size =
        String::from_utf8_lossy(&manifest).replace("size = [32, 32]", "size = [64, 64]");
    let resp = app
        .post_detector_bytes("c", Some(&team), model.clone(), wrong_size.into_bytes())
        .await;
    app.refused_by_checks(resp, "model_manifest_mismatch").await;

    let form = reqwest::multipart::Form::new().part(
        "model",
        reqwest::multipart::Part::bytes(model).file_name("m.onnx"),
    );
    let resp = app
        .client
        .post(app.url("/api/v1/competitions/c/detectors"))
        .bearer_auth(&team)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    expect(resp, 400, "missing_field").await;
    // The refused models' submissions (failed) are the only rows: the bad manifests and the
    // missing field made none, and no model object is left.
    assert_eq!(app.submission_count().await, refused + 2);
    no_object_left(&app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_cap_are_413() {
    let app = spawn_app_with(AppOptions {
        tweak: |s| s.limits.max_video_bytes = 10_000,
        ..AppOptions::default()
    })
    .await;
    app.competition("c").await;
    let creator = app.team("carol", "creator").await;
    let big = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    let cap = app.ctx.settings().limits.max_video_bytes;
    std::fs::write(big.path(), vec![0u8; usize::try_from(cap).unwrap_or(0) + 1])
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = app.post_creation("c", Some(&creator), big.path()).await;
    expect(resp, 413, "payload_too_large").await;
    nothing_stored(&app).await;
}

/// The upload checks run in the sandbox, after the upload: a model whose scores change between
/// runs, and a model that never finishes, end `failed` with their own codes, and their objects go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstable_and_runaway_models_are_refused_at_upload() {
    use arena_worker::test_models::{means_model, node, runaway_loop_model, tensor_f32};
    let app = spawn_app_with(AppOptions {
        tweak: |s| s.evaluation.probe_time_limit_ms = 1500,
        ..AppOptions::default()
    })
    .await;
    app.competition("c").await;
    let team = app.team("dave", "detector").await;
    let (_, manifest) = arena_datasets::detector("redblue");
    let manifest = std::fs::read(manifest).unwrap_or_default();

    let random = means_model(
        "logits",
        &[None, Some(1)],
        vec![
            node("RandomUniformLike", &["m"], &["r"]),
            node("MatMul", &["r", "W"], &["logits"]),
        ],
        vec![tensor_f32("W", &[3, 1], &[4.0, -4.0, 4.0])],
    );
    let resp = app
        .post_detector_bytes("c", Some(&team), random, manifest.clone())
        .await;
    app.refused_by_checks(resp, "model_nondeterministic").await;

    let resp = app
        .post_detector_bytes("c", Some(&team), runaway_loop_model(), manifest.clone())
        .await;
    app.refused_by_checks(resp, "model_too_slow").await;
    no_object_left(&app);

    let (status, _) = app.get_json("/healthz", None).await;
    assert_eq!(status, 200, "the server lives on");
}
