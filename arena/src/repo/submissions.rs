//! Submissions: a creation (fake videos), a detector (model + manifest), or a set of reals.

use crate::domain::{SubmissionKind, SubmissionStatus};
use crate::entities::submissions;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};

/// A submission about to be stored.
#[derive(Debug, Clone, Copy)]
pub struct NewSubmission {
    pub competition_id: i64,
    pub team_id: i64,
    pub kind: SubmissionKind,
    pub status: SubmissionStatus,
    /// The rounds-mode phase it was submitted in.
    pub phase_id: Option<i64>,
}

pub async fn create<C: ConnectionTrait>(
    db: &C,
    new: NewSubmission,
) -> Result<submissions::Model, RepoError> {
    let now = now_ms();
    let model = submissions::ActiveModel {
        competition_id: Set(new.competition_id),
        team_id: Set(new.team_id),
        kind: Set(new.kind.as_str().to_owned()),
        status: Set(new.status.as_str().to_owned()),
        phase_id: Set(new.phase_id),
        error_code: Set(None),
        error_message: Set(None),
        counted_against_quota: Set(true),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    };
    Ok(model.insert(db).await?)
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<submissions::Model>, RepoError> {
    Ok(submissions::Entity::find_by_id(id).one(db).await?)
}

pub async fn list_for_team<C: ConnectionTrait>(
    db: &C,
    team_id: i64,
) -> Result<Vec<submissions::Model>, RepoError> {
    Ok(submissions::Entity::find()
        .filter(submissions::Column::TeamId.eq(team_id))
        .order_by_desc(submissions::Column::Id)
        .all(db)
        .await?)
}

pub async fn list_for_competition<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<submissions::Model>, RepoError> {
    Ok(submissions::Entity::find()
        .filter(submissions::Column::CompetitionId.eq(competition_id))
        .order_by_asc(submissions::Column::Id)
        .all(db)
        .await?)
}

/// Moves the status from `from` (what the caller read) to `to`: a compare-and-set, so a refresh
/// that read an older status cannot write over a newer one (a request's refresh that read
/// `queued` before the detector was activated would otherwise turn a `finished` submission back
/// to `running`, and it would finish — and notify — twice). A failed or rejected submission
/// keeps its state (final). False when the row no longer had `from` (or is gone) and nothing
/// changed. Turning `finished` records a webhook delivery for the team (see
/// [`crate::repo::webhooks`]).
pub async fn set_status<C: ConnectionTrait>(
    db: &C,
    id: i64,
    from: SubmissionStatus,
    to: SubmissionStatus,
) -> Result<bool, RepoError> {
    let status = to;
    if from == to {
        return Ok(false);
    }
    let res = submissions::Entity::update_many()
        .col_expr(submissions::Column::Status, Expr::value(status.as_str()))
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        .filter(submissions::Column::Status.is_not_in(final_statuses()))
        .filter(submissions::Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    let changed = res.rows_affected == 1;
    if changed && status == SubmissionStatus::Finished {
        crate::repo::webhooks::enqueue(
            db,
            id,
            crate::repo::webhooks::SUBMISSION_FINISHED,
            status.as_str(),
        )
        .await?;
    }
    Ok(changed)
}

/// Fails the submission with a stable code and a message for its team.
pub async fn fail<C: ConnectionTrait>(
    db: &C,
    id: i64,
    code: &str,
    message: &str,
) -> Result<(), RepoError> {
    // Only the first failure notifies (a second job dying rewrites the message, nothing more).
    let before = find(db, id).await?.map(|s| s.status);
    let res = submissions::Entity::update_many()
        .col_expr(
            submissions::Column::Status,
            Expr::value(SubmissionStatus::Failed.as_str()),
        )
        .col_expr(submissions::Column::ErrorCode, Expr::value(code))
        .col_expr(submissions::Column::ErrorMessage, Expr::value(message))
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        // A disqualification is the organizers' last word: a job dying later does not undo it.
        .filter(submissions::Column::Status.ne(SubmissionStatus::Disqualified.as_str()))
        .exec(db)
        .await?;
    let failed = SubmissionStatus::Failed.as_str();
    if res.rows_affected == 1 && before.as_deref().is_some_and(|b| b != failed) {
        crate::repo::webhooks::enqueue(db, id, crate::repo::webhooks::SUBMISSION_FAILED, failed)
            .await?;
    }
    Ok(())
}

fn final_statuses() -> impl Iterator<Item = &'static str> {
    SubmissionStatus::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| s.as_str())
}

/// The newest submissions of every competition (the organizers' overview).
pub async fn list_recent<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<submissions::Model>, RepoError> {
    use sea_orm::QuerySelect;
    Ok(submissions::Entity::find()
        .order_by_desc(submissions::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// A submission in status `from` (failed, for a rerun; disqualified, when that is undone) goes
/// back to running, its error cleared; false when it was not in `from` (nothing changed).
pub async fn restart_from<C: ConnectionTrait>(
    db: &C,
    id: i64,
    from: SubmissionStatus,
) -> Result<bool, RepoError> {
    let res = submissions::Entity::update_many()
        .col_expr(
            submissions::Column::Status,
            Expr::value(SubmissionStatus::Running.as_str()),
        )
        .col_expr(
            submissions::Column::ErrorCode,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            submissions::Column::ErrorMessage,
            Expr::value(Option::<String>::None),
        )
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        .filter(submissions::Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Disqualifies a submission with the organizers' reason; false when it already was.
pub async fn disqualify<C: ConnectionTrait>(
    db: &C,
    id: i64,
    reason: &str,
) -> Result<bool, RepoError> {
    let res = submissions::Entity::update_many()
        .col_expr(
            submissions::Column::Status,
            Expr::value(SubmissionStatus::Disqualified.as_str()),
        )
        .col_expr(submissions::Column::ErrorCode, Expr::value("disqualified"))
        .col_expr(submissions::Column::ErrorMessage, Expr::value(reason))
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        .filter(submissions::Column::Status.ne(SubmissionStatus::Disqualified.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Makes the submission a `withdrawn` tombstone (its error fields cleared).
pub async fn withdraw<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), RepoError> {
    submissions::Entity::update_many()
        .col_expr(
            submissions::Column::Status,
            Expr::value(SubmissionStatus::Withdrawn.as_str()),
        )
        .col_expr(
            submissions::Column::ErrorCode,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            submissions::Column::ErrorMessage,
            Expr::value(Option::<String>::None),
        )
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub fn status(sub: &submissions::Model) -> Result<SubmissionStatus, RepoError> {
    SubmissionStatus::parse(&sub.status)
        .ok_or_else(|| RepoError::Corrupt(format!("status {:?}", sub.status)))
}

pub fn kind(sub: &submissions::Model) -> Result<SubmissionKind, RepoError> {
    SubmissionKind::parse(&sub.kind)
        .ok_or_else(|| RepoError::Corrupt(format!("kind {:?}", sub.kind)))
}

/// Submissions of a team of one kind (in one phase, if given) since `since_ms` that count
/// against its quota.
pub async fn count_for_quota<C: ConnectionTrait>(
    db: &C,
    team_id: i64,
    kind: SubmissionKind,
    phase_id: Option<i64>,
    since_ms: i64,
) -> Result<u64, RepoError> {
    use sea_orm::PaginatorTrait;
    let mut q = submissions::Entity::find()
        .filter(submissions::Column::TeamId.eq(team_id))
        .filter(submissions::Column::Kind.eq(kind.as_str()))
        .filter(submissions::Column::CountedAgainstQuota.eq(true))
        .filter(submissions::Column::CreatedAtMs.gte(since_ms));
    if let Some(p) = phase_id {
        q = q.filter(submissions::Column::PhaseId.eq(p));
    }
    Ok(q.count(db).await?)
}

/// Gives a submission back to its team's quota (our side failed, not theirs).
pub async fn refund<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), RepoError> {
    submissions::Entity::update_many()
        .col_expr(submissions::Column::CountedAgainstQuota, Expr::value(false))
        .filter(submissions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Statuses whose submissions can be a final pick (and count as one): everything but the
/// failed, disqualified and withdrawn.
fn pickable_statuses() -> [&'static str; 3] {
    [
        SubmissionStatus::Queued.as_str(),
        SubmissionStatus::Running.as_str(),
        SubmissionStatus::Finished.as_str(),
    ]
}

/// Marks or unmarks a submission as a final pick of its team.
pub async fn set_final_pick<C: ConnectionTrait>(
    db: &C,
    id: i64,
    pick: bool,
) -> Result<(), RepoError> {
    submissions::Entity::update_many()
        .col_expr(submissions::Column::FinalPick, Expr::value(pick))
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets (or clears, with `None`) a submission's note.
pub async fn set_note<C: ConnectionTrait>(
    db: &C,
    id: i64,
    note: Option<String>,
) -> Result<(), RepoError> {
    submissions::Entity::update_many()
        .col_expr(submissions::Column::Note, Expr::value(note))
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A team's live final picks of one kind in a competition (in one phase, if given).
pub async fn count_final_picks<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    team_id: i64,
    kind: SubmissionKind,
    phase_id: Option<i64>,
) -> Result<u64, RepoError> {
    use sea_orm::PaginatorTrait;
    let mut q = submissions::Entity::find()
        .filter(submissions::Column::CompetitionId.eq(competition_id))
        .filter(submissions::Column::TeamId.eq(team_id))
        .filter(submissions::Column::Kind.eq(kind.as_str()))
        .filter(submissions::Column::FinalPick.eq(true))
        .filter(submissions::Column::Status.is_in(pickable_statuses()));
    if let Some(p) = phase_id {
        q = q.filter(submissions::Column::PhaseId.eq(p));
    }
    Ok(q.count(db).await?)
}

/// The ids of a competition's live final picks (every team, kind and phase).
pub async fn final_pick_ids<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<std::collections::HashSet<i64>, RepoError> {
    use sea_orm::QuerySelect;
    let ids: Vec<i64> = submissions::Entity::find()
        .select_only()
        .column(submissions::Column::Id)
        .filter(submissions::Column::CompetitionId.eq(competition_id))
        .filter(submissions::Column::FinalPick.eq(true))
        .filter(submissions::Column::Status.is_in(pickable_statuses()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}
