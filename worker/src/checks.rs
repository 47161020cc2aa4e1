//! Upload-time checks of a detector (DESIGN §5): it loads, scores deterministic probe frames (cut
//! per its manifest's crop rule, [`probe_inputs`]) with finite outputs, gives the same scores twice,
//! once at its batch size and once one frame at a time (within [`TOLERANCE`]), and does all that
//! within a wall-clock limit enforced with `RunOptions::terminate`.
//!
//! Two runs cover both of DESIGN §5's rules: a detector whose scores change from run to run
//! (DFGC's random detectors) differs between any two scorings, and one whose scores depend on the
//! batch differs between these two. Until 2026-12-05 the first batch size ran twice before the
//! second (three runs); the third found nothing the second did not, and cost as much as scoring
//! a quarter of a 32-frame video (docs/BENCHMARKS.md, "Two probe runs").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::crops::Crops;
use crate::detector::{Detector, DetectorError, ExecutionProvider, OrtRuntime, SessionOptions};
use crate::face_crop::{CONTEXT_MARGIN, FaceContext};
use crate::faces::FaceBox;
use crate::manifest::Manifest;
use crate::media::{AsRgb, RgbImage};

/// Largest difference allowed between two scorings of the same probe frame (DFGC's rule).
pub const TOLERANCE: f32 = 1e-4;
/// Probe frames per check, and their side.
pub const PROBE_FRAMES: usize = 8;
pub const PROBE_SIDE: u32 = 256;

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub session: SessionOptions,
    /// Wall-clock limit for all probe runs together (session creation is not included).
    pub time_limit: Duration,
}

impl CheckOptions {
    pub fn from_settings(e: &arena::config::EvaluationSettings) -> CheckOptions {
        CheckOptions {
            session: SessionOptions::from_settings(e),
            time_limit: Duration::from_millis(e.probe_time_limit_ms),
        }
    }
}

/// What a passing detector did on the probe frames.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// P(fake) of each probe frame (the first run, at the manifest's batch).
    pub scores: Vec<f32>,
    /// The batch sizes of the two runs (both 1 when the model's batch is fixed to 1).
    pub batch_sizes: [usize; 2],
    /// Largest difference seen between the runs.
    pub max_diff: f32,
    pub execution_provider: ExecutionProvider,
    /// Wall time of the probe runs.
    pub elapsed: Duration,
}

/// `PROBE_FRAMES` smooth colour patterns, `PROBE_SIDE` pixels square, the same on every call:
/// gradients whose direction and phase change per frame, so no two frames or pixels repeat.
pub fn probe_frames() -> Vec<RgbImage> {
    let side = PROBE_SIDE;
    // A triangle wave over 0..=255: smooth, no seam.
    let tri = |v: u32| {
        let v = v % 510;
        (if v < 255 { v } else { 510 - v }) as u8
    };
    (0..PROBE_FRAMES as u32)
        .map(|i| {
            let mut data = Vec::with_capacity((side * side * 3) as usize);
            for y in 0..side {
                for x in 0..side {
                    data.push(tri(x + 37 * i));
                    data.push(tri(y * 2 + 61 * i));
                    data.push(tri(x + y + 89 * i));
                }
            }
            RgbImage {
                width: side,
                height: side,
                data,
            }
        })
        .collect()
}

/// The probe frames as the detector reads them, by the score job's rule
/// ([`crate::crops::CropsView::cut_all`]): as they are for `crop = "frame"`; for face crops each
/// probe frame is taken as a face's context (the frame is the [`crate::face_crop::CONTEXT_MARGIN`]
/// square around a face box at its centre, whose eyes are turned by a different angle per frame)
/// and the crop is cut per the manifest's `margin` and `align`.
pub fn probe_inputs(manifest: &Manifest) -> Vec<RgbImage> {
    let frames = probe_frames();
    let n = frames.len();
    let contexts = (0..n)
        .map(|i| {
            let half = PROBE_SIDE as f32 / CONTEXT_MARGIN / 2.0;
            let c = PROBE_SIDE as f32 / 2.0;
            let t = (i as f32 - 3.5) * 6f32.to_radians();
            let turn = |dx: f32, dy: f32| {
                [
                    c + dx * t.cos() - dy * t.sin(),
                    c + dx * t.sin() + dy * t.cos(),
                ]
            };
            let ([rx, ry], [lx, ly]) = (
                turn(-0.4 * half, -0.3 * half),
                turn(0.4 * half, -0.3 * half),
            );
            let face = FaceBox {
                x0: c - half,
                y0: c - half,
                x1: c + half,
                y1: c + half,
                score: 1.0,
                eyes: Some([rx, ry, lx, ly]),
            };
            Some(FaceContext::around(face, PROBE_SIDE, PROBE_SIDE))
        })
        .collect();
    let probes = Crops {
        indices: (0..n as u64).collect(),
        images: frames,
        detected: vec![true; n],
        contexts,
    };
    probes
        .view()
        .cut_all(manifest)
        .iter()
        .map(|c| c.rgb().to_image())
        .collect()
}

/// Loads the detector and runs the probe checks. Client errors: the load and run failures of
/// [`Detector`], `model_output_not_finite`, `model_nondeterministic`, `model_too_slow`.
pub fn check_detector(
    rt: &OrtRuntime,
    model_bytes: &[u8],
    manifest: &Manifest,
    opts: &CheckOptions,
) -> Result<CheckReport, DetectorError> {
    let mut det = Detector::load(rt, model_bytes, manifest.clone(), &opts.session)?;
    check_loaded(&mut det, opts.time_limit)
}

/// The probe checks of [`check_detector`] on a session already built from the upload (a slot's
/// scoring child keeps it for the detector's score jobs when they pass).
pub fn check_loaded(
    det: &mut Detector,
    time_limit: Duration,
) -> Result<CheckReport, DetectorError> {
    let manifest = det.manifest().clone();
    let frames = probe_inputs(&manifest);
    let batch_sizes = [det.batch_size(), 1];
    let watchdog = Watchdog::start(det, time_limit);
    let started = Instant::now();
    let runs = probe_runs(det, &frames, batch_sizes);
    let elapsed = started.elapsed();
    let fired = watchdog.stop();
    let limit_ms = u64::try_from(time_limit.as_millis()).unwrap_or(u64::MAX);
    // A run stopped by the watchdog fails with a generic onnxruntime error; name the real cause.
    if fired || elapsed > time_limit {
        return Err(DetectorError::TooSlow { limit_ms });
    }
    let [first, second] = runs?;
    let max_diff = first
        .iter()
        .zip(&second)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    if max_diff > TOLERANCE || first.len() != second.len() {
        return Err(DetectorError::NonDeterministic { max_diff });
    }
    Ok(CheckReport {
        scores: first,
        batch_sizes,
        max_diff,
        execution_provider: det.execution_provider(),
        elapsed,
    })
}

/// Scores `frames` twice: at the first batch size, then at the second.
fn probe_runs(
    det: &mut Detector,
    frames: &[RgbImage],
    batch_sizes: [usize; 2],
) -> Result<[Vec<f32>; 2], DetectorError> {
    let first = det.score_frames_batched(frames, batch_sizes[0])?;
    let second = det.score_frames_batched(frames, batch_sizes[1])?;
    Ok([first, second])
}

/// A thread that terminates the detector's runs once the limit passes, unless stopped first.
struct Watchdog {
    done: mpsc::Sender<()>,
    fired: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(det: &Detector, limit: Duration) -> Watchdog {
        let (done, wait) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let terminator = det.terminator();
        let flag = Arc::clone(&fired);
        let thread = std::thread::Builder::new()
            .name("probe-watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                    flag.store(true, Ordering::SeqCst);
                    if let Err(e) = terminator.terminate() {
                        tracing::error!(error = %e, "could not terminate a runaway probe run");
                    }
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                // Without a watchdog the check still runs; only the limit is not enforced.
                tracing::error!(error = %e, "could not start the probe watchdog");
                None
            }
        };
        Watchdog {
            done,
            fired,
            thread,
        }
    }

    /// Stops the watchdog; true when it fired.
    fn stop(mut self) -> bool {
        let _ = self.done.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.fired.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::manifest::CropMode;
    use crate::onnx_model::proto;
    use crate::test_support::{
        detector_fixture, int_attr, ints_attr, means_model, model, node, runtime, tensor_f32,
        value_info,
    };
    use prost::Message;

    fn opts(limit_ms: u64) -> CheckOptions {
        CheckOptions {
            session: SessionOptions::default(),
            time_limit: Duration::from_millis(limit_ms),
        }
    }

    fn manifest_for(output: &str) -> Manifest {
        let (_, manifest) = detector_fixture("redblue");
        Manifest {
            output: output.into(),
            ..manifest
        }
    }

    #[test]
    fn probe_frames_are_reproducible_and_distinct() {
        let a = probe_frames();
        assert_eq!(a, probe_frames());
        assert_eq!(a.len(), PROBE_FRAMES);
        assert!(a.windows(2).all(|w| w[0] != w[1]));
        assert!(
            a.iter()
                .all(|f| (f.width, f.height, f.data.len()) == (256, 256, 256 * 256 * 3))
        );
    }

    #[test]
    fn probes_are_cut_by_the_score_jobs_rule() {
        let (_, base) = detector_fixture("redblue");
        let with = |crop, margin, align| Manifest {
            crop,
            margin,
            align,
            ..base.clone()
        };
        let frames = probe_frames();
        // Whole frames as they are.
        assert_eq!(probe_inputs(&with(CropMode::Frame, 1.3, false)), frames);
        // Face crops: margin x the 102.4-px face box, centred; 2.5 is the whole probe.
        for (margin, side) in [(1.0, 102), (1.3, 133), (2.0, 205), (2.5, 256)] {
            let probes = probe_inputs(&with(CropMode::Face, margin, false));
            assert_eq!(probes.len(), PROBE_FRAMES);
            let start = (128.0 - side as f32 / 2.0).round() as u32;
            for (p, f) in probes.iter().zip(&frames) {
                assert_eq!(
                    *p,
                    crate::media::resize::crop(f, start, start, side, side).unwrap(),
                    "margin {margin}"
                );
            }
        }
        // Aligned: turned by each probe's eye angle (0 for none of them), so unlike the plain.
        let plain = probe_inputs(&with(CropMode::Face, 1.3, false));
        let aligned = probe_inputs(&with(CropMode::Face, 1.3, true));
        assert!(
            plain
                .iter()
                .zip(&aligned)
                .all(|(a, b)| a != b && a.width == b.width)
        );
    }

    #[test]
    fn redblue_passes() {
        let (bytes, manifest) = detector_fixture("redblue");
        let report = check_detector(&runtime(), &bytes, &manifest, &opts(20_000)).unwrap();
        assert_eq!(report.batch_sizes, [4, 1]);
        assert_eq!(report.scores.len(), PROBE_FRAMES);
        assert!(report.max_diff <= TOLERANCE);
        assert!(report.scores.iter().all(|s| (0.0..=1.0).contains(s)));
    }

    #[test]
    fn a_fixed_batch_model_passes_at_batch_one() {
        let (bytes, manifest) = detector_fixture("greenish");
        let report = check_detector(&runtime(), &bytes, &manifest, &opts(20_000)).unwrap();
        assert_eq!(report.batch_sizes, [1, 1]);
    }

    #[test]
    fn random_outputs_are_rejected_as_nondeterministic() {
        // logits = RandomUniformLike(means) . W: a fresh random score on every run.
        let bytes = means_model(
            "logits",
            &[None, Some(1)],
            vec![
                node("RandomUniformLike", &["m"], &["r"]),
                node("MatMul", &["r", "W"], &["logits"]),
            ],
            vec![tensor_f32("W", &[3, 1], &[4.0, -4.0, 4.0])],
        );
        let e =
            check_detector(&runtime(), &bytes, &manifest_for("logits"), &opts(20_000)).unwrap_err();
        assert_eq!(e.code(), "model_nondeterministic", "{e}");
        assert!(e.is_client_error());
    }

    #[test]
    fn scores_that_depend_on_the_batch_are_rejected() {
        // logits = z + mean of z over the batch: the same at every run, but a frame scored with
        // others differs from the same frame scored alone.
        let mut batch_mean = node("ReduceMean", &["z"], &["zm"]);
        batch_mean.attribute = vec![ints_attr("axes", &[0]), int_attr("keepdims", 1)];
        let bytes = means_model(
            "logits",
            &[None, Some(1)],
            vec![
                node("MatMul", &["m", "W"], &["z"]),
                batch_mean,
                node("Add", &["z", "zm"], &["logits"]),
            ],
            vec![tensor_f32("W", &[3, 1], &[4.0, -4.0, 4.0])],
        );
        let e =
            check_detector(&runtime(), &bytes, &manifest_for("logits"), &opts(20_000)).unwrap_err();
        assert_eq!(e.code(), "model_nondeterministic", "{e}");
    }

    #[test]
    fn non_finite_outputs_are_rejected() {
        let bytes = means_model(
            "logits",
            &[None, Some(1)],
            vec![
                node("MatMul", &["m", "W"], &["z"]),
                node("Div", &["z", "zero"], &["logits"]),
            ],
            vec![
                tensor_f32("W", &[3, 1], &[4.0, 0.0, -4.0]),
                tensor_f32("zero", &[1], &[0.0]),
            ],
        );
        let e =
            check_detector(&runtime(), &bytes, &manifest_for("logits"), &opts(20_000)).unwrap_err();
        assert_eq!(e.code(), "model_output_not_finite");
    }

    /// means `m` [N, 3] -> Loop(trip count 2^62, cond true){ v + 1 } -> MatMul W -> logits.
    fn runaway_loop_model() -> Vec<u8> {
        let scalar = |name: &str, elem_type: i32| proto::ValueInfoProto {
            name: name.into(),
            r#type: Some(proto::TypeProto {
                value: Some(proto::type_proto::Value::TensorType(
                    proto::type_proto::Tensor {
                        elem_type,
                        shape: Some(proto::TensorShapeProto { dim: vec![] }),
                    },
                )),
            }),
        };
        let body = proto::GraphProto {
            name: "body".into(),
            node: vec![
                node("Identity", &["cond_in"], &["cond_out"]),
                node("Add", &["v_in", "one"], &["v_out"]),
            ],
            initializer: vec![tensor_f32("one", &[1], &[1.0])],
            input: vec![
                scalar("iter", 7),
                scalar("cond_in", 9),
                value_info("v_in", &[None, Some(3)]),
            ],
            output: vec![scalar("cond_out", 9), value_info("v_out", &[None, Some(3)])],
            ..Default::default()
        };
        let mut looped = node("Loop", &["trips", "keep_going", "m"], &["v"]);
        looped.attribute = vec![proto::AttributeProto {
            name: "body".into(),
            r#type: 5,
            g: Some(body),
            ..Default::default()
        }];
        let trips = proto::TensorProto {
            dims: vec![],
            data_type: 7,
            raw_data: (1i64 << 62).to_le_bytes().to_vec(),
            name: "trips".into(),
            ..Default::default()
        };
        let keep_going = proto::TensorProto {
            dims: vec![],
            data_type: 9,
            raw_data: vec![1],
            name: "keep_going".into(),
            ..Default::default()
        };
        let mut reduce = node("ReduceMean", &["input"], &["m"]);
        reduce.attribute = vec![
            crate::test_support::ints_attr("axes", &[2, 3]),
            int_attr("keepdims", 0),
        ];
        let graph = proto::GraphProto {
            name: "runaway".into(),
            node: vec![reduce, looped, node("MatMul", &["v", "W"], &["logits"])],
            initializer: vec![
                trips,
                keep_going,
                tensor_f32("W", &[3, 1], &[1.0, 0.0, -1.0]),
            ],
            input: vec![value_info("input", &[None, Some(3), Some(32), Some(32)])],
            output: vec![value_info("logits", &[None, Some(1)])],
            ..Default::default()
        };
        model(graph).encode_to_vec()
    }

    #[test]
    fn a_runaway_loop_is_stopped_by_the_time_limit() {
        let started = Instant::now();
        let e = check_detector(
            &runtime(),
            &runaway_loop_model(),
            &manifest_for("logits"),
            &opts(300),
        )
        .unwrap_err();
        assert_eq!(e.code(), "model_too_slow", "{e}");
        assert!(e.is_client_error());
        assert!(e.to_string().contains("300 ms"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn cuda_falls_back_to_cpu_with_the_same_scores() {
        let (bytes, manifest) = detector_fixture("redblue");
        let cpu = check_detector(&runtime(), &bytes, &manifest, &opts(20_000)).unwrap();
        let cuda_opts = CheckOptions {
            session: SessionOptions {
                intra_threads: 1,
                execution_provider: ExecutionProvider::Cuda,
                ..SessionOptions::default()
            },
            time_limit: Duration::from_secs(20),
        };
        let cuda = check_detector(&runtime(), &bytes, &manifest, &cuda_opts).unwrap();
        // This machine's onnxruntime has no CUDA: the session runs on the CPU instead.
        if cuda.execution_provider == ExecutionProvider::Cpu {
            assert_eq!(cuda.scores, cpu.scores);
        } else {
            for (a, b) in cuda.scores.iter().zip(&cpu.scores) {
                assert!((a - b).abs() < 1e-3, "{a} vs {b}");
            }
        }
    }
}
