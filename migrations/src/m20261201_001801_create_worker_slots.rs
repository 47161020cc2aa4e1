//! Worker slots' heartbeats: every slot (in `arena up` or `arena worker`, on any machine) writes
//! its row while it runs, so the admin fleet view and `/metrics` see the whole fleet from the
//! database, whichever `serve` replica answers.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WorkerSlots::Table)
                    .if_not_exists()
                    .col(string_len(WorkerSlots::WorkerId, 200).primary_key())
                    .col(string_len(WorkerSlots::Label, 16))
                    .col(big_integer(WorkerSlots::StartedAtMs))
                    .col(big_integer(WorkerSlots::HeartbeatAtMs))
                    .col(big_integer_null(WorkerSlots::CurrentJobId))
                    .col(big_integer(WorkerSlots::JobsDone).default(0))
                    .col(big_integer_null(WorkerSlots::StoppedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_worker_slots_heartbeat")
                    .table(WorkerSlots::Table)
                    .col(WorkerSlots::HeartbeatAtMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WorkerSlots::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum WorkerSlots {
    Table,
    WorkerId,
    Label,
    StartedAtMs,
    HeartbeatAtMs,
    CurrentJobId,
    JobsDone,
    StoppedAtMs,
}
