//! `POST /api/admin/submissions/{id}/disqualify` (admin, optional JSON `{reason}`): take a
//! creation or detector out of the game — off the boards and the ratings, its pairs no longer
//! count, and its page says `disqualified` with the reason.

use crate::admin::disqualify_submission;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::domain::SubmissionStatus;
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DisqualifyRequest)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Shown to the team on its submission page (at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// Disqualifies a creation or detector (organizers).
#[utoipa::path(post, path = "/api/admin/submissions/{id}/disqualify", tag = "organizers",
    security(("bearer" = [])), params(("id" = i64, Path, description = "submission id")),
    request_body(content = Body, content_type = "application/json", description = "optional"),
    responses((status = 200, description = "disqualified", body = super::DisqualifyDone),
        (status = 400, description = "`bad_request`: the body is not `{reason}`; `invalid_reason`: too long", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`submission_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`already_disqualified`; `not_disqualifiable`: not a creation or detector in the game", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    // The body is optional: none (or empty) means no reason given.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Body>(&body)
            .map_err(|e| ApiError::of(Code::BadRequest, format!("expected {{\"reason\"}}: {e}")))?
            .reason
    };
    let done = disqualify_submission(&ctx, *id, reason.as_deref().unwrap_or_default()).await?;
    Ok(HttpResponse::Ok().json(super::DisqualifyDone {
        submission: done.submission,
        status: SubmissionStatus::Disqualified,
        cancelled_jobs: done.cancelled_jobs,
    }))
}
