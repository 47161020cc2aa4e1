//! `GET /submissions/{id}` (its team or an admin, logged in): status, progress per pair (counts
//! only: per-video scores and real/fake labels stay hidden), failure reason and the jobs.

use super::{Nav, PageError, login_redirect, render};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use arena::domain::SubmissionKind;
use arena::evaluation;
use arena::repo;
use askama::Template;

/// Worker log lines shown (the latest).
pub const LOG_LINES: u64 = 50;

/// One worker log line.
pub struct LogView {
    pub at: String,
    pub job: i64,
    pub level: String,
    pub message: String,
}

/// Progress of one side of the submission's pairs.
pub use arena::evaluation::PairProgress as PairView;

pub struct FailureView {
    pub code: String,
    pub message: String,
}

pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: String,
    /// The worker's last error: organizers only (it may name server paths).
    pub last_error: Option<String>,
}

#[derive(Template)]
#[template(path = "submission.html")]
struct SubmissionPage {
    nav: Nav,
    id: i64,
    kind: String,
    team: String,
    competition: String,
    status: String,
    done: u64,
    total: u64,
    created: String,
    error: Option<FailureView>,
    pairs: Vec<PairView>,
    jobs: Vec<JobView>,
    logs: Vec<LogView>,
    /// No more changes to wait for: the page stops refreshing.
    settled: bool,
    /// One of its team's final picks.
    final_pick: bool,
    /// The competition has final picks (`settings.final_picks`).
    finals_on: bool,
    /// Its team's note.
    note: Option<String>,
    /// The final pick and note forms are shown (not after a withdrawal).
    editable: bool,
}

async fn jobs_of(
    db: &sea_orm::DatabaseConnection,
    submission_id: i64,
    admin: bool,
) -> Result<Vec<JobView>, ApiError> {
    Ok(repo::jobs::list_for_submission(db, submission_id)
        .await?
        .into_iter()
        .map(|j| JobView {
            id: j.id,
            kind: j.kind,
            state: j.state,
            attempts: format!("{}/{}", j.attempts, j.max_attempts),
            last_error: if admin { j.last_error } else { None },
        })
        .collect())
}

/// The latest worker log lines of the submission's jobs (its team and organizers only: the
/// caller has been checked).
pub async fn logs_of(
    db: &sea_orm::DatabaseConnection,
    submission_id: i64,
) -> Result<Vec<LogView>, ApiError> {
    Ok(
        repo::job_logs::latest_for_submission(db, submission_id, LOG_LINES)
            .await?
            .into_iter()
            .map(|l| LogView {
                at: crate::views::time_s(l.created_at_ms),
                job: l.job_id,
                level: l.level,
                message: l.message,
            })
            .collect(),
    )
}

pub async fn get(
    ctx: web::Data<AppContext>,
    browser: Browser,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let Some(caller) = browser.team.as_ref() else {
        return Ok(login_redirect(&format!("/submissions/{id}")));
    };
    let not_found = || ApiError::of(Code::SubmissionNotFound, "no such submission");
    let sub = repo::submissions::find(ctx.db(), *id)
        .await?
        .ok_or_else(not_found)?;
    if sub.team_id != caller.id() && !caller.is_admin() {
        return Err(ApiError::of(Code::NotYours, "this submission belongs to another team").into());
    }
    let evaluation::Refreshed {
        status,
        progress,
        submission: sub,
    } = evaluation::refresh_status(ctx.db(), &sub).await?;
    let team = repo::teams::find(ctx.db(), sub.team_id)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    let comp = repo::competitions::find(ctx.db(), sub.competition_id).await?;
    let finals_on = match &comp {
        Some(c) => arena::boards::settings(c)?.final_picks.is_some(),
        None => false,
    };
    let competition = comp.map(|c| c.slug).unwrap_or_default();
    let kind = repo::submissions::kind(&sub)?;
    let page = SubmissionPage {
        nav: Nav::of(&browser),
        id: sub.id,
        kind: sub.kind.clone(),
        team,
        competition,
        status: status.as_str().to_owned(),
        done: progress.done,
        total: progress.total,
        created: crate::views::time(sub.created_at_ms),
        error: sub.error_code.clone().map(|code| FailureView {
            code,
            message: sub.error_message.clone().unwrap_or_default(),
        }),
        pairs: evaluation::pair_progress(ctx.db(), &sub).await?,
        jobs: jobs_of(ctx.db(), sub.id, caller.is_admin()).await?,
        logs: logs_of(ctx.db(), sub.id).await?,
        settled: status.is_final() || status.as_str() == "finished",
        final_pick: sub.final_pick,
        finals_on: finals_on && matches!(kind, SubmissionKind::Creation | SubmissionKind::Detector),
        note: sub.note.clone(),
        editable: status.as_str() != "withdrawn",
    };
    render(&page, &browser)
}
