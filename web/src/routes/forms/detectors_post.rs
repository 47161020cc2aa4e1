//! `POST /forms/detectors` (browser, multipart `csrf`, `competition`, `model`, `manifest`).

use super::{competition_of, respond};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::ingest::{ingest_detector, manifest_text};
use crate::routes::pages::PageError;
use crate::routes::pages::team::FormKind;
use crate::session::Browser;
use crate::upload::{FormSpec, read_form};
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use arena::entities::submissions;

async fn accept(
    ctx: &AppContext,
    browser: &Browser,
    payload: Multipart,
) -> Result<submissions::Model, ApiError> {
    let team = browser.require_team()?;
    let limits = &ctx.settings().limits;
    let spec = FormSpec {
        files: &[
            ("model", limits.max_model_bytes),
            ("manifest", limits.max_manifest_bytes),
        ],
        texts: &["csrf", "competition"],
    };
    ctx.rate_limiter().upload(team.id())?;
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    browser.check_csrf(form.texts.get("csrf").map(String::as_str))?;
    if !team.role.may_detect() {
        return Err(ApiError::of(
            Code::WrongRole,
            "only detector teams submit detectors",
        ));
    }
    let comp = competition_of(ctx, &form.texts).await?;
    let model = form.take_file("model")?;
    let manifest = form.take_file("manifest")?;
    let text = manifest_text(&manifest).await?;
    ingest_detector(ctx, &comp, team.id(), model, &text).await
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    req: HttpRequest,
    payload: Multipart,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, payload).await;
    respond(&ctx, &browser, &req, FormKind::Detector, result).await
}
