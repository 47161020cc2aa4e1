//! `POST /api/v1/teams/{name}/token`: a new token for the team (shown once); the old one dies.

use super::own_team;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// A team's new token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenRotated {
    pub team: String,
    /// The new token, shown this once (only its hash is stored).
    pub token: String,
}

/// Rotates a team's token (the team itself or an organizer): the new token is in the answer, once.
#[utoipa::path(post, path = "/api/v1/teams/{name}/token", tag = "teams",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "team name")),
    responses((status = 200, description = "`{team, token}`: the new token, shown once; the old one no longer works", body = TokenRotated),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`team_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`team_not_approved`", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let team = own_team(&ctx, &caller, &name).await?;
    let (team, token) = crate::admin::rotate_token(&ctx, team.id).await?;
    Ok(HttpResponse::Ok().json(TokenRotated {
        team: team.name,
        token,
    }))
}
