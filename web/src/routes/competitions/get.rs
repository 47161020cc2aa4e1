//! `GET /api/v1/competitions/{slug}`: the competition and its public counts.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::evaluation;

pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    let input = evaluation::board_input(ctx.db(), comp.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "slug": comp.slug,
        "title": comp.title,
        "mode": comp.mode,
        "preset": comp.preset,
        "phases": [],
        "tasks": [],
        "detectors": input.detectors.len(),
        "creations": input.creations.len(),
        "real_videos": input.real_video_ids.len(),
    })))
}
