//! What each task does in the child, with the pipeline's own blocking functions.

use super::common::{cpu_used_ms, io_error, since};
use super::preload::face_detector;
use crate::checks;
use crate::crops::Crops;
use crate::detector::{Detector, OrtRuntime, SessionOptions};
use crate::faces::FaceDetector;
use crate::job_error::JobError;
use crate::sandbox::protocol::{
    ABORT_MARKER, Attempt, CheckOutcome, CheckTask, InspectTask, Output, PrepareTask, ProbeTask,
    ScoreTask, ScoredVideo, SelftestTask, Timings, UnzipTask,
};
use crate::{prepare, scoring};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

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
pub(super) fn inspect(task: &InspectTask, started: Instant) -> Result<(Timings, Output), JobError> {
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
pub(super) fn unzip(task: &UnzipTask, started: Instant) -> Result<(Timings, Output), JobError> {
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
pub(super) fn probe(task: &ProbeTask, started: Instant) -> Result<(Timings, Output), JobError> {
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
pub(super) fn selftest(task: &SelftestTask) -> Output {
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
    for path in &task.given {
        let shown = path.display();
        let result = File::open(path).and_then(|mut f| f.read(&mut [0u8; 16]).map(drop));
        record(format!("read {shown}"), result);
        let result = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(b"x"));
        record(format!("write {shown}"), result);
        let result = File::open(path).and_then(|f| f.set_len(0));
        record(format!("truncate {shown}"), result);
        let result = File::open(path).and_then(|f| {
            use std::os::fd::AsRawFd as _;
            let again = format!("/proc/self/fd/{}", f.as_raw_fd());
            std::fs::OpenOptions::new()
                .write(true)
                .open(again)
                .and_then(|mut w| w.write_all(b"x"))
        });
        record(format!("write through /proc/self/fd {shown}"), result);
    }
    if let Some(path) = &task.chmod {
        use std::os::unix::fs::PermissionsExt as _;
        let result = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666));
        record(format!("chmod {}", path.display()), result);
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

pub(super) fn check(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &CheckTask,
    started: Instant,
) -> Result<(Timings, Output), JobError> {
    check_keeping(rt, session, task, started).map(|(timings, output, _)| (timings, output))
}

/// The upload checks of `task` ([`checks::check_loaded`]) on a session built from its model, and
/// that session when they pass (a slot's scoring child keeps it for the detector's score jobs).
pub(super) fn check_keeping(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &CheckTask,
    started: Instant,
) -> Result<(Timings, Output, Detector), JobError> {
    let model = std::fs::read(&task.model).map_err(|e| io_error("reading the model", e))?;
    let mut detector = Detector::load(rt, &model, task.manifest.clone(), session)?;
    drop(model);
    let load_ms = since(started);
    let work = Instant::now();
    let limit = Duration::from_millis(task.time_limit_ms);
    let report = checks::check_loaded(&mut detector, limit)?;
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
    Ok((timings, Output::Checked(outcome), detector))
}

pub(super) fn prepare(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &PrepareTask,
    started: Instant,
) -> Result<(Timings, Output), JobError> {
    let mut faces = face_detector(rt, &task.face_model, session)?;
    prepare_with(&mut faces, task, since(started))
}

/// Decodes one video with a loaded face detector (a serving decode child keeps it between the
/// videos of its team) and writes its two caches.
pub(super) fn prepare_with(
    faces: &mut FaceDetector,
    task: &PrepareTask,
    load_ms: u64,
) -> Result<(Timings, Output), JobError> {
    let work = Instant::now();
    let decodes_before = crate::media::decode_count();
    // Written to the files as they are made (no encoded copy of ~25 MB of images built in
    // memory first, and no image held once it is final), each image straight from its own
    // buffer: two writes per image (its ~70-byte head, then its pixels),
    // where a buffered writer would copy every image (up to ~1 MB, less than its buffer) into
    // the buffer before writing it.
    let summary = prepare::prepare_to_files(
        &task.video,
        &task.plan,
        faces,
        &task.faces_out,
        &task.frames_out,
        io_error,
    )?;
    let output = Output::Prepared {
        frames: summary.frames,
        face_frames: summary.face_frames,
        decodes: crate::media::decode_count() - decodes_before,
    };
    let timings = Timings {
        load_ms,
        work_ms: since(work),
        cpu_ms: cpu_used_ms(),
    };
    Ok((timings, output))
}

pub(super) fn score(
    rt: &OrtRuntime,
    session: &SessionOptions,
    task: &ScoreTask,
    started: Instant,
) -> Result<(Timings, Output), JobError> {
    let mut detector = load_detector(rt, session, task)?;
    score_videos(&mut detector, task, since(started))
}

pub(super) fn load_detector(
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
            .map(|input| arena::storage::map_file(&input.images))
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

pub(super) fn score_videos(
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
        // Mapped, not copied: our own cache files, which nothing changes in place and this
        // child may only read (docs/SANDBOX.md).
        let bytes = arena::storage::map_file(&input.images)
            .map_err(|e| io_error("reading cached images", e))?;
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
