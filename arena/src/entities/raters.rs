//! The `raters` table: a rater account enrolled in a competition, and the fake it is shown now.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "raters")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub competition_id: i64,
    /// The rater's account (a `teams` row with role `rater`).
    pub team_id: i64,
    /// The fake video this rater is shown until it rates it (the only one it may stream).
    pub current_video_id: Option<i64>,
    pub assigned_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
