//! The organizers' `/admin` page and its forms (session cookie + CSRF token, admins only). Each
//! form calls the same functions as the organizer API ([`crate::admin`]) and answers with the
//! page again, the outcome on top: a newly issued token is shown there, once.

pub mod competitions_post;
pub mod fleet;
pub mod outcome;
pub mod page;
pub mod phases_advance_post;
pub mod phases_post;
pub mod ratings_post;
pub mod submission_disqualify_post;
pub mod submission_rerun_post;
pub mod team_approve_post;
pub mod team_reject_post;
pub mod teams_post;

use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::{Nav, PageError, error_page};
use crate::session::Browser;
use actix_web::HttpResponse;

pub use outcome::{Done, Issued};

/// The organizer behind a form post: logged in (401), the form's own CSRF token (403
/// `csrf_failed`), an admin (403 `admin_only`).
pub fn organizer<'a>(browser: &'a Browser, csrf: &str) -> Result<&'a AuthTeam, ApiError> {
    let team = browser.require_team()?;
    browser.check_csrf(Some(csrf))?;
    team.require_admin()?;
    Ok(team)
}

/// Answers a form post: the admin page with the outcome; an error page for callers who may not
/// see the admin page (or whose form has expired).
pub async fn respond(
    ctx: &AppContext,
    browser: &Browser,
    result: Result<Done, ApiError>,
) -> Result<HttpResponse, PageError> {
    let is_admin = browser.team.as_ref().is_some_and(|t| t.is_admin());
    match result {
        Ok(done) => page::render_admin(ctx, browser, page::Flash::Done(done)).await,
        Err(error) if is_admin && error.code != Code::CsrfFailed.as_str() => {
            page::render_admin(ctx, browser, page::Flash::Failed(error)).await
        }
        Err(error) => Ok(error_page(&error, Nav::of(browser))),
    }
}
