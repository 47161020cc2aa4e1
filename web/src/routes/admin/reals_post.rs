//! `POST /api/v1/competitions/{slug}/reals` (admin): add a hidden real video (label 0).

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::ingest_video::ingest_real;
use crate::routes::submissions::Accepted;
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};

/// Adds a hidden real video (organizers).
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/reals", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    request_body(content = crate::openapi::VideoUpload, content_type = "multipart/form-data"),
    responses((status = 202, description = "taken in: its evaluation is queued", body = Accepted),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 422, description = "`invalid_video`, `video_limits_exceeded`", body = crate::openapi::ErrorDoc),
        (status = 429, description = "`rate_limited` (with `Retry-After`)", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let cap = ctx.settings().limits.max_video_bytes;
    let spec = FormSpec {
        files: &[("file", cap)],
        texts: &[],
    };
    ctx.rate_limiter().upload(caller.id())?;
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    let file = form.take_file("file")?;
    let sub = ingest_real(&ctx, &comp, caller.id(), file).await?;
    Ok(HttpResponse::Accepted().json(Accepted::of(sub)))
}
