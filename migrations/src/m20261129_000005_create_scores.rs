//! Results: one score per (detector, video), the crop cache index, and the event log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Scores::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Scores::Id))
                    .col(big_integer(Scores::DetectorId))
                    .col(big_integer(Scores::VideoId))
                    .col(double(Scores::Score))
                    .col(boolean(Scores::Failed).default(false))
                    .col(integer(Scores::Frames))
                    .col(text(Scores::PerFrame))
                    .col(big_integer(Scores::ElapsedMs))
                    .col(string_len(Scores::OrtVersion, 32))
                    .col(integer(Scores::SamplerVersion))
                    .col(big_integer(Scores::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_scores_detector_video")
                    .table(Scores::Table)
                    .col(Scores::DetectorId)
                    .col(Scores::VideoId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Crops::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Crops::Id))
                    .col(string_len(Crops::VideoSha256, 64))
                    .col(integer(Crops::SamplerVersion))
                    .col(integer(Crops::FaceDetectorVersion))
                    .col(string(Crops::StorageKey))
                    .col(integer(Crops::Frames))
                    .col(big_integer(Crops::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_crops_key")
                    .table(Crops::Table)
                    .col(Crops::VideoSha256)
                    .col(Crops::SamplerVersion)
                    .col(Crops::FaceDetectorVersion)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Events::Id))
                    .col(big_integer(Events::CompetitionId))
                    .col(string_len(Events::Kind, 32))
                    .col(text(Events::Payload))
                    .col(big_integer(Events::CreatedAtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Events::Table.into_iden(),
            Crops::Table.into_iden(),
            Scores::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Scores {
    Table,
    Id,
    DetectorId,
    VideoId,
    Score,
    Failed,
    Frames,
    PerFrame,
    ElapsedMs,
    OrtVersion,
    SamplerVersion,
    CreatedAtMs,
}

#[derive(DeriveIden)]
pub enum Crops {
    Table,
    Id,
    VideoSha256,
    SamplerVersion,
    FaceDetectorVersion,
    StorageKey,
    Frames,
    CreatedAtMs,
}

#[derive(DeriveIden)]
pub enum Events {
    Table,
    Id,
    CompetitionId,
    Kind,
    Payload,
    CreatedAtMs,
}
