//! `GET /healthz` (liveness: the process answers) and `GET /readyz` (readiness: the database
//! and the object store answer and the schema is current). Liveness does not touch the
//! database, so a database outage takes replicas out of the load balancer (readiness) instead
//! of restarting them all.

use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Liveness: the server answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = serde_json::Value)))]
pub async fn get() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Object key probed for readiness (never written: only its existence is asked).
const PROBE_KEY: &str = "readyz/probe";

/// Readiness: database, storage and migrations, each reported.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "`{\"status\":\"ready\",\"checks\":{\"database\":\"ok\",\"storage\":\"ok\",\"migrations\":\"ok\"}}`", body = serde_json::Value),
        (status = 503, description = "`not_ready`, with `checks` saying which failed", body = crate::openapi::ErrorDoc)))]
pub async fn ready(ctx: web::Data<AppContext>) -> HttpResponse {
    let database = match arena::db::ping(ctx.db()).await {
        Ok(_) => "ok".to_owned(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable".to_owned()
        }
    };
    let storage = match ctx.storage().exists(PROBE_KEY).await {
        Ok(_) => "ok".to_owned(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: storage unreachable");
            "unreachable".to_owned()
        }
    };
    let migrations = match arena::db::pending_migrations(ctx.db()).await {
        Ok(0) => "ok".to_owned(),
        Ok(n) => format!("{n} pending"),
        Err(_) => "unknown".to_owned(),
    };
    let ok = [&database, &storage, &migrations]
        .iter()
        .all(|c| *c == "ok");
    let checks = json!({ "database": database, "storage": storage, "migrations": migrations });
    if ok {
        HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks }))
    } else {
        let err = ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "a dependency is unreachable or the schema is not current",
        );
        HttpResponse::ServiceUnavailable().json(json!({
            "code": err.code, "message": err.message, "checks": checks
        }))
    }
}
