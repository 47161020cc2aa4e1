//! `POST /api/v1/competitions` (admin): create a live competition.

use crate::admin::create_competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    slug: String,
    title: String,
}

pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = create_competition(&ctx, &body.slug, &body.title).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "slug": comp.slug, "title": comp.title })))
}
