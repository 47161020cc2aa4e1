//! The `tasks` table: per creation round, a target clip and a donor identity.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub competition_id: i64,
    pub round: i32,
    pub task_id: String,
    pub target_video_id: i64,
    pub donor_identity: String,
    /// A clip of the donor identity (a target-kind upload): the ID term's reference crops.
    pub donor_reference_video_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
