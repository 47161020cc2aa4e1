//! The job queue in the database: leased claims, heartbeats, completion only from the lease
//! holder, bounded retries with the last error kept, and expired leases reclaimed.
//!
//! Claim is one `UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING *`:
//! atomic on SQLite (one writer at a time) and lock-free between workers on PostgreSQL.

use crate::entities::jobs;
use crate::time::now_ms;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a job asks a worker to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobPayload {
    /// Decode a video once and cache its sampled frames/crops.
    PrepareVideo { video_id: i64 },
    /// Make a validated detector live: enqueue it against every prepared video. Runs after the
    /// upload's transaction commits, so a video prepared meanwhile is never missed.
    ActivateDetector { detector_id: i64 },
    /// Score these (prepared) videos with one detector.
    Score {
        detector_id: i64,
        video_ids: Vec<i64>,
    },
    /// Does nothing: used by queue tests and benchmarks.
    Noop { n: i64 },
}

impl JobPayload {
    pub fn kind(&self) -> &'static str {
        match self {
            JobPayload::PrepareVideo { .. } => "prepare_video",
            JobPayload::ActivateDetector { .. } => "activate_detector",
            JobPayload::Score { .. } => "score",
            JobPayload::Noop { .. } => "noop",
        }
    }

    /// Lower runs first: prepare before score, so new videos become scorable quickly.
    pub fn priority(&self) -> i32 {
        match self {
            JobPayload::PrepareVideo { .. } | JobPayload::ActivateDetector { .. } => 0,
            JobPayload::Noop { .. } => 1,
            JobPayload::Score { .. } => 2,
        }
    }

    /// The stored priority: the kind's rank, then newest submission first within a kind (a
    /// fresh upload is evaluated before the backlog of older ones). Claims order by it alone,
    /// so the `(state, priority, id)` index serves them.
    pub fn stored_priority(&self, submission_id: Option<i64>) -> i32 {
        const SPAN: i64 = 1_000_000_000;
        let recency = submission_id.unwrap_or(0).clamp(0, SPAN - 1);
        i32::try_from(i64::from(self.priority()) * SPAN - recency).unwrap_or(i32::MAX)
    }

    /// The same work never sits in the queue twice.
    pub fn dedupe_key(&self) -> String {
        match self {
            JobPayload::PrepareVideo { video_id } => format!("prepare:{video_id}"),
            JobPayload::ActivateDetector { detector_id } => format!("activate:{detector_id}"),
            JobPayload::Score {
                detector_id,
                video_ids,
            } => {
                let mut ids = video_ids.clone();
                ids.sort_unstable();
                let joined = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
                let digest = hex::encode(Sha256::digest(joined.as_bytes()));
                format!("score:{detector_id}:{}", &digest[..32])
            }
            JobPayload::Noop { n } => format!("noop:{n}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("job {0} is no longer leased to this worker")]
    LeaseLost(i64),
    #[error("job {id} has an unreadable payload: {message}")]
    BadPayload { id: i64, message: String },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A job claimed by a worker.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub payload: JobPayload,
    /// Attempt number of this claim, starting at 1.
    pub attempt: i32,
    pub max_attempts: i32,
    pub submission_id: Option<i64>,
}

/// What `fail` did with the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Back in the queue for another attempt.
    Retried,
    /// Out of attempts: the job is failed for good.
    Dead,
}

/// Timing of leases and retries.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    pub lease_ms: i64,
    pub max_attempts: i32,
    pub retry_backoff_ms: i64,
}

impl From<&crate::config::QueueSettings> for QueueConfig {
    fn from(s: &crate::config::QueueSettings) -> Self {
        QueueConfig {
            lease_ms: s.lease_ms,
            max_attempts: s.max_attempts,
            retry_backoff_ms: s.retry_backoff_ms,
        }
    }
}

/// Handle on the `jobs` table.
#[derive(Clone, Debug)]
pub struct Queue {
    db: DatabaseConnection,
    config: QueueConfig,
}

/// Adds a job unless the same work is already queued (its dedupe key exists); returns its id.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    payload: &JobPayload,
    submission_id: Option<i64>,
    max_attempts: i32,
) -> Result<Option<i64>, QueueError> {
    let now = now_ms();
    let text = serde_json::to_string(payload).map_err(|e| QueueError::BadPayload {
        id: 0,
        message: e.to_string(),
    })?;
    let model = jobs::ActiveModel {
        kind: Set(payload.kind().to_owned()),
        payload: Set(text),
        dedupe_key: Set(payload.dedupe_key()),
        state: Set(JobState::Queued.as_str().to_owned()),
        priority: Set(payload.stored_priority(submission_id)),
        attempts: Set(0),
        max_attempts: Set(max_attempts),
        locked_by: Set(None),
        lease_expires_at_ms: Set(None),
        run_after_ms: Set(now),
        last_error: Set(None),
        submission_id: Set(submission_id),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    };
    // One statement: the new id comes back with the insert (RETURNING on both backends); a
    // conflict on the dedupe key inserts nothing and is not an error.
    let inserted = jobs::Entity::insert(model)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(jobs::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec(conn)
        .await;
    match inserted {
        Ok(r) => {
            notify_workers(conn).await?;
            Ok(Some(r.last_insert_id))
        }
        Err(DbErr::RecordNotInserted) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Wakes idle workers (PostgreSQL NOTIFY, delivered when the transaction commits); SQLite
/// workers poll.
pub async fn notify_workers<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        let notify = format!("SELECT pg_notify('{}', '')", crate::wakeup::CHANNEL);
        conn.execute_unprepared(&notify).await?;
    }
    Ok(())
}

impl Queue {
    pub fn new(db: DatabaseConnection, config: QueueConfig) -> Queue {
        Queue { db, config }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn config(&self) -> QueueConfig {
        self.config
    }

    pub async fn enqueue(
        &self,
        payload: &JobPayload,
        submission_id: Option<i64>,
    ) -> Result<Option<i64>, QueueError> {
        enqueue(&self.db, payload, submission_id, self.config.max_attempts).await
    }

    /// Claims up to `n` runnable jobs for `worker`: queued ones whose backoff has passed, and
    /// running ones whose lease expired (their worker died) while attempts remain.
    #[tracing::instrument(skip(self), err)]
    pub async fn claim(&self, worker: &str, n: u64) -> Result<Vec<ClaimedJob>, QueueError> {
        self.claim_where(worker, n, claimable(now_ms())).await
    }

    /// Claims up to `n` more runnable jobs of the same work as `job` for `worker`, which holds
    /// `job` and runs them together with it: the other score jobs of its detector (their
    /// dedupe keys share the prefix `score:<detector id>:`). Other kinds have no such jobs.
    #[tracing::instrument(skip(self, job), fields(job_id = job.id), err)]
    pub async fn claim_batch_of(
        &self,
        worker: &str,
        job: &ClaimedJob,
        n: u64,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        let JobPayload::Score { detector_id, .. } = &job.payload else {
            return Ok(Vec::new());
        };
        if n == 0 {
            return Ok(Vec::new());
        }
        let prefix = format!("score:{detector_id}:");
        let same = sea_orm::Condition::all()
            .add(claimable(now_ms()))
            .add(jobs::Column::DedupeKey.starts_with(&prefix))
            .add(jobs::Column::Id.ne(job.id));
        self.claim_where(worker, n, same).await
    }

    /// How many score jobs of `job`'s detector other than `job` are claimable now (what
    /// [`Queue::claim_batch_of`] could take).
    pub async fn claimable_batch_of(&self, job: &ClaimedJob) -> Result<u64, QueueError> {
        use sea_orm::PaginatorTrait;
        let JobPayload::Score { detector_id, .. } = &job.payload else {
            return Ok(0);
        };
        let prefix = format!("score:{detector_id}:");
        Ok(jobs::Entity::find()
            .filter(claimable(now_ms()))
            .filter(jobs::Column::DedupeKey.starts_with(&prefix))
            .filter(jobs::Column::Id.ne(job.id))
            .count(&self.db)
            .await?)
    }

    async fn claim_where(
        &self,
        worker: &str,
        n: u64,
        condition: sea_orm::Condition,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        let now = now_ms();
        let mut pick = Query::select();
        pick.column(jobs::Column::Id)
            .from(jobs::Entity)
            .cond_where(condition.clone())
            .order_by(jobs::Column::Priority, sea_orm::Order::Asc)
            .order_by(jobs::Column::Id, sea_orm::Order::Asc)
            .limit(n)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        let rows = jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(JobState::Running.as_str()))
            .col_expr(jobs::Column::LockedBy, Expr::value(worker))
            .col_expr(
                jobs::Column::LeaseExpiresAtMs,
                Expr::value(now + self.config.lease_ms),
            )
            .col_expr(
                jobs::Column::Attempts,
                Expr::col(jobs::Column::Attempts).add(1),
            )
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now))
            .filter(jobs::Column::Id.in_subquery(pick))
            // Re-checked here: on PostgreSQL a row picked above may have changed meanwhile.
            .filter(condition)
            .exec_with_returning(&self.db)
            .await?;
        let mut claimed = rows
            .into_iter()
            .map(|row| {
                let payload =
                    serde_json::from_str(&row.payload).map_err(|e| QueueError::BadPayload {
                        id: row.id,
                        message: e.to_string(),
                    })?;
                Ok(ClaimedJob {
                    id: row.id,
                    payload,
                    attempt: row.attempts,
                    max_attempts: row.max_attempts,
                    submission_id: row.submission_id,
                })
            })
            .collect::<Result<Vec<_>, QueueError>>()?;
        claimed.sort_by_key(|j| (j.payload.stored_priority(j.submission_id), j.id));
        Ok(claimed)
    }

    /// Extends the lease; false when the job is no longer ours.
    pub async fn heartbeat(&self, job_id: i64, worker: &str) -> Result<bool, QueueError> {
        let now = now_ms();
        let res = jobs::Entity::update_many()
            .col_expr(
                jobs::Column::LeaseExpiresAtMs,
                Expr::value(now + self.config.lease_ms),
            )
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now))
            .filter(jobs::Column::Id.eq(job_id))
            .filter(jobs::Column::State.eq(JobState::Running.as_str()))
            .filter(jobs::Column::LockedBy.eq(worker))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Marks the job done; refused unless `worker` still holds its lease.
    #[tracing::instrument(skip(self), err)]
    pub async fn complete(&self, job_id: i64, worker: &str) -> Result<(), QueueError> {
        let res = jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(JobState::Done.as_str()))
            .col_expr(
                jobs::Column::LeaseExpiresAtMs,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now_ms()))
            .filter(jobs::Column::Id.eq(job_id))
            .filter(jobs::Column::State.eq(JobState::Running.as_str()))
            .filter(jobs::Column::LockedBy.eq(worker))
            .exec(&self.db)
            .await?;
        if res.rows_affected == 1 {
            Ok(())
        } else {
            Err(QueueError::LeaseLost(job_id))
        }
    }

    /// Marks several jobs done in one statement; only those still leased to `worker` count.
    /// Returns how many were completed.
    pub async fn complete_many(&self, job_ids: &[i64], worker: &str) -> Result<u64, QueueError> {
        let res = jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(JobState::Done.as_str()))
            .col_expr(
                jobs::Column::LeaseExpiresAtMs,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now_ms()))
            .filter(jobs::Column::Id.is_in(job_ids.iter().copied()))
            .filter(jobs::Column::State.eq(JobState::Running.as_str()))
            .filter(jobs::Column::LockedBy.eq(worker))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected)
    }

    /// Which of `job_ids` are done by `worker` (after [`Queue::complete_many`] completed fewer
    /// than asked: the others' leases were lost to another worker).
    pub async fn done_by(
        &self,
        job_ids: &[i64],
        worker: &str,
    ) -> Result<std::collections::HashSet<i64>, QueueError> {
        let ids: Vec<i64> = jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Id)
            .filter(jobs::Column::Id.is_in(job_ids.iter().copied()))
            .filter(jobs::Column::State.eq(JobState::Done.as_str()))
            .filter(jobs::Column::LockedBy.eq(worker))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.into_iter().collect())
    }

    /// Records a failed attempt: requeued with backoff while attempts remain (unless
    /// `permanent`), else failed for good. The error text is kept in `last_error`.
    #[tracing::instrument(skip(self), err)]
    pub async fn fail(
        &self,
        job_id: i64,
        worker: &str,
        error: &str,
        permanent: bool,
    ) -> Result<FailOutcome, QueueError> {
        let now = now_ms();
        let row = jobs::Entity::find_by_id(job_id)
            .one(&self.db)
            .await?
            .ok_or(QueueError::LeaseLost(job_id))?;
        let dead = permanent || row.attempts >= row.max_attempts;
        let (state, outcome) = if dead {
            (JobState::Failed, FailOutcome::Dead)
        } else {
            (JobState::Queued, FailOutcome::Retried)
        };
        let backoff = self.config.retry_backoff_ms * i64::from(Ord::max(row.attempts, 1));
        let res = jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(state.as_str()))
            .col_expr(jobs::Column::LastError, Expr::value(truncate(error, 2000)))
            .col_expr(jobs::Column::LockedBy, Expr::value(Option::<String>::None))
            .col_expr(
                jobs::Column::LeaseExpiresAtMs,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(jobs::Column::RunAfterMs, Expr::value(now + backoff))
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now))
            .filter(jobs::Column::Id.eq(job_id))
            .filter(jobs::Column::State.eq(JobState::Running.as_str()))
            .filter(jobs::Column::LockedBy.eq(worker))
            .exec(&self.db)
            .await?;
        if res.rows_affected == 1 {
            Ok(outcome)
        } else {
            Err(QueueError::LeaseLost(job_id))
        }
    }

    /// Fails for good the jobs whose lease expired on their last attempt (their worker died
    /// each time); returns them so the caller can fail their submissions.
    #[tracing::instrument(skip(self), err)]
    pub async fn reap(&self) -> Result<Vec<jobs::Model>, QueueError> {
        let now = now_ms();
        let expired = jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(JobState::Failed.as_str()))
            .col_expr(
                jobs::Column::LastError,
                Expr::value("worker lost: lease expired on the last attempt"),
            )
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now))
            .filter(jobs::Column::State.eq(JobState::Running.as_str()))
            .filter(jobs::Column::LeaseExpiresAtMs.lt(now))
            .filter(Expr::col(jobs::Column::Attempts).gte(Expr::col(jobs::Column::MaxAttempts)))
            .exec_with_returning(&self.db)
            .await?;
        Ok(expired)
    }

    /// Jobs of one submission that are not finished yet (queued or running).
    pub async fn pending_for_submission(&self, submission_id: i64) -> Result<u64, QueueError> {
        use sea_orm::PaginatorTrait;
        Ok(jobs::Entity::find()
            .filter(jobs::Column::SubmissionId.eq(submission_id))
            .filter(
                jobs::Column::State.is_in([JobState::Queued.as_str(), JobState::Running.as_str()]),
            )
            .count(&self.db)
            .await?)
    }

    /// Counts of jobs per state, for status pages and tests.
    pub async fn state_counts(&self) -> Result<Vec<(String, i64)>, QueueError> {
        let rows: Vec<(String, i64)> = jobs::Entity::find()
            .select_only()
            .column(jobs::Column::State)
            .column_as(jobs::Column::Id.count(), "n")
            .group_by(jobs::Column::State)
            .order_by_asc(jobs::Column::State)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows)
    }

    /// Jobs per (kind, state), read at scrape time so every `serve` replica reports the same.
    pub async fn depth_by_kind(&self) -> Result<Vec<(String, String, i64)>, QueueError> {
        let rows: Vec<(String, String, i64)> = jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Kind)
            .column(jobs::Column::State)
            .column_as(jobs::Column::Id.count(), "n")
            .group_by(jobs::Column::Kind)
            .group_by(jobs::Column::State)
            .order_by_asc(jobs::Column::Kind)
            .order_by_asc(jobs::Column::State)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows)
    }
}

fn claimable(now: i64) -> sea_orm::Condition {
    use sea_orm::Condition;
    Condition::any()
        .add(
            Condition::all()
                .add(jobs::Column::State.eq(JobState::Queued.as_str()))
                .add(jobs::Column::RunAfterMs.lte(now)),
        )
        .add(
            Condition::all()
                .add(jobs::Column::State.eq(JobState::Running.as_str()))
                .add(jobs::Column::LeaseExpiresAtMs.lt(now))
                .add(Expr::col(jobs::Column::Attempts).lt(Expr::col(jobs::Column::MaxAttempts))),
        )
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::JobPayload;

    #[test]
    fn prepare_before_score_and_newest_submission_first() {
        let prep = JobPayload::PrepareVideo { video_id: 1 };
        let score = JobPayload::Score {
            detector_id: 1,
            video_ids: vec![1],
        };
        assert!(prep.stored_priority(Some(5)) < score.stored_priority(Some(999_999)));
        assert!(score.stored_priority(Some(20)) < score.stored_priority(Some(10)));
        assert!(prep.stored_priority(None) > prep.stored_priority(Some(1)));
    }
}
