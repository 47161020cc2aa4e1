//! `POST /api/v1/competitions/{slug}/raters` (admin): creates a rater account enrolled in the
//! competition; the answer carries its token, once. Raters log in at `/login` with it and rate
//! at `/rate/{slug}`.

use crate::admin::{competition, create_rater};
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RaterCreate {
    /// The rater's account name: 1–64 letters, digits, '-', '_' or '.' (unique among teams).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RaterCreated {
    pub id: i64,
    pub name: String,
    /// Always `rater`.
    pub role: String,
    pub competition: String,
    /// The rater's token, shown this once (only its hash is stored).
    pub token: String,
}

/// Creates a rater account for a competition (organizers); the answer carries its token, once.
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/raters", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    request_body = RaterCreate,
    responses((status = 201, description = "the rater and its token", body = RaterCreated),
        (status = 400, description = "`invalid_name`", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`conflict`: the name is taken", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    body: web::Json<RaterCreate>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let (team, token) = create_rater(&ctx, &comp, &body.name).await?;
    Ok(HttpResponse::Created().json(RaterCreated {
        id: team.id,
        name: team.name,
        role: team.role,
        competition: comp.slug,
        token,
    }))
}
