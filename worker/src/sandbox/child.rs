//! The `arena-sandbox` side: limit and isolate this process first, then read one request, do it
//! with the pipeline's own blocking functions, and answer on a private copy of stdout.

use std::fs::File;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::Signal;

use super::protocol::{
    CheckOutcome, CheckTask, ChildError, EXIT_BAD_REQUEST, EXIT_JOB_ERROR, EXIT_OK, Isolation,
    Limits, Output, PROTOCOL_VERSION, PrepareTask, Request, Response, ScoreTask, ScoredVideo, Task,
    Timings,
};
use crate::checks::{self, CheckOptions};
use crate::crops::Crops;
use crate::detector::{Detector, OrtRuntime, SessionOptions};
use crate::faces::FaceDetector;
use crate::pipeline::{self, JobError};

/// The request is small (paths and a manifest); anything bigger is not from the worker.
const MAX_REQUEST_BYTES: u64 = 1 << 20;
const MIB: u64 = 1 << 20;

/// Runs the child: `args` are the [`Limits`] arguments, the request comes on stdin.
pub fn main(args: impl IntoIterator<Item = String>) -> ExitCode {
    // Libraries (ffmpeg, onnxruntime) may print: only the response goes to the real stdout.
    let mut out = match private_stdout() {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(error = %e, "cannot set up the response channel");
            return ExitCode::from(EXIT_BAD_REQUEST);
        }
    };
    // A child whose worker died must not run on: the kernel kills it with its parent.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        tracing::warn!(error = %e, "cannot ask to die with the worker");
    }
    let (response, code) = run(args);
    let written = serde_json::to_writer(&mut out, &response)
        .map_err(std::io::Error::other)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        tracing::error!(error = %e, "cannot write the response");
    }
    ExitCode::from(code)
}

fn run(args: impl IntoIterator<Item = String>) -> (Response, u8) {
    let limits = match Limits::from_args(args) {
        Ok(l) => l,
        Err(e) => return bad_request(None, format!("bad arguments: {e}")),
    };
    if let Err(e) = apply_limits(&limits) {
        // Never run an upload without its limits.
        return bad_request(None, format!("cannot apply the resource limits: {e}"));
    }
    let isolation = isolate();
    let request = match read_request() {
        Ok(r) => r,
        Err(e) => return bad_request(Some(isolation), e),
    };
    if request.version != PROTOCOL_VERSION {
        let message = format!(
            "this arena-sandbox speaks protocol {PROTOCOL_VERSION}, the worker {}: rebuild both \
             (cargo build --bins)",
            request.version
        );
        return bad_request(Some(isolation), message);
    }
    match handle(&request) {
        Ok((timings, output)) => (
            Response::Ok {
                isolation,
                timings,
                output,
            },
            EXIT_OK,
        ),
        Err(e) => (
            Response::Error {
                isolation: Some(isolation),
                error: ChildError {
                    code: e.code.to_owned(),
                    message: e.message,
                    client_error: e.permanent,
                },
            },
            EXIT_JOB_ERROR,
        ),
    }
}

fn bad_request(isolation: Option<Isolation>, message: String) -> (Response, u8) {
    tracing::error!(%message, "bad sandbox request");
    let error = ChildError {
        code: "sandbox_bad_request".to_owned(),
        message,
        client_error: false,
    };
    (Response::Error { isolation, error }, EXIT_BAD_REQUEST)
}

/// A copy of stdout for the response; stdout itself then points at stderr.
fn private_stdout() -> nix::Result<File> {
    let saved = nix::unistd::dup(std::io::stdout())?;
    nix::unistd::dup2_stdout(std::io::stderr())?;
    Ok(File::from(saved))
}

/// Sets this process's rlimits (soft and hard, so they cannot be raised again without privilege).
pub fn apply_limits(limits: &Limits) -> nix::Result<()> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    if limits.memory_mb > 0 {
        let bytes = limits.memory_mb.saturating_mul(MIB);
        setrlimit(Resource::RLIMIT_AS, bytes, bytes)?;
    }
    // SIGXCPU at the soft limit; SIGKILL at the hard one should SIGXCPU be caught.
    let cpu = limits.cpu_seconds.max(1);
    setrlimit(Resource::RLIMIT_CPU, cpu, cpu.saturating_add(2))?;
    setrlimit(
        Resource::RLIMIT_NOFILE,
        limits.open_files,
        limits.open_files,
    )?;
    let fsize = limits.file_size_mb.saturating_mul(MIB);
    setrlimit(Resource::RLIMIT_FSIZE, fsize, fsize)?;
    Ok(())
}

/// Drops what the work does not need: new privileges, the network, and (with a user namespace)
/// the host capabilities a root worker would pass on. Logs and carries on where the kernel refuses.
/// Must run while the process is single-threaded (a new user namespace requires it).
pub fn isolate() -> Isolation {
    let mut isolation = Isolation::default();
    let mut notes = Vec::new();
    match nix::sys::prctl::set_no_new_privs() {
        Ok(()) => isolation.no_new_privs = true,
        Err(e) => notes.push(format!("PR_SET_NO_NEW_PRIVS: {e}")),
    }
    match unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET) {
        Ok(()) => {
            isolation.network = true;
            isolation.user_namespace = true;
        }
        Err(user_err) => {
            notes.push(format!("unshare(CLONE_NEWUSER): {user_err}"));
            match unshare(CloneFlags::CLONE_NEWNET) {
                Ok(()) => isolation.network = true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot drop network access; continuing with it");
                    notes.push(format!("unshare(CLONE_NEWNET): {e}"));
                }
            }
        }
    }
    if !notes.is_empty() {
        isolation.note = Some(notes.join("; "));
    }
    isolation
}

fn read_request() -> Result<Request, String> {
    let mut text = Vec::new();
    std::io::stdin()
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read the request: {e}"))?;
    if text.len() as u64 > MAX_REQUEST_BYTES {
        return Err(format!("the request is over {MAX_REQUEST_BYTES} bytes"));
    }
    serde_json::from_slice(&text).map_err(|e| format!("invalid request: {e}"))
}

fn handle(request: &Request) -> Result<(Timings, Output), JobError> {
    let started = Instant::now();
    let rt = OrtRuntime::init(&request.ort_lib)?;
    match &request.task {
        Task::Prepare(task) => prepare(&rt, &request.session, task, started),
        Task::Score(task) => score(&rt, &request.session, task, started),
        Task::Check(task) => check(&rt, &request.session, task, started),
    }
}

fn check(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &CheckTask,
    started: Instant,
) -> Result<(Timings, Output), JobError> {
    let model = std::fs::read(&task.model).map_err(|e| io_error("reading the model", e))?;
    let options = CheckOptions {
        session: session.clone(),
        time_limit: Duration::from_millis(task.time_limit_ms),
    };
    let load_ms = since(started);
    let work = Instant::now();
    let report = checks::check_detector(rt, &model, &task.manifest, &options)?;
    let outcome = CheckOutcome {
        scores: report.scores,
        batch_sizes: report.batch_sizes,
        max_diff: report.max_diff,
        execution_provider: report.execution_provider,
        elapsed_ms: u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
    };
    let timings = Timings {
        load_ms,
        work_ms: since(work),
    };
    Ok((timings, Output::Checked(outcome)))
}

fn since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn io_error(what: &str, e: std::io::Error) -> JobError {
    JobError::infra("sandbox_io", format!("{what}: {e}"))
}

fn prepare(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &PrepareTask,
    started: Instant,
) -> Result<(Timings, Output), JobError> {
    let mut faces = FaceDetector::load(rt, &task.face_model, session)?;
    let load_ms = since(started);
    let work = Instant::now();
    let prepared = pipeline::prepare_frames(&task.video, &task.plan, &mut faces)?;
    std::fs::write(&task.faces_out, prepared.faces.encode())
        .map_err(|e| io_error("writing the face crops", e))?;
    std::fs::write(&task.frames_out, prepared.frames.encode())
        .map_err(|e| io_error("writing the frames", e))?;
    let output = Output::Prepared {
        frames: prepared.faces.images.len(),
        face_frames: prepared.faces.face_frames(),
        decodes: crate::media::decode_count(),
    };
    let timings = Timings {
        load_ms,
        work_ms: since(work),
    };
    Ok((timings, output))
}

fn score(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &ScoreTask,
    started: Instant,
) -> Result<(Timings, Output), JobError> {
    let model = std::fs::read(&task.model).map_err(|e| io_error("reading the model", e))?;
    let mut detector = Detector::load(rt, &model, task.manifest.clone(), session)?;
    drop(model);
    let load_ms = since(started);
    let work = Instant::now();
    let mut scores = Vec::with_capacity(task.videos.len());
    for input in &task.videos {
        let bytes =
            std::fs::read(&input.images).map_err(|e| io_error("reading cached images", e))?;
        let images = Crops::decode(&bytes).map_err(|e| JobError::infra("corrupt_crops", e))?;
        drop(bytes);
        scores.push(ScoredVideo {
            video_id: input.video_id,
            score: pipeline::score_images(&mut detector, &images)?,
        });
    }
    let timings = Timings {
        load_ms,
        work_ms: since(work),
    };
    Ok((timings, Output::Scored { scores }))
}
