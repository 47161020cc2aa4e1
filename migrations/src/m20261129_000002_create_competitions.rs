//! Competitions: a slug, a mode, a scoring preset and its settings.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Competitions::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Competitions::Id))
                    .col(string_len_uniq(Competitions::Slug, 64))
                    .col(string(Competitions::Title))
                    .col(string_len(Competitions::Mode, 16))
                    .col(string_len(Competitions::Preset, 16))
                    .col(text(Competitions::Settings))
                    .col(big_integer(Competitions::CreatedAtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Competitions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Competitions {
    Table,
    Id,
    Slug,
    Title,
    Mode,
    Preset,
    Settings,
    CreatedAtMs,
}
