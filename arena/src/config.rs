//! Typed settings: `arena.toml` (optional), overridden by `ARENA_*` env vars and CLI flags.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Everything the server and the workers read at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the SQLite file, the object store and temporary uploads live.
    pub data_dir: PathBuf,
    /// Address the web server listens on (`127.0.0.1:0` picks a free port).
    pub bind: String,
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/arena.db`.
    pub database_url: Option<String>,
    /// Object store URL (`file:///abs/dir` or `s3://bucket[/prefix]`); default the local
    /// filesystem under `<data_dir>/objects`.
    pub storage: Option<String>,
    /// S3 options over the `AWS_*` environment (object_store keys: `aws_endpoint`,
    /// `aws_allow_http`, `aws_access_key_id`, `aws_secret_access_key`, `aws_region`, …).
    pub s3: std::collections::BTreeMap<String, String>,
    /// In-process workers started by `arena up` (0 = one per core).
    pub workers: usize,
    /// Path of `libonnxruntime.so`; default `ARENA_ORT_LIB` or the bootstrap's cache.
    pub ort_lib: Option<PathBuf>,
    pub limits: Limits,
    pub queue: QueueSettings,
    pub evaluation: EvaluationSettings,
    pub rate_limits: RateLimitSettings,
}

/// Caps applied at ingest, before anything is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_video_bytes: u64,
    pub max_model_bytes: u64,
    pub max_manifest_bytes: u64,
    pub max_width: u32,
    pub max_height: u32,
    pub max_fps: f64,
    pub max_frames: u64,
    pub max_duration_s: f64,
}

/// In-process token buckets against floods (answered 429 `rate_limited` with `Retry-After`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Login attempts and failed bearer-token checks, per client IP.
    pub auth: RateLimits,
    /// Uploads (creations, detectors, reals, task targets), per team, whatever their outcome.
    pub uploads: RateLimits,
    /// Take the client IP from `Forwarded`/`X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

/// A token bucket: `burst` requests at once, refilled at `per_minute`; a `burst` of 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    pub burst: u32,
    pub per_minute: u32,
}

impl RateLimits {
    /// No limit.
    pub const OFF: RateLimits = RateLimits {
        burst: 0,
        per_minute: 0,
    };
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            auth: RateLimits {
                burst: 20,
                per_minute: 10,
            },
            uploads: RateLimits {
                burst: 30,
                per_minute: 30,
            },
            trust_forwarded_for: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// How long a claim lasts without a heartbeat.
    pub lease_ms: i64,
    /// Heartbeat period of a running job.
    pub heartbeat_ms: u64,
    /// Attempts before a job is dead.
    pub max_attempts: i32,
    /// Wait before a failed job is retried (times the attempt number).
    pub retry_backoff_ms: i64,
    /// Poll period of an idle worker.
    pub poll_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationSettings {
    /// K: frames sampled per video, evenly spaced.
    pub sampler_frames: usize,
    /// Longest side of a cached frame/crop.
    pub max_side: u32,
    /// onnxruntime intra-op threads per session.
    pub intra_threads: usize,
    /// Videos per `score` job.
    pub score_batch_videos: usize,
    /// Longest side frames are decoded at before face crops are cut (crops keep their native
    /// resolution up to `max_side`).
    pub decode_max_side: u32,
    /// BlazeFace ONNX; default `ARENA_FACE_MODEL` or the bootstrap's `.cache/models/blazeface-128.onnx`.
    pub face_model: Option<PathBuf>,
    /// onnxruntime execution provider: `cpu` or `cuda` (falls back to CPU with a warning).
    pub execution_provider: String,
    /// Wall-clock limit for scoring the probe frames when a detector is uploaded.
    pub probe_time_limit_ms: u64,
    /// Decode and score uploads in a child process with rlimits and a watchdog (docs/SANDBOX.md).
    pub isolate: bool,
    /// The `arena-sandbox` binary; default `ARENA_SANDBOX_BIN`, else next to the running
    /// executable, else in its parent folder (where test binaries find it).
    pub sandbox_bin: Option<PathBuf>,
    /// Address-space limit of an evaluation child (RLIMIT_AS), in MiB.
    pub child_memory_mb: u64,
    /// CPU-time limit of an evaluation child (RLIMIT_CPU), in seconds.
    pub child_cpu_seconds: u64,
    /// Wall-clock limit of an evaluation child; it is killed after this.
    pub child_timeout_s: u64,
    /// Score jobs run in a long-lived child per worker slot that keeps the last detector's
    /// session (`false`: a fresh child per score job, as decodes and upload checks always get).
    pub reuse_score_child: bool,
    /// Scoring children a worker slot keeps (one per detector, least recently used ended
    /// first): enough that detectors taking turns on new videos do not restart them.
    pub score_children_per_slot: usize,
    /// Tests only: an uploaded video that begins with `ARENA-TEST-ABORT` makes its ingest probe
    /// child abort, as a demuxer crash would (it shows the server survives one).
    pub sandbox_test_faults: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./data"),
            bind: "127.0.0.1:8080".to_owned(),
            database_url: None,
            storage: None,
            s3: std::collections::BTreeMap::new(),
            workers: 0,
            ort_lib: None,
            limits: Limits::default(),
            queue: QueueSettings::default(),
            evaluation: EvaluationSettings::default(),
            rate_limits: RateLimitSettings::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_video_bytes: 256 * 1024 * 1024,
            max_model_bytes: 512 * 1024 * 1024,
            max_manifest_bytes: 64 * 1024,
            max_width: 3840,
            max_height: 2160,
            max_fps: 120.0,
            max_frames: 20_000,
            max_duration_s: 600.0,
        }
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            lease_ms: 60_000,
            heartbeat_ms: 10_000,
            max_attempts: 3,
            retry_backoff_ms: 2_000,
            poll_ms: 250,
        }
    }
}

impl Default for EvaluationSettings {
    fn default() -> Self {
        EvaluationSettings {
            sampler_frames: 32,
            max_side: 512,
            intra_threads: 1,
            score_batch_videos: 16,
            decode_max_side: 1920,
            face_model: None,
            execution_provider: "cpu".to_owned(),
            probe_time_limit_ms: 20_000,
            isolate: true,
            sandbox_bin: None,
            child_memory_mb: 4096,
            child_cpu_seconds: 600,
            child_timeout_s: 900,
            reuse_score_child: true,
            score_children_per_slot: 4,
            sandbox_test_faults: false,
        }
    }
}

impl Settings {
    /// Reads `path` if given (a missing explicit file is an error), else defaults.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The database URL in force: explicit, else a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("arena.db").display()
            ),
        }
    }

    /// Worker count in force (0 means one per core).
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }

    /// Folder for uploads in flight (same filesystem as the data dir so moves are cheap).
    pub fn upload_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}

/// Hides the password of a database URL for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("arena-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("arena.toml");
        std::fs::write(&path, "workers = 3\nbogus = 1\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
        std::fs::write(&path, "workers = 3\n[queue]\nlease_ms = 5\n").unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!((s.workers, s.queue.lease_ms), (3, 5));
    }

    #[test]
    fn rate_limits_parse_and_default_as_documented() {
        let d = RateLimitSettings::default();
        assert_eq!((d.auth.burst, d.auth.per_minute), (20, 10));
        assert_eq!((d.uploads.burst, d.uploads.per_minute), (30, 30));
        assert!(!d.trust_forwarded_for);
        let text = "[rate_limits]\nuploads = { burst = 0, per_minute = 0 }\n";
        let s: Settings = toml::from_str(text).unwrap();
        assert_eq!(s.rate_limits.uploads, RateLimits::OFF);
        assert_eq!(s.rate_limits.auth, d.auth);
        assert!(toml::from_str::<Settings>("[rate_limits]\nauth = { burst = 1 }\n").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:****@h/db"
        );
    }
}
