//! The `submissions` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "submissions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub competition_id: i64,
    pub team_id: i64,
    pub kind: String,
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub counted_against_quota: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub phase_id: Option<i64>,
    /// A final pick of its team (the board ranks the team's best final pick when it has any).
    pub final_pick: bool,
    /// The team's short free-text note (at most 280 characters).
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
