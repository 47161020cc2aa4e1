//! Submission status.

pub mod delete;
pub mod final_put;
pub mod get;
pub mod note_put;
