//! Decoding and inference of uploads in a child process (`arena-sandbox`): it limits itself
//! (RLIMIT_AS, RLIMIT_CPU, RLIMIT_NOFILE, RLIMIT_FSIZE) and leaves the network, the worker kills it
//! after a wall-clock limit, and every way it can end becomes a [`JobError`] with a reason. An
//! upload check gets a fresh child per job; score jobs go to a long-lived child of the worker
//! slot ([`ScoreChild`]) that keeps one detector's session between jobs, and decodes to the
//! slot's decode child ([`prepare_serving`]) that keeps the face model between the videos of
//! one team.
//! See docs/SANDBOX.md.

pub mod child;
pub mod confine;
mod judge;
pub mod protocol;
mod serve;
mod spawn;
mod tasks;

use judge::*;
pub use serve::{ScoreChild, ServingChild, prepare_serving, score_serving};
use spawn::*;
pub use spawn::{gpu_env, run};
use tasks::*;
pub use tasks::{check_detector, inspect, prepare, probe, score, selftest, unzip};

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arena::Settings;
use bytes::Bytes;
use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::archive::ArchiveLimits;
use crate::checks::CheckReport;
use crate::crops::{Crops, CropsView};
use crate::detector::{OrtRuntime, SessionOptions};
use crate::faces;
use crate::job_error::JobError;
use crate::manifest::Manifest;
use crate::media::{ProbeFacts, ProbeLimits};
use crate::onnx_model::ModelInfo;
use crate::prepare::{CropsSummary, PreparePlan, PreparedCaches};
use protocol::{
    Attempt, CheckTask, InspectTask, Isolation, Limits, Output, PROTOCOL_VERSION, PrepareTask,
    ProbeTask, Request, Response, SERVE_CPU_BUDGETS, SERVE_FLAG, ScoreInput, ScoreTask,
    ScoredVideo, SelftestTask, Task, Timings, UnzipTask,
};

/// File name of the child binary.
pub const BIN_NAME: &str = "arena-sandbox";
/// Open files a child may hold (onnxruntime, ffmpeg and the few files of one job need far less).
const OPEN_FILES: u64 = 256;
/// The response is small (scores of one job); more is not from our child.
const STDOUT_CAP: usize = 16 << 20;
/// Only the end of the child's stderr is kept: that is where a crash explains itself.
const STDERR_TAIL: usize = 64 << 10;
/// How long the pipes may stay open after the child is gone (something it started holds them).
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// The worker's environment (database URLs, tokens) stays behind; only these pass.
const ENV_KEPT: &[&str] = &[
    "PATH",
    "LD_LIBRARY_PATH",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "LANG",
    "LC_ALL",
    "TZ",
];
const ENV_PREFIXES_KEPT: &[&str] = &["CUDA_", "NVIDIA_", "OMP_"];

/// Failure codes of a child that hit a limit: the upload's doing once its retries are spent.
pub const TIMEOUT: &str = "sandbox_timeout";
pub const MEMORY_LIMIT: &str = "sandbox_memory_limit";
pub const CPU_LIMIT: &str = "sandbox_cpu_limit";
pub const FILE_LIMIT: &str = "sandbox_file_limit";
/// The child died by another signal, or did not answer.
pub const KILLED: &str = "sandbox_killed";
pub const CRASHED: &str = "sandbox_crashed";
/// The child made a system call outside the seccomp allow-list and was killed (SIGSYS).
pub const SYSCALL: &str = "sandbox_syscall";
pub const PROTOCOL: &str = "sandbox_protocol";
pub const UNAVAILABLE: &str = "sandbox_unavailable";

/// True when the child died on the input (a crash, a forbidden system call, another signal)
/// rather than answering: for a parser of a team's file (an inspection), the file's doing.
pub fn died(code: &str) -> bool {
    matches!(code, CRASHED | SYSCALL | KILLED)
}

/// True for the failures an upload causes by being too big or too slow (a limit was hit): they
/// are retried like any crash, but a job that dies of one does not refund the team's quota.
pub fn blames_upload(code: &str) -> bool {
    matches!(code, TIMEOUT | MEMORY_LIMIT | CPU_LIMIT | FILE_LIMIT)
}

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
        })
    }

    fn limits_for(&self, task: &Task) -> Limits {
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

    fn limits(&self, file_size_mb: u64) -> Limits {
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
    fn score_limits(&self) -> Limits {
        self.limits(1)
    }

    /// A decode child's limits for `plan` (as a per-job decode child has them).
    fn prepare_limits(&self, plan: &PreparePlan) -> Limits {
        self.limits(prepare_file_mb(plan))
    }
}

/// The largest cache file a decode child writes for `plan`, in MiB: K images of at most
/// max_side² pixels, plus headers.
fn prepare_file_mb(plan: &PreparePlan) -> u64 {
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
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() || path.parent().is_none_or(|p| p.as_os_str().is_empty()) {
        return path.to_owned();
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        memory_mb: 512,
        cpu_seconds: 30,
        open_files: 64,
        file_size_mb: 8,
    };

    fn judged(exit: ChildExit) -> JobError {
        judge(&LIMITS, Duration::from_secs(7), &exit).unwrap_err()
    }

    fn killed(signal: Signal, stderr: &str) -> JobError {
        judged(ChildExit {
            signal: Some(signal as i32),
            stderr: stderr.to_owned(),
            ..ChildExit::default()
        })
    }

    #[test]
    fn deaths_are_named() {
        let e = killed(Signal::SIGKILL, "");
        assert_eq!(e.code, KILLED);
        assert_eq!(e.message, "evaluation child killed by signal 9 (SIGKILL)");
        assert!(!e.permanent);
        let e = killed(Signal::SIGSEGV, "");
        assert_eq!(e.message, "evaluation child killed by signal 11 (SIGSEGV)");
        assert!(!blames_upload(e.code));
        let e = killed(Signal::SIGXCPU, "");
        assert_eq!(e.code, CPU_LIMIT);
        assert!(e.message.contains("CPU-time limit of 30 s"), "{e}");
        assert!(e.message.contains("SIGXCPU"), "{e}");
        assert_eq!(killed(Signal::SIGXFSZ, "").code, FILE_LIMIT);
        let e = killed(
            Signal::SIGABRT,
            "memory allocation of 4294967296 bytes failed\n",
        );
        assert_eq!(e.code, MEMORY_LIMIT);
        assert!(e.message.contains("memory limit of 512 MiB"), "{e}");
        assert!(blames_upload(e.code) && !e.permanent);
        let e = judged(ChildExit {
            timed_out: true,
            signal: Some(9),
            ..ChildExit::default()
        });
        assert_eq!(e.code, TIMEOUT);
        assert_eq!(
            e.message,
            "evaluation child timed out after 7 s and was killed"
        );
        let e = judged(ChildExit {
            code: Some(0),
            stdout: b"garbage".to_vec(),
            ..ChildExit::default()
        });
        assert_eq!(e.code, PROTOCOL);
    }

    fn answered(response: &Response, code: i32) -> ChildExit {
        ChildExit {
            code: Some(code),
            stdout: format!("noise\n{}\n", serde_json::to_string(response).unwrap()).into_bytes(),
            ..ChildExit::default()
        }
    }

    #[test]
    fn answers_are_passed_on() {
        let ok = Response::Ok {
            isolation: Isolation::default(),
            timings: Timings::default(),
            output: Output::Prepared {
                frames: 3,
                face_frames: 2,
                decodes: 1,
            },
        };
        let (_, _, output) = judge(&LIMITS, Duration::from_secs(1), &answered(&ok, 0)).unwrap();
        assert_eq!(
            output,
            Output::Prepared {
                frames: 3,
                face_frames: 2,
                decodes: 1,
            }
        );
        let error = |code: &str, message: &str| Response::Error {
            isolation: None,
            error: protocol::ChildError {
                code: code.to_owned(),
                message: message.to_owned(),
                client_error: true,
            },
        };
        let e = judged(answered(
            &error("invalid_video", "no frame could be decoded"),
            1,
        ));
        assert_eq!((e.code, e.permanent), ("invalid_video", true));
        assert_eq!(e.message, "no frame could be decoded");
        let e = judged(answered(&error("Bad Code!", "x"), 1));
        assert_eq!(e.code, "sandbox_error");
        let e = judged(answered(
            &error(
                "model_run_failed",
                "Failed to allocate memory for requested buffer",
            ),
            1,
        ));
        assert_eq!((e.code, e.permanent), (MEMORY_LIMIT, false));
    }

    #[test]
    fn cuda_children_get_one_device_mapped_through_the_workers_own_list() {
        let mut config = SandboxConfig {
            bin: PathBuf::from("/opt/arena/arena-sandbox"),
            memory_mb: 1024,
            cpu_seconds: 10,
            timeout: Duration::from_secs(10),
            ort_lib: PathBuf::from("/opt/arena/.cache/onnxruntime-gpu/lib/libonnxruntime.so"),
            face_model: PathBuf::from("/opt/arena/blazeface.onnx"),
            session: SessionOptions::default(),
            confine: true,
        };
        let env = |config: &SandboxConfig, parent: &[(&str, &str)]| {
            let parent: Vec<(String, String)> = parent
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            gpu_env(config, |name| {
                parent
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| OsString::from(v))
            })
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect::<Vec<_>>()
        };
        assert!(
            env(&config, &[("CUDA_VISIBLE_DEVICES", "1")]).is_empty(),
            "CPU"
        );

        let settings = arena::config::EvaluationSettings {
            execution_provider: "cuda".into(),
            gpus: vec![0, 2],
            ..Default::default()
        };
        config.session = SessionOptions::from_settings(&settings.for_slot(1));
        let lib = "/opt/arena/.cache/onnxruntime-gpu/lib";
        assert_eq!(
            env(&config, &[]),
            [
                ("CUDA_VISIBLE_DEVICES".to_owned(), "2".to_owned()),
                ("LD_LIBRARY_PATH".to_owned(), lib.to_owned()),
            ]
        );
        // A worker already limited to some devices: its ordinal 2 is the third of its list.
        let parent = [
            ("CUDA_VISIBLE_DEVICES", "GPU-a1, GPU-b2, GPU-c3"),
            ("LD_LIBRARY_PATH", "/usr/local/lib"),
        ];
        assert_eq!(
            env(&config, &parent),
            [
                ("CUDA_VISIBLE_DEVICES".to_owned(), "GPU-c3".to_owned()),
                (
                    "LD_LIBRARY_PATH".to_owned(),
                    format!("{lib}:/usr/local/lib")
                ),
            ]
        );
        // The child itself is told device 0: the only one it sees.
        assert_eq!(child_session(&config.session).cuda.device_id, 0);
        assert_eq!(config.session.cuda.device_id, 2);
    }

    #[test]
    fn bin_is_found_where_configured_or_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join(BIN_NAME);
        std::fs::write(&bin, b"").unwrap();
        assert_eq!(find_bin(Some(&bin)).unwrap(), bin);
        let e = find_bin(Some(&dir.path().join("missing"))).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }
}
