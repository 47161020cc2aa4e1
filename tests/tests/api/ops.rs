//! Operating the arena: `/metrics` (promtool accepts it; counters move when work arrives; off or
//! behind a token), `/healthz` and `/readyz`, `x-request-id`, a real `arena worker` process that
//! stops on SIGTERM after its running job (JSON logs with the job's ids) or is killed mid-job
//! (the admin fleet view shows its job reclaimed), and backup → restore → the same boards.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use arena::entities::{jobs, worker_slots};
use arena_datasets::video;
use arena_tests::web::WebClient;
use arena_tests::{AppOptions, TestApp, backends, spawn_app, spawn_app_with};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(120);

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut req = app.client.get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The sum of the samples of `name` carrying every label of `labels` (0 when none).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `promtool check metrics` on the exposition; skipped (loudly) when promtool is missing.
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!(
            "\n!!! promtool not found: `promtool check metrics` SKIPPED (scripts/bootstrap \
             installs Debian's `prometheus` package, which ships it) !!!\n"
        );
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool refused the exposition:\n{}{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn id_of(resp: reqwest::Response) -> i64 {
    assert_eq!(resp.status().as_u16(), 202);
    resp.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_move_when_work_arrives() {
    for backend in backends() {
        let app = spawn_app_with(AppOptions {
            backend,
            ..AppOptions::default()
        })
        .await;
        metrics_move(&app).await;
    }
}

async fn metrics_move(app: &TestApp) {
    app.competition("m").await;
    let (status, before) = scrape(app, None).await;
    assert_eq!(status, 200);
    promtool_accepts(&before);
    let reals = "/api/v1/competitions/{slug}/reals";

    let id = id_of(app.post_real("m", &video("real_1.mp4")).await).await;
    assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    let refused = app.post_real("m", &video("not_a_video.mp4")).await;
    assert!(refused.status().is_client_error());
    let code = refused.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_owned();

    // The job is marked done in the queue, and the slot records its duration, just after the
    // job marks its submission finished. The recorder is process-wide (other tests' jobs move
    // the same histogram), so wait for this app's own queue row too: it is read from this
    // app's database at scrape time.
    let job = [("kind", "prepare_video")];
    let count = "arena_job_duration_seconds_count";
    let done = [("kind", "prepare_video"), ("state", "done")];
    let start = Instant::now();
    let after = loop {
        let (_, text) = scrape(app, None).await;
        if (sample(&text, count, &job) > sample(&before, count, &job)
            && sample(&text, "arena_queue_jobs", &done) >= 1.0)
            || start.elapsed() > Duration::from_secs(10)
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    promtool_accepts(&after);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let size = std::fs::metadata(video("real_1.mp4"))
        .expect("fixture")
        .len() as f64;
    assert!(moved("arena_upload_bytes_total", &[]) >= size, "{after}");
    assert!(moved("arena_uploads_accepted_total", &[("route", reals)]) >= 1.0);
    assert!(moved("arena_upload_refusals_total", &[("code", &code)]) >= 1.0);
    assert!(moved(count, &job) >= 1.0, "{after}");
    let stage = [("kind", "prepare_video"), ("stage", "decode_faces")];
    assert!(moved("arena_job_stage_duration_seconds_count", &stage) >= 1.0);
    assert!(moved("arena_sandbox_child_starts_total", &[("task", "prepare")]) >= 1.0);
    let http = [("route", reals), ("status", "202"), ("method", "POST")];
    assert!(moved("arena_http_request_duration_seconds_count", &http) >= 1.0);
    // Read from this app's database: exact.
    let depth = |state| {
        sample(
            &after,
            "arena_queue_jobs",
            &[("kind", "prepare_video"), ("state", state)],
        )
    };
    assert_eq!(depth("done"), 1.0, "{after}");
    assert_eq!(depth("queued"), 0.0);
    assert_eq!(
        sample(
            &before,
            "arena_queue_jobs",
            &[("kind", "prepare_video"), ("state", "done")]
        ),
        0.0
    );
    assert_eq!(
        sample(&after, "arena_worker_slots", &[("state", "alive")]),
        1.0
    );
    assert!(
        after.contains("arena_worker_heartbeat_age_seconds{worker=\"w-"),
        "{after}"
    );
    assert!(after.contains("arena_sse_clients "), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_behind_a_token_or_off() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        tweak: |s| s.metrics.token = Some("scrape-secret".to_owned()),
        ..AppOptions::default()
    })
    .await;
    for token in [None, Some("wrong")] {
        let (status, body) = scrape(&app, token).await;
        assert_eq!(status, 401);
        assert!(body.contains("invalid_metrics_token"), "{body}");
    }
    let (status, body) = scrape(&app, Some("scrape-secret")).await;
    assert_eq!(status, 200);
    assert!(body.contains("arena_queue_jobs{"), "{body}");

    let off = spawn_app_with(AppOptions {
        workers: 0,
        tweak: |s| s.metrics.enabled = false,
        ..AppOptions::default()
    })
    .await;
    let (status, body) = off.get_json("/metrics", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("metrics_disabled"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_request_ids() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    let (status, body) = app.get_json("/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    for check in ["database", "storage", "migrations"] {
        assert_eq!(body["checks"][check], "ok", "{body}");
    }
    let mut ids = Vec::new();
    for path in ["/healthz", "/no/such/route"] {
        let resp = app.client.get(app.url(path)).send().await.expect("request");
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("x-request-id header");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
}

/// The `arena` binary beside the test executable's folder (`cargo build --bins` builds it).
fn arena_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("arena");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --bins` first",
        bin.display()
    );
    bin
}

/// An `arena worker` process on the test app's database and object store (scale-out mode),
/// logging JSON to `log`, with a short lease so a killed worker's job is reclaimed quickly.
fn spawn_worker(app: &TestApp, log: &Path, http: Option<&str>) -> Child {
    let config = app.dir.path().join("worker.toml");
    std::fs::write(
        &config,
        "[queue]\nlease_ms = 1500\nheartbeat_ms = 200\npoll_ms = 20\nretry_backoff_ms = 50\n\
         [evaluation]\nsampler_frames = 8\n",
    )
    .expect("config");
    let url = app.ctx.settings().database_url();
    Command::new(arena_bin())
        .arg("--data")
        .arg(app.dir.path())
        .args(["--database-url", &url, "--log-format", "json", "--config"])
        .arg(&config)
        .args(["worker", "--workers", "1"])
        .args(http.map(|bind| format!("--http={bind}")))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("arena worker")
}

/// Waits until some job is running and its slot's row names it; returns its id.
async fn running_job(app: &TestApp, worker: &mut Child) -> i64 {
    let start = Instant::now();
    loop {
        let running = jobs::Entity::find()
            .filter(jobs::Column::State.eq("running"))
            .one(app.ctx.db())
            .await
            .expect("jobs");
        if let Some(job) = running {
            // The slot writes its heartbeat row just after the claim.
            let slot = worker_slots::Entity::find()
                .filter(worker_slots::Column::CurrentJobId.eq(job.id))
                .one(app.ctx.db())
                .await
                .expect("slots");
            if slot.is_some() {
                return job.id;
            }
        }
        assert!(
            worker.try_wait().expect("worker").is_none(),
            "the worker exited"
        );
        assert!(start.elapsed() < WAIT, "no job ever ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn job(app: &TestApp, id: i64) -> jobs::Model {
    jobs::Entity::find_by_id(id)
        .one(app.ctx.db())
        .await
        .expect("job")
        .expect("job row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_running_job_and_releases_the_rest() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    app.competition("g").await;
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        id_of(app.post_real("g", &video(name)).await).await;
    }
    let log = app.dir.path().join("worker.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut worker = spawn_worker(&app, &log, Some(&bind));
    let id = running_job(&app, &mut worker).await;
    // The worker's own probes and metrics (`arena worker --http`).
    let probe = |path: &str| {
        let url = format!("http://{bind}{path}");
        let client = app.client.clone();
        async move {
            let resp = client.get(url).send().await.expect("worker http");
            (
                resp.status().as_u16(),
                resp.text().await.unwrap_or_default(),
            )
        }
    };
    assert_eq!(probe("/healthz").await.0, 200);
    let (status, metrics) = probe("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        sample(&metrics, "arena_worker_slots", &[("state", "alive")]) >= 1.0,
        "{metrics}"
    );
    let term = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = worker.try_wait().expect("worker") {
            break s;
        }
        assert!(start.elapsed() < WAIT, "the worker did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(
        job(&app, id).await.state,
        "done",
        "the running job was finished"
    );
    let all = jobs::Entity::find().all(app.ctx.db()).await.expect("jobs");
    assert!(all.iter().all(|j| j.state != "running"), "{all:?}");
    let queued: Vec<_> = all.iter().filter(|j| j.state == "queued").collect();
    assert!(!queued.is_empty(), "the rest stayed queued: {all:?}");
    assert!(
        queued
            .iter()
            .all(|j| j.locked_by.is_none() && j.attempts == 0)
    );
    let slots = worker_slots::Entity::find()
        .all(app.ctx.db())
        .await
        .expect("slots");
    assert_eq!(slots.len(), 1);
    assert!(slots[0].stopped_at_ms.is_some(), "{slots:?}");

    // JSON logs: the job's lines carry its ids in the span.
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let done = lines
        .iter()
        .find(|l| l["message"] == "job done" && l["span"]["job_id"] == id)
        .unwrap_or_else(|| panic!("no `job done` line for job {id}:\n{text}"));
    assert!(done["span"]["submission_id"].is_i64(), "{done}");
    assert_eq!(done["span"]["kind"], "prepare_video");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_fleet_view_shows_a_killed_workers_job_reclaimed() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        ..AppOptions::default()
    })
    .await;
    app.competition("k").await;
    let log = app.dir.path().join("worker.log");
    // Killed mid-job; a tiny clip may be done before the kill lands, then try another.
    let (job_id, submission) = 'kill: {
        for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4", "face_moving.mp4"] {
            let submission = id_of(app.post_real("k", &video(name)).await).await;
            let mut worker = spawn_worker(&app, &log, None);
            let id = running_job(&app, &mut worker).await;
            worker.kill().expect("SIGKILL");
            worker.wait().expect("reaped");
            if job(&app, id).await.state == "running" {
                break 'kill (id, submission);
            }
        }
        panic!("every job finished before its worker was killed");
    };
    let pool = arena_web::spawn_workers(&app.ctx, 1);
    assert_eq!(
        app.wait_submission(submission, WAIT).await["status"],
        "finished"
    );
    // The job is marked done just after it finishes its submission.
    let start = Instant::now();
    let reclaimed = loop {
        let row = job(&app, job_id).await;
        if row.state == "done" || start.elapsed() > Duration::from_secs(10) {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((reclaimed.state.as_str(), reclaimed.attempts), ("done", 2));

    let mut browser = WebClient::new(&app.address);
    browser.login(&app.admin_token).await;
    let row = format!("data-state=\"lost\" data-job=\"{job_id}\" data-reclaimed-by=\"w-");
    // A restarted worker takes the dead one's job back at once (its process is gone); the dead
    // slot shows as lost once its heartbeat is stale.
    let start = Instant::now();
    let page = loop {
        let page = browser.get("/admin").await;
        if page.body.contains(&row) || start.elapsed() > Duration::from_secs(30) {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&row),
        "no lost slot with job {job_id} reclaimed:\n{}",
        page.body
    );
    assert!(page.body.contains("reclaimed by w-"));
    assert!(page.body.contains("id=\"queue-depth\""));
    let (_, metrics) = scrape(&app, None).await;
    assert!(sample(&metrics, "arena_worker_slots", &[("state", "lost")]) >= 1.0);
    assert_eq!(
        sample(&metrics, "arena_worker_slots", &[("state", "alive")]),
        1.0
    );
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_restore_serves_the_same_boards() {
    let app = spawn_app().await;
    app.competition("b").await;
    let alice = app.team("alice", "creator").await;
    let dana = app.team("dana", "detector").await;
    let mut ids = Vec::new();
    for name in ["real_1.mp4", "real_2.mp4", "real_3.mp4"] {
        ids.push(id_of(app.post_real("b", &video(name)).await).await);
    }
    ids.push(
        id_of(
            app.post_creation("b", Some(&alice), &video("fake_1.mp4"))
                .await,
        )
        .await,
    );
    ids.push(id_of(app.post_detector("b", Some(&dana), "redblue").await).await);
    for id in ids {
        assert_eq!(app.wait_submission(id, WAIT).await["status"], "finished");
    }
    let (_, board) = app
        .get_json("/api/v1/competitions/b/leaderboard", None)
        .await;
    let (_, matrix) = app.get_json("/api/v1/competitions/b/matrix", None).await;
    assert!(
        !board["detection"].as_array().expect("rows").is_empty(),
        "{board}"
    );

    // Online: the app keeps running while the backup is taken.
    let out = app.dir.path().join("backup.zip");
    let made = arena_web::backup::backup(app.ctx.settings(), &out)
        .await
        .expect("backup");
    assert!(made.objects > 0 && made.database_bytes > 0, "{made:?}");

    let restored_dir = tempfile::tempdir().expect("dir");
    let settings = arena::Settings {
        data_dir: restored_dir.path().to_owned(),
        bind: "127.0.0.1:0".to_owned(),
        ..arena::Settings::default()
    };
    let back = arena_web::backup::restore(&settings, &out, false)
        .await
        .expect("restore");
    assert_eq!(back, made);
    assert!(
        arena_web::backup::restore(&settings, &out, false)
            .await
            .is_err(),
        "a second restore over a database is refused without --force"
    );
    let ctx = arena_web::AppContext::open(settings)
        .await
        .expect("context");
    let server = arena_web::Application::build(ctx).expect("bind");
    let base = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(get("/api/v1/competitions/b/leaderboard").await, board);
    assert_eq!(get("/api/v1/competitions/b/matrix").await, matrix);
    let objects = |root: &Path| {
        let mut n = 0;
        let mut stack = vec![root.to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    n += 1;
                }
            }
        }
        n
    };
    assert_eq!(
        objects(&restored_dir.path().join("objects")),
        app.stored_objects().len()
    );
}
