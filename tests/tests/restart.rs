//! A restarted `arena up` takes back at once what its SIGKILLed predecessor held: the running
//! job's lease and its decode claim name the dead process's incarnation, so the successor on
//! the same machine does not wait out a 10-minute lease. On SQLite, and on PostgreSQL when
//! `ARENA_TEST_POSTGRES_URL` is set.

use arena_tests::{Backend, backends, fresh_database_url};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A lease far longer than the test may take: finishing in time proves nothing waited it out.
const LEASE_MS: i64 = 600_000;

struct Server {
    dir: tempfile::TempDir,
    db_url: String,
    port: u16,
}

impl Server {
    async fn new(backend: &Backend) -> Server {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db_url = fresh_database_url(backend, dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let config = format!(
            "[queue]\nlease_ms = {LEASE_MS}\nheartbeat_ms = 300\npoll_ms = 50\n[evaluation]\nsampler_frames = 8\n"
        );
        std::fs::write(dir.path().join("arena.toml"), config).unwrap_or_else(|e| panic!("{e}"));
        Server { dir, db_url, port }
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

    /// `arena up` with one worker slot.
    fn up(&self) -> Child {
        self.command(&["up", "--workers", "1"])
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"))
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
        while !reqwest::get(self.url("/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(start.elapsed() < Duration::from_secs(30), "no server");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: PostBody) -> Value {
    let req = client.post(url).bearer_auth(token);
    let resp = match body {
        PostBody::Json(v) => req.json(&v),
        PostBody::Form(f) => req.multipart(f),
    }
    .send()
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap_or_default()
}

enum PostBody {
    Json(Value),
    Form(reqwest::multipart::Form),
}

fn video_form(name: &str) -> PostBody {
    PostBody::Form(
        reqwest::multipart::Form::new()
            .part("file", arena_tests::part(&arena_datasets::video(name))),
    )
}

/// Uploads 2 detectors, 3 reals and 2 creations; returns the submission ids.
async fn seed(s: &Server, client: &reqwest::Client, admin: &str) -> Vec<i64> {
    let comp = json!({"slug": "r", "title": "restart"});
    post(
        client,
        s.url("/api/v1/competitions"),
        admin,
        PostBody::Json(comp),
    )
    .await;
    let mut tokens = Vec::new();
    for (name, role) in [
        ("c1", "creator"),
        ("c2", "creator"),
        ("d1", "detector"),
        ("d2", "detector"),
    ] {
        let team = json!({"name": name, "role": role});
        let r = post(client, s.url("/api/v1/teams"), admin, PostBody::Json(team)).await;
        tokens.push(r["token"].as_str().unwrap_or_default().to_owned());
    }
    let mut subs = Vec::new();
    // Detectors first: their upload checks take longer than a decode, so videos sent before them
    // could all be prepared before the test looks; sent last, the videos' decodes are queued
    // behind each other when the uploads end, and the test catches one in flight.
    for (token, fixture) in tokens[2..].iter().zip(["redblue", "constant"]) {
        let (model, manifest) = arena_datasets::detector(fixture);
        let form = reqwest::multipart::Form::new()
            .part("model", arena_tests::part(&model))
            .part("manifest", arena_tests::part(&manifest));
        let url = s.url("/api/v1/competitions/r/detectors");
        let r = post(client, url, token, PostBody::Form(form)).await;
        subs.push(r["id"].as_i64().unwrap_or(0));
    }
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        let r = post(
            client,
            s.url("/api/v1/competitions/r/reals"),
            admin,
            video_form(name),
        )
        .await;
        subs.push(r["id"].as_i64().unwrap_or(0));
    }
    for (token, name) in tokens[..2].iter().zip(["fake_1.mp4", "fake_2.mp4"]) {
        let url = s.url("/api/v1/competitions/r/creations");
        subs.push(
            post(client, url, token, video_form(name)).await["id"]
                .as_i64()
                .unwrap_or(0),
        );
    }
    subs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_takes_back_its_killed_predecessors_jobs_at_once() {
    for backend in backends() {
        restart_after_sigkill(&backend).await;
    }
}

async fn restart_after_sigkill(backend: &Backend) {
    use arena::entities::{decode_claims, jobs, scores};
    let s = Server::new(backend).await;
    let admin = s.admin_token();
    let mut first = s.up();
    s.wait_healthy().await;
    let client = reqwest::Client::new();
    let subs = seed(&s, &client, &admin).await;
    let db = arena::db::connect(&s.db_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Kill the server while it decodes: it holds a running job and that video's decode claim.
    let start = Instant::now();
    let claim = loop {
        if let Some(c) = decode_claims::Entity::find()
            .one(&db)
            .await
            .unwrap_or_default()
        {
            break c;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never caught a decode in flight"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let first_pid = first.id();
    let _ = first.kill();
    let _ = first.wait();
    // Its scratch folder (arena::scratch, made at start-up) outlives it.
    let scratch = s.dir.path().join("scratch");
    let dead: Vec<std::path::PathBuf> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("p{first_pid}-")))
        })
        .collect();
    assert!(
        dead.iter().any(|p| p.is_dir()),
        "the killed server's scratch folder: {dead:?}"
    );
    let held: Vec<jobs::Model> = jobs::Entity::find()
        .filter(jobs::Column::State.eq("running"))
        .all(&db)
        .await
        .unwrap_or_default();
    assert!(!held.is_empty(), "the dead server held a running job");
    let lease_left = held
        .iter()
        .filter_map(|j| j.lease_expires_at_ms)
        .min()
        .unwrap_or(0)
        - arena::time::now_ms();
    assert!(
        lease_left > 60_000,
        "the lease was live: {lease_left} ms left"
    );

    let restarted = Instant::now();
    let mut second = s.up();
    s.wait_healthy().await;
    // The successor removed the dead server's scratch folder and lock at start-up.
    let still: Vec<_> = dead.iter().filter(|p| p.exists()).collect();
    assert!(still.is_empty(), "left by the killed server: {still:?}");
    arena_tests::wait_all_finished(&client, &s.url(""), &admin, &subs, Duration::from_secs(120))
        .await;
    eprintln!(
        "{backend:?}: finished {:.1} s after the restart (lease {} s)",
        restarted.elapsed().as_secs_f64(),
        LEASE_MS / 1000
    );

    // The dead server's jobs were claimed again (attempt 2) and done; nothing failed.
    for job in &held {
        let now = jobs::Entity::find_by_id(job.id)
            .one(&db)
            .await
            .unwrap_or_default()
            .unwrap_or_else(|| panic!("job {} gone", job.id));
        assert_eq!(
            (now.state.as_str(), now.attempts),
            ("done", job.attempts + 1),
            "{now:?}"
        );
    }
    // Every pair scored exactly once (2 detectors × 5 videos), no decode claim left behind.
    assert_eq!(scores::Entity::find().count(&db).await.unwrap_or(0), 10);
    let left = decode_claims::Entity::find()
        .all(&db)
        .await
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "claims left: {left:?} (the dead one was {claim:?})"
    );
    let _ = second.kill();
    let _ = second.wait();
}
