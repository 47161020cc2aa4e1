//! Shared helpers for the black-box tests: a fresh app per test on port 0 with its own data dir
//! and database (SQLite, or a fresh PostgreSQL database when `ARENA_TEST_POSTGRES_URL` is set).

pub mod web;

pub mod bench_http;

pub mod moto;

use arena::Settings;
use arena::domain::Role;
use arena_web::admin::TeamSpec;
use arena_web::{AppContext, Application, WorkerPool, spawn_workers};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// The backends to test: SQLite always, PostgreSQL when its URL is set (CI sets it).
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    match std::env::var("ARENA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => out.push(Backend::Postgres(url)),
        _ => skip(
            Needs::Postgres,
            "PostgreSQL variants (ARENA_TEST_POSTGRES_URL not set)",
        ),
    }
    out
}

/// The `arena` binary beside the calling test binary (`target/<profile>/arena`, built by
/// `cargo test --workspace` or `cargo build --workspace --bins`).
pub fn arena_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("arena"))
        .unwrap_or_default();
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace --bins` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// Polls `GET {base}/api/v1/submissions/{id}` (as `admin`) until every submission is finished; a
/// failed one or the timeout fails the test. A connection error (a server restarting) just polls
/// again. For tests that run the `arena` binary as a process.
pub async fn wait_all_finished(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    ids: &[i64],
    timeout: Duration,
) {
    let start = Instant::now();
    for id in ids {
        loop {
            let resp = client
                .get(format!("{base}/api/v1/submissions/{id}"))
                .bearer_auth(admin)
                .send()
                .await;
            let body: Value = match resp {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Value::Null,
            };
            if body["status"] == "finished" {
                break;
            }
            assert!(body["status"] != "failed", "{body}");
            assert!(
                start.elapsed() < timeout,
                "not finished after {timeout:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What a skipped test (or variant) needed and did not find.
#[derive(Debug, Clone, Copy)]
pub enum Needs {
    Postgres,
    PythonReference,
}

/// Records that `what` was skipped. With the need's `ARENA_REQUIRE_*` variable set to 1 (`.ci/run`
/// sets both) the skip fails the test instead; otherwise it says so on stderr and appends a line to
/// `ARENA_SKIP_LOG` when set (`make test` prints those lines as a summary after the run).
pub fn skip(needs: Needs, what: &str) {
    let var = match needs {
        Needs::Postgres => "ARENA_REQUIRE_POSTGRES",
        Needs::PythonReference => "ARENA_REQUIRE_PYTHON_REFERENCE",
    };
    assert!(
        std::env::var(var).as_deref() != Ok("1"),
        "{what} would be skipped, but {var}=1 requires it"
    );
    eprintln!("SKIPPED: {what}");
    if let Ok(log) = std::env::var("ARENA_SKIP_LOG") {
        use std::io::Write as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log);
        if let Ok(mut f) = file {
            let _ = writeln!(f, "{what}");
        }
    }
}

/// A database URL for one test: a SQLite file in `dir`, or a brand-new PostgreSQL database.
pub async fn fresh_database_url(backend: &Backend, dir: &Path) -> anyhow::Result<String> {
    match backend {
        Backend::Sqlite => Ok(format!(
            "sqlite://{}?mode=rwc",
            dir.join("arena.db").display()
        )),
        Backend::Postgres(admin_url) => {
            let name = format!("arena_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(admin_url.as_str()).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            admin.close().await?;
            let mut url = url_without_db(admin_url);
            url.push('/');
            url.push_str(&name);
            Ok(url)
        }
    }
}

fn url_without_db(url: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    base.to_owned()
}

/// A running app: HTTP on a free port, in-process workers, an admin token.
pub struct TestApp {
    pub address: String,
    pub ctx: AppContext,
    pub admin_token: String,
    pub client: reqwest::Client,
    pub dir: TempDir,
    workers: Option<WorkerPool>,
}

pub struct AppOptions {
    pub backend: Backend,
    pub workers: usize,
    /// Adjusts the settings before the app starts (after the harness's own: fast queue polling,
    /// 8 sampled frames, no upload rate limit).
    pub tweak: fn(&mut Settings),
    /// S3 options for an `s3://` storage (e.g. a [`moto::MotoServer`]'s).
    pub s3: Option<std::collections::BTreeMap<String, String>>,
    /// Decode and score uploads in `arena-sandbox` children, as in production (the default; the
    /// binary is found beside the test executable's folder, built by `cargo test --workspace` or
    /// `cargo build --bins`). `false` runs them in the worker's process.
    pub isolate: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            backend: Backend::Sqlite,
            workers: 1,
            tweak: |_| {},
            s3: None,
            isolate: true,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

#[allow(clippy::expect_used)]
pub async fn spawn_app_with(opts: AppOptions) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        data_dir: dir.path().to_owned(),
        bind: "127.0.0.1:0".to_owned(),
        ..Settings::default()
    };
    settings.database_url = Some(
        fresh_database_url(&opts.backend, dir.path())
            .await
            .expect("database"),
    );
    settings.queue.poll_ms = 20;
    settings.queue.heartbeat_ms = 200;
    settings.queue.retry_backoff_ms = 50;
    settings.evaluation.sampler_frames = 8;
    settings.evaluation.isolate = opts.isolate;
    // Tests upload in bulk as organizers and simulated teams; tests/tests/api/rate_limits.rs sets
    // the upload limit back in its `tweak` (the sign-in limit keeps its production default).
    settings.rate_limits.uploads = arena::config::RateLimits::OFF;
    (opts.tweak)(&mut settings);
    if let Some(s3) = opts.s3 {
        settings.s3 = s3;
    }
    let ctx = AppContext::open(settings).await.expect("app context");
    let app = Application::build(ctx.clone()).expect("bind");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let spec = TeamSpec {
        name: "admin".to_owned(),
        role: Role::Both,
        admin: true,
        baseline: true,
    };
    let (_, admin_token) = arena_web::admin::create_team(&ctx, &spec)
        .await
        .expect("admin team");
    let workers = (opts.workers > 0).then(|| spawn_workers(&ctx, opts.workers));
    TestApp {
        address,
        ctx,
        admin_token,
        client: reqwest::Client::new(),
        dir,
        workers,
    }
}

/// A multipart file part from a path.
#[allow(clippy::expect_used)]
pub fn part(path: &Path) -> reqwest::multipart::Part {
    let bytes = std::fs::read(path).expect("fixture");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    reqwest::multipart::Part::bytes(bytes).file_name(name)
}

#[allow(clippy::expect_used)]
impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates a team through the admin API; returns its token.
    pub async fn team(&self, name: &str, role: &str) -> String {
        let resp = self
            .client
            .post(self.url("/api/v1/teams"))
            .bearer_auth(&self.admin_token)
            .json(&serde_json::json!({ "name": name, "role": role }))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 201, "team creation failed");
        let body: Value = resp.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn competition(&self, slug: &str) {
        let resp = self
            .client
            .post(self.url("/api/v1/competitions"))
            .bearer_auth(&self.admin_token)
            .json(&serde_json::json!({ "slug": slug, "title": format!("Test {slug}") }))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 201);
    }

    pub async fn post_video(
        &self,
        slug: &str,
        token: Option<&str>,
        endpoint: &str,
        path: &Path,
    ) -> reqwest::Response {
        let form = reqwest::multipart::Form::new().part("file", part(path));
        let mut req = self
            .client
            .post(self.url(&format!("/api/v1/competitions/{slug}/{endpoint}")))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn post_creation(
        &self,
        slug: &str,
        token: Option<&str>,
        path: &Path,
    ) -> reqwest::Response {
        self.post_video(slug, token, "creations", path).await
    }

    pub async fn post_real(&self, slug: &str, path: &Path) -> reqwest::Response {
        let token = self.admin_token.clone();
        self.post_video(slug, Some(&token), "reals", path).await
    }

    pub async fn post_detector_bytes(
        &self,
        slug: &str,
        token: Option<&str>,
        model: Vec<u8>,
        manifest: Vec<u8>,
    ) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .part(
                "model",
                reqwest::multipart::Part::bytes(model).file_name("model.onnx"),
            )
            .part(
                "manifest",
                reqwest::multipart::Part::bytes(manifest).file_name("manifest.toml"),
            );
        let mut req = self
            .client
            .post(self.url(&format!("/api/v1/competitions/{slug}/detectors")))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn post_detector(
        &self,
        slug: &str,
        token: Option<&str>,
        fixture: &str,
    ) -> reqwest::Response {
        let (model, manifest) = arena_datasets::detector(fixture);
        let (m, t) = (
            std::fs::read(model).expect("model"),
            std::fs::read(manifest).expect("manifest"),
        );
        self.post_detector_bytes(slug, token, m, t).await
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Polls a submission (as admin) until it is finished, failed or rejected.
    pub async fn wait_submission(&self, id: i64, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let token = self.admin_token.clone();
            let (status, body) = self
                .get_json(&format!("/api/v1/submissions/{id}"), Some(&token))
                .await;
            assert_eq!(status, 200, "{body}");
            let state = body["status"].as_str().unwrap_or_default();
            if matches!(state, "finished" | "failed" | "disqualified") {
                return body;
            }
            assert!(start.elapsed() < timeout, "submission {id} stuck: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls a submission (as admin), back to back, until it fails; panics on any other final
    /// state and on `finished` seen on the way (a submission that fails must never be reported,
    /// or notified, as finished first). Returns the failed submission.
    pub async fn wait_failed(&self, id: i64, timeout: Duration) -> Value {
        let start = Instant::now();
        let path = format!("/api/v1/submissions/{id}");
        let mut polls = 0u32;
        loop {
            let (status, body) = self.get_json(&path, Some(&self.admin_token)).await;
            assert_eq!(status, 200, "{body}");
            polls += 1;
            match body["status"].as_str().unwrap_or_default() {
                "failed" => return body,
                "queued" | "running" => {}
                _ => panic!("submission {id} on poll {polls}, before it failed: {body}"),
            }
            assert!(start.elapsed() < timeout, "submission {id} stuck: {body}");
            tokio::task::yield_now().await;
        }
    }

    /// A detector upload its model checks refuse: the upload answers 202 (`queued`; the checks
    /// run after it, in the detector's first job), then the submission ends `failed` with `code`
    /// and a message, and is not counted against the team's quota. Returns the submission.
    pub async fn refused_by_checks(&self, resp: reqwest::Response, code: &str) -> Value {
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or_default();
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "queued", "{body}");
        let id = body["id"].as_i64().expect("submission id");
        let done = self.wait_submission(id, Duration::from_secs(120)).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!(done["error"]["code"], code, "{done}");
        let message = done["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{done}");
        let row = arena::repo::submissions::find(self.ctx.db(), id)
            .await
            .expect("submission")
            .expect("its row");
        assert!(!row.counted_against_quota, "a refused model used quota");
        done
    }

    /// Files in the object store (to check nothing was stored).
    pub fn stored_objects(&self) -> Vec<String> {
        let root = self.dir.path().join("objects");
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(
                        p.strip_prefix(&root)
                            .map(|s| s.display().to_string())
                            .unwrap_or_default(),
                    );
                }
            }
        }
        out.sort();
        out
    }

    /// Number of submission rows in the database.
    pub async fn submission_count(&self) -> u64 {
        use sea_orm::{EntityTrait, PaginatorTrait};
        arena::entities::submissions::Entity::find()
            .count(self.ctx.db())
            .await
            .expect("count")
    }

    /// Waits until no job is queued or running.
    pub async fn wait_idle(&self, timeout: Duration) {
        let start = Instant::now();
        loop {
            let counts = self.ctx.queue().state_counts().await.expect("counts");
            if counts
                .iter()
                .all(|(state, n)| *n == 0 || !(state == "queued" || state == "running"))
            {
                return;
            }
            assert!(start.elapsed() < timeout, "queue never drained: {counts:?}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// POST JSON as admin; returns (status, body).
    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn stop_workers(&mut self) {
        if let Some(pool) = self.workers.take() {
            pool.stop().await;
        }
    }
}
