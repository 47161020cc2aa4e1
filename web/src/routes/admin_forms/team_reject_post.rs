//! `POST /admin/teams/{id}/reject` (form: `csrf`): turn a registered team down.

use super::team_approve_post::CsrfForm;
use super::{Done, organizer, respond};
use crate::admin::reject_team;
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
    let team = reject_team(ctx, id).await?;
    tracing::info!(team = %team.name, "team registration rejected");
    Ok(Done::said(format!("Team {} turned down.", team.name)))
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
