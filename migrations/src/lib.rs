//! Schema migrations of the arena database, one file per change, each with `down`.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_teams;
mod m20261129_000002_create_competitions;
mod m20261129_000003_create_submissions;
mod m20261129_000004_create_jobs;
mod m20261129_000005_create_scores;
mod m20261129_000006_add_video_faces;
mod m20261129_000007_create_phases_and_tasks;
mod m20261129_000008_add_ssim_and_human_ratings;
mod m20261129_000009_create_decode_claims;
mod m20261129_000010_add_team_status;
mod m20261129_000011_create_job_logs;
mod m20261201_001605_add_submission_finals;
mod m20261201_001801_create_worker_slots;
mod m20261201_001802_add_video_display_size;
mod m20261201_001803_create_webhooks;
mod m20261201_001900_add_competition_reveal;
mod m20261201_001910_create_video_ratings;
mod m20261201_001920_add_identity_similarity;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_teams::Migration),
            Box::new(m20261129_000002_create_competitions::Migration),
            Box::new(m20261129_000003_create_submissions::Migration),
            Box::new(m20261129_000004_create_jobs::Migration),
            Box::new(m20261129_000005_create_scores::Migration),
            Box::new(m20261129_000006_add_video_faces::Migration),
            Box::new(m20261129_000007_create_phases_and_tasks::Migration),
            Box::new(m20261129_000008_add_ssim_and_human_ratings::Migration),
            Box::new(m20261129_000009_create_decode_claims::Migration),
            Box::new(m20261129_000010_add_team_status::Migration),
            Box::new(m20261129_000011_create_job_logs::Migration),
            Box::new(m20261201_001801_create_worker_slots::Migration),
            Box::new(m20261201_001802_add_video_display_size::Migration),
            Box::new(m20261201_001803_create_webhooks::Migration),
            Box::new(m20261201_001605_add_submission_finals::Migration),
            Box::new(m20261201_001900_add_competition_reveal::Migration),
            Box::new(m20261201_001910_create_video_ratings::Migration),
            Box::new(m20261201_001920_add_identity_similarity::Migration),
        ]
    }
}
