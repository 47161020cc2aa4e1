//! `POST /login` (form: `token`, `csrf`, `next`): checks the token like the API does and sets
//! the session cookie; a wrong token shows the form again with 401; too many attempts from one
//! address get 429 `rate_limited`.

use super::login_get::LoginPage;
use crate::auth::authenticate;
use crate::context::AppContext;
use crate::rate_limit;
use crate::routes::pages::{Nav, PageError, render_with};
use crate::session::{Browser, login_cookie};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    csrf: Option<String>,
    next: Option<String>,
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    browser.check_csrf(form.csrf.as_deref())?;
    // Every attempt counts against the address (a wrong token costs an argon2 check).
    let ip = ctx.rate_limiter().client_ip(&req);
    ctx.rate_limiter()
        .auth
        .take(&ip)
        .map_err(|wait| rate_limit::limited("sign-in attempts from your address", wait))?;
    let header_value = format!("Bearer {}", form.token.trim());
    let team = match authenticate(&ctx, Some(&header_value)).await {
        Ok(team) => team,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let page = LoginPage {
                nav: Nav::of(&browser),
                csrf: browser.csrf().to_owned(),
                next: super::safe_next(form.next.as_deref()).unwrap_or_default(),
                error: Some(
                    "That token is not valid. Paste the token printed when your team was created."
                        .to_owned(),
                ),
            };
            return render_with(StatusCode::UNAUTHORIZED, &page, &browser);
        }
        Err(e) => return Err(e.into()),
    };
    let home = home_of(&ctx, &team).await?;
    let next = super::safe_next(form.next.as_deref()).unwrap_or(home);
    tracing::info!(team = %team.team.name, "browser login");
    Ok(HttpResponse::SeeOther()
        .cookie(login_cookie(&req, ctx.session_key(), &team.team))
        .insert_header((header::LOCATION, next))
        .finish())
}

/// Where a login lands without `next`: a rater's rating page (its newest competition), else the
/// team's page.
async fn home_of(ctx: &AppContext, team: &crate::auth::AuthTeam) -> Result<String, PageError> {
    if team.role == arena::domain::Role::Rater {
        for r in arena::repo::video_ratings::enrolments(ctx.db(), team.id()).await? {
            if let Some(c) = arena::repo::competitions::find(ctx.db(), r.competition_id).await? {
                return Ok(format!(
                    "/rate/{}",
                    crate::routes::pages::urlencode(&c.slug)
                ));
            }
        }
    }
    Ok(format!(
        "/teams/{}",
        crate::routes::pages::urlencode(&team.team.name)
    ))
}
