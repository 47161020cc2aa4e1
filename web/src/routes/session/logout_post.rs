//! `POST /logout` (form: `csrf`): ends the browser session.

use crate::routes::pages::PageError;
use crate::session::{Browser, logout_cookie};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
}

pub async fn post(
    browser: Browser,
    req: HttpRequest,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, PageError> {
    browser.check_csrf(form.csrf.as_deref())?;
    Ok(HttpResponse::SeeOther()
        .cookie(logout_cookie(&req))
        .insert_header((header::LOCATION, "/"))
        .finish())
}
