//! A long-lived child (`--serve`): a worker slot's scoring child holding one detector's session
//! or decode child holding BlazeFace for the videos of one team, or the web server's probe child
//! for the uploads of one team (docs/SANDBOX.md).

use super::common::{
    MAX_REQUEST_BYTES, access_for, answer, apply_limits, bad_request, cpu_used_ms, isolate, since,
};
use super::preload::face_detector;
use super::work::{check_keeping, load_detector, prepare_with, probe, score_videos};
use crate::detector::{Detector, OrtRuntime};
use crate::faces::FaceDetector;
use crate::job_error::JobError;
use crate::sandbox::confine;
use crate::sandbox::protocol::{
    ChildError, EXIT_BAD_REQUEST, EXIT_JOB_ERROR, EXIT_OK, Limits, Output, PROTOCOL_VERSION,
    Request, Response, SERVE_CPU_BUDGETS, Task, Timings,
};
use nix::sys::resource::{Resource, setrlimit};
use std::fs::File;
use std::io::{BufRead, Read};
use std::time::Instant;

/// What a serving child keeps between requests.
#[derive(Default)]
struct Held {
    rt: Option<OrtRuntime>,
    /// The last detector's session, by its key (scoring children).
    detector: Option<(String, Detector)>,
    /// The face detector (decode children).
    faces: Option<FaceDetector>,
}

/// The kind of request a serving child answers: fixed by its first request. A detector's upload
/// check opens a scoring child (its first request only): the session that passes it is the one
/// the detector's score jobs use.
fn kind(task: &Task) -> Option<&'static str> {
    match task {
        Task::Score(_) | Task::Check(_) => Some("score"),
        Task::Prepare(_) => Some("prepare"),
        Task::Probe(_) => Some("probe"),
        _ => None,
    }
}

/// Limits and isolation are set up once, then each line of stdin is a request, answered on one
/// line, with onnxruntime and the last session kept between requests. Each request gets
/// `cpu_seconds` of CPU time more on the soft RLIMIT_CPU (the hard limit is
/// [`SERVE_CPU_BUDGETS`] of them). A child serves score, prepare or probe requests, whichever
/// its first request is, never two kinds; a scoring child may begin with its detector's upload
/// check, never take one later. Inspecting and unzipping an upload always get a fresh child.
/// Ends at the end of stdin, or after a failed request (the worker starts a new child).
pub(super) fn serve(args: Vec<String>, out: &mut File) -> u8 {
    let limits = match Limits::from_args(args) {
        Ok(l) => l,
        Err(e) => {
            answer(out, &bad_request(None, format!("bad arguments: {e}")).0);
            return EXIT_BAD_REQUEST;
        }
    };
    let budget = limits.cpu_seconds.max(1);
    let serving = Limits {
        cpu_seconds: budget.saturating_mul(SERVE_CPU_BUDGETS),
        ..limits
    };
    if let Err(e) = apply_limits(&serving) {
        let message = format!("cannot apply the resource limits: {e}");
        answer(out, &bad_request(None, message).0);
        return EXIT_BAD_REQUEST;
    }
    let hard = serving.cpu_seconds.saturating_add(2);
    let mut isolation = isolate();
    let mut serves: Option<&'static str> = None;
    let mut held = Held::default();
    let mut stdin = std::io::stdin().lock();
    loop {
        let request = match next_request(&mut stdin) {
            Ok(Some(r)) => r,
            Ok(None) => return EXIT_OK,
            Err(message) => {
                answer(out, &bad_request(Some(isolation), message).0);
                return EXIT_BAD_REQUEST;
            }
        };
        let refused = if request.version != PROTOCOL_VERSION {
            Some(format!(
                "this arena-sandbox speaks protocol {PROTOCOL_VERSION}, the worker {}: rebuild \
                 both (cargo build --bins)",
                request.version
            ))
        } else {
            match (serves, kind(&request.task)) {
                (_, None) => Some("a serving child only scores, prepares or probes".to_owned()),
                (Some(_), _) if matches!(request.task, Task::Check(_)) => {
                    Some("a check is only a scoring child's first request".to_owned())
                }
                (Some(a), Some(b)) if a != b => Some(format!("this child serves {a} requests")),
                _ => None,
            }
        };
        if let Some(message) = refused {
            answer(out, &bad_request(Some(isolation), message).0);
            return EXIT_BAD_REQUEST;
        }
        if serves.is_none() {
            serves = kind(&request.task);
            if request.confine {
                // Once, before the first upload is read: the child's folder (the worker links
                // each job's inputs into it, and a decode child writes its caches there), and
                // onnxruntime and the face model, read-only.
                let mut access = access_for(&request);
                access.read.extend(std::env::current_dir().ok());
                confine::confine(&access, &mut isolation);
            }
        }
        // This request's CPU budget on top of what the child has used.
        let soft = (cpu_used_ms() / 1000 + 1).saturating_add(budget).min(hard);
        if let Err(e) = setrlimit(Resource::RLIMIT_CPU, soft, hard) {
            let message = format!("cannot set the request's CPU limit: {e}");
            answer(out, &bad_request(Some(isolation), message).0);
            return EXIT_BAD_REQUEST;
        }
        let (response, failed) = match serve_one(&request, &mut held) {
            Ok((timings, output)) => (
                Response::Ok {
                    isolation: isolation.clone(),
                    timings,
                    output,
                },
                false,
            ),
            Err(e) => (
                Response::Error {
                    isolation: Some(isolation.clone()),
                    error: ChildError {
                        code: e.code.to_owned(),
                        message: e.message,
                        client_error: e.permanent,
                    },
                },
                true,
            ),
        };
        if !answer(out, &response) {
            return EXIT_BAD_REQUEST;
        }
        if failed {
            return EXIT_JOB_ERROR;
        }
    }
}

/// The next request line: `None` at the end of stdin, `Err` for a line that is not a request.
fn next_request(stdin: &mut std::io::StdinLock<'_>) -> Result<Option<Request>, String> {
    let mut line = Vec::new();
    match stdin
        .take(MAX_REQUEST_BYTES + 1)
        .read_until(b'\n', &mut line)
    {
        Ok(0) => return Ok(None),
        Ok(_) if line.len() as u64 > MAX_REQUEST_BYTES => {
            return Err(format!("the request is over {MAX_REQUEST_BYTES} bytes"));
        }
        Ok(_) => {}
        Err(e) => return Err(format!("cannot read the request: {e}")),
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| format!("invalid request: {e}"))
}

/// One request of a serving child, reusing its runtime and its session (same key) or its face
/// detector.
fn serve_one(request: &Request, held: &mut Held) -> Result<(Timings, Output), JobError> {
    let started = Instant::now();
    if let Task::Probe(task) = &request.task {
        // FFmpeg only: no onnxruntime in a probe child.
        return probe(task, started);
    }
    let rt = match &mut held.rt {
        Some(rt) => rt,
        None => held.rt.insert(OrtRuntime::init(&request.ort_lib)?),
    };
    let task = match &request.task {
        Task::Score(task) => task,
        Task::Check(task) => {
            // The detector's upload checks, on the session its score jobs then use (kept under
            // the detector's key once they pass; a failure ends the child).
            held.detector = None;
            let (timings, output, detector) = check_keeping(rt, &request.session, task, started)?;
            if let Some(key) = &task.key {
                held.detector = Some((key.clone(), detector));
            }
            return Ok((timings, output));
        }
        Task::Prepare(task) => {
            let faces = match &mut held.faces {
                Some(f) => f,
                None => held
                    .faces
                    .insert(face_detector(rt, &task.face_model, &request.session)?),
            };
            return prepare_with(faces, task, since(started));
        }
        _ => {
            return Err(JobError::infra(
                "sandbox_bad_request",
                "not a score, check or prepare request",
            ));
        }
    };
    let reuse = matches!((&held.detector, &task.key), (Some((k, _)), Some(key)) if k == key);
    if !reuse {
        // Drop the previous session before loading the next (memory is capped).
        held.detector = None;
        let mut detector = load_detector(rt, &request.session, task)?;
        match &task.key {
            Some(key) => held.detector = Some((key.clone(), detector)),
            // Without a key the session cannot be matched later: it serves this request only.
            None => return score_videos(&mut detector, task, since(started)),
        }
    }
    let load_ms = since(started);
    let Some((_, detector)) = held.detector.as_mut() else {
        return Err(JobError::infra("sandbox_bad_request", "no session"));
    };
    score_videos(detector, task, load_ms)
}
