//! `DELETE /api/v1/submissions/{id}`: its team withdraws it while its phase is open, an organizer
//! erases it at any time; every byte derived from its files is deleted unless another submission
//! holds the same content (see `arena::withdrawal`).

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::withdrawal::{self, Caller, WithdrawError};

/// Withdraws (its team, while its phase is open) or erases (organizers) a submission.
#[utoipa::path(delete, path = "/api/v1/submissions/{id}", tag = "submissions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "submission id")),
    responses((status = 200, description = "`{submission, competition_id, status: \"withdrawn\", scores_deleted, jobs_deleted, objects_deleted: [key], contents_kept}`", body = arena::withdrawal::Withdrawal),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`, `admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`submission_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`already_withdrawn`, `phase_closed`, `disqualified`, `submission_busy` (a job of it is running; try again)", body = crate::openapi::ErrorDoc)))]
pub async fn delete(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let who = Caller {
        team_id: caller.id(),
        is_admin: caller.is_admin(),
    };
    match withdrawal::withdraw(ctx.db(), ctx.storage(), *id, who).await {
        Ok(done) => {
            crate::admin::announce(&ctx, done.competition_id);
            Ok(HttpResponse::Ok().json(done))
        }
        Err(WithdrawError::NotFound(_)) => {
            Err(ApiError::of(Code::SubmissionNotFound, "no such submission"))
        }
        Err(e) => Err(withdraw_error(e)),
    }
}

/// The API error of a refused or failed erasure (shared by the team and competition deletions).
pub(crate) fn withdraw_error(e: WithdrawError) -> ApiError {
    match e {
        WithdrawError::NotFound(_) => ApiError::of(Code::SubmissionNotFound, "no such submission"),
        WithdrawError::Refused {
            code,
            message,
            conflict,
        } => {
            if conflict {
                ApiError::conflict(code, message)
            } else {
                ApiError::forbidden(code, message)
            }
        }
        e => ApiError::internal(e),
    }
}
