//! Creation tasks: a target clip and a donor identity per task id.

use crate::entities::tasks;
use crate::error::RepoError;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

pub struct NewTask<'a> {
    pub competition_id: i64,
    pub round: i32,
    pub task_id: &'a str,
    pub target_video_id: i64,
    pub donor_identity: &'a str,
    pub donor_reference_video_id: Option<i64>,
}

pub async fn create<C: ConnectionTrait>(
    db: &C,
    new: NewTask<'_>,
) -> Result<tasks::Model, RepoError> {
    let model = tasks::ActiveModel {
        competition_id: Set(new.competition_id),
        round: Set(new.round),
        task_id: Set(new.task_id.to_owned()),
        target_video_id: Set(new.target_video_id),
        donor_identity: Set(new.donor_identity.to_owned()),
        donor_reference_video_id: Set(new.donor_reference_video_id),
        ..Default::default()
    };
    model.insert(db).await.map_err(|e| {
        if RepoError::is_unique_violation(&e) {
            RepoError::Conflict(format!("task {} already exists", new.task_id))
        } else {
            RepoError::Db(e)
        }
    })
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<tasks::Model>, RepoError> {
    Ok(tasks::Entity::find()
        .filter(tasks::Column::CompetitionId.eq(competition_id))
        .order_by_asc(tasks::Column::Round)
        .order_by_asc(tasks::Column::TaskId)
        .all(db)
        .await?)
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    task_id: &str,
) -> Result<Option<tasks::Model>, RepoError> {
    Ok(tasks::Entity::find()
        .filter(tasks::Column::CompetitionId.eq(competition_id))
        .filter(tasks::Column::TaskId.eq(task_id))
        .one(db)
        .await?)
}

/// The reference clips of `donor` in a competition: every task's donor reference for that donor
/// identity (video ids, each once).
pub async fn donor_references<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    donor: &str,
) -> Result<Vec<i64>, RepoError> {
    let mut ids: Vec<i64> = tasks::Entity::find()
        .filter(tasks::Column::CompetitionId.eq(competition_id))
        .filter(tasks::Column::DonorIdentity.eq(donor))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|t| t.donor_reference_video_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
