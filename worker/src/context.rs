//! What a worker's slots share ([`WorkerContext`]) and what one slot keeps between jobs
//! ([`SessionCache`]).

use crate::detector::{Detector, OrtRuntime};
use crate::faces::FaceDetector;
use crate::job_error::JobError;
use crate::sandbox;
use arena::Settings;
use arena::evaluation::EnqueuePolicy;
use arena::queue::Queue;
use arena::repo;
use arena::storage::Storage;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::path::PathBuf;

/// What every worker slot shares.
#[derive(Clone)]
pub struct WorkerContext {
    pub db: DatabaseConnection,
    pub storage: Storage,
    pub queue: Queue,
    pub settings: Settings,
    pub ort: OrtRuntime,
    /// Wakes idle slots when a job is enqueued (PostgreSQL LISTEN/NOTIFY).
    pub wakeup: arena::wakeup::Wakeup,
}

impl WorkerContext {
    pub fn policy(&self) -> EnqueuePolicy {
        EnqueuePolicy {
            max_attempts: self.settings.queue.max_attempts,
        }
    }

    /// This process's scratch folder (`arena::scratch`: the folders of ended processes are
    /// removed the first time it is asked for).
    pub(crate) fn scratch_dir(&self) -> Result<PathBuf, JobError> {
        arena::scratch::dir(&self.settings.data_dir).map_err(|e| JobError::infra("scratch", e))
    }

    /// A fresh folder for one job's files, removed when dropped.
    pub(crate) fn job_dir(&self) -> Result<tempfile::TempDir, JobError> {
        let root = self.scratch_dir()?;
        tempfile::Builder::new()
            .prefix("job-")
            .tempdir_in(&root)
            .map_err(|e| JobError::infra("scratch", e))
    }
}

/// A job's folder ([`WorkerContext::job_dir`]), made the first time a file is put in it: on a
/// local store a job hands its files over in place, and a kept child works in its own folder,
/// so most jobs need none. (Until 2026-12-06 every prepare job and every sandboxed score batch
/// made one, and an in-process decode a second; docs/BENCHMARKS.md, item 34.)
pub(crate) struct LazyJobDir<'a> {
    ctx: &'a WorkerContext,
    dir: Option<tempfile::TempDir>,
}

impl<'a> LazyJobDir<'a> {
    pub(crate) fn new(ctx: &'a WorkerContext) -> Self {
        LazyJobDir { ctx, dir: None }
    }

    /// The folder, made now if it is not yet.
    pub(crate) fn path(&mut self) -> Result<&std::path::Path, JobError> {
        let dir = match self.dir.take() {
            Some(dir) => dir,
            None => self.ctx.job_dir()?,
        };
        Ok(self.dir.insert(dir).path())
    }

    /// The folder itself (made now if it is not yet), for a caller that keeps it.
    pub(crate) fn into_dir(self) -> Result<tempfile::TempDir, JobError> {
        match self.dir {
            Some(dir) => Ok(dir),
            None => self.ctx.job_dir(),
        }
    }
}

/// Sessions kept by one worker slot: detectors by id, and the face detector.
#[derive(Default)]
pub struct SessionCache {
    pub(crate) sessions: HashMap<i64, Detector>,
    /// The `[identity]` face-embedding model, loaded on first use.
    pub(crate) identity: Option<crate::identity_model::IdentityModel>,
    pub(crate) faces: Option<FaceDetector>,
    /// The slot's long-lived scoring children (one per detector), when uploads run isolated.
    pub(crate) score_children: Vec<sandbox::ScoreChild>,
    /// The slot's decode children, each serving the videos of one team (its key), most
    /// recently used last, at most `evaluation.prepare_children_per_slot`, when uploads run
    /// isolated and `evaluation.reuse_prepare_child` is on.
    pub(crate) prepare_children: Vec<sandbox::ServingChild>,
}

impl SessionCache {
    /// Drops the sessions and scoring children of detectors that no longer exist (withdrawn or
    /// erased): a serving child's folder holds a link to its model, which must not outlive it.
    pub async fn forget_withdrawn(&mut self, db: &sea_orm::DatabaseConnection) {
        let mut gone = Vec::new();
        let ids = self
            .score_children
            .iter()
            .filter_map(|c| c.detector_id())
            .chain(self.sessions.keys().copied());
        for id in ids.collect::<Vec<_>>() {
            if let Ok(None) = repo::detectors::find(db, id).await {
                gone.push(id);
            }
        }
        if gone.is_empty() {
            return;
        }
        self.sessions.retain(|id, _| !gone.contains(id));
        self.score_children
            .retain(|c| c.detector_id().is_none_or(|id| !gone.contains(&id)));
        tracing::info!(detectors = ?gone, "dropped the sessions of withdrawn detectors");
    }
}
