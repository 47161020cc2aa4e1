//! `GET /teams/{name}`: a team's public history of valid submissions; on your own team's page,
//! everything you sent (failures with their reasons) and the upload forms.

use super::{Nav, PageError, render_with};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::session::Browser;
use crate::views;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use arena::repo;
use askama::Template;
use std::collections::HashMap;

pub struct HistoryRow {
    pub id: i64,
    pub competition: String,
    pub kind: String,
    pub status: String,
    pub created: String,
    pub error: String,
}

/// A creation task the team can answer now, with its target clip's download link.
pub struct TaskRow {
    pub competition: String,
    pub task_id: String,
    pub round: i32,
    pub donor: String,
    pub url: String,
}

pub struct CompetitionOption {
    pub slug: String,
    pub title: String,
}

/// Which upload form a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Detector,
    Creation,
    Token,
}

/// What a token form did, shown above it (a new token is shown this once).
pub struct TokenNotice {
    pub message: String,
    pub token: Option<String>,
}

/// The outcome of a form post, shown above its form.
pub struct Flash {
    pub form: FormKind,
    pub error: ApiError,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    nav: Nav,
    name: String,
    role: String,
    baseline: bool,
    own: bool,
    may_detect: bool,
    may_create: bool,
    csrf: String,
    competitions: Vec<CompetitionOption>,
    history: Vec<HistoryRow>,
    max_model: String,
    max_manifest: String,
    max_video: String,
    detector_error: Option<String>,
    creation_error: Option<String>,
    /// The team itself or an organizer: the token forms are shown.
    may_manage_token: bool,
    token_error: Option<String>,
    token_notice: Option<TokenNotice>,
    /// The open tasks of every competition (the team's own page, creator teams).
    tasks: Vec<TaskRow>,
}

/// The tasks of every competition's opened creation rounds, as the tasks API lists them.
async fn open_tasks(ctx: &AppContext, admin: bool) -> Result<Vec<TaskRow>, ApiError> {
    let mut out = Vec::new();
    for comp in repo::competitions::list(ctx.db()).await? {
        let rounds = crate::routes::tasks::list::visible_rounds(ctx, &comp, admin).await?;
        for t in repo::tasks::list(ctx.db(), comp.id).await? {
            if rounds.as_ref().is_some_and(|r| !r.contains(&t.round)) {
                continue;
            }
            out.push(TaskRow {
                url: format!("/c/{}/tasks/{}/target", comp.slug, t.task_id),
                competition: comp.slug.clone(),
                task_id: t.task_id,
                round: t.round,
                donor: t.donor_identity,
            });
        }
    }
    Ok(out)
}

/// A form error in plain words.
pub fn plain(e: &ApiError) -> String {
    let lead = match e.status.as_u16() {
        401 => "Please log in again.",
        403 => "Not allowed.",
        404 => "Not found.",
        409 => "Not accepted now.",
        413 => "The file is too large.",
        415 => "That file type is not accepted.",
        429 => "Your team has used its submissions for now.",
        500..=599 => "Something went wrong on our side; it has been logged.",
        _ => "The upload was refused.",
    };
    format!("{lead} {} ({})", e.message, e.code)
}

async fn history(ctx: &AppContext, team_id: i64, own: bool) -> Result<Vec<HistoryRow>, ApiError> {
    let slugs: HashMap<i64, String> = repo::competitions::list(ctx.db())
        .await?
        .into_iter()
        .map(|c| (c.id, c.slug))
        .collect();
    Ok(repo::submissions::list_for_team(ctx.db(), team_id)
        .await?
        .into_iter()
        .filter(|s| {
            // The public sees a team's valid game entries only.
            own || (matches!(s.kind.as_str(), "creation" | "detector")
                && !matches!(s.status.as_str(), "failed" | "disqualified"))
        })
        .map(|s| HistoryRow {
            id: s.id,
            competition: slugs.get(&s.competition_id).cloned().unwrap_or_default(),
            kind: s.kind,
            status: s.status,
            created: views::time(s.created_at_ms),
            error: if own {
                s.error_message.unwrap_or_default()
            } else {
                String::new()
            },
        })
        .collect())
}

/// Renders the team page, with a form's error when there is one (and its status).
pub async fn render_team(
    ctx: &AppContext,
    browser: &Browser,
    name: &str,
    flash: Option<Flash>,
) -> Result<HttpResponse, PageError> {
    render_team_with(ctx, browser, name, flash, None).await
}

/// [`render_team`], with what a token form did.
pub async fn render_team_with(
    ctx: &AppContext,
    browser: &Browser,
    name: &str,
    flash: Option<Flash>,
    token_notice: Option<TokenNotice>,
) -> Result<HttpResponse, PageError> {
    let team = repo::teams::find_by_name(ctx.db(), name)
        .await?
        .ok_or_else(|| ApiError::of(Code::TeamNotFound, format!("no team {name:?}")))?;
    // A registration waiting for approval (or turned down) is not a team yet.
    let admin = browser.team.as_ref().is_some_and(|t| t.is_admin());
    if team.status != arena::domain::TeamStatus::Approved.as_str() && !admin {
        return Err(ApiError::of(Code::TeamNotFound, format!("no team {name:?}")).into());
    }
    let role = repo::teams::role(&team)?;
    let own = browser.team.as_ref().is_some_and(|t| t.id() == team.id);
    let limits = &ctx.settings().limits;
    let competitions = repo::competitions::list(ctx.db())
        .await?
        .into_iter()
        .map(|c| CompetitionOption {
            slug: c.slug,
            title: c.title,
        })
        .collect();
    let status = flash.as_ref().map_or(StatusCode::OK, |f| f.error.status);
    let error_for = |kind: FormKind| {
        flash
            .as_ref()
            .filter(|f| f.form == kind)
            .map(|f| plain(&f.error))
    };
    let page = TeamPage {
        nav: Nav::of(browser),
        name: team.name.clone(),
        role: role.as_str().to_owned(),
        baseline: team.is_baseline,
        own,
        may_detect: role.may_detect(),
        may_create: role.may_create(),
        csrf: browser.csrf().to_owned(),
        competitions,
        history: history(ctx, team.id, own).await?,
        max_model: views::bytes(limits.max_model_bytes),
        max_manifest: views::bytes(limits.max_manifest_bytes),
        max_video: views::bytes(limits.max_video_bytes),
        detector_error: error_for(FormKind::Detector),
        creation_error: error_for(FormKind::Creation),
        may_manage_token: own || admin,
        token_error: error_for(FormKind::Token),
        token_notice,
        tasks: if own && role.may_create() {
            open_tasks(ctx, team.is_admin).await?
        } else {
            Vec::new()
        },
    };
    render_with(status, &page, browser)
}

pub async fn get(
    ctx: web::Data<AppContext>,
    browser: Browser,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render_team(&ctx, &browser, &name, None).await
}

/// `GET /c/{slug}/tasks/{task_id}/target`: a task's target clip for a signed-in browser (the team
/// page's task links), under the same rules as the API's download.
pub async fn task_target(
    ctx: web::Data<AppContext>,
    browser: Browser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let team = browser.require_team()?;
    let (slug, task_id) = path.into_inner();
    Ok(crate::routes::tasks::target::target(&ctx, team, &slug, &task_id).await?)
}
