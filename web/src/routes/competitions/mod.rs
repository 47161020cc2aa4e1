//! Competitions, their boards and matrix.

pub mod detector;
pub mod events;
pub mod get;
pub mod leaderboard;
pub mod list;
pub mod matrix;
pub mod post;
pub mod scores_csv;
