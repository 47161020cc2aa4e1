//! Which (detector, video) pairs get evaluated and when, submission progress, and the boards'
//! input. Live mode: every valid pair as soon as both sides are ready. Rounds mode: the scope
//! of `rules::in_scope` (Ck against D(k−1)'s finals and every Dk detector), extended when a
//! detection phase closes.
//!
//! Each side first records that it is ready (committed), then looks for the other side, so of a
//! detector and a video becoming ready at the same time at least one sees the other; a pair
//! enqueued twice is harmless (scores are UNIQUE per pair and a score job skips scored pairs).

mod enqueue;
mod progress;
mod scope;

pub use enqueue::{
    EnqueuePolicy, EvaluationError, on_activation_dead, on_detector_accepted, on_phase_closed,
    on_score_job_dead, on_video_failed, on_video_prepared, process_due_phase_closes,
};
pub use progress::{
    PairProgress, Progress, Refreshed, pair_progress, progress, refresh_many, refresh_status,
};
pub use scope::{
    CompetitionView, LiveDetector, LiveVideo, board_extras, board_input, current_round,
    round_boards, view,
};
