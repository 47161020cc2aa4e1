//! Offline evaluation (`arena eval`, DESIGN §7): the worker pipeline with no server or database.
//! Each video is decoded once (K frames, faces, crops, whole frames), then every detector scores
//! it from those images exactly as the `score` job does, and the report carries per-stage wall
//! times. The machine's cores are used by evaluating several videos at once, each on its own
//! thread with its own sessions (`parallel`); with one video at a time, a second thread prepares
//! the next video while this one is scored (DESIGN §9) and the sessions get the cores as intra-op
//! threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, mpsc};
use std::time::{Duration, Instant};

mod report;

pub use report::{
    DetectorSummary, EvalError, EvalReport, PairScore, StageError, StageTimings, VideoReport,
};

use crate::detector::{
    CudaOptions, Detector, ExecutionProvider, OrtRuntime, SessionOptions, aggregate,
    cuda_fallback_reason,
};
use crate::faces::{self, FaceDetector};
use crate::job_error::JobError;
use crate::manifest::Manifest;
use crate::media;
use crate::pipeline::ORT_VERSION;
use crate::prepare::{
    FACE_DETECTOR_VERSION, PreparePlan, PrepareTimes, PreparedVideo, SAMPLER_VERSION,
    prepare_frames_timed,
};

/// How `evaluate_offline` samples, crops and runs sessions.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// K: frames kept per video, evenly spaced (`round(linspace(0, n - 1, K))`).
    pub sampler_frames: usize,
    /// Longest side frames are decoded at; face crops are cut from these.
    pub decode_max_side: u32,
    /// Longest side of a face crop or whole frame (what detectors read).
    pub max_side: u32,
    /// onnxruntime intra-op threads per session (detectors and the face model); 0: the machine's
    /// cores divided among the videos evaluated at once.
    pub intra_threads: usize,
    /// Videos evaluated at once, each on its own thread with its own face model and detector
    /// sessions; 0: one per core (at most one per video).
    pub parallel: usize,
    /// `cpu`, or `cuda` (falls back to CPU with a warning when unavailable).
    pub execution_provider: ExecutionProvider,
    /// Device, memory cap and batch of CUDA sessions.
    pub cuda: CudaOptions,
    /// The BlazeFace ONNX.
    pub face_model: PathBuf,
    /// onnxruntime's shared library (used by the first runtime of the process only).
    pub ort_lib: PathBuf,
    /// With one video at a time: prepare the next video on a second thread while this one is
    /// scored.
    pub overlap: bool,
}

impl EvalOptions {
    /// The server's evaluation settings, its onnxruntime path and face model (with their usual
    /// fallbacks: `ARENA_ORT_LIB`, `ARENA_FACE_MODEL`, the bootstrap's `.cache/`). Threads are
    /// sized to the machine (`parallel` and `intra_threads` 0): the settings' `intra_threads` is
    /// per worker slot, where slots share the cores, while an offline evaluation has them all.
    pub fn from_settings(settings: &arena::Settings) -> EvalOptions {
        let e = &settings.evaluation;
        let session = SessionOptions::from_settings(e);
        EvalOptions {
            sampler_frames: e.sampler_frames,
            decode_max_side: e.decode_max_side.max(e.max_side),
            max_side: e.max_side,
            intra_threads: 0,
            parallel: 0,
            execution_provider: session.execution_provider,
            cuda: session.cuda,
            face_model: faces::model_path(e.face_model.as_deref()),
            ort_lib: OrtRuntime::lib_path_in(settings),
            overlap: true,
        }
    }

    fn plan(&self) -> PreparePlan {
        PreparePlan {
            frames: self.sampler_frames,
            decode_max_side: self.decode_max_side.max(self.max_side),
            max_side: self.max_side,
        }
    }

    /// Videos at once and intra-op threads per session for `videos` videos on `cores` cores.
    pub fn threads(&self, videos: usize, cores: usize) -> (usize, usize) {
        let cores = cores.max(1);
        let parallel = match self.parallel {
            0 => cores.min(videos).max(1),
            n => n,
        };
        let intra = match self.intra_threads {
            0 => (cores / parallel).max(1),
            n => n,
        };
        (parallel, intra)
    }

    fn session(&self, intra_threads: usize) -> SessionOptions {
        SessionOptions {
            intra_threads: intra_threads.max(1),
            execution_provider: self.execution_provider,
            cuda: self.cuda.clone(),
        }
    }
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions::from_settings(&arena::Settings::default())
    }
}

/// A video's images with how long each stage took; `prepare_timed`'s result.
#[derive(Debug, Clone)]
pub struct TimedPrepare {
    pub prepared: PreparedVideo,
    /// Decode, faces and crops (inference is 0).
    pub timings: StageTimings,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// [`crate::prepare::prepare_frames`] with a stopwatch per stage: the same code
/// ([`crate::prepare::prepare_frames_timed`]), timed frame by frame.
pub fn prepare_timed(
    path: &Path,
    plan: &PreparePlan,
    faces: &mut FaceDetector,
) -> Result<TimedPrepare, JobError> {
    let started = Instant::now();
    let mut times = PrepareTimes::default();
    let prepared = prepare_frames_timed(path, plan, faces, Some(&mut times))?;
    let total = started.elapsed();
    Ok(TimedPrepare {
        prepared,
        timings: StageTimings {
            decode_ms: ms(total.saturating_sub(times.faces + times.crops)),
            faces_ms: ms(times.faces),
            crops_ms: ms(times.crops),
            inference_ms: 0.0,
        },
    })
}

/// A loaded detector and where it came from.
struct Loaded {
    detector: Detector,
    model: PathBuf,
    manifest: PathBuf,
}

fn load_detectors(
    rt: &OrtRuntime,
    detectors: &[(PathBuf, PathBuf)],
    session: &SessionOptions,
) -> Result<Vec<Loaded>, EvalError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| EvalError::Read {
            path: path.to_owned(),
            source,
        })
    };
    detectors
        .iter()
        .map(|(model, manifest)| {
            let text = String::from_utf8_lossy(&read(manifest)?).into_owned();
            let parsed = Manifest::parse(&text).map_err(|source| EvalError::Manifest {
                path: manifest.clone(),
                source,
            })?;
            let detector =
                Detector::load(rt, &read(model)?, parsed, session).map_err(|source| {
                    EvalError::Detector {
                        path: model.clone(),
                        source,
                    }
                })?;
            Ok(Loaded {
                detector,
                model: model.clone(),
                manifest: manifest.clone(),
            })
        })
        .collect()
}

/// Scores one prepared video with every detector, the way the `score` job does: the cached
/// images the manifest asks for, `frames` of them evenly picked and cut per its crop rule
/// ([`crate::crops::CropsView::for_detector`]), batched, then aggregated.
pub fn score_prepared(detector: &mut Detector, prepared: &PreparedVideo) -> PairScore {
    let started = Instant::now();
    let manifest = detector.manifest();
    let frames = prepared.images_for(manifest.crop).for_detector(manifest);
    let (name, kind) = (manifest.name.clone(), manifest.aggregate);
    let result = detector.score_frames(&frames);
    let inference_ms = ms(started.elapsed());
    match result {
        Ok(per_frame) => PairScore {
            detector: name,
            score: Some(aggregate(kind, &per_frame)),
            per_frame,
            inference_ms,
            error: None,
        },
        Err(e) => PairScore {
            detector: name,
            score: None,
            per_frame: Vec::new(),
            inference_ms,
            error: Some(e.into()),
        },
    }
}

fn video_report(
    path: &Path,
    prepared: Result<TimedPrepare, JobError>,
    detectors: &mut [Loaded],
) -> VideoReport {
    match prepared {
        Ok(TimedPrepare {
            prepared,
            mut timings,
        }) => {
            let scores: Vec<PairScore> = detectors
                .iter_mut()
                .map(|d| score_prepared(&mut d.detector, &prepared))
                .collect();
            timings.inference_ms = scores.iter().map(|s| s.inference_ms).sum();
            VideoReport {
                path: path.to_owned(),
                frame_indices: prepared.faces.indices.clone(),
                face_frames: prepared.faces.face_frames(),
                timings,
                scores,
                error: None,
            }
        }
        Err(e) => VideoReport {
            path: path.to_owned(),
            frame_indices: Vec::new(),
            face_frames: 0,
            timings: StageTimings::default(),
            scores: Vec::new(),
            error: Some(e.into()),
        },
    }
}

/// Runs the worker pipeline over `videos` for every `(model.onnx, manifest.toml)` in
/// `detectors`, with no server or database: each video is decoded once, its face crops and whole
/// frames are scored by every detector. Blocking. With `parallel` > 1, that many threads each load
/// their own sessions and take the next video in turn; with one, a second thread prepares the next
/// video while this one scores (`overlap`). Only setup failures (runtime, face model, a detector
/// that does not load) are errors; a video that cannot be decoded, or a detector that fails on
/// one video, is reported in place.
pub fn evaluate_offline(
    videos: &[PathBuf],
    detectors: &[(PathBuf, PathBuf)],
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    let loading = Instant::now();
    let rt = OrtRuntime::init(&opts.ort_lib).map_err(|source| EvalError::Runtime {
        path: opts.ort_lib.clone(),
        source,
    })?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (parallel, intra_threads) = opts.threads(videos.len(), cores);
    let session = opts.session(intra_threads);
    let plan = opts.plan();
    let decodes_before = media::decode_count();
    let (loaded, reports, load_ms, wall_ms) = if parallel > 1 {
        let run = evaluate_parallel(videos, detectors, opts, &rt, &session, parallel, loading)?;
        (run.loaded, run.reports, run.load_ms, run.wall_ms)
    } else {
        let mut faces = FaceDetector::load(&rt, &opts.face_model, &session)?;
        let mut loaded = load_detectors(&rt, detectors, &session)?;
        let load_ms = ms(loading.elapsed());
        let started = Instant::now();
        let reports = if opts.overlap {
            evaluate_overlapped(videos, &plan, faces, &mut loaded)?
        } else {
            videos
                .iter()
                .map(|path| video_report(path, prepare_timed(path, &plan, &mut faces), &mut loaded))
                .collect()
        };
        (loaded, reports, load_ms, ms(started.elapsed()))
    };

    let mut totals = StageTimings::default();
    reports.iter().for_each(|r| totals.add(&r.timings));
    Ok(EvalReport {
        ort_version: ORT_VERSION.to_owned(),
        sampler_version: SAMPLER_VERSION,
        face_detector_version: FACE_DETECTOR_VERSION,
        sampler_frames: plan.frames,
        max_side: plan.max_side,
        intra_threads: session.intra_threads,
        parallel,
        overlap: opts.overlap && parallel == 1,
        detectors: loaded
            .iter()
            .map(|l| {
                let m = l.detector.manifest();
                DetectorSummary {
                    name: m.name.clone(),
                    model: l.model.clone(),
                    manifest: l.manifest.clone(),
                    execution_provider: l.detector.execution_provider().as_str().to_owned(),
                    batch: l.detector.batch_size(),
                    frames: m.frames,
                    crop: m.crop,
                    margin: m.margin,
                    align: m.align,
                }
            })
            .collect(),
        videos: reports,
        decodes: media::decode_count().saturating_sub(decodes_before),
        load_ms,
        totals,
        wall_ms,
        cuda_fallback: (opts.execution_provider == ExecutionProvider::Cuda)
            .then(cuda_fallback_reason)
            .flatten(),
    })
}

/// What [`evaluate_parallel`] gives back.
struct ParallelRun {
    /// The first thread's sessions (for the report's detector list).
    loaded: Vec<Loaded>,
    reports: Vec<VideoReport>,
    load_ms: f64,
    wall_ms: f64,
}

/// `threads` threads, each with its own face model and detector sessions, take the videos in
/// turn (prepare, then score with every detector). All load first; the clock starts when every
/// thread is ready, so `wall_ms` is comparable with the single-thread runs; `load_ms` counts
/// from `loading`, like theirs.
fn evaluate_parallel(
    videos: &[PathBuf],
    detectors: &[(PathBuf, PathBuf)],
    opts: &EvalOptions,
    rt: &OrtRuntime,
    session: &SessionOptions,
    threads: usize,
    loading: Instant,
) -> Result<ParallelRun, EvalError> {
    let plan = opts.plan();
    let ready = Barrier::new(threads + 1);
    let failed = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Option<VideoReport>>> = Mutex::new(vec![None; videos.len()]);
    type Setup = Result<Option<Vec<Loaded>>, EvalError>;
    let (loaded, load_ms, wall_ms) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Setup {
                    let sessions = FaceDetector::load(rt, &opts.face_model, session)
                        .map_err(EvalError::from)
                        .and_then(|f| Ok((f, load_detectors(rt, detectors, session)?)));
                    if sessions.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    ready.wait();
                    let (mut faces, mut loaded) = sessions?;
                    if failed.load(Ordering::SeqCst) {
                        return Ok(None);
                    }
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(path) = videos.get(i) else { break };
                        let report =
                            video_report(path, prepare_timed(path, &plan, &mut faces), &mut loaded);
                        if let Ok(mut all) = reports.lock() {
                            all[i] = Some(report);
                        }
                    }
                    Ok(Some(loaded))
                })
            })
            .collect();
        ready.wait();
        let load_ms = ms(loading.elapsed());
        let started = Instant::now();
        let mut first = None;
        let mut error = None;
        for worker in workers {
            match worker.join().map_err(|_| EvalError::Panicked)? {
                Ok(Some(loaded)) => {
                    first.get_or_insert(loaded);
                }
                Ok(None) => {}
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        let wall_ms = ms(started.elapsed());
        match error {
            Some(e) => Err(e),
            None => Ok((first.ok_or(EvalError::Panicked)?, load_ms, wall_ms)),
        }
    })?;
    let reports = reports
        .into_inner()
        .map_err(|_| EvalError::Panicked)?
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or(EvalError::Panicked)?;
    Ok(ParallelRun {
        loaded,
        reports,
        load_ms,
        wall_ms,
    })
}

/// A second thread decodes and crops video i + 1 (and at most one more, the channel's bound)
/// while this thread scores video i.
fn evaluate_overlapped(
    videos: &[PathBuf],
    plan: &PreparePlan,
    mut faces: FaceDetector,
    detectors: &mut [Loaded],
) -> Result<Vec<VideoReport>, EvalError> {
    let (tx, rx) = mpsc::sync_channel::<Result<TimedPrepare, JobError>>(1);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            for path in videos {
                // The receiver only hangs up early when scoring panicked.
                if tx.send(prepare_timed(path, plan, &mut faces)).is_err() {
                    break;
                }
            }
        });
        let reports: Vec<VideoReport> = videos
            .iter()
            .zip(rx.iter())
            .map(|(path, prepared)| video_report(path, prepared, detectors))
            .collect();
        producer.join().map_err(|_| EvalError::Panicked)?;
        if reports.len() != videos.len() {
            return Err(EvalError::Panicked);
        }
        Ok(reports)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::crops::Crops;
    use crate::prepare::prepare_frames;
    use crate::test_support::{decode_lock, fixtures, runtime, video};

    fn options(overlap: bool) -> EvalOptions {
        EvalOptions {
            sampler_frames: 8,
            decode_max_side: 1920,
            max_side: 512,
            intra_threads: 1,
            parallel: 1,
            execution_provider: ExecutionProvider::Cpu,
            cuda: CudaOptions::default(),
            face_model: faces::model_path(None),
            ort_lib: OrtRuntime::default_lib_path(),
            overlap,
        }
    }

    fn model(name: &str) -> (PathBuf, PathBuf) {
        let dir = fixtures().join("models");
        (
            dir.join(format!("{name}.onnx")),
            dir.join(format!("{name}.toml")),
        )
    }

    fn mp4_fixtures() -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join("videos"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .filter(|p| !p.ends_with("not_a_video.mp4"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn each_video_is_decoded_once_and_scored_like_the_server() {
        let _guard = decode_lock();
        let videos = mp4_fixtures();
        assert!(videos.len() >= 6, "{videos:?}");
        // greenish again with another crop policy: its crops are cut from the same contexts.
        let dir = tempfile::tempdir().unwrap();
        let (greenish, manifest) = model("greenish");
        let aligned = dir.path().join("greenish-aligned.toml");
        let text = std::fs::read_to_string(manifest).unwrap();
        std::fs::write(&aligned, format!("{text}margin = 2.0\nalign = true\n")).unwrap();
        let detectors = vec![
            model("redblue"),
            model("greenish"),
            model("constant"),
            (greenish, aligned),
        ];
        // One video at a time (overlapped or not), and several at once on their own threads.
        for (parallel, overlap) in [(1, true), (1, false), (2, true), (3, false)] {
            let opts = EvalOptions {
                parallel,
                ..options(overlap)
            };
            let before = media::decode_count();
            let report = evaluate_offline(&videos, &detectors, &opts).unwrap();
            assert_eq!(report.parallel, parallel);
            assert_eq!(report.overlap, overlap && parallel == 1);
            assert_eq!(report.detectors.len(), 4);
            // Four detectors, one decode per video.
            assert_eq!(report.decodes, videos.len() as u64);
            assert_eq!(media::decode_count(), before + videos.len() as u64);
            assert_eq!(report.videos.len(), videos.len());

            // The server pipeline: prepare_frames, the cache round trip, then what `score` does.
            let rt = runtime();
            let session = SessionOptions::default();
            let mut faces = FaceDetector::load(&rt, &opts.face_model, &session).unwrap();
            for (path, got) in videos.iter().zip(&report.videos) {
                assert_eq!(&got.path, path);
                assert!(got.error.is_none(), "{got:?}");
                let prepared = prepare_frames(path, &opts.plan(), &mut faces).unwrap();
                assert_eq!(got.frame_indices, prepared.faces.indices);
                assert_eq!(got.face_frames, prepared.faces.face_frames());
                for ((model_path, manifest_path), pair) in detectors.iter().zip(&got.scores) {
                    let manifest =
                        Manifest::parse(&std::fs::read_to_string(manifest_path).unwrap()).unwrap();
                    let cached = prepared.images_for(manifest.crop).encode();
                    let view = Crops::parse(&cached).unwrap();
                    let frames = view.for_detector(&manifest);
                    let kind = manifest.aggregate;
                    let bytes = std::fs::read(model_path).unwrap();
                    let mut det = Detector::load(&rt, &bytes, manifest, &session).unwrap();
                    let per_frame = det.score_frames(&frames).unwrap();
                    assert_eq!(pair.per_frame, per_frame, "{path:?}");
                    assert_eq!(pair.score, Some(aggregate(kind, &per_frame)));
                }
            }
            // The scores mean what the fixtures say: redblue orders the backgrounds.
            let redblue = |name: &str| {
                let v = report
                    .videos
                    .iter()
                    .find(|v| v.path.ends_with(name))
                    .unwrap();
                v.scores[0].score.unwrap()
            };
            assert!(redblue("real_1.mp4") < 0.2 && redblue("fake_2.mp4") > 0.9);
            let astronaut = report
                .videos
                .iter()
                .find(|v| v.path.ends_with("face_moving.mp4"))
                .unwrap();
            assert_eq!(astronaut.face_frames, 8);
            assert_eq!(
                (report.detectors[3].margin, report.detectors[3].align),
                (2.0, true)
            );
            // The two greenish crops differ.
            assert_ne!(astronaut.scores[1].per_frame, astronaut.scores[3].per_frame);
        }
    }

    #[test]
    fn prepare_timed_gives_the_pipelines_crops_with_timings() {
        let _guard = decode_lock();
        let rt = runtime();
        let mut faces =
            FaceDetector::load(&rt, &faces::model_path(None), &SessionOptions::default()).unwrap();
        let plan = PreparePlan {
            frames: 6,
            decode_max_side: 1920,
            max_side: 64,
        };
        let path = video("face_moving.mp4");
        let timed = prepare_timed(&path, &plan, &mut faces).unwrap();
        let server = prepare_frames(&path, &plan, &mut faces).unwrap();
        assert_eq!(timed.prepared.faces, server.faces);
        assert_eq!(timed.prepared.frames, server.frames);
        let t = timed.timings;
        assert!(
            t.decode_ms > 0.0 && t.faces_ms > 0.0 && t.crops_ms > 0.0,
            "{t:?}"
        );
        assert_eq!(t.inference_ms, 0.0);
    }

    #[test]
    fn a_bad_video_is_reported_and_the_others_scored() {
        let _guard = decode_lock();
        let videos = vec![video("not_a_video.mp4"), video("real_1.mp4")];
        let report = evaluate_offline(&videos, &[model("redblue")], &options(true)).unwrap();
        let bad = &report.videos[0];
        assert_eq!(bad.error.as_ref().unwrap().code, "unsupported_media");
        assert!(bad.scores.is_empty());
        assert!(report.videos[1].scores[0].score.is_some());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["videos"][0]["error"]["code"], "unsupported_media");
        assert_eq!(json["detectors"][0]["name"], "redblue");
        assert!(json["videos"][1]["timings"]["decode_ms"].as_f64().unwrap() > 0.0);
    }

    #[test]
    fn threads_are_sized_to_the_cores_and_videos() {
        let auto = EvalOptions {
            intra_threads: 0,
            parallel: 0,
            ..options(true)
        };
        // (videos, cores) -> (videos at once, intra-op threads per session)
        assert_eq!(auto.threads(10, 2), (2, 1));
        assert_eq!(auto.threads(1, 2), (1, 2));
        assert_eq!(auto.threads(3, 16), (3, 5));
        assert_eq!(auto.threads(0, 4), (1, 4));
        assert_eq!(auto.threads(5, 0), (1, 1));
        let fixed = EvalOptions {
            intra_threads: 3,
            parallel: 0,
            ..options(true)
        };
        assert_eq!(fixed.threads(8, 4), (4, 3));
        assert_eq!(options(true).threads(8, 4), (1, 1));
    }

    #[test]
    fn setup_failures_are_errors_with_codes() {
        let missing = (PathBuf::from("/nonexistent/model.onnx"), model("redblue").1);
        let e = evaluate_offline(
            &[video("real_1.mp4")],
            std::slice::from_ref(&missing),
            &options(true),
        )
        .unwrap_err();
        assert_eq!(e.code(), "unreadable_file");
        // Every thread of a parallel run fails alike, and the run stops before any video.
        let parallel = EvalOptions {
            parallel: 2,
            ..options(false)
        };
        let two = [video("real_1.mp4"), video("fake_1.mp4")];
        let e = evaluate_offline(&two, &[missing], &parallel).unwrap_err();
        assert_eq!(e.code(), "unreadable_file");
        let mut opts = options(true);
        opts.face_model = PathBuf::from("/nonexistent/blazeface.onnx");
        let e = evaluate_offline(&[video("real_1.mp4")], &[model("redblue")], &opts).unwrap_err();
        assert_eq!(e.code(), "face_model_unavailable");
    }
}
