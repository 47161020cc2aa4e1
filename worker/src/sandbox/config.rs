//! How an evaluation child is started: its binary, limits and environment ([`SandboxConfig`]),
//! and the constants the parent side shares.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arena::Settings;

use super::protocol::{Limits, Task};
use crate::detector::{OrtRuntime, SessionOptions};
use crate::faces;
use crate::job_error::{JobError, UNAVAILABLE};
use crate::prepare::PreparePlan;

/// File name of the child binary.
pub const BIN_NAME: &str = "arena-sandbox";
/// Open files a child may hold (onnxruntime, ffmpeg and the few files of one job need far less).
pub(super) const OPEN_FILES: u64 = 256;
/// The response is small (scores of one job); more is not from our child.
pub(super) const STDOUT_CAP: usize = 16 << 20;
/// Only the end of the child's stderr is kept: that is where a crash explains itself.
pub(super) const STDERR_TAIL: usize = 64 << 10;
/// How long the pipes may stay open after the child is gone (something it started holds them).
pub(super) const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// The worker's environment (database URLs, tokens) stays behind; only these pass.
pub(super) const ENV_KEPT: &[&str] = &[
    "PATH",
    "LD_LIBRARY_PATH",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "LANG",
    "LC_ALL",
    "TZ",
];
pub(super) const ENV_PREFIXES_KEPT: &[&str] = &["CUDA_", "NVIDIA_", "OMP_"];

/// How to start an evaluation child.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub bin: PathBuf,
    /// RLIMIT_AS in MiB (not applied with the CUDA provider, which reserves huge address ranges).
    pub memory_mb: u64,
    pub cpu_seconds: u64,
    /// Wall-clock limit; the child is killed after it.
    pub timeout: Duration,
    pub ort_lib: PathBuf,
    pub face_model: PathBuf,
    pub session: SessionOptions,
    /// Children confine themselves (Landlock, seccomp; docs/SANDBOX.md). Always `true` from the
    /// settings; `false` only measures what confinement costs (no setting turns it off).
    pub confine: bool,
    /// CPU children are forked from a fork server ([`super::fork`]) instead of exec'd
    /// (`evaluation.fork_server`).
    pub fork_server: bool,
}

impl SandboxConfig {
    /// The settings in force; fails (an infrastructure error) when the binary cannot be found.
    pub fn from_settings(settings: &Settings) -> Result<SandboxConfig, JobError> {
        let e = &settings.evaluation;
        let bin =
            find_bin(e.sandbox_bin.as_deref()).map_err(|m| JobError::infra(UNAVAILABLE, m))?;
        let ort_lib = OrtRuntime::lib_path_in(settings);
        Ok(SandboxConfig {
            bin,
            memory_mb: e.child_memory_mb,
            cpu_seconds: e.child_cpu_seconds,
            timeout: Duration::from_secs(e.child_timeout_s),
            ort_lib: absolute(&ort_lib),
            face_model: absolute(&faces::model_path(e.face_model.as_deref())),
            session: SessionOptions::from_settings(e),
            confine: true,
            fork_server: e.fork_server,
        })
    }

    pub(super) fn limits_for(&self, task: &Task) -> Limits {
        let file_size_mb = match task {
            // One crop cache file: K images of at most max_side² pixels, plus headers.
            Task::Prepare(t) => prepare_file_mb(&t.plan),
            // Every entry together stays under the archive's inflated cap.
            Task::Unzip(t) => t.limits.max_total_bytes.div_ceil(1 << 20) + 1,
            Task::Score(_)
            | Task::Check(_)
            | Task::Probe(_)
            | Task::Inspect(_)
            | Task::Selftest(_) => 1,
        };
        self.limits(file_size_mb)
    }

    pub(super) fn limits(&self, file_size_mb: u64) -> Limits {
        let memory_mb = match self.session.execution_provider {
            crate::ExecutionProvider::Cpu => self.memory_mb,
            crate::ExecutionProvider::Cuda => 0,
        };
        Limits {
            memory_mb,
            cpu_seconds: self.cpu_seconds,
            open_files: OPEN_FILES,
            file_size_mb,
        }
    }

    /// A scoring child's limits (it writes no files).
    pub(super) fn score_limits(&self) -> Limits {
        self.limits(1)
    }

    /// A decode child's limits for `plan` (as a per-job decode child has them).
    pub(super) fn prepare_limits(&self, plan: &PreparePlan) -> Limits {
        self.limits(prepare_file_mb(plan))
    }
}

/// The largest cache file a decode child writes for `plan`, in MiB: K images of at most
/// max_side² pixels, plus headers.
pub(super) fn prepare_file_mb(plan: &PreparePlan) -> u64 {
    let side = u64::from(plan.max_side);
    let bytes = (plan.frames as u64).saturating_mul(side * side * 3 + 17) + 8;
    bytes.div_ceil(1 << 20) + 1
}

/// The child binary: `configured`, else `ARENA_SANDBOX_BIN`, else [`BIN_NAME`] next to the running
/// executable, else in its parent folder (test binaries run from `target/<profile>/deps`).
pub fn find_bin(configured: Option<&Path>) -> Result<PathBuf, String> {
    let explicit = configured
        .map(|p| (p.to_owned(), "evaluation.sandbox_bin"))
        .or_else(|| std::env::var_os("ARENA_SANDBOX_BIN").map(|p| (p.into(), "ARENA_SANDBOX_BIN")));
    if let Some((path, source)) = explicit {
        return if path.is_file() {
            Ok(absolute(&path))
        } else {
            Err(format!(
                "the evaluation sandbox {} (from {source}) does not exist",
                path.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join(BIN_NAME))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "the evaluation sandbox {BIN_NAME} was not found next to {} or in its parent \
                 folder: build it (cargo build --bins), or set evaluation.sandbox_bin or \
                 ARENA_SANDBOX_BIN (or evaluation.isolate = false to run uploads in-process)",
                exe.display()
            )
        })
}

/// `path` made absolute against the current directory (the child runs in its job folder); a bare
/// file name is left alone for the dynamic loader to search.
pub(super) fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() || path.parent().is_none_or(|p| p.as_os_str().is_empty()) {
        return path.to_owned();
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// A child's environment: the worker's [`kept_env`] names, the settings below, and `extra`
/// (a CUDA child's `spawn::gpu_env`).
pub(super) fn child_env(extra: &[(OsString, OsString)]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = kept_env().collect();
    // glibc reserves 64 MiB of address space per malloc arena and thread; a few arenas keep
    // RLIMIT_AS about the memory actually used.
    env.push(("MALLOC_ARENA_MAX".into(), "2".into()));
    // onnxruntime's telemetry would write a usage database under $HOME (docs/SANDBOX.md).
    env.push(("ORT_DISABLE_TELEMETRY".into(), "1".into()));
    env.extend(extra.iter().cloned());
    env
}

pub(super) fn kept_env() -> impl Iterator<Item = (OsString, OsString)> {
    std::env::vars_os().filter(|(key, _)| {
        key.to_str().is_some_and(|k| {
            ENV_KEPT.contains(&k) || ENV_PREFIXES_KEPT.iter().any(|p| k.starts_with(p))
        })
    })
}
