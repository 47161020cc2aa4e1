//! Fault tests with real processes on PostgreSQL: `arena serve` plus `arena worker` processes
//! that are SIGKILLed again and again mid-run (every pair still scored exactly once, nothing
//! stuck), and a server killed in the middle of an upload (no submission, no object after the
//! restart). Skipped (with a message) when `ARENA_TEST_POSTGRES_URL` is unset.

use arena_tests::{Backend, backends, fresh_database_url};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// These tests kill processes and restart PostgreSQL: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn postgres() -> Option<Backend> {
    backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
}

struct Cluster {
    dir: tempfile::TempDir,
    db_url: String,
    port: u16,
}

impl Cluster {
    async fn new(pg: &Backend) -> Cluster {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db_url = fresh_database_url(pg, dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        // Short leases so a killed worker's job comes back quickly.
        let config = "[queue]\nlease_ms = 1500\nheartbeat_ms = 300\npoll_ms = 50\nmax_attempts = 10\nretry_backoff_ms = 50\n[evaluation]\nsampler_frames = 8\n";
        std::fs::write(dir.path().join("arena.toml"), config).unwrap_or_else(|e| panic!("{e}"));
        Cluster { dir, db_url, port }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(arena_tests::arena_bin());
        cmd.arg("--data")
            .arg(self.dir.path())
            .arg("--database-url")
            .arg(&self.db_url)
            .arg("--config")
            .arg(self.dir.path().join("arena.toml"))
            .arg("--bind")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().unwrap_or_else(|e| panic!("{e}"))
    }

    fn admin_token(&self) -> String {
        let out = self
            .command(&["team", "add", "admin", "--role", "both", "--admin"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn wait_healthy(&self) {
        let start = Instant::now();
        loop {
            let up = reqwest::get(self.url("/healthz")).await;
            if up.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "server did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    form: reqwest::multipart::Form,
) -> Value {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 202);
    resp.json().await.unwrap_or_default()
}

fn file(path: &Path) -> reqwest::multipart::Part {
    arena_tests::part(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_workers_again_and_again_scores_every_pair_exactly_once() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = postgres() else {
        arena_tests::skip(
            arena_tests::Needs::Postgres,
            "fault tests on PostgreSQL (ARENA_TEST_POSTGRES_URL not set)",
        );
        return;
    };
    let c = Cluster::new(&pg).await;
    let admin = c.admin_token();
    let mut server = c.spawn(&["serve"]);
    c.wait_healthy().await;
    let client = reqwest::Client::new();
    let send = |path: &str, body: Value| {
        client
            .post(c.url(path))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    assert_eq!(
        send(
            "/api/v1/competitions",
            json!({"slug": "f", "title": "faults"})
        )
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0),
        201
    );
    let mut tokens = Vec::new();
    for (name, role) in [
        ("c1", "creator"),
        ("c2", "creator"),
        ("d1", "detector"),
        ("d2", "detector"),
        ("d3", "detector"),
    ] {
        let r = send("/api/v1/teams", json!({"name": name, "role": role}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokens.push(
            r.json::<Value>().await.unwrap_or_default()["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let mut subs = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        let form = reqwest::multipart::Form::new().part("file", file(&arena_datasets::video(name)));
        subs.push(
            post(&client, c.url("/api/v1/competitions/f/reals"), &admin, form).await["id"]
                .as_i64()
                .unwrap_or(0),
        );
    }
    for (token, name) in tokens[..2].iter().zip(["fake_1.mp4", "fake_2.mp4"]) {
        let form = reqwest::multipart::Form::new().part("file", file(&arena_datasets::video(name)));
        subs.push(
            post(
                &client,
                c.url("/api/v1/competitions/f/creations"),
                token,
                form,
            )
            .await["id"]
                .as_i64()
                .unwrap_or(0),
        );
    }
    for (token, fixture) in tokens[2..].iter().zip(["redblue", "greenish", "constant"]) {
        let (model, manifest) = arena_datasets::detector(fixture);
        let form = reqwest::multipart::Form::new()
            .part("model", file(&model))
            .part("manifest", file(&manifest));
        subs.push(
            post(
                &client,
                c.url("/api/v1/competitions/f/detectors"),
                token,
                form,
            )
            .await["id"]
                .as_i64()
                .unwrap_or(0),
        );
    }

    // Two workers; kill one of them every 400 ms and start a new one, 12 times.
    let mut workers = vec![
        c.spawn(&["worker", "--workers", "1"]),
        c.spawn(&["worker", "--workers", "1"]),
    ];
    for round in 0..12 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let victim = round % workers.len();
        let _ = workers[victim].kill();
        let _ = workers[victim].wait();
        workers[victim] = c.spawn(&["worker", "--workers", "1"]);
    }
    let start = Instant::now();
    arena_tests::wait_all_finished(&client, &c.url(""), &admin, &subs, Duration::from_secs(180))
        .await;
    // 3 detectors × 5 videos, each exactly once, none failed.
    let db = arena::db::connect(&c.db_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    use sea_orm::EntityTrait;
    let scores = arena::entities::scores::Entity::find()
        .all(&db)
        .await
        .unwrap_or_default();
    assert_eq!(scores.len(), 15, "every pair once");
    // A worker killed after its job's work but before marking it done leaves the job running
    // until its lease expires; it is then claimed again and completes as a no-op.
    let jobs = loop {
        let jobs = arena::entities::jobs::Entity::find()
            .all(&db)
            .await
            .unwrap_or_default();
        if jobs.iter().all(|j| j.state == "done") {
            break jobs;
        }
        assert!(
            jobs.iter().all(|j| j.state != "failed"),
            "a job failed: {jobs:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "jobs left behind: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let retried = jobs.iter().filter(|j| j.attempts > 1).count();
    eprintln!(
        "{} jobs, {retried} of them claimed again after a killed worker",
        jobs.len()
    );
    let scores = arena::entities::scores::Entity::find()
        .all(&db)
        .await
        .unwrap_or_default();
    assert_eq!(scores.len(), 15, "still every pair exactly once");
    assert!(scores.iter().all(|s| !s.failed));
    let (_, board): (u16, Value) = {
        let r = client
            .get(c.url("/api/v1/competitions/f/leaderboard"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    };
    let redblue = board["detection"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["team"] == "d1")
        .cloned()
        .unwrap_or_default();
    assert!(
        (redblue["score"].as_f64().unwrap_or(0.0) - 2.0 / 3.0).abs() < 1e-9,
        "{board}"
    );
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_upload_leaves_no_submission_and_no_object() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = postgres() else {
        arena_tests::skip(
            arena_tests::Needs::Postgres,
            "fault tests on PostgreSQL (ARENA_TEST_POSTGRES_URL not set)",
        );
        return;
    };
    let c = Cluster::new(&pg).await;
    let admin = c.admin_token();
    let mut server = c.spawn(&["serve"]);
    c.wait_healthy().await;
    let client = reqwest::Client::new();
    let r = client
        .post(c.url("/api/v1/competitions"))
        .bearer_auth(&admin)
        .json(&json!({"slug": "k", "title": "k"}))
        .send()
        .await;
    assert_eq!(r.map(|r| r.status().as_u16()).unwrap_or(0), 201);

    // A slow 6 MB body: the server is killed while it is still arriving.
    let stream = futures::stream::unfold(0u32, |i| async move {
        if i >= 60 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((Ok::<_, std::io::Error>(vec![0u8; 100_000]), i + 1))
    });
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream)).file_name("slow.mp4");
    let form = reqwest::multipart::Form::new().part("file", part);
    let upload = tokio::spawn(
        client
            .post(c.url("/api/v1/competitions/k/reals"))
            .bearer_auth(admin.clone())
            .multipart(form)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        upload.await.map(|r| r.is_err()).unwrap_or(true),
        "the upload cannot have succeeded"
    );

    let mut server = c.spawn(&["serve"]);
    c.wait_healthy().await;
    let db = arena::db::connect(&c.db_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        arena::entities::submissions::Entity::find()
            .count(&db)
            .await
            .unwrap_or(99),
        0
    );
    assert_eq!(
        arena::entities::videos::Entity::find()
            .count(&db)
            .await
            .unwrap_or(99),
        0
    );
    let objects = c.dir.path().join("objects");
    let stored: Vec<_> = walk(&objects);
    assert!(stored.is_empty(), "no orphan object: {stored:?}");
    let uploads: Vec<_> = walk(&c.dir.path().join("uploads"));
    assert!(
        uploads.is_empty(),
        "the half-received upload is cleaned at restart: {uploads:?}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Restarts the machine's PostgreSQL cluster (as CI's root can) and waits until it accepts
/// connections again; None when no cluster is managed by pg_ctlcluster here. On a loaded machine
/// the shutdown checkpoint can outlast pg_ctl's wait, and `restart` then returns with the cluster
/// still shutting down and never started: the cluster is started again here whenever it is not
/// running, and the test fails if it does not come back, rather than leaving every later
/// PostgreSQL test without a server.
fn restart_postgres() -> Option<()> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .flatten()
        .next()?
        .file_name();
    let version = version.to_str()?.to_owned();
    let ctl = |action: &str| {
        Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", action])
            .status()
            .is_ok_and(|s| s.success())
    };
    let ready = || {
        Command::new("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", "5432"])
            .status()
            .is_ok_and(|s| s.success())
    };
    ctl("restart");
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "PostgreSQL did not come back after a restart"
        );
        // `status` fails once the cluster is down (not while it is still shutting down).
        if !ctl("status") {
            ctl("start");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_workers_reconnect_after_postgres_restarts() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = postgres() else {
        arena_tests::skip(
            arena_tests::Needs::Postgres,
            "fault tests on PostgreSQL (ARENA_TEST_POSTGRES_URL not set)",
        );
        return;
    };
    let c = Cluster::new(&pg).await;
    let admin = c.admin_token();
    let mut server = c.spawn(&["serve"]);
    let mut worker = c.spawn(&["worker", "--workers", "2"]);
    c.wait_healthy().await;
    let client = reqwest::Client::new();
    let r = client
        .post(c.url("/api/v1/competitions"))
        .bearer_auth(&admin)
        .json(&json!({"slug": "p", "title": "p"}))
        .send()
        .await;
    assert_eq!(r.map(|r| r.status().as_u16()).unwrap_or(0), 201);
    let mut subs = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "fake_1.mp4"] {
        let form = reqwest::multipart::Form::new().part("file", file(&arena_datasets::video(name)));
        subs.push(
            post(&client, c.url("/api/v1/competitions/p/reals"), &admin, form).await["id"]
                .as_i64()
                .unwrap_or(0),
        );
    }
    if restart_postgres().is_none() {
        eprintln!("SKIPPED: cannot restart PostgreSQL here (pg_ctlcluster)");
        let _ = (worker.kill(), server.kill());
        let _ = (worker.wait(), server.wait());
        return;
    }
    // After the restart: the server answers again and new work still gets done.
    c.wait_healthy().await;
    let start = Instant::now();
    let detector = loop {
        let (model, manifest) = arena_datasets::detector("redblue");
        let form = reqwest::multipart::Form::new()
            .part("model", file(&model))
            .part("manifest", file(&manifest));
        let resp = client
            .post(c.url("/api/v1/competitions/p/detectors"))
            .bearer_auth(&admin)
            .multipart(form)
            .send()
            .await;
        match resp {
            Ok(r) if r.status().as_u16() == 202 => {
                break r.json::<Value>().await.unwrap_or_default()["id"]
                    .as_i64()
                    .unwrap_or(0);
            }
            other => {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "server never recovered: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    subs.push(detector);
    arena_tests::wait_all_finished(&client, &c.url(""), &admin, &subs, Duration::from_secs(180))
        .await;
    let _ = (worker.kill(), server.kill());
    let _ = (worker.wait(), server.wait());
}
