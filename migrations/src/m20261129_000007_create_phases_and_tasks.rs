//! Rounds: phases (C1, D1, C2, D2 …) with open/close times, creation tasks (target clip + donor
//! identity), and the links from submissions to phases and from videos to tasks.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261129_000002_create_competitions::Competitions;
use crate::m20261129_000003_create_submissions::{Submissions, Videos};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Phases::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Phases::Id))
                    .col(big_integer(Phases::CompetitionId))
                    .col(string_len(Phases::Kind, 16))
                    .col(integer(Phases::Round))
                    .col(big_integer(Phases::OpensAtMs))
                    .col(big_integer(Phases::ClosesAtMs))
                    .col(boolean(Phases::CloseProcessed).default(false))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Phases::Table, Phases::CompetitionId)
                            .to(Competitions::Table, Competitions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_phases_kind_round")
                    .table(Phases::Table)
                    .col(Phases::CompetitionId)
                    .col(Phases::Kind)
                    .col(Phases::Round)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Tasks::Id))
                    .col(big_integer(Tasks::CompetitionId))
                    .col(integer(Tasks::Round))
                    .col(string_len(Tasks::TaskId, 64))
                    .col(big_integer(Tasks::TargetVideoId))
                    .col(string_len(Tasks::DonorIdentity, 64))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tasks::Table, Tasks::CompetitionId)
                            .to(Competitions::Table, Competitions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_tasks_competition_task")
                    .table(Tasks::Table)
                    .col(Tasks::CompetitionId)
                    .col(Tasks::TaskId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Submissions::Table)
                    .add_column(big_integer_null(SubmissionsExtra::PhaseId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Videos::Table)
                    .add_column(string_len_null(VideosExtra::TaskId, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Videos::Table)
                    .drop_column(VideosExtra::TaskId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Submissions::Table)
                    .drop_column(SubmissionsExtra::PhaseId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Phases::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Phases {
    Table,
    Id,
    CompetitionId,
    Kind,
    Round,
    OpensAtMs,
    ClosesAtMs,
    CloseProcessed,
}

#[derive(DeriveIden)]
pub enum Tasks {
    Table,
    Id,
    CompetitionId,
    Round,
    TaskId,
    TargetVideoId,
    DonorIdentity,
}

#[derive(DeriveIden)]
enum SubmissionsExtra {
    PhaseId,
}

#[derive(DeriveIden)]
enum VideosExtra {
    TaskId,
}
