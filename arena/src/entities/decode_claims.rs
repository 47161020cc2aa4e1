//! The `decode_claims` table: who is decoding a content right now.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "decode_claims")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub content_key: String,
    pub holder: String,
    pub expires_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
