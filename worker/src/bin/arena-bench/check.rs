//! (f) The server's check of a decode child's caches, two ways, alternating which goes first:
//! both files mapped populated ([`arena::storage::map_file`], until 2026-12-06) or mapped
//! lazily ([`arena::storage::map_file_lazily`], what `sandbox/tasks.rs` `checked_caches` does
//! now), then parsed as the check parses them ([`Crops::parse_current`]) and unmapped. The
//! caches are each video's own, written once outside the clock by the in-process writer (the
//! bytes a decode child writes) and left in the page cache, as a child's are when the server
//! checks them. docs/BENCHMARKS.md, item 36.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use arena_worker::crops::Crops;
use arena_worker::pipeline::{CacheContents, PreparedCaches};

use super::{Bench, median, ms_since};

/// Maps `path` (populated or lazily) and parses it as the check does; the images it holds.
fn check(path: &Path, populate: bool) -> Result<usize> {
    let bytes = if populate {
        arena::storage::map_file(path)?
    } else {
        arena::storage::map_file_lazily(path)?
    };
    let images = Crops::parse_current(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .images
        .len();
    Ok(images)
}

pub fn run(bench: &Bench) -> Result<()> {
    let (mut faces, plan) = super::prepare::eval_setup(bench)?;
    let mut prepared = Vec::new();
    let mut bytes = 0u64;
    for path in &bench.videos {
        let caches = PreparedCaches::prepare_into(path, &plan, &mut faces, tempfile::tempdir()?)?;
        let CacheContents::Written(files) = &caches.contents else {
            anyhow::bail!("prepare_into left no files");
        };
        bytes += std::fs::metadata(&files.faces)?.len() + std::fs::metadata(&files.frames)?.len();
        prepared.push(caches);
    }
    let (mut populated, mut lazy) = (Vec::new(), Vec::new());
    for round in 0..bench.rounds {
        for (i, caches) in prepared.iter().enumerate() {
            let CacheContents::Written(files) = &caches.contents else {
                continue;
            };
            for populate in [(round + i) % 2 == 0, (round + i) % 2 == 1] {
                let t = Instant::now();
                let n = check(&files.faces, populate)? + check(&files.frames, populate)?;
                let ms = ms_since(t);
                anyhow::ensure!(n == 2 * caches.summary.frames, "images: {n}");
                if populate { &mut populated } else { &mut lazy }.push(ms);
            }
        }
    }
    let mb = bytes as f64 / prepared.len().max(1) as f64 / 1e6;
    println!("caches: {mb:.1} MB a video ({} videos)", prepared.len());
    println!("| the check of one video's two caches | median ms | mean ms |");
    println!("|---|---|---|");
    for (name, v) in [
        ("mapped populated (until 2026-12-06)", &populated),
        ("mapped lazily (now)", &lazy),
    ] {
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        println!("| {name} | {:.3} | {mean:.3} |", median(v));
    }
    Ok(())
}
