//! Submission status.

pub mod delete;
pub mod get;
