//! `POST /api/v1/competitions/{slug}/ratings` (admin, body `text/csv`): import human ratings
//! `creation,axis,value` (creation = a creation submission id; axis realism | quality |
//! expression | mouth | identity on a 1–5 scale, or `id`, the DFGC-2021 ID term in [0, 1]).
//! The import replaces the competition's ratings; a bad line refuses the whole file.

use crate::admin::{competition, import_ratings};
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// A ratings import.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RatingsImported {
    /// Rows imported (they replace the previous import).
    pub imported: usize,
}

/// Imports human ratings (organizers): CSV `creation,axis,value`, replacing the previous import.
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/ratings", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "imported", body = RatingsImported),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 422, description = "`invalid_ratings`", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::of(Code::InvalidRatings, "the CSV is not UTF-8"))?;
    let imported = import_ratings(&ctx, &comp, text).await?;
    Ok(HttpResponse::Ok().json(RatingsImported { imported }))
}
