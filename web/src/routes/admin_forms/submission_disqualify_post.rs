//! `POST /admin/submissions/{id}/disqualify` (form: `csrf`, `reason`): take a creation or
//! detector out of the game.

use super::{Done, organizer, respond};
use crate::admin::disqualify_submission;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::routes::pages::PageError;
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct DisqualifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn accept(
    ctx: &AppContext,
    browser: &Browser,
    id: i64,
    form: &DisqualifyForm,
) -> Result<Done, ApiError> {
    organizer(browser, &form.csrf)?;
    disqualify_submission(ctx, id, &form.reason).await?;
    Ok(Done::said(format!(
        "Submission #{id} is disqualified: it has left the boards."
    )))
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    id: web::Path<i64>,
    form: web::Form<DisqualifyForm>,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, *id, &form).await;
    respond(&ctx, &browser, result).await
}
