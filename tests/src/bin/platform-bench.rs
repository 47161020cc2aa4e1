//! `platform-bench`: the server's evaluation path against `arena eval` and the Python pipeline on
//! the same files and detectors, side by side in one run (docs/BENCHMARKS.md, "The platform
//! path"). Each round starts the real `arena up` (release build, default settings, sandbox on)
//! on a fresh data dir, uploads N reals, N creations and D detectors over HTTP the way a team
//! would (one request after the other), and stops the clock when the last job is done (every
//! submission `finished`, which the client checks every `--poll-ms`); with `--in-process yes`
//! the same again with `evaluation.isolate = false`, which splits the gap into isolation and
//! the rest (`--creator-teams N` spreads the creations over N teams instead of one team each,
//! which splits off the fresh children that isolation starts per team); then `arena eval` and
//! `scripts/bench/python_pipeline.py` run on the same videos and models, as processes. Rounds
//! alternate the order. It also reads the job table, the job log and the server's debug lines
//! to break the platform's time down by stage, and checks that the platform's scores equal
//! `arena eval`'s.
//!
//! `scripts/bench/platform.sh` builds the inputs and runs both workloads; by hand:
//! `target/release/platform-bench --videos .cache/bench/platform/long --models .cache/bench/models
//!  --names effnet-b0-224,convnet-224 --rounds 2`
#![expect(clippy::print_stdout, reason = "a benchmark prints its tables")]

use anyhow::{Context, Result, anyhow, bail};
use arena_tests::bench_http::{file_part, send};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: platform-bench --videos DIR --models DIR --names a,b [--reals N]
    [--rounds R] [--arena BIN] [--python-bin PY] [--python SCRIPT] [--workers N] [--label L]
    [--json OUT] [--keep DIR] [--in-process yes] [--fork-server no] [--poll-ms MS]
    [--creator-teams N]";

struct Args {
    videos: Vec<PathBuf>,
    models: PathBuf,
    names: Vec<String>,
    reals: usize,
    rounds: usize,
    arena: PathBuf,
    python_bin: String,
    python: PathBuf,
    workers: Option<usize>,
    label: String,
    json: Option<PathBuf>,
    keep: Option<PathBuf>,
    /// Also run the platform with `evaluation.isolate = false` each round: the same server,
    /// queue and HTTP path with the decodes, checks and scoring in the worker's own process,
    /// which splits the platform's gap into isolation and everything else.
    in_process: bool,
    /// `evaluation.fork_server` of the sandboxed platform runs (`--fork-server no`: every
    /// child exec'd, for an A/B in one build).
    fork_server: bool,
    /// How often the client asks whether every submission is finished.
    poll_ms: u64,
    /// How many creator teams upload the creations (in turn), 1 to one per creation; by default
    /// one per creation, the most teams, and so the most fresh decode children (one per team).
    creator_teams: usize,
}

fn parse_args() -> Result<Args> {
    let mut flags: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(key) = it.next() {
        let name = key
            .strip_prefix("--")
            .ok_or_else(|| anyhow!("unexpected {key}\n{USAGE}"))?;
        let value = it.next().ok_or_else(|| anyhow!("{key} needs a value"))?;
        flags.insert(name.to_owned(), value);
    }
    let get = |k: &str| flags.get(k).cloned();
    let dir = PathBuf::from(get("videos").ok_or_else(|| anyhow!("--videos\n{USAGE}"))?);
    let mut videos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    videos.sort();
    if videos.len() < 2 {
        bail!("need at least 2 .mp4 files in {}", dir.display());
    }
    let num = |k: &str, d: usize| -> Result<usize> {
        get(k).map_or(Ok(d), |v| v.parse().with_context(|| format!("--{k}")))
    };
    let venv = ".cache/bench/venv/bin/python";
    let reals = num("reals", videos.len() / 2)?.clamp(1, videos.len() - 1);
    let creator_teams = num("creator-teams", usize::MAX)?.clamp(1, videos.len() - reals);
    Ok(Args {
        reals,
        creator_teams,
        videos,
        models: PathBuf::from(get("models").unwrap_or_else(|| ".cache/bench/models".into())),
        names: get("names")
            .ok_or_else(|| anyhow!("--names\n{USAGE}"))?
            .split(',')
            .map(str::to_owned)
            .collect(),
        rounds: num("rounds", 2)?.max(1),
        arena: PathBuf::from(get("arena").unwrap_or_else(|| "target/release/arena".into())),
        python_bin: get("python-bin").unwrap_or_else(|| {
            if Path::new(venv).is_file() {
                venv.into()
            } else {
                "python3".into()
            }
        }),
        python: PathBuf::from(
            get("python").unwrap_or_else(|| "scripts/bench/python_pipeline.py".into()),
        ),
        workers: get("workers").map(|w| w.parse()).transpose()?,
        label: get("label").unwrap_or_else(|| "workload".into()),
        json: get("json").map(PathBuf::from),
        keep: get("keep").map(PathBuf::from),
        in_process: get("in-process").is_some_and(|v| v == "yes"),
        fork_server: get("fork-server").is_none_or(|v| v != "no"),
        poll_ms: num("poll-ms", 100)?.max(1) as u64,
    })
}

/// Scores by (detector manifest name, video file).
type Scores = BTreeMap<(String, PathBuf), f64>;

#[derive(Debug, Clone, Default, serde::Serialize)]
struct StageSum {
    n: usize,
    total_ms: f64,
    max_ms: f64,
}

impl StageSum {
    fn add(&mut self, ms: f64) {
        self.n += 1;
        self.total_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }
}

/// Where the platform's time went, from the client, the job table, the job log and the
/// server's debug lines. Job times are summed over the worker slots (they overlap).
#[derive(Debug, Clone, Default, serde::Serialize)]
struct Breakdown {
    /// HTTP request time per upload kind (streaming, ingest checks, rows, answer).
    uploads: BTreeMap<String, StageSum>,
    /// From a job's creation to its claim.
    queue_wait: BTreeMap<String, StageSum>,
    /// From a job's claim to its completion.
    run: BTreeMap<String, StageSum>,
    /// Child start + onnxruntime + sessions, and the child's own work (decode + faces, or scoring).
    child_load: BTreeMap<String, StageSum>,
    child_work: BTreeMap<String, StageSum>,
    /// CPU time of the children per task (each child's own `getrusage`, as it reports it).
    child_cpu: BTreeMap<String, StageSum>,
    /// CPU time of the server process itself (its threads, not its children), ms.
    server_cpu_ms: f64,
    /// Clock points, seconds from the first upload.
    last_upload_s: f64,
    last_prepare_done_s: f64,
    last_job_done_s: f64,
    all_finished_s: f64,
    /// The decode caches in the run's store (`crops/…` and `frames/…` objects): files, bytes.
    cache_files: usize,
    cache_bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
struct PlatformRun {
    wall_s: f64,
    /// CPU seconds of the server and every child it ran.
    cpu_s: f64,
    /// Of which system time.
    sys_s: f64,
    breakdown: Breakdown,
    #[serde(skip)]
    scores: Scores,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Round {
    platform: PlatformRun,
    /// The same with `evaluation.isolate = false` (`--in-process yes`).
    in_process: Option<PlatformRun>,
    eval_s: f64,
    eval_cpu_s: f64,
    eval_sys_s: f64,
    python_s: f64,
    python_cpu_s: f64,
    python_sys_s: f64,
}

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/*/stat`.
const TICKS_PER_S: f64 = 100.0;

/// CPU seconds of process `pid` from `/proc/{pid}/stat`, user and system: its own and, with
/// `waited`, its waited-for children's too. 0 when the file cannot be read.
fn proc_times(pid: &str, waited: bool) -> Cpu {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Cpu::default();
    };
    // Fields after the command's closing parenthesis: state is field 3, utime 14 … cstime 17.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return Cpu::default();
    };
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let field = |n: usize| f.get(n - 3).copied().unwrap_or(0.0);
    let (user, sys) = if waited {
        (field(14) + field(16), field(15) + field(17))
    } else {
        (field(14), field(15))
    };
    Cpu {
        user: user / TICKS_PER_S,
        sys: sys / TICKS_PER_S,
    }
}

/// CPU seconds, user and system (the kernel's work for the process: page faults, copies into
/// the page cache, process starts).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    user: f64,
    sys: f64,
}

impl Cpu {
    fn total(self) -> f64 {
        self.user + self.sys
    }
}

impl std::ops::Add for Cpu {
    type Output = Cpu;
    fn add(self, o: Cpu) -> Cpu {
        Cpu {
            user: self.user + o.user,
            sys: self.sys + o.sys,
        }
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            user: self.user - o.user,
            sys: self.sys - o.sys,
        }
    }
}

fn proc_cpu_s(pid: &str, waited: bool) -> f64 {
    proc_times(pid, waited).total()
}

/// The server process's own CPU seconds, and those of it with its waited-for and live children.
fn server_cpu(server: &Server) -> (f64, Cpu) {
    let Some(pid) = server.child.as_ref().map(|c| c.id().to_string()) else {
        return (0.0, Cpu::default());
    };
    (proc_cpu_s(&pid, false), tree_times(&pid))
}

/// CPU seconds of `pid`, its waited-for children and, through its live children, all its
/// descendants (the fork server's children are the server's grandchildren).
fn tree_times(pid: &str) -> Cpu {
    let mut all = proc_times(pid, true);
    for child in live_children(pid) {
        all = all + tree_times(&child);
    }
    all
}

/// The live children of `pid` (every thread's), from `/proc/{pid}/task/*/children`.
fn live_children(pid: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(list.split_whitespace().map(str::to_owned));
        }
    }
    out
}

/// Every live process under `pid`: its children, theirs, and so on.
fn descendants(pid: &str) -> Vec<String> {
    let mut out = Vec::new();
    for child in live_children(pid) {
        out.extend(descendants(&child));
        out.push(child);
    }
    out
}

/// This process's waited-for children's CPU seconds so far.
fn waited_children_cpu() -> Cpu {
    proc_times("self", true) - proc_times("self", false)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Server {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// `arena.toml` of this run, when it changes a default.
    config: Option<PathBuf>,
}

impl Server {
    fn command(&self, a: &Args) -> Command {
        let mut cmd = Command::new(&a.arena);
        cmd.arg("--data")
            .arg(&self.dir)
            .arg("--bind")
            .arg(format!("127.0.0.1:{}", self.port))
            .env("ORT_DISABLE_TELEMETRY", "1");
        if let Some(config) = &self.config {
            cmd.env("ARENA_CONFIG", config);
        }
        cmd
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the server and every process under it (SIGKILL), so that a wrapper given as
    /// `--arena` (`strace`, `perf record`) takes the server it started with it instead of
    /// leaving it running, idle but polling, under the next rounds' measurements (the server's
    /// own children die with it anyway: their parent-death signal).
    fn stop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        if let Some(mut c) = self.child.take() {
            let under = descendants(&c.id().to_string());
            for pid in under.iter().filter_map(|p| p.parse::<i32>().ok()) {
                let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn rm_rf(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// One platform run: a fresh `arena up` (sandbox on, the default settings, unless `isolate` is
/// false), uploads, wait, breakdown, scores.
async fn platform(a: &Args, round: usize, isolate: bool) -> Result<PlatformRun> {
    let dir = std::path::absolute(a.keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("platform-bench-{}", std::process::id()))
    }))?
    .join(format!(
        "round{round}{}",
        if isolate { "" } else { "-in-process" }
    ));
    rm_rf(&dir);
    std::fs::create_dir_all(&dir)?;
    let config = match (isolate, a.fork_server) {
        (true, true) => None,
        (true, false) => Some("[evaluation]\nfork_server = false\n"),
        (false, _) => Some("[evaluation]\nisolate = false\n"),
    };
    let config = match config {
        Some(text) => {
            let path = dir.join("arena.toml");
            std::fs::write(&path, text)?;
            Some(path)
        }
        None => None,
    };
    let mut server = Server {
        dir: dir.clone(),
        port: free_port()?,
        child: None,
        config,
    };
    let out = server
        .command(a)
        .args(["team", "add", "admin", "--role", "both", "--admin"])
        .output()?;
    if !out.status.success() {
        bail!("team add: {}", String::from_utf8_lossy(&out.stderr));
    }
    let admin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut up = server.command(a);
    // ARENA_LOG_SQL (arena::db) logs every statement, under `sqlx::query`: let those through.
    let sqlx = match std::env::var_os(arena::db::LOG_SQL_ENV) {
        Some(_) => "info",
        None => "warn",
    };
    up.arg("up")
        .env(
            "RUST_LOG",
            format!("info,arena_worker::sandbox=debug,sqlx={sqlx},sea_orm=warn"),
        )
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(n) = a.workers {
        up.args(["--workers", &n.to_string()]);
    }
    server.child = Some(up.spawn()?);
    let client = reqwest::Client::new();
    let started = Instant::now();
    while !client
        .get(server.url("/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "the server did not come up (see {}/server.log)",
                dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let post_json = |path: &str, body: Value| {
        client
            .post(server.url(path))
            .bearer_auth(&admin)
            .json(&body)
    };
    send(post_json(
        "/api/v1/competitions",
        json!({"slug": "b", "title": "bench"}),
    ))
    .await?;
    let team = async |name: String, role: &str| -> Result<String> {
        let body = send(post_json(
            "/api/v1/teams",
            json!({"name": name, "role": role}),
        ))
        .await?;
        Ok(body["token"].as_str().unwrap_or_default().to_owned())
    };
    let (reals, fakes) = a.videos.split_at(a.reals);
    let mut creators = Vec::new();
    for i in 0..a.creator_teams {
        creators.push(team(format!("creator{i}"), "creator").await?);
    }
    let mut detectors = Vec::new();
    for name in &a.names {
        detectors.push(team(format!("det-{name}"), "detector").await?);
    }

    // Each token is used once before the clock: the server verifies a token's argon2 hash the
    // first time this process sees it (~30-60 ms of CPU) and remembers it; that is a cost per
    // team and process, not per upload, which a team that used its token before never pays again.
    let named: Vec<(String, &String)> = (0..a.creator_teams)
        .map(|i| format!("creator{i}"))
        .zip(&creators)
        .chain(a.names.iter().map(|n| format!("det-{n}")).zip(&detectors))
        .collect();
    for (name, token) in named {
        let res = client
            .get(server.url(&format!("/api/v1/teams/{name}/webhook")))
            .bearer_auth(token)
            .send()
            .await?;
        if res.status() == reqwest::StatusCode::UNAUTHORIZED {
            bail!("team {name}: its token was refused");
        }
    }

    // The server's CPU so far (start-up, accounts, the tokens' argon2): not the workload's.
    let (server_cpu_before, cpu_before) = server_cpu(&server);
    // The clock starts at the first upload.
    let t0 = Instant::now();
    let mut breakdown = Breakdown::default();
    let mut subs: Vec<(i64, Option<PathBuf>)> = Vec::new();
    let mut upload = async |kind: &str, token: &str, path: &str, form| -> Result<i64> {
        let t = Instant::now();
        let body = send(
            client
                .post(server.url(path))
                .bearer_auth(token)
                .multipart(form),
        )
        .await?;
        let entry = breakdown.uploads.entry(kind.to_owned()).or_default();
        entry.add(t.elapsed().as_secs_f64() * 1000.0);
        Ok(body["id"].as_i64().unwrap_or_default())
    };
    for v in reals {
        let form = reqwest::multipart::Form::new().part("file", file_part(v)?);
        let id = upload("real", &admin, "/api/v1/competitions/b/reals", form).await?;
        subs.push((id, Some(v.clone())));
    }
    for (v, token) in fakes.iter().zip(creators.iter().cycle()) {
        let form = reqwest::multipart::Form::new().part("file", file_part(v)?);
        let id = upload("creation", token, "/api/v1/competitions/b/creations", form).await?;
        subs.push((id, Some(v.clone())));
    }
    for (name, token) in a.names.iter().zip(&detectors) {
        let form = reqwest::multipart::Form::new()
            .part("model", file_part(&a.models.join(format!("{name}.onnx")))?)
            .part(
                "manifest",
                file_part(&a.models.join(format!("{name}.toml")))?,
            );
        let id = upload("detector", token, "/api/v1/competitions/b/detectors", form).await?;
        subs.push((id, None));
    }
    breakdown.last_upload_s = t0.elapsed().as_secs_f64();
    for (id, _) in &subs {
        loop {
            let body = send(
                client
                    .get(server.url(&format!("/api/v1/submissions/{id}")))
                    .bearer_auth(&admin),
            )
            .await?;
            match body["status"].as_str() {
                Some("finished") => break,
                Some("failed") => bail!("submission {id}: {body}"),
                _ => tokio::time::sleep(Duration::from_millis(a.poll_ms)).await,
            }
        }
    }
    let seen_s = t0.elapsed().as_secs_f64();
    breakdown.all_finished_s = seen_s;
    let t0_ms = arena::time::now_ms() - (seen_s * 1000.0) as i64;
    // The server's CPU and that of the children it waited for, plus its live children (the
    // slots' kept children), read before it is killed.
    let (server_cpu_after, cpu_after) = server_cpu(&server);
    breakdown.server_cpu_ms = (server_cpu_after - server_cpu_before) * 1000.0;
    let cpu = cpu_after - cpu_before;
    server.stop();
    let files: HashMap<i64, PathBuf> = subs
        .iter()
        .filter_map(|(id, p)| p.clone().map(|p| (*id, p)))
        .collect();
    let scores = read_db(&dir, t0_ms, &files, &mut breakdown).await?;
    read_log(&dir.join("server.log"), &mut breakdown)?;
    (breakdown.cache_files, breakdown.cache_bytes) = cache_size(&dir);
    // The clock stops when the last job is done (the jobs table, this machine's clock): every
    // status is final by then, and the client's polling can be slow enough not to load the
    // server (one status request costs the server ~3 ms of CPU) without blurring the time.
    let wall_s = if breakdown.last_job_done_s > 0.0 {
        breakdown.last_job_done_s.min(seen_s)
    } else {
        seen_s
    };
    if a.keep.is_none() {
        rm_rf(&dir);
    }
    Ok(PlatformRun {
        wall_s,
        cpu_s: cpu.total(),
        sys_s: cpu.sys,
        breakdown,
        scores,
    })
}

/// The decode caches under a run's data dir: store objects under a `crops` or `frames` folder.
fn cache_size(dir: &Path) -> (usize, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut todo = vec![(dir.to_owned(), false)];
    while let Some((d, in_cache)) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let cache = in_cache || e.file_name() == "crops" || e.file_name() == "frames";
            if kind.is_dir() {
                todo.push((e.path(), cache));
            } else if kind.is_file() && cache {
                files += 1;
                bytes += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    (files, bytes)
}

/// Job waits and run times from the job table and log; the platform's scores.
async fn read_db(
    dir: &Path,
    t0_ms: i64,
    files: &HashMap<i64, PathBuf>,
    b: &mut Breakdown,
) -> Result<Scores> {
    use arena::entities::{detectors, job_logs, jobs, scores, videos};
    let db = arena::db::connect(&format!("sqlite://{}", dir.join("arena.db").display())).await?;
    let mut claimed: HashMap<i64, i64> = HashMap::new();
    for line in job_logs::Entity::find().all(&db).await? {
        if line.message.contains(" claimed ") {
            claimed.entry(line.job_id).or_insert(line.created_at_ms);
        }
    }
    let secs = |ms: i64| (ms - t0_ms) as f64 / 1000.0;
    for job in jobs::Entity::find().all(&db).await? {
        let Some(&claim) = claimed.get(&job.id) else {
            continue;
        };
        let kind = job.kind.clone();
        b.queue_wait
            .entry(kind.clone())
            .or_default()
            .add((claim - job.created_at_ms) as f64);
        b.run
            .entry(kind.clone())
            .or_default()
            .add((job.updated_at_ms - claim) as f64);
        b.last_job_done_s = b.last_job_done_s.max(secs(job.updated_at_ms));
        if kind == "prepare_video" {
            b.last_prepare_done_s = b.last_prepare_done_s.max(secs(job.updated_at_ms));
        }
    }
    let videos: HashMap<i64, PathBuf> = videos::Entity::find()
        .all(&db)
        .await?
        .into_iter()
        .filter_map(|v| Some((v.id, files.get(&v.submission_id?)?.clone())))
        .collect();
    let names: HashMap<i64, String> = detectors::Entity::find()
        .all(&db)
        .await?
        .into_iter()
        .map(|d| {
            let m: Value = serde_json::from_str(&d.manifest).unwrap_or_default();
            (d.id, m["name"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let mut out = Scores::new();
    for s in scores::Entity::find().all(&db).await? {
        if let (Some(name), Some(path)) = (names.get(&s.detector_id), videos.get(&s.video_id)) {
            out.insert((name.clone(), path.clone()), s.score);
        }
    }
    Ok(out)
}

/// The children's own load and work times from the server's debug lines.
fn read_log(path: &Path, b: &mut Breakdown) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let field = |line: &str, key: &str| -> Option<f64> {
        let start = line.find(&format!("{key}="))? + key.len() + 1;
        let rest = &line[start..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    for line in text.lines() {
        let line = &strip_ansi(line);
        if line.contains("evaluation child done") {
            // A child of its own per request: its task and CPU.
            let task = line
                .split("task=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("?");
            if let Some(cpu) = field(line, "cpu_ms") {
                b.child_cpu
                    .entry(format!("{task} (child per request)"))
                    .or_default()
                    .add(cpu);
            }
            continue;
        }
        let kind = if line.contains("video prepared in a child") {
            "prepare (decode child)"
        } else if line.contains("video prepared in the slot's decode child") {
            "prepare (slot's decode child)"
        } else if line.contains("scored in the slot's child") {
            "score (slot's child)"
        } else if line.contains("detector checked in the slot's child") {
            "check (slot's scoring child, kept)"
        } else if line.contains("videos scored in a child") {
            "score (child per job)"
        } else if line.contains("video probed in a kept probe child") {
            "probe (team's kept child)"
        } else {
            continue;
        };
        if let (Some(load), Some(work)) = (field(line, "load_ms"), field(line, "work_ms")) {
            b.child_load.entry(kind.into()).or_default().add(load);
            b.child_work.entry(kind.into()).or_default().add(work);
        }
        // A kept child's CPU for this request (one-shot children are counted above).
        if (kind.contains("slot's") || kind.contains("kept"))
            && let Some(cpu) = field(line, "cpu_ms")
        {
            b.child_cpu.entry(kind.into()).or_default().add(cpu);
        }
    }
    Ok(())
}

/// The log line without its terminal colour codes (`ESC [ … letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn detector_args(a: &Args) -> Vec<String> {
    a.names
        .iter()
        .flat_map(|n| {
            let m = a.models.join(n);
            [
                "--detector".to_owned(),
                format!("{}.onnx:{}.toml", m.display(), m.display()),
            ]
        })
        .collect()
}

/// `arena eval` on the same files, as a process; its wall time and scores.
fn eval(a: &Args) -> Result<(f64, Cpu, Scores)> {
    let out_path =
        std::env::temp_dir().join(format!("platform-bench-eval-{}.json", std::process::id()));
    let t = Instant::now();
    let cpu0 = waited_children_cpu();
    let status = Command::new(&a.arena)
        .arg("eval")
        .args(&a.videos)
        .args(detector_args(a))
        .arg("--out")
        .arg(&out_path)
        .env("ORT_DISABLE_TELEMETRY", "1")
        .stdout(Stdio::null())
        .status()?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = waited_children_cpu() - cpu0;
    if !status.success() {
        bail!("arena eval failed ({status})");
    }
    let report: arena_worker::eval::EvalReport =
        serde_json::from_slice(&std::fs::read(&out_path)?)?;
    let _ = std::fs::remove_file(&out_path);
    let mut scores = Scores::new();
    for v in report.videos {
        for s in v.scores {
            if let Some(score) = s.score {
                scores.insert((s.detector, v.path.clone()), f64::from(score));
            }
        }
    }
    Ok((wall, cpu, scores))
}

/// scripts/bench/python_pipeline.py on the same files (onnxruntime's default threads, the
/// fastest configuration of docs/BENCHMARKS.md (b)), as a process.
fn python(a: &Args) -> Result<(f64, Cpu)> {
    let t = Instant::now();
    let cpu0 = waited_children_cpu();
    let status = Command::new(&a.python_bin)
        .arg(&a.python)
        .arg("--models")
        .arg(&a.models)
        .args(["--names", &a.names.join(","), "--threads", "0"])
        .args(["--resize", "exact"])
        .args(&a.videos)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("{} failed ({status})", a.python.display());
    }
    Ok((t.elapsed().as_secs_f64(), waited_children_cpu() - cpu0))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The largest |platform − `arena eval`| over the pairs; an error when they scored different
/// pair counts.
fn max_diff(what: &str, platform: &Scores, eval: &Scores) -> Result<f64> {
    if platform.len() != eval.len() {
        bail!(
            "the {what} scored {} pairs, arena eval {}",
            platform.len(),
            eval.len()
        );
    }
    Ok(platform
        .iter()
        .map(|(k, s)| eval.get(k).map_or(f64::INFINITY, |e| (s - e).abs()))
        .fold(0.0, f64::max))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn print_breakdown(b: &Breakdown) {
    println!("| stage | n | total s | mean ms | max ms |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, s: &StageSum| {
        let mean = if s.n > 0 {
            s.total_ms / s.n as f64
        } else {
            0.0
        };
        println!(
            "| {name} | {} | {:.2} | {mean:.0} | {:.0} |",
            s.n,
            s.total_ms / 1000.0,
            s.max_ms
        );
    };
    for (k, s) in &b.uploads {
        row(&format!("upload request: {k}"), s);
    }
    for (k, s) in &b.queue_wait {
        row(&format!("queue wait: {k}"), s);
    }
    for (k, s) in &b.run {
        row(&format!("job run: {k}"), s);
    }
    for (k, s) in &b.child_load {
        row(&format!("child start + load: {k}"), s);
    }
    for (k, s) in &b.child_work {
        row(&format!("child work: {k}"), s);
    }
    for (k, s) in &b.child_cpu {
        row(&format!("child CPU: {k}"), s);
    }
    let server = StageSum {
        n: 1,
        total_ms: b.server_cpu_ms,
        max_ms: b.server_cpu_ms,
    };
    row(
        "server process CPU (HTTP, queue, rows, caches, SSIM)",
        &server,
    );
    println!(
        "\nClock (s from the first upload): last upload answered {:.2}, last prepare done {:.2}, \
         last job done {:.2}, every submission seen `finished` {:.2}.\n",
        b.last_upload_s, b.last_prepare_done_s, b.last_job_done_s, b.all_finished_s
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let a = parse_args()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("## platform-bench: {}\n", a.label);
    let teams = a.creator_teams;
    println!(
        "{} videos ({} reals, {} creations from {teams} creator team{}), detectors {}; \
         {cores} cores; load average at start {}.\n",
        a.videos.len(),
        a.reals,
        a.videos.len() - a.reals,
        if teams == 1 { "" } else { "s" },
        a.names.join(", "),
        loadavg()
    );
    let mut rounds = Vec::new();
    for r in 0..a.rounds {
        // Alternate the order (ABC, CBA, …) so drift in the machine's load hits all alike.
        let mut order = vec!["platform", "eval", "python"];
        if a.in_process {
            order.insert(1, "in-process");
        }
        if r % 2 == 1 {
            order.reverse();
        }
        let (mut p, mut ip, mut e, mut py) = (None, None, None, None);
        for step in order {
            match step {
                "platform" => p = Some(platform(&a, r, true).await?),
                "in-process" => ip = Some(platform(&a, r, false).await?),
                "eval" => e = Some(eval(&a)?),
                _ => py = Some(python(&a)?),
            }
        }
        let (Some(p), Some((eval_s, eval_cpu, eval_scores)), Some((python_s, python_cpu))) =
            (p, e, py)
        else {
            bail!("a step did not run");
        };
        let diff = max_diff("platform", &p.scores, &eval_scores)?;
        let diff_in_process = ip
            .as_ref()
            .map(|ip| max_diff("in-process platform", &ip.scores, &eval_scores))
            .transpose()?;
        println!(
            "round {r}: platform {:.2} s ({:.1} CPU s, {:.1} system), arena eval {eval_s:.2} s \
             ({:.1}, {:.1}), python {python_s:.2} s ({:.1}, {:.1}); {} pairs, max |platform - \
             eval| = {diff:.1e}; load {}",
            p.wall_s,
            p.cpu_s,
            p.sys_s,
            eval_cpu.total(),
            eval_cpu.sys,
            python_cpu.total(),
            python_cpu.sys,
            p.scores.len(),
            loadavg()
        );
        if let (Some(ip), Some(d)) = (&ip, diff_in_process) {
            println!(
                "round {r}: in-process platform {:.2} s ({:.1} CPU s, {:.1} system); max \
                 |in-process - eval| = {d:.1e}",
                ip.wall_s, ip.cpu_s, ip.sys_s
            );
        }
        rounds.push(Round {
            platform: p,
            in_process: ip,
            eval_s,
            eval_cpu_s: eval_cpu.total(),
            eval_sys_s: eval_cpu.sys,
            python_s,
            python_cpu_s: python_cpu.total(),
            python_sys_s: python_cpu.sys,
        });
    }
    let mut plat: Vec<f64> = rounds.iter().map(|r| r.platform.wall_s).collect();
    let mut ev: Vec<f64> = rounds.iter().map(|r| r.eval_s).collect();
    let mut py: Vec<f64> = rounds.iter().map(|r| r.python_s).collect();
    let (pm, em, ym) = (median(&mut plat), median(&mut ev), median(&mut py));
    let cpu = |f: fn(&Round) -> f64| median(&mut rounds.iter().map(f).collect::<Vec<_>>());
    let (pc, ec, yc) = (
        cpu(|r| r.platform.cpu_s),
        cpu(|r| r.eval_cpu_s),
        cpu(|r| r.python_cpu_s),
    );
    let (ps, es, ys) = (
        cpu(|r| r.platform.sys_s),
        cpu(|r| r.eval_sys_s),
        cpu(|r| r.python_sys_s),
    );
    let mut inproc: Vec<f64> = rounds
        .iter()
        .filter_map(|r| r.in_process.as_ref().map(|p| p.wall_s))
        .collect();
    let mut inproc_cpu: Vec<f64> = rounds
        .iter()
        .filter_map(|r| r.in_process.as_ref().map(|p| p.cpu_s))
        .collect();
    let mut inproc_sys: Vec<f64> = rounds
        .iter()
        .filter_map(|r| r.in_process.as_ref().map(|p| p.sys_s))
        .collect();
    println!(
        "\n| pipeline | median wall s | fastest s | Python / this | this / arena eval | \
         median CPU s | CPU / arena eval's | of which system s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows: Vec<(&str, f64, &[f64], f64, f64)> = vec![(
        "platform (`arena up`, HTTP uploads → all finished)",
        pm,
        &plat,
        pc,
        ps,
    )];
    if !inproc.is_empty() {
        let (m, c, s) = (
            median(&mut inproc),
            median(&mut inproc_cpu),
            median(&mut inproc_sys),
        );
        rows.push((
            "platform, `evaluation.isolate = false` (no children)",
            m,
            &inproc,
            c,
            s,
        ));
    }
    rows.push(("`arena eval` (same files, as a process)", em, &ev, ec, es));
    rows.push((
        "Python (`python_pipeline.py`, ort default threads)",
        ym,
        &py,
        yc,
        ys,
    ));
    for (name, m, v, c, s) in rows {
        println!(
            "| {name} | {m:.2} | {:.2} | {:.2}x | {:.2} | {c:.1} | {:.2} | {s:.1} |",
            v.first().copied().unwrap_or(f64::NAN),
            ym / m,
            m / em,
            c / ec
        );
    }
    // The breakdown of the median platform round.
    let mid = rounds
        .iter()
        .min_by(|x, y| {
            (x.platform.wall_s - pm)
                .abs()
                .total_cmp(&(y.platform.wall_s - pm).abs())
        })
        .ok_or_else(|| anyhow!("no rounds"))?;
    println!(
        "\nBreakdown of the platform round closest to the median ({:.2} s):\n",
        mid.platform.wall_s
    );
    print_breakdown(&mid.platform.breakdown);
    let im = median(&mut inproc);
    if let Some(ip) = rounds
        .iter()
        .filter_map(|r| r.in_process.as_ref())
        .min_by(|x, y| (x.wall_s - im).abs().total_cmp(&(y.wall_s - im).abs()))
    {
        println!(
            "\nBreakdown of the in-process platform round closest to its median ({:.2} s):\n",
            ip.wall_s
        );
        print_breakdown(&ip.breakdown);
    }
    let caches = &mid.platform.breakdown;
    println!(
        "Decode caches in the store after the platform round closest to the median: {} files, \
         {:.0} MB.",
        caches.cache_files,
        caches.cache_bytes as f64 / 1e6
    );
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_vec_pretty(&rounds)?)?;
    }
    Ok(())
}
