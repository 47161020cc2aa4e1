//! `GET /metrics`: Prometheus text exposition ([`crate::metrics`]); 404 `metrics_disabled`
//! when turned off, 401 `invalid_metrics_token` without the configured bearer token.

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

/// The Prometheus exposition.
#[utoipa::path(get, path = "/metrics", tag = "health", security((), ("bearer" = [])),
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "`invalid_metrics_token`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`metrics_disabled`", body = crate::openapi::ErrorDoc)))]
pub async fn get(ctx: web::Data<AppContext>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let settings = &ctx.settings().metrics;
    if !settings.enabled {
        return Err(ApiError::of(
            Code::MetricsDisabled,
            "metrics are turned off on this server",
        ));
    }
    if let Some(token) = &settings.token {
        let sent = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared as digests: the time taken says nothing about the token's prefix.
        if Sha256::digest(sent.as_bytes()) != Sha256::digest(token.as_bytes()) {
            return Err(ApiError::of(
                Code::InvalidMetricsToken,
                "this server's metrics need its scrape token",
            ));
        }
    }
    let body = crate::metrics::render(&ctx).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
