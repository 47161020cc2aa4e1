//! `GET /register`: the registration form.

use crate::routes::pages::{Nav, PageError, render};
use crate::session::Browser;
use actix_web::HttpResponse;
use askama::Template;

#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage {
    pub nav: Nav,
    pub csrf: String,
    pub name: String,
    pub role: String,
    pub error: Option<String>,
    /// The team just registered (the form is replaced by what happens next).
    pub registered: Option<String>,
}

pub async fn get(browser: Browser) -> Result<HttpResponse, PageError> {
    let page = RegisterPage {
        nav: Nav::of(&browser),
        csrf: browser.csrf().to_owned(),
        name: String::new(),
        role: "creator".to_owned(),
        error: None,
        registered: None,
    };
    render(&page, &browser)
}
