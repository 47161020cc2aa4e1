//! `POST /admin/phases` (form: `csrf`, `competition`, `kind`, `round`, `opens_at`, `closes_at`;
//! times as `YYYY-MM-DDTHH:MM` in UTC, what a `datetime-local` input sends): add a phase.

use super::{Done, organizer, respond};
use crate::admin::{PhaseSpec, add_phase, competition};
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::PageError;
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct PhaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    competition: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    round: String,
    #[serde(default)]
    opens_at: String,
    #[serde(default)]
    closes_at: String,
}

/// A UTC time from a `datetime-local` field, in ms since the epoch.
pub fn parse_utc(raw: &str, what: &str) -> Result<i64, ApiError> {
    let raw = raw.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(raw, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            ApiError::of(
                Code::InvalidPhase,
                format!("{what} {raw:?} is not a time like 2026-12-01T09:00 (UTC)"),
            )
        })
}

async fn accept(ctx: &AppContext, browser: &Browser, form: &PhaseForm) -> Result<Done, ApiError> {
    organizer(browser, &form.csrf)?;
    let comp = competition(ctx, form.competition.trim()).await?;
    let round =
        form.round.trim().parse().map_err(|_| {
            ApiError::of(Code::InvalidPhase, "the round must be a whole number ≥ 1")
        })?;
    let spec = PhaseSpec {
        kind: form.kind.clone(),
        round,
        opens_at_ms: parse_utc(&form.opens_at, "the opening time")?,
        closes_at_ms: parse_utc(&form.closes_at, "the closing time")?,
    };
    let p = add_phase(ctx, &comp, &spec).await?;
    Ok(Done::said(format!(
        "Phase {} {} added to {}.",
        p.kind, p.round, comp.slug
    )))
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    form: web::Form<PhaseForm>,
) -> Result<HttpResponse, PageError> {
    let result = accept(&ctx, &browser, &form).await;
    respond(&ctx, &browser, result).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_utc;

    #[test]
    fn datetime_local_values_are_utc() {
        // 2026-12-01 09:30 UTC = 1 796 117 400 s after the epoch.
        assert_eq!(
            parse_utc("2026-12-01T09:30", "t").unwrap(),
            1_796_117_400_000
        );
        assert_eq!(
            parse_utc("2026-12-01T09:30:15", "t").unwrap(),
            1_796_117_415_000
        );
        assert!(parse_utc("tomorrow", "t").is_err());
    }
}
