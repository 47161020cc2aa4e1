//! The browser's upload forms (session cookie + CSRF token), posting into the same ingest as
//! the API. Without JavaScript a form redirects to the new submission's page, or shows the team
//! page again with the error in plain words; the upload script asks for JSON instead.

pub mod creations_post;
pub mod detectors_post;
pub mod finals_post;
pub mod token_post;

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::team::{Flash, FormKind, plain, render_team};
use crate::routes::pages::{Nav, PageError, error_page};
use crate::session::Browser;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use arena::entities::submissions;

/// The upload script sends `Accept: application/json`.
pub fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The competition a form names (404 `competition_not_found` when it is not one).
pub async fn competition_of(
    ctx: &AppContext,
    texts: &std::collections::HashMap<String, String>,
) -> Result<arena::entities::competitions::Model, ApiError> {
    let slug = texts
        .get("competition")
        .map(|s| s.trim())
        .unwrap_or_default();
    crate::admin::competition(ctx, slug).await
}

/// Answers a form post: the submission page (or JSON) on success; the error otherwise.
pub async fn respond(
    ctx: &AppContext,
    browser: &Browser,
    req: &HttpRequest,
    form: FormKind,
    result: Result<submissions::Model, ApiError>,
) -> Result<HttpResponse, PageError> {
    let json = wants_json(req);
    match result {
        Ok(sub) => {
            let url = format!("/submissions/{}", sub.id);
            if json {
                return Ok(HttpResponse::Accepted().json(serde_json::json!({
                    "id": sub.id, "status": sub.status, "url": url
                })));
            }
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url))
                .finish())
        }
        Err(error) if json => Ok(HttpResponse::build(error.status).json(serde_json::json!({
            "code": error.code, "message": error.message, "plain": plain(&error)
        }))),
        Err(error) => match browser.team_name() {
            Some(name) if error.code != Code::CsrfFailed.as_str() => {
                let name = name.to_owned();
                render_team(ctx, browser, &name, Some(Flash { form, error })).await
            }
            _ => Ok(error_page(&error, Nav::of(browser))),
        },
    }
}
