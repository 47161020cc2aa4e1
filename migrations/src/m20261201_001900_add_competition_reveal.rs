//! Public / private: when the organizers revealed a competition's private part
//! (`revealed_at_ms`; null while the boards show the public part only).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000002_create_competitions::Competitions;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Competitions::Table)
                    .add_column(big_integer_null(CompetitionReveal::RevealedAtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Competitions::Table)
                    .drop_column(CompetitionReveal::RevealedAtMs)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum CompetitionReveal {
    RevealedAtMs,
}
