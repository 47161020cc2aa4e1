//! Long-lived children ([`ServingChild`]): a worker slot's scoring children ([`score_serving`])
//! and decode children ([`prepare_serving`]), and the web server's probe children, one per
//! uploading team ([`ProbeChildren`]).

use super::config::{DRAIN_GRACE, STDERR_TAIL, STDOUT_CAP, SandboxConfig, absolute};
use super::handoff;
use super::judge::ChildExit;
use super::judge::{judge, ms, protocol_error, tail_lines, warn_once_if_exposed};
use super::protocol::{
    CheckTask, Limits, Output, PROTOCOL_VERSION, PrepareTask, ProbeTask, Request,
    SERVE_CPU_BUDGETS, SERVE_FLAG, ScoreInput, ScoreTask, ScoredVideo, Task,
};
use super::spawn::{ChildIn, ChildOut, SandboxChild, child_session, spawn_child};
use super::tasks::{check_report, checked_caches, scores_for};
use crate::checks::CheckReport;
use crate::job_error::{CRASHED, JobError, PROTOCOL};
use crate::manifest::Manifest;
use crate::media::{ProbeFacts, ProbeLimits};
use crate::prepare::{PreparePlan, PreparedCaches};
use nix::sys::signal::Signal;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

/// A worker slot's scoring child: a [`ServingChild`] keyed by its detector.
pub type ScoreChild = ServingChild;

/// A worker slot's long-lived child (`arena-sandbox --serve`). A scoring child holds the session
/// of one detector (its `key`) between score jobs; a decode child holds onnxruntime and the face
/// model between the videos of one team (its key names the team). The per-job cost of starting
/// a process, loading onnxruntime and building the session is paid once per (slot, key) instead
/// of per job. Dropping it kills the child.
pub struct ServingChild {
    key: String,
    child: SandboxChild,
    stdin: ChildIn,
    stdout: BufReader<ChildOut>,
    stderr: Arc<Mutex<Vec<u8>>>,
    limits: Limits,
    cpu_ms: u64,
    jobs: u64,
    /// The child's own folder, its working directory and all it may read (Landlock): each job's
    /// inputs are linked in for the job. Removed after the child is killed (fields drop in order).
    dir: tempfile::TempDir,
}

impl ServingChild {
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

    async fn spawn(
        config: &SandboxConfig,
        key: &str,
        limits: Limits,
        cwd: &Path,
    ) -> Result<ServingChild, JobError> {
        let dir = tempfile::Builder::new()
            .prefix("serve-")
            .tempdir_in(absolute(cwd))
            .map_err(|e| JobError::infra("scratch", e))?;
        let mut child = spawn_child(config, &[SERVE_FLAG], &limits, dir.path()).await?;
        let (Some(stdin), Some(stdout), Some(err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(JobError::infra(CRASHED, "the child has no pipes"));
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(keep_tail(err, Arc::clone(&stderr)));
        Ok(ServingChild {
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

pub(super) async fn keep_tail<R: AsyncRead + Unpin>(mut reader: R, kept: Arc<Mutex<Vec<u8>>>) {
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

/// Scores like [`score`](super::score), in one of the slot's long-lived children: the one serving
/// this detector (`key`) when it is still running and has CPU budget left, else a new one started
/// with `cwd` as its folder. The slot keeps at most `keep` children, the least recently used is
/// ended first. Any failure ends the child that failed (the next job of its detector starts a fresh
/// one); its reason is judged as for a per-job child.
///
/// `stage_model` puts the model file at `model`; it runs only when a new child has to load the
/// session (a child serving `key` already holds it and never reads the file again), so a job
/// of a served detector costs no model download.
#[tracing::instrument(skip_all, fields(videos = videos.len()), err)]
#[expect(
    clippy::too_many_arguments,
    reason = "the slot, its key, the model stager and the job's inputs are all distinct"
)]
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
    let mut child = match take_kept(slot, key) {
        Some(c) => c,
        None => {
            metrics::counter!(crate::child_metrics::CHILD_STARTS, "task" => "score").increment(1);
            stage_model().await?;
            let child = ServingChild::spawn(config, key, config.score_limits(), cwd).await?;
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
    let task = Task::Score(ScoreTask {
        model: child.dir.path().join("model.onnx"),
        key: Some(key.to_owned()),
        manifest: manifest.clone(),
        videos: linked.clone(),
    });
    let answer = exchange(
        &mut child,
        config,
        task,
        "videos scored in the slot's child",
    )
    .await;
    for input in &linked {
        let _ = tokio::fs::remove_file(&input.images).await;
    }
    // A failure ends the child (dropped here: it is killed); the next job starts a fresh one.
    let scores = scores_for(&mut wanted, answer?)?;
    keep_child(slot, keep, child);
    Ok(scores)
}

/// Runs a new detector's upload checks as [`check_detector`](super::check_detector) does, in a
/// fresh scoring child of the slot keyed as the detector's score jobs are (`key`): when the
/// checks pass, the child is kept with the session that passed them, and the detector's next
/// score job in this slot is answered by it without starting a process or building the session
/// again. A kept child of `key` (an earlier try of this check) is ended first; a failure ends the
/// new one. `config.timeout` bounds the whole request (start, session, probe runs), `time_limit`
/// the probe runs alone.
#[tracing::instrument(skip_all, err)]
#[expect(
    clippy::too_many_arguments,
    reason = "the slot, its key and the check's inputs are all distinct"
)]
pub async fn check_serving(
    slot: &mut Vec<ScoreChild>,
    keep: usize,
    config: &SandboxConfig,
    key: &str,
    model: &Path,
    manifest: &Manifest,
    time_limit: Duration,
    cwd: &Path,
) -> Result<CheckReport, JobError> {
    slot.retain(|c| c.key != key);
    metrics::counter!(crate::child_metrics::CHILD_STARTS, "task" => "check").increment(1);
    let mut child = ServingChild::spawn(config, key, config.score_limits(), cwd).await?;
    let staged = child.dir.path().join("model.onnx");
    link_into(model, &staged).await?;
    let task = Task::Check(CheckTask {
        model: staged,
        manifest: manifest.clone(),
        time_limit_ms: u64::try_from(time_limit.as_millis()).unwrap_or(u64::MAX),
        key: Some(key.to_owned()),
    });
    let done = "detector checked in the slot's child";
    let report = check_report(exchange(&mut child, config, task, done).await?)?;
    keep_child(slot, keep, child);
    Ok(report)
}

/// The slot's child of `key`, when it kept one that can take another job. A kept child that
/// cannot is ended here (dropped: killed) and counted as a restart, so a key never has two.
fn take_kept(kept: &mut Vec<ServingChild>, key: &str) -> Option<ServingChild> {
    let mut held = kept
        .iter()
        .position(|c| c.key == key)
        .map(|i| kept.remove(i))?;
    if held.fits(key) {
        return Some(held);
    }
    metrics::counter!(crate::child_metrics::CHILD_RESTARTS).increment(1);
    None
}

/// Keeps `child` in the slot as the most recently used (last); the least recently used beyond
/// `keep` end (dropped: killed), as does another child of its key (two requests of one key ran
/// at once, each in its own child; the newer is kept).
fn keep_child(kept: &mut Vec<ServingChild>, keep: usize, child: ServingChild) {
    kept.retain(|c| c.key != child.key);
    let keep = keep.max(1);
    if kept.len() >= keep {
        kept.drain(..=kept.len() - keep);
    }
    kept.push(child);
}

/// Sends one request to a serving child and judges its answer as a per-job child's is judged.
/// On success the child's CPU use and job count are updated and `done` is logged (with the
/// child's load and work times); on failure it is killed.
async fn exchange(
    child: &mut ServingChild,
    config: &SandboxConfig,
    task: Task,
    done: &str,
) -> Result<Output, JobError> {
    let request = Request {
        version: PROTOCOL_VERSION,
        ort_lib: config.ort_lib.clone(),
        session: child_session(&config.session),
        confine: config.confine,
        task,
    };
    let body = serde_json::to_vec(&request).map_err(|e| JobError::infra(PROTOCOL, e))?;
    let started = Instant::now();
    let exit = child.ask(&body, config.timeout).await;
    let answered = exit.code == Some(0) && exit.signal.is_none() && !exit.timed_out;
    let verdict = judge(&child.limits, config.timeout, &exit).and_then(|(isolation, t, output)| {
        warn_once_if_exposed(&isolation);
        if answered {
            Ok((t, output))
        } else {
            Err(protocol_error("answered without a complete line"))
        }
    });
    match verdict {
        Ok((timings, output)) => {
            let request_cpu_ms = timings.cpu_ms.saturating_sub(child.cpu_ms);
            child.cpu_ms = timings.cpu_ms;
            child.jobs += 1;
            tracing::debug!(
                cpu_ms = request_cpu_ms,
                load_ms = timings.load_ms,
                work_ms = timings.work_ms,
                jobs = child.jobs,
                elapsed_ms = ms(started),
                "{done}"
            );
            Ok(output)
        }
        Err(e) => {
            tracing::warn!(
                code = e.code,
                elapsed_ms = ms(started),
                stderr = %tail_lines(&child.stderr_text(), 20),
                "serving child failed: {done}"
            );
            // The child ends with the failure (an error answer means it exits; kill to be sure).
            let _ = child.child.kill().await;
            Err(e)
        }
    }
}

/// Decodes `video` like [`prepare`](super::prepare), in the slot's decode child: the one held for
/// `key` (the video's team) when it is still running and has CPU budget left, else a new one
/// started with `cwd` as its folder (a held child of another key is ended first: a decode child
/// never sees two teams' videos). The video is linked into the child's folder, which the child may
/// only read; it writes its caches into the `out` folder beneath, the only place it may write. Both
/// are removed after the request. Any failure ends the child.
#[tracing::instrument(skip_all, err)]
pub async fn prepare_serving(
    kept: &mut Vec<ServingChild>,
    keep: usize,
    config: &SandboxConfig,
    key: &str,
    video: &Path,
    plan: &PreparePlan,
    cwd: &Path,
) -> Result<PreparedCaches, JobError> {
    let mut child = match take_kept(kept, key) {
        Some(c) => c,
        None => {
            metrics::counter!(crate::child_metrics::CHILD_STARTS, "task" => "prepare").increment(1);
            let child = ServingChild::spawn(config, key, config.prepare_limits(plan), cwd).await?;
            tokio::fs::create_dir(child.dir.path().join("out"))
                .await
                .map_err(|e| JobError::infra("scratch", e))?;
            child
        }
    };
    let dir = child.dir.path().to_owned();
    let input = dir.join(format!("video-{}", child.jobs));
    link_into(video, &input).await?;
    let task = PrepareTask {
        video: input.clone(),
        plan: *plan,
        face_model: config.face_model.clone(),
        faces_out: dir.join("out").join("faces.bin"),
        frames_out: dir.join("out").join("frames.bin"),
    };
    let (faces_out, frames_out) = (task.faces_out.clone(), task.frames_out.clone());
    let answer = exchange(
        &mut child,
        config,
        Task::Prepare(task),
        "video prepared in the slot's decode child",
    )
    .await;
    let _ = tokio::fs::remove_file(&input).await;
    let caches = match answer {
        Ok(output) => {
            // Out of the live child's reach when it holds nothing of them (handoff.rs).
            let files = vec![faces_out.clone(), frames_out.clone()];
            let handed = handoff::take(files, child.pid(), cwd.to_owned()).await;
            checked_caches(output, &faces_out, &frames_out, plan, handed).await
        }
        Err(e) => Err(e),
    };
    for out in [&faces_out, &frames_out] {
        let _ = tokio::fs::remove_file(out).await;
    }
    // A failure ends the child (dropped here: it is killed).
    let caches = caches?;
    keep_child(kept, keep, child);
    Ok(caches)
}

/// The web server's probe children: an uploaded video is probed in the child kept for its team
/// (an `arena-sandbox --serve` that answers probe requests only, confined to its own folder,
/// which it may only read) instead of a child started per upload, so a team's later uploads do
/// not pay a process start each (~23 ms of CPU forked from the fork server, ~40 ms exec'd: the
/// loader, the namespaces, Landlock and seccomp, and the first probe's cold caches). A child
/// never sees two teams' uploads; one that fails a probe (a crash, a limit, a refused file)
/// ends, and the team's next upload gets a fresh one. At most `keep` children are kept, the
/// least recently used ends first; dropping this ends them all.
pub struct ProbeChildren {
    kept: Mutex<Vec<ServingChild>>,
    keep: usize,
}

impl ProbeChildren {
    pub fn new(keep: usize) -> ProbeChildren {
        ProbeChildren {
            kept: Mutex::new(Vec::new()),
            keep: keep.max(1),
        }
    }

    /// Children kept now.
    pub fn len(&self) -> usize {
        self.kept.lock().map_or(0, |k| k.len())
    }

    /// The kept children's process ids, least recently used first.
    pub fn pids(&self) -> Vec<u32> {
        self.kept
            .lock()
            .map(|k| k.iter().filter_map(ServingChild::pid).collect())
            .unwrap_or_default()
    }

    /// Whether no child is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Probes `video` ([`crate::media::probe_video`]) in the child kept for `key` (the uploading
    /// team), else in a new one started with its folder in `cwd`. The video is linked into the
    /// child's folder for the request and removed after it.
    #[tracing::instrument(skip_all, err(level = "info"))]
    pub async fn probe(
        &self,
        config: &SandboxConfig,
        key: &str,
        video: &Path,
        limits: &ProbeLimits,
        test_faults: bool,
        cwd: &Path,
    ) -> Result<ProbeFacts, JobError> {
        let held = match self.kept.lock() {
            Ok(mut kept) => take_kept(&mut kept, key),
            Err(_) => None,
        };
        let mut child = match held {
            Some(c) => c,
            None => {
                metrics::counter!(crate::child_metrics::CHILD_STARTS, "task" => "probe")
                    .increment(1);
                ServingChild::spawn(config, key, config.limits(1), cwd).await?
            }
        };
        let input = child.dir.path().join(format!("video-{}", child.jobs));
        link_into(video, &input).await?;
        let task = Task::Probe(ProbeTask {
            video: input.clone(),
            limits: limits.clone(),
            test_faults,
        });
        let answer = exchange(
            &mut child,
            config,
            task,
            "video probed in a kept probe child",
        )
        .await;
        let _ = tokio::fs::remove_file(&input).await;
        // A failure ends the child (dropped here: it is killed).
        let Output::Probed(facts) = answer? else {
            return Err(protocol_error(
                "answered a probe request with something else",
            ));
        };
        if let Ok(mut kept) = self.kept.lock() {
            keep_child(&mut kept, self.keep, child);
        }
        Ok(facts)
    }
}

/// Puts `from` at `to` (a hard link, else a copy), replacing what was there.
pub(super) async fn link_into(from: &Path, to: &Path) -> Result<(), JobError> {
    let _ = tokio::fs::remove_file(to).await;
    if tokio::fs::hard_link(from, to).await.is_ok() {
        return Ok(());
    }
    tokio::fs::copy(from, to)
        .await
        .map(drop)
        .map_err(|e| JobError::infra("scratch", format!("staging {}: {e}", from.display())))
}
