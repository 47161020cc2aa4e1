//! Organizer-only endpoints.

pub mod reals_post;
pub mod teams_post;
