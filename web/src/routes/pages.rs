//! Server-rendered pages (askama): the competitions list and a competition's boards.

use crate::admin::competition as find_competition;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use askama::Template;

struct CompetitionLink {
    slug: String,
    title: String,
    mode: String,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    competitions: Vec<CompetitionLink>,
}

/// A board row formatted for display (empty cells while a number is pending).
struct DetectionView {
    rank: String,
    team: String,
    submission: i64,
    score: String,
    pooled_auc: String,
    worst_auc: String,
    progress: String,
    baseline: bool,
}

struct CreationView {
    rank: String,
    team: String,
    submission: i64,
    score: String,
    anti_detection: String,
    detectors: usize,
    videos: usize,
    baseline: bool,
}

#[derive(Template)]
#[template(path = "competition.html")]
struct CompetitionPage {
    slug: String,
    title: String,
    real_videos: usize,
    detection: Vec<DetectionView>,
    creation: Vec<CreationView>,
}

fn fmt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "…".to_owned())
}

fn fmt_rank(r: Option<u32>) -> String {
    r.map(|v| v.to_string()).unwrap_or_else(|| "–".to_owned())
}

fn html(page: &impl Template) -> Result<HttpResponse, ApiError> {
    let body = page.render().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub async fn index(ctx: web::Data<AppContext>) -> Result<HttpResponse, ApiError> {
    let competitions = arena::repo::competitions::list(ctx.db())
        .await?
        .into_iter()
        .map(|c| CompetitionLink {
            slug: c.slug,
            title: c.title,
            mode: c.mode,
        })
        .collect();
    html(&IndexPage { competitions })
}

pub async fn competition(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let comp = find_competition(&ctx, &slug).await?;
    let input = arena::evaluation::board_input(ctx.db(), comp.id).await?;
    let lb = arena::boards::compute(ctx.db(), &comp, None).await?;
    let detection = lb
        .detection
        .into_iter()
        .map(|r| DetectionView {
            rank: fmt_rank(r.rank),
            team: r.team,
            submission: r.submission,
            score: fmt(r.score),
            pooled_auc: fmt(r.pooled_auc),
            worst_auc: fmt(r.worst_auc),
            progress: format!("{}/{}", r.videos_scored, r.videos_total),
            baseline: r.baseline,
        })
        .collect();
    let creation = lb
        .creation
        .into_iter()
        .map(|r| CreationView {
            rank: fmt_rank(r.rank),
            team: r.team,
            submission: r.submission,
            score: fmt(r.score),
            anti_detection: fmt(r.anti_detection),
            detectors: r.detectors_scored,
            videos: r.videos,
            baseline: r.baseline,
        })
        .collect();
    html(&CompetitionPage {
        slug: comp.slug,
        title: comp.title,
        real_videos: input.real_video_ids.len(),
        detection,
        creation,
    })
}
