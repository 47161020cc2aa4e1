//! `POST /admin/phases/advance` (form: `csrf`, `competition`): close the open phase now and
//! open the next one now.

use super::{Done, organizer, respond};
use crate::admin::{advance_phase, competition};
use crate::context::AppContext;
use crate::error::ApiError;
use crate::routes::pages::PageError;
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct AdvanceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    competition: String,
}

async fn accept(ctx: &AppContext, browser: &Browser, form: &AdvanceForm) -> Result<Done, ApiError> {
    organizer(browser, &form.csrf)?;
    let comp = competition(ctx, form.competition.trim()).await?;
    let done = advance_phase(ctx, &comp).await?;
    let part = |what: &str, name: &Option<String>| match name {
        Some(n) => format!("{n} {what}"),
        None => format!("nothing {what}"),
    };
    Ok(Done::said(format!(
        "{}: {}, {}.",
        comp.slug,
        part("closed", &done.closed),
        part("opened", &done.opened)
    )))
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    form: web::Form<AdvanceForm>,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, &form).await;
    respond(&ctx, &browser, result).await
}
