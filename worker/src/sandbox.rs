//! Decoding and inference of uploads in a child process (`arena-sandbox`): it limits itself
//! (RLIMIT_AS, RLIMIT_CPU, RLIMIT_NOFILE, RLIMIT_FSIZE) and leaves the network, the worker kills it
//! after a wall-clock limit, and every way it can end becomes a [`JobError`] with a reason. A
//! decode or an upload check gets a fresh child per job; score jobs go to a long-lived child of
//! the worker slot ([`ScoreChild`]) that keeps one detector's session between jobs.
//! See docs/SANDBOX.md.

pub mod child;
pub mod confine;
pub mod protocol;

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
            Task::Prepare(t) => {
                let side = u64::from(t.plan.max_side);
                let bytes = (t.plan.frames as u64).saturating_mul(side * side * 3 + 17) + 8;
                bytes.div_ceil(1 << 20) + 1
            }
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

/// Decodes `video` in a child: its face crops and whole frames, as [`crate::prepare::prepare_frames`]
/// makes them, in their stored encoding. `work_dir` receives the child's output and is its
/// working directory; `video` may lie elsewhere (a local store's file: the child may only read
/// it).
#[tracing::instrument(skip_all, err)]
pub async fn prepare(
    config: &SandboxConfig,
    video: &Path,
    plan: &PreparePlan,
    work_dir: &Path,
) -> Result<PreparedCaches, JobError> {
    let work_dir = absolute(work_dir);
    let task = PrepareTask {
        video: absolute(video),
        plan: *plan,
        face_model: config.face_model.clone(),
        faces_out: work_dir.join("faces.bin"),
        frames_out: work_dir.join("frames.bin"),
    };
    let (faces_out, frames_out) = (task.faces_out.clone(), task.frames_out.clone());
    let (_, timings, output) = run(config, Task::Prepare(task), &work_dir).await?;
    let Output::Prepared { decodes, .. } = output else {
        return Err(protocol_error(
            "answered a prepare request with something else",
        ));
    };
    crate::media::sampler::count_child_decodes(decodes);
    // The child's files go to the store as they were written: checked in place
    // (`Crops::parse_current`: the current encoding, nothing more), never decoded and encoded
    // again.
    let faces = read_cache(&faces_out).await?;
    let frames = read_cache(&frames_out).await?;
    let summary = {
        let face_view = Crops::parse_current(&faces).map_err(|e| protocol_error(&e.to_string()))?;
        let frame_view =
            Crops::parse_current(&frames).map_err(|e| protocol_error(&e.to_string()))?;
        let too_big = |c: &CropsView<'_>| {
            c.images
                .iter()
                .any(|i| i.width.max(i.height) > plan.max_side)
        };
        if face_view.indices != frame_view.indices
            || face_view.indices.is_empty()
            || face_view.indices.len() > plan.frames
            || too_big(&face_view)
            || too_big(&frame_view)
        {
            return Err(protocol_error("wrote crops that do not match the request"));
        }
        CropsSummary::of(&face_view)
    };
    tracing::debug!(
        load_ms = timings.load_ms,
        work_ms = timings.work_ms,
        "video prepared in a child"
    );
    Ok(PreparedCaches {
        faces,
        frames,
        summary,
    })
}

async fn read_cache(path: &Path) -> Result<Bytes, JobError> {
    tokio::fs::read(path)
        .await
        .map(Bytes::from)
        .map_err(|e| protocol_error(&format!("left no {}: {e}", path.display())))
}

/// Scores the cached images of `videos` with the detector `model` in a child, one score per
/// video as [`crate::scoring::score_images`] gives it.
#[tracing::instrument(skip_all, fields(videos = videos.len()), err)]
pub async fn score(
    config: &SandboxConfig,
    model: &Path,
    manifest: &Manifest,
    videos: Vec<ScoreInput>,
    work_dir: &Path,
) -> Result<Vec<ScoredVideo>, JobError> {
    let mut wanted: Vec<i64> = videos.iter().map(|v| v.video_id).collect();
    let task = ScoreTask {
        model: absolute(model),
        key: None,
        manifest: manifest.clone(),
        videos: videos
            .into_iter()
            .map(|v| ScoreInput {
                images: absolute(&v.images),
                ..v
            })
            .collect(),
    };
    let (_, timings, output) = run(config, Task::Score(task), work_dir).await?;
    let scores = scores_for(&mut wanted, output)?;
    tracing::debug!(
        load_ms = timings.load_ms,
        work_ms = timings.work_ms,
        "videos scored in a child"
    );
    Ok(scores)
}

/// The scores of a score answer, checked against the videos asked for.
fn scores_for(wanted: &mut [i64], output: Output) -> Result<Vec<ScoredVideo>, JobError> {
    let Output::Scored { scores } = output else {
        return Err(protocol_error(
            "answered a score request with something else",
        ));
    };
    let mut got: Vec<i64> = scores.iter().map(|s| s.video_id).collect();
    wanted.sort_unstable();
    got.sort_unstable();
    let in_range = |p: f32| p.is_finite() && (0.0..=1.0).contains(&p);
    let valid = scores
        .iter()
        .all(|s| in_range(s.score.score) && s.score.per_frame.iter().all(|p| in_range(*p)));
    if got != wanted || !valid {
        return Err(protocol_error(
            "answered with scores that do not match the request",
        ));
    }
    Ok(scores)
}

/// A worker slot's long-lived scoring child (`arena-sandbox --serve`), holding the session of
/// one detector (its `key`) between score jobs: the per-job cost of starting a process, loading
/// onnxruntime and building the session is paid once per (slot, detector) instead of per job.
/// Dropping it kills the child.
pub struct ScoreChild {
    key: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
    limits: Limits,
    cpu_ms: u64,
    jobs: u64,
    /// The child's own folder, its working directory and all it may read (Landlock): each job's
    /// inputs are linked in for the job. Removed after the child is killed (fields drop in order).
    dir: tempfile::TempDir,
}

impl ScoreChild {
    /// The child's process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The detector this child serves (its key is `<detector id>:<model key>`).
    pub fn detector_id(&self) -> Option<i64> {
        self.key.split(':').next()?.parse().ok()
    }

    /// Score jobs this child has answered.
    pub fn jobs(&self) -> u64 {
        self.jobs
    }

    /// Can serve another job of `key`: same detector, still running, and a whole job's CPU
    /// budget left under its hard limit.
    fn fits(&mut self, key: &str) -> bool {
        let budget_ms = self.limits.cpu_seconds.max(1) * 1000;
        let hard_ms = budget_ms * SERVE_CPU_BUDGETS;
        self.key == key
            && matches!(self.child.try_wait(), Ok(None))
            && self.cpu_ms + 2 * budget_ms <= hard_ms
    }

    fn spawn(config: &SandboxConfig, key: &str, cwd: &Path) -> Result<ScoreChild, JobError> {
        let limits = config.score_limits();
        let dir = tempfile::Builder::new()
            .prefix("serve-")
            .tempdir_in(absolute(cwd))
            .map_err(|e| JobError::infra("scratch", e))?;
        let mut cmd = Command::new(&config.bin);
        cmd.arg(SERVE_FLAG)
            .args(limits.to_args())
            .current_dir(dir.path())
            .env_clear()
            .envs(kept_env())
            .env("MALLOC_ARENA_MAX", "2")
            // onnxruntime's telemetry would write a usage database under $HOME (docs/SANDBOX.md).
            .env("ORT_DISABLE_TELEMETRY", "1")
            .envs(gpu_env(config, |k| std::env::var_os(k)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            JobError::infra(
                UNAVAILABLE,
                format!("cannot start {}: {e}", config.bin.display()),
            )
        })?;
        let (Some(stdin), Some(stdout), Some(err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(JobError::infra(CRASHED, "the child has no pipes"));
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(keep_tail(err, Arc::clone(&stderr)));
        Ok(ScoreChild {
            key: key.to_owned(),
            child,
            stdin,
            stdout: BufReader::new(stdout),
            stderr,
            limits,
            cpu_ms: 0,
            jobs: 0,
            dir,
        })
    }

    fn stderr_text(&self) -> String {
        let bytes = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Sends one request and reads its answer line, or learns how the child ended.
    async fn ask(&mut self, body: &[u8], timeout: Duration) -> ChildExit {
        let exchange = async {
            self.stdin.write_all(body).await?;
            self.stdin.write_all(b"\n").await?;
            self.stdin.flush().await?;
            let mut line = Vec::new();
            (&mut self.stdout)
                .take(STDOUT_CAP as u64)
                .read_until(b'\n', &mut line)
                .await?;
            Ok::<_, std::io::Error>(line)
        };
        let mut exit = ChildExit::default();
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(line)) if line.ends_with(b"\n") => {
                // An answer; the child lives on (code 0) unless the answer is an error.
                exit.code = Some(0);
                exit.stdout = line;
                return exit;
            }
            Ok(_) => {
                // The pipe broke or closed: the child is gone (or going); judge by its status.
                match tokio::time::timeout(DRAIN_GRACE, self.child.wait()).await {
                    Ok(Ok(status)) => {
                        exit.code = status.code();
                        exit.signal = status.signal();
                    }
                    _ => {
                        let _ = self.child.kill().await;
                        exit.signal = Some(Signal::SIGKILL as i32);
                    }
                }
            }
            Err(_) => {
                exit.timed_out = true;
                if let Err(e) = self.child.kill().await {
                    tracing::error!(error = %e, "could not kill a timed-out scoring child");
                }
            }
        }
        // Give the stderr reader a moment to collect the child's last words.
        tokio::time::sleep(Duration::from_millis(50)).await;
        exit.stderr = self.stderr_text();
        exit
    }
}

async fn keep_tail<R: AsyncRead + Unpin>(mut reader: R, kept: Arc<Mutex<Vec<u8>>>) {
    let mut buf = vec![0u8; 16 << 10];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        let Ok(mut kept) = kept.lock() else {
            return;
        };
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > STDERR_TAIL {
            let excess = kept.len() - STDERR_TAIL;
            kept.drain(..excess);
        }
    }
}

/// Scores like [`score`], in one of the slot's long-lived children: the one serving this detector
/// (`key`) when it is still running and has CPU budget left, else a new one started with `cwd`
/// as its folder. The slot keeps at most `keep` children, the least recently used is ended
/// first. Any failure ends the child that failed (the next job of its detector starts a fresh
/// one); its reason is judged as for a per-job child.
///
/// `stage_model` puts the model file at `model`; it runs only when a new child has to load the
/// session (a child serving `key` already holds it and never reads the file again), so a job
/// of a served detector costs no model download.
#[tracing::instrument(skip_all, fields(videos = videos.len()), err)]
#[allow(clippy::too_many_arguments)]
pub async fn score_serving(
    slot: &mut Vec<ScoreChild>,
    keep: usize,
    config: &SandboxConfig,
    key: &str,
    model: &Path,
    stage_model: impl AsyncFnOnce() -> Result<(), JobError>,
    manifest: &Manifest,
    videos: Vec<ScoreInput>,
    cwd: &Path,
) -> Result<Vec<ScoredVideo>, JobError> {
    let mut wanted: Vec<i64> = videos.iter().map(|v| v.video_id).collect();
    let held = slot
        .iter()
        .position(|c| c.key == key)
        .map(|i| slot.remove(i));
    // A held child that cannot serve this job is ended (dropped) here.
    let was_held = held.is_some();
    let reusable = held.and_then(|mut c| c.fits(key).then_some(c));
    let mut child = match reusable {
        Some(c) => c,
        None => {
            if was_held {
                metrics::counter!(crate::fleet::CHILD_RESTARTS).increment(1);
            }
            metrics::counter!(crate::fleet::CHILD_STARTS, "task" => "score").increment(1);
            stage_model().await?;
            let child = ScoreChild::spawn(config, key, cwd)?;
            link_into(model, &child.dir.path().join("model.onnx")).await?;
            child
        }
    };
    // The child may read its own folder only: this job's inputs are linked into it.
    let mut linked = Vec::with_capacity(videos.len());
    for v in videos {
        let images = child.dir.path().join(format!("images-{}.bin", v.video_id));
        link_into(&v.images, &images).await?;
        linked.push(ScoreInput { images, ..v });
    }
    let request = Request {
        version: PROTOCOL_VERSION,
        ort_lib: config.ort_lib.clone(),
        session: child_session(&config.session),
        confine: config.confine,
        task: Task::Score(ScoreTask {
            model: child.dir.path().join("model.onnx"),
            key: Some(key.to_owned()),
            manifest: manifest.clone(),
            videos: linked.clone(),
        }),
    };
    let body = serde_json::to_vec(&request).map_err(|e| JobError::infra(PROTOCOL, e))?;
    let started = Instant::now();
    let exit = child.ask(&body, config.timeout).await;
    for input in &linked {
        let _ = tokio::fs::remove_file(&input.images).await;
    }
    let answered = exit.code == Some(0) && exit.signal.is_none() && !exit.timed_out;
    let verdict =
        judge(&child.limits, config.timeout, &exit).and_then(|(isolation, timings, output)| {
            warn_once_if_exposed(&isolation);
            Ok((timings, scores_for(&mut wanted, output)?))
        });
    match verdict {
        Ok((timings, scores)) if answered => {
            child.cpu_ms = timings.cpu_ms;
            child.jobs += 1;
            tracing::debug!(
                load_ms = timings.load_ms,
                work_ms = timings.work_ms,
                jobs = child.jobs,
                elapsed_ms = ms(started),
                "videos scored in the slot's child"
            );
            // Most recently used last; the oldest make room.
            while slot.len() >= keep.max(1) {
                slot.remove(0);
            }
            slot.push(child);
            Ok(scores)
        }
        Ok(_) => Err(protocol_error("answered without a complete line")),
        Err(e) => {
            tracing::warn!(
                code = e.code,
                elapsed_ms = ms(started),
                stderr = %tail_lines(&child.stderr_text(), 20),
                "scoring child failed"
            );
            // The child ends with the failure (an error answer means it exits; kill to be sure).
            let _ = child.child.kill().await;
            Err(e)
        }
    }
}

/// Puts `from` at `to` (a hard link, else a copy), replacing what was there.
async fn link_into(from: &Path, to: &Path) -> Result<(), JobError> {
    let _ = tokio::fs::remove_file(to).await;
    if tokio::fs::hard_link(from, to).await.is_ok() {
        return Ok(());
    }
    tokio::fs::copy(from, to)
        .await
        .map(drop)
        .map_err(|e| JobError::infra("scratch", format!("staging {}: {e}", from.display())))
}

/// Runs a new detector's upload checks ([`crate::checks::check_detector`]) in a child, so a model
/// that crashes onnxruntime or blows the memory limit takes down the child, not the caller.
/// Client errors are the checks' own (`permanent`), plus the limit failures [`blames_upload`] names.
#[tracing::instrument(skip_all, err)]
pub async fn check_detector(
    config: &SandboxConfig,
    model: &Path,
    manifest: &Manifest,
    time_limit: Duration,
    work_dir: &Path,
) -> Result<CheckReport, JobError> {
    let task = CheckTask {
        model: absolute(model),
        manifest: manifest.clone(),
        time_limit_ms: u64::try_from(time_limit.as_millis()).unwrap_or(u64::MAX),
    };
    let (_, _, output) = run(config, Task::Check(task), work_dir).await?;
    let Output::Checked(c) = output else {
        return Err(protocol_error(
            "answered a check request with something else",
        ));
    };
    if c.scores.iter().any(|p| !p.is_finite()) {
        return Err(protocol_error("answered with non-finite probe scores"));
    }
    Ok(CheckReport {
        scores: c.scores,
        batch_sizes: c.batch_sizes,
        max_diff: c.max_diff,
        execution_provider: c.execution_provider,
        elapsed: Duration::from_millis(c.elapsed_ms),
    })
}

/// Probes an uploaded video ([`crate::media::probe_video`]) in a child, so a file that crashes
/// FFmpeg's demuxer costs the child, not the caller (the web server). `work_dir` is the child's
/// working directory; `test_faults` is for tests only ([`ProbeTask::test_faults`]).
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn probe(
    config: &SandboxConfig,
    video: &Path,
    limits: &ProbeLimits,
    test_faults: bool,
    work_dir: &Path,
) -> Result<ProbeFacts, JobError> {
    let task = ProbeTask {
        video: absolute(video),
        limits: limits.clone(),
        test_faults,
    };
    match run(config, Task::Probe(task), work_dir).await?.2 {
        Output::Probed(facts) => Ok(facts),
        _ => Err(protocol_error(
            "answered a probe request with something else",
        )),
    }
}

/// Inspects an uploaded ONNX model ([`crate::onnx_model::inspect_model`]) in a child, so a file
/// that crashes or exhausts the protobuf parser costs the child, not the caller (the web server).
/// A file over `max_bytes` is refused (`model_too_large`) unread; `test_faults` is for tests only
/// ([`InspectTask::test_faults`]).
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn inspect(
    config: &SandboxConfig,
    model: &Path,
    max_bytes: u64,
    test_faults: bool,
    work_dir: &Path,
) -> Result<ModelInfo, JobError> {
    let task = InspectTask {
        model: absolute(model),
        max_bytes,
        test_faults,
    };
    match run(config, Task::Inspect(task), work_dir).await?.2 {
        Output::Inspected(info) => Ok(info),
        _ => Err(protocol_error(
            "answered an inspect request with something else",
        )),
    }
}

/// Lists and inflates a creation zip ([`crate::archive::extract_zip_from`]) in a child, into
/// `work_dir` (its job folder; one `entry-<n>` file per entry), so the zip and deflate parsers
/// never run on a team's bytes in the caller (the web server). The answer is checked against
/// what the child left: plain files of the stated sizes, together within the cap.
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn unzip(
    config: &SandboxConfig,
    archive: &Path,
    limits: &ArchiveLimits,
    work_dir: &Path,
) -> Result<Vec<(String, PathBuf)>, JobError> {
    let work_dir = absolute(work_dir);
    let task = UnzipTask {
        archive: absolute(archive),
        out_dir: work_dir.clone(),
        limits: *limits,
    };
    let Output::Unzipped { entries } = run(config, Task::Unzip(task), &work_dir).await?.2 else {
        return Err(protocol_error(
            "answered an unzip request with something else",
        ));
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut total = 0u64;
    for (i, entry) in entries.into_iter().enumerate() {
        let path = work_dir.join(&entry.file);
        let plain = entry.file == format!("entry-{i}")
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == entry.len)
            && crate::archive::safe_entry_name(&format!("{}.mp4", entry.task)).is_some();
        total = total.saturating_add(entry.len);
        if !plain || total > limits.max_total_bytes || i >= limits.max_entries {
            return Err(protocol_error(
                "answered with entries that do not match its files",
            ));
        }
        out.push((entry.task, path));
    }
    if out.is_empty() {
        return Err(protocol_error("answered an unzip request with no entry"));
    }
    Ok(out)
}

/// Runs a [`SelftestTask`] in a child confined as a job's child in `work_dir` is: what it could
/// and could not do.
pub async fn selftest(
    config: &SandboxConfig,
    task: SelftestTask,
    work_dir: &Path,
) -> Result<(Isolation, Vec<Attempt>), JobError> {
    match run(config, Task::Selftest(task), work_dir).await? {
        (isolation, _, Output::Selftested { attempts }) => Ok((isolation, attempts)),
        _ => Err(protocol_error(
            "answered a selftest request with something else",
        )),
    }
}

/// Runs one task in a child under `config`'s limits and judges how it ended.
pub async fn run(
    config: &SandboxConfig,
    task: Task,
    work_dir: &Path,
) -> Result<(Isolation, Timings, Output), JobError> {
    let limits = config.limits_for(&task);
    let label = match &task {
        Task::Prepare(_) => "prepare",
        Task::Score(_) => "score",
        Task::Check(_) => "check",
        Task::Probe(_) => "probe",
        Task::Inspect(_) => "inspect",
        Task::Unzip(_) => "unzip",
        Task::Selftest(_) => "selftest",
    };
    metrics::counter!(crate::fleet::CHILD_STARTS, "task" => label).increment(1);
    let request = Request {
        version: PROTOCOL_VERSION,
        ort_lib: config.ort_lib.clone(),
        session: child_session(&config.session),
        confine: config.confine,
        task,
    };
    let body = serde_json::to_vec(&request).map_err(|e| JobError::infra(PROTOCOL, e))?;
    let started = Instant::now();
    let exit = run_child(config, &limits, &body, &absolute(work_dir)).await?;
    let verdict = judge(&limits, config.timeout, &exit);
    let tail = tail_lines(&exit.stderr, 20);
    match &verdict {
        Ok((isolation, _, _)) => {
            tracing::debug!(elapsed_ms = ms(started), stderr = %tail, "evaluation child done");
            warn_once_if_exposed(isolation);
        }
        Err(e) => tracing::warn!(
            code = e.code,
            elapsed_ms = ms(started),
            stderr = %tail,
            "evaluation child failed"
        ),
    }
    verdict
}

/// How a child ended, as the worker saw it.
#[derive(Debug, Default)]
struct ChildExit {
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: String,
}

async fn run_child(
    config: &SandboxConfig,
    limits: &Limits,
    body: &[u8],
    work_dir: &Path,
) -> Result<ChildExit, JobError> {
    let mut cmd = Command::new(&config.bin);
    cmd.args(limits.to_args())
        .current_dir(work_dir)
        .env_clear()
        .envs(kept_env())
        // glibc reserves 64 MiB of address space per malloc arena and thread; a few arenas keep
        // RLIMIT_AS about the memory actually used.
        .env("MALLOC_ARENA_MAX", "2")
        // onnxruntime's telemetry would write a usage database under $HOME (docs/SANDBOX.md).
        .env("ORT_DISABLE_TELEMETRY", "1")
        .envs(gpu_env(config, |k| std::env::var_os(k)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        JobError::infra(
            UNAVAILABLE,
            format!("cannot start {}: {e}", config.bin.display()),
        )
    })?;
    let stdout = tokio::spawn(read_head(child.stdout.take(), STDOUT_CAP));
    let stderr = tokio::spawn(read_tail(child.stderr.take(), STDERR_TAIL));
    let stdin = child.stdin.take();
    let waited = tokio::time::timeout(config.timeout, async {
        if let Some(mut stdin) = stdin {
            // A child that dies before reading is judged by its exit status, not by this write.
            let _ = stdin.write_all(body).await;
        }
        child.wait().await
    })
    .await;
    let mut exit = ChildExit::default();
    match waited {
        Ok(Ok(status)) => {
            exit.code = status.code();
            exit.signal = status.signal();
        }
        Ok(Err(e)) => {
            let _ = child.kill().await;
            return Err(JobError::infra(
                CRASHED,
                format!("waiting for the child: {e}"),
            ));
        }
        Err(_) => {
            exit.timed_out = true;
            if let Err(e) = child.kill().await {
                tracing::error!(error = %e, "could not kill a timed-out evaluation child");
            }
        }
    }
    exit.stdout = drain(stdout).await;
    exit.stderr = String::from_utf8_lossy(&drain(stderr).await).into_owned();
    Ok(exit)
}

async fn drain(task: tokio::task::JoinHandle<Vec<u8>>) -> Vec<u8> {
    let abort = task.abort_handle();
    match tokio::time::timeout(DRAIN_GRACE, task).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => Vec::new(),
        Err(_) => {
            abort.abort();
            Vec::new()
        }
    }
}

/// The first `cap` bytes; the rest is read and dropped so the child never blocks on a full pipe.
async fn read_head<R: AsyncRead + Unpin>(reader: Option<R>, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut reader) = reader else {
        return kept;
    };
    let mut buf = vec![0u8; 16 << 10];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

/// The last `cap` bytes.
async fn read_tail<R: AsyncRead + Unpin>(reader: Option<R>, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut reader) = reader else {
        return kept;
    };
    let mut buf = vec![0u8; 16 << 10];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * cap {
            kept.drain(..kept.len() - cap);
        }
    }
    if kept.len() > cap {
        kept.drain(..kept.len() - cap);
    }
    kept
}

fn kept_env() -> impl Iterator<Item = (OsString, OsString)> {
    std::env::vars_os().filter(|(key, _)| {
        key.to_str().is_some_and(|k| {
            ENV_KEPT.contains(&k) || ENV_PREFIXES_KEPT.iter().any(|p| k.starts_with(p))
        })
    })
}

/// What a CUDA child gets on top of the kept environment: `CUDA_VISIBLE_DEVICES` naming only its
/// slot's device (mapped through the worker's own list, when it has one), and the folder of
/// onnxruntime's library first in `LD_LIBRARY_PATH`, where `scripts/bootstrap --gpu` puts the
/// CUDA libraries that the provider and cuDNN open by name. Nothing for a CPU child. `var` reads
/// the worker's environment.
pub fn gpu_env(
    config: &SandboxConfig,
    var: impl Fn(&str) -> Option<OsString>,
) -> Vec<(OsString, OsString)> {
    if config.session.execution_provider != crate::ExecutionProvider::Cuda {
        return Vec::new();
    }
    let device = config.session.cuda.device_id;
    let inherited = var("CUDA_VISIBLE_DEVICES").map(|v| v.to_string_lossy().into_owned());
    let visible = inherited
        .as_deref()
        .and_then(|list| list.split(',').map(str::trim).nth(device as usize))
        .map_or_else(|| device.to_string(), str::to_owned);
    let mut env = vec![("CUDA_VISIBLE_DEVICES".into(), visible.into())];
    if let Some(dir) = config.ort_lib.parent().filter(|d| d.is_absolute()) {
        let mut path = dir.as_os_str().to_owned();
        if let Some(old) = var("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
            path.push(":");
            path.push(old);
        }
        env.push(("LD_LIBRARY_PATH".into(), path));
    }
    env
}

/// The session options sent to a child: on CUDA it sees only its device, as ordinal 0.
fn child_session(session: &SessionOptions) -> SessionOptions {
    let mut session = session.clone();
    if session.execution_provider == crate::ExecutionProvider::Cuda {
        session.cuda.device_id = 0;
    }
    session
}

/// Messages of a failed allocation: Rust's abort, glibc and FFmpeg (ENOMEM), the dynamic loader
/// (an mmap refused under RLIMIT_AS), C++ and onnxruntime.
const ALLOCATION_FAILURES: &[&str] = &[
    "memory allocation of",
    "cannot allocate memory",
    "failed to map segment",
    "bad_alloc",
    "bad allocation",
    "failed to allocate memory",
    "available memory of",
    "out of memory",
];

fn looks_like_oom(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    ALLOCATION_FAILURES.iter().any(|m| text.contains(m))
}

fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(s) => format!("signal {signal} ({})", s.as_str()),
        Err(_) => format!("signal {signal}"),
    }
}

/// A failure the child's limits or death explain; retried like infrastructure failures.
fn failure(code: &'static str, message: String) -> JobError {
    JobError {
        code,
        message,
        permanent: false,
    }
}

fn protocol_error(what: &str) -> JobError {
    failure(PROTOCOL, format!("the evaluation child {what}"))
}

/// Maps how the child ended to its result or a [`JobError`] naming the reason.
fn judge(
    limits: &Limits,
    timeout: Duration,
    exit: &ChildExit,
) -> Result<(Isolation, Timings, Output), JobError> {
    if exit.timed_out {
        let message = format!(
            "evaluation child timed out after {} s and was killed",
            timeout.as_secs()
        );
        return Err(failure(TIMEOUT, message));
    }
    let memory = |detail: String| {
        let message = format!(
            "evaluation child exceeded its memory limit of {} MiB ({detail})",
            limits.memory_mb
        );
        failure(MEMORY_LIMIT, message)
    };
    let oom = limits.memory_mb > 0 && looks_like_oom(&exit.stderr);
    match (parse_response(&exit.stdout), exit.code, exit.signal) {
        // An answer followed by a crash on the way out still counts (it is complete and checked).
        (
            Some(Response::Ok {
                isolation,
                timings,
                output,
            }),
            Some(0) | None,
            _,
        ) => {
            if let Some(signal) = exit.signal {
                tracing::warn!(signal = %signal_name(signal), "evaluation child crashed after answering");
            }
            Ok((isolation, timings, output))
        }
        (Some(Response::Error { error, .. }), _, _) => {
            if limits.memory_mb > 0 && (oom || looks_like_oom(&error.message)) {
                return Err(memory(truncate(&error.message, 300)));
            }
            Err(JobError {
                code: intern_code(&error.code),
                message: error.message,
                permanent: error.client_error,
            })
        }
        (_, _, Some(signal)) => {
            let how = format!("killed by {}", signal_name(signal));
            Err(match Signal::try_from(signal) {
                Ok(Signal::SIGXCPU) => failure(
                    CPU_LIMIT,
                    format!(
                        "evaluation child exceeded its CPU-time limit of {} s and was {how}",
                        limits.cpu_seconds
                    ),
                ),
                Ok(Signal::SIGXFSZ) => failure(
                    FILE_LIMIT,
                    format!(
                        "evaluation child exceeded its file-size limit of {} MiB and was {how}",
                        limits.file_size_mb
                    ),
                ),
                _ if oom => memory(how),
                Ok(Signal::SIGSYS) => failure(
                    SYSCALL,
                    format!(
                        "evaluation child made a system call its seccomp filter forbids and was \
                         {how}"
                    ),
                ),
                Ok(Signal::SIGKILL) => failure(KILLED, format!("evaluation child {how}")),
                _ => failure(CRASHED, format!("evaluation child {how}")),
            })
        }
        (_, code, None) => {
            let status = code.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
            if oom {
                return Err(memory(format!("exit status {status}")));
            }
            Err(protocol_error(&format!(
                "exited with status {status} without a valid response"
            )))
        }
    }
}

/// The response: the last line of stdout.
fn parse_response(stdout: &[u8]) -> Option<Response> {
    let text = std::str::from_utf8(stdout).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    serde_json::from_str(line).ok()
}

/// Error codes are `&'static str`; a child's code is kept once per distinct value (a bounded set:
/// the pipeline's codes), anything odd becomes `sandbox_error`.
fn intern_code(code: &str) -> &'static str {
    static CODES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let valid = !code.is_empty()
        && code.len() <= 48
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let Ok(mut codes) = CODES.lock() else {
        return "sandbox_error";
    };
    if !valid {
        return "sandbox_error";
    }
    if let Some(known) = codes.get(code) {
        return known;
    }
    if codes.len() >= 256 {
        return "sandbox_error";
    }
    let kept: &'static str = Box::leak(code.to_owned().into_boxed_str());
    codes.insert(kept);
    kept
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn warn_once_if_exposed(isolation: &Isolation) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !isolation.network && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            note = isolation.note.as_deref().unwrap_or_default(),
            "evaluation children keep network access: this kernel refused a network namespace"
        );
    }
    static WARNED_CONFINED: AtomicBool = AtomicBool::new(false);
    let confined = isolation.landlock && isolation.seccomp;
    if !confined && !WARNED_CONFINED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            landlock = isolation.landlock,
            seccomp = isolation.seccomp,
            note = isolation.note.as_deref().unwrap_or_default(),
            "evaluation children are not fully confined: this kernel lacks Landlock or seccomp"
        );
    }
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
