//! Workers' short log lines per job, shown on the submission's page to its team and the
//! organizers. Lines are capped in length and in number per job, so a job retried again and
//! again cannot fill the table.

use crate::entities::job_logs;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, UnionType};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

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

/// Appends a line unless the job already has [`MAX_LINES_PER_JOB`]; true when stored. One
/// statement (`INSERT … SELECT … WHERE (SELECT COUNT(*) …) < cap`): a line costs one round trip,
/// and two workers appending at once can at worst each add the line the cap had room for.
pub async fn append<C: ConnectionTrait>(db: &C, line: NewJobLog<'_>) -> Result<bool, RepoError> {
    Ok(append_many(db, &[line]).await? == 1)
}

/// [`append`] for several lines in one statement (the `SELECT`s joined by `UNION ALL`, each with
/// its own job's cap): a score batch's jobs are claimed and completed together, one line each.
/// Each line is counted against its job's lines stored before the statement, so lines of
/// different jobs, as here, are capped exactly as by [`append`]. Returns how many were stored.
pub async fn append_many<C: ConnectionTrait>(
    db: &C,
    lines: &[NewJobLog<'_>],
) -> Result<u64, RepoError> {
    let now = now_ms();
    let mut selects = lines.iter().map(|line| {
        let stored = Query::select()
            .expr(Func::count(Expr::col(job_logs::Column::Id)))
            .from(job_logs::Entity)
            .and_where(Expr::col(job_logs::Column::JobId).eq(line.job_id))
            .take();
        Query::select()
            .exprs([
                Expr::val(line.job_id),
                Expr::val(line.submission_id),
                Expr::val(cut(line.worker, 60)),
                Expr::val(line.level.as_str()),
                Expr::val(cut(line.message.trim(), MAX_MESSAGE_BYTES)),
                Expr::val(now),
            ])
            .and_where(Expr::expr(stored).lt(i64::try_from(MAX_LINES_PER_JOB).unwrap_or(i64::MAX)))
            .take()
    });
    let Some(mut values) = selects.next() else {
        return Ok(0);
    };
    for more in selects {
        values.union(UnionType::All, more);
    }
    let insert = Query::insert()
        .into_table(job_logs::Entity)
        .columns([
            job_logs::Column::JobId,
            job_logs::Column::SubmissionId,
            job_logs::Column::Worker,
            job_logs::Column::Level,
            job_logs::Column::Message,
            job_logs::Column::CreatedAtMs,
        ])
        .select_from(values)
        .map_err(|e| RepoError::Db(sea_orm::DbErr::Custom(e.to_string())))?
        .take();
    Ok(db.execute(&insert).await?.rows_affected())
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
