//! `POST /admin/submissions/{id}/rerun` (form: `csrf`): run a failed submission again.

use super::team_approve_post::CsrfForm;
use super::{Done, organizer, respond};
use crate::admin::rerun_submission;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::routes::pages::PageError;
use crate::session::Browser;
use actix_web::{HttpResponse, web};

async fn accept(
    ctx: &AppContext,
    browser: &Browser,
    id: i64,
    csrf: &str,
) -> Result<Done, ApiError> {
    organizer(browser, csrf)?;
    let done = rerun_submission(ctx, id).await?;
    Ok(Done::said(format!(
        "Submission #{id} is running again ({} job{} queued).",
        done.jobs,
        if done.jobs == 1 { "" } else { "s" }
    )))
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, *id, &form.csrf).await;
    respond(&ctx, &browser, result).await
}
