//! (b) End to end per video (decode, sample, faces, crops, every detector): `evaluate_offline`
//! against scripts/bench/python_pipeline.py (both of its resize modes) and FFmpeg's own decode of
//! the same files, rounds alternated; plus the scores' agreement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use arena_worker::eval::{self, EvalReport};
use serde::{Deserialize, Serialize};

use crate::overhead::Overhead;
use crate::{Bench, ms_since};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PyTimings {
    decode_ms: f64,
    faces_ms: f64,
    crops_ms: f64,
    preprocess_ms: f64,
    inference_ms: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PyScore {
    score: f64,
    per_frame: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PyVideo {
    path: String,
    frame_indices: Vec<u64>,
    face_frames: usize,
    timings: PyTimings,
    scores: BTreeMap<String, PyScore>,
}

/// What python_pipeline.py prints.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PyReport {
    videos: Vec<PyVideo>,
    wall_ms: f64,
    load_ms: f64,
    resize: String,
    threads: usize,
    av_version: String,
}

impl PyReport {
    fn total(&self, f: fn(&PyTimings) -> f64) -> f64 {
        self.videos.iter().map(|v| f(&v.timings)).sum()
    }
}

/// How far a Python run's results are from the worker's.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub max_score_diff: f64,
    pub max_frame_score_diff: f64,
    /// The same sampled frames, and faces found in as many of them.
    pub same_frames_and_faces: bool,
}

/// One configuration of python_pipeline.py: its resizes and onnxruntime threads (0: default).
#[derive(Debug, Clone, Copy)]
struct PyConfig {
    resize: &'static str,
    threads: usize,
}

const PY_CONFIGS: [PyConfig; 3] = [
    PyConfig {
        resize: "exact",
        threads: 1,
    },
    PyConfig {
        resize: "libs",
        threads: 1,
    },
    PyConfig {
        resize: "libs",
        threads: 0,
    },
];

/// Steps of a round before the Python ones: four Rust configurations, then FFmpeg.
const RUST_STEPS: usize = 5;

/// The fastest round of one Python configuration, and how its scores compare.
#[derive(Debug, Clone, Serialize)]
pub struct PyRun {
    pub report: PyReport,
    pub agreement: Agreement,
}

#[derive(Debug, Clone, Serialize)]
pub struct E2e {
    pub videos: Vec<PathBuf>,
    pub detectors: Vec<String>,
    pub rounds: usize,
    /// The fastest round of each pipeline. Default: threads sized to the cores (videos at once).
    pub rust_default: EvalReport,
    /// One video at a time, 1 intra-op thread per session, the next video prepared meanwhile.
    pub rust_overlapped: EvalReport,
    /// One video at a time, the cores as intra-op threads, the next video prepared meanwhile.
    pub rust_intra: EvalReport,
    pub rust_sequential: EvalReport,
    pub python: Vec<PyRun>,
    pub ffmpeg_decode_ms: f64,
    /// Bare onnxruntime over the same frames, every detector and video ((a)'s per-video cost).
    pub bare_inference_ms: f64,
}

impl E2e {
    fn python_best_ms(&self) -> f64 {
        self.python
            .iter()
            .map(|p| p.report.wall_ms)
            .fold(f64::INFINITY, f64::min)
    }
}

fn fastest<T>(runs: Vec<T>, wall: fn(&T) -> f64) -> Result<T> {
    runs.into_iter()
        .min_by(|a, b| wall(a).total_cmp(&wall(b)))
        .ok_or_else(|| anyhow!("no rounds"))
}

/// Every pipeline's runs, one entry per round.
#[derive(Default)]
struct Runs {
    default: Vec<EvalReport>,
    overlapped: Vec<EvalReport>,
    intra: Vec<EvalReport>,
    sequential: Vec<EvalReport>,
    python: [Vec<PyReport>; PY_CONFIGS.len()],
    ffmpeg: Vec<f64>,
}

impl Bench {
    fn run_python(&self, videos: &[PathBuf], names: &[String], cfg: PyConfig) -> Result<PyReport> {
        let script = self
            .flags
            .path("python", "scripts/bench/python_pipeline.py");
        let venv = Path::new(".cache/bench/venv/bin/python");
        let default_bin = if venv.is_file() {
            venv.to_str().unwrap_or("python3")
        } else {
            "python3"
        };
        let out = Command::new(self.flags.get("python-bin").unwrap_or(default_bin))
            .arg(&script)
            .arg("--models")
            .arg(&self.models)
            .args(["--names", &names.join(",")])
            .args(["--frames", &self.frames.to_string(), "--resize", cfg.resize])
            .args(["--threads", &cfg.threads.to_string()])
            .arg("--face-model")
            .arg(eval::EvalOptions::default().face_model)
            .args(videos)
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        if !out.status.success() {
            bail!("{} failed ({})", script.display(), out.status);
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    fn run_ffmpeg(videos: &[PathBuf]) -> Result<f64> {
        let t = Instant::now();
        for v in videos {
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-threads", "2", "-i"])
                .arg(v)
                .args(["-f", "null", "-"])
                .status()?;
            if !status.success() {
                bail!("ffmpeg failed on {}", v.display());
            }
        }
        Ok(ms_since(t))
    }

    fn e2e_round(
        &self,
        runs: &mut Runs,
        videos: &[PathBuf],
        names: &[String],
        reverse: bool,
    ) -> Result<()> {
        let dets = self.detector_paths(names);
        let mut steps: Vec<usize> = (0..RUST_STEPS + PY_CONFIGS.len()).collect();
        // Alternate the order so drift (load, caches) hits every pipeline alike.
        if reverse {
            steps.reverse();
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        for step in steps {
            // (intra-op threads, videos at once, overlap); 0: sized to the cores.
            let rust = |intra, parallel, overlap| {
                let opts = self.eval_options(intra, parallel, overlap);
                eval::evaluate_offline(videos, &dets, &opts)
            };
            match step {
                0 => runs.default.push(rust(0, 0, true)?),
                1 => runs.overlapped.push(rust(1, 1, true)?),
                2 => runs.intra.push(rust(cores, 1, true)?),
                3 => runs.sequential.push(rust(1, 1, false)?),
                4 => runs.ffmpeg.push(Self::run_ffmpeg(videos)?),
                i => {
                    let cfg = PY_CONFIGS[i - RUST_STEPS];
                    runs.python[i - RUST_STEPS].push(self.run_python(videos, names, cfg)?);
                }
            }
        }
        Ok(())
    }

    /// (b) for the detectors `names`; `bare` gives their bare per-video cost.
    pub fn e2e(&self, bare: &[Overhead], names: &[String]) -> Result<E2e> {
        let count = self.flags.number("count", 4)?.min(self.videos.len());
        let videos = self.videos[..count].to_vec();
        let mut runs = Runs::default();
        for round in 0..self.rounds {
            self.e2e_round(&mut runs, &videos, names, round % 2 == 1)?;
        }
        let wall = |r: &EvalReport| r.wall_ms;
        let bare_per_video: f64 = bare
            .iter()
            .filter(|o| names.contains(&o.detector))
            .map(|o| o.bare_ms)
            .sum();
        let rust_default = fastest(runs.default, wall)?;
        let mut python = Vec::new();
        for reports in runs.python {
            let report = fastest(reports, |r: &PyReport| r.wall_ms)?;
            let agreement = agreement(&rust_default, &report);
            python.push(PyRun { report, agreement });
        }
        let e2e = E2e {
            videos,
            detectors: names.to_vec(),
            rounds: self.rounds,
            rust_sequential: fastest(runs.sequential, wall)?,
            rust_overlapped: fastest(runs.overlapped, wall)?,
            rust_intra: fastest(runs.intra, wall)?,
            rust_default,
            python,
            ffmpeg_decode_ms: runs.ffmpeg.iter().copied().fold(f64::INFINITY, f64::min),
            bare_inference_ms: bare_per_video * count as f64,
        };
        print_e2e(&e2e, bare);
        Ok(e2e)
    }
}

fn agreement(rust: &EvalReport, py: &PyReport) -> Agreement {
    let mut a = Agreement {
        max_score_diff: 0.0,
        max_frame_score_diff: 0.0,
        same_frames_and_faces: rust.videos.len() == py.videos.len(),
    };
    for (r, p) in rust.videos.iter().zip(&py.videos) {
        a.same_frames_and_faces &=
            r.frame_indices == p.frame_indices && r.face_frames == p.face_frames;
        for s in &r.scores {
            let Some(ps) = p.scores.get(&s.detector) else {
                a.same_frames_and_faces = false;
                continue;
            };
            let score = s.score.map_or(f64::NAN, f64::from);
            a.max_score_diff = a.max_score_diff.max((score - ps.score).abs());
            for (x, y) in s.per_frame.iter().zip(&ps.per_frame) {
                a.max_frame_score_diff = a.max_frame_score_diff.max((f64::from(*x) - y).abs());
            }
        }
    }
    a
}

fn secs(ms: f64) -> f64 {
    ms / 1000.0
}

fn py_label(p: &PyReport) -> String {
    let resize = if p.resize == "exact" {
        "worker's resizes ported to numpy"
    } else {
        "Pillow + OpenCV resizes"
    };
    let threads = if p.threads == 0 {
        "default threads".to_owned()
    } else {
        format!("{} thread", p.threads)
    };
    format!("Python, {resize}, ort {threads}")
}

fn print_e2e(e: &E2e, bare: &[Overhead]) {
    println!(
        "## (b) End to end: {} videos x {} ({}), fastest of {} rounds\n\nEvery pipeline \
         decodes each video once, samples K frames, finds faces, cuts crops and runs every \
         detector. Stage columns are summed over videos; with overlap, preparing the next video \
         runs during inference, so stages add up to more than the wall time. Python: PyAV {} + \
         onnxruntime-python.\n",
        e.videos.len(),
        e.detectors.len(),
        e.detectors.join(", "),
        e.rounds,
        e.python
            .first()
            .map_or("?", |p| p.report.av_version.as_str())
    );
    println!(
        "| pipeline | wall s | decode s | faces s | crops s | preprocess + inference s | \
         fastest Python / this |\n|---|---|---|---|---|---|---|"
    );
    let py_best = e.python_best_ms();
    for p in &e.python {
        let r = &p.report;
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} + {:.2} | {:.2}x |",
            py_label(r),
            secs(r.wall_ms),
            secs(r.total(|t| t.decode_ms)),
            secs(r.total(|t| t.faces_ms)),
            secs(r.total(|t| t.crops_ms)),
            secs(r.total(|t| t.preprocess_ms)),
            secs(r.total(|t| t.inference_ms)),
            py_best / r.wall_ms
        );
    }
    let d = &e.rust_default;
    let default = format!(
        "Rust `evaluate_offline` (default: {} videos at once, {} thread/session)",
        d.parallel, d.intra_threads
    );
    let intra = format!(
        "Rust, 1 video at a time, {} threads/session, overlapped",
        e.rust_intra.intra_threads
    );
    for (name, r) in [
        (default.as_str(), d),
        (
            "Rust, 1 video at a time, 1 thread/session, overlapped",
            &e.rust_overlapped,
        ),
        (intra.as_str(), &e.rust_intra),
        (
            "Rust, 1 video at a time, 1 thread/session, sequential",
            &e.rust_sequential,
        ),
    ] {
        let t = &r.totals;
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x |",
            secs(r.wall_ms),
            secs(t.decode_ms),
            secs(t.faces_ms),
            secs(t.crops_ms),
            secs(t.inference_ms),
            py_best / r.wall_ms
        );
    }
    let limit = e.ffmpeg_decode_ms + e.bare_inference_ms;
    println!(
        "| limit, one thing at a time: `ffmpeg -threads 2 -i f -f null -` + bare ort (1 thread) | \
         {:.2} | {:.2} | | | {:.2} | {:.2}x |\n",
        secs(limit),
        secs(e.ffmpeg_decode_ms),
        secs(e.bare_inference_ms),
        py_best / limit
    );
    print_ratios(e, bare, py_best, limit);
}

/// The worker's preprocessing time for the frames scored in `r`: (a)'s preprocessing, per frame.
fn rust_preprocessing_ms(r: &EvalReport, bare: &[Overhead]) -> f64 {
    let per_frame: BTreeMap<&str, f64> = bare
        .iter()
        .map(|o| {
            let ms = o.preprocess_ms / o.frames.max(1) as f64;
            (o.detector.as_str(), ms)
        })
        .collect();
    r.videos
        .iter()
        .flat_map(|v| v.scores.iter())
        .map(|s| {
            let ms = per_frame.get(s.detector.as_str()).copied().unwrap_or(0.0);
            ms * s.per_frame.len() as f64
        })
        .sum()
}

fn print_ratios(e: &E2e, bare: &[Overhead], py_best: f64, limit: f64) {
    let r = &e.rust_default;
    // Stages compare best without the overlap (nothing else runs then, as in Python).
    let seq = &e.rust_sequential;
    let rust_fcp = seq.totals.faces_ms + seq.totals.crops_ms + rust_preprocessing_ms(seq, bare);
    println!("| DESIGN §9 | measured | target |\n|---|---|---|");
    println!(
        "| end to end, fastest Python / Rust (default) | {:.2}x | ≥ 2x (issue 3); never < 1x |",
        py_best / r.wall_ms
    );
    println!(
        "| end to end, Rust (default) / limit (one thing at a time) | {:.2} | ≤ 1.10 |",
        r.wall_ms / limit
    );
    for p in e.python.iter().filter(|p| p.report.threads == 1) {
        let fcp = p
            .report
            .total(|t| t.faces_ms + t.crops_ms + t.preprocess_ms);
        println!(
            "| faces + crops + preprocessing, {} / Rust (sequential run) | {:.1}x ({:.2} s vs \
             {:.2} s) | ≥ 2x |",
            py_label(&p.report),
            fcp / rust_fcp,
            secs(fcp),
            secs(rust_fcp)
        );
    }
    println!(
        "| decode, Rust (sequential run: no inference competing) / FFmpeg | {:.2} | ≤ 1.10 |",
        e.rust_sequential.totals.decode_ms / e.ffmpeg_decode_ms
    );
    if let Some(p) = e.python.first() {
        println!(
            "| decode, PyAV / FFmpeg | {:.2} | (reference) |",
            p.report.total(|t| t.decode_ms) / e.ffmpeg_decode_ms
        );
    }
    for p in &e.python {
        let a = &p.agreement;
        println!(
            "| max abs score difference, Rust vs {} | video {:.1e}, frame {:.1e}; same frames \
             and face counts: {} | ≤ 1e-4 |",
            py_label(&p.report),
            a.max_score_diff,
            a.max_frame_score_diff,
            if a.same_frames_and_faces { "yes" } else { "NO" }
        );
    }
    println!();
}
