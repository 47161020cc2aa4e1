//! `GET /rate/{slug}`: the fake the rater is to rate now (the least-rated one it has not rated,
//! see `arena::human_rating::pick_next`) with the rating form, or a thank-you when none is left.

use super::rater_of;
use crate::context::AppContext;
use crate::routes::pages::{Nav, PageError, login_redirect, render};
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use arena::repo;
use askama::Template;

pub struct AxisView {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
}

/// The five axes with the questions DFGC-2022 asked its raters.
pub fn axes() -> Vec<AxisView> {
    let axis = |name, label, help| AxisView { name, label, help };
    vec![
        axis(
            "realism",
            "Realism",
            "does it look like a real, unedited video?",
        ),
        axis(
            "quality",
            "Quality",
            "sharpness, no blur, blocks or flicker",
        ),
        axis(
            "expression",
            "Expression",
            "does the face follow the target's expressions?",
        ),
        axis(
            "mouth",
            "Mouth",
            "lips, teeth and speech movements look natural",
        ),
        axis(
            "identity",
            "Identity",
            "does the face look like the donor identity?",
        ),
    ]
}

#[derive(Template)]
#[template(path = "rate.html")]
struct RatePage {
    nav: Nav,
    slug: String,
    title: String,
    csrf: String,
    /// When the current fake was assigned (ms): names the assignment without naming the fake.
    assignment: Option<i64>,
    axes: Vec<AxisView>,
    rated: usize,
    per_video: u32,
}

pub async fn get(
    ctx: web::Data<AppContext>,
    browser: Browser,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    if browser.team.is_none() {
        return Ok(login_redirect(&format!("/rate/{slug}")));
    }
    let (comp, rater) = rater_of(&ctx, &browser, &slug).await?;
    let per_video = arena::boards::settings(&comp)?.ratings_per_video.max(1);
    let video = repo::video_ratings::assign(ctx.db(), &rater, per_video).await?;
    let assignment = match video {
        Some(_) => repo::video_ratings::find_rater(ctx.db(), comp.id, rater.team_id)
            .await?
            .and_then(|r| r.assigned_at_ms),
        None => None,
    };
    let rated = repo::video_ratings::list(ctx.db(), comp.id)
        .await?
        .iter()
        .filter(|r| r.rater_id == rater.team_id)
        .count();
    let page = RatePage {
        nav: Nav::of(&browser),
        slug: comp.slug.clone(),
        title: comp.title.clone(),
        csrf: browser.csrf().to_owned(),
        assignment,
        axes: axes(),
        rated,
        per_video,
    };
    render(&page, &browser)
}
