//! Per-(detector, video) scores; UNIQUE(detector, video) makes a retry harmless.

use crate::entities::scores;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::OnConflict,
};
use std::collections::HashSet;

#[derive(Debug, Clone)]
pub struct NewScore {
    pub detector_id: i64,
    pub video_id: i64,
    pub score: f64,
    /// The detector could not score this video: counted as 0.5, pair flagged incomplete.
    pub failed: bool,
    pub per_frame: Vec<f32>,
    pub elapsed_ms: i64,
    pub ort_version: String,
    pub sampler_version: i32,
}

/// Stores the score unless one is already there; true when this call stored it.
pub async fn insert_once<C: ConnectionTrait>(db: &C, new: NewScore) -> Result<bool, RepoError> {
    Ok(insert_many_once(db, vec![new]).await? == 1)
}

/// Stores each score unless one is already there for its pair, in one statement (a score batch
/// of twelve videos: one insert, not twelve); returns how many this call stored.
pub async fn insert_many_once<C: ConnectionTrait>(
    db: &C,
    new: Vec<NewScore>,
) -> Result<u64, RepoError> {
    if new.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let models = new
        .into_iter()
        .map(|new| {
            let per_frame = serde_json::to_string(&new.per_frame)
                .map_err(|e| RepoError::Corrupt(e.to_string()))?;
            Ok(scores::ActiveModel {
                detector_id: Set(new.detector_id),
                video_id: Set(new.video_id),
                score: Set(new.score),
                failed: Set(new.failed),
                frames: Set(i32::try_from(new.per_frame.len()).unwrap_or(i32::MAX)),
                per_frame: Set(per_frame),
                elapsed_ms: Set(new.elapsed_ms),
                ort_version: Set(new.ort_version),
                sampler_version: Set(new.sampler_version),
                created_at_ms: Set(now),
                ..Default::default()
            })
        })
        .collect::<Result<Vec<_>, RepoError>>()?;
    let inserted = scores::Entity::insert_many(models)
        .on_conflict(
            OnConflict::columns([scores::Column::DetectorId, scores::Column::VideoId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted)
}

/// Video ids among `video_ids` that `detector_id` has already scored.
pub async fn scored_among<C: ConnectionTrait>(
    db: &C,
    detector_id: i64,
    video_ids: &[i64],
) -> Result<Vec<i64>, RepoError> {
    Ok(scores::Entity::find()
        .select_only()
        .column(scores::Column::VideoId)
        .filter(scores::Column::DetectorId.eq(detector_id))
        .filter(scores::Column::VideoId.is_in(video_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?)
}

/// Which of `pairs` (detector, video) are scored: one query however many detectors (progress
/// and enqueueing ask for a submission's pairs at once).
pub async fn scored_pairs<C: ConnectionTrait>(
    db: &C,
    pairs: &[(i64, i64)],
) -> Result<HashSet<(i64, i64)>, RepoError> {
    if pairs.is_empty() {
        return Ok(HashSet::new());
    }
    let (mut detector_ids, mut video_ids): (Vec<i64>, Vec<i64>) = pairs.iter().copied().unzip();
    for ids in [&mut detector_ids, &mut video_ids] {
        ids.sort_unstable();
        ids.dedup();
    }
    let found: Vec<(i64, i64)> = scores::Entity::find()
        .select_only()
        .column(scores::Column::DetectorId)
        .column(scores::Column::VideoId)
        .filter(scores::Column::DetectorId.is_in(detector_ids))
        .filter(scores::Column::VideoId.is_in(video_ids))
        .into_tuple()
        .all(db)
        .await?;
    // The query covers the ids' product: keep only the pairs asked for.
    let asked: HashSet<(i64, i64)> = pairs.iter().copied().collect();
    Ok(found.into_iter().filter(|p| asked.contains(p)).collect())
}

/// (detector, video, score) for the given detectors.
pub async fn for_detectors<C: ConnectionTrait>(
    db: &C,
    detector_ids: &[i64],
) -> Result<Vec<(i64, i64, f64)>, RepoError> {
    Ok(scores::Entity::find()
        .select_only()
        .column(scores::Column::DetectorId)
        .column(scores::Column::VideoId)
        .column(scores::Column::Score)
        .filter(scores::Column::DetectorId.is_in(detector_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?)
}

/// All score rows of one detector (for its team's submission page).
pub async fn for_detector<C: ConnectionTrait>(
    db: &C,
    detector_id: i64,
) -> Result<Vec<scores::Model>, RepoError> {
    Ok(scores::Entity::find()
        .filter(scores::Column::DetectorId.eq(detector_id))
        .all(db)
        .await?)
}

/// Number of scores over the given videos.
pub async fn count_for_videos<C: ConnectionTrait>(
    db: &C,
    video_ids: &[i64],
    detector_ids: &[i64],
) -> Result<u64, RepoError> {
    use sea_orm::PaginatorTrait;
    Ok(scores::Entity::find()
        .filter(scores::Column::VideoId.is_in(video_ids.iter().copied()))
        .filter(scores::Column::DetectorId.is_in(detector_ids.iter().copied()))
        .count(db)
        .await?)
}

/// (detector, video) pairs of the given detectors whose scoring failed (counted as 0.5).
pub async fn failed_for_detectors<C: ConnectionTrait>(
    db: &C,
    detector_ids: &[i64],
) -> Result<Vec<(i64, i64)>, RepoError> {
    Ok(scores::Entity::find()
        .select_only()
        .column(scores::Column::DetectorId)
        .column(scores::Column::VideoId)
        .filter(scores::Column::DetectorId.is_in(detector_ids.iter().copied()))
        .filter(scores::Column::Failed.eq(true))
        .into_tuple()
        .all(db)
        .await?)
}

/// Forgets the pairs a detector failed on (a rerun scores them again); returns how many.
pub async fn delete_failed_for_detector<C: ConnectionTrait>(
    db: &C,
    detector_id: i64,
) -> Result<u64, RepoError> {
    let res = scores::Entity::delete_many()
        .filter(scores::Column::DetectorId.eq(detector_id))
        .filter(scores::Column::Failed.eq(true))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
