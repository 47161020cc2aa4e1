//! `GET /api/v1/competitions/{slug}/tasks/{task_id}/target` (creators, admins): the target clip.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::tasks::list::visible_rounds;
use actix_web::{HttpResponse, web};
use arena::repo;

/// Downloads a task's target clip (creators, once its round has opened).
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/tasks/{task_id}/target", tag = "tasks",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "competition slug"), ("task_id" = String, Path, description = "task id")),
    responses((status = 200, description = "the clip", content_type = "video/mp4", body = Vec<u8>),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`wrong_role`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`task_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, task_id) = path.into_inner();
    target(&ctx, &caller, &slug, &task_id).await
}

/// The target clip of a task the caller may see (also served to the team page's browser at
/// `/c/{slug}/tasks/{task_id}/target`).
pub(crate) async fn target(
    ctx: &AppContext,
    caller: &AuthTeam,
    slug: &str,
    task_id: &str,
) -> Result<HttpResponse, ApiError> {
    if !caller.role.may_create() && !caller.is_admin() {
        return Err(ApiError::of(Code::WrongRole, "tasks are for creator teams"));
    }
    let comp = competition(ctx, slug).await?;
    let not_found = || ApiError::of(Code::TaskNotFound, format!("no task {task_id:?}"));
    let task = repo::tasks::find(ctx.db(), comp.id, task_id)
        .await?
        .ok_or_else(not_found)?;
    let rounds = visible_rounds(ctx, &comp, caller.is_admin()).await?;
    if rounds.is_some_and(|r| !r.contains(&task.round)) {
        return Err(not_found());
    }
    let video = repo::videos::find(ctx.db(), task.target_video_id)
        .await?
        .ok_or_else(not_found)?;
    let bytes = ctx.storage().get(&video.storage_key).await?;
    Ok(HttpResponse::Ok()
        .content_type("video/mp4")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}.mp4\"", task.task_id),
        ))
        .body(bytes))
}
