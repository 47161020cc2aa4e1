//! Submissions and what they carry: videos (real or fake) and detectors.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000001_create_teams::Teams;
use crate::m20261129_000002_create_competitions::Competitions;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Submissions::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Submissions::Id))
                    .col(big_integer(Submissions::CompetitionId))
                    .col(big_integer(Submissions::TeamId))
                    .col(string_len(Submissions::Kind, 16))
                    .col(string_len(Submissions::Status, 16))
                    .col(string_len_null(Submissions::ErrorCode, 64))
                    .col(text_null(Submissions::ErrorMessage))
                    .col(boolean(Submissions::CountedAgainstQuota).default(true))
                    .col(big_integer(Submissions::CreatedAtMs))
                    .col(big_integer(Submissions::UpdatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Submissions::Table, Submissions::CompetitionId)
                            .to(Competitions::Table, Competitions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Submissions::Table, Submissions::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_submissions_competition")
                    .table(Submissions::Table)
                    .col(Submissions::CompetitionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Videos::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Videos::Id))
                    .col(big_integer(Videos::CompetitionId))
                    .col(big_integer_null(Videos::SubmissionId))
                    .col(string_len(Videos::Role, 8))
                    .col(string_len(Videos::Sha256, 64))
                    .col(string(Videos::StorageKey))
                    .col(string_len(Videos::Container, 32))
                    .col(string_len(Videos::Codec, 32))
                    .col(integer(Videos::Width))
                    .col(integer(Videos::Height))
                    .col(double(Videos::Fps))
                    .col(big_integer(Videos::Frames))
                    .col(double(Videos::DurationS))
                    .col(string_len(Videos::PrepareState, 16))
                    .col(text_null(Videos::PrepareError))
                    .col(string_null(Videos::CropsKey))
                    .col(big_integer(Videos::CreatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Videos::Table, Videos::CompetitionId)
                            .to(Competitions::Table, Competitions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Videos::Table, Videos::SubmissionId)
                            .to(Submissions::Table, Submissions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_videos_competition")
                    .table(Videos::Table)
                    .col(Videos::CompetitionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Detectors::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Detectors::Id))
                    .col(big_integer_uniq(Detectors::SubmissionId))
                    .col(big_integer(Detectors::CompetitionId))
                    .col(string_len(Detectors::ModelSha256, 64))
                    .col(string(Detectors::ModelKey))
                    .col(text(Detectors::Manifest))
                    .col(string_len(Detectors::OrtVersion, 32))
                    .col(boolean(Detectors::Ready).default(false))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Detectors::Table, Detectors::SubmissionId)
                            .to(Submissions::Table, Submissions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Detectors::Table.into_iden(),
            Videos::Table.into_iden(),
            Submissions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Submissions {
    Table,
    Id,
    CompetitionId,
    TeamId,
    Kind,
    Status,
    ErrorCode,
    ErrorMessage,
    CountedAgainstQuota,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
pub enum Videos {
    Table,
    Id,
    CompetitionId,
    SubmissionId,
    Role,
    Sha256,
    StorageKey,
    Container,
    Codec,
    Width,
    Height,
    Fps,
    Frames,
    DurationS,
    PrepareState,
    PrepareError,
    CropsKey,
    CreatedAtMs,
}

#[derive(DeriveIden)]
pub enum Detectors {
    Table,
    Id,
    SubmissionId,
    CompetitionId,
    ModelSha256,
    ModelKey,
    Manifest,
    OrtVersion,
    Ready,
}
