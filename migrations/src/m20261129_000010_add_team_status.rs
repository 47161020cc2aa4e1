//! Team registration: a team registered through the public form waits in `pending` (no usable
//! token) until an organizer approves it (`approved`) or turns it down (`rejected`). Teams that
//! existed before this change are approved.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000001_create_teams::Teams;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Teams::Table)
                    .add_column(string_len(TeamsStatus::Status, 16).default("approved"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Teams::Table)
                    .drop_column(TeamsStatus::Status)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum TeamsStatus {
    Status,
}
