//! `arena-bench`: the worker's benchmarks (docs/BENCHMARKS.md), each measured side by side in
//! one run and printed as markdown: (a) scoring over cached crops against bare onnxruntime,
//! (b) the offline pipeline end to end against a Python pipeline and FFmpeg's own decode,
//! (c) C videos x D detectors costing C decodes. `scripts/bench/run.sh` builds its inputs.
#![expect(clippy::print_stdout, reason = "a benchmark prints its tables")]

mod bare;
mod check;
mod e2e;
mod faces;
mod overhead;
mod prepare;
mod scaling;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use arena_worker::detector::{CudaOptions, ExecutionProvider, OrtRuntime, SessionOptions};
use arena_worker::eval::{self, EvalOptions};
use arena_worker::faces::FaceDetector;
use arena_worker::pipeline::{PreparePlan, PreparedVideo};
use serde::Serialize;

const USAGE: &str = "usage: arena-bench <all|overhead|e2e|scaling|faces|prepare|check|dump>
    [--models DIR] [--videos DIR] [--names a,b,..] [--count N] [--frames K] [--rounds N]
    [--e2e-sets \"a,b;a,b,c,d\"] [--scaling-detectors a,b,c,d]
    [--python-bin PYTHON] [--python SCRIPT] [--json OUT] [--provider cpu|cuda] [--gpu-batch N]
  all        (a), (b) and (c) in one run
  overhead   (a) Detector::score_frames over cached crops vs bare ort Session::run
             (--provider cuda: both on the GPU; scripts/gpu-check)
  e2e        (b) evaluate_offline vs scripts/bench/python_pipeline.py vs ffmpeg -f null
  scaling    (c) C videos x D detectors: decodes and wall time
  faces      (d) the face stage on clips with known faces (--videos .cache/bench/faces)
  prepare    (e) one video prepared in memory (`arena eval`) vs into the cache files (platform)
  check      (f) the server's check of a decode child's caches: mapped populated vs lazily
  dump       --video V --out DIR: one video's cached images, for scripts/bench/compare_crops.py";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    let flags = Flags::parse(rest)?;
    match command.as_str() {
        "bare-child" => return bare::child_main(&flags),
        "dump" => return dump(&flags),
        "faces" => {
            let rows = faces::run(&flags)?;
            if let Some(path) = flags.get("json") {
                std::fs::write(path, serde_json::to_vec_pretty(&rows)?)
                    .with_context(|| format!("writing {path}"))?;
            }
            return Ok(());
        }
        _ => {}
    }
    let bench = Bench::new(flags)?;
    let mut results = Results::default();
    match command.as_str() {
        "overhead" => results.overhead = bench.overhead()?,
        "e2e" => {
            let bare = bench.overhead_quick()?;
            results.e2e = bench.e2e_sets(&bare)?;
        }
        "scaling" => results.scaling = bench.scaling()?,
        "prepare" => prepare::run(&bench)?,
        "check" => check::run(&bench)?,
        "all" => {
            bench.header();
            results.overhead = bench.overhead()?;
            results.e2e = bench.e2e_sets(&results.overhead)?;
            results.scaling = bench.scaling()?;
        }
        _ => bail!("{USAGE}"),
    }
    if let Some(path) = bench.flags.get("json") {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

#[derive(Default, Serialize)]
struct Results {
    overhead: Vec<overhead::Overhead>,
    e2e: Vec<e2e::E2e>,
    scaling: Vec<scaling::Scaling>,
}

/// `--key value` pairs.
struct Flags(HashMap<String, String>);

impl Flags {
    fn parse(args: &[String]) -> Result<Flags> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            let name = key
                .strip_prefix("--")
                .ok_or_else(|| anyhow!("unexpected argument {key}\n{USAGE}"))?;
            let value = it.next().ok_or_else(|| anyhow!("{key} needs a value"))?;
            map.insert(name.to_owned(), value.clone());
        }
        Ok(Flags(map))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn path(&self, key: &str, default: &str) -> PathBuf {
        PathBuf::from(self.get(key).unwrap_or(default))
    }

    fn number(&self, key: &str, default: usize) -> Result<usize> {
        self.get(key)
            .map_or(Ok(default), str::parse)
            .with_context(|| format!("--{key} must be a number"))
    }

    fn list(&self, key: &str, default: &str) -> Vec<String> {
        let raw = self.get(key).unwrap_or(default);
        raw.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// What every measurement shares: the runtime, the inputs and the flags.
struct Bench {
    flags: Flags,
    rt: OrtRuntime,
    provider: ExecutionProvider,
    models: PathBuf,
    videos: Vec<PathBuf>,
    names: Vec<String>,
    frames: usize,
    rounds: usize,
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

impl Bench {
    /// The detectors' session options: `--provider` (cpu), `--gpu-batch` (64, as the settings).
    fn session(&self) -> SessionOptions {
        SessionOptions {
            execution_provider: self.provider,
            cuda: CudaOptions {
                batch: self.flags.number("gpu-batch", 64).unwrap_or(64),
                ..CudaOptions::default()
            },
            ..SessionOptions::default()
        }
    }

    fn new(flags: Flags) -> Result<Bench> {
        let provider = ExecutionProvider::parse(flags.get("provider").unwrap_or("cpu"))
            .ok_or_else(|| anyhow!("--provider must be cpu or cuda"))?;
        let rt = OrtRuntime::init(&OrtRuntime::lib_path_for(provider))?;
        let dir = flags.path("videos", ".cache/bench/videos");
        let mut videos: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}; run scripts/bench/run.sh", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .collect();
        videos.sort();
        if videos.is_empty() {
            bail!("no .mp4 in {}", dir.display());
        }
        Ok(Bench {
            rt,
            provider,
            models: flags.path("models", ".cache/bench/models"),
            videos,
            names: flags.list(
                "names",
                "convnet-224,convframe-224,effnet-b0-224,xception-299",
            ),
            frames: flags.number("frames", 32)?,
            rounds: flags.number("rounds", 3)?.max(1),
            flags,
        })
    }

    fn detector_paths(&self, names: &[String]) -> Vec<(PathBuf, PathBuf)> {
        names
            .iter()
            .map(|n| {
                (
                    self.models.join(format!("{n}.onnx")),
                    self.models.join(format!("{n}.toml")),
                )
            })
            .collect()
    }

    /// (b) once per detector set: `--e2e-sets "a,b;c,d"`, by default the two small conv nets
    /// (pipeline-bound) and then every detector (inference-bound).
    fn e2e_sets(&self, bare: &[overhead::Overhead]) -> Result<Vec<e2e::E2e>> {
        let default = format!("convnet-224,convframe-224;{}", self.names.join(","));
        let sets = self.flags.get("e2e-sets").unwrap_or(&default);
        let mut out = Vec::new();
        for set in sets.split(';').filter(|s| !s.is_empty()) {
            let names: Vec<String> = set.split(',').map(str::to_owned).collect();
            out.push(self.e2e(bare, &names)?);
        }
        Ok(out)
    }

    fn eval_options(&self, intra_threads: usize, parallel: usize, overlap: bool) -> EvalOptions {
        EvalOptions {
            sampler_frames: self.frames,
            intra_threads,
            parallel,
            overlap,
            ..EvalOptions::default()
        }
    }

    fn header(&self) {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or("unknown", str::trim);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("# arena-bench\n");
        println!(
            "Machine: {cores} cores, {cpu}; load average at start {}; onnxruntime {} (CPU).",
            load.join(" "),
            arena_worker::pipeline::ORT_VERSION
        );
        println!(
            "Inputs: {} videos in {}, K = {} frames each; detectors {}.\n",
            self.videos.len(),
            self.flags.path("videos", ".cache/bench/videos").display(),
            self.frames,
            self.names.join(", ")
        );
    }
}

/// One video's prepared images (K frames, faces, crops) with the default sizes.
fn prepare_one(rt: &OrtRuntime, path: &Path, frames: usize) -> Result<PreparedVideo> {
    let opts = EvalOptions::default();
    let mut faces = FaceDetector::load(rt, &opts.face_model, &SessionOptions::default())?;
    let plan = PreparePlan {
        frames,
        decode_max_side: opts.decode_max_side,
        max_side: opts.max_side,
    };
    Ok(eval::prepare_timed(path, &plan, &mut faces)?.prepared)
}

/// `dump --video V --out DIR`: writes one video's prepared images (`faces.bin`, `frames.bin`, in
/// the crop cache format) for scripts/bench/compare_crops.py to diff against Python's.
fn dump(flags: &Flags) -> Result<()> {
    let rt = OrtRuntime::init(&OrtRuntime::default_lib_path())?;
    let out = flags.path("out", "");
    let prepared = prepare_one(&rt, &flags.path("video", ""), flags.number("frames", 32)?)?;
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("faces.bin"), prepared.faces.encode())?;
    std::fs::write(out.join("frames.bin"), prepared.frames.encode())?;
    Ok(())
}
