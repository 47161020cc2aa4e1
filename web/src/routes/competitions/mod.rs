//! Competitions, their boards and matrix.

pub mod delete;
pub mod detector;
pub mod events;
pub mod get;
pub mod leaderboard;
pub mod list;
pub mod matrix;
pub mod post;
pub mod release;
pub mod reveal;
pub mod scores_csv;
