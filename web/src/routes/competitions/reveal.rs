//! `POST /api/v1/competitions/{slug}/reveal` (organizers): reveal the private part
//! (`arena::split`). From then on the boards, pages and exports show the private numbers.
//! Idempotent: a second call changes nothing and answers the first reveal's time.

use crate::admin::{announce, competition};
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::split::{RevealError, Revealed};

/// Reveals the private part of a competition's videos (organizers).
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/reveal", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "revealed (now, or already before: `changed` false)", body = Revealed),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`no_private_part`: `settings.private_fraction` is 0", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let done = arena::split::reveal(ctx.db(), comp.id)
        .await
        .map_err(|e| match e {
            RevealError::NoPrivatePart(_) => ApiError::of(Code::NoPrivatePart, e.to_string()),
            RevealError::Repo(e) => e.into(),
        })?;
    if done.changed {
        announce(&ctx, comp.id);
    }
    Ok(HttpResponse::Ok().json(done))
}
