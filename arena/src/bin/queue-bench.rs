//! Queue throughput: N no-op jobs claimed (in batches) and completed by W concurrent workers on
//! SQLite or PostgreSQL; prints jobs/s and checks that no job was claimed twice.
//!
//! `cargo run --release -p arena --bin queue-bench -- --database-url postgres://… --jobs 20000
//!  --workers 1,2,4,8 --batch 32`

use arena::queue::{JobPayload, Queue, QueueConfig};
use sea_orm::{ConnectionTrait, Database};
use std::collections::HashSet;
use std::time::Instant;

struct Args {
    url: String,
    jobs: i64,
    workers: Vec<usize>,
    batch: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        url: "postgres://postgres@127.0.0.1:5432/test".to_owned(),
        jobs: 20_000,
        workers: vec![1, 2, 4, 8],
        batch: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--database-url" => a.url = value,
            "--jobs" => a.jobs = value.parse().map_err(|e| format!("--jobs: {e}"))?,
            "--batch" => a.batch = value.parse().map_err(|e| format!("--batch: {e}"))?,
            "--workers" => {
                a.workers = value
                    .split(',')
                    .map(|w| w.parse().map_err(|e| format!("--workers: {e}")))
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

/// A fresh database for one measurement (PostgreSQL: a new database; SQLite: a new file).
async fn fresh(url: &str, tag: &str) -> Result<String, Box<dyn std::error::Error>> {
    if url.starts_with("postgres") {
        let name = format!("arena_queue_bench_{tag}");
        let admin = Database::connect(url).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
        return Ok(format!("{base}/{name}"));
    }
    let path =
        std::env::temp_dir().join(format!("arena-queue-bench-{tag}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

async fn run(
    url: &str,
    jobs: i64,
    workers: usize,
    batch: u64,
) -> Result<(f64, usize), Box<dyn std::error::Error>> {
    let db = arena::db::connect_and_migrate(&fresh(url, &workers.to_string()).await?).await?;
    let q = Queue::new(
        db,
        QueueConfig {
            lease_ms: 60_000,
            max_attempts: 3,
            retry_backoff_ms: 0,
        },
    );
    for n in 0..jobs {
        q.enqueue(&JobPayload::Noop { n }, None).await?;
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let me = format!("bench-{w}");
            let mut done = Vec::new();
            loop {
                let claimed = q.claim(&me, batch).await.map_err(|e| e.to_string())?;
                if claimed.is_empty() {
                    return Ok::<_, String>(done);
                }
                let ids: Vec<i64> = claimed.iter().map(|j| j.id).collect();
                let completed = q
                    .complete_many(&ids, &me)
                    .await
                    .map_err(|e| e.to_string())?;
                if completed != ids.len() as u64 {
                    return Err(format!("{completed} of {} completions accepted", ids.len()));
                }
                done.extend(ids);
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    for t in tasks {
        for id in t.await?? {
            if !seen.insert(id) {
                duplicates += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if seen.len() as i64 != jobs {
        return Err(format!("{} of {jobs} jobs completed", seen.len()).into());
    }
    Ok((jobs as f64 / secs, duplicates))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let backend = if a.url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let mut out = String::from(
        "| backend | workers | batch | jobs | claimed+completed jobs/s | duplicates |\n|---|---|---|---|---|---|\n",
    );
    for &w in &a.workers {
        let (rate, dups) = run(&a.url, a.jobs, w, a.batch).await?;
        out.push_str(&format!(
            "| {backend} | {w} | {} | {} | {rate:.0} | {dups} |\n",
            a.batch, a.jobs
        ));
    }
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
    Ok(())
}
