//! (a) Platform overhead: the score job's path over cached crops (cache bytes -> crops -> resize
//! and normalise -> session -> per-frame P(fake) -> aggregate) against a bare ort `Session::run`
//! on the pre-built tensors of the same frames, alternated round by round.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use arena_worker::crops::Crops;
use arena_worker::detector::{Detector, aggregate, cuda_fallback_reason};
use arena_worker::manifest::Manifest;
use arena_worker::media::{AsRgb, RgbImage};
use arena_worker::pipeline::PreparedVideo;
use serde::Serialize;

use crate::bare::BareChild;
use crate::{Bench, median, ms_since, prepare_one};

#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    /// Where both sides ran (`--provider`).
    pub provider: String,
    pub detector: String,
    pub frames: usize,
    pub batch: usize,
    pub rounds: usize,
    /// One video's frames scored from the cache bytes, median over rounds.
    pub platform_ms: f64,
    /// `Session::run` on the pre-built tensors of the same frames, median over rounds.
    pub bare_ms: f64,
    pub overhead_pct: f64,
    /// Of the platform's time: building the input tensors alone (resize, normalise, layout),
    /// median over rounds.
    pub preprocess_ms: f64,
    /// Largest |P(fake)| difference between the two (0 proves the tensors are the same).
    pub max_score_diff: f32,
}

impl Bench {
    pub fn overhead(&self) -> Result<Vec<Overhead>> {
        let video = &self.videos[0];
        let prepared = prepare_one(&self.rt, video, self.frames)?;
        let mut out = Vec::new();
        for name in &self.names {
            out.push(self.measure_overhead(name, &prepared, 5)?);
        }
        println!(
            "## (a) Scoring over cached crops vs bare onnxruntime ({})\n\nThe cached images of {} \
             (K = {}), 1 intra-op thread in both, rounds alternated ABBA; medians. Platform = \
             `Crops::parse` of the cache bytes (no copy), `pick`, `Detector::score_frames` (resize, \
             normalise, batched runs, output parsing), `aggregate`. Bare = `Session::run` over \
             pre-built input tensors of the same frames in a second process of the bench (one \
             onnxruntime environment per process), which waits while the other runs.\n",
            self.session().execution_provider.as_str(),
            video.display(),
            self.frames
        );
        println!(
            "| detector | frames x batch | rounds | platform ms/video | bare ort ms/video | \
             overhead | of which preprocessing ms/video | max abs score diff |\n\
             |---|---|---|---|---|---|---|---|"
        );
        for o in &out {
            println!(
                "| {} | {} x {} | {} | {:.1} | {:.1} | {:+.1} % | {:.1} | {:.1e} |",
                o.detector,
                o.frames,
                o.batch,
                o.rounds,
                o.platform_ms,
                o.bare_ms,
                o.overhead_pct,
                o.preprocess_ms,
                o.max_score_diff
            );
        }
        println!();
        Ok(out)
    }

    /// (a) with few rounds, when (b) runs alone and needs only the bare costs.
    pub fn overhead_quick(&self) -> Result<Vec<Overhead>> {
        let prepared = prepare_one(&self.rt, &self.videos[0], self.frames)?;
        self.names
            .iter()
            .map(|n| self.measure_overhead(n, &prepared, 2))
            .collect()
    }

    fn measure_overhead(
        &self,
        name: &str,
        prepared: &PreparedVideo,
        min_rounds: usize,
    ) -> Result<Overhead> {
        let model = self.models.join(format!("{name}.onnx"));
        let manifest = Manifest::parse(&std::fs::read_to_string(
            self.models.join(format!("{name}.toml")),
        )?)?;
        let bytes = std::fs::read(&model).with_context(|| format!("{}", model.display()))?;
        let session = self.session();
        let mut det = Detector::load(&self.rt, &bytes, manifest.clone(), &session)?;
        if det.execution_provider() != session.execution_provider {
            bail!(
                "{name}: asked for {} but the session runs on {}: {}",
                session.execution_provider.as_str(),
                det.execution_provider().as_str(),
                cuda_fallback_reason().unwrap_or_default()
            );
        }
        let images = prepared.images_for(manifest.crop);
        // What the score job reads from the object store.
        let cached = images.encode();
        let frames: Vec<RgbImage> = images
            .for_detector(&manifest)
            .iter()
            .map(|c| c.rgb().to_image())
            .collect();
        let batch = det.batch_size();
        let platform = |det: &mut Detector| -> Result<(f64, Vec<f32>)> {
            let t = Instant::now();
            let crops = Crops::parse(&cached)?;
            let picked = crops.for_detector(det.manifest());
            let per_frame = det.score_frames(&picked)?;
            std::hint::black_box(aggregate(det.manifest().aggregate, &per_frame));
            Ok((ms_since(t), per_frame))
        };
        let mut child = BareChild::spawn(
            &model,
            &manifest,
            &frames,
            batch,
            session.intra_threads,
            session.execution_provider,
        )?;
        let (warm_ms, platform_scores) = platform(&mut det)?;
        // About 4 s of measuring per detector, at least `min_rounds` rounds.
        let rounds = ((4000.0 / (2.0 * warm_ms.max(1.0))) as usize).clamp(min_rounds, 40);
        let (mut p, mut b, mut bare_scores) = (Vec::new(), Vec::new(), Vec::new());
        let mut pre = Vec::new();
        for r in 0..rounds {
            let t = Instant::now();
            std::hint::black_box(det.preprocess(&frames)?);
            pre.push(ms_since(t));
            let platform_first = r % 4 == 0 || r % 4 == 3;
            if platform_first {
                p.push(platform(&mut det)?.0);
            }
            let (ms, scores) = child.run(&manifest)?;
            b.push(ms);
            bare_scores = scores;
            if !platform_first {
                p.push(platform(&mut det)?.0);
            }
        }
        child.quit();
        if platform_scores.len() != bare_scores.len() {
            bail!("{name}: the bare run scored {} frames", bare_scores.len());
        }
        let max_score_diff = platform_scores
            .iter()
            .zip(&bare_scores)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let (platform_ms, bare_ms) = (median(&p), median(&b));
        Ok(Overhead {
            provider: session.execution_provider.as_str().to_owned(),
            detector: name.to_owned(),
            frames: frames.len(),
            batch,
            rounds,
            platform_ms,
            bare_ms,
            overhead_pct: 100.0 * (platform_ms - bare_ms) / bare_ms,
            preprocess_ms: median(&pre),
            max_score_diff,
        })
    }
}
