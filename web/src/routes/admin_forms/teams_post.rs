//! `POST /admin/teams` (form: `csrf`, `name`, `role`, `baseline`): create an approved team; its
//! token is shown on the page once.

use super::{Done, Issued, organizer, respond};
use crate::admin::{TeamSpec, create_team};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::PageError;
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use arena::domain::Role;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    /// A checkbox: present (any value) when ticked.
    #[serde(default)]
    baseline: Option<String>,
}

async fn accept(ctx: &AppContext, browser: &Browser, form: &TeamForm) -> Result<Done, ApiError> {
    organizer(browser, &form.csrf)?;
    let role = Role::parse_team(form.role.trim())
        .ok_or_else(|| ApiError::of(Code::InvalidRole, "role must be creator, detector or both"))?;
    let spec = TeamSpec {
        name: form.name.trim().to_owned(),
        role,
        admin: false,
        baseline: form.baseline.is_some(),
    };
    let (team, token) = create_team(ctx, &spec).await?;
    Ok(Done {
        message: format!("Team {} ({}) created.", team.name, team.role),
        issued: Some(Issued {
            team: team.name,
            token,
        }),
    })
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    form: web::Form<TeamForm>,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, &form).await;
    respond(&ctx, &browser, result).await
}
