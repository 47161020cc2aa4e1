//! `POST /api/v1/competitions/{slug}/creations`: a creator team uploads a fake video (with its
//! `task`), or a zip of `<task_id>.<ext>` videos.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::ingest_video::{creation_items, ingest_creation};
use crate::routes::submissions::Accepted;
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};

/// Uploads a creation: one fake video (with `task`) or a zip of `<task_id>.<ext>` videos.
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/creations", tag = "submissions",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    request_body(content = crate::openapi::CreationUpload, content_type = "multipart/form-data"),
    responses((status = 202, description = "taken in: its evaluation is queued", body = Accepted),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`wrong_role`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`phase_closed`", body = crate::openapi::ErrorDoc),
        (status = 413, description = "`payload_too_large`", body = crate::openapi::ErrorDoc),
        (status = 415, description = "`unsupported_media`", body = crate::openapi::ErrorDoc),
        (status = 422, description = "`invalid_video`, `video_limits_exceeded`, `task_required`, `unknown_task`, `duplicate_task`, `resolution_mismatch`, `frame_count_mismatch`, `bad_archive`, `archive_unsafe_path`, `archive_too_large`, `nested_archive`", body = crate::openapi::ErrorDoc),
        (status = 429, description = "`quota_exceeded`, `rate_limited` (with `Retry-After`)", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    if !caller.role.may_create() {
        return Err(ApiError::of(
            Code::WrongRole,
            "only creator teams submit creations",
        ));
    }
    let comp = competition(&ctx, &slug).await?;
    let cap = ctx.settings().limits.max_video_bytes;
    let spec = FormSpec {
        files: &[("file", cap)],
        texts: &["task"],
    };
    ctx.rate_limiter().upload(caller.id())?;
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    let file = form.take_file("file")?;
    let task = form.texts.remove("task").filter(|t| !t.trim().is_empty());
    let items = creation_items(&ctx, file, task).await?;
    let sub = ingest_creation(&ctx, &comp, caller.id(), items).await?;
    Ok(HttpResponse::Accepted().json(Accepted::of(sub)))
}
