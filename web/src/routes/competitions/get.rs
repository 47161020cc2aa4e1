//! `GET /api/v1/competitions/{slug}`: the competition and its public counts.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::evaluation;
use arena::rules::PhaseKind;
use serde::Serialize;

/// Where a phase stands now.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseState {
    Upcoming,
    Open,
    Closed,
}

/// A phase of the competition.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PhaseInfo {
    pub id: i64,
    /// `C1`, `D1`, … (kind letter and round).
    pub name: String,
    pub kind: PhaseKind,
    pub round: i32,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
    pub state: PhaseState,
}

/// A competition: its phases and public counts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CompetitionInfo {
    pub slug: String,
    pub title: String,
    /// `live` or `rounds`.
    pub mode: String,
    /// `dfgc2021` or `dfgc2022`.
    pub preset: String,
    pub phases: Vec<PhaseInfo>,
    /// Detectors and creations on the boards, and hidden real videos.
    pub detectors: usize,
    pub creations: usize,
    pub real_videos: usize,
}

/// A competition: phases with their state and public counts.
#[utoipa::path(get, path = "/api/v1/competitions/{slug}", tag = "competitions",
    params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "the competition", body = CompetitionInfo),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    let input = evaluation::board_input(ctx.db(), comp.id).await?;
    let now = arena::time::now_ms();
    let phases: Vec<PhaseInfo> =
        arena::repo::phases::to_rules(&arena::repo::phases::list(ctx.db(), comp.id).await?)?
            .into_iter()
            .map(|p| {
                let state = if p.is_open(now) {
                    PhaseState::Open
                } else if p.is_closed(now) {
                    PhaseState::Closed
                } else {
                    PhaseState::Upcoming
                };
                PhaseInfo {
                    id: p.id,
                    name: p.name(),
                    kind: p.kind,
                    round: p.round,
                    opens_at_ms: p.opens_at_ms,
                    closes_at_ms: p.closes_at_ms,
                    state,
                }
            })
            .collect();
    Ok(HttpResponse::Ok().json(CompetitionInfo {
        slug: comp.slug,
        title: comp.title,
        mode: comp.mode,
        preset: comp.preset,
        phases,
        detectors: input.detectors.len(),
        creations: input.creations.len(),
        real_videos: input.real_video_ids.len(),
    }))
}
