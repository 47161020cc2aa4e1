//! `POST /admin/teams/{id}/approve` (form: `csrf`): approve a registered team; its first token
//! is shown on the page once.

use super::{Done, Issued, organizer, respond};
use crate::admin::approve_team;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::routes::pages::PageError;
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

async fn accept(
    ctx: &AppContext,
    browser: &Browser,
    id: i64,
    csrf: &str,
) -> Result<Done, ApiError> {
    organizer(browser, csrf)?;
    let (team, token) = approve_team(ctx, id).await?;
    tracing::info!(team = %team.name, "team approved");
    Ok(Done {
        message: format!("Team {} approved.", team.name),
        issued: Some(Issued {
            team: team.name,
            token,
        }),
    })
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
