//! Named queries over the tables, one module per aggregate. Handlers and workers call these,
//! never raw sea-orm queries.

pub mod competitions;
pub mod decode_claims;
pub mod detectors;
pub mod erasure;
pub mod events;
pub mod human_ratings;
pub mod job_logs;
pub mod jobs;
pub mod phases;
pub mod scores;
pub mod submissions;
pub mod tasks;
pub mod teams;
pub mod video_ratings;
pub mod videos;
pub mod webhooks;
pub mod worker_slots;
