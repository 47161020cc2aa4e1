//! `POST /api/admin/submissions/{id}/rerun` (admin): run a failed submission again — its dead
//! jobs go back in the queue with their attempts reset, and it is `running` until done.

use crate::admin::rerun_submission;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::domain::SubmissionStatus;

/// Reruns a failed submission (organizers).
#[utoipa::path(post, path = "/api/admin/submissions/{id}/rerun", tag = "organizers",
    security(("bearer" = [])), params(("id" = i64, Path, description = "submission id")),
    responses((status = 200, description = "running again: its jobs are queued", body = super::RunAgain),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`submission_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`not_failed`: only a failed submission is rerun; `nothing_to_rerun`: it has no failed job", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let done = rerun_submission(&ctx, *id).await?;
    Ok(HttpResponse::Ok().json(super::RunAgain {
        submission: done.submission,
        status: SubmissionStatus::Running,
        jobs: done.jobs,
    }))
}
