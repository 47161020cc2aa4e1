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
    /// The size a viewer sees (None on rows probed before it was recorded: the stored size).
    pub display_width: Option<i32>,
    pub display_height: Option<i32>,
    /// The fake's identity similarity to its task's donor (mean cosine of face embeddings; set
    /// by the worker when an `[identity]` model is configured).
    pub id_similarity: Option<f64>,
}

impl Model {
    /// The size a viewer sees: sample aspect ratio and rotation applied.
    pub fn display_size(&self) -> (i32, i32) {
        (
            self.display_width.unwrap_or(self.width),
            self.display_height.unwrap_or(self.height),
        )
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
