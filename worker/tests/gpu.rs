//! GPU workers on a machine without one: a CUDA evaluation child is started with only its slot's
//! device visible and the GPU libraries on its loader path, falls back to the CPU with the CPU's
//! scores, and batches frames of several videos into shared runs when asked, with every video's
//! score unchanged. The real `arena-sandbox` binary, FFmpeg and onnxruntime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arena::config::EvaluationSettings;
use arena_worker::crops::Crops;
use arena_worker::detector::{
    CudaOptions, Detector, ExecutionProvider, OrtRuntime, SessionOptions,
};
use arena_worker::faces::{self, FaceDetector};
use arena_worker::manifest::Manifest;
use arena_worker::pipeline::{self, PreparePlan};
use arena_worker::sandbox::protocol::ScoreInput;
use arena_worker::sandbox::{self, SandboxConfig};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures")
}

fn redblue() -> (Vec<u8>, Manifest) {
    let dir = fixtures().join("models");
    let text = std::fs::read_to_string(dir.join("redblue.toml")).unwrap();
    (
        std::fs::read(dir.join("redblue.onnx")).unwrap(),
        Manifest::parse(&text).unwrap(),
    )
}

fn runtime() -> OrtRuntime {
    OrtRuntime::init(&OrtRuntime::default_lib_path()).unwrap()
}

fn config(bin: PathBuf, session: SessionOptions) -> SandboxConfig {
    SandboxConfig {
        bin,
        memory_mb: 4096,
        cpu_seconds: 120,
        timeout: Duration::from_secs(120),
        ort_lib: OrtRuntime::default_lib_path(),
        face_model: faces::model_path(None),
        session,
        confine: true,
        fork_server: true,
    }
}

/// A stand-in for the sandbox binary that writes the environment it was started with to `out`,
/// then runs the real child with its arguments: what a CUDA child sees, observed.
fn env_reporting_bin(dir: &Path, out: &Path) -> PathBuf {
    let script = dir.join("sandbox-env.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nenv > '{}'\nexec '{}' \"$@\"\n",
            out.display(),
            env!("CARGO_BIN_EXE_arena-sandbox")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn a_cuda_child_sees_only_its_slot_device_and_falls_back_with_cpu_scores() {
    let dir = tempfile::tempdir().unwrap();
    let env_out = dir.path().join("env.txt");
    let (model, manifest) = redblue();
    let model_path = dir.path().join("redblue.onnx");
    std::fs::write(&model_path, &model).unwrap();
    // Slot 1 of a worker started with `--gpus 0,3 --gpu-mem-limit…`: device 3.
    let settings = EvaluationSettings {
        execution_provider: "cuda".into(),
        gpus: vec![0, 3],
        gpu_mem_limit_mb: 1024,
        ..Default::default()
    };
    let session = SessionOptions::from_settings(&settings.for_slot(1));
    assert_eq!(session.cuda.device_id, 3);
    let cuda = config(env_reporting_bin(dir.path(), &env_out), session);
    let limit = Duration::from_secs(20);
    let child = sandbox::check_detector(&cuda, &model_path, &manifest, limit, dir.path())
        .await
        .unwrap();

    let env = std::fs::read_to_string(&env_out).unwrap();
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    assert_eq!(var("CUDA_VISIBLE_DEVICES").as_deref(), Some("3"), "{env}");
    let lib_dir = cuda.ort_lib.parent().unwrap().to_str().unwrap().to_owned();
    let ld = var("LD_LIBRARY_PATH").unwrap_or_default();
    assert!(ld.split(':').next() == Some(lib_dir.as_str()), "{ld}");
    // The worker's own secrets stay behind, as for any child.
    assert!(var("ARENA_DATABASE_URL").is_none());

    // This machine has no CUDA: the child ran on the CPU, with the CPU's probe scores.
    let cpu = config(
        PathBuf::from(env!("CARGO_BIN_EXE_arena-sandbox")),
        SessionOptions::default(),
    );
    let on_cpu = sandbox::check_detector(&cpu, &model_path, &manifest, limit, dir.path())
        .await
        .unwrap();
    assert_eq!(child.execution_provider, ExecutionProvider::Cpu);
    assert_eq!(child.scores, on_cpu.scores);

    // A CPU child gets no device list and no GPU loader path.
    std::fs::remove_file(&env_out).unwrap();
    let plain = config(
        env_reporting_bin(dir.path(), &env_out),
        SessionOptions::default(),
    );
    sandbox::check_detector(&plain, &model_path, &manifest, limit, dir.path())
        .await
        .unwrap();
    let env = std::fs::read_to_string(&env_out).unwrap();
    assert!(!env.contains("CUDA_VISIBLE_DEVICES="), "{env}");
}

#[tokio::test]
async fn a_child_batching_across_videos_gives_each_video_its_own_score() {
    let plan = PreparePlan {
        frames: 6,
        decode_max_side: 1920,
        max_side: 64,
    };
    let rt = runtime();
    let mut faces =
        FaceDetector::load(&rt, &faces::model_path(None), &SessionOptions::default()).unwrap();
    let (model, manifest) = redblue();
    let mut single =
        Detector::load(&rt, &model, manifest.clone(), &SessionOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for (id, name) in ["real_1.mp4", "fake_2.mp4", "real_3.mp4"]
        .iter()
        .enumerate()
    {
        let video = fixtures().join("videos").join(name);
        let prepared = pipeline::prepare_frames(&video, &plan, &mut faces).unwrap();
        let frames: &Crops = &prepared.frames;
        expected.push(pipeline::score_images(&mut single, &frames.view()).unwrap());
        let images = dir.path().join(format!("images-{id}.bin"));
        std::fs::write(&images, frames.encode()).unwrap();
        inputs.push(ScoreInput {
            video_id: id as i64,
            images,
        });
    }
    let model_path = dir.path().join("redblue.onnx");
    std::fs::write(&model_path, &model).unwrap();
    // What a CUDA session does, forced on the CPU: 6 frames a video, two videos a group, their
    // 12 frames in runs of 4 that cross the boundary between them.
    let session = SessionOptions {
        cuda: CudaOptions {
            batch_across_videos: Some(true),
            ..CudaOptions::default()
        },
        ..SessionOptions::default()
    };
    let across = config(PathBuf::from(env!("CARGO_BIN_EXE_arena-sandbox")), session);
    let scored = sandbox::score(&across, &model_path, &manifest, inputs, dir.path())
        .await
        .unwrap();
    assert_eq!(scored.len(), 3);
    for (i, (got, want)) in scored.iter().zip(&expected).enumerate() {
        assert_eq!(got.video_id, i as i64);
        assert_eq!(got.score.per_frame.len(), want.per_frame.len());
        assert!(
            (got.score.score - want.score).abs() < 1e-6,
            "{got:?} vs {want:?}"
        );
        for (a, b) in got.score.per_frame.iter().zip(&want.per_frame) {
            assert!((a - b).abs() < 1e-6);
        }
    }
    // The three videos are apart in score (real, fake, grey): no mix-up between them.
    assert!(scored[0].score.score < 0.3 && scored[1].score.score > 0.7);
}
