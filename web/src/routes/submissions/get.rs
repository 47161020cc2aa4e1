//! `GET /api/v1/submissions/{id}`: status and progress, for its team or an admin.

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::{evaluation, repo};

/// A submission's status and progress (its team or an organizer).
#[utoipa::path(get, path = "/api/v1/submissions/{id}", tag = "submissions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "submission id")),
    responses((status = 200, description = "`{id, kind, team, status, error, progress: {done, total}, logs: [{at_ms, job, level, message}], final, note}`: status `queued|validating|running|finished|failed|rejected|disqualified`; `logs` are the latest 50 worker log lines; `final`: a final pick of its team; `note`: its team's note or null", body = serde_json::Value),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`submission_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("submission_not_found", "no such submission");
    let sub = repo::submissions::find(ctx.db(), *id)
        .await?
        .ok_or_else(not_found)?;
    if sub.team_id != caller.id() && !caller.is_admin() {
        return Err(ApiError::forbidden(
            "not_yours",
            "this submission belongs to another team",
        ));
    }
    // Live mode: a finished creation runs again when a new detector arrives.
    let (status, progress) = evaluation::refresh_status(ctx.db(), sub.id).await?;
    let sub = repo::submissions::find(ctx.db(), sub.id)
        .await?
        .ok_or_else(not_found)?;
    let team = repo::teams::find(ctx.db(), sub.team_id)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    let error = sub.error_code.as_ref().map(|code| {
        serde_json::json!({ "code": code, "message": sub.error_message.clone().unwrap_or_default() })
    });
    let logs: Vec<serde_json::Value> = repo::job_logs::latest_for_submission(
        ctx.db(),
        sub.id,
        crate::routes::pages::submission::LOG_LINES,
    )
    .await?
    .into_iter()
    .map(|l| {
        serde_json::json!({
            "at_ms": l.created_at_ms, "job": l.job_id, "level": l.level, "message": l.message
        })
    })
    .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": sub.id,
        "kind": sub.kind,
        "team": team,
        "status": status,
        "error": error,
        "progress": progress,
        "logs": logs,
        "final": sub.final_pick,
        "note": sub.note,
    })))
}
