//! The size a viewer sees of each video (sample aspect ratio and display-matrix rotation applied),
//! beside the stored size; task checks compare these. Null on rows probed before it existed,
//! which read as their stored size.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000003_create_submissions::Videos;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite cannot alter several at once.
        for column in [VideoDisplay::DisplayWidth, VideoDisplay::DisplayHeight] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Videos::Table)
                        .add_column(integer_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [VideoDisplay::DisplayHeight, VideoDisplay::DisplayWidth] {
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
enum VideoDisplay {
    DisplayWidth,
    DisplayHeight,
}
