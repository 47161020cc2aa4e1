//! `GET /api/v1/competitions/{slug}/tasks` (creators, admins): the tasks of every creation round
//! that has opened (all of them for admins and in live mode).

use crate::admin::competition;
use crate::admission;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::domain::CompetitionMode;
use arena::repo;
use arena::rules::PhaseKind;
use arena::time::now_ms;
use serde::Serialize;

/// A creation task.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskInfo {
    pub task_id: String,
    pub round: i32,
    /// The donor identity to swap in.
    pub donor: String,
    /// Where to download the target clip.
    pub target: String,
}

/// Rounds whose creation phase has opened (None = every round).
pub async fn visible_rounds(
    ctx: &AppContext,
    comp: &arena::entities::competitions::Model,
    admin: bool,
) -> Result<Option<Vec<i32>>, ApiError> {
    if admin || admission::mode(comp)? == CompetitionMode::Live {
        return Ok(None);
    }
    let now = now_ms();
    let phases = repo::phases::to_rules(&repo::phases::list(ctx.db(), comp.id).await?)?;
    Ok(Some(
        phases
            .iter()
            .filter(|p| p.kind == PhaseKind::Creation && p.opens_at_ms <= now)
            .map(|p| p.round)
            .collect(),
    ))
}

/// The tasks of the creation rounds that have opened (creators and organizers).
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/tasks", tag = "tasks",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "the tasks the caller may see", body = Vec<TaskInfo>),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`wrong_role`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !caller.role.may_create() && !caller.is_admin() {
        return Err(ApiError::of(Code::WrongRole, "tasks are for creator teams"));
    }
    let comp = competition(&ctx, &slug).await?;
    let rounds = visible_rounds(&ctx, &comp, caller.is_admin()).await?;
    let tasks: Vec<TaskInfo> = repo::tasks::list(ctx.db(), comp.id)
        .await?
        .into_iter()
        .filter(|t| rounds.as_ref().is_none_or(|r| r.contains(&t.round)))
        .map(|t| TaskInfo {
            target: format!(
                "/api/v1/competitions/{}/tasks/{}/target",
                comp.slug, t.task_id
            ),
            task_id: t.task_id,
            round: t.round,
            donor: t.donor_identity,
        })
        .collect();
    Ok(HttpResponse::Ok().json(tasks))
}
