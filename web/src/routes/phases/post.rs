//! `POST /api/v1/competitions/{slug}/phases` (admin): add a phase (C1, D1, …) with its window.

use crate::admin::{PhaseSpec, add_phase, competition};
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

/// The phase added.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PhaseCreated {
    pub id: i64,
    #[schema(value_type = arena::rules::PhaseKind)]
    pub kind: String,
    pub round: i32,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PhaseCreate)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// `creation` or `detection`.
    #[schema(pattern = "^(creation|detection)$")]
    kind: String,
    #[serde(deserialize_with = "arena::json::integer")]
    #[schema(minimum = 1, maximum = 2147483647)]
    round: i32,
    /// Unix milliseconds; `closes_at_ms` must be later.
    #[serde(deserialize_with = "arena::json::integer")]
    opens_at_ms: i64,
    #[serde(deserialize_with = "arena::json::integer")]
    closes_at_ms: i64,
}

/// Adds a phase (organizers, rounds mode).
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/phases", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")), request_body = Body,
    responses((status = 201, description = "added", body = PhaseCreated),
        (status = 400, description = "`invalid_phase`", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`conflict`: the phase exists", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let spec = PhaseSpec {
        kind: body.kind.clone(),
        round: body.round,
        opens_at_ms: body.opens_at_ms,
        closes_at_ms: body.closes_at_ms,
    };
    let p = add_phase(&ctx, &comp, &spec).await?;
    Ok(HttpResponse::Created().json(PhaseCreated {
        id: p.id,
        kind: p.kind,
        round: p.round,
        opens_at_ms: p.opens_at_ms,
        closes_at_ms: p.closes_at_ms,
    }))
}
