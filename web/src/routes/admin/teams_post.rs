//! `POST /api/v1/teams` (admin): create a team; the answer carries its token, once.

use crate::admin::{TeamSpec, create_team};
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::domain::Role;
use serde::{Deserialize, Serialize};

/// The team created and its token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamCreated {
    pub id: i64,
    pub name: String,
    #[schema(value_type = Role)]
    pub role: String,
    /// The team's token, shown this once (only its hash is stored).
    pub token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TeamCreate)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// 1–64 letters, digits, '-', '_' or '.'.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", min_length = 1, max_length = 64)]
    name: String,
    /// `creator`, `detector` or `both`.
    #[schema(pattern = "^(creator|detector|both)$")]
    role: String,
    #[serde(default)]
    baseline: bool,
}

/// Creates a team (organizers); the answer carries its token, once.
#[utoipa::path(post, path = "/api/v1/teams", tag = "organizers", security(("bearer" = [])),
    request_body = Body,
    responses((status = 201, description = "the team and its token", body = TeamCreated),
        (status = 400, description = "`invalid_name`, `invalid_role`", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`conflict`: the name is taken", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let role = Role::parse_team(&body.role)
        .ok_or_else(|| ApiError::of(Code::InvalidRole, "role must be creator, detector or both"))?;
    let spec = TeamSpec {
        name: body.name.clone(),
        role,
        admin: false,
        baseline: body.baseline,
    };
    let (team, token) = create_team(&ctx, &spec).await?;
    Ok(HttpResponse::Created().json(TeamCreated {
        id: team.id,
        name: team.name,
        role: team.role,
        token,
    }))
}
