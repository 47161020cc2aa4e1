//! `GET /login`: the token form.

use crate::routes::pages::{Nav, PageError, render};
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Query {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub nav: Nav,
    pub csrf: String,
    pub next: String,
    pub error: Option<String>,
}

pub async fn get(browser: Browser, q: web::Query<Query>) -> Result<HttpResponse, PageError> {
    let page = LoginPage {
        nav: Nav::of(&browser),
        csrf: browser.csrf().to_owned(),
        next: super::safe_next(q.next.as_deref()).unwrap_or_default(),
        error: None,
    };
    render(&page, &browser)
}
