//! `GET /admin` (admins, logged in): competitions with their phases, teams waiting for approval,
//! the teams, the newest submissions, and the forms that change them.

use super::outcome::Done;
use crate::context::AppContext;
use crate::error::ApiError;
use crate::routes::pages::{Nav, PageError, login_redirect, render_with};
use crate::session::Browser;
use crate::views;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use arena::domain::{CompetitionMode, SubmissionKind, SubmissionStatus, TeamStatus};
use arena::repo;
use askama::Template;
use std::collections::HashMap;

/// Submissions listed on the page.
const RECENT_SUBMISSIONS: u64 = 100;

pub struct PhaseRow {
    pub name: String,
    pub opens: String,
    pub closes: String,
    pub state: &'static str,
}

pub struct CompetitionRow {
    pub slug: String,
    pub title: String,
    pub mode: String,
    pub preset: String,
    pub rounds: bool,
    pub phases: Vec<PhaseRow>,
    /// In-platform human ratings and their agreement, in a line (None before the first).
    pub agreement: Option<String>,
}

pub struct TeamRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub status: String,
    pub admin: bool,
    pub baseline: bool,
    pub created: String,
}

pub struct SubmissionRow {
    pub id: i64,
    pub competition: String,
    pub team: String,
    pub kind: String,
    pub status: String,
    pub created: String,
    pub error: String,
    pub can_rerun: bool,
    pub can_disqualify: bool,
}

/// The outcome of a form, shown above the forms.
pub enum Flash {
    None,
    Done(Done),
    Failed(ApiError),
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    nav: Nav,
    csrf: String,
    ok: Option<String>,
    error: Option<String>,
    error_code: String,
    issued_team: String,
    issued_token: Option<String>,
    competitions: Vec<CompetitionRow>,
    pending: Vec<TeamRow>,
    teams: Vec<TeamRow>,
    submissions: Vec<SubmissionRow>,
    fleet: super::fleet::Fleet,
}

async fn competitions(ctx: &AppContext) -> Result<Vec<CompetitionRow>, ApiError> {
    let now = arena::time::now_ms();
    let mut out = Vec::new();
    for c in repo::competitions::list(ctx.db()).await? {
        let phases = repo::phases::to_rules(&repo::phases::list(ctx.db(), c.id).await?)?
            .into_iter()
            .map(|p| PhaseRow {
                name: p.name(),
                opens: views::time(p.opens_at_ms),
                closes: views::time(p.closes_at_ms),
                state: if p.is_open(now) {
                    "open"
                } else if p.is_closed(now) {
                    "closed"
                } else {
                    "upcoming"
                },
            })
            .collect();
        let agreement = agreement_line(ctx, &c).await?;
        out.push(CompetitionRow {
            agreement,
            rounds: c.mode == CompetitionMode::Rounds.as_str(),
            slug: c.slug,
            title: c.title,
            mode: c.mode,
            preset: c.preset,
            phases,
        });
    }
    Ok(out)
}

/// "N ratings by R raters; α realism 0.41 · quality — · …" (Krippendorff, interval metric).
async fn agreement_line(
    ctx: &AppContext,
    comp: &arena::entities::competitions::Model,
) -> Result<Option<String>, ApiError> {
    let s = crate::routes::raters::agreement::summary(ctx, comp).await?;
    if s.ratings == 0 {
        return Ok(None);
    }
    let alphas: Vec<String> = (s.axes.iter())
        .map(|a| match a.alpha {
            Some(x) => format!("{} {x:.2}", a.axis),
            None => format!("{} —", a.axis),
        })
        .collect();
    Ok(Some(format!(
        "{} ratings by {} raters of {} fakes ({} rated twice or more); Krippendorff's α (interval): {}",
        s.ratings,
        s.raters,
        s.videos_rated,
        s.videos_pairable,
        alphas.join(" · ")
    )))
}

fn team_row(t: arena::entities::teams::Model) -> TeamRow {
    TeamRow {
        id: t.id,
        created: views::time(t.created_at_ms),
        name: t.name,
        role: t.role,
        status: t.status,
        admin: t.is_admin,
        baseline: t.is_baseline,
    }
}

async fn submissions(
    ctx: &AppContext,
    teams: &HashMap<i64, String>,
    slugs: &HashMap<i64, String>,
) -> Result<Vec<SubmissionRow>, ApiError> {
    Ok(repo::submissions::list_recent(ctx.db(), RECENT_SUBMISSIONS)
        .await?
        .into_iter()
        .map(|s| {
            let status = SubmissionStatus::parse(&s.status);
            let game = matches!(
                SubmissionKind::parse(&s.kind),
                Some(SubmissionKind::Creation | SubmissionKind::Detector)
            );
            SubmissionRow {
                id: s.id,
                competition: slugs.get(&s.competition_id).cloned().unwrap_or_default(),
                team: teams.get(&s.team_id).cloned().unwrap_or_default(),
                can_rerun: status == Some(SubmissionStatus::Failed),
                can_disqualify: game && !matches!(status, Some(SubmissionStatus::Disqualified)),
                kind: s.kind,
                status: s.status,
                created: views::time(s.created_at_ms),
                error: s.error_message.unwrap_or_default(),
            }
        })
        .collect())
}

/// Renders the admin page with a form's outcome (its error's status when it failed).
pub async fn render_admin(
    ctx: &AppContext,
    browser: &Browser,
    flash: Flash,
) -> Result<HttpResponse, PageError> {
    let competitions = competitions(ctx).await?;
    let all = repo::teams::list(ctx.db()).await?;
    let names: HashMap<i64, String> = all.iter().map(|t| (t.id, t.name.clone())).collect();
    let slugs: HashMap<i64, String> = repo::competitions::list(ctx.db())
        .await?
        .into_iter()
        .map(|c| (c.id, c.slug))
        .collect();
    let (pending, teams): (Vec<TeamRow>, Vec<TeamRow>) = all
        .into_iter()
        .filter(|t| t.status != TeamStatus::Rejected.as_str())
        .map(team_row)
        .partition(|t| t.status == TeamStatus::Pending.as_str());
    let mut page = AdminPage {
        nav: Nav::of(browser),
        csrf: browser.csrf().to_owned(),
        ok: None,
        error: None,
        error_code: String::new(),
        issued_team: String::new(),
        issued_token: None,
        competitions,
        pending,
        teams,
        submissions: submissions(ctx, &names, &slugs).await?,
        fleet: super::fleet::load(ctx).await?,
    };
    let status = match flash {
        Flash::None => StatusCode::OK,
        Flash::Done(done) => {
            page.ok = Some(done.message);
            if let Some(issued) = done.issued {
                page.issued_team = issued.team;
                page.issued_token = Some(issued.token);
            }
            StatusCode::OK
        }
        Flash::Failed(e) => {
            page.error = Some(format!("{} ({})", e.message, e.code));
            page.error_code = e.code.to_owned();
            e.status
        }
    };
    render_with(status, &page, browser)
}

pub async fn get(ctx: web::Data<AppContext>, browser: Browser) -> Result<HttpResponse, PageError> {
    let Some(caller) = browser.team.as_ref() else {
        return Ok(login_redirect("/admin"));
    };
    caller.require_admin()?;
    render_admin(&ctx, &browser, Flash::None).await
}
