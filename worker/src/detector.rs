//! Detector sessions (onnxruntime via `ort`): preprocessing per manifest, batched inference,
//! per-frame P(fake), and video-level aggregation.

use std::sync::Arc;

use ort::session::{RunOptions, Session};
use ort::value::TensorRef;

use crate::manifest::{Aggregate, Layout, Manifest, OutputKind};
use crate::media::AsRgb;
use crate::onnx_model::{InputBatch, check_manifest_against_model, inspect_model};

mod error;
mod preprocess;
mod runtime;

pub use error::DetectorError;
pub use preprocess::model_input;
use preprocess::*;
pub use runtime::*;

/// Stops a detector's runs in progress (and later ones until [`RunTerminator::reset`]); can be
/// used from another thread, e.g. a watchdog.
#[derive(Clone)]
pub struct RunTerminator {
    options: Arc<RunOptions>,
}

impl RunTerminator {
    pub fn terminate(&self) -> Result<(), DetectorError> {
        self.options
            .terminate()
            .map_err(|e| DetectorError::Internal(e.to_string()))
    }

    pub fn reset(&self) -> Result<(), DetectorError> {
        self.options
            .unterminate()
            .map_err(|e| DetectorError::Internal(e.to_string()))
    }
}

/// A loaded detector model with its manifest.
pub struct Detector {
    session: Session,
    provider: ExecutionProvider,
    run_options: Arc<RunOptions>,
    manifest: Manifest,
    batch: usize,
    across_videos: bool,
    runs: u64,
    plan: Option<ResizePlan>,
    input: Vec<f32>,
}

impl Detector {
    /// Validates the model against the manifest, then creates an onnxruntime session from memory.
    pub fn load(
        rt: &OrtRuntime,
        model_bytes: &[u8],
        manifest: Manifest,
        opts: &SessionOptions,
    ) -> Result<Detector, DetectorError> {
        let info = inspect_model(model_bytes, usize::MAX)?;
        let dynamic = match check_manifest_against_model(&manifest, &info)? {
            InputBatch::FixedOne => false,
            InputBatch::Dynamic => true,
        };
        let (session, provider) = build_session(rt, model_bytes, opts)?;
        let run_options =
            Arc::new(RunOptions::new().map_err(|e| DetectorError::Internal(e.to_string()))?);
        let on_gpu = provider == ExecutionProvider::Cuda;
        let batch = match (dynamic, on_gpu) {
            (false, _) => 1,
            (true, false) => manifest.batch.max(1) as usize,
            // A GPU wants wide runs; the manifest's batch is a floor, not a cap, there.
            (true, true) => (manifest.batch as usize).max(opts.cuda.batch).max(1),
        };
        Ok(Detector {
            session,
            provider,
            run_options,
            manifest,
            batch,
            across_videos: opts.cuda.batch_across_videos.unwrap_or(on_gpu),
            runs: 0,
            plan: None,
            input: Vec::new(),
        })
    }

    /// Whether [`Detector::score_videos`] puts frames of several videos in one run.
    pub fn batches_across_videos(&self) -> bool {
        self.across_videos
    }

    /// Session runs so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// P(fake) per frame of each video, as [`Detector::score_frames`] gives them one video at a
    /// time. With batching across videos (on a GPU), the frames of all `videos` go through the
    /// session in runs of up to the batch size, crossing video boundaries; when such a run fails,
    /// the videos are scored one by one again so the error is the failing video's own.
    pub fn score_videos<F: AsRgb>(
        &mut self,
        videos: &[Vec<F>],
    ) -> Result<Vec<Vec<f32>>, DetectorError> {
        if self.across_videos && videos.len() > 1 {
            let all: Vec<&F> = videos.iter().flatten().collect();
            if let Ok(flat) = self.score_frames(&all) {
                let mut rest = flat.as_slice();
                let mut out = Vec::with_capacity(videos.len());
                for v in videos {
                    let (head, tail) = rest.split_at(v.len());
                    out.push(head.to_vec());
                    rest = tail;
                }
                return Ok(out);
            }
        }
        videos.iter().map(|v| self.score_frames(v)).collect()
    }

    /// The provider the session actually runs on (CPU after a CUDA fallback).
    pub fn execution_provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// A handle that stops this detector's runs from another thread.
    pub fn terminator(&self) -> RunTerminator {
        RunTerminator {
            options: Arc::clone(&self.run_options),
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Largest batch this detector is run with.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// P(fake) for each frame, in order (frames or references to them).
    pub fn score_frames<F: AsRgb>(&mut self, frames: &[F]) -> Result<Vec<f32>, DetectorError> {
        self.score_frames_batched(frames, self.batch)
    }

    /// [`Detector::score_frames`] in batches of at most `batch` (capped at the model's batch).
    pub fn score_frames_batched<F: AsRgb>(
        &mut self,
        frames: &[F],
        batch: usize,
    ) -> Result<Vec<f32>, DetectorError> {
        let batch = batch.clamp(1, self.batch);
        let mut scores = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(batch) {
            self.fill_input(chunk)?;
            scores.extend(self.run_batch(chunk.len())?);
        }
        Ok(scores)
    }

    /// The model input for `frames`, built in the detector's own buffer as scoring builds it
    /// (for measuring preprocessing alone).
    pub fn preprocess<F: AsRgb>(&mut self, frames: &[F]) -> Result<&[f32], DetectorError> {
        self.fill_input(frames)?;
        Ok(&self.input)
    }

    /// Preprocesses `frames` into `self.input` in the manifest's layout.
    fn fill_input<F: AsRgb>(&mut self, frames: &[F]) -> Result<(), DetectorError> {
        write_input(&self.manifest, frames, &mut self.plan, &mut self.input)
    }

    fn run_batch(&mut self, n: usize) -> Result<Vec<f32>, DetectorError> {
        let m = &self.manifest;
        let (h, w) = (m.height() as usize, m.width() as usize);
        let shape = match m.layout {
            Layout::Nchw => [n, 3, h, w],
            Layout::Nhwc => [n, h, w, 3],
        };
        self.runs += 1;
        let tensor = TensorRef::from_array_view((shape, &self.input[..]))
            .map_err(|e| DetectorError::Internal(e.to_string()))?;
        let outputs = self
            .session
            .run_with_options(ort::inputs![m.input.as_str() => tensor], &self.run_options)
            .map_err(|e| DetectorError::Run(e.to_string()))?;
        let value = outputs
            .get(&m.output)
            .ok_or_else(|| DetectorError::OutputShape(format!("no output {:?}", m.output)))?;
        let (out_shape, data) = value.try_extract_tensor::<f32>().map_err(|e| {
            DetectorError::OutputShape(format!("output is not a float32 tensor: {e}"))
        })?;
        per_frame_scores(out_shape, data, n, m.output_kind, m.fake_class())
    }
}

/// Turns a raw output tensor into one P(fake) per frame.
fn per_frame_scores(
    shape: &[i64],
    data: &[f32],
    n: usize,
    kind: OutputKind,
    fake: usize,
) -> Result<Vec<f32>, DetectorError> {
    let width = match shape {
        [b] | [b, 1] if *b == n as i64 => 1,
        [b, 2] if *b == n as i64 => 2,
        _ => {
            return Err(DetectorError::OutputShape(format!(
                "shape {shape:?} for a batch of {n}; expected [N], [N, 1] or [N, 2]"
            )));
        }
    };
    if data.len() != n * width {
        return Err(DetectorError::OutputShape(format!(
            "{} values for shape {shape:?}",
            data.len()
        )));
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(DetectorError::NonFinite);
    }
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let scores = data
        .chunks(width)
        .map(|row| {
            let p = match (width, kind) {
                (1, OutputKind::Logit) => sigmoid(f64::from(row[0])),
                // Two-class logits: softmax of the fake column = sigmoid(fake - other).
                (_, OutputKind::Logit) => sigmoid(f64::from(row[fake]) - f64::from(row[1 - fake])),
                (1, OutputKind::Probability) => f64::from(row[0]),
                (_, OutputKind::Probability) => f64::from(row[fake]),
            };
            p.clamp(0.0, 1.0) as f32
        })
        .collect();
    Ok(scores)
}

/// Aggregates per-frame P(fake) into a video score; an empty list scores 0.5 (undecided).
pub fn aggregate(kind: Aggregate, per_frame: &[f32]) -> f32 {
    if per_frame.is_empty() {
        return 0.5;
    }
    let mean = |v: &[f32]| (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64) as f32;
    match kind {
        Aggregate::Mean => mean(per_frame),
        Aggregate::Max => per_frame.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        Aggregate::Median => {
            let mut v = per_frame.to_vec();
            v.sort_by(f32::total_cmp);
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        }
        Aggregate::Confident => {
            // The DFDC winner's rule (selimsef): trust a confident majority, else the mean.
            let n = per_frame.len() as f64;
            let high: Vec<f32> = per_frame.iter().copied().filter(|&p| p > 0.8).collect();
            let low: Vec<f32> = per_frame.iter().copied().filter(|&p| p < 0.2).collect();
            if high.len() as f64 > n / 2.5 {
                mean(&high)
            } else if low.len() as f64 > 0.9 * n {
                mean(&low)
            } else {
                mean(per_frame)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::media::RgbImage;
    use crate::test_support::{
        channel_means, detector_fixture, means_model, node, runtime, sample, sigmoid, tensor_f32,
    };

    /// The per-pixel bilinear tap the row-wise `ResizePlan::write` replaced, kept as its
    /// reference: both must produce bit-identical inputs (scores are compared to 0 with Python).
    fn reference_write(
        plan: &ResizePlan,
        frame: &RgbImage,
        norm: &Normalize,
        t: &Target,
    ) -> Vec<f32> {
        let plane = t.width * t.height;
        let mut out = vec![0f32; 3 * plane];
        for c in 0..3 {
            let pad = norm.offset[c];
            match t.layout {
                Layout::Nchw => out[c * plane..(c + 1) * plane].fill(pad),
                Layout::Nhwc => out.iter_mut().skip(c).step_by(3).for_each(|v| *v = pad),
            }
        }
        let stride = frame.width as usize * 3;
        for (ry, &(y0, y1, wy)) in plan.ys.iter().enumerate() {
            for (rx, &(x0, x1, wx)) in plan.xs.iter().enumerate() {
                let (oy, ox) = (plan.region.y + ry, plan.region.x + rx);
                let mut px = [0f32; 3];
                for (ch, v) in px.iter_mut().enumerate() {
                    let at = |y: usize, x: usize| f32::from(frame.data[y * stride + x * 3 + ch]);
                    let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * wx;
                    let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * wx;
                    *v = top + (bottom - top) * wy;
                }
                for c in 0..3 {
                    let idx = match t.layout {
                        Layout::Nchw => c * plane + oy * t.width + ox,
                        Layout::Nhwc => (oy * t.width + ox) * 3 + c,
                    };
                    out[idx] = px[norm.source[c]] * norm.scale[c] + norm.offset[c];
                }
            }
        }
        out
    }

    #[test]
    fn row_wise_resize_is_bit_identical_to_the_per_pixel_tap() {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let norms = [
            Normalize {
                scale: [1.0 / 255.0; 3],
                offset: [0.0; 3],
                source: [0, 1, 2],
            },
            Normalize {
                scale: [
                    1.0 / (255.0 * 0.229),
                    1.0 / (255.0 * 0.224),
                    1.0 / (255.0 * 0.225),
                ],
                offset: [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225],
                source: [2, 1, 0],
            },
        ];
        // Upscaling, downscaling, odd sizes, letterboxed and full regions, both layouts.
        for (sw, sh, dw, dh, letterbox) in [
            (200, 190, 224, 224, false),
            (640, 480, 299, 299, false),
            (37, 91, 64, 48, true),
            (640, 360, 224, 224, true),
            (1, 1, 8, 8, false),
            // Already at the model's size (normalisation only), full and letterboxed.
            (224, 224, 224, 224, false),
            (64, 48, 64, 64, true),
        ] {
            let frame = RgbImage {
                width: sw,
                height: sh,
                data: (0..sw * sh * 3).map(|_| next() as u8).collect(),
            };
            let region = if letterbox {
                Region::letterbox(sw as usize, sh as usize, dw, dh)
            } else {
                Region::full(dw, dh)
            };
            let plan = ResizePlan::new(sw as usize, sh as usize, region);
            for norm in &norms {
                for layout in [Layout::Nchw, Layout::Nhwc] {
                    let t = Target {
                        width: dw,
                        height: dh,
                        layout,
                    };
                    let want = reference_write(&plan, &frame, norm, &t);
                    // Every value is written: stale ones in the buffer must not leak through.
                    let mut got = vec![f32::NAN; 3 * dw * dh];
                    plan.write(&frame.rgb(), norm, &t, &mut got);
                    let same = want
                        .iter()
                        .zip(&got)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{sw}x{sh} -> {dw}x{dh} letterbox={letterbox} {layout:?}"
                    );
                }
            }
        }
    }

    fn load(name: &str) -> Detector {
        let (bytes, manifest) = detector_fixture(name);
        Detector::load(&runtime(), &bytes, manifest, &SessionOptions::default()).unwrap()
    }

    fn video_score(det: &mut Detector, video: &str) -> f32 {
        let k = det.manifest().frames as usize;
        let frames = sample(video, k, 512).unwrap().frames;
        let per_frame = det.score_frames(&frames).unwrap();
        aggregate(det.manifest().aggregate, &per_frame)
    }

    #[test]
    fn runtime_initialises_twice() {
        let a = runtime();
        let b = OrtRuntime::init(Path::new("/nonexistent/libonnxruntime.so")).unwrap();
        drop((a, b));
    }

    #[test]
    fn redblue_scores_follow_the_colours() {
        let mut det = load("redblue");
        assert_eq!(det.batch_size(), 4);
        for (video, [r, b]) in [("real_1.mp4", [60.0, 200.0]), ("fake_2.mp4", [230.0, 30.0])] {
            let frames = sample(video, 8, 512).unwrap().frames;
            let per_frame = det.score_frames(&frames).unwrap();
            assert_eq!(per_frame.len(), 8);
            for (p, f) in per_frame.iter().zip(&frames) {
                // A 2x bilinear downscale keeps channel means exactly.
                let [mr, _, mb] = channel_means(f);
                let exact = sigmoid(4.0 * (mr - mb) / 255.0);
                assert!(
                    (f64::from(*p) - exact).abs() < 1e-4,
                    "{video}: {p} vs {exact}"
                );
            }
            let score = aggregate(Aggregate::Mean, &per_frame);
            let nominal = sigmoid(4.0 * (r - b) / 255.0);
            assert!(
                (f64::from(score) - nominal).abs() < 0.02,
                "{video}: {score} vs {nominal}"
            );
        }
    }

    #[test]
    fn redblue_orders_the_fixtures() {
        let mut det = load("redblue");
        let order = [
            "real_1.mp4",
            "fake_1.mp4",
            "real_2.mp4",
            "real_3.mp4",
            "fake_2.mp4",
        ];
        let scores: Vec<f32> = order.iter().map(|v| video_score(&mut det, v)).collect();
        assert!(scores.windows(2).all(|w| w[0] < w[1]), "{scores:?}");
        assert!(
            (scores[2] - 0.5).abs() < 0.02,
            "grey is undecided: {scores:?}"
        );
    }

    #[test]
    fn batch_size_does_not_change_scores() {
        let frames = sample("real_3.mp4", 10, 512).unwrap().frames;
        let batched = load("redblue").score_frames(&frames).unwrap();
        let (bytes, manifest) = detector_fixture("redblue");
        let one = Manifest {
            batch: 1,
            ..manifest
        };
        let mut single =
            Detector::load(&runtime(), &bytes, one, &SessionOptions::default()).unwrap();
        let unbatched = single.score_frames(&frames).unwrap();
        assert_eq!(batched.len(), 10);
        for (a, b) in batched.iter().zip(&unbatched) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn batching_across_videos_gives_each_video_its_own_scores() {
        let (bytes, manifest) = detector_fixture("redblue");
        let forced = SessionOptions {
            cuda: CudaOptions {
                batch_across_videos: Some(true),
                ..CudaOptions::default()
            },
            ..SessionOptions::default()
        };
        let mut across = Detector::load(&runtime(), &bytes, manifest, &forced).unwrap();
        let mut single = load("redblue");
        assert!(across.batches_across_videos() && !single.batches_across_videos());
        assert_eq!(
            across.batch_size(),
            4,
            "on the CPU the manifest's batch stays"
        );
        // 3 + 6 + 5 frames: 1 + 2 + 2 runs one video at a time, 4 runs of 4 across videos.
        let videos: Vec<Vec<RgbImage>> = [("real_1.mp4", 3), ("fake_2.mp4", 6), ("real_3.mp4", 5)]
            .iter()
            .map(|(v, k)| sample(v, *k, 512).unwrap().frames)
            .collect();
        let merged = across.score_videos(&videos).unwrap();
        let apart = single.score_videos(&videos).unwrap();
        assert_eq!((across.runs(), single.runs()), (4, 5));
        assert_eq!(merged.len(), 3);
        for ((m, a), v) in merged.iter().zip(&apart).zip(&videos) {
            assert_eq!((m.len(), a.len()), (v.len(), v.len()));
            for (x, y) in m.iter().zip(a) {
                assert!((x - y).abs() < 1e-6, "{m:?} vs {a:?}");
            }
        }
        // A broken frame in one video: that video's own error, as one video at a time gives it.
        let mut broken = videos.clone();
        broken[1][2].data.pop();
        let e = across.score_videos(&broken).unwrap_err();
        assert_eq!(e.code(), "detector_internal");
        assert!(e.to_string().contains("frame 2"), "{e}");
    }

    #[test]
    fn cuda_options_reach_the_provider() {
        let mut e = arena::config::EvaluationSettings {
            execution_provider: "CUDA".into(),
            gpus: vec![3, 1],
            gpu_mem_limit_mb: 2048,
            ..Default::default()
        };
        let opts = SessionOptions::from_settings(&e.for_slot(1));
        assert_eq!(opts.execution_provider, ExecutionProvider::Cuda);
        assert_eq!(opts.cuda.device_id, 1);
        assert_eq!(
            cuda_provider_options(&opts),
            [
                ("device_id", "1".to_owned()),
                ("gpu_mem_limit", "2147483648".to_owned()),
                ("arena_extend_strategy", "kSameAsRequested".to_owned()),
            ]
        );
        // What ort hands to onnxruntime's CUDA provider options.
        let built = format!("{:?}", cuda_provider(&opts));
        assert!(
            built.contains(r#""gpu_mem_limit": "2147483648""#),
            "{built}"
        );
        assert!(built.contains(r#""device_id": "1""#), "{built}");
        e.gpu_mem_limit_mb = 0;
        let uncapped = format!("{:?}", cuda_provider(&SessionOptions::from_settings(&e)));
        assert!(!uncapped.contains("gpu_mem_limit"), "{uncapped}");
        assert!(uncapped.contains(r#""device_id": "3""#), "{uncapped}");
    }

    #[test]
    fn letterbox_pads_with_black() {
        // 64x32 pure red: letterboxed into 32x32 it fills the middle 32x16 band, so mean R = 0.5.
        let red = RgbImage {
            width: 64,
            height: 32,
            data: [255u8, 0, 0].repeat(64 * 32),
        };
        let p = load("redblue").score_frames(&[red]).unwrap()[0];
        assert!((f64::from(p) - sigmoid(2.0)).abs() < 1e-4, "{p}");
    }

    #[test]
    fn greenish_uses_nhwc_bgr_softmax_and_fixed_batch() {
        let mut det = load("greenish");
        assert_eq!(det.batch_size(), 1, "the model's batch dim is fixed to 1");
        let frames = sample("fake_2.mp4", 4, 512).unwrap().frames;
        let per_frame = det.score_frames(&frames).unwrap();
        for (p, f) in per_frame.iter().zip(&frames) {
            let [r, g, _] = channel_means(f).map(|v| (v / 255.0 - 0.5) / 0.5);
            // softmax([2G, 2R])[1]
            let want = sigmoid(2.0 * r - 2.0 * g);
            assert!((f64::from(*p) - want).abs() < 1e-4, "{p} vs {want}");
        }
    }

    #[test]
    fn constant_model_is_undecided() {
        let mut det = load("constant");
        assert!((video_score(&mut det, "real_1.webm") - 0.5).abs() < 1e-6);
    }

    fn load_bytes(bytes: &[u8], output: &str) -> Result<Detector, DetectorError> {
        let (_, manifest) = detector_fixture("redblue");
        let manifest = Manifest {
            output: output.into(),
            ..manifest
        };
        Detector::load(&runtime(), bytes, manifest, &SessionOptions::default())
    }

    fn grey() -> RgbImage {
        RgbImage {
            width: 32,
            height: 32,
            data: vec![128; 32 * 32 * 3],
        }
    }

    #[test]
    fn non_finite_outputs_are_rejected() {
        // logits = (W . means) / 0
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
        let e = load_bytes(&bytes, "logits")
            .unwrap()
            .score_frames(&[grey()])
            .unwrap_err();
        assert_eq!(e.code(), "model_output_not_finite");
        assert!(e.is_client_error());
    }

    #[test]
    fn wrong_output_shapes_are_rejected() {
        let bytes = means_model("m", &[None, Some(3)], vec![], vec![]);
        let e = load_bytes(&bytes, "m")
            .unwrap()
            .score_frames(&[grey()])
            .unwrap_err();
        assert_eq!(e.code(), "model_output_shape");
    }

    #[test]
    fn models_onnxruntime_refuses_fail_to_load() {
        let bytes = means_model(
            "logits",
            &[None, Some(1)],
            vec![node("NoSuchOp", &["m"], &["logits"])],
            vec![],
        );
        let e = load_bytes(&bytes, "logits").err().unwrap();
        assert_eq!(e.code(), "model_load_failed");
        assert!(e.is_client_error());
    }

    #[test]
    fn two_wide_logits_use_softmax() {
        let p = per_frame_scores(&[2, 2], &[0.0, 1.0, 3.0, 1.0], 2, OutputKind::Logit, 1).unwrap();
        assert!((f64::from(p[0]) - sigmoid(1.0)).abs() < 1e-6);
        assert!((f64::from(p[1]) - sigmoid(-2.0)).abs() < 1e-6);
        let p = per_frame_scores(&[2], &[0.25, 0.75], 2, OutputKind::Probability, 1).unwrap();
        assert_eq!(p, vec![0.25, 0.75]);
        let e = per_frame_scores(&[3, 1], &[0.0; 3], 2, OutputKind::Logit, 1).unwrap_err();
        assert_eq!(e.code(), "model_output_shape");
    }

    #[test]
    fn aggregates_match_hand_computed_values() {
        let v = [0.1, 0.9, 0.4, 0.6];
        assert!((aggregate(Aggregate::Mean, &v) - 0.5).abs() < 1e-6);
        assert!((aggregate(Aggregate::Median, &v) - 0.5).abs() < 1e-6);
        assert!((aggregate(Aggregate::Median, &[0.3, 0.1, 0.2]) - 0.2).abs() < 1e-6);
        assert_eq!(aggregate(Aggregate::Max, &v), 0.9);
        assert_eq!(aggregate(Aggregate::Mean, &[]), 0.5);

        // Confident, n = 5: 3 frames > 0.8 and 3 > 5 / 2.5 = 2 -> mean(0.9, 0.95, 1.0) = 0.95.
        let c = aggregate(Aggregate::Confident, &[0.9, 0.95, 1.0, 0.1, 0.5]);
        assert!((c - 0.95).abs() < 1e-6, "{c}");
        // Two of five > 0.8 is not > 2; fewer than 90 % are < 0.2 -> plain mean 0.5.
        let c = aggregate(Aggregate::Confident, &[0.9, 0.9, 0.3, 0.2, 0.2]);
        assert!((c - 0.5).abs() < 1e-6, "{c}");
        // Ten frames, all < 0.2 (10 > 9) -> mean of those = 0.1.
        let c = aggregate(Aggregate::Confident, &[0.05, 0.15].repeat(5));
        assert!((c - 0.1).abs() < 1e-6, "{c}");
        // Nine of ten < 0.2 is not > 9 -> mean of all = (9 * 0.1 + 0.5) / 10 = 0.14.
        let mut v = vec![0.1; 9];
        v.push(0.5);
        assert!((aggregate(Aggregate::Confident, &v) - 0.14).abs() < 1e-6);
    }
}
