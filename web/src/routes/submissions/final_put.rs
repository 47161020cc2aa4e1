//! `PUT /api/v1/submissions/{id}/final` `{final}`: its team marks or unmarks a creation or
//! detector as a final pick while its phase is open (live mode: while the competition runs),
//! organizers at any time; at most `settings.final_picks` per team and kind (rounds mode: per
//! phase). See `arena::finals`.

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::finals::{self, Caller, FinalsError, Refusal};
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = FinalPick)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Whether the submission is one of its team's final picks.
    #[serde(rename = "final")]
    final_pick: bool,
}

/// Marks or unmarks a submission as a final pick of its team.
#[utoipa::path(put, path = "/api/v1/submissions/{id}/final", tag = "submissions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "submission id")),
    request_body(content = Body, content_type = "application/json"),
    responses((status = 200, description = "`{submission, competition_id, final, note}`", body = arena::finals::Marks),
        (status = 400, description = "`bad_request`: the body is not `{final: bool}`", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`submission_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`finals_off` (no `settings.final_picks`), `final_picks_exceeded` (the team holds `final_picks` picks of this kind and phase already), `phase_closed`, `not_pickable` (not a creation or detector, or failed, rejected or disqualified), `already_withdrawn`", body = crate::openapi::ErrorDoc)))]
pub async fn put(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    id: web::Path<i64>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let who = Caller {
        team_id: caller.id(),
        is_admin: caller.is_admin(),
    };
    let done = finals::set_final(ctx.db(), *id, body.final_pick, who)
        .await
        .map_err(finals_error)?;
    crate::admin::announce(&ctx, done.competition_id);
    Ok(HttpResponse::Ok().json(done))
}

/// The API error of a refused or failed final pick or note.
pub(crate) fn finals_error(e: FinalsError) -> ApiError {
    match e {
        FinalsError::NotFound(_) => ApiError::of(Code::SubmissionNotFound, "no such submission"),
        FinalsError::Refused {
            code,
            message,
            refusal,
        } => match refusal {
            Refusal::Invalid => ApiError::bad_request(code, message),
            Refusal::Forbidden => ApiError::forbidden(code, message),
            Refusal::Conflict => ApiError::conflict(code, message),
        },
        e => ApiError::internal(e),
    }
}
