//! A simulated competition through the real app (HTTP uploads, queue, workers, FFmpeg,
//! onnxruntime): R reals + C creations × V videos, then D detectors, with tiny clips and the tiny
//! `redblue` detector. It reports decodes (must equal the number of distinct videos), pairs
//! scored, the time to prepare every video and the time to score every pair once the detectors
//! arrive, so the growth with C and D, and the cost per pair, can be read off.
//!
//! `cargo run --release -p arena-tests --bin sim-competition -- --reals 80 --creations 200
//!  --videos 1 --detectors 10,50 --workers 2 --reuse both`
//!
//! `--reuse` compares score jobs in the worker slot's long-lived scoring child (`true`, the
//! default) with one child per score job (`false`), side by side (`both`). `--order` is when the
//! detectors arrive: `prepared` (default; after every video is prepared, so each detector's
//! pairs are batched into few jobs), `live` (right after the video uploads), or
//! `detectors-first` (before the videos: every prepared video then brings one score job per
//! detector, the live-mode worst case for per-job costs).
//!
//! `--processes sqlite|postgres://user@host:port/db` runs the same competition through real
//! `arena` processes instead of an app in this process (see [`processes`]): `arena up` on
//! SQLite, `arena serve` + `--workers` × `arena worker` on a fresh PostgreSQL database created on
//! that server. It adds pairs/s and the p50/p99/max time from a detector's upload request to its
//! complete row on the board, and fails when decodes ≠ videos or pairs ≠ videos × D.
//! `--arena BIN` (default: `arena` beside this binary), `--poll-ms` (board polling, default 100),
//! `--json OUT` (the measurements, for tests/tests/sim_competition.rs).
//!
//! `cargo run --release -p arena-tests --bin sim-competition -- --processes sqlite --reals 40
//!  --creations 160 --videos 1 --detectors 50 --workers 2`

mod processes;

use arena_tests::{AppOptions, Backend, spawn_app_with};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Args {
    reals: usize,
    creations: usize,
    videos: usize,
    detectors: Vec<usize>,
    workers: usize,
    reuse: Vec<bool>,
    order: Order,
    processes: Option<Backend>,
    arena: Option<PathBuf>,
    poll_ms: u64,
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Prepared,
    Live,
    DetectorsFirst,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        reals: 3,
        creations: 10,
        videos: 3,
        detectors: vec![1, 4],
        workers: 2,
        reuse: vec![true],
        order: Order::Prepared,
        processes: None,
        arena: None,
        poll_ms: 100,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--reals" => a.reals = num(&v)?.max(1),
            "--order" => {
                a.order = match v.as_str() {
                    "prepared" => Order::Prepared,
                    "live" => Order::Live,
                    "detectors-first" => Order::DetectorsFirst,
                    other => {
                        return Err(format!(
                            "--order: {other:?} is not prepared|live|detectors-first"
                        ));
                    }
                }
            }
            "--reuse" => {
                a.reuse = match v.as_str() {
                    "true" => vec![true],
                    "false" => vec![false],
                    "both" => vec![false, true],
                    other => return Err(format!("--reuse: {other:?} is not true|false|both")),
                }
            }
            "--processes" => {
                a.processes = Some(match v.as_str() {
                    "sqlite" => Backend::Sqlite,
                    url if url.starts_with("postgres://") => Backend::Postgres(url.to_owned()),
                    other => {
                        return Err(format!("--processes: {other:?} is not sqlite|postgres://…"));
                    }
                })
            }
            "--arena" => a.arena = Some(PathBuf::from(v)),
            "--json" => a.json = Some(PathBuf::from(v)),
            "--poll-ms" => a.poll_ms = num(&v)?.max(1) as u64,
            "--creations" => a.creations = num(&v)?,
            "--videos" => a.videos = num(&v)?,
            "--workers" => a.workers = num(&v)?,
            "--detectors" => a.detectors = v.split(',').map(num).collect::<Result<_, _>>()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.processes.is_some() && a.order != Order::Prepared {
        return Err(
            "--processes measures detectors uploaded after the videos: --order prepared".into(),
        );
    }
    Ok(a)
}

/// A distinct 64×64, 10-frame H.264 clip per index (its own background colour).
fn make_clip(dir: &Path, i: usize) -> Result<PathBuf, String> {
    let path = dir.join(format!("v{i:05}.mp4"));
    // Distinct bytes per clip: 256 colours far enough apart to survive RGB→YUV rounding, and a
    // small white box whose position counts the 256s (up to 4,096 clips).
    let colour = format!(
        "0x{:02x}{:02x}{:02x}",
        (i * 37) % 256,
        (i * 91) % 256,
        (i * 53) % 256
    );
    let boxed = format!("drawbox=x={}:y=0:w=4:h=4:color=white:t=fill", 4 * (i / 256));
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("color=c={colour}:s=64x64:r=10:d=1"))
        .args(["-vf", &boxed])
        .args([
            "-frames:v",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .arg(&path)
        .status()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if !status.success() {
        return Err(format!("ffmpeg failed for clip {i}"));
    }
    Ok(path)
}

async fn wait_all(app: &arena_tests::TestApp, subs: Vec<reqwest::Response>) -> Result<(), String> {
    let mut ids = Vec::new();
    for resp in subs {
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        if status != 202 {
            return Err(format!("upload refused: {body}"));
        }
        ids.push(body["id"].as_i64().unwrap_or_default());
    }
    for id in ids {
        let done = app.wait_submission(id, Duration::from_secs(4 * 3600)).await;
        if done["status"] != "finished" {
            return Err(format!("submission {id} ended {}: {done}", done["status"]));
        }
    }
    Ok(())
}

async fn run(a: &Args, detectors: usize, reuse: bool, clips: &[PathBuf]) -> Result<String, String> {
    let app = spawn_app_with(AppOptions {
        workers: a.workers,
        tweak: if reuse {
            |s| s.evaluation.reuse_score_child = true
        } else {
            |s| s.evaluation.reuse_score_child = false
        },
        ..AppOptions::default()
    })
    .await;
    app.competition("sim").await;
    let decodes = arena_worker::media::decode_count();
    let start = Instant::now();
    let mut subs = Vec::new();
    let mut detector_subs = Vec::new();
    if a.order == Order::DetectorsFirst {
        for d in 0..detectors {
            let token = app.team(&format!("detector{d}"), "detector").await;
            detector_subs.push(app.post_detector("sim", Some(&token), "redblue").await);
        }
        // Accepted before any video exists: every prepared video brings one job per detector.
        wait_all(&app, std::mem::take(&mut detector_subs)).await?;
    }
    let scoring = Instant::now();
    let reals = a.reals.min(clips.len());
    for clip in &clips[..reals] {
        subs.push(app.post_real("sim", clip).await);
    }
    for c in 0..a.creations {
        let token = app.team(&format!("creator{c}"), "creator").await;
        for clip in &clips[reals + c * a.videos..reals + (c + 1) * a.videos] {
            subs.push(app.post_creation("sim", Some(&token), clip).await);
        }
    }
    let mut prepared = 0.0;
    let scoring = if a.order == Order::Prepared {
        wait_all(&app, std::mem::take(&mut subs)).await?;
        prepared = start.elapsed().as_secs_f64();
        Instant::now()
    } else {
        scoring
    };
    if a.order != Order::DetectorsFirst {
        for d in 0..detectors {
            let token = app.team(&format!("detector{d}"), "detector").await;
            subs.push(app.post_detector("sim", Some(&token), "redblue").await);
        }
    }
    wait_all(&app, subs).await?;
    let scored = scoring.elapsed().as_secs_f64();
    let wall = start.elapsed().as_secs_f64();
    let videos = reals + a.creations * a.videos;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let pairs = arena::entities::scores::Entity::find()
        .count(app.ctx.db())
        .await
        .map_err(|e| e.to_string())?;
    let decoded = arena_worker::media::decode_count() - decodes;
    let per_pair = 1000.0 * scored / pairs.max(1) as f64;
    let prepare = match a.order {
        Order::Prepared => format!("{prepared:.1}"),
        Order::Live => "(overlapped)".to_owned(),
        Order::DetectorsFirst => "(with scoring)".to_owned(),
    };
    Ok(format!(
        "| {} | {} | {reals} | {videos} | {detectors} | {} | {pairs} | {decoded} | {prepare} | {scored:.1} | {wall:.1} | {per_pair:.1} |\n",
        a.creations,
        a.videos,
        if reuse { "slot child" } else { "child per job" },
    ))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    // `RUST_LOG=warn` shows why a job failed (e.g. an evaluation child's stderr).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let a = args()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let total = a.reals + a.creations * a.videos;
    let clips = (0..total)
        .map(|i| make_clip(dir.path(), i))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(backend) = &a.processes {
        return run_processes(&a, backend, &clips).await;
    }
    let mut out = String::from(
        "| creations C | videos per creation | reals | videos | detectors D | score jobs in | pairs scored | decodes | prepare s | score s | wall s | ms per pair |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &d in &a.detectors {
        for &reuse in &a.reuse {
            let row = run(&a, d, reuse, &clips).await?;
            eprint!("{row}");
            out.push_str(&row);
        }
    }
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes()).map_err(|e| e.to_string())
}

/// The `--processes` mode: one run per detector count, a table on stdout, the measurements in
/// `--json`; an error when a run's checks fail (after printing what it measured).
async fn run_processes(a: &Args, backend: &Backend, clips: &[PathBuf]) -> Result<(), String> {
    let bin = match &a.arena {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("arena"),
    };
    let plan = processes::Plan {
        backend,
        bin: &bin,
        workers: a.workers.max(1),
        poll_ms: a.poll_ms,
        reals: a.reals.min(clips.len()),
        creations: a.creations,
        videos_each: a.videos,
        clips,
    };
    let mut out = String::from(processes::Outcome::HEADER);
    let mut runs = Vec::new();
    for &d in &a.detectors {
        let run = processes::run(&plan, d)
            .await
            .map_err(|e| format!("{e:#}"))?;
        eprint!("{}", run.row());
        out.push_str(&run.row());
        runs.push(run);
    }
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes()).map_err(|e| e.to_string())?;
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&runs).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| e.to_string())?;
    }
    for run in &runs {
        run.check().map_err(|e| format!("{e:#}"))?;
    }
    Ok(())
}
