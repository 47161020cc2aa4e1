//! (c) Cross-evaluation cost: C videos x D detectors through `evaluate_offline` take exactly C
//! decodes (`media::decode_count()`); wall time as C grows at fixed D and as D grows at fixed C.

use anyhow::{Result, bail};
use arena_worker::eval;
use serde::Serialize;

use crate::Bench;

#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    pub videos: usize,
    pub detectors: Vec<String>,
    pub decodes: u64,
    pub wall_ms: f64,
    /// Decode + faces + crops, summed over videos.
    pub prepare_ms: f64,
    pub inference_ms: f64,
}

impl Scaling {
    /// Wall time if every (video, detector) pair decoded and cropped its video again.
    fn per_pair_estimate_ms(&self) -> f64 {
        let extra = (self.detectors.len().saturating_sub(1) * self.videos) as f64;
        self.wall_ms + extra * self.prepare_ms / self.videos.max(1) as f64
    }
}

impl Bench {
    fn cross_evaluate(&self, c: usize, names: &[String]) -> Result<Scaling> {
        let c = c.min(self.videos.len());
        let report = eval::evaluate_offline(
            &self.videos[..c],
            &self.detector_paths(names),
            &self.eval_options(1, 1, true),
        )?;
        if report.decodes != c as u64 {
            bail!(
                "{c} videos x {} detectors took {} decodes",
                names.len(),
                report.decodes
            );
        }
        let t = &report.totals;
        Ok(Scaling {
            videos: c,
            detectors: names.to_vec(),
            decodes: report.decodes,
            wall_ms: report.wall_ms,
            prepare_ms: t.decode_ms + t.faces_ms + t.crops_ms,
            inference_ms: t.inference_ms,
        })
    }

    pub fn scaling(&self) -> Result<Vec<Scaling>> {
        let all = self.flags.list(
            "scaling-detectors",
            "convnet-224,effnet-b0-224,convframe-224,xception-299",
        );
        let first = |d: usize| all.iter().take(d).cloned().collect::<Vec<_>>();
        let mut by_c = Vec::new();
        for c in [2, 4, 8] {
            by_c.push(self.cross_evaluate(c, &first(2))?);
        }
        let mut by_d = vec![self.cross_evaluate(4, &first(1))?];
        by_d.extend(
            by_c.iter()
                .find(|s| s.videos == 4.min(self.videos.len()))
                .cloned(),
        );
        by_d.push(self.cross_evaluate(4, &first(4))?);
        println!(
            "## (c) C videos x D detectors\n\n`evaluate_offline` (1 thread/session, overlapped); \
             `decodes` is `media::decode_count()` over the run. \"Per-pair decoding\" estimates a \
             pipeline that decodes and crops the video again for each detector: wall + (C x D - C) \
             x the mean decode + faces + crops per video. Detectors, in order: {}.\n",
            all.join(", ")
        );
        print_table("C grows, D = 2", &by_c);
        print_table("D grows, C = 4", &by_d);
        by_c.extend(by_d);
        Ok(by_c)
    }
}

fn print_table(title: &str, rows: &[Scaling]) {
    println!(
        "{title}:\n\n| C | D | decodes | C x D | wall s | decode + faces + crops s | inference s | \
         per-pair decoding, estimated s |\n|---|---|---|---|---|---|---|---|"
    );
    for r in rows {
        let d = r.detectors.len();
        println!(
            "| {} | {d} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.videos,
            r.decodes,
            r.videos * d,
            r.wall_ms / 1000.0,
            r.prepare_ms / 1000.0,
            r.inference_ms / 1000.0,
            r.per_pair_estimate_ms() / 1000.0
        );
    }
    println!();
}
