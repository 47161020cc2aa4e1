//! Submission status.

pub mod get;
