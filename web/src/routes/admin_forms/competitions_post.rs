//! `POST /admin/competitions` (form: `csrf`, `slug`, `title`, `mode`, `preset`, `board`,
//! `daily_limit`, `total_limit`, `eligibility_min_auc`): create a competition.

use super::{Done, organizer, respond};
use crate::admin::{CompetitionSpec, create_competition, parse_mode, parse_preset};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::PageError;
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use arena::rules::{BoardPolicy, CompetitionSettings};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct CompetitionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    preset: String,
    #[serde(default)]
    board: String,
    #[serde(default)]
    daily_limit: String,
    #[serde(default)]
    total_limit: String,
    #[serde(default)]
    eligibility_min_auc: String,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::of(Code::InvalidSettings, message)
}

/// An optional number field: empty means not set.
fn optional<T: std::str::FromStr>(raw: &str, what: &str) -> Result<Option<T>, ApiError> {
    match raw.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| invalid(format!("{what} {v:?} is not a valid number"))),
    }
}

/// The settings the form offers (the others keep their defaults).
fn settings(form: &CompetitionForm) -> Result<CompetitionSettings, ApiError> {
    let board = match form.board.trim() {
        "" | "best" => BoardPolicy::Best,
        "last" => BoardPolicy::Last,
        other => return Err(invalid(format!("board {other:?} must be best or last"))),
    };
    let eligibility: Option<f64> = optional(&form.eligibility_min_auc, "eligibility AUC")?;
    if eligibility.is_some_and(|a| !(0.0..=1.0).contains(&a)) {
        return Err(invalid("the eligibility AUC must be within [0, 1]"));
    }
    Ok(CompetitionSettings {
        board,
        daily_limit: optional(&form.daily_limit, "daily limit")?,
        total_limit: optional(&form.total_limit, "total limit")?,
        eligibility_min_auc: eligibility,
        ..CompetitionSettings::default()
    })
}

async fn accept(
    ctx: &AppContext,
    browser: &Browser,
    form: &CompetitionForm,
) -> Result<Done, ApiError> {
    organizer(browser, &form.csrf)?;
    let spec = CompetitionSpec {
        slug: form.slug.trim().to_owned(),
        title: form.title.clone(),
        mode: parse_mode(Some(&form.mode))?,
        preset: parse_preset(Some(&form.preset))?,
        settings: settings(form)?,
    };
    let comp = create_competition(ctx, &spec).await?;
    Ok(Done::said(format!(
        "Competition {} ({}) created.",
        comp.slug, comp.mode
    )))
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    form: web::Form<CompetitionForm>,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, &form).await;
    respond(&ctx, &browser, result).await
}
