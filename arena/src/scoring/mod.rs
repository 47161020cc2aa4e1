//! Scoring: pure functions from per-video scores to AUCs and leaderboards (DESIGN.md §6).

pub mod auc;
pub mod detection;
pub mod fooled;
pub mod input;
pub mod leaderboard;
pub mod presets;
pub mod roc;
pub mod ssim;

pub use auc::auc;
pub use detection::{DEFAULT_FPR, FAILED_SCORE, Pair, ScoredBoard, threshold_at_fpr};
pub use fooled::Fooled;
pub use leaderboard::{
    BoardExtras, BoardInput, CreationEntry, CreationRow, DetectionRow, DetectorEntry, Leaderboard,
    Matrix, ScoringRules, compute, compute_with,
};
pub use presets::{
    CreationParts, Dfgc2021Weights, Dfgc2022Weights, Eligibility, HumanRatings, Preset,
};
pub use roc::{CreationCurve, Curve, DetectorReport, Miss, RocPoint, roc, trapezoid_area};
pub use ssim::{ssim_gray, ssim_rgb};
