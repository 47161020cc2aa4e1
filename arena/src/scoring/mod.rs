//! Scoring: pure functions from per-video scores to AUCs and leaderboards (DESIGN.md §6).

pub mod auc;
pub mod leaderboard;

pub use auc::auc;
pub use leaderboard::{BoardInput, CreationEntry, DetectorEntry, Leaderboard, compute};
