//! `GET /api/v1/submissions/{id}`: status and progress, for its team or an admin.

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::domain::{SubmissionKind, SubmissionStatus};
use arena::evaluation::{self, Progress};
use arena::repo;
use serde::Serialize;

/// Why a submission failed or was disqualified.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubmissionError {
    /// The job's or the organizers' code (e.g. `model_run_failed`, `disqualified`).
    pub code: String,
    pub message: String,
}

/// A worker log line about the submission.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogLine {
    pub at_ms: i64,
    pub job: i64,
    /// `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
}

/// A submission's status and progress.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubmissionState {
    pub id: i64,
    #[schema(value_type = SubmissionKind)]
    pub kind: String,
    pub team: String,
    pub status: SubmissionStatus,
    pub error: Option<SubmissionError>,
    /// Pairs scored and to score.
    pub progress: Progress,
    /// The latest 50 worker log lines.
    pub logs: Vec<LogLine>,
    /// A final pick of its team.
    #[serde(rename = "final")]
    pub final_pick: bool,
    /// Its team's note, or null.
    pub note: Option<String>,
}

/// A submission's status and progress (its team or an organizer).
#[utoipa::path(get, path = "/api/v1/submissions/{id}", tag = "submissions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "submission id")),
    responses((status = 200, description = "its status, progress and latest log lines", body = SubmissionState),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`submission_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::of(Code::SubmissionNotFound, "no such submission");
    let sub = repo::submissions::find(ctx.db(), *id)
        .await?
        .ok_or_else(not_found)?;
    if sub.team_id != caller.id() && !caller.is_admin() {
        return Err(ApiError::of(
            Code::NotYours,
            "this submission belongs to another team",
        ));
    }
    // Live mode: a finished creation runs again when a new detector arrives.
    let evaluation::Refreshed {
        status,
        progress,
        submission: sub,
    } = evaluation::refresh_status(ctx.db(), &sub).await?;
    let team = if sub.team_id == caller.id() {
        caller.team.name.clone()
    } else {
        repo::teams::find(ctx.db(), sub.team_id)
            .await?
            .map(|t| t.name)
            .unwrap_or_default()
    };
    let error = sub.error_code.as_ref().map(|code| SubmissionError {
        code: code.clone(),
        message: sub.error_message.clone().unwrap_or_default(),
    });
    let logs: Vec<LogLine> = repo::job_logs::latest_for_submission(
        ctx.db(),
        sub.id,
        crate::routes::pages::submission::LOG_LINES,
    )
    .await?
    .into_iter()
    .map(|l| LogLine {
        at_ms: l.created_at_ms,
        job: l.job_id,
        level: l.level,
        message: l.message,
    })
    .collect();
    Ok(HttpResponse::Ok().json(SubmissionState {
        id: sub.id,
        kind: sub.kind,
        team,
        status,
        error,
        progress,
        logs,
        final_pick: sub.final_pick,
        note: sub.note,
    }))
}
