//! `GET /api/v1/competitions/{slug}`: the competition and its public counts.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::evaluation;

/// A competition: phases with their state and public counts.
#[utoipa::path(get, path = "/api/v1/competitions/{slug}", tag = "competitions",
    params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "`{slug, title, mode, preset, phases, detectors, creations, real_videos}`", body = serde_json::Value),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    let input = evaluation::board_input(ctx.db(), comp.id).await?;
    let now = arena::time::now_ms();
    let phases: Vec<_> =
        arena::repo::phases::to_rules(&arena::repo::phases::list(ctx.db(), comp.id).await?)?
            .into_iter()
            .map(|p| {
                let state = if p.is_open(now) {
                    "open"
                } else if p.is_closed(now) {
                    "closed"
                } else {
                    "upcoming"
                };
                serde_json::json!({
                    "id": p.id, "name": p.name(), "kind": p.kind.as_str(), "round": p.round,
                    "opens_at_ms": p.opens_at_ms, "closes_at_ms": p.closes_at_ms, "state": state,
                })
            })
            .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "slug": comp.slug,
        "title": comp.title,
        "mode": comp.mode,
        "preset": comp.preset,
        "phases": phases,
        "detectors": input.detectors.len(),
        "creations": input.creations.len(),
        "real_videos": input.real_video_ids.len(),
    })))
}
