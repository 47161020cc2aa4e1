//! `GET /api/v1/competitions`.

use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

pub async fn get(ctx: web::Data<AppContext>) -> Result<HttpResponse, ApiError> {
    let list: Vec<_> = arena::repo::competitions::list(ctx.db())
        .await?
        .into_iter()
        .map(|c| serde_json::json!({ "slug": c.slug, "title": c.title, "mode": c.mode, "preset": c.preset }))
        .collect();
    Ok(HttpResponse::Ok().json(list))
}
