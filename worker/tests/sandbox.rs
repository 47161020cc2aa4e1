//! The evaluation sandbox end to end: the real `arena-sandbox` binary, FFmpeg and onnxruntime.
//! A child gives the in-process results; a child over its memory, CPU-time or wall-clock limit is
//! stopped with that reason; this process (the worker's stand-in) carries on after each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arena_worker::CheckOptions;
use arena_worker::crops::Crops;
use arena_worker::detector::{Detector, OrtRuntime, SessionOptions};
use arena_worker::faces::{self, FaceDetector};
use arena_worker::manifest::Manifest;
use arena_worker::media;
use arena_worker::pipeline::{self, JobError, PreparePlan, PreparedVideo};
use arena_worker::sandbox::protocol::{ScoreInput, ScoredVideo};
use arena_worker::sandbox::{self, SandboxConfig};
use arena_worker::test_models;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures")
}

fn video(name: &str) -> PathBuf {
    fixtures().join("videos").join(name)
}

fn redblue() -> (Vec<u8>, Manifest) {
    let dir = fixtures().join("models");
    let text = std::fs::read_to_string(dir.join("redblue.toml")).unwrap();
    (
        std::fs::read(dir.join("redblue.onnx")).unwrap(),
        Manifest::parse(&text).unwrap(),
    )
}

fn config() -> SandboxConfig {
    SandboxConfig {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_arena-sandbox")),
        memory_mb: 4096,
        cpu_seconds: 120,
        timeout: Duration::from_secs(120),
        ort_lib: OrtRuntime::default_lib_path(),
        face_model: faces::model_path(None),
        session: SessionOptions::default(),
        confine: true,
        fork_server: true,
    }
}

const PLAN: PreparePlan = PreparePlan {
    frames: 6,
    decode_max_side: 1920,
    max_side: 64,
};

/// Writes `bytes` to `dir/name`; its path.
fn write_in(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn runtime() -> OrtRuntime {
    OrtRuntime::init(&OrtRuntime::default_lib_path()).unwrap()
}

/// Serializes this binary's decodes (in-process and in children) so a test can count them.
static DECODING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn prepare_in_process(name: &str) -> PreparedVideo {
    let _decoding = DECODING.lock().await;
    let mut faces = FaceDetector::load(
        &runtime(),
        &faces::model_path(None),
        &SessionOptions::default(),
    )
    .unwrap();
    pipeline::prepare_frames(&video(name), &PLAN, &mut faces).unwrap()
}

/// Scores `images` with `model` in a child under `config`.
async fn score_in_child(
    config: &SandboxConfig,
    model: &[u8],
    manifest: &Manifest,
    images: &Crops,
) -> Result<Vec<ScoredVideo>, JobError> {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.onnx");
    std::fs::write(&model_path, model).unwrap();
    let images_path = dir.path().join("images.bin");
    std::fs::write(&images_path, images.encode()).unwrap();
    let inputs = vec![ScoreInput {
        video_id: 7,
        images: images_path,
    }];
    sandbox::score(config, &model_path, manifest, inputs, dir.path()).await
}

#[tokio::test]
async fn a_child_prepares_and_scores_exactly_like_the_worker() {
    let started = Instant::now();
    let local = prepare_in_process("face_moving.mp4").await;
    let in_process = started.elapsed();

    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let decoding = DECODING.lock().await;
    let decodes = media::decode_count();
    let stored = sandbox::prepare(&config(), &video("face_moving.mp4"), &PLAN, dir.path())
        .await
        .unwrap();
    // The child's files are stored as written: exactly what this process would encode.
    let (faces, frames) = stored.bytes().unwrap();
    assert_eq!(
        faces,
        bytes::Bytes::from(local.faces.encode()),
        "the child's face cache is not what the worker encodes"
    );
    assert_eq!(frames, bytes::Bytes::from(local.frames.encode()));
    assert_eq!(stored.summary.face_frames, 6);
    assert_eq!(stored.summary.indices, local.faces.indices);
    let child = stored.decode().unwrap();
    // The child's decode counts as this process's: "decoded once" stays observable.
    assert_eq!(media::decode_count(), decodes + 1);
    drop(decoding);
    let isolated = started.elapsed();
    assert_eq!(
        child, local,
        "the child's crops differ from the in-process ones"
    );
    assert_eq!(child.faces.face_frames(), 6);

    let (model, manifest) = redblue();
    let mut detector = Detector::load(
        &runtime(),
        &model,
        manifest.clone(),
        &SessionOptions::default(),
    )
    .unwrap();
    let expected = pipeline::score_images(&mut detector, &local.frames.view()).unwrap();
    let scored = score_in_child(&config(), &model, &manifest, &local.frames)
        .await
        .unwrap();
    assert_eq!(scored.len(), 1);
    assert_eq!(scored[0].video_id, 7);
    // Bit for bit: the same code on the same bytes, and f32 survives the JSON round trip.
    assert_eq!(scored[0].score.score, expected.score);
    assert_eq!(scored[0].score.per_frame, expected.per_frame);
    eprintln!("prepare: in-process {in_process:?}, in a child {isolated:?}");
}

#[tokio::test]
async fn the_child_reports_how_it_is_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let (model, manifest) = redblue();
    let model_path = dir.path().join("model.onnx");
    std::fs::write(&model_path, &model).unwrap();
    let images = dir.path().join("images.bin");
    std::fs::write(
        &images,
        prepare_in_process("real_1.mp4").await.frames.encode(),
    )
    .unwrap();
    let task = sandbox::protocol::Task::Score(sandbox::protocol::ScoreTask {
        model: model_path,
        key: None,
        manifest,
        videos: vec![ScoreInput {
            video_id: 1,
            images,
        }],
    });
    let (isolation, timings, _) = sandbox::run(&config(), task, dir.path()).await.unwrap();
    eprintln!("isolation: {isolation:?}, timings: {timings:?}");
    assert!(isolation.no_new_privs);
    // Where the kernel refuses a network namespace the child says why.
    assert!(
        isolation.network || isolation.note.is_some(),
        "{isolation:?}"
    );
    // Landlock and seccomp are best effort too, but the machines this runs on offer both.
    assert!(isolation.landlock && isolation.seccomp, "{isolation:?}");
}

#[tokio::test]
async fn upload_errors_come_back_as_they_would_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let e = sandbox::prepare(&config(), &video("not_a_video.mp4"), &PLAN, dir.path())
        .await
        .unwrap_err();
    let mut faces = FaceDetector::load(
        &runtime(),
        &faces::model_path(None),
        &SessionOptions::default(),
    )
    .unwrap();
    let local = pipeline::prepare_frames(&video("not_a_video.mp4"), &PLAN, &mut faces).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str(), e.permanent),
        (local.code, local.message.as_str(), local.permanent)
    );
    assert!(e.permanent, "a broken upload is the uploader's fault: {e}");
}

#[tokio::test]
async fn a_child_over_its_memory_cap_fails_with_a_memory_reason() {
    // 16 MiB cannot even hold onnxruntime: whatever allocation fails first, the reason is memory.
    let tiny = SandboxConfig {
        memory_mb: 16,
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let e = sandbox::prepare(&tiny, &video("real_1.mp4"), &PLAN, dir.path())
        .await
        .unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.code, sandbox::MEMORY_LIMIT, "{e}");
    assert!(
        e.message.contains("exceeded its memory limit of 16 MiB"),
        "{e}"
    );
    assert!(!e.permanent && sandbox::blames_upload(e.code));
    // This process is fine and the next child works.
    let _decoding = DECODING.lock().await;
    let ok = sandbox::prepare(&config(), &video("real_1.mp4"), &PLAN, dir.path()).await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn a_model_that_allocates_gigabytes_is_stopped_by_the_memory_cap() {
    // 2^28 copies of the [N, 3] means: 3 GiB per frame, far over the cap that a plain model of
    // the same shape runs in.
    let capped = SandboxConfig {
        memory_mb: 1536,
        ..config()
    };
    let frames = prepare_in_process("real_2.mp4").await.frames;
    let (plain, _) = redblue();
    let manifest = Manifest::parse(test_models::FRAME_MANIFEST).unwrap();
    let fine = score_in_child(&capped, &plain, &manifest, &frames).await;
    assert!(fine.is_ok(), "{fine:?}");
    let e = score_in_child(
        &capped,
        &test_models::memory_hog_model(1 << 28),
        &manifest,
        &frames,
    )
    .await
    .unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.code, sandbox::MEMORY_LIMIT, "{e}");
    assert!(e.message.contains("memory limit of 1536 MiB"), "{e}");
}

#[tokio::test]
async fn a_runaway_model_is_killed_at_the_wall_clock_limit() {
    let hurried = SandboxConfig {
        timeout: Duration::from_secs(2),
        ..config()
    };
    let frames = prepare_in_process("real_3.mp4").await.frames;
    let manifest = Manifest::parse(test_models::FRAME_MANIFEST).unwrap();
    let started = Instant::now();
    let e = score_in_child(
        &hurried,
        &test_models::runaway_loop_model(),
        &manifest,
        &frames,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, sandbox::TIMEOUT, "{e}");
    assert_eq!(
        e.message,
        "evaluation child timed out after 2 s and was killed"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // The worker goes on: the next job's child scores normally.
    let (model, redblue_manifest) = redblue();
    let ok = score_in_child(&hurried, &model, &redblue_manifest, &frames).await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn a_runaway_model_is_killed_at_the_cpu_time_limit() {
    let frugal = SandboxConfig {
        cpu_seconds: 1,
        ..config()
    };
    let frames = prepare_in_process("fake_1.mp4").await.frames;
    let manifest = Manifest::parse(test_models::FRAME_MANIFEST).unwrap();
    let e = score_in_child(
        &frugal,
        &test_models::runaway_loop_model(),
        &manifest,
        &frames,
    )
    .await
    .unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.code, sandbox::CPU_LIMIT, "{e}");
    assert!(e.message.contains("CPU-time limit of 1 s"), "{e}");
    assert!(e.message.contains("signal 24 (SIGXCPU)"), "{e}");
}

#[tokio::test]
async fn a_missing_sandbox_binary_is_an_infrastructure_error() {
    let broken = SandboxConfig {
        bin: PathBuf::from("/nonexistent/arena-sandbox"),
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let e = sandbox::prepare(&broken, &video("real_1.mp4"), &PLAN, dir.path())
        .await
        .unwrap_err();
    assert_eq!(e.code, sandbox::UNAVAILABLE, "{e}");
    assert!(!e.permanent && !sandbox::blames_upload(e.code));
    let settings = {
        let mut s = arena::Settings::default();
        s.evaluation.sandbox_bin = Some(PathBuf::from("/nonexistent/arena-sandbox"));
        s
    };
    let e = SandboxConfig::from_settings(&settings).unwrap_err();
    assert!(e.message.contains("does not exist"), "{e}");
}

#[tokio::test]
async fn upload_checks_run_in_a_child_like_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| write_in(dir.path(), name, bytes);
    let (model, manifest) = redblue();
    let limit = Duration::from_secs(20);
    let child = sandbox::check_detector(
        &config(),
        &write("redblue.onnx", &model),
        &manifest,
        limit,
        dir.path(),
    )
    .await
    .unwrap();
    let options = CheckOptions {
        session: SessionOptions::default(),
        time_limit: limit,
    };
    let local = arena_worker::check_detector(&runtime(), &model, &manifest, &options).unwrap();
    assert_eq!(child.scores, local.scores);
    assert_eq!(child.batch_sizes, local.batch_sizes);

    // A runaway model is stopped by the checks' own time limit, inside the child.
    let frame_manifest = Manifest::parse(test_models::FRAME_MANIFEST).unwrap();
    let runaway = write("runaway.onnx", &test_models::runaway_loop_model());
    let e = sandbox::check_detector(
        &config(),
        &runaway,
        &frame_manifest,
        Duration::from_millis(300),
        dir.path(),
    )
    .await
    .unwrap_err();
    assert_eq!((e.code, e.permanent), ("model_too_slow", true), "{e}");

    // A model that allocates gigabytes on the probe frames blows the child, not this process.
    let capped = SandboxConfig {
        memory_mb: 1536,
        ..config()
    };
    let hog = write("hog.onnx", &test_models::memory_hog_model(1 << 28));
    let e = sandbox::check_detector(&capped, &hog, &frame_manifest, limit, dir.path())
        .await
        .unwrap_err();
    assert_eq!(e.code, sandbox::MEMORY_LIMIT, "{e}");
}

/// A detector's upload check in `slot` (kept children: at most 2), as the activation job runs it.
async fn check_in_slot(
    slot: &mut Vec<sandbox::ScoreChild>,
    config: &SandboxConfig,
    key: &str,
    model: &std::path::Path,
    manifest: &Manifest,
    limit: Duration,
) -> Result<arena_worker::checks::CheckReport, JobError> {
    let cwd = std::env::temp_dir();
    sandbox::check_serving(slot, 2, config, key, model, manifest, limit, &cwd).await
}

#[tokio::test]
async fn a_detectors_check_runs_in_the_scoring_child_that_then_scores_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| write_in(dir.path(), name, bytes);
    let (model, manifest) = redblue();
    let path = write("redblue.onnx", &model);
    let limit = Duration::from_secs(20);
    let mut slot = Vec::new();
    let checked = check_in_slot(&mut slot, &config(), "1:a", &path, &manifest, limit)
        .await
        .unwrap();
    let alone = sandbox::check_detector(&config(), &path, &manifest, limit, dir.path())
        .await
        .unwrap();
    assert_eq!(checked.scores, alone.scores);
    assert_eq!(checked.batch_sizes, alone.batch_sizes);
    let checker = pids(&slot);
    assert_eq!(checker.len(), 1, "the child that passed the checks is kept");

    // The detector's first score job in the slot: the same process and the session that passed
    // (the model file is never staged for it), with a child of its own's scores.
    let frames = prepare_in_process("fake_1.mp4").await.frames;
    let per_job = score_in_child(&config(), &model, &manifest, &frames)
        .await
        .unwrap();
    let before = staged();
    let scored = score_serving(&mut slot, &config(), "1:a", &model, &manifest, &frames, 7)
        .await
        .unwrap();
    assert_eq!(pids(&slot), checker);
    assert_eq!(staged(), before);
    assert_eq!(slot[0].jobs(), 2);
    assert_eq!(scored[0].score.per_frame, per_job[0].score.per_frame);

    // Checked again (a retried activation): a fresh child replaces it, never two of one key.
    check_in_slot(&mut slot, &config(), "1:a", &path, &manifest, limit)
        .await
        .unwrap();
    let again = pids(&slot);
    assert_eq!(again.len(), 1);
    assert_ne!(again, checker);

    // Models the checks refuse, with the codes a child of their own gives: their children end,
    // the slot's other child serves on.
    let frame_manifest = Manifest::parse(test_models::FRAME_MANIFEST).unwrap();
    let runaway = write("runaway.onnx", &test_models::runaway_loop_model());
    let short = Duration::from_millis(300);
    let e = check_in_slot(
        &mut slot,
        &config(),
        "2:b",
        &runaway,
        &frame_manifest,
        short,
    )
    .await
    .unwrap_err();
    assert_eq!((e.code, e.permanent), ("model_too_slow", true), "{e}");
    let capped = SandboxConfig {
        memory_mb: 1536,
        ..config()
    };
    let hog = write("hog.onnx", &test_models::memory_hog_model(1 << 28));
    let e = check_in_slot(&mut slot, &capped, "3:c", &hog, &frame_manifest, limit)
        .await
        .unwrap_err();
    assert_eq!(e.code, sandbox::MEMORY_LIMIT, "{e}");
    assert_eq!(pids(&slot), again);
    let scored = score_serving(&mut slot, &config(), "1:a", &model, &manifest, &frames, 8)
        .await
        .unwrap();
    assert_eq!(pids(&slot), again);
    assert_eq!(scored[0].score.per_frame, per_job[0].score.per_frame);
}

thread_local! {
    /// How often [`score_serving`] had to stage the model file (on this test's thread).
    static STAGED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn staged() -> usize {
    STAGED.with(std::cell::Cell::get)
}

/// Scores `images` as video `video_id` in the slot's serving child for `key` (at most two kept).
/// The model file is written only when the sandbox asks for it (a child that holds the session
/// would fail to read it otherwise), counted in [`staged`].
async fn score_serving(
    slot: &mut Vec<sandbox::ScoreChild>,
    config: &SandboxConfig,
    key: &str,
    model: &[u8],
    manifest: &Manifest,
    images: &Crops,
    video_id: i64,
) -> Result<Vec<ScoredVideo>, JobError> {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.onnx");
    let images_path = dir.path().join("images.bin");
    std::fs::write(&images_path, images.encode()).unwrap();
    let inputs = vec![ScoreInput {
        video_id,
        images: images_path,
    }];
    let cwd = std::env::temp_dir();
    let stage = async || {
        std::fs::write(&model_path, model).unwrap();
        STAGED.with(|n| n.set(n.get() + 1));
        Ok(())
    };
    sandbox::score_serving(
        slot,
        2,
        config,
        key,
        &model_path,
        stage,
        manifest,
        inputs,
        &cwd,
    )
    .await
}

fn pids(slot: &[sandbox::ScoreChild]) -> Vec<u32> {
    slot.iter().filter_map(sandbox::ScoreChild::pid).collect()
}

#[tokio::test]
async fn a_slots_scoring_children_serve_their_detectors_job_after_job() {
    let frames = prepare_in_process("fake_1.mp4").await.frames;
    let (model, manifest) = redblue();
    let per_job = score_in_child(&config(), &model, &manifest, &frames)
        .await
        .unwrap();
    let mut slot = Vec::new();
    let first = score_serving(&mut slot, &config(), "1:a", &model, &manifest, &frames, 7)
        .await
        .unwrap();
    let a = pids(&slot);
    assert_eq!(a.len(), 1);
    assert_eq!(staged(), 1);
    // The same detector again: the same process answers, with the same scores, and the model
    // is not fetched again.
    let again = score_serving(&mut slot, &config(), "1:a", &model, &manifest, &frames, 8)
        .await
        .unwrap();
    assert_eq!(pids(&slot), a);
    assert_eq!(staged(), 1);
    assert_eq!(slot[0].jobs(), 2);
    assert_eq!(first[0].score.per_frame, per_job[0].score.per_frame);
    assert_eq!(again[0].video_id, 8);
    assert_eq!(again[0].score.per_frame, per_job[0].score.per_frame);
    // Another detector gets its own child (one upload's session never serves another's job);
    // detectors taking turns keep theirs.
    score_serving(&mut slot, &config(), "2:b", &model, &manifest, &frames, 9)
        .await
        .unwrap();
    let ab = pids(&slot);
    assert_eq!(ab.len(), 2);
    assert_eq!(ab[0], a[0]);
    score_serving(&mut slot, &config(), "1:a", &model, &manifest, &frames, 10)
        .await
        .unwrap();
    assert_eq!(pids(&slot), [ab[1], ab[0]], "most recently used last");
    assert_eq!(staged(), 2);
    // A third detector ends the least recently used child (at most two kept here).
    score_serving(&mut slot, &config(), "3:c", &model, &manifest, &frames, 11)
        .await
        .unwrap();
    let now = pids(&slot);
    assert_eq!(now.len(), 2);
    assert_eq!(now[0], ab[0]);
    assert!(!now.contains(&ab[1]));
    // A child that died between jobs is replaced, and the job is done.
    let dead = now[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(dead).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = score_serving(&mut slot, &config(), "1:a", &model, &manifest, &frames, 12)
        .await
        .unwrap();
    assert_eq!(after[0].score.per_frame, per_job[0].score.per_frame);
    assert!(!pids(&slot).contains(&dead));
    assert_eq!(staged(), 4, "a new child loads the model again");
    assert_eq!(slot.len(), 2);
}

/// The slot's decode children: one process decodes one team's videos one after the other, with
/// exactly the per-job child's (and the in-process) caches and one decode each; another team's
/// video gets a child of its own while the first team's is kept (at most `keep`, the least
/// recently used ends); a child that died is replaced. Nothing of a video is left in any
/// child's folder after its request.
#[tokio::test]
async fn a_slots_decode_children_serve_one_team_each_and_the_oldest_ends() {
    let local = [
        prepare_in_process("face_moving.mp4").await,
        prepare_in_process("fake_1.mp4").await,
    ];
    let scratch = tempfile::tempdir().unwrap();
    let mut kept: Vec<sandbox::ServingChild> = Vec::new();
    let pids = |kept: &Vec<sandbox::ServingChild>| -> Vec<u32> {
        kept.iter().filter_map(sandbox::ServingChild::pid).collect()
    };
    let _decoding = DECODING.lock().await;
    let decode = async |kept: &mut Vec<sandbox::ServingChild>, key: &str, i: usize| {
        let name = ["face_moving.mp4", "fake_1.mp4"][i];
        let before = media::decode_count();
        let stored =
            sandbox::prepare_serving(kept, 2, &config(), key, &video(name), &PLAN, scratch.path())
                .await
                .unwrap();
        assert_eq!(media::decode_count(), before + 1, "one decode per video");
        let (faces, frames) = stored.bytes().unwrap();
        assert_eq!(faces, bytes::Bytes::from(local[i].faces.encode()));
        assert_eq!(frames, bytes::Bytes::from(local[i].frames.encode()));
        // The children's folders hold nothing of the video any more: no link, no cache.
        for dir in std::fs::read_dir(scratch.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("serve-"))
        {
            let left: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert_eq!(left, ["out"], "{left:?}");
            assert_eq!(
                std::fs::read_dir(dir.path().join("out")).unwrap().count(),
                0
            );
        }
    };
    let ended = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.is_empty() || status.contains("State:\tZ")
    };
    decode(&mut kept, "team:1", 0).await;
    let first = pids(&kept)[0];
    decode(&mut kept, "team:1", 1).await;
    assert_eq!(
        pids(&kept),
        [first],
        "the same team's next video: the same child"
    );
    assert_eq!(kept[0].jobs(), 2);
    // Another team's video: a fresh child; the first team's is kept for its next video.
    decode(&mut kept, "team:2", 0).await;
    let second = pids(&kept)[1];
    assert_ne!(second, first);
    assert_eq!(pids(&kept), [first, second], "most recently used last");
    decode(&mut kept, "team:1", 0).await;
    assert_eq!(pids(&kept), [second, first], "team 1's child again");
    assert_eq!(kept[1].jobs(), 3);
    // A third team: the least recently used child (team 2's) ends.
    decode(&mut kept, "team:3", 1).await;
    let third = pids(&kept)[1];
    assert_eq!(pids(&kept), [first, third]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(ended(second), "the oldest child is gone");
    // It runs confined, like a per-job child.
    let status = proc_status(third);
    assert!(status.contains("Seccomp:\t2\n"), "{status}");
    // A child that died between videos is replaced, and the video is decoded.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(third).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    decode(&mut kept, "team:3", 0).await;
    assert!(!pids(&kept).contains(&third));
    assert_eq!(pids(&kept).len(), 2);
}

#[tokio::test]
async fn a_serving_child_is_held_to_each_jobs_limits_and_replaced_after_a_failure() {
    let frames = prepare_in_process("fake_2.mp4").await.frames;
    let (model, manifest) = redblue();
    let runaway = test_models::runaway_loop_model();
    let frame_manifest = Manifest::parse(test_models::FRAME_MANIFEST).unwrap();

    // Wall clock: the runaway job is killed after 2 s; its child is not kept.
    let hurried = SandboxConfig {
        timeout: Duration::from_secs(2),
        ..config()
    };
    let mut slot = Vec::new();
    score_serving(
        &mut slot,
        &hurried,
        "3:r",
        &runaway,
        &frame_manifest,
        &frames,
        1,
    )
    .await
    .map(|_| ())
    .expect_err("a model that never ends");
    let mut slot2 = Vec::new();
    score_serving(&mut slot2, &hurried, "1:a", &model, &manifest, &frames, 1)
        .await
        .unwrap();
    let a = pids(&slot2);
    let e = score_serving(
        &mut slot2,
        &hurried,
        "3:r",
        &runaway,
        &frame_manifest,
        &frames,
        2,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, sandbox::TIMEOUT, "{e}");
    // The failed child is gone; the other detector's child is untouched and serves on.
    assert_eq!(pids(&slot2), a, "a failed child must not serve again");
    let ok = score_serving(&mut slot2, &hurried, "1:a", &model, &manifest, &frames, 3).await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(pids(&slot2), a);

    // CPU time: a job is held to the per-job budget, not to the child's whole allowance.
    let frugal = SandboxConfig {
        cpu_seconds: 1,
        ..config()
    };
    let mut slot = Vec::new();
    let e = score_serving(
        &mut slot,
        &frugal,
        "3:r",
        &runaway,
        &frame_manifest,
        &frames,
        2,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, sandbox::CPU_LIMIT, "{e}");
    assert!(e.message.contains("CPU-time limit of 1 s"), "{e}");
    assert!(slot.is_empty());
}

/// A job folder `scratch/job-a` beside another job's folder and the database file, as a data dir
/// lays them out.
struct DataDir {
    root: tempfile::TempDir,
}

impl DataDir {
    fn new() -> DataDir {
        let root = tempfile::tempdir().unwrap();
        for dir in ["scratch/job-a", "scratch/job-b"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("arena.db"), b"SQLite format 3\0").unwrap();
        std::fs::write(root.path().join("scratch/job-a/input.video"), b"ours").unwrap();
        std::fs::write(root.path().join("scratch/job-b/model.onnx"), b"theirs").unwrap();
        DataDir { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
}

fn denied(attempts: &[sandbox::protocol::Attempt], what: &str) -> bool {
    let attempt = attempts.iter().find(|a| a.what == what).unwrap();
    attempt
        .error
        .as_deref()
        .is_some_and(|e| e.contains("Permission denied"))
}

/// A config whose binary path is this test's own (a link in `dir`), so that its first child
/// starts a fork server of its own; and an empty job folder in `dir`.
fn own_fork_server(dir: &Path) -> (SandboxConfig, PathBuf) {
    let bin = dir.join("arena-sandbox");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_arena-sandbox"), &bin).unwrap();
    let job = dir.join("job");
    std::fs::create_dir(&job).unwrap();
    (SandboxConfig { bin, ..config() }, job)
}

/// Starting a child leaves the async executor free, even the first child of a fork server that
/// must start (and preload the face detector) first: another task of this single-threaded
/// runtime keeps running meanwhile. (Started on the executor's thread, the fork server's start
/// alone was one pause of most of the call.)
#[tokio::test]
async fn starting_a_child_leaves_the_executor_free() {
    let dir = tempfile::tempdir().unwrap();
    let (config, job) = own_fork_server(dir.path());
    let longest = std::sync::Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let ticker = tokio::spawn({
        let longest = std::sync::Arc::clone(&longest);
        async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let gap = last.elapsed();
                last = Instant::now();
                let mut l = longest.lock().unwrap();
                *l = (*l).max(gap);
            }
        }
    });
    tokio::task::yield_now().await;
    let started = Instant::now();
    let task = sandbox::protocol::SelftestTask::default();
    sandbox::selftest(&config, task, &job).await.unwrap();
    let call = started.elapsed();
    ticker.abort();
    let longest = *longest.lock().unwrap();
    assert!(
        longest * 2 < call,
        "the executor paused {longest:?} during a {call:?} call"
    );
}

/// What this test process logs, as JSON lines (installed once, for the whole process).
fn captured_log() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    std::sync::Arc::clone(LOG.get_or_init(|| {
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = std::sync::Arc::default();
        let sink = std::sync::Arc::clone(&log);
        // As the worker's `--log-format json` (web/src/telemetry.rs).
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Sink(std::sync::Arc::clone(&sink)))
            .init();
        log
    }))
}

#[tokio::test]
async fn the_fork_servers_own_messages_reach_the_workers_log_in_its_format() {
    let log = captured_log();
    let dir = tempfile::tempdir().unwrap();
    // A fork server of its own whose preload fails: it logs an error and exits, and the worker
    // starts it again without the preload (a warning of its own).
    let (config, job) = own_fork_server(dir.path());
    let missing = dir.path().join("no-such-face-model.onnx");
    let config = SandboxConfig {
        face_model: missing.clone(),
        ..config
    };
    let task = sandbox::protocol::SelftestTask::default();
    sandbox::selftest(&config, task, &job).await.unwrap();
    let missing = missing.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let relayed = loop {
        let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
        let relayed: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .filter(|v: &serde_json::Value| {
                v["fork_server"].is_u64() && v.to_string().contains(&missing)
            })
            .collect();
        if !relayed.is_empty() || Instant::now() > deadline {
            break relayed;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The worker saw it end at once (not after its 10 s wait for an answer) and went on.
    let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    assert!(
        text.lines().any(|l| l.contains("could not preload")
            && l.contains(&format!(
                "{} --fork-server ended before it answered",
                config.bin.display()
            ))),
        "{text}"
    );
    let [line] = relayed.as_slice() else {
        panic!(
            "the fork server's error, once, as a JSON event: {relayed:?} in {}",
            String::from_utf8_lossy(&log.lock().unwrap())
        )
    };
    assert_eq!(line["level"], "ERROR", "{line}");
    let message = line["message"].as_str().unwrap();
    assert!(
        message.starts_with("arena_worker::sandbox::child::fork_server: fork server")
            && message.contains("the face detector"),
        "{line}"
    );
}

#[tokio::test]
async fn a_confined_child_opens_only_its_own_job() {
    let data = DataDir::new();
    let job = data.path("scratch/job-a");
    let ours = job.join("input.video");
    let output = job.join("faces.bin");
    let database = data.path("arena.db");
    let other_job = data.path("scratch/job-b/model.onnx");
    let task = sandbox::protocol::SelftestTask {
        read: vec![
            ours.clone(),
            database.clone(),
            other_job.clone(),
            PathBuf::from("/etc/passwd"),
        ],
        create: vec![
            output.clone(),
            data.path("scratch/job-b/planted.onnx"),
            data.path("arena.db-wal"),
        ],
        ..Default::default()
    };
    let (isolation, attempts) = sandbox::selftest(&config(), task, &job).await.unwrap();
    assert!(isolation.landlock && isolation.seccomp, "{isolation:?}");
    let show = format!("{attempts:#?}");
    // Its own job folder works: the denials below are the confinement, not a broken child.
    let ours_read = &attempts[0];
    assert_eq!(ours_read.error, None, "{show}");
    assert_eq!(std::fs::read(&output).unwrap(), b"selftest", "{show}");
    for what in [&database, &other_job, Path::new("/etc/passwd")] {
        assert!(
            denied(&attempts, &format!("read {}", what.display())),
            "{show}"
        );
    }
    let planted = data.path("scratch/job-b/planted.onnx");
    assert!(
        denied(&attempts, &format!("create {}", planted.display())),
        "{show}"
    );
    assert!(!planted.exists() && !data.path("arena.db-wal").exists());
}

/// A score child's inputs in a local store are handed over in place (docs/SANDBOX.md, step 5):
/// the child may read such a file and nothing else of the store, and cannot change it by any way
/// its filters leave open.
#[tokio::test]
async fn a_child_reads_a_store_object_handed_in_place_and_cannot_change_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = DataDir::new();
    let job = data.path("scratch/job-a");
    let cache = data.path("objects/crops/abc/faces.bin");
    let neighbour = data.path("objects/crops/def/faces.bin");
    for (path, bytes) in [(&cache, b"our cache"), (&neighbour, b"their one")] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
    let before = mode(&cache);
    let task = sandbox::protocol::SelftestTask {
        given: vec![cache.clone()],
        read: vec![neighbour.clone()],
        ..Default::default()
    };
    let (isolation, attempts) = sandbox::selftest(&config(), task, &job).await.unwrap();
    assert!(isolation.landlock && isolation.seccomp, "{isolation:?}");
    let show = format!("{attempts:#?}");
    let outcome = |what: &str| {
        let what = format!("{what} {}", cache.display());
        attempts
            .iter()
            .find(|a| a.what == what)
            .unwrap()
            .error
            .clone()
    };
    assert_eq!(outcome("read"), None, "{show}");
    assert!(
        denied(&attempts, &format!("write {}", cache.display())),
        "{show}"
    );
    assert!(
        denied(
            &attempts,
            &format!("write through /proc/self/fd {}", cache.display())
        ),
        "{show}"
    );
    // ftruncate through a read-only descriptor: EINVAL.
    assert!(outcome("truncate").is_some(), "{show}");
    assert!(
        denied(&attempts, &format!("read {}", neighbour.display())),
        "{show}"
    );
    assert_eq!(std::fs::read(&cache).unwrap(), b"our cache");
    // chmod is not among its system calls: the child is killed, the mode stays.
    let chmod = sandbox::protocol::SelftestTask {
        given: vec![cache.clone()],
        chmod: Some(cache.clone()),
        ..Default::default()
    };
    let e = sandbox::selftest(&config(), chmod, &job).await.unwrap_err();
    assert_eq!(e.code, sandbox::SYSCALL, "{e}");
    assert_eq!(mode(&cache), before);
    assert_eq!(std::fs::read(&cache).unwrap(), b"our cache");
}

#[tokio::test]
async fn a_child_that_opens_a_socket_or_starts_a_program_is_killed_with_the_reason() {
    let data = DataDir::new();
    let job = data.path("scratch/job-a");
    let socket = sandbox::protocol::SelftestTask {
        socket: true,
        ..Default::default()
    };
    let e = sandbox::selftest(&config(), socket, &job)
        .await
        .unwrap_err();
    assert_eq!(e.code, sandbox::SYSCALL, "{e}");
    assert_eq!(
        e.message,
        "evaluation child made a system call its seccomp filter forbids and was killed by \
         signal 31 (SIGSYS)"
    );
    assert!(!e.permanent && !sandbox::blames_upload(e.code));
    let exec = sandbox::protocol::SelftestTask {
        exec: Some(PathBuf::from("/bin/true")),
        ..Default::default()
    };
    let e = sandbox::selftest(&config(), exec, &job).await.unwrap_err();
    assert_eq!(e.code, sandbox::SYSCALL, "{e}");
    // A library that aborts is a crash, as before.
    let abort = sandbox::protocol::SelftestTask {
        abort: true,
        ..Default::default()
    };
    let e = sandbox::selftest(&config(), abort, &job).await.unwrap_err();
    assert_eq!(e.code, sandbox::CRASHED, "{e}");
    assert!(e.message.contains("SIGABRT"), "{e}");
}

fn proc_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap()
}

#[tokio::test]
async fn a_serving_child_runs_under_its_seccomp_filter() {
    let frames = prepare_in_process("fake_1.mp4").await.frames;
    let (model, manifest) = redblue();
    let mut slot = Vec::new();
    score_serving(&mut slot, &config(), "5:e", &model, &manifest, &frames, 7)
        .await
        .unwrap();
    let status = proc_status(pids(&slot)[0]);
    assert!(status.contains("Seccomp:\t2\n"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1\n"), "{status}");
    // Its folder holds the model only between jobs: each job's inputs are linked in and removed.
    let again = score_serving(&mut slot, &config(), "5:e", &model, &manifest, &frames, 8)
        .await
        .unwrap();
    assert_eq!(again[0].video_id, 8);
}

#[tokio::test]
async fn the_ingest_probe_runs_in_a_teams_kept_child_with_the_in_process_answers() {
    let dir = tempfile::tempdir().unwrap();
    let limits = media::ProbeLimits::default();
    let children = sandbox::ProbeChildren::new(2);
    let probe = async |key: &str, path: &Path, faults: bool| {
        children
            .probe(&config(), key, path, &limits, faults, dir.path())
            .await
    };
    for name in ["face_moving.mp4", "real_1.mp4"] {
        let name = video(name);
        let facts = probe("team:1", &name, false).await.unwrap();
        assert_eq!(facts, media::probe_video(&name, &limits).unwrap());
    }
    // One child served the team's two uploads; another team gets its own.
    let first = children.pids();
    assert_eq!(first.len(), 1);
    probe("team:2", &video("fake_1.mp4"), false).await.unwrap();
    let both = children.pids();
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], first[0]);
    assert!(proc_status(both[1]).contains("Seccomp:\t2\n"));
    // A refused file ends the team's child; the next upload starts a fresh one.
    let e = probe("team:1", &video("not_a_video.mp4"), false)
        .await
        .unwrap_err();
    assert_eq!((e.code, e.permanent), ("unsupported_media", true), "{e}");
    assert_eq!(children.pids(), vec![both[1]]);
    // A file that crashes the probe costs the child; this process carries on.
    let crashing = dir.path().join("crash.mp4");
    std::fs::write(&crashing, b"ARENA-TEST-ABORT and then some").unwrap();
    let e = probe("team:2", &crashing, true).await.unwrap_err();
    assert_eq!(e.code, sandbox::CRASHED, "{e}");
    assert!(children.is_empty());
    // Without the test switch the marker is just a file that is not a video.
    let e = probe("team:2", &crashing, false).await.unwrap_err();
    assert_eq!(e.code, "unsupported_media", "{e}");
    // Two children at most: the least recently used ends first.
    for team in ["team:3", "team:4", "team:5"] {
        probe(team, &video("real_1.mp4"), false).await.unwrap();
    }
    assert_eq!(children.pids().len(), 2);
    // Nothing of an upload is left in a kept child's folder.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let left: Vec<_> = std::fs::read_dir(&path).unwrap().collect();
            assert!(left.is_empty(), "{left:?} in {}", path.display());
        }
    }
}

#[tokio::test]
async fn the_ingest_model_inspection_runs_in_a_child_with_the_in_process_answers() {
    use arena_worker::onnx_model::{inspect_model, proto};
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| write_in(dir.path(), name, bytes);
    let (bytes, _) = redblue();
    let model = write("model.onnx", &bytes);
    let info = sandbox::inspect(&config(), &model, 1 << 20, false, dir.path())
        .await
        .unwrap();
    assert_eq!(info, inspect_model(&bytes, 1 << 20).unwrap());
    // The child parsed it confined, as every child is.
    let task = sandbox::protocol::Task::Inspect(sandbox::protocol::InspectTask {
        model: model.clone(),
        max_bytes: 1 << 20,
        test_faults: false,
    });
    let (isolation, _, _) = sandbox::run(&config(), task, dir.path()).await.unwrap();
    assert!(isolation.landlock && isolation.seccomp, "{isolation:?}");
    // The model's errors come back with their codes and messages, as the API answers them.
    let same = |e: &JobError, code: &str, message: String| {
        assert_eq!((e.code, e.permanent), (code, true), "{e}");
        assert_eq!(e.message, message);
    };
    let e = sandbox::inspect(&config(), &model, 10, false, dir.path())
        .await
        .unwrap_err();
    same(
        &e,
        "model_too_large",
        inspect_model(&bytes, 10).unwrap_err().to_string(),
    );
    let garbage = b"\xff\xff\xff\xff definitely not protobuf";
    let e = sandbox::inspect(
        &config(),
        &write("garbage.onnx", garbage),
        1 << 20,
        false,
        dir.path(),
    )
    .await
    .unwrap_err();
    same(
        &e,
        "invalid_model",
        inspect_model(garbage, 1 << 20).unwrap_err().to_string(),
    );
    let mut external = proto::ModelProto::decode(bytes.as_slice()).unwrap();
    let weights = &mut external.graph.as_mut().unwrap().initializer[0];
    weights.data_location = 1;
    weights.external_data = vec![proto::StringStringEntryProto {
        key: "location".into(),
        value: "/etc/passwd".into(),
    }];
    let external = external.encode_to_vec();
    let path = write("external.onnx", &external);
    let e = sandbox::inspect(&config(), &path, 1 << 20, false, dir.path())
        .await
        .unwrap_err();
    same(
        &e,
        "model_external_data",
        inspect_model(&external, 1 << 20).unwrap_err().to_string(),
    );
    // A file that crashes the inspection costs the child; this process carries on.
    let crashing = write("crash.onnx", b"ARENA-TEST-ABORT and then some");
    let e = sandbox::inspect(&config(), &crashing, 1 << 20, true, dir.path())
        .await
        .unwrap_err();
    assert_eq!(e.code, sandbox::CRASHED, "{e}");
    // Without the test switch the marker is just a file that is not a model.
    let e = sandbox::inspect(&config(), &crashing, 1 << 20, false, dir.path())
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_model", "{e}");
}

/// A zip of `(name, bytes)` entries, deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

#[tokio::test]
async fn the_ingest_unzip_runs_in_a_child_with_the_in_process_answers() {
    use arena_worker::archive::{ArchiveLimits, extract_zip_from};
    let dir = tempfile::tempdir().unwrap();
    let limits = ArchiveLimits {
        max_entries: 4,
        max_total_bytes: 1 << 20,
        max_ratio: 100,
    };
    let one = std::fs::read(video("face_moving.mp4")).unwrap();
    let two = vec![7u8; 5000];
    let zip = dir.path().join("creation.zip");
    std::fs::write(&zip, zip_of(&[("g01.mp4", &one), ("g02.MOV", &two)])).unwrap();
    let work = tempfile::tempdir().unwrap();
    let entries = sandbox::unzip(&config(), &zip, &limits, work.path())
        .await
        .unwrap();
    let tasks: Vec<&str> = entries.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tasks, ["g01", "g02"]);
    assert_eq!(std::fs::read(&entries[0].1).unwrap(), one);
    assert_eq!(std::fs::read(&entries[1].1).unwrap(), two);
    let again = tempfile::tempdir().unwrap();
    let task = sandbox::protocol::Task::Unzip(sandbox::protocol::UnzipTask {
        archive: zip.clone(),
        out_dir: again.path().to_owned(),
        limits,
    });
    let (isolation, _, _) = sandbox::run(&config(), task, again.path()).await.unwrap();
    assert!(isolation.landlock && isolation.seccomp, "{isolation:?}");
    // Refusals come back with the in-process codes and messages.
    let refused = |bytes: Vec<u8>, code: &'static str| {
        let (dir, limits) = (dir.path().to_owned(), limits);
        async move {
            let path = dir.join("bad.zip");
            std::fs::write(&path, &bytes).unwrap();
            let here = tempfile::tempdir().unwrap();
            let cursor = std::io::Cursor::new(bytes.clone());
            let local =
                extract_zip_from(cursor, bytes.len() as u64, here.path(), limits).unwrap_err();
            let work = tempfile::tempdir().unwrap();
            let e = sandbox::unzip(&config(), &path, &limits, work.path())
                .await
                .unwrap_err();
            assert_eq!((e.code, e.permanent), (code, true), "{e}");
            assert_eq!((e.code, e.message), (local.code, local.message));
        }
    };
    refused(zip_of(&[("../g01.mp4", b"x")]), "archive_unsafe_path").await;
    refused(zip_of(&[("inner.zip", b"x")]), "nested_archive").await;
    refused(
        zip_of(&[("g01.mp4", &vec![0u8; 2 << 20])]),
        "archive_too_large",
    )
    .await;
    let many: Vec<(String, &[u8])> = (0..5).map(|i| (format!("t{i}.mp4"), &b"x"[..])).collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    refused(zip_of(&many), "archive_too_many_entries").await;
    refused(b"PK\x03\x04 but nothing after".to_vec(), "bad_archive").await;
}

/// What confinement costs a prepare + score round (docs/SANDBOX.md, "Cost"): the same children
/// with and without Landlock and seccomp, interleaved so machine load hits both alike. Prints the
/// totals and the ratio; run it alone:
/// `cargo test -p arena-worker --test sandbox confinement_cost -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check: run by hand"]
async fn confinement_cost() {
    let rounds = 12;
    let (model, manifest) = redblue();
    let frames = prepare_in_process("face_moving.mp4").await.frames;
    let mut totals = [Duration::ZERO; 2];
    let mut serve_totals = [Duration::ZERO; 2];
    let mut slots: [Vec<sandbox::ScoreChild>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for confine in order {
            let i = usize::from(!confine);
            let config = SandboxConfig {
                confine,
                ..config()
            };
            let dir = tempfile::tempdir().unwrap();
            let started = Instant::now();
            sandbox::prepare(&config, &video("face_moving.mp4"), &PLAN, dir.path())
                .await
                .unwrap();
            score_in_child(&config, &model, &manifest, &frames)
                .await
                .unwrap();
            totals[i] += started.elapsed();
        }
    }
    // A serving child's steady state: many small jobs, after its first.
    let jobs = 80;
    for job in 0..=jobs {
        for confine in [job % 2 == 0, job % 2 == 1] {
            let i = usize::from(!confine);
            let config = SandboxConfig {
                confine,
                ..config()
            };
            let key = if confine { "9:on" } else { "9:off" };
            let started = Instant::now();
            score_serving(&mut slots[i], &config, key, &model, &manifest, &frames, 7)
                .await
                .unwrap();
            if job > 0 {
                serve_totals[i] += started.elapsed();
            }
        }
    }
    let per_job = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(jobs);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(rounds);
    let ratio = totals[0].as_secs_f64() / totals[1].as_secs_f64();
    let serve_ratio = serve_totals[0].as_secs_f64() / serve_totals[1].as_secs_f64();
    eprintln!(
        "prepare+score child per round: confined {:.1} ms, unconfined {:.1} ms, ratio {ratio:.3}",
        ms(totals[0]),
        ms(totals[1])
    );
    eprintln!(
        "serving child per job: confined {:.2} ms, unconfined {:.2} ms, ratio {serve_ratio:.3}",
        per_job(serve_totals[0]),
        per_job(serve_totals[1])
    );
}

/// The parent of process `pid` and that parent's command line.
fn parent_of(pid: u32) -> (u32, String) {
    let status = proc_status(pid);
    let ppid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).unwrap();
    (ppid, String::from_utf8_lossy(&cmdline).replace('\0', " "))
}

/// A worker that closes its end of the socket with the fork server's messages unread (it exited
/// right after a child did, before reading that status) ends the fork server as an EOF does:
/// exit 0, no error logged.
#[test]
fn a_fork_server_whose_worker_left_messages_unread_exits_quietly() {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    use std::os::fd::AsFd;
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_arena-sandbox"))
        .arg(sandbox::FORK_SERVER_FLAG)
        .stdin(std::process::Stdio::from(theirs))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its `Ready` is in our queue: leave it there and go.
    let mut fds = [PollFd::new(ours.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(10_000u16)).unwrap(), 1);
    drop(ours);
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}

#[tokio::test]
async fn children_are_forked_by_the_fork_server_and_exec_d_when_it_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let limits = media::ProbeLimits::default();
    let children = sandbox::ProbeChildren::new(4);
    let probe = async |config: &SandboxConfig, key: &str, name: &str, faults: bool| {
        children
            .probe(config, key, &video(name), &limits, faults, dir.path())
            .await
    };
    let forking = config();
    assert!(forking.fork_server);
    let facts = probe(&forking, "team:1", "real_1.mp4", false)
        .await
        .unwrap();
    assert_eq!(
        facts,
        media::probe_video(&video("real_1.mp4"), &limits).unwrap()
    );
    let [forked] = children.pids()[..] else {
        panic!("one child")
    };
    // Its parent is the fork server, a child of this process; it confined itself all the same.
    let (server, cmdline) = parent_of(forked);
    assert!(cmdline.contains(sandbox::FORK_SERVER_FLAG), "{cmdline}");
    assert_eq!(parent_of(server).0, std::process::id());
    assert!(proc_status(forked).contains("Seccomp:\t2\n"));
    // It preloaded onnxruntime and the face detector's sessions for its decode children, and it
    // is still single-threaded (a fork server started without the preload maps no onnxruntime).
    let maps = std::fs::read_to_string(format!("/proc/{server}/maps")).unwrap();
    assert!(maps.contains("libonnxruntime"), "no onnxruntime preloaded");
    let threads = std::fs::read_dir(format!("/proc/{server}/task")).unwrap();
    assert_eq!(threads.count(), 1);
    // A child that crashes is reaped by the fork server and judged by its status; the fork
    // server forks the next one.
    let crash = dir.path().join("crash.mp4");
    std::fs::write(&crash, b"ARENA-TEST-ABORT and then some").unwrap();
    let e = children
        .probe(&forking, "team:2", &crash, &limits, true, dir.path())
        .await
        .unwrap_err();
    assert_eq!(e.code, sandbox::CRASHED, "{e}");
    probe(&forking, "team:3", "fake_1.mp4", false)
        .await
        .unwrap();
    let again = *children.pids().last().unwrap();
    assert_eq!(parent_of(again).0, server);
    // Off: the child is this process's own.
    let exec = SandboxConfig {
        fork_server: false,
        ..config()
    };
    probe(&exec, "team:4", "real_1.mp4", false).await.unwrap();
    let own = *children.pids().last().unwrap();
    assert_eq!(parent_of(own).0, std::process::id());
    // Dropping a forked child kills it (the fork server reaps it).
    drop(children);
    for _ in 0..100 {
        if !std::path::Path::new(&format!("/proc/{again}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!std::path::Path::new(&format!("/proc/{again}")).exists());
}

/// The fork servers, children of this process, started for the binary at `bin`.
fn fork_servers_for(bin: &Path) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.starts_with(&format!("{} ", bin.display()))
                && cmdline.contains(sandbox::FORK_SERVER_FLAG)
                && std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .is_ok_and(|s| s.contains(&format!("\nPPid:\t{me}\n")))
        })
        .collect()
}

/// A worker slot's warm-up starts the fork server before any child is asked for, and the first
/// child is then forked by that server, not by one started for it.
#[tokio::test]
async fn a_fork_server_started_ahead_forks_the_first_child() {
    let dir = tempfile::tempdir().unwrap();
    let (config, job) = own_fork_server(dir.path());
    assert_eq!(fork_servers_for(&config.bin), Vec::<u32>::new());
    sandbox::start_fork_server(&config).await;
    let [server] = fork_servers_for(&config.bin)[..] else {
        panic!("one fork server for {}", config.bin.display())
    };
    // Its preload is done: onnxruntime is mapped.
    let maps = std::fs::read_to_string(format!("/proc/{server}/maps")).unwrap();
    assert!(maps.contains("libonnxruntime"), "no onnxruntime preloaded");
    let children = sandbox::ProbeChildren::new(1);
    let limits = media::ProbeLimits::default();
    children
        .probe(
            &config,
            "team:1",
            &video("real_1.mp4"),
            &limits,
            false,
            &job,
        )
        .await
        .unwrap();
    let [child] = children.pids()[..] else {
        panic!("one child")
    };
    assert_eq!(
        parent_of(child).0,
        server,
        "forked by the server started ahead"
    );
    assert_eq!(fork_servers_for(&config.bin), vec![server]);
    // Asked again, it starts nothing more.
    sandbox::start_fork_server(&config).await;
    assert_eq!(fork_servers_for(&config.bin), vec![server]);
}
