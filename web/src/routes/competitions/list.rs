//! `GET /api/v1/competitions`.

use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// A competition in the list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CompetitionSummary {
    pub slug: String,
    pub title: String,
    /// `live` or `rounds`.
    pub mode: String,
    /// `dfgc2021` or `dfgc2022`.
    pub preset: String,
}

/// Lists the competitions.
#[utoipa::path(get, path = "/api/v1/competitions", tag = "competitions",
    responses((status = 200, description = "every competition", body = Vec<CompetitionSummary>)))]
pub async fn get(ctx: web::Data<AppContext>) -> Result<HttpResponse, ApiError> {
    let list: Vec<CompetitionSummary> = arena::repo::competitions::list(ctx.db())
        .await?
        .into_iter()
        .map(|c| CompetitionSummary {
            slug: c.slug,
            title: c.title,
            mode: c.mode,
            preset: c.preset,
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}
