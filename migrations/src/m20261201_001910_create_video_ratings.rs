//! Human rating in the platform: rater accounts enrolled per competition (with the fake each is
//! currently shown) and their ratings of single fakes on the five DFGC-2022 axes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Raters::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Raters::Id))
                    .col(big_integer(Raters::CompetitionId))
                    .col(big_integer(Raters::TeamId))
                    .col(big_integer_null(Raters::CurrentVideoId))
                    .col(big_integer_null(Raters::AssignedAtMs))
                    .col(big_integer(Raters::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_raters_competition_team")
                    .table(Raters::Table)
                    .col(Raters::CompetitionId)
                    .col(Raters::TeamId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(VideoRatings::Table)
                    .if_not_exists()
                    .col(big_pk_auto(VideoRatings::Id))
                    .col(big_integer(VideoRatings::CompetitionId))
                    .col(big_integer(VideoRatings::SubmissionId))
                    .col(big_integer(VideoRatings::VideoId))
                    .col(big_integer(VideoRatings::RaterId))
                    .col(small_integer(VideoRatings::Realism))
                    .col(small_integer(VideoRatings::Quality))
                    .col(small_integer(VideoRatings::Expression))
                    .col(small_integer(VideoRatings::Mouth))
                    .col(small_integer(VideoRatings::Identity))
                    .col(big_integer(VideoRatings::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_video_ratings_rater_video")
                    .table(VideoRatings::Table)
                    .col(VideoRatings::RaterId)
                    .col(VideoRatings::VideoId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_video_ratings_competition")
                    .table(VideoRatings::Table)
                    .col(VideoRatings::CompetitionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(VideoRatings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Raters::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Raters {
    Table,
    Id,
    CompetitionId,
    TeamId,
    CurrentVideoId,
    AssignedAtMs,
    CreatedAtMs,
}

#[derive(DeriveIden)]
pub enum VideoRatings {
    Table,
    Id,
    CompetitionId,
    SubmissionId,
    VideoId,
    RaterId,
    Realism,
    Quality,
    Expression,
    Mouth,
    Identity,
    CreatedAtMs,
}
