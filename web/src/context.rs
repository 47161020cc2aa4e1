//! The application context shared by handlers, the CLI and in-process workers.

use crate::live::{Live, LiveConfig};
use crate::session_key::SessionKey;
use arena::Settings;
use arena::queue::{Queue, QueueConfig};
use arena::storage::Storage;
use arena_worker::OrtRuntime;
use arena_worker::pipeline::WorkerContext;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Cheap to clone; one per process.
#[derive(Clone)]
pub struct AppContext {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    storage: Storage,
    queue: Queue,
    settings: Settings,
    ort: OrtRuntime,
    wakeup: arena::wakeup::Wakeup,
    live: Live,
    session_key: SessionKey,
    /// sha256(token) → team id, for tokens already verified with argon2.
    /// Token digest → (team id, the stored hash it was verified against): a rotated or revoked
    /// token's hash no longer matches the team row, so it is verified again (and refused).
    verified_tokens: Mutex<HashMap<[u8; 32], (i64, String)>>,
    rate_limiter: crate::rate_limit::RateLimiter,
    /// Uploaded videos' probe children, one kept per uploading team (the most recent few).
    probe_children: arena_worker::sandbox::ProbeChildren,
}

/// Probe children a server process keeps (one per team, the most recently uploading teams):
/// each is an idle confined process of a few MiB.
const PROBE_CHILDREN_KEPT: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("storage: {0}")]
    Storage(#[from] arena::storage::StorageError),
    #[error("onnxruntime: {0}")]
    Ort(#[from] arena_worker::DetectorError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl AppContext {
    /// Connects, migrates, opens the object store and loads onnxruntime.
    pub async fn open(settings: Settings) -> Result<AppContext, ContextError> {
        std::fs::create_dir_all(&settings.data_dir)?;
        std::fs::create_dir_all(settings.upload_dir())?;
        let db = arena::db::connect_and_migrate(&settings.database_url()).await?;
        let storage = Storage::open(
            settings.storage.as_deref(),
            &settings.data_dir.join("objects"),
            &settings.s3,
        )?;
        let lib = OrtRuntime::lib_path_in(&settings);
        let ort = OrtRuntime::init(&lib)?;
        let queue = Queue::new(db.clone(), QueueConfig::from(&settings.queue));
        let session_key = SessionKey::load(&settings.data_dir)?;
        let rate_limiter = crate::rate_limit::RateLimiter::new(&settings.rate_limits);
        Ok(AppContext {
            inner: Arc::new(Inner {
                wakeup: arena::wakeup::Wakeup::start(&db),
                db,
                storage,
                queue,
                settings,
                ort,
                live: Live::new(LiveConfig::default()),
                session_key,
                verified_tokens: Mutex::new(HashMap::new()),
                rate_limiter,
                probe_children: arena_worker::sandbox::ProbeChildren::new(PROBE_CHILDREN_KEPT),
            }),
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }
    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
    pub fn ort(&self) -> &OrtRuntime {
        &self.inner.ort
    }

    /// The live hub: events broadcast and the boards cache.
    pub fn live(&self) -> &Live {
        &self.inner.live
    }

    /// The key signing browser sessions and CSRF tokens.
    pub fn session_key(&self) -> &SessionKey {
        &self.inner.session_key
    }

    /// The kept probe children of uploaded videos (`ingest_video::probe`).
    pub fn probe_children(&self) -> &arena_worker::sandbox::ProbeChildren {
        &self.inner.probe_children
    }

    /// Login, token-failure and upload rate limits.
    pub fn rate_limiter(&self) -> &crate::rate_limit::RateLimiter {
        &self.inner.rate_limiter
    }

    pub fn cached_token(&self, digest: &[u8; 32]) -> Option<(i64, String)> {
        self.inner.verified_tokens.lock().ok()?.get(digest).cloned()
    }

    pub fn cache_token(&self, digest: [u8; 32], team_id: i64, token_hash: String) {
        if let Ok(mut map) = self.inner.verified_tokens.lock() {
            map.insert(digest, (team_id, token_hash));
        }
    }

    /// Wakes this process's idle worker slots after a commit that queued jobs (on SQLite they
    /// would otherwise find them at their next poll; PostgreSQL's NOTIFY reaches other processes).
    pub fn jobs_queued(&self) {
        self.inner.wakeup.ping();
    }

    /// What a worker slot needs.
    pub fn worker_context(&self) -> WorkerContext {
        WorkerContext {
            db: self.inner.db.clone(),
            storage: self.inner.storage.clone(),
            queue: self.inner.queue.clone(),
            settings: self.inner.settings.clone(),
            ort: self.inner.ort.clone(),
            wakeup: self.inner.wakeup.clone(),
        }
    }
}
