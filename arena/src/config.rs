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
    pub metrics: MetricsSettings,
    pub webhooks: WebhookSettings,
    /// The DFGC-2021 ID term's face-embedding model (`[identity]`); none: ID from imported ratings.
    pub identity: IdentitySettings,
}

/// `[identity] model = "embed.onnx"`, `manifest = "embed.toml"`: an organizer-supplied
/// face-embedding ONNX model and its manifest (the detector manifest's preprocessing keys). The
/// worker then measures each fake's identity similarity to its task's donor reference clips.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentitySettings {
    pub model: Option<PathBuf>,
    pub manifest: Option<PathBuf>,
}

/// Team webhooks (`PUT /api/v1/teams/{name}/webhook`), sent by the `serve` process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Accept URLs whose host is loopback, private, link-local, unique-local or unspecified
    /// (off in production: such a webhook would let a team probe the server's own network).
    pub allow_private: bool,
    /// Seconds to wait before retry 1, 2, …; a delivery gives up after `backoff_s.len() + 1`
    /// attempts.
    pub backoff_s: Vec<f64>,
    /// Per-attempt timeout in seconds.
    pub timeout_s: f64,
    /// How often the sender looks for due deliveries, in milliseconds.
    pub poll_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private: false,
            backoff_s: vec![5.0, 30.0, 120.0, 600.0, 3600.0],
            timeout_s: 5.0,
            poll_ms: 1000,
        }
    }
}

/// `GET /metrics`: on by default; behind a bearer token when one is set (env
/// `ARENA_METRICS_TOKEN`), answered 404 `metrics_disabled` when off (`ARENA_METRICS=off`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// The scraper's bearer token (never logged).
    #[serde(skip_serializing)]
    pub token: Option<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: true,
            token: None,
        }
    }
}

impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("enabled", &self.enabled)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
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
    /// Most videos one slot scores in one child request (queued score jobs of one detector
    /// claimed together); fewer when the live slots can share the detector's queued videos.
    pub score_batch_videos: usize,
    /// Longest side frames are decoded at before face crops are cut (crops keep their native
    /// resolution up to `max_side`).
    pub decode_max_side: u32,
    /// BlazeFace ONNX; default `ARENA_FACE_MODEL` or the bootstrap's `.cache/models/blazeface-128.onnx`.
    pub face_model: Option<PathBuf>,
    /// onnxruntime execution provider: `cpu` or `cuda` (falls back to CPU with a warning).
    pub execution_provider: String,
    /// CUDA devices of this worker's slots, given out round-robin (slot i gets
    /// `gpus[i % len]`; `arena worker --gpus 0,1`); ordinals as this process sees them (after
    /// its own `CUDA_VISIBLE_DEVICES`). Empty: device 0. Each evaluation child sees only its
    /// slot's device.
    pub gpus: Vec<u32>,
    /// GPU memory cap of one session's CUDA arena (onnxruntime's `gpu_mem_limit`), in MiB; 0 is
    /// no cap. The CUDA context itself (a few hundred MiB per child) comes on top.
    pub gpu_mem_limit_mb: u64,
    /// Largest batch run on a GPU when the model's batch dimension is free (0: the manifest's
    /// `batch`); frames of several videos of one score job share a run up to it.
    pub gpu_batch: usize,
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
    /// A worker slot decodes the videos of one team in a long-lived decode child that keeps
    /// onnxruntime and the face model loaded between them (`false`: a fresh child per decode).
    /// A child never sees another team's video (docs/SANDBOX.md).
    pub reuse_prepare_child: bool,
    /// Decode children a worker slot keeps (one per team, least recently used ended first):
    /// enough that a team's videos queued between other teams' (the queue takes teams in
    /// turn) do not start a child each.
    pub prepare_children_per_slot: usize,
    /// Evaluation children (CPU) are forked from a fork server, one `arena-sandbox
    /// --fork-server` per worker process that has loaded its libraries once, instead of each
    /// being a new `arena-sandbox` process (`false`: every child is exec'd). Each forked child
    /// limits and confines itself as an exec'd one does (docs/SANDBOX.md "The fork server").
    pub fork_server: bool,
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
            metrics: MetricsSettings::default(),
            webhooks: WebhookSettings::default(),
            identity: IdentitySettings::default(),
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

impl QueueSettings {
    /// A worker slot whose last heartbeat is older than this is lost (it beats every
    /// `heartbeat_ms`, idle or busy; three missed beats plus a poll is no hiccup).
    pub fn slot_stale_ms(&self) -> i64 {
        let beat = i64::try_from(self.heartbeat_ms).unwrap_or(i64::MAX / 8);
        let poll = i64::try_from(self.poll_ms).unwrap_or(i64::MAX / 8);
        beat.saturating_mul(3).saturating_add(poll)
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
            gpus: Vec::new(),
            gpu_mem_limit_mb: 0,
            gpu_batch: 64,
            probe_time_limit_ms: 20_000,
            isolate: true,
            sandbox_bin: None,
            child_memory_mb: 4096,
            child_cpu_seconds: 600,
            child_timeout_s: 900,
            reuse_score_child: true,
            score_children_per_slot: 4,
            reuse_prepare_child: true,
            prepare_children_per_slot: 2,
            fork_server: true,
            sandbox_test_faults: false,
        }
    }
}

impl EvaluationSettings {
    /// The settings of worker slot `slot`: its one device out of `gpus` (round-robin).
    pub fn for_slot(&self, slot: usize) -> EvaluationSettings {
        let mut e = self.clone();
        if !self.gpus.is_empty() {
            e.gpus = vec![self.gpus[slot % self.gpus.len()]];
        }
        e
    }

    /// The CUDA device this (slot's) settings use: the first of `gpus`, else 0.
    pub fn cuda_device(&self) -> u32 {
        self.gpus.first().copied().unwrap_or(0)
    }
}

/// Parses a device list like `0,1` or `2` (`--gpus`, `ARENA_GPUS`): ordinals, no duplicates.
pub fn parse_gpus(text: &str) -> Result<Vec<u32>, String> {
    let mut gpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        let device: u32 = part
            .parse()
            .map_err(|_| format!("{part:?} is not a GPU ordinal (expected a list like 0,1)"))?;
        if gpus.contains(&device) {
            return Err(format!("GPU {device} is listed twice"));
        }
        gpus.push(device);
    }
    Ok(gpus)
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
    fn webhooks_parse_and_default_as_documented() {
        let d = WebhookSettings::default();
        assert!(!d.allow_private);
        assert_eq!(d.backoff_s, vec![5.0, 30.0, 120.0, 600.0, 3600.0]);
        assert_eq!((d.timeout_s, d.poll_ms), (5.0, 1000));
        let text = "[webhooks]\nallow_private = true\nbackoff_s = [1, 2.5]\ntimeout_s = 3\n";
        let s: Settings = toml::from_str(text).unwrap();
        assert!(s.webhooks.allow_private);
        assert_eq!(s.webhooks.backoff_s, vec![1.0, 2.5]);
        assert_eq!(s.webhooks.timeout_s, 3.0);
        assert!(toml::from_str::<Settings>("[webhooks]\nallow_privat = true\n").is_err());
    }

    #[test]
    fn gpus_parse_and_go_round_robin_to_slots() {
        assert_eq!(parse_gpus("0,1").unwrap(), vec![0, 1]);
        assert_eq!(parse_gpus(" 3 ").unwrap(), vec![3]);
        for bad in ["", "0,", "a", "-1", "0,0", "1;2"] {
            assert!(parse_gpus(bad).is_err(), "{bad:?}");
        }
        let s: Settings = toml::from_str("[evaluation]\ngpus = [2, 5]\n").unwrap();
        let devices: Vec<u32> = (0..5)
            .map(|i| s.evaluation.for_slot(i).cuda_device())
            .collect();
        assert_eq!(devices, [2, 5, 2, 5, 2]);
        assert_eq!(
            s.evaluation.for_slot(1).gpus,
            [5],
            "a slot sees its own device only"
        );
        let none = EvaluationSettings::default();
        assert_eq!((none.for_slot(3).gpus.len(), none.cuda_device()), (0, 0));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:****@h/db"
        );
    }
}
