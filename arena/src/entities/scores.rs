//! The `scores` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "scores")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub detector_id: i64,
    pub video_id: i64,
    pub score: f64,
    pub failed: bool,
    pub frames: i32,
    pub per_frame: String,
    pub elapsed_ms: i64,
    pub ort_version: String,
    pub sampler_version: i32,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
