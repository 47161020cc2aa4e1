//! `GET /api/v1/competitions`.

use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

/// Lists the competitions.
#[utoipa::path(get, path = "/api/v1/competitions", tag = "competitions",
    responses((status = 200, description = "`[{slug, title, mode, preset}]`", body = serde_json::Value)))]
pub async fn get(ctx: web::Data<AppContext>) -> Result<HttpResponse, ApiError> {
    let list: Vec<_> = arena::repo::competitions::list(ctx.db())
        .await?
        .into_iter()
        .map(|c| serde_json::json!({ "slug": c.slug, "title": c.title, "mode": c.mode, "preset": c.preset }))
        .collect();
    Ok(HttpResponse::Ok().json(list))
}
