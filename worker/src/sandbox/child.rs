//! The `arena-sandbox` side: limit and isolate this process first, then read one request, do it
//! with the pipeline's own blocking functions ([`work`]), and answer on a private copy of
//! stdout; or, with `--serve`, answer a worker slot's requests one per line ([`serving`]).

mod common;
mod fork_server;
mod preload;
mod serving;
mod work;

use common::{MAX_REQUEST_BYTES, access_for, answer, bad_request};
pub use common::{apply_limits, isolate};

use std::fs::File;
use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use nix::sys::signal::Signal;

use super::confine;
use super::fork::FORK_SERVER_FLAG;
use super::protocol::{
    ChildError, EXIT_BAD_REQUEST, EXIT_JOB_ERROR, EXIT_OK, Limits, Output, PROTOCOL_VERSION,
    Request, Response, SERVE_FLAG, Task, Timings,
};
use crate::detector::OrtRuntime;
use crate::job_error::JobError;

/// Runs the child: `args` are the [`Limits`] arguments, the request comes on stdin; or, with
/// [`FORK_SERVER_FLAG`], the fork server that forks children which run [`main_code`].
pub fn main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args: Vec<String> = args.into_iter().collect();
    if args.first().map(String::as_str) == Some(FORK_SERVER_FLAG) {
        return ExitCode::from(fork_server::serve(main_code, &args[1..]));
    }
    ExitCode::from(main_code(args))
}

/// An evaluation child's work and its exit code (exec'd: `arena-sandbox <args>`; forked: the
/// same, in the fork server's child).
fn main_code(mut args: Vec<String>) -> u8 {
    // Libraries (ffmpeg, onnxruntime) may print: only the response goes to the real stdout.
    let mut out = match private_stdout() {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(error = %e, "cannot set up the response channel");
            return EXIT_BAD_REQUEST;
        }
    };
    // A child whose worker died must not run on: the kernel kills it with its parent.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        tracing::warn!(error = %e, "cannot ask to die with the worker");
    }
    if args.first().map(String::as_str) == Some(SERVE_FLAG) {
        args.remove(0);
        return serving::serve(args, &mut out);
    }
    let (response, code) = run(args);
    answer(&mut out, &response);
    code
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

/// A copy of stdout for the response; stdout itself then points at stderr.
fn private_stdout() -> nix::Result<File> {
    let saved = nix::unistd::dup(std::io::stdout())?;
    nix::unistd::dup2_stdout(std::io::stderr())?;
    Ok(File::from(saved))
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
