//! The `videos` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "videos")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub competition_id: i64,
    pub submission_id: Option<i64>,
    pub role: String,
    pub sha256: String,
    pub storage_key: String,
    pub container: String,
    pub codec: String,
    pub width: i32,
    pub height: i32,
    pub fps: f64,
    pub frames: i64,
    pub duration_s: f64,
    pub prepare_state: String,
    pub prepare_error: Option<String>,
    pub crops_key: Option<String>,
    pub created_at_ms: i64,
    /// Sampled frames with a real face detection (not a fallback box); set when prepared.
    pub face_frames: Option<i32>,
    /// JSON array of the frame indices the sampler kept; set when prepared.
    pub frame_indices: Option<String>,
    pub task_id: Option<String>,
    pub ssim: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
