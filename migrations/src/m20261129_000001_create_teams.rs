//! Teams: creators, detectors and organizers, each with an argon2-hashed token.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Teams::Id))
                    .col(string_len_uniq(Teams::Name, 64))
                    .col(string_len(Teams::Role, 16))
                    .col(string(Teams::TokenHash))
                    .col(boolean(Teams::IsAdmin).default(false))
                    .col(boolean(Teams::IsBaseline).default(false))
                    .col(big_integer(Teams::CreatedAtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Teams::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Teams {
    Table,
    Id,
    Name,
    Role,
    TokenHash,
    IsAdmin,
    IsBaseline,
    CreatedAtMs,
}
