//! `POST /api/v1/competitions/{slug}/tasks` (admin, multipart `target` + `task_id`, `round`,
//! `donor`): a task = a target clip and a donor identity, for creation round `round`.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::ingest_video::ingest_task;
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// The task added.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskCreated {
    pub task_id: String,
    pub round: i32,
    pub donor: String,
}

/// Adds a task: a target clip and a donor identity for a creation round (organizers).
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/tasks", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    request_body(content = crate::openapi::TaskUpload, content_type = "multipart/form-data"),
    responses((status = 201, description = "added", body = TaskCreated),
        (status = 400, description = "`invalid_task_id`, `invalid_round`", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`task_exists`", body = crate::openapi::ErrorDoc),
        (status = 429, description = "`rate_limited` (with `Retry-After`)", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let spec = FormSpec {
        files: &[
            ("target", ctx.settings().limits.max_video_bytes),
            ("donor_reference", ctx.settings().limits.max_video_bytes),
        ],
        texts: &["task_id", "round", "donor"],
    };
    ctx.rate_limiter().upload(caller.id())?;
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    let file = form.take_file("target")?;
    let reference = form.files.remove("donor_reference");
    let text = |name: &str| form.texts.get(name).cloned().unwrap_or_default();
    let round: i32 = text("round")
        .trim()
        .parse()
        .map_err(|_| ApiError::of(Code::InvalidRound, "round must be a number ≥ 1"))?;
    let (task_id, donor) = (text("task_id"), text("donor"));
    let files = (file, reference);
    let task = ingest_task(&ctx, &comp, caller.id(), (&task_id, round, &donor), files).await?;
    Ok(HttpResponse::Created().json(TaskCreated {
        task_id: task.task_id,
        round: task.round,
        donor: task.donor_identity,
    }))
}
