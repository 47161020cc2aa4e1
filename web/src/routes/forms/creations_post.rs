//! `POST /forms/creations` (browser, multipart `csrf`, `competition`, `file` [+ `task`]).

use super::{competition_of, respond};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::ingest_video::{creation_items, ingest_creation};
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
    let spec = FormSpec {
        files: &[("file", ctx.settings().limits.max_video_bytes)],
        texts: &["csrf", "competition", "task"],
    };
    ctx.rate_limiter().upload(team.id())?;
    let mut form = read_form(payload, &spec, &ctx.settings().upload_dir()).await?;
    browser.check_csrf(form.texts.get("csrf").map(String::as_str))?;
    if !team.role.may_create() {
        return Err(ApiError::of(
            Code::WrongRole,
            "only creator teams submit creations",
        ));
    }
    let comp = competition_of(ctx, &form.texts).await?;
    let file = form.take_file("file")?;
    let task = form.texts.remove("task").filter(|t| !t.trim().is_empty());
    let items = creation_items(ctx, file, task).await?;
    ingest_creation(ctx, &comp, team.id(), items).await
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    req: HttpRequest,
    payload: Multipart,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, payload).await;
    respond(&ctx, &browser, &req, FormKind::Creation, result).await
}
