//! Errors of the repositories and the queue.

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("invalid stored data: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl RepoError {
    /// True when a UNIQUE constraint refused the write (the row was already there).
    pub fn is_unique_violation(err: &DbErr) -> bool {
        matches!(
            err.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        )
    }
}
