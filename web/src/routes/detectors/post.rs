//! `POST /api/v1/competitions/{slug}/detectors`: a detector team uploads model.onnx + manifest.toml.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::ingest::ingest_detector;
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};

pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    if !caller.role.may_detect() {
        return Err(ApiError::forbidden(
            "wrong_role",
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
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    let model = form.take_file("model")?;
    let manifest = form.take_file("manifest")?;
    let text = tokio::fs::read(manifest.path())
        .await
        .map_err(ApiError::internal)?;
    let text = String::from_utf8(text)
        .map_err(|_| ApiError::unprocessable("invalid_manifest", "manifest.toml is not UTF-8"))?;
    let sub = ingest_detector(&ctx, &comp, caller.id(), model, &text).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "id": sub.id, "status": sub.status })))
}
