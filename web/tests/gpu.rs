//! The `arena` binary's GPU flags on a machine without a GPU: `arena eval --execution-provider
//! cuda` falls back to the CPU with one warning naming the reason and the CPU's scores; bad
//! `--gpus` and provider names are refused before anything starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/fixtures")
}

fn eval(dir: &Path, extra: &[&str]) -> Output {
    let videos = fixtures().join("videos");
    let models = fixtures().join("models");
    Command::new(env!("CARGO_BIN_EXE_arena"))
        .args(["--data", dir.to_str().unwrap(), "eval"])
        .arg(videos.join("real_1.mp4"))
        .arg(videos.join("fake_2.mp4"))
        .arg("--detector")
        .arg(format!(
            "{}:{}",
            models.join("redblue.onnx").display(),
            models.join("redblue.toml").display()
        ))
        .args(extra)
        .env_remove("ARENA_EXECUTION_PROVIDER")
        .env_remove("ARENA_GPUS")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn scores(report: &Value) -> Vec<f64> {
    report["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["scores"][0]["score"].as_f64().unwrap())
        .collect()
}

#[test]
fn eval_on_cuda_without_a_gpu_falls_back_once_with_the_cpu_scores() {
    if Path::new("/dev/nvidiactl").exists() {
        eprintln!("skipped: this machine has an NVIDIA device (scripts/gpu-check covers it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cpu = eval(dir.path(), &["--execution-provider", "cpu"]);
    assert!(
        cpu.status.success(),
        "{}",
        String::from_utf8_lossy(&cpu.stderr)
    );
    let cuda = eval(dir.path(), &["--execution-provider", "cuda", "--gpus", "1"]);
    let stderr = String::from_utf8_lossy(&cuda.stderr);
    assert!(cuda.status.success(), "{stderr}");

    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("falling back to CPU"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning, not one per session:\n{stderr}"
    );
    assert!(warnings[0].contains("reason"), "{stderr}");

    let cpu_report: Value = serde_json::from_slice(&cpu.stdout).unwrap();
    let cuda_report: Value = serde_json::from_slice(&cuda.stdout).unwrap();
    let reason = cuda_report["cuda_fallback"].as_str().unwrap();
    assert!(
        reason.contains("libcuda.so.1") || reason.contains("no CUDA provider"),
        "{reason}"
    );
    assert!(cpu_report.get("cuda_fallback").is_none(), "{cpu_report}");
    assert_eq!(cuda_report["detectors"][0]["execution_provider"], "cpu");
    let (a, b) = (scores(&cpu_report), scores(&cuda_report));
    assert_eq!(a.len(), 2);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-6, "cpu {a:?} vs cuda fallback {b:?}");
    }
    // redblue: sigmoid(4·(R−B)/255): real_1 ≈ 0.10, fake_2 ≈ 0.96.
    assert!(b[0] < 0.2 && b[1] > 0.9, "{b:?}");
}

#[test]
fn bad_gpu_flags_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, message) in [
        (["--gpus", "0,x"], "--gpus"),
        (["--gpus", "1,1"], "listed twice"),
        (["--execution-provider", "tpu"], "cpu or cuda"),
    ] {
        let out = eval(dir.path(), &flags);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?}");
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_arena"))
        .args(["worker", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--gpus") && help.contains("--execution-provider"),
        "{help}"
    );
}

#[test]
fn bootstrap_plans_the_gpu_download() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bootstrap");
    let out = Command::new(&script)
        .args(["--gpu", "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        eprintln!("skipped: PyPI cannot be reached from here\n{stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    // The GPU build matching ort's API (api-31 = onnxruntime 1.31) and the CUDA 13 / cuDNN 9
    // runtime wheels onnxruntime-gpu asks for, each resolved to a manylinux wheel.
    for name in [
        "onnxruntime-gpu==1.31.",
        "nvidia-cuda-runtime==13.",
        "nvidia-cublas==13.",
        "nvidia-cudnn-cu13==9.",
        "nvidia-cufft==",
        "nvidia-curand==",
        "nvidia-cuda-nvrtc==13.",
        "nvidia-nvjitlink==13.",
    ] {
        let line = stdout.lines().find(|l| l.starts_with(name));
        assert!(
            line.is_some_and(|l| l.ends_with(".whl") && l.contains("manylinux")),
            "{name}:\n{stdout}"
        );
    }
    assert_eq!(stdout.lines().count(), 8, "{stdout}");
}
