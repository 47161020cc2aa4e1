//! `GET /api/v1/competitions/{slug}/leaderboard[?round=k][&format=csv&board=detection|creation|ratings]`.
//! The default round is served from the boards cache (rebuilt after events); an explicit
//! `round` is computed on each request.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::boards::Boards;
use serde::Deserialize;
use std::fmt::Write;

#[derive(Deserialize)]
pub struct Query {
    format: Option<String>,
    board: Option<String>,
    round: Option<i32>,
}

/// The boards: detection, creation and ratings (served from the cache rebuilt on events).
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/leaderboard", tag = "boards",
    params(("slug" = String, Path, description = "competition slug"),
        ("round" = Option<i32>, Query, description = "rounds mode: the round (default the current one)"),
        ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "`json` (default) or `csv`"),
        ("board" = Option<String>, Query, pattern = "^(detection|creation|ratings)$", description = "csv: `detection` (default), `creation` or `ratings`")),
    responses((status = 200, description = "`{competition, mode, round, provisional, preset_fallback, detection, creation, ratings}` (`preset_fallback`: why creations are not ranked by the competition's preset, null when it applies), or CSV",
            content((Boards = "application/json"), (String = "text/csv"))),
        (status = 400, description = "`bad_query`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    // Both are checked whatever the format, so a typo is an error rather than ignored.
    if let Some(other) = q
        .format
        .as_deref()
        .filter(|f| !matches!(*f, "json" | "csv"))
    {
        return Err(ApiError::of(
            Code::BadQuery,
            format!("unknown format {other:?}"),
        ));
    }
    if let Some(other) = q
        .board
        .as_deref()
        .filter(|b| !matches!(*b, "detection" | "creation" | "ratings"))
    {
        return Err(ApiError::of(
            Code::BadQuery,
            format!("unknown board {other:?}"),
        ));
    }
    let comp = competition(&ctx, &slug).await?;
    let (snapshot, computed);
    let boards = match q.round {
        None => {
            snapshot = ctx.live().cache().get(ctx.db(), &comp).await?;
            if matches!(q.format.as_deref(), None | Some("json")) {
                return Ok(HttpResponse::Ok()
                    .content_type("application/json")
                    .body(snapshot.json.clone()));
            }
            &snapshot.boards
        }
        Some(round) => {
            computed = arena::boards::compute(ctx.db(), &comp, Some(round)).await?;
            &computed
        }
    };
    match q.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(boards)),
        Some("csv") => {
            let csv = match q.board.as_deref() {
                None | Some("detection") => detection_csv(boards),
                Some("creation") => creation_csv(boards),
                Some("ratings") => ratings_csv(boards),
                Some(other) => {
                    return Err(ApiError::of(
                        Code::BadQuery,
                        format!("unknown board {other:?}"),
                    ));
                }
            };
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .body(csv))
        }
        Some(other) => Err(ApiError::of(
            Code::BadQuery,
            format!("unknown format {other:?}"),
        )),
    }
}

/// Full precision (the CSV carries the JSON's numbers, not a rounding of them); empty for none.
fn num(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn rank(r: Option<u32>) -> String {
    r.map(|v| v.to_string()).unwrap_or_default()
}

fn flag(b: Option<bool>) -> String {
    b.map(|v| v.to_string()).unwrap_or_default()
}

/// Every field of a detection row of the JSON, in its order.
fn detection_csv(lb: &Boards) -> String {
    let mut out = String::from(
        "rank,team,submission,score,pooled_auc,worst_auc,creations_scored,videos_scored,\
         videos_total,baseline,threshold,incomplete,eligible,final\n",
    );
    for r in &lb.detection {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            rank(r.rank),
            r.team,
            r.submission,
            num(r.score),
            num(r.pooled_auc),
            num(r.worst_auc),
            r.creations_scored,
            r.videos_scored,
            r.videos_total,
            r.baseline,
            num(r.threshold),
            r.incomplete,
            flag(r.eligible),
            r.final_pick
        );
    }
    out
}

/// Every field of a creation row of the JSON, in its order, the per-axis human ratings flattened.
fn creation_csv(lb: &Boards) -> String {
    let mut out = String::from(
        "rank,team,submission,score,anti_detection,detectors_scored,videos,baseline,ssim,id,\
         human,realism,quality,expression,mouth,identity,preset_score,incomplete,final\n",
    );
    for r in &lb.creation {
        let h = r.human_ratings.unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            rank(r.rank),
            r.team,
            r.submission,
            num(r.score),
            num(r.anti_detection),
            r.detectors_scored,
            r.videos,
            r.baseline,
            num(r.ssim),
            num(r.id),
            num(r.human),
            num(h.realism),
            num(h.quality),
            num(h.expression),
            num(h.mouth),
            num(h.identity),
            num(r.preset_score),
            r.incomplete,
            r.final_pick
        );
    }
    out
}

fn ratings_csv(b: &Boards) -> String {
    let mut out =
        String::from("rank,team,role,rating,ci_low,ci_high,matches,wins,glicko,baseline\n");
    for r in &b.ratings {
        let role = serde_json::to_value(r.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{:.2},{:.2},{:.2},{},{},{},{}",
            rank(r.rank),
            r.team,
            role,
            r.rating,
            r.ci_low,
            r.ci_high,
            r.matches,
            r.wins,
            r.glicko.map(|g| format!("{g:.2}")).unwrap_or_default(),
            r.baseline
        );
    }
    out
}
