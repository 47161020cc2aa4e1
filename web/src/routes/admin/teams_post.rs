//! `POST /api/v1/teams` (admin): create a team; the answer carries its token, once.

use crate::admin::{TeamSpec, create_team};
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::domain::Role;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    name: String,
    role: String,
    #[serde(default)]
    baseline: bool,
}

pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request("invalid_role", "role must be creator, detector or both")
    })?;
    let spec = TeamSpec {
        name: body.name.clone(),
        role,
        admin: false,
        baseline: body.baseline,
    };
    let (team, token) = create_team(&ctx, &spec).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": team.id, "name": team.name, "role": team.role, "token": token
    })))
}
