//! `DELETE /api/v1/teams/{name}/token`: the team's token stops working (rotate to get a new one).

use super::own_team;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// A revoked token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenRevoked {
    pub team: String,
    /// Always true.
    pub revoked: bool,
}

/// Revokes a team's token (the team itself or an organizer); an organizer can issue a new one
/// with a rotation.
#[utoipa::path(delete, path = "/api/v1/teams/{name}/token", tag = "teams",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "team name")),
    responses((status = 200, description = "the token no longer works", body = TokenRevoked),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`team_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`team_not_approved`", body = crate::openapi::ErrorDoc)))]
pub async fn delete(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let team = own_team(&ctx, &caller, &name).await?;
    let team = crate::admin::revoke_token(&ctx, team.id).await?;
    Ok(HttpResponse::Ok().json(TokenRevoked {
        team: team.name,
        revoked: true,
    }))
}
