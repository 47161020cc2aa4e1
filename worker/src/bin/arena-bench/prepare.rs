//! (e) One video's preparation two ways on one thread, alternating which goes first video by
//! video: the images kept in memory ([`prepare_frames`], what `arena eval` runs) and written to
//! the two cache files as they are made ([`PreparedCaches::prepare_into`], what an in-process
//! slot runs, and a decode child through the same writer). The difference is what writing the
//! platform's caches costs per video; the files are removed outside the clock (the platform
//! keeps them). docs/BENCHMARKS.md, item 33.

use std::time::Instant;

use anyhow::Result;
use arena_worker::detector::SessionOptions;
use arena_worker::eval::EvalOptions;
use arena_worker::faces::FaceDetector;
use arena_worker::pipeline::{PreparePlan, PreparedCaches, prepare_frames};

use super::{Bench, median, ms_since};

/// This process's user + system seconds (one thread prepares; FFmpeg's decoder threads are
/// counted too).
fn cpu_s() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(f64::NAN, |u| {
        let t = u.user_time() + u.system_time();
        t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6
    })
}

/// The face detector and the plan `arena eval` prepares with, at `bench`'s K.
pub(super) fn eval_setup(bench: &Bench) -> Result<(FaceDetector, PreparePlan)> {
    let opts = EvalOptions::default();
    let faces = FaceDetector::load(&bench.rt, &opts.face_model, &SessionOptions::default())?;
    let plan = PreparePlan {
        frames: bench.frames,
        decode_max_side: opts.decode_max_side.max(opts.max_side),
        max_side: opts.max_side,
    };
    Ok((faces, plan))
}

pub fn run(bench: &Bench) -> Result<()> {
    let (mut faces, plan) = eval_setup(bench)?;
    let (mut mem, mut files) = (Vec::new(), Vec::new());
    let (mut mem_cpu, mut files_cpu) = (0.0, 0.0);
    for round in 0..bench.rounds {
        for (i, path) in bench.videos.iter().enumerate() {
            for first in [(round + i) % 2 == 0, (round + i) % 2 == 1] {
                let (t, c) = (Instant::now(), cpu_s());
                if first {
                    let prepared = prepare_frames(path, &plan, &mut faces)?;
                    mem.push(ms_since(t));
                    mem_cpu += cpu_s() - c;
                    drop(prepared);
                } else {
                    let dir = tempfile::tempdir()?;
                    let caches = PreparedCaches::prepare_into(path, &plan, &mut faces, dir)?;
                    files.push(ms_since(t));
                    files_cpu += cpu_s() - c;
                    drop(caches);
                }
            }
        }
    }
    let n = mem.len() as f64;
    println!("| path | median ms a video | mean ms | CPU ms a video (mean) |");
    println!("|---|---|---|---|");
    for (name, v, cpu) in [
        ("images kept in memory (`arena eval`)", &mem, mem_cpu),
        ("written to the cache files (platform)", &files, files_cpu),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            median(v),
            v.iter().sum::<f64>() / n,
            cpu / n * 1000.0
        );
    }
    Ok(())
}
