//! Finals and notes: a team marks some of its submissions as final picks (`final_pick`, the board
//! ranks its best final pick when it has any) and gives each a short free-text `note`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000003_create_submissions::Submissions;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite cannot alter several at once.
        manager
            .alter_table(
                Table::alter()
                    .table(Submissions::Table)
                    .add_column(boolean(SubmissionFinals::FinalPick).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Submissions::Table)
                    .add_column(text_null(SubmissionFinals::Note))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [SubmissionFinals::Note, SubmissionFinals::FinalPick] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Submissions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum SubmissionFinals {
    FinalPick,
    Note,
}
