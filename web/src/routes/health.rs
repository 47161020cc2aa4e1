//! `GET /healthz` (liveness: the process answers) and `GET /readyz` (readiness: the database
//! and the object store answer and the schema is current). Liveness does not touch the
//! database, so a database outage takes replicas out of the load balancer (readiness) instead
//! of restarting them all.

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// The liveness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Each dependency's state: `ok`, `unreachable`, `unknown` or `<n> pending` (migrations).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadyChecks {
    pub database: String,
    pub storage: String,
    pub migrations: String,
}

/// The readiness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: &'static str,
    pub checks: ReadyChecks,
}

/// The 503 readiness refusal: `not_ready`, with which check failed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NotReady {
    #[schema(value_type = crate::error::Code)]
    pub code: &'static str,
    pub message: String,
    pub checks: ReadyChecks,
}

/// Liveness: the server answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "the server answers", body = Health)))]
pub async fn get() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Object key probed for readiness (never written: only its existence is asked).
const PROBE_KEY: &str = "readyz/probe";

/// Readiness: database, storage and migrations, each reported.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "every check `ok`", body = Ready),
        (status = 503, description = "`not_ready`, with `checks` saying which failed", body = NotReady)))]
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
    let checks = ReadyChecks {
        database,
        storage,
        migrations,
    };
    if ok {
        HttpResponse::Ok().json(Ready {
            status: "ready",
            checks,
        })
    } else {
        let err = ApiError::of(
            Code::NotReady,
            "a dependency is unreachable or the schema is not current",
        );
        HttpResponse::ServiceUnavailable().json(NotReady {
            code: err.code,
            message: err.message,
            checks,
        })
    }
}
