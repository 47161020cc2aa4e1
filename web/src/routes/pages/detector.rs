//! `GET /c/{slug}/detectors/{submission}`: a detector's ROC curve over all fakes in scope against
//! the hidden reals (and one per creation), drawn as server-rendered SVG with the points in a
//! table beside it, its threshold at the competition's false-positive rate, its AUC per creation
//! and the videos it missed most (by video id). Public, like the board, and from the same scores.

use super::{Nav, PageError, render};
use crate::admin::competition;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::session::Browser;
use crate::views::num;
use actix_web::{HttpResponse, web};
use arena::boards::{DetectorPage as Report, detector_page};
use arena::scoring::{Miss, RocPoint};
use askama::Template;
use std::collections::HashMap;

/// Per-creation curves are drawn (each in its own colour) up to this many creations; past it
/// the plot shows the pooled curve only and the table keeps every creation's AUC.
pub const MAX_CREATION_CURVES: usize = 8;

/// Colours of the per-creation curves (the pooled curve is black).
const PALETTE: [&str; MAX_CREATION_CURVES] = [
    "#d9480f", "#1c7ed6", "#2b8a3e", "#ae3ec9", "#e8590c", "#0c8599", "#c2255c", "#5c940d",
];

/// The plot area's side, in SVG units.
const SIDE: f64 = 300.0;

pub struct PointView {
    pub fpr: String,
    pub tpr: String,
}

pub struct CreationView {
    pub submission: i64,
    pub team: String,
    pub auc: String,
    pub incomplete: bool,
    /// `Some(colour)` when its curve is drawn.
    pub color: Option<&'static str>,
    /// SVG `points` in (FPR, TPR) units, empty while pending.
    pub points: String,
}

pub struct MissView {
    pub video: i64,
    /// `team #submission` of the fake's creation (empty for a real).
    pub creation: String,
    pub creation_submission: Option<i64>,
    pub failed: bool,
    /// `yes`, `no` or `…` (no threshold yet).
    pub wrong: &'static str,
}

#[derive(Template)]
#[template(path = "detector.html")]
struct DetectorPage {
    nav: Nav,
    slug: String,
    title: String,
    team: String,
    submission: i64,
    baseline: bool,
    round: Option<i32>,
    /// `public` or `private` when the competition splits its videos (`arena::split`).
    part: Option<&'static str>,
    fpr_percent: String,
    side: f64,
    pooled_auc: String,
    /// SVG `points` of the pooled curve in (FPR, TPR) units; empty while pending.
    pooled_points: String,
    table: Vec<PointView>,
    threshold: String,
    operating: Option<RocPoint>,
    operating_text: String,
    creations: Vec<CreationView>,
    missed_reals: Vec<MissView>,
    missed_fakes: Vec<MissView>,
}

/// `x,y x,y …` at full precision: the page's test integrates these very numbers.
fn svg_points(points: &[RocPoint]) -> String {
    points
        .iter()
        .map(|p| format!("{},{}", p.fpr, p.tpr))
        .collect::<Vec<_>>()
        .join(" ")
}

fn percent(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

fn misses(list: &[Miss], names: &HashMap<i64, String>) -> Vec<MissView> {
    list.iter()
        .map(|m| MissView {
            video: m.video,
            creation: m
                .creation
                .and_then(|c| names.get(&c).cloned())
                .unwrap_or_default(),
            creation_submission: m.creation,
            failed: m.failed,
            wrong: match m.wrong_at_threshold {
                Some(true) => "yes",
                Some(false) => "no",
                None => "…",
            },
        })
        .collect()
}

fn view(r: Report, nav: Nav, slug: String, title: String) -> DetectorPage {
    let report = r.report;
    let draw = report.creations.len() <= MAX_CREATION_CURVES;
    let names: HashMap<i64, String> = (report.creations.iter())
        .map(|c| (c.submission, format!("{} #{}", c.team, c.submission)))
        .collect();
    let creations = (report.creations.iter().enumerate())
        .map(|(i, c)| CreationView {
            submission: c.submission,
            team: c.team.clone(),
            auc: num(c.curve.as_ref().map(|k| k.auc)),
            incomplete: c.incomplete,
            color: (draw && c.curve.is_some()).then(|| PALETTE[i % PALETTE.len()]),
            points: c
                .curve
                .as_ref()
                .map(|k| svg_points(&k.points))
                .unwrap_or_default(),
        })
        .collect();
    let pooled = report.pooled.as_ref();
    DetectorPage {
        nav,
        slug,
        title,
        team: r.team,
        submission: r.submission,
        baseline: r.baseline,
        round: r.round,
        part: (r.part != arena::split::Part::All).then(|| r.part.as_str()),
        fpr_percent: percent(r.fpr),
        side: SIDE,
        pooled_auc: num(pooled.map(|c| c.auc)),
        pooled_points: pooled.map(|c| svg_points(&c.points)).unwrap_or_default(),
        table: pooled
            .map(|c| &c.points[..])
            .unwrap_or_default()
            .iter()
            .map(|p| PointView {
                fpr: format!("{:.4}", p.fpr),
                tpr: format!("{:.4}", p.tpr),
            })
            .collect(),
        threshold: num(report.threshold),
        operating: report.operating_point,
        operating_text: report.operating_point.map_or_else(
            || "…".to_owned(),
            |p| {
                format!(
                    "flags {} of the fakes and {} of the reals",
                    percent(p.tpr),
                    percent(p.fpr)
                )
            },
        ),
        creations,
        missed_reals: misses(&report.missed_reals, &names),
        missed_fakes: misses(&report.missed_fakes, &names),
    }
}

pub async fn get(
    ctx: web::Data<AppContext>,
    browser: Browser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, submission) = path.into_inner();
    let comp = competition(&ctx, &slug).await?;
    let not_found = || {
        ApiError::of(
            Code::DetectorNotFound,
            format!("no detector {submission:?} on the board of {slug:?}"),
        )
    };
    let id: i64 = submission.parse().map_err(|_| not_found())?;
    let report = detector_page(ctx.db(), &comp, id)
        .await?
        .ok_or_else(not_found)?;
    let page = view(
        report,
        Nav::of(&browser),
        comp.slug.clone(),
        comp.title.clone(),
    );
    render(&page, &browser)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_keep_full_precision_and_percentages_read_naturally() {
        let p = [
            RocPoint { fpr: 0.0, tpr: 0.0 },
            RocPoint {
                fpr: 1.0 / 3.0,
                tpr: 0.5,
            },
            RocPoint { fpr: 1.0, tpr: 1.0 },
        ];
        assert_eq!(svg_points(&p), "0,0 0.3333333333333333,0.5 1,1");
        assert_eq!(percent(0.05), "5 %");
        assert_eq!(percent(1.0 / 3.0), "33.3 %");
    }
}
