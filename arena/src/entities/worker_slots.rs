//! The `worker_slots` table: one row per worker slot, written by the slot while it runs.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "worker_slots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub worker_id: String,
    /// The short label job logs show (`w-1a2b3c`).
    pub label: String,
    pub started_at_ms: i64,
    pub heartbeat_at_ms: i64,
    pub current_job_id: Option<i64>,
    pub jobs_done: i64,
    /// Set when the slot stopped cleanly; a slot that died keeps `None` and goes stale.
    pub stopped_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
