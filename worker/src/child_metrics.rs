//! Names of the evaluation children's metrics: the sandbox counts its children, the fleet
//! exports them with the job metrics ([`crate::fleet`]).

/// Evaluation children started, by task (`prepare`, `score`).
pub const CHILD_STARTS: &str = "arena_sandbox_child_starts_total";
/// Scoring children started again because the slot's child for that detector had died or
/// spent its CPU budget.
pub const CHILD_RESTARTS: &str = "arena_sandbox_child_restarts_total";
