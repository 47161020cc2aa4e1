//! Face stage results on each video: how many sampled frames had a real face detection, and
//! which frame indices the sampler kept (a JSON array).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000003_create_submissions::Videos;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite cannot alter several at once.
        manager
            .alter_table(
                Table::alter()
                    .table(Videos::Table)
                    .add_column(integer_null(VideoFaces::FaceFrames))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Videos::Table)
                    .add_column(text_null(VideoFaces::FrameIndices))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [VideoFaces::FrameIndices, VideoFaces::FaceFrames] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Videos::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum VideoFaces {
    FaceFrames,
    FrameIndices,
}
