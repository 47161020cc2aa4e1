//! The arena's core: domain types, competition rules, scoring, the job queue, repositories
//! over sea-orm and object storage. No web framework, no FFmpeg, no onnxruntime here.

pub mod admission;
pub mod boards;
pub mod config;
pub mod db;
pub mod deletion;
pub mod domain;
pub mod entities;
pub mod error;
pub mod evaluation;
pub mod finals;
pub mod human_rating;
pub mod human_ratings;
pub mod incarnation;
pub mod intake;
pub mod json;
pub mod moderation;
pub mod offline;
pub mod phases;
pub mod queue;
pub mod ratings;
pub mod release;
pub mod repo;
pub mod rules;
pub mod scoring;
pub mod scratch;
pub mod split;
pub mod storage;
pub mod time;
pub mod wakeup;
pub mod withdrawal;

pub use config::Settings;
pub use error::RepoError;
