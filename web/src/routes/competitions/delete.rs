//! `DELETE /api/v1/competitions/{slug}` (organizers): every submission of the competition is
//! erased as a withdrawal is, then all its rows go (see `arena::deletion`).

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::routes::submissions::delete::withdraw_error;
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// What deleting a competition erased.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CompetitionDeleted {
    pub competition: String,
    /// Always true.
    pub deleted: bool,
    /// Submissions erased now (those already withdrawn are not counted again).
    pub submissions_erased: usize,
    pub scores_deleted: u64,
    pub jobs_deleted: u64,
    /// Object-store keys deleted (uploads, crop and frame caches).
    pub objects_deleted: Vec<String>,
}

/// Deletes a competition and erases every byte of its uploads no other submission holds.
#[utoipa::path(delete, path = "/api/v1/competitions/{slug}", tag = "organizers",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "`{competition, deleted: true, submissions_erased, scores_deleted, jobs_deleted, objects_deleted: [key]}`", body = CompetitionDeleted),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`submission_busy` (a job of it is running; try again)", body = crate::openapi::ErrorDoc)))]
pub async fn delete(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let done = arena::deletion::delete_competition(ctx.db(), ctx.storage(), &comp)
        .await
        .map_err(withdraw_error)?;
    crate::admin::announce(&ctx, comp.id);
    Ok(HttpResponse::Ok().json(CompetitionDeleted {
        competition: comp.slug,
        deleted: true,
        submissions_erased: done.submissions_erased,
        scores_deleted: done.scores_deleted,
        jobs_deleted: done.jobs_deleted,
        objects_deleted: done.objects_deleted,
    }))
}
