//! sea-orm entities, one file per table, plus a prelude.

pub mod competitions;
pub mod crops;
pub mod decode_claims;
pub mod detectors;
pub mod events;
pub mod human_ratings;
pub mod job_logs;
pub mod jobs;
pub mod phases;
pub mod raters;
pub mod scores;
pub mod submissions;
pub mod tasks;
pub mod team_webhooks;
pub mod teams;
pub mod video_ratings;
pub mod videos;
pub mod webhook_deliveries;
pub mod worker_slots;

pub mod prelude {
    pub use super::competitions::Entity as Competitions;
    pub use super::crops::Entity as Crops;
    pub use super::detectors::Entity as Detectors;
    pub use super::events::Entity as Events;
    pub use super::human_ratings::Entity as HumanRatings;
    pub use super::job_logs::Entity as JobLogs;
    pub use super::jobs::Entity as Jobs;
    pub use super::phases::Entity as Phases;
    pub use super::scores::Entity as Scores;
    pub use super::submissions::Entity as Submissions;
    pub use super::tasks::Entity as Tasks;
    pub use super::teams::Entity as Teams;
    pub use super::videos::Entity as Videos;
    pub use super::worker_slots::Entity as WorkerSlots;
}
