//! The job queue: leased claims, heartbeats, bounded retries, a UNIQUE dedupe key.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Jobs::Id))
                    .col(string_len(Jobs::Kind, 32))
                    .col(text(Jobs::Payload))
                    .col(string_len_uniq(Jobs::DedupeKey, 128))
                    .col(string_len(Jobs::State, 16))
                    .col(integer(Jobs::Priority))
                    .col(integer(Jobs::Attempts))
                    .col(integer(Jobs::MaxAttempts))
                    .col(string_len_null(Jobs::LockedBy, 128))
                    .col(big_integer_null(Jobs::LeaseExpiresAtMs))
                    .col(big_integer(Jobs::RunAfterMs))
                    .col(text_null(Jobs::LastError))
                    .col(big_integer_null(Jobs::SubmissionId))
                    .col(big_integer(Jobs::CreatedAtMs))
                    .col(big_integer(Jobs::UpdatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_claim")
                    .table(Jobs::Table)
                    .col(Jobs::State)
                    .col(Jobs::Priority)
                    .col(Jobs::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Jobs {
    Table,
    Id,
    Kind,
    Payload,
    DedupeKey,
    State,
    Priority,
    Attempts,
    MaxAttempts,
    LockedBy,
    LeaseExpiresAtMs,
    RunAfterMs,
    LastError,
    SubmissionId,
    CreatedAtMs,
    UpdatedAtMs,
}
