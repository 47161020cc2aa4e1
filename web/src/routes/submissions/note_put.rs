//! `PUT /api/v1/submissions/{id}/note` `{note}`: its team (or an organizer) keeps a short free
//! text on a submission, shown on its page; an empty or null note clears it.

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::routes::submissions::final_put::finals_error;
use actix_web::{HttpResponse, web};
use arena::finals::{self, Caller};
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SubmissionNote)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// At most 280 characters; empty or null clears the note.
    #[schema(max_length = 280)]
    note: Option<String>,
}

/// Sets or clears a submission's note.
#[utoipa::path(put, path = "/api/v1/submissions/{id}/note", tag = "submissions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "submission id")),
    request_body(content = Body, content_type = "application/json"),
    responses((status = 200, description = "`{submission, competition_id, final, note}`", body = arena::finals::Marks),
        (status = 400, description = "`bad_request`: the body is not `{note}`; `invalid_note`: over 280 characters", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`submission_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`already_withdrawn`", body = crate::openapi::ErrorDoc)))]
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
    let note = body.into_inner().note.unwrap_or_default();
    let done = finals::set_note(ctx.db(), *id, &note, who)
        .await
        .map_err(finals_error)?;
    Ok(HttpResponse::Ok().json(done))
}
