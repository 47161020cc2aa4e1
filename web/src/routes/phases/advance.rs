//! `POST /api/v1/competitions/{slug}/phases/advance` (admin): close the open phase now and open
//! the next one now — the organizer's "end this phase" button. The close is processed at once
//! (what it brings into scope is enqueued).

use crate::admin::{advance_phase, competition};
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

/// Closes the open phase now and opens the next one (organizers).
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/phases/advance", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "the phase closed now and the one opened now, by name (`C1`, …; null for none)", body = arena::phases::PhaseAdvance),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let done = advance_phase(&ctx, &comp).await?;
    Ok(HttpResponse::Ok().json(done))
}
