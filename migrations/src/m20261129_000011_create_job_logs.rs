//! Worker log lines per job ("claimed", "decoded 32 frames in 410 ms", "failed: …, retry 2/3"),
//! read back per submission for its page.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobLogs::Table)
                    .if_not_exists()
                    .col(big_pk_auto(JobLogs::Id))
                    .col(big_integer(JobLogs::JobId))
                    .col(big_integer_null(JobLogs::SubmissionId))
                    .col(string_len(JobLogs::Worker, 64))
                    .col(string_len(JobLogs::Level, 8))
                    .col(text(JobLogs::Message))
                    .col(big_integer(JobLogs::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_logs_submission")
                    .table(JobLogs::Table)
                    .col(JobLogs::SubmissionId)
                    .col(JobLogs::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_logs_job")
                    .table(JobLogs::Table)
                    .col(JobLogs::JobId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobLogs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum JobLogs {
    Table,
    Id,
    JobId,
    SubmissionId,
    Worker,
    Level,
    Message,
    CreatedAtMs,
}
