//! Rounds-mode phases (admin).

pub mod advance;
pub mod post;
