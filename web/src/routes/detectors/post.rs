//! `POST /api/v1/competitions/{slug}/detectors`: a detector team uploads model.onnx + manifest.toml.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::ingest::{ingest_detector, manifest_text};
use crate::routes::submissions::Accepted;
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};

/// Uploads a detector: `model` (.onnx) and `manifest` (manifest.toml).
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/detectors", tag = "submissions",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    request_body(content = crate::openapi::DetectorUpload, content_type = "multipart/form-data"),
    responses((status = 202, description = "taken in: its evaluation is queued", body = Accepted),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`wrong_role`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`phase_closed`", body = crate::openapi::ErrorDoc),
        (status = 413, description = "`payload_too_large`", body = crate::openapi::ErrorDoc),
        (status = 422, description = "`invalid_manifest`, `invalid_model`, `model_external_data`, `model_op_domain`, `model_manifest_mismatch`, `model_load_failed`, `model_nondeterministic`, `model_too_slow`, `model_output_not_finite`", body = crate::openapi::ErrorDoc),
        (status = 429, description = "`quota_exceeded`, `rate_limited` (with `Retry-After`)", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    if !caller.role.may_detect() {
        return Err(ApiError::of(
            Code::WrongRole,
            "only detector teams submit detectors",
        ));
    }
    let comp = competition(&ctx, &slug).await?;
    let limits = &ctx.settings().limits;
    let spec = FormSpec {
        files: &[
            ("model", limits.max_model_bytes),
            ("manifest", limits.max_manifest_bytes),
        ],
        texts: &[],
    };
    ctx.rate_limiter().upload(caller.id())?;
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    let model = form.take_file("model")?;
    let manifest = form.take_file("manifest")?;
    let text = manifest_text(&manifest).await?;
    let sub = ingest_detector(&ctx, &comp, caller.id(), model, &text).await?;
    Ok(HttpResponse::Accepted().json(Accepted::of(sub)))
}
