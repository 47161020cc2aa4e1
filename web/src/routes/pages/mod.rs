//! Server-rendered pages (askama). Every page works without JavaScript; small inline scripts
//! make the board live and the upload forms show progress. Errors are pages too, in plain
//! words, with the API's status and code.

pub mod competition;
pub mod creation;
pub mod detector;
pub mod index;
pub mod matrix;
pub mod submission;
pub mod team;

use crate::error::{ApiError, Code};
use crate::session::Browser;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

/// What the layout's navigation needs: who is logged in, and the token of its logout form.
pub struct Nav {
    pub team: Option<String>,
    pub csrf: String,
    /// The logged-in team organizes: the layout links the admin page.
    pub admin: bool,
}

impl Nav {
    pub fn of(browser: &Browser) -> Nav {
        Nav {
            team: browser.team_name().map(str::to_owned),
            csrf: browser.csrf().to_owned(),
            admin: browser.team.as_ref().is_some_and(|t| t.is_admin()),
        }
    }

    fn anonymous() -> Nav {
        Nav {
            team: None,
            csrf: String::new(),
            admin: false,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    status: u16,
    heading: &'a str,
    code: &'a str,
    message: &'a str,
}

/// A page's error: rendered as a page with the API error's status, code and message.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageError(#[from] pub ApiError);

impl From<arena::RepoError> for PageError {
    fn from(e: arena::RepoError) -> Self {
        PageError(e.into())
    }
}

impl From<sea_orm::DbErr> for PageError {
    fn from(e: sea_orm::DbErr) -> Self {
        PageError(e.into())
    }
}

fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "Please log in",
        403 => "Not allowed",
        404 => "Not found",
        409 => "Not now",
        413 => "Too large",
        429 => "Quota used up",
        500..=599 => "Something went wrong on our side",
        _ => "That did not work",
    }
}

/// Renders an error page (used for page errors and for form errors without a form to show).
pub fn error_page(e: &ApiError, nav: Nav) -> HttpResponse {
    let page = ErrorPage {
        nav,
        status: e.status.as_u16(),
        heading: if e.code == Code::RateLimited.as_str() {
            "Too many attempts"
        } else {
            heading(e.status)
        },
        code: e.code,
        message: &e.message,
    };
    let mut resp = HttpResponse::build(e.status);
    if let Some(secs) = e.retry_after_s {
        resp.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    match page.render() {
        Ok(body) => resp.content_type("text/html; charset=utf-8").body(body),
        Err(_) => resp.body(e.message.clone()),
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }
    fn error_response(&self) -> HttpResponse {
        error_page(&self.0, Nav::anonymous())
    }
}

/// Renders a page with `status`, setting the browser's CSRF cookie when it is new.
pub fn render_with(
    status: StatusCode,
    page: &impl Template,
    browser: &Browser,
) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(ApiError::internal)?;
    let mut resp = HttpResponse::build(status);
    resp.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(c) = browser.seed_cookie() {
        resp.cookie(c);
    }
    Ok(resp.body(body))
}

pub fn render(page: &impl Template, browser: &Browser) -> Result<HttpResponse, PageError> {
    render_with(StatusCode::OK, page, browser)
}

/// 303 to the login page, coming back to `next` afterwards.
pub fn login_redirect(next: &str) -> HttpResponse {
    let target = format!("/login?next={}", urlencode(next));
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish()
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
