//! Deleting a team or a competition, and purging a finished competition's uploads: each of their
//! submissions is erased exactly as a withdrawal erases it ([`crate::withdrawal`]), so a stored
//! object goes unless a submission elsewhere still holds the same content (by sha256). Then the
//! rows go: a deleted team or competition leaves no row behind (its name or slug is free again);
//! a purged competition keeps its row, phases and events, and its submissions as `withdrawn`
//! tombstones, while its tasks (whose target clips were uploads) go.

use crate::domain::SubmissionStatus;
use crate::entities::{competitions, events, human_ratings, phases, submissions, tasks, teams};
use crate::repo;
use crate::storage::Storage;
use crate::time::now_ms;
use crate::withdrawal::{self, Caller, WithdrawError};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Serialize;

/// What erasing many submissions deleted.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Erasure {
    /// Submissions erased now (those already withdrawn are not counted again).
    pub submissions_erased: usize,
    pub scores_deleted: u64,
    pub jobs_deleted: u64,
    /// Object-store keys deleted (uploads, crop and frame caches).
    pub objects_deleted: Vec<String>,
    /// Competitions whose boards changed.
    #[serde(skip)]
    pub competitions: Vec<i64>,
}

const ORGANIZER: Caller = Caller {
    team_id: 0,
    is_admin: true,
};

fn refused(code: &'static str, message: String) -> WithdrawError {
    WithdrawError::Refused {
        code,
        message,
        conflict: true,
    }
}

/// Erases every submission in `subs` that is not withdrawn yet. Refuses before erasing anything
/// when a job of one of them is running (the caller tries again in a moment).
async fn erase_all(
    db: &DatabaseConnection,
    storage: &Storage,
    subs: &[submissions::Model],
) -> Result<Erasure, WithdrawError> {
    let mut running = 0;
    for s in subs {
        running += repo::erasure::running_jobs(db, s.id).await?;
    }
    if running > 0 {
        return Err(refused(
            "submission_busy",
            format!("{running} job(s) of these submissions are running; try again in a moment"),
        ));
    }
    let mut out = Erasure::default();
    for s in subs {
        if repo::submissions::status(s)? == SubmissionStatus::Withdrawn {
            continue;
        }
        let w = withdrawal::withdraw(db, storage, s.id, ORGANIZER).await?;
        out.submissions_erased += 1;
        out.scores_deleted += w.scores_deleted;
        out.jobs_deleted += w.jobs_deleted;
        out.objects_deleted.extend(w.objects_deleted);
        if !out.competitions.contains(&w.competition_id) {
            out.competitions.push(w.competition_id);
        }
    }
    Ok(out)
}

/// Deletes a team: its submissions are erased, then their rows and the team's row go. Organizer
/// teams are refused (`team_is_organizer`): they own the reals and task targets.
#[tracing::instrument(skip(db, storage, team), fields(team = %team.name), err)]
pub async fn delete_team(
    db: &DatabaseConnection,
    storage: &Storage,
    team: &teams::Model,
) -> Result<Erasure, WithdrawError> {
    if team.is_admin {
        return Err(refused(
            "team_is_organizer",
            format!(
                "{} is an organizer team; revoke its token instead",
                team.name
            ),
        ));
    }
    let subs = repo::submissions::list_for_team(db, team.id).await?;
    let out = erase_all(db, storage, &subs).await?;
    let txn = crate::db::begin_write(db).await?;
    let ids: Vec<i64> = subs.iter().map(|s| s.id).collect();
    human_ratings::Entity::delete_many()
        .filter(human_ratings::Column::SubmissionId.is_in(ids))
        .exec(&txn)
        .await?;
    submissions::Entity::delete_many()
        .filter(submissions::Column::TeamId.eq(team.id))
        .exec(&txn)
        .await?;
    repo::webhooks::delete_for_team(&txn, team.id).await?;
    repo::video_ratings::delete_for_rater(&txn, team.id).await?;
    teams::Entity::delete_by_id(team.id).exec(&txn).await?;
    txn.commit().await?;
    tracing::info!(team = %team.name, submissions = out.submissions_erased, "team deleted");
    Ok(out)
}

/// Deletes a competition: its submissions are erased, then every row of it goes (submissions,
/// phases, tasks, ratings, events and the competition itself).
#[tracing::instrument(skip(db, storage, comp), fields(slug = %comp.slug), err)]
pub async fn delete_competition(
    db: &DatabaseConnection,
    storage: &Storage,
    comp: &competitions::Model,
) -> Result<Erasure, WithdrawError> {
    let subs = repo::submissions::list_for_competition(db, comp.id).await?;
    let out = erase_all(db, storage, &subs).await?;
    let txn = crate::db::begin_write(db).await?;
    human_ratings::Entity::delete_many()
        .filter(human_ratings::Column::CompetitionId.eq(comp.id))
        .exec(&txn)
        .await?;
    repo::video_ratings::delete_for_competition(&txn, comp.id).await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::CompetitionId.eq(comp.id))
        .exec(&txn)
        .await?;
    let ids: Vec<i64> = subs.iter().map(|s| s.id).collect();
    repo::webhooks::delete_for_submissions(&txn, &ids).await?;
    submissions::Entity::delete_many()
        .filter(submissions::Column::CompetitionId.eq(comp.id))
        .exec(&txn)
        .await?;
    phases::Entity::delete_many()
        .filter(phases::Column::CompetitionId.eq(comp.id))
        .exec(&txn)
        .await?;
    events::Entity::delete_many()
        .filter(events::Column::CompetitionId.eq(comp.id))
        .exec(&txn)
        .await?;
    competitions::Entity::delete_by_id(comp.id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(slug = %comp.slug, submissions = out.submissions_erased, "competition deleted");
    Ok(out)
}

/// Whether the competition is over: it has phases and every one has closed. A live competition
/// (no phases) never finishes by itself.
pub async fn is_finished<C: sea_orm::ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
) -> Result<bool, crate::RepoError> {
    let phases = repo::phases::list(db, comp.id).await?;
    let now = now_ms();
    Ok(!phases.is_empty() && phases.iter().all(|p| p.closes_at_ms <= now))
}

/// Purges a finished competition's uploads (after the organizers exported its boards): every
/// submission is erased and stays a `withdrawn` tombstone; its tasks go; the competition, its
/// phases and events stay. `force` purges one that is not finished (a live competition).
#[tracing::instrument(skip(db, storage, comp), fields(slug = %comp.slug), err)]
pub async fn purge_competition(
    db: &DatabaseConnection,
    storage: &Storage,
    comp: &competitions::Model,
    force: bool,
) -> Result<Erasure, WithdrawError> {
    if !force && !is_finished(db, comp).await? {
        return Err(refused(
            "competition_not_finished",
            format!(
                "{} has a phase still open or to come (or runs live, without phases)",
                comp.slug
            ),
        ));
    }
    let subs = repo::submissions::list_for_competition(db, comp.id).await?;
    let out = erase_all(db, storage, &subs).await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::CompetitionId.eq(comp.id))
        .exec(db)
        .await?;
    repo::events::append(
        db,
        comp.id,
        "competition_purged",
        &serde_json::json!({ "submissions": out.submissions_erased }),
    )
    .await?;
    tracing::info!(slug = %comp.slug, submissions = out.submissions_erased, "competition purged");
    Ok(out)
}
