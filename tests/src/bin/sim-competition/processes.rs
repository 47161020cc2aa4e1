//! `--processes sqlite|postgres://…`: the same competition through real `arena` processes, the
//! way it is deployed. SQLite: one `arena up --workers W` (the single-machine mode, worker slots
//! in the server's process). PostgreSQL (a fresh database on the given server): `arena serve`
//! plus W `arena worker --workers 1 --http …` processes. Default settings, sandbox on, except that
//! the upload rate limit is off (one admin uploads every real).
//!
//! Videos first (each submission waited until `finished`), then the D detectors, one upload
//! request after the other. For each detector it measures the time from the start of its upload
//! request until the board JSON (`GET /api/v1/competitions/sim/leaderboard`, polled every
//! `--poll-ms`) first shows its row with every video scored. Decodes are the sum of
//! `arena_video_decodes_total` over every process's `/metrics`; pairs are the rows of the scores
//! table. The run fails when decodes ≠ videos or pairs ≠ videos × D.

use anyhow::{Context, Result, bail};
use arena_tests::Backend;
use arena_tests::bench_http::{file_part, send};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one process run measured.
#[derive(Debug, serde::Serialize)]
pub struct Outcome {
    pub backend: String,
    pub processes: String,
    pub videos: usize,
    pub detectors: usize,
    pub pairs: u64,
    pub decodes: u64,
    pub prepare_s: f64,
    /// First detector upload → last detector's row on the board.
    pub score_s: f64,
    pub pairs_per_s: f64,
    /// Upload request start → row on the board, per detector, in upload order.
    pub upload_to_board_s: Vec<f64>,
    pub p50_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
    pub wall_s: f64,
}

impl Outcome {
    pub const HEADER: &'static str = "| backend | processes | videos | detectors D | pairs scored | decodes | prepare s | score s | pairs/s | upload→board p50 s | p99 s | max s | wall s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

    pub fn row(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            self.backend,
            self.processes,
            self.videos,
            self.detectors,
            self.pairs,
            self.decodes,
            self.prepare_s,
            self.score_s,
            self.pairs_per_s,
            self.p50_s,
            self.p99_s,
            self.max_s,
            self.wall_s
        )
    }

    /// The bench's own checks: one decode per video, every pair scored once, a row per detector.
    pub fn check(&self) -> Result<()> {
        if self.decodes != self.videos as u64 {
            bail!("{} decodes for {} videos", self.decodes, self.videos);
        }
        if self.pairs != (self.videos * self.detectors) as u64 {
            bail!(
                "{} pairs scored, expected {} videos × {} detectors",
                self.pairs,
                self.videos,
                self.detectors
            );
        }
        if self.upload_to_board_s.len() != self.detectors {
            bail!(
                "{} detectors reached the board",
                self.upload_to_board_s.len()
            );
        }
        Ok(())
    }
}

/// The nearest-rank percentile (`p` in 0..=1) of `values`; 0 when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let rank = (p * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The processes of one run, killed (and waited for) when dropped.
struct Fleet {
    bin: PathBuf,
    dir: PathBuf,
    db_url: String,
    port: u16,
    children: Vec<Child>,
    /// Ports whose `/metrics` count decodes (the server, and each `arena worker --http`).
    metrics_ports: Vec<u16>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Fleet {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--data")
            .arg(&self.dir)
            .arg("--database-url")
            .arg(&self.db_url)
            .arg("--config")
            .arg(self.dir.join("arena.toml"))
            .arg("--bind")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        cmd
    }

    /// Starts `args` with its stderr in `<dir>/<log>.log`.
    fn spawn(&mut self, args: &[&str], log: &str) -> Result<()> {
        let log = std::fs::File::create(self.dir.join(format!("{log}.log")))?;
        let child = self
            .command(args)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.children.push(child);
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_healthy(client: &reqwest::Client, port: u16, dir: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        let up = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if up.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("port {port} did not come up (logs in {})", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls every submission in `ids` (as admin) until it is `finished`.
async fn wait_finished(
    fleet: &Fleet,
    client: &reqwest::Client,
    admin: &str,
    ids: &[i64],
) -> Result<()> {
    let start = Instant::now();
    for id in ids {
        loop {
            let url = fleet.url(&format!("/api/v1/submissions/{id}"));
            let body = send(client.get(url).bearer_auth(admin)).await?;
            match body["status"].as_str() {
                Some("finished") => break,
                Some("failed" | "disqualified") => bail!("submission {id} ended: {body}"),
                _ => {}
            }
            if start.elapsed() > Duration::from_secs(4 * 3600) {
                bail!("submission {id} not finished: {body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// `arena_video_decodes_total` summed over the fleet's `/metrics`.
async fn decodes(fleet: &Fleet, client: &reqwest::Client) -> Result<u64> {
    let mut total = 0;
    for port in &fleet.metrics_ports {
        let text = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("arena_video_decodes_total "))
            .with_context(|| format!("no arena_video_decodes_total on port {port}"))?;
        total += value.trim().parse::<f64>()? as u64;
    }
    Ok(total)
}

/// Polls the board until `stop`, recording when each detector submission's row first shows
/// every one of `videos` scored.
fn poll_board(
    client: reqwest::Client,
    url: String,
    videos: usize,
    every: Duration,
    seen: Arc<Mutex<HashMap<i64, Instant>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !*stop.borrow() {
            let board = match client.get(&url).send().await {
                Ok(r) => r.json::<Value>().await.unwrap_or_default(),
                Err(_) => Value::Null,
            };
            let now = Instant::now();
            let rows = board["detection"].as_array().cloned().unwrap_or_default();
            if let Ok(mut seen) = seen.lock() {
                for row in rows {
                    let complete = row["videos_total"].as_u64() == Some(videos as u64)
                        && row["videos_scored"].as_u64() == Some(videos as u64)
                        && !row["score"].is_null();
                    if let (true, Some(id)) = (complete, row["submission"].as_i64()) {
                        seen.entry(id).or_insert(now);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    })
}

/// What to run: the fleet, and the competition's shape.
pub struct Plan<'a> {
    pub backend: &'a Backend,
    /// The `arena` binary.
    pub bin: &'a Path,
    /// Worker slots: `arena up --workers W`, or W `arena worker --workers 1` processes.
    pub workers: usize,
    pub poll_ms: u64,
    pub reals: usize,
    pub creations: usize,
    pub videos_each: usize,
    pub clips: &'a [PathBuf],
}

/// A started fleet, its admin token and an HTTP client.
struct Session {
    fleet: Fleet,
    client: reqwest::Client,
    admin: String,
    /// The processes, for the table.
    processes: String,
}

impl Session {
    /// Creates the admin team, starts the processes and waits until each answers `/healthz`.
    async fn start(plan: &Plan<'_>, dir: &Path, db_url: &str) -> Result<Session> {
        std::fs::write(
            dir.join("arena.toml"),
            "[rate_limits]\nuploads = { burst = 0, per_minute = 0 }\n",
        )?;
        let mut fleet = Fleet {
            bin: plan.bin.to_owned(),
            dir: dir.to_owned(),
            db_url: db_url.to_owned(),
            port: free_port()?,
            children: Vec::new(),
            metrics_ports: Vec::new(),
        };
        let out = fleet
            .command(&["team", "add", "admin", "--role", "both", "--admin"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            bail!("arena team add failed");
        }
        let admin = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned();
        let client = reqwest::Client::new();
        let (workers, w) = (plan.workers, plan.workers.to_string());
        let processes = match plan.backend {
            Backend::Sqlite => {
                fleet.spawn(&["up", "--workers", &w], "up")?;
                fleet.metrics_ports.push(fleet.port);
                wait_healthy(&client, fleet.port, dir).await?;
                format!("arena up --workers {workers}")
            }
            Backend::Postgres(_) => {
                fleet.spawn(&["serve"], "serve")?;
                fleet.metrics_ports.push(fleet.port);
                wait_healthy(&client, fleet.port, dir).await?;
                for i in 0..workers {
                    let port = free_port()?;
                    let http = format!("127.0.0.1:{port}");
                    let args = ["worker", "--workers", "1", "--http", &http];
                    fleet.spawn(&args, &format!("worker{i}"))?;
                    fleet.metrics_ports.push(port);
                    wait_healthy(&client, port, dir).await?;
                }
                format!("arena serve + {workers} × arena worker --workers 1")
            }
        };
        Ok(Session {
            fleet,
            client,
            admin,
            processes,
        })
    }

    /// POST JSON as the admin; the body of the 2xx answer.
    async fn admin_post(&self, path: &str, body: Value) -> Result<Value> {
        let req = self
            .client
            .post(self.fleet.url(path))
            .bearer_auth(&self.admin);
        send(req.json(&body)).await
    }

    async fn team(&self, name: String, role: &str) -> Result<String> {
        let body = self
            .admin_post("/api/v1/teams", json!({"name": name, "role": role}))
            .await?;
        Ok(body["token"].as_str().unwrap_or_default().to_owned())
    }

    /// A multipart upload to `/api/v1/competitions/sim/{what}`; the new submission's id.
    async fn upload(&self, token: &str, what: &str, form: reqwest::multipart::Form) -> Result<i64> {
        let url = self.fleet.url(&format!("/api/v1/competitions/sim/{what}"));
        let body = send(self.client.post(url).bearer_auth(token).multipart(form)).await?;
        Ok(body["id"].as_i64().unwrap_or_default())
    }

    /// Uploads the reals and creations; returns their ids.
    async fn upload_videos(&self, plan: &Plan<'_>) -> Result<Vec<i64>> {
        let video = |path: &Path| -> Result<reqwest::multipart::Form> {
            Ok(reqwest::multipart::Form::new().part("file", file_part(path)?))
        };
        let mut ids = Vec::new();
        for clip in &plan.clips[..plan.reals] {
            ids.push(self.upload(&self.admin, "reals", video(clip)?).await?);
        }
        let each = plan.videos_each;
        for c in 0..plan.creations {
            let token = self.team(format!("creator{c}"), "creator").await?;
            let first = plan.reals + c * each;
            for clip in &plan.clips[first..first + each] {
                ids.push(self.upload(&token, "creations", video(clip)?).await?);
            }
        }
        Ok(ids)
    }

    /// Uploads `tokens.len()` detectors one request after the other while the board is polled;
    /// returns each one's (id, upload start, first complete row on the board).
    async fn upload_detectors(
        &self,
        tokens: &[String],
        videos: usize,
        poll_ms: u64,
    ) -> Result<Vec<(i64, Instant, Instant)>> {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let poller = poll_board(
            self.client.clone(),
            self.fleet.url("/api/v1/competitions/sim/leaderboard"),
            videos,
            Duration::from_millis(poll_ms),
            seen.clone(),
            stopped,
        );
        let (model, manifest) = arena_datasets::detector("redblue");
        let mut uploaded = Vec::new();
        for token in tokens {
            let form = reqwest::multipart::Form::new()
                .part("model", file_part(&model)?)
                .part("manifest", file_part(&manifest)?);
            let t = Instant::now();
            uploaded.push((self.upload(token, "detectors", form).await?, t));
        }
        let start = Instant::now();
        let done = loop {
            let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
            let done: Vec<_> = uploaded
                .iter()
                .filter_map(|&(id, t)| seen.get(&id).map(|&s| (id, t, s)))
                .collect();
            if done.len() == uploaded.len() {
                break done;
            }
            if start.elapsed() > Duration::from_secs(4 * 3600) {
                bail!(
                    "only {} of {} detectors reached the board",
                    done.len(),
                    tokens.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(poll_ms)).await;
        };
        let _ = stop.send(true);
        let _ = poller.await;
        Ok(done)
    }
}

/// One run with `detectors` detectors.
pub async fn run(plan: &Plan<'_>, detectors: usize) -> Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let db_url = arena_tests::fresh_database_url(plan.backend, dir.path()).await?;
    let s = Session::start(plan, dir.path(), &db_url).await?;
    s.admin_post(
        "/api/v1/competitions",
        json!({"slug": "sim", "title": "sim"}),
    )
    .await?;

    let start = Instant::now();
    let ids = s.upload_videos(plan).await?;
    wait_finished(&s.fleet, &s.client, &s.admin, &ids).await?;
    let prepare_s = start.elapsed().as_secs_f64();
    let videos = ids.len();

    let mut tokens = Vec::new();
    for d in 0..detectors {
        tokens.push(s.team(format!("detector{d}"), "detector").await?);
    }
    let done = s.upload_detectors(&tokens, videos, plan.poll_ms).await?;
    let first_upload = done.iter().map(|d| d.1).min().unwrap_or_else(Instant::now);
    let last_row = done.iter().map(|d| d.2).max().unwrap_or(first_upload);
    let score_s = last_row.duration_since(first_upload).as_secs_f64();
    let detector_ids: Vec<i64> = done.iter().map(|d| d.0).collect();
    wait_finished(&s.fleet, &s.client, &s.admin, &detector_ids).await?;
    let wall_s = start.elapsed().as_secs_f64();
    let latencies: Vec<f64> = done
        .iter()
        .map(|(_, up, row)| row.duration_since(*up).as_secs_f64())
        .collect();

    let decodes = decodes(&s.fleet, &s.client).await?;
    let pairs = {
        use sea_orm::{EntityTrait, PaginatorTrait};
        let db = arena::db::connect(&db_url).await?;
        let n = arena::entities::scores::Entity::find().count(&db).await?;
        let _ = db.close().await;
        n
    };
    let processes = s.processes.clone();
    drop(s);
    if let Backend::Postgres(admin_url) = plan.backend {
        drop_database(admin_url, &db_url).await;
    }
    Ok(Outcome {
        backend: match plan.backend {
            Backend::Sqlite => "SQLite".to_owned(),
            Backend::Postgres(_) => "PostgreSQL".to_owned(),
        },
        processes,
        videos,
        detectors,
        pairs,
        decodes,
        prepare_s,
        score_s,
        pairs_per_s: pairs as f64 / score_s.max(1e-9),
        p50_s: percentile(&latencies, 0.5),
        p99_s: percentile(&latencies, 0.99),
        max_s: percentile(&latencies, 1.0),
        upload_to_board_s: latencies,
        wall_s,
    })
}

/// Drops the run's database (best effort: a leftover one is only disk).
async fn drop_database(admin_url: &str, db_url: &str) {
    use sea_orm::ConnectionTrait;
    let Some((_, name)) = db_url.rsplit_once('/') else {
        return;
    };
    if let Ok(admin) = sea_orm::Database::connect(admin_url).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        let _ = admin.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.99), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
