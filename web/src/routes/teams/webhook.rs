//! `GET|PUT|DELETE /api/v1/teams/{name}/webhook`: the team's webhook, notified (signed with
//! HMAC-SHA256) when one of its submissions finishes or fails. See `crate::webhooks`.

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::entities::teams;
use serde::{Deserialize, Serialize};

/// The webhook set.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookSaved {
    pub team: String,
    pub url: String,
    /// The generated signing secret, shown this once; absent when the request gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A notification owed to or sent to the webhook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    /// `submission.finished` or `submission.failed`.
    pub event: String,
    pub submission: i64,
    pub attempts: i32,
    /// The HTTP status of the last attempt.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
    pub gave_up_at_ms: Option<i64>,
    /// When the next attempt is due (null once delivered or given up).
    pub next_at_ms: Option<i64>,
}

/// A team's webhook (never its secret) and its latest deliveries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookInfo {
    pub team: String,
    pub url: String,
    /// The latest 50, newest first.
    pub deliveries: Vec<Delivery>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookSet)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// `http://` or `https://` URL; its host may not resolve to a loopback, private,
    /// link-local, unique-local or unspecified address (unless the server allows it).
    #[schema(max_length = 2048, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://")]
    url: String,
    /// Signing secret (16–256 characters); generated and returned once when omitted.
    #[serde(default)]
    #[schema(min_length = 16, max_length = 256)]
    secret: Option<String>,
}

/// The team named `name`, when the caller is that team or an organizer.
async fn team_for(
    ctx: &AppContext,
    caller: &AuthTeam,
    name: &str,
) -> Result<teams::Model, ApiError> {
    let team = arena::repo::teams::find_by_name(ctx.db(), name)
        .await?
        .ok_or_else(|| ApiError::of(Code::TeamNotFound, format!("no team {name:?}")))?;
    if team.id != caller.id() && !caller.is_admin() {
        return Err(ApiError::of(
            Code::NotYours,
            "only the team itself or an organizer can see or change its webhook",
        ));
    }
    Ok(team)
}

/// Sets the team's webhook (the team itself or an organizer); a generated secret is in the
/// answer, once.
#[utoipa::path(put, path = "/api/v1/teams/{name}/webhook", tag = "teams",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "team name")),
    request_body = Body,
    responses((status = 200, description = "set; `secret` only when it was generated", body = WebhookSaved),
        (status = 400, description = "`invalid_webhook_secret`", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`team_not_found`", body = crate::openapi::ErrorDoc),
        (status = 422, description = "`invalid_webhook_url`, `webhook_address_refused`", body = crate::openapi::ErrorDoc)))]
pub async fn put(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    name: web::Path<String>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let team = team_for(&ctx, &caller, &name).await?;
    let url = crate::webhooks::check_url(&body.url, &ctx.settings().webhooks).await?;
    let (secret, generated) = match &body.secret {
        Some(s) if !(16..=256).contains(&s.chars().count()) => {
            return Err(ApiError::of(
                Code::InvalidWebhookSecret,
                "the secret must be 16 to 256 characters",
            ));
        }
        Some(s) => (s.clone(), false),
        None => (crate::webhooks::new_secret(), true),
    };
    let hook = arena::repo::webhooks::set(ctx.db(), team.id, url.as_str(), &secret).await?;
    Ok(HttpResponse::Ok().json(WebhookSaved {
        team: team.name,
        url: hook.url,
        secret: generated.then_some(secret),
    }))
}

/// The team's webhook URL (never its secret) and its latest deliveries.
#[utoipa::path(get, path = "/api/v1/teams/{name}/webhook", tag = "teams",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "team name")),
    responses((status = 200, description = "the webhook and its latest deliveries", body = WebhookInfo),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`team_not_found`, `webhook_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let team = team_for(&ctx, &caller, &name).await?;
    let hook = arena::repo::webhooks::find(ctx.db(), team.id)
        .await?
        .ok_or_else(|| ApiError::of(Code::WebhookNotFound, "the team has no webhook"))?;
    let deliveries: Vec<Delivery> = arena::repo::webhooks::recent_for_team(ctx.db(), team.id, 50)
        .await?
        .into_iter()
        .map(|d| Delivery {
            id: d.id,
            event: d.event,
            submission: d.submission_id,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at_ms: d.delivered_at_ms,
            gave_up_at_ms: d.gave_up_at_ms,
            next_at_ms: d.next_at_ms,
        })
        .collect();
    Ok(HttpResponse::Ok().json(WebhookInfo {
        team: team.name,
        url: hook.url,
        deliveries,
    }))
}

/// Removes the team's webhook, if any; deliveries still owed to it are dropped.
#[utoipa::path(delete, path = "/api/v1/teams/{name}/webhook", tag = "teams",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "team name")),
    responses((status = 204, description = "removed (or there was none)"),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`not_yours`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`team_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn delete(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let team = team_for(&ctx, &caller, &name).await?;
    // Idempotent: removing a webhook that is not there leaves none, as asked.
    arena::repo::webhooks::remove(ctx.db(), team.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
