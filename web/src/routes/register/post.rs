//! `POST /register` (form: `csrf`, `name`, `role`): registers a team as pending; an invalid or
//! taken name shows the form again with the reason.

use super::get::RegisterPage;
use crate::admin::register_team;
use crate::context::AppContext;
use crate::routes::pages::{Nav, PageError, render_with};
use crate::session::Browser;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, PageError> {
    browser.check_csrf(Some(&form.csrf))?;
    let mut page = RegisterPage {
        nav: Nav::of(&browser),
        csrf: browser.csrf().to_owned(),
        name: form.name.trim().to_owned(),
        role: form.role.trim().to_owned(),
        error: None,
        registered: None,
    };
    match register_team(&ctx, &form.name, &form.role).await {
        Ok(team) => {
            tracing::info!(team = %team.name, role = %team.role, "team registered; pending approval");
            page.registered = Some(team.name);
            render_with(StatusCode::CREATED, &page, &browser)
        }
        Err(e) if e.status.is_client_error() => {
            page.error = Some(format!("{} ({})", e.message, e.code));
            render_with(e.status, &page, &browser)
        }
        Err(e) => Err(e.into()),
    }
}
