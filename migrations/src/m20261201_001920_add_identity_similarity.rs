//! The DFGC-2021 ID term measured by the worker: each fake's identity similarity to its task's
//! donor (`videos.id_similarity`, mean cosine of face embeddings), and each task's optional
//! donor reference clip (`tasks.donor_reference_video_id`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000003_create_submissions::Videos;
use crate::m20261129_000007_create_phases_and_tasks::Tasks;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Videos::Table)
                    .add_column(double_null(Identity::IdSimilarity))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(big_integer_null(Identity::DonorReferenceVideoId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Identity::DonorReferenceVideoId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Videos::Table)
                    .drop_column(Identity::IdSimilarity)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Identity {
    IdSimilarity,
    DonorReferenceVideoId,
}
