//! Creation quality: the SSIM of each fake against its task's target clip (computed by the
//! worker) and organizers' imported human ratings per creation and axis.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000002_create_competitions::Competitions;
use crate::m20261129_000003_create_submissions::{Submissions, Videos};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Videos::Table)
                    .add_column(double_null(VideosSsim::Ssim))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HumanRatings::Table)
                    .if_not_exists()
                    .col(big_pk_auto(HumanRatings::Id))
                    .col(big_integer(HumanRatings::CompetitionId))
                    .col(big_integer(HumanRatings::SubmissionId))
                    .col(string_len(HumanRatings::Axis, 16))
                    .col(double(HumanRatings::Value))
                    .col(big_integer(HumanRatings::CreatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(HumanRatings::Table, HumanRatings::CompetitionId)
                            .to(Competitions::Table, Competitions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(HumanRatings::Table, HumanRatings::SubmissionId)
                            .to(Submissions::Table, Submissions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(HumanRatings::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Videos::Table)
                    .drop_column(VideosSsim::Ssim)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum VideosSsim {
    Ssim,
}

#[derive(DeriveIden)]
pub enum HumanRatings {
    Table,
    Id,
    CompetitionId,
    SubmissionId,
    Axis,
    Value,
    CreatedAtMs,
}
