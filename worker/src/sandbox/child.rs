//! The `arena-sandbox` side: limit and isolate this process first, then read one request, do it
//! with the pipeline's own blocking functions ([`work`]), and answer on a private copy of
//! stdout; or, with `--serve`, answer a worker slot's requests one per line ([`serving`]).

mod serving;
mod work;

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, UsageWho, getrusage, setrlimit};
use nix::sys::signal::Signal;

use super::confine::{self, Access};
use super::protocol::{
    ABORT_MARKER, Attempt, CheckOutcome, CheckTask, ChildError, EXIT_BAD_REQUEST, EXIT_JOB_ERROR,
    EXIT_OK, InspectTask, Isolation, Limits, Output, PROTOCOL_VERSION, PrepareTask, ProbeTask,
    Request, Response, SERVE_CPU_BUDGETS, SERVE_FLAG, ScoreTask, ScoredVideo, SelftestTask, Task,
    Timings, UnzipTask,
};
use crate::checks::{self, CheckOptions};
use crate::crops::Crops;
use crate::detector::{Detector, ExecutionProvider, OrtRuntime, SessionOptions};
use crate::faces::FaceDetector;
use crate::job_error::JobError;
use crate::{prepare, scoring};

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
    let mut args: Vec<String> = args.into_iter().collect();
    if args.first().map(String::as_str) == Some(SERVE_FLAG) {
        args.remove(0);
        return ExitCode::from(serving::serve(args, &mut out));
    }
    let (response, code) = run(args);
    answer(&mut out, &response);
    ExitCode::from(code)
}

fn answer(out: &mut File, response: &Response) -> bool {
    let written = serde_json::to_writer(&mut *out, response)
        .map_err(std::io::Error::other)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = &written {
        tracing::error!(error = %e, "cannot write the response");
    }
    written.is_ok()
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
    let mut isolation = isolate();
    let request = match read_request() {
        Ok(r) => r,
        Err(e) => return bad_request(Some(isolation), e),
    };
    // The request is the worker's (trusted); the upload it names is read only from here on.
    if request.confine {
        confine::confine(&access_for(&request), &mut isolation);
    }
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

/// What a request's work may open: its inputs, its job folder (the working directory) for
/// outputs, and onnxruntime's folder.
fn access_for(request: &Request) -> Access {
    let mut access = Access {
        cuda: request.session.execution_provider == ExecutionProvider::Cuda,
        ..Access::default()
    };
    let uses_ort = !matches!(
        request.task,
        Task::Probe(_) | Task::Inspect(_) | Task::Unzip(_) | Task::Selftest(_)
    );
    if uses_ort {
        access.read_folder_of(&request.ort_lib);
        if request
            .ort_lib
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty())
        {
            // A bare library name: the loader searches LD_LIBRARY_PATH.
            let dirs = std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default();
            access.read.extend(std::env::split_paths(&dirs));
        }
    }
    match &request.task {
        Task::Prepare(t) => {
            access.read.extend([t.video.clone(), t.face_model.clone()]);
            for out in [&t.faces_out, &t.frames_out] {
                access.write.extend(out.parent().map(Path::to_path_buf));
            }
        }
        Task::Score(t) => {
            access.read.push(t.model.clone());
            access
                .read
                .extend(t.videos.iter().map(|v| v.images.clone()));
        }
        Task::Check(t) => access.read.push(t.model.clone()),
        Task::Probe(t) => access.read.push(t.video.clone()),
        Task::Inspect(t) => access.read.push(t.model.clone()),
        Task::Unzip(t) => {
            access.read.push(t.archive.clone());
            access.write.push(t.out_dir.clone());
        }
        // Its job folder, as a prepare child has it.
        Task::Selftest(_) => access.write.extend(std::env::current_dir().ok()),
    }
    access
}

fn handle(request: &Request) -> Result<(Timings, Output), JobError> {
    use work::{check, inspect, prepare, probe, score, selftest, unzip};
    let started = Instant::now();
    let rt = match &request.task {
        Task::Probe(task) => return probe(task, started),
        Task::Inspect(task) => return inspect(task, started),
        Task::Unzip(task) => return unzip(task, started),
        Task::Selftest(task) => return Ok((Timings::default(), selftest(task))),
        _ => OrtRuntime::init(&request.ort_lib)?,
    };
    match &request.task {
        Task::Prepare(task) => prepare(&rt, &request.session, task, started),
        Task::Score(task) => score(&rt, &request.session, task, started),
        Task::Check(task) => check(&rt, &request.session, task, started),
        Task::Probe(_) | Task::Inspect(_) | Task::Unzip(_) | Task::Selftest(_) => {
            Err(JobError::infra("sandbox_bad_request", "handled above"))
        }
    }
}

/// CPU time this process has used (user + system), in milliseconds.
fn cpu_used_ms() -> u64 {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return 0;
    };
    let ms = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1000
            + u64::try_from(t.tv_usec()).unwrap_or(0) / 1000
    };
    ms(usage.user_time()) + ms(usage.system_time())
}

fn since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn io_error(what: &str, e: std::io::Error) -> JobError {
    JobError::infra("sandbox_io", format!("{what}: {e}"))
}
