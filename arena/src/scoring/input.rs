//! What the boards are computed from: the detectors and creations in scope and their per-video
//! scores. Shared by `detection` (pair AUCs) and `leaderboard` (the boards), which depend on it
//! and not on each other's types.

use std::collections::HashMap;

/// A detector submission in scope.
#[derive(Debug, Clone)]
pub struct DetectorEntry {
    pub detector_id: i64,
    pub submission_id: i64,
    pub team: String,
    pub baseline: bool,
}

/// A creation submission in scope: its fake videos.
#[derive(Debug, Clone)]
pub struct CreationEntry {
    pub submission_id: i64,
    pub team: String,
    pub baseline: bool,
    pub video_ids: Vec<i64>,
}

/// Everything the boards are computed from.
#[derive(Debug, Clone, Default)]
pub struct BoardInput {
    pub detectors: Vec<DetectorEntry>,
    pub creations: Vec<CreationEntry>,
    pub real_video_ids: Vec<i64>,
    /// s_d(v) keyed by (detector id, video id).
    pub scores: HashMap<(i64, i64), f64>,
}
