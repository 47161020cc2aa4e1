//! `POST /rate/{slug}` (form: `csrf`, `assignment`, and `realism`, `quality`, `expression`,
//! `mouth`, `identity`, each 1–5): stores the rater's rating of its current fake, then back to
//! `/rate/{slug}` for the next. A form for a fake no longer shown (another tab rated it) is 409
//! `stale_rating`; values outside 1–5 are 400 `invalid_rating`; nothing is stored on a refusal.

use super::rater_of;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::routes::pages::{Nav, PageError, error_page};
use crate::session::Browser;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use arena::repo;
use arena::repo::video_ratings::AxisValues;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct RatingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    assignment: String,
    #[serde(default)]
    realism: String,
    #[serde(default)]
    quality: String,
    #[serde(default)]
    expression: String,
    #[serde(default)]
    mouth: String,
    #[serde(default)]
    identity: String,
}

fn value(axis: &str, raw: &str) -> Result<i16, ApiError> {
    raw.trim()
        .parse::<i16>()
        .ok()
        .filter(|v| (1..=5).contains(v))
        .ok_or_else(|| ApiError::of(Code::InvalidRating, format!("{axis} must be 1 to 5")))
}

impl RatingForm {
    fn values(&self) -> Result<AxisValues, ApiError> {
        Ok(AxisValues {
            realism: value("realism", &self.realism)?,
            quality: value("quality", &self.quality)?,
            expression: value("expression", &self.expression)?,
            mouth: value("mouth", &self.mouth)?,
            identity: value("identity", &self.identity)?,
        })
    }
}

fn stale() -> ApiError {
    ApiError::of(
        Code::StaleRating,
        "this fake is no longer the one shown to you; reload the rating page",
    )
}

async fn accept(
    ctx: &AppContext,
    browser: &Browser,
    slug: &str,
    form: &RatingForm,
) -> Result<(), ApiError> {
    let (comp, rater) = rater_of(ctx, browser, slug).await?;
    browser.check_csrf(Some(&form.csrf))?;
    let values = form.values()?;
    let (Some(video_id), Some(shown)) = (rater.current_video_id, rater.assigned_at_ms) else {
        return Err(stale());
    };
    if form.assignment.trim() != shown.to_string() {
        return Err(stale());
    }
    let fakes = repo::video_ratings::rateable_fakes(ctx.db(), comp.id).await?;
    let submission = *fakes.get(&video_id).ok_or_else(stale)?;
    repo::video_ratings::rate(ctx.db(), &rater, video_id, submission, values)
        .await
        .map_err(|e| match e {
            arena::RepoError::Conflict(_) => stale(),
            other => other.into(),
        })?;
    tracing::info!(competition = %comp.slug, rater = rater.team_id, "fake rated");
    crate::admin::announce(ctx, comp.id);
    Ok(())
}

pub async fn post(
    ctx: web::Data<AppContext>,
    browser: Browser,
    slug: web::Path<String>,
    form: web::Form<RatingForm>,
) -> Result<HttpResponse, PageError> {
    match accept(&ctx, &browser, &slug, &form).await {
        Ok(()) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/rate/{slug}")))
            .finish()),
        Err(e) => Ok(error_page(&e, Nav::of(&browser))),
    }
}
