//! `GET /c/{slug}`: the detection and creation boards, the ratings with interval bars and the
//! phases with countdowns, from the boards cache; an inline script keeps them live over SSE.
//! The "hardest fakes" (those that fooled the most detectors at their thresholds) are computed
//! per request.

use super::{Nav, PageError, render};
use crate::admin::competition;
use crate::context::AppContext;
use crate::session::Browser;
use crate::views::{self, CreationView, DetectionView, PhaseView, RatingView};
use actix_web::{HttpResponse, web};
use askama::Template;

#[derive(Template)]
#[template(path = "competition.html")]
struct CompetitionPage {
    nav: Nav,
    slug: String,
    title: String,
    mode: String,
    preset: String,
    round: Option<i32>,
    provisional: bool,
    /// `public` or `private` when the competition splits its videos (`arena::split`).
    part: Option<&'static str>,
    revealed: bool,
    preset_fallback: Option<String>,
    real_videos: usize,
    computed_at: String,
    phases: Vec<PhaseView>,
    detection: Vec<DetectionView>,
    creation: Vec<CreationView>,
    ratings: Vec<RatingView>,
    bar_width: f64,
    hardest: Vec<HardestView>,
}

/// A fake of the "hardest fakes" table.
struct HardestView {
    video: i64,
    creation: i64,
    team: String,
    fooled: usize,
    judged: usize,
}

pub async fn get(
    ctx: web::Data<AppContext>,
    browser: Browser,
    slug: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let comp = competition(&ctx, &slug).await?;
    let snap = ctx.live().cache().get(ctx.db(), &comp).await?;
    let b = &snap.boards;
    let hardest = arena::boards::hardest_fakes(ctx.db(), &comp)
        .await?
        .into_iter()
        .map(|(f, team)| HardestView {
            video: f.video,
            creation: f.creation,
            team,
            fooled: f.fooled.len(),
            judged: f.judged,
        })
        .collect();
    let page = CompetitionPage {
        nav: Nav::of(&browser),
        slug: comp.slug.clone(),
        title: comp.title.clone(),
        mode: comp.mode.clone(),
        preset: comp.preset.clone(),
        round: b.round,
        provisional: b.provisional,
        part: (b.part != arena::split::Part::All).then(|| b.part.as_str()),
        revealed: b.part == arena::split::Part::Private,
        preset_fallback: b.preset_fallback.clone(),
        real_videos: snap.real_videos,
        computed_at: views::time(snap.computed_at_ms),
        phases: views::phases(&snap.phases, arena::time::now_ms()),
        detection: views::detection(b),
        creation: views::creation(b),
        ratings: views::ratings(b),
        bar_width: views::BAR_WIDTH,
        hardest,
    };
    render(&page, &browser)
}
