//! Workers' short log lines per job, shown on the submission's page to its team and the
//! organizers. Lines are capped in length and in number per job, so a job retried again and
//! again cannot fill the table.

use crate::entities::job_logs;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

/// Longest message stored, in bytes (longer ones are cut at a character boundary, with `…`).
pub const MAX_MESSAGE_BYTES: usize = 400;
/// Lines kept per job; later ones are dropped.
pub const MAX_LINES_PER_JOB: u64 = 40;

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One line about one job.
#[derive(Debug, Clone)]
pub struct NewJobLog<'a> {
    pub job_id: i64,
    pub submission_id: Option<i64>,
    /// A short worker label (never a host name or a path).
    pub worker: &'a str,
    pub level: Level,
    pub message: &'a str,
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Appends a line unless the job already has [`MAX_LINES_PER_JOB`]; true when stored.
pub async fn append<C: ConnectionTrait>(db: &C, line: NewJobLog<'_>) -> Result<bool, RepoError> {
    let lines = job_logs::Entity::find()
        .filter(job_logs::Column::JobId.eq(line.job_id))
        .count(db)
        .await?;
    if lines >= MAX_LINES_PER_JOB {
        return Ok(false);
    }
    let model = job_logs::ActiveModel {
        job_id: Set(line.job_id),
        submission_id: Set(line.submission_id),
        worker: Set(cut(line.worker, 60)),
        level: Set(line.level.as_str().to_owned()),
        message: Set(cut(line.message.trim(), MAX_MESSAGE_BYTES)),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    };
    model.insert(db).await?;
    Ok(true)
}

/// The latest `limit` lines of a submission's jobs, oldest first.
pub async fn latest_for_submission<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
    limit: u64,
) -> Result<Vec<job_logs::Model>, RepoError> {
    let mut rows = job_logs::Entity::find()
        .filter(job_logs::Column::SubmissionId.eq(submission_id))
        .order_by_desc(job_logs::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    rows.reverse();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("ééé", 3), "é…");
        assert_eq!(cut(&"x".repeat(500), 400).len(), 400 + '…'.len_utf8());
    }
}
