//! Phase windows of a rounds competition: adding a phase (C1, D1, …) and advancing to the next
//! one, each in one transaction with its event. Web maps [`PhaseError`] to 400 `invalid_phase`.

use crate::db;
use crate::entities::phases;
use crate::error::RepoError;
use crate::evaluation::{self, EnqueuePolicy, EvaluationError};
use crate::repo;
use crate::rules::PhaseKind;
use sea_orm::{DatabaseConnection, DbErr};

/// Why a phase or an advance was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PhaseError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
}

impl From<DbErr> for PhaseError {
    fn from(e: DbErr) -> Self {
        PhaseError::Repo(e.into())
    }
}

/// A phase's short name: `C1`, `D2`, ….
pub fn phase_name(p: &phases::Model) -> String {
    let letter = if p.kind == PhaseKind::Creation.as_str() {
        'C'
    } else {
        'D'
    };
    format!("{letter}{}", p.round)
}

/// A new phase of a rounds competition.
#[derive(Debug, Clone)]
pub struct PhaseSpec {
    pub kind: String,
    pub round: i32,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
}

/// Adds a phase with its window and a `phase_added` event; a phase that exists already is a
/// [`RepoError::Conflict`].
pub async fn add(
    db: &DatabaseConnection,
    competition_id: i64,
    spec: &PhaseSpec,
) -> Result<phases::Model, PhaseError> {
    let kind = PhaseKind::parse(&spec.kind)
        .ok_or(PhaseError::Invalid("kind must be creation or detection"))?;
    if spec.round < 1 || spec.closes_at_ms <= spec.opens_at_ms {
        return Err(PhaseError::Invalid(
            "round ≥ 1 and closes_at_ms > opens_at_ms",
        ));
    }
    let txn = db::begin_write(db).await?;
    let p = repo::phases::create(
        &txn,
        competition_id,
        kind,
        spec.round,
        (spec.opens_at_ms, spec.closes_at_ms),
    )
    .await?;
    let payload = serde_json::json!({ "phase": p.id, "name": phase_name(&p) });
    repo::events::append(&txn, competition_id, "phase_added", &payload).await?;
    txn.commit().await?;
    Ok(p)
}

/// What [`advance`] did: the phase closed now and the one opened now, by name (`C1`, …).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PhaseAdvance {
    pub closed: Option<String>,
    pub opened: Option<String>,
}

/// Closes the open phase at `now` and opens the next one at `now`; what the close brings into
/// scope is enqueued in the same transaction, with a `phase_advanced` event.
pub async fn advance(
    db: &DatabaseConnection,
    competition_id: i64,
    now: i64,
    policy: EnqueuePolicy,
) -> Result<PhaseAdvance, PhaseError> {
    let txn = db::begin_write(db).await?;
    let phases = repo::phases::list(&txn, competition_id).await?;
    let open = phases
        .iter()
        .position(|p| p.opens_at_ms <= now && now < p.closes_at_ms);
    let next_index = match open {
        Some(i) => {
            repo::phases::set_window(&txn, phases[i].id, phases[i].opens_at_ms, now).await?;
            i + 1
        }
        None => phases
            .iter()
            .position(|p| p.opens_at_ms > now)
            .unwrap_or(phases.len()),
    };
    evaluation::process_due_phase_closes(&txn, policy).await?;
    let opened = match phases.get(next_index) {
        Some(next) => {
            let closes = next.closes_at_ms.max(now + 1);
            repo::phases::set_window(&txn, next.id, now, closes).await?;
            Some(phase_name(next))
        }
        None => None,
    };
    let advanced = PhaseAdvance {
        closed: open.map(|i| phase_name(&phases[i])),
        opened,
    };
    let payload = serde_json::json!({ "closed": advanced.closed, "opened": advanced.opened });
    repo::events::append(&txn, competition_id, "phase_advanced", &payload).await?;
    txn.commit().await?;
    Ok(advanced)
}
