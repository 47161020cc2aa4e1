//! The `webhook_deliveries` table: one notification owed to a team's webhook, with its retries.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub team_id: i64,
    pub submission_id: i64,
    /// `submission.finished` or `submission.failed`.
    pub event: String,
    /// The JSON body sent, fixed when the delivery is recorded.
    pub payload: String,
    pub attempts: i32,
    /// When the next attempt is due; `None` once delivered or given up.
    pub next_at_ms: Option<i64>,
    /// The receiver's last HTTP status (none when it could not be reached).
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
    pub gave_up_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
