//! The `arena-sandbox` side: limit and isolate this process first, then read one request, do it
//! with the pipeline's own blocking functions, and answer on a private copy of stdout.

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
        return ExitCode::from(serve(args, &mut out));
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

/// The long-lived scoring child of one worker slot (`--serve`): limits and isolation are set up
/// once, then each line of stdin is a score request, answered on one line, with onnxruntime and
/// the last detector's session kept between requests. Each request gets `cpu_seconds` of CPU
/// time more on the soft RLIMIT_CPU (the hard limit is [`SERVE_CPU_BUDGETS`] of them). Only
/// score requests are served: decoding an upload and checking a new model always get a fresh
/// child. Ends at the end of stdin, or after a failed request (the worker starts a new child).
fn serve(args: Vec<String>, out: &mut File) -> u8 {
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
    let mut confined = false;
    let mut rt: Option<OrtRuntime> = None;
    let mut held: Option<(String, Detector)> = None;
    let mut stdin = std::io::stdin().lock();
    loop {
        let mut line = Vec::new();
        match (&mut stdin)
            .take(MAX_REQUEST_BYTES + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => return EXIT_OK,
            Ok(_) if line.len() as u64 > MAX_REQUEST_BYTES => {
                let message = format!("the request is over {MAX_REQUEST_BYTES} bytes");
                answer(out, &bad_request(Some(isolation), message).0);
                return EXIT_BAD_REQUEST;
            }
            Ok(_) => {}
            Err(e) => {
                let message = format!("cannot read the request: {e}");
                answer(out, &bad_request(Some(isolation), message).0);
                return EXIT_BAD_REQUEST;
            }
        }
        let request: Request = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("invalid request: {e}");
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
        } else if !matches!(request.task, Task::Score(_)) {
            Some("a serving child only scores".to_owned())
        } else {
            None
        };
        if let Some(message) = refused {
            answer(out, &bad_request(Some(isolation), message).0);
            return EXIT_BAD_REQUEST;
        }
        if !confined && request.confine {
            // Once, before the first model is read: the child's folder (the worker links each
            // job's inputs into it), read-only, and onnxruntime.
            let mut access = access_for(&request);
            access.read.extend(std::env::current_dir().ok());
            confine::confine(&access, &mut isolation);
            confined = true;
        }
        // This request's CPU budget on top of what the child has used.
        let soft = (cpu_used_ms() / 1000 + 1).saturating_add(budget).min(hard);
        if let Err(e) = setrlimit(Resource::RLIMIT_CPU, soft, hard) {
            let message = format!("cannot set the request's CPU limit: {e}");
            answer(out, &bad_request(Some(isolation), message).0);
            return EXIT_BAD_REQUEST;
        }
        let result = serve_one(&request, &mut rt, &mut held);
        let (response, failed) = match result {
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

/// One score request of a serving child, reusing its runtime and (same key) its session.
fn serve_one(
    request: &Request,
    rt: &mut Option<OrtRuntime>,
    held: &mut Option<(String, Detector)>,
) -> Result<(Timings, Output), JobError> {
    let started = Instant::now();
    let Task::Score(task) = &request.task else {
        return Err(JobError::infra(
            "sandbox_bad_request",
            "not a score request",
        ));
    };
    let rt = match rt {
        Some(rt) => rt,
        None => rt.insert(OrtRuntime::init(&request.ort_lib)?),
    };
    let reuse = matches!((&*held, &task.key), (Some((k, _)), Some(key)) if k == key);
    if !reuse {
        // Drop the previous session before loading the next (memory is capped).
        *held = None;
        let mut detector = load_detector(rt, &request.session, task)?;
        match &task.key {
            Some(key) => *held = Some((key.clone(), detector)),
            // Without a key the session cannot be matched later: it serves this request only.
            None => return score_videos(&mut detector, task, since(started)),
        }
    }
    let load_ms = since(started);
    let Some((_, detector)) = held.as_mut() else {
        return Err(JobError::infra("sandbox_bad_request", "no session"));
    };
    score_videos(detector, task, load_ms)
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

/// Aborts the process when tests asked for faults and `path` begins with [`ABORT_MARKER`], as a
/// crashing parser would.
fn abort_on_marker(test_faults: bool, path: &Path, what: &str) {
    if !test_faults {
        return;
    }
    let mut head = [0u8; ABORT_MARKER.len()];
    let read = File::open(path).and_then(|mut f| f.read_exact(&mut head));
    if read.is_ok() && head == ABORT_MARKER {
        tracing::error!("test fault: aborting mid-{what}");
        std::process::abort();
    }
}

/// The ingest inspection of an uploaded model: its protobuf is parsed here, not in the web server.
fn inspect(task: &InspectTask, started: Instant) -> Result<(Timings, Output), JobError> {
    abort_on_marker(task.test_faults, &task.model, "inspection");
    let max = usize::try_from(task.max_bytes).unwrap_or(usize::MAX);
    let size = std::fs::metadata(&task.model)
        .map_err(|e| io_error("reading the model", e))?
        .len();
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > max {
        return Err(crate::onnx_model::ModelError::TooLarge { size, max }.into());
    }
    let bytes = std::fs::read(&task.model).map_err(|e| io_error("reading the model", e))?;
    let info = crate::onnx_model::inspect_model(&bytes, max)?;
    let timings = Timings {
        load_ms: 0,
        work_ms: since(started),
        cpu_ms: cpu_used_ms(),
    };
    Ok((timings, Output::Inspected(info)))
}

/// A creation zip at ingest: its central directory is read and its entries inflated here.
fn unzip(task: &UnzipTask, started: Instant) -> Result<(Timings, Output), JobError> {
    let file = File::open(&task.archive).map_err(|e| io_error("reading the zip", e))?;
    let len = file
        .metadata()
        .map_err(|e| io_error("reading the zip", e))?
        .len();
    let reader = std::io::BufReader::new(file);
    let entries = crate::archive::extract_zip_from(reader, len, &task.out_dir, task.limits)?;
    let timings = Timings {
        load_ms: 0,
        work_ms: since(started),
        cpu_ms: cpu_used_ms(),
    };
    Ok((timings, Output::Unzipped { entries }))
}

/// The ingest probe of an uploaded video: FFmpeg demuxes it here, not in the web server.
fn probe(task: &ProbeTask, started: Instant) -> Result<(Timings, Output), JobError> {
    abort_on_marker(task.test_faults, &task.video, "probe");
    let facts = crate::media::probe_video(&task.video, &task.limits)?;
    let timings = Timings {
        load_ms: 0,
        work_ms: since(started),
        cpu_ms: cpu_used_ms(),
    };
    Ok((timings, Output::Probed(facts)))
}

/// Tries each thing the task names and reports how the system answered.
fn selftest(task: &SelftestTask) -> Output {
    let mut attempts = Vec::new();
    let mut record = |what: String, result: std::io::Result<()>| {
        attempts.push(Attempt {
            what,
            error: result.err().map(|e| e.to_string()),
        });
    };
    for path in &task.read {
        let result = File::open(path).and_then(|mut f| f.read(&mut [0u8; 16]).map(drop));
        record(format!("read {}", path.display()), result);
    }
    for path in &task.create {
        let result = File::create(path).and_then(|mut f| f.write_all(b"selftest"));
        record(format!("create {}", path.display()), result);
    }
    if task.socket {
        let result = std::net::UdpSocket::bind("127.0.0.1:0").map(drop);
        record("socket".to_owned(), result);
    }
    if let Some(program) = &task.exec {
        let result = std::process::Command::new(program).status().map(drop);
        record(format!("exec {}", program.display()), result);
    }
    if task.abort {
        std::process::abort();
    }
    Output::Selftested { attempts }
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
        cpu_ms: cpu_used_ms(),
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
    let prepared = prepare::prepare_frames(&task.video, &task.plan, &mut faces)?;
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
        cpu_ms: cpu_used_ms(),
    };
    Ok((timings, output))
}

fn score(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &ScoreTask,
    started: Instant,
) -> Result<(Timings, Output), JobError> {
    let mut detector = load_detector(rt, session, task)?;
    score_videos(&mut detector, task, since(started))
}

fn load_detector(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &ScoreTask,
) -> Result<Detector, JobError> {
    let model = std::fs::read(&task.model).map_err(|e| io_error("reading the model", e))?;
    Ok(Detector::load(rt, &model, task.manifest.clone(), session)?)
}

/// On a GPU: groups of videos (at least two, and enough that their frames fill a batch), each
/// group's frames in shared runs; only one group's images are in memory at a time.
fn score_videos_together(
    detector: &mut Detector,
    task: &ScoreTask,
    scores: &mut Vec<ScoredVideo>,
) -> Result<(), JobError> {
    let frames = (detector.manifest().frames as usize).max(1);
    let per_group = detector.batch_size().div_ceil(frames).max(2);
    for group in task.videos.chunks(per_group) {
        let bytes = group
            .iter()
            .map(|input| std::fs::read(&input.images))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io_error("reading cached images", e))?;
        let images = bytes
            .iter()
            .map(|b| Crops::parse(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| JobError::infra("corrupt_crops", e))?;
        let scored = scoring::score_images_many(detector, &images)?;
        scores.extend(group.iter().zip(scored).map(|(input, score)| ScoredVideo {
            video_id: input.video_id,
            score,
        }));
    }
    Ok(())
}

fn score_videos(
    detector: &mut Detector,
    task: &ScoreTask,
    load_ms: u64,
) -> Result<(Timings, Output), JobError> {
    let work = Instant::now();
    let mut scores = Vec::with_capacity(task.videos.len());
    if detector.batches_across_videos() {
        score_videos_together(detector, task, &mut scores)?;
    }
    for input in task.videos.iter().skip(scores.len()) {
        let bytes =
            std::fs::read(&input.images).map_err(|e| io_error("reading cached images", e))?;
        let images = Crops::parse(&bytes).map_err(|e| JobError::infra("corrupt_crops", e))?;
        scores.push(ScoredVideo {
            video_id: input.video_id,
            score: scoring::score_images(detector, &images)?,
        });
    }
    let timings = Timings {
        load_ms,
        work_ms: since(work),
        cpu_ms: cpu_used_ms(),
    };
    Ok((timings, Output::Scored { scores }))
}
