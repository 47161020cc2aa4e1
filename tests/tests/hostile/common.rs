//! The corpus on disk, the captured server log, and the checks every case ends with.

use arena::Settings;
use arena_tests::{AppOptions, TestApp, spawn_app_with};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Everything the server process logged (at debug level and up) since the test binary started.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_log() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

fn hostile_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hostile")
}

/// What `generate.py` writes to `STAMP`: its own bytes, the manifest's and the output folder.
fn stamp(out: &Path) -> String {
    let dir = hostile_dir();
    let mut h = Sha256::new();
    for f in ["generate.py", "manifest.toml"] {
        h.update(std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")));
    }
    h.update(out.to_string_lossy().as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The generated corpus, (re)generated once per test binary when missing or stale.
pub fn corpus() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = hostile_dir().join("cases");
        let fresh = std::fs::read_to_string(out.join("STAMP")).ok() == Some(stamp(&out));
        if !fresh {
            let status = std::process::Command::new("python3")
                .arg(hostile_dir().join("generate.py"))
                .arg(&out)
                .status()
                .unwrap_or_else(|e| panic!("python3 tests/hostile/generate.py: {e}"));
            assert!(status.success(), "tests/hostile/generate.py failed");
        }
        out
    })
}

pub fn case(rel: &str) -> PathBuf {
    corpus().join(rel)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The secret's marker, checked to be in the secret (so a leak of its bytes would be seen).
fn secret_marker() -> Vec<u8> {
    let read = |p: &str| std::fs::read(corpus().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let marker = read("SECRET_MARKER");
    assert!(marker.len() >= 16 && contains(&read("secret/secret.mp4"), &marker));
    marker
}

/// A fresh server (no workers: nothing should ever be accepted) with the log captured.
pub async fn app(tweak: fn(&mut Settings)) -> TestApp {
    capture_log();
    corpus();
    spawn_app_with(AppOptions {
        workers: 0,
        tweak,
        ..AppOptions::default()
    })
    .await
}

/// A fresh server with one worker (a detector's model checks run in its first job, after the
/// upload) and the log captured.
pub async fn app_with_worker(tweak: fn(&mut Settings)) -> TestApp {
    capture_log();
    corpus();
    spawn_app_with(AppOptions {
        workers: 1,
        tweak,
        ..AppOptions::default()
    })
    .await
}

/// An answer: status and body text.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Answer { status, body }
}

/// The checks every case ends with.
pub async fn refused(app: &TestApp, answer: &Answer, status: u16, code: &str) {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or_default();
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(body["code"], code, "{}", answer.body);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        answer.body
    );
    assert_eq!(app.submission_count().await, 0, "a submission row was made");
    nothing_left(app, answer).await;
}

/// The checks of a model refused by its checks after the upload (202): its submission is the
/// only row, `failed` with `code`; the rest is as for [`refused`].
pub async fn refused_by_checks(app: &TestApp, resp: reqwest::Response, code: &str) {
    let failed = app.refused_by_checks(resp, code).await;
    assert_eq!(app.submission_count().await, 1);
    let answer = Answer {
        status: 202,
        body: failed.to_string(),
    };
    nothing_left(app, &answer).await;
}

/// The server is healthy, and no object, upload or secret is left anywhere.
async fn nothing_left(app: &TestApp, answer: &Answer) {
    let (health, body) = app.get_json("/healthz", None).await;
    assert_eq!((health, &body["status"]), (200, &Value::from("ok")));

    assert!(
        app.stored_objects().is_empty(),
        "objects stored: {:?}",
        app.stored_objects()
    );
    let uploads = app.ctx.settings().upload_dir();
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "uploads left behind: {left:?}");
    no_secret(app, answer);
}

/// The secret's bytes are nowhere: not in the answer, a stored file, the database or the log.
fn no_secret(app: &TestApp, answer: &Answer) {
    let marker = secret_marker();
    let contains = |hay: &[u8]| contains(hay, &marker);
    assert!(
        !contains(answer.body.as_bytes()),
        "the answer leaks the secret"
    );
    let mut stack = vec![app.dir.path().to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                // The data dir holds the object store, the uploads and the SQLite files.
                assert!(!contains(&bytes), "{} holds the secret", p.display());
            }
        }
    }
    let log = LOG.lock().unwrap_or_else(|p| p.into_inner());
    assert!(!log.is_empty(), "the server log was not captured");
    assert!(!contains(&log), "the server log holds the secret");
}
