//! Decode claims: one worker at a time decodes a given content (sha256 + versions); others wait
//! for its cache instead of decoding the same bytes again. A claim expires if its holder dies.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DecodeClaims::Table)
                    .if_not_exists()
                    .col(string_len(DecodeClaims::ContentKey, 200).primary_key())
                    .col(string_len(DecodeClaims::Holder, 64))
                    .col(big_integer(DecodeClaims::ExpiresAtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DecodeClaims::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum DecodeClaims {
    Table,
    ContentKey,
    Holder,
    ExpiresAtMs,
}
