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

/// Uploads a detector: `model` (.onnx) and `manifest` (manifest.toml). The manifest is checked
/// here; the model's checks run after the 202, in the detector's first job: the submission stays
/// `queued` until they pass, and a model they refuse ends `failed` with their code in `error`.
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/detectors", tag = "submissions",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    request_body(content = crate::openapi::DetectorUpload, content_type = "multipart/form-data"),
    responses((status = 202, description = "`{id, status: \"queued\"}`: stored, its model checks queued; a model they refuse makes the submission (`GET /api/v1/submissions/{id}`) `failed` with `error.code` one of `invalid_model`, `model_too_large`, `model_external_data`, `model_op_domain`, `model_manifest_mismatch`, `model_load_failed`, `model_run_failed`, `model_nondeterministic`, `model_too_slow`, `model_output_not_finite`, `model_output_shape`, or a `sandbox_*` code of a check child the model killed", body = Accepted),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`wrong_role`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 409, description = "`phase_closed`", body = crate::openapi::ErrorDoc),
        (status = 413, description = "`payload_too_large`", body = crate::openapi::ErrorDoc),
        (status = 422, description = "`invalid_manifest`", body = crate::openapi::ErrorDoc),
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
