//! `GET /healthz`: the server answers and its database does too.

use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use sea_orm::ConnectionTrait;

/// Liveness: the server answers and its database does too.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = serde_json::Value)))]
pub async fn get(ctx: web::Data<AppContext>) -> Result<HttpResponse, ApiError> {
    ctx.db().execute_unprepared("SELECT 1").await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })))
}
