//! `DELETE /api/v1/teams/{name}` (organizers): the team's submissions are erased as withdrawals
//! are, then its rows go (see `arena::deletion`).

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::submissions::delete::withdraw_error;
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// What deleting a team erased.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamDeleted {
    pub team: String,
    /// Always true.
    pub deleted: bool,
    /// Submissions erased now (those already withdrawn are not counted again).
    pub submissions_erased: usize,
    pub scores_deleted: u64,
    pub jobs_deleted: u64,
    /// Object-store keys deleted (uploads, crop and frame caches).
    pub objects_deleted: Vec<String>,
}

/// Deletes a team and erases every byte of its uploads no other submission holds (organizers).
#[utoipa::path(delete, path = "/api/v1/teams/{name}", tag = "organizers",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "team name")),
    responses((status = 200, description = "`{team, deleted: true, submissions_erased, scores_deleted, jobs_deleted, objects_deleted: [key]}`", body = TeamDeleted),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`team_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`team_is_organizer`, `submission_busy` (a job of it is running; try again)", body = crate::openapi::ErrorDoc)))]
pub async fn delete(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let team = arena::repo::teams::find_by_name(ctx.db(), &name)
        .await?
        .ok_or_else(|| ApiError::of(Code::TeamNotFound, format!("no team {name:?}")))?;
    let done = arena::deletion::delete_team(ctx.db(), ctx.storage(), &team)
        .await
        .map_err(withdraw_error)?;
    for id in &done.competitions {
        crate::admin::announce(&ctx, *id);
    }
    Ok(HttpResponse::Ok().json(TeamDeleted {
        team: team.name,
        deleted: true,
        submissions_erased: done.submissions_erased,
        scores_deleted: done.scores_deleted,
        jobs_deleted: done.jobs_deleted,
        objects_deleted: done.objects_deleted,
    }))
}
