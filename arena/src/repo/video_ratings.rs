//! Raters enrolled per competition, the fake each is shown, and their in-platform ratings.

use crate::domain::{SubmissionKind, SubmissionStatus, VideoRole};
use crate::entities::{raters, video_ratings, videos};
use crate::error::RepoError;
use crate::human_rating::{Candidate, pick_next};
use crate::repo;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};
use std::collections::{HashMap, HashSet};

/// Enrolls rater account `team_id` in a competition (idempotent).
pub async fn enroll<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    team_id: i64,
) -> Result<raters::Model, RepoError> {
    if let Some(r) = find_rater(db, competition_id, team_id).await? {
        return Ok(r);
    }
    let model = raters::ActiveModel {
        competition_id: Set(competition_id),
        team_id: Set(team_id),
        current_video_id: Set(None),
        assigned_at_ms: Set(None),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    };
    Ok(model.insert(db).await?)
}

pub async fn find_rater<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    team_id: i64,
) -> Result<Option<raters::Model>, RepoError> {
    Ok(raters::Entity::find()
        .filter(raters::Column::CompetitionId.eq(competition_id))
        .filter(raters::Column::TeamId.eq(team_id))
        .one(db)
        .await?)
}

/// The fakes raters may be shown: videos of the competition's creations that are still in the
/// game (not failed, rejected, disqualified or withdrawn), with their submission ids.
pub async fn rateable_fakes<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<HashMap<i64, i64>, RepoError> {
    let live: HashSet<i64> = repo::submissions::list_for_competition(db, competition_id)
        .await?
        .into_iter()
        .filter(|s| s.kind == SubmissionKind::Creation.as_str())
        .filter(|s| SubmissionStatus::parse(&s.status).is_some_and(|st| !st.is_final()))
        .map(|s| s.id)
        .collect();
    Ok(repo::videos::list_for_competition(db, competition_id)
        .await?
        .into_iter()
        .filter(|v| v.role == VideoRole::Fake.as_str())
        .filter_map(|v| {
            v.submission_id
                .filter(|s| live.contains(s))
                .map(|s| (v.id, s))
        })
        .collect())
}

/// The fake `rater` is to rate now: its current one while that is still in the game, else the
/// next by [`pick_next`] (recorded as its current one). None when nothing is left for it.
pub async fn assign<C: ConnectionTrait>(
    db: &C,
    rater: &raters::Model,
    per_video: u32,
) -> Result<Option<videos::Model>, RepoError> {
    let fakes = rateable_fakes(db, rater.competition_id).await?;
    if let Some(current) = rater.current_video_id.filter(|v| fakes.contains_key(v)) {
        return repo::videos::find(db, current).await;
    }
    let ratings = list(db, rater.competition_id).await?;
    let others = raters::Entity::find()
        .filter(raters::Column::CompetitionId.eq(rater.competition_id))
        .filter(raters::Column::Id.ne(rater.id))
        .all(db)
        .await?;
    let mut candidates: HashMap<i64, Candidate> = fakes
        .keys()
        .map(|&video_id| {
            let c = Candidate {
                video_id,
                ratings: 0,
                open: 0,
                rated_by_me: false,
            };
            (video_id, c)
        })
        .collect();
    for r in &ratings {
        if let Some(c) = candidates.get_mut(&r.video_id) {
            c.ratings += 1;
            c.rated_by_me |= r.rater_id == rater.team_id;
        }
    }
    for o in &others {
        if let Some(c) = o.current_video_id.and_then(|v| candidates.get_mut(&v)) {
            c.open += 1;
        }
    }
    let list: Vec<Candidate> = candidates.into_values().collect();
    let next = pick_next(&list, per_video.max(1));
    raters::Entity::update_many()
        .col_expr(raters::Column::CurrentVideoId, Expr::value(next))
        .col_expr(
            raters::Column::AssignedAtMs,
            Expr::value(next.map(|_| now_ms())),
        )
        .filter(raters::Column::Id.eq(rater.id))
        .exec(db)
        .await?;
    match next {
        Some(id) => repo::videos::find(db, id).await,
        None => Ok(None),
    }
}

/// A rating on the five axes, each 1–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisValues {
    pub realism: i16,
    pub quality: i16,
    pub expression: i16,
    pub mouth: i16,
    pub identity: i16,
}

/// Stores `rater`'s rating of its current fake `video_id` and clears the assignment; Conflict
/// when that is not its current fake (a stale form) or it rated it already.
pub async fn rate<C: ConnectionTrait>(
    db: &C,
    rater: &raters::Model,
    video_id: i64,
    submission_id: i64,
    values: AxisValues,
) -> Result<video_ratings::Model, RepoError> {
    let cleared = raters::Entity::update_many()
        .col_expr(raters::Column::CurrentVideoId, Expr::value(None::<i64>))
        .col_expr(raters::Column::AssignedAtMs, Expr::value(None::<i64>))
        .filter(raters::Column::Id.eq(rater.id))
        .filter(raters::Column::CurrentVideoId.eq(video_id))
        .exec(db)
        .await?;
    if cleared.rows_affected != 1 {
        return Err(RepoError::Conflict(
            "this fake is no longer the one shown to you".into(),
        ));
    }
    let model = video_ratings::ActiveModel {
        competition_id: Set(rater.competition_id),
        submission_id: Set(submission_id),
        video_id: Set(video_id),
        rater_id: Set(rater.team_id),
        realism: Set(values.realism),
        quality: Set(values.quality),
        expression: Set(values.expression),
        mouth: Set(values.mouth),
        identity: Set(values.identity),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    };
    model.insert(db).await.map_err(|e| {
        if RepoError::is_unique_violation(&e) {
            RepoError::Conflict("you rated this fake already".into())
        } else {
            RepoError::Db(e)
        }
    })
}

/// Every in-platform rating of a competition, oldest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<video_ratings::Model>, RepoError> {
    Ok(video_ratings::Entity::find()
        .filter(video_ratings::Column::CompetitionId.eq(competition_id))
        .order_by_asc(video_ratings::Column::Id)
        .all(db)
        .await?)
}

/// Erases the ratings of a submission's fakes (with the submission's other rows).
pub async fn delete_for_submission<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<(), RepoError> {
    video_ratings::Entity::delete_many()
        .filter(video_ratings::Column::SubmissionId.eq(submission_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Erases a competition's raters' enrolments and ratings.
pub async fn delete_for_competition<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<(), RepoError> {
    video_ratings::Entity::delete_many()
        .filter(video_ratings::Column::CompetitionId.eq(competition_id))
        .exec(db)
        .await?;
    raters::Entity::delete_many()
        .filter(raters::Column::CompetitionId.eq(competition_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Erases a rater account's enrolments and ratings (the account is being deleted).
pub async fn delete_for_rater<C: ConnectionTrait>(db: &C, team_id: i64) -> Result<(), RepoError> {
    video_ratings::Entity::delete_many()
        .filter(video_ratings::Column::RaterId.eq(team_id))
        .exec(db)
        .await?;
    raters::Entity::delete_many()
        .filter(raters::Column::TeamId.eq(team_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The competitions rater account `team_id` is enrolled in, newest enrolment first.
pub async fn enrolments<C: ConnectionTrait>(
    db: &C,
    team_id: i64,
) -> Result<Vec<raters::Model>, RepoError> {
    Ok(raters::Entity::find()
        .filter(raters::Column::TeamId.eq(team_id))
        .order_by_desc(raters::Column::Id)
        .all(db)
        .await?)
}
