//! Organizer-only endpoints.

pub mod ratings_post;
pub mod reals_post;
pub mod submission_disqualify_post;
pub mod submission_requalify_post;
pub mod submission_rerun_post;
pub mod teams_post;
