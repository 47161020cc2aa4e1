//! Final picks and notes. With `settings.final_picks = n` a team marks up to `n` of its
//! submissions of each kind (rounds mode: of each kind and phase) as final; the board then ranks
//! the team by its best final pick instead of the best/last policy, and teams that picked none
//! keep the policy. Picking is open to the team while the submission's phase is open (live mode:
//! always), to organizers at any time; the limit holds for both. A note is a short free text the
//! team keeps on a submission (its page shows it); it does not touch scoring.
//!
//! With a public / private split ([`crate::split`]) the revealed ranking takes the same picks:
//! [`crate::boards`] narrows each team's entries to its final picks before anything is scored, so
//! the private scores of the picks are what rank it (a team without picks keeps the entry its
//! public board row showed).

use crate::domain::{SubmissionKind, SubmissionStatus};
use crate::entities::submissions;
use crate::error::RepoError;
use crate::repo;
use crate::time::now_ms;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, QuerySelect};
use serde::Serialize;

/// The longest note, in characters.
pub const NOTE_MAX_CHARS: usize = 280;

/// How a refusal answers over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request itself is bad (400).
    Invalid,
    /// Not this caller's to change (403).
    Forbidden,
    /// The submission's or the competition's state does not allow it (409).
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum FinalsError {
    #[error("no submission {0}")]
    NotFound(i64),
    /// Refused, with a stable `code` for the API.
    #[error("{message}")]
    Refused {
        code: &'static str,
        message: String,
        refusal: Refusal,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<DbErr> for FinalsError {
    fn from(e: DbErr) -> Self {
        FinalsError::Repo(RepoError::Db(e))
    }
}

fn refused(code: &'static str, message: String, refusal: Refusal) -> FinalsError {
    FinalsError::Refused {
        code,
        message,
        refusal,
    }
}

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub team_id: i64,
    pub is_admin: bool,
}

/// A submission's final flag and note after a change.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Marks {
    pub submission: i64,
    pub competition_id: i64,
    #[serde(rename = "final")]
    pub final_pick: bool,
    pub note: Option<String>,
}

impl Marks {
    fn of(sub: &submissions::Model) -> Marks {
        Marks {
            submission: sub.id,
            competition_id: sub.competition_id,
            final_pick: sub.final_pick,
            note: sub.note.clone(),
        }
    }
}

/// Marks (`pick`) or unmarks submission `id` as a final pick of its team (see the module docs).
#[tracing::instrument(skip(db), err)]
pub async fn set_final(
    db: &DatabaseConnection,
    id: i64,
    pick: bool,
    caller: Caller,
) -> Result<Marks, FinalsError> {
    let txn = crate::db::begin_write(db).await?;
    let sub = repo::submissions::find(&txn, id)
        .await?
        .ok_or(FinalsError::NotFound(id))?;
    check_owner(&sub, caller)?;
    let comp = repo::competitions::find(&txn, sub.competition_id)
        .await?
        .ok_or_else(|| RepoError::Corrupt(format!("competition {}", sub.competition_id)))?;
    let Some(limit) = crate::rules::settings(&comp)?.final_picks else {
        return Err(refused(
            "finals_off",
            format!("{} has no final picks (settings.final_picks)", comp.slug),
            Refusal::Conflict,
        ));
    };
    let kind = repo::submissions::kind(&sub)?;
    if !matches!(kind, SubmissionKind::Creation | SubmissionKind::Detector) {
        return Err(refused(
            "not_pickable",
            format!("a {kind} upload cannot be a final pick"),
            Refusal::Conflict,
        ));
    }
    let status = repo::submissions::status(&sub)?;
    if status == SubmissionStatus::Withdrawn {
        return Err(refused(
            "already_withdrawn",
            format!("#{id} was withdrawn"),
            Refusal::Conflict,
        ));
    }
    if pick
        && matches!(
            status,
            SubmissionStatus::Failed | SubmissionStatus::Disqualified
        )
    {
        return Err(refused(
            "not_pickable",
            format!("#{id} is {status}; only a live submission can be a final pick"),
            Refusal::Conflict,
        ));
    }
    if !caller.is_admin && phase_closed(&txn, &sub).await? {
        return Err(refused(
            "phase_closed",
            format!("#{id}'s phase has closed; its final picks are settled"),
            Refusal::Conflict,
        ));
    }
    if pick == sub.final_pick {
        return Ok(Marks::of(&sub));
    }
    if pick {
        // One picker of a team at a time (PostgreSQL; SQLite's write lock already serializes).
        crate::entities::teams::Entity::find_by_id(sub.team_id)
            .lock_exclusive()
            .one(&txn)
            .await?;
        let held = repo::submissions::count_final_picks(
            &txn,
            sub.competition_id,
            sub.team_id,
            kind,
            sub.phase_id,
        )
        .await?;
        if held >= u64::from(limit) {
            return Err(refused(
                "final_picks_exceeded",
                format!(
                    "the team already has {held} final {kind} pick(s), the most allowed ({limit}); \
                     unpick one first"
                ),
                Refusal::Conflict,
            ));
        }
    }
    repo::submissions::set_final_pick(&txn, id, pick).await?;
    repo::events::append(
        &txn,
        sub.competition_id,
        "final_pick",
        &serde_json::json!({ "submission": id, "final": pick }),
    )
    .await?;
    txn.commit().await?;
    Ok(Marks {
        final_pick: pick,
        ..Marks::of(&sub)
    })
}

/// Sets (or, with an empty text, clears) the note of submission `id`: its team or an organizer,
/// at any time but after a withdrawal.
#[tracing::instrument(skip(db, note), err)]
pub async fn set_note(
    db: &DatabaseConnection,
    id: i64,
    note: &str,
    caller: Caller,
) -> Result<Marks, FinalsError> {
    let note = note.trim();
    let chars = note.chars().count();
    if chars > NOTE_MAX_CHARS {
        return Err(refused(
            "invalid_note",
            format!("a note has at most {NOTE_MAX_CHARS} characters, this one {chars}"),
            Refusal::Invalid,
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    let sub = repo::submissions::find(&txn, id)
        .await?
        .ok_or(FinalsError::NotFound(id))?;
    check_owner(&sub, caller)?;
    if repo::submissions::status(&sub)? == SubmissionStatus::Withdrawn {
        return Err(refused(
            "already_withdrawn",
            format!("#{id} was withdrawn"),
            Refusal::Conflict,
        ));
    }
    let note = (!note.is_empty()).then(|| note.to_owned());
    repo::submissions::set_note(&txn, id, note.clone()).await?;
    txn.commit().await?;
    Ok(Marks {
        note,
        ..Marks::of(&sub)
    })
}

fn check_owner(sub: &submissions::Model, caller: Caller) -> Result<(), FinalsError> {
    if caller.is_admin || sub.team_id == caller.team_id {
        return Ok(());
    }
    Err(refused(
        "not_yours",
        "this submission belongs to another team".to_owned(),
        Refusal::Forbidden,
    ))
}

async fn phase_closed<C: sea_orm::ConnectionTrait>(
    db: &C,
    sub: &submissions::Model,
) -> Result<bool, FinalsError> {
    let Some(phase_id) = sub.phase_id else {
        return Ok(false);
    };
    Ok(repo::phases::find(db, phase_id)
        .await?
        .is_some_and(|p| now_ms() >= p.closes_at_ms))
}
