//! Team webhooks: one URL and signing secret per team, and the deliveries owed to them (kept in
//! the database so that retries survive a restart and any `serve` replica can send them).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TeamWebhooks::Table)
                    .if_not_exists()
                    .col(big_integer(TeamWebhooks::TeamId).primary_key())
                    .col(string_len(TeamWebhooks::Url, 2048))
                    .col(string_len(TeamWebhooks::Secret, 256))
                    .col(big_integer(TeamWebhooks::UpdatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(big_integer(WebhookDeliveries::TeamId))
                    .col(big_integer(WebhookDeliveries::SubmissionId))
                    .col(string_len(WebhookDeliveries::Event, 64))
                    .col(text(WebhookDeliveries::Payload))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(big_integer_null(WebhookDeliveries::NextAtMs))
                    .col(integer_null(WebhookDeliveries::LastStatus))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(big_integer_null(WebhookDeliveries::DeliveredAtMs))
                    .col(big_integer_null(WebhookDeliveries::GaveUpAtMs))
                    .col(big_integer(WebhookDeliveries::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_next")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::NextAtMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TeamWebhooks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum TeamWebhooks {
    Table,
    TeamId,
    Url,
    Secret,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
pub enum WebhookDeliveries {
    Table,
    Id,
    TeamId,
    SubmissionId,
    Event,
    Payload,
    Attempts,
    NextAtMs,
    LastStatus,
    LastError,
    DeliveredAtMs,
    GaveUpAtMs,
    CreatedAtMs,
}
