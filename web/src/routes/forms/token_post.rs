//! `POST /teams/{name}/token/rotate` and `/teams/{name}/token/revoke` (browser form: `csrf`):
//! the team page's token forms, for the team itself or an organizer. A rotation shows the new
//! token once and keeps the team's own browser signed in; revoking your own token signs you out.

use crate::admin::{revoke_token, rotate_token};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::PageError;
use crate::routes::pages::team::{Flash, FormKind, TokenNotice, render_team_with};
use crate::session::{Browser, login_cookie, logout_cookie};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use arena::entities::teams;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// The team named `name`, when the signed-in caller is that team or an organizer.
async fn allowed(
    ctx: &AppContext,
    browser: &Browser,
    name: &str,
    csrf: &str,
) -> Result<teams::Model, ApiError> {
    let me = browser.require_team()?;
    browser.check_csrf(Some(csrf))?;
    let team = arena::repo::teams::find_by_name(ctx.db(), name)
        .await?
        .ok_or_else(|| ApiError::of(Code::TeamNotFound, format!("no team {name:?}")))?;
    if team.id != me.id() && !me.is_admin() {
        return Err(ApiError::of(
            Code::NotYours,
            "only the team itself or an organizer can change its token",
        ));
    }
    Ok(team)
}

/// A refused form: the team page with the error above the token forms (or the error page).
async fn refused(
    ctx: &AppContext,
    browser: &Browser,
    name: &str,
    error: ApiError,
) -> Result<HttpResponse, PageError> {
    // Only the team itself or an organizer sees the token forms, where the error is shown.
    if error.code != Code::TeamNotApproved.as_str() {
        return Err(error.into());
    }
    let flash = Flash {
        form: FormKind::Token,
        error,
    };
    render_team_with(ctx, browser, name, Some(flash), None).await
}

pub async fn rotate(
    ctx: web::Data<AppContext>,
    browser: Browser,
    req: HttpRequest,
    name: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let result = async {
        let team = allowed(&ctx, &browser, &name, &form.csrf).await?;
        let (_, token) = rotate_token(&ctx, team.id).await?;
        let fresh = arena::repo::teams::find(ctx.db(), team.id)
            .await?
            .ok_or_else(|| ApiError::internal("team vanished"))?;
        Ok::<_, ApiError>((fresh, token))
    }
    .await;
    let (team, token) = match result {
        Ok(done) => done,
        Err(e) => return refused(&ctx, &browser, &name, e).await,
    };
    tracing::info!(team = %team.name, "token rotated from the team page");
    let notice = TokenNotice {
        message: format!(
            "A new token for {} is issued; the old one no longer works.",
            team.name
        ),
        token: Some(token),
    };
    let mut resp = render_team_with(&ctx, &browser, &name, None, Some(notice)).await?;
    let own = browser.team.as_ref().is_some_and(|t| t.id() == team.id);
    if own {
        // The session was tied to the old token: sign this browser in with the new one.
        resp.add_cookie(&login_cookie(&req, ctx.session_key(), &team))
            .map_err(ApiError::internal)?;
    }
    Ok(resp)
}

pub async fn revoke(
    ctx: web::Data<AppContext>,
    browser: Browser,
    req: HttpRequest,
    name: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let result = async {
        let team = allowed(&ctx, &browser, &name, &form.csrf).await?;
        revoke_token(&ctx, team.id).await
    }
    .await;
    let team = match result {
        Ok(team) => team,
        Err(e) => return refused(&ctx, &browser, &name, e).await,
    };
    tracing::info!(team = %team.name, "token revoked from the team page");
    if browser.team.as_ref().is_some_and(|t| t.id() == team.id) {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .cookie(logout_cookie(&req))
            .finish());
    }
    let notice = TokenNotice {
        message: format!("The token of {} is revoked.", team.name),
        token: None,
    };
    render_team_with(&ctx, &browser, &name, None, Some(notice)).await
}
