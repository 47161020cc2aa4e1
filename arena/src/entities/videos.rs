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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
