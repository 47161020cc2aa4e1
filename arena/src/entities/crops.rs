//! The `crops` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "crops")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub video_sha256: String,
    pub sampler_version: i32,
    pub face_detector_version: i32,
    pub storage_key: String,
    pub frames: i32,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
