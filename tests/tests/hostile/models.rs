//! Detector models: external data pointing at files or memory, oversize and lying tensors,
//! foreign op domains, and models that only misbehave when run. An upload over the size cap is
//! refused by the request itself (413, nothing stored); the others by the model checks, which run
//! in `arena-sandbox` children in the detector's first job after the upload: the submission ends
//! `failed` with the checks' code and the model object is deleted.

use crate::common::{answer, app_with_worker, case, refused, refused_by_checks};
use arena::Settings;

async fn detector(file: &str, tweak: fn(&mut Settings), status: u16, code: &str) {
    let app = app_with_worker(tweak).await;
    app.competition("c").await;
    let team = app.team("mallory", "detector").await;
    let read = |p: &str| std::fs::read(case(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let resp = app
        .post_detector_bytes(
            "c",
            Some(&team),
            read(&format!("models/{file}")),
            read("models/manifest.toml"),
        )
        .await;
    if status == 202 {
        refused_by_checks(&app, resp, code).await;
    } else {
        refused(&app, &answer(resp).await, status, code).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_data_with_dotdot() {
    detector(
        "external_data_dotdot.onnx",
        |_| {},
        202,
        "model_external_data",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_data_at_the_secrets_absolute_path() {
    detector(
        "external_data_absolute.onnx",
        |_| {},
        202,
        "model_external_data",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_data_at_an_ort_memory_address() {
    detector("ort_mem_addr.onnx", |_| {}, 202, "model_external_data").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_initializer_over_the_model_cap() {
    let tweak = |s: &mut Settings| s.limits.max_model_bytes = 1 << 20;
    detector("huge_initializer.onnx", tweak, 413, "payload_too_large").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_initializer_declared_but_not_carried() {
    detector("huge_initializer_lying.onnx", |_| {}, 202, "invalid_model").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_op_domain() {
    detector("unknown_op_domain.onnx", |_| {}, 202, "model_op_domain").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_that_never_ends() {
    let tweak = |s: &mut Settings| s.evaluation.probe_time_limit_ms = 1500;
    detector("endless_loop.onnx", tweak, 202, "model_too_slow").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_and_inf_outputs() {
    detector("nan_output.onnx", |_| {}, 202, "model_output_not_finite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_output_shape() {
    detector("wrong_output_shape.onnx", |_| {}, 202, "model_output_shape").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nondeterministic_op() {
    detector(
        "nondeterministic.onnx",
        |_| {},
        202,
        "model_nondeterministic",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_protobuf() {
    detector("garbage.onnx", |_| {}, 202, "invalid_model").await;
}
