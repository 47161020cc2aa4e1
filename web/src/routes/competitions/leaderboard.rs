//! `GET /api/v1/competitions/{slug}/leaderboard[?format=csv&board=detection|creation]`.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::evaluation;
use arena::scoring::{self, Leaderboard};
use serde::Deserialize;
use std::fmt::Write;

#[derive(Deserialize)]
pub struct Query {
    format: Option<String>,
    board: Option<String>,
}

/// Computes a competition's boards.
pub async fn board(ctx: &AppContext, competition_id: i64) -> Result<Leaderboard, ApiError> {
    let input = evaluation::board_input(ctx.db(), competition_id).await?;
    Ok(scoring::compute(&input))
}

pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    let lb = board(&ctx, comp.id).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(serde_json::json!({
            "competition": comp.slug,
            "detection": lb.detection,
            "creation": lb.creation,
            "ratings": [],
        }))),
        Some("csv") => {
            let csv = match q.board.as_deref() {
                None | Some("detection") => detection_csv(&lb),
                Some("creation") => creation_csv(&lb),
                Some(other) => {
                    return Err(ApiError::bad_request(
                        "bad_query",
                        format!("unknown board {other:?}"),
                    ));
                }
            };
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .body(csv))
        }
        Some(other) => Err(ApiError::bad_request(
            "bad_query",
            format!("unknown format {other:?}"),
        )),
    }
}

fn num(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.6}")).unwrap_or_default()
}

fn rank(r: Option<u32>) -> String {
    r.map(|v| v.to_string()).unwrap_or_default()
}

fn detection_csv(lb: &Leaderboard) -> String {
    let mut out = String::from("rank,team,submission,score,pooled_auc,worst_auc,baseline\n");
    for r in &lb.detection {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            rank(r.rank),
            r.team,
            r.submission,
            num(r.score),
            num(r.pooled_auc),
            num(r.worst_auc),
            r.baseline
        );
    }
    out
}

fn creation_csv(lb: &Leaderboard) -> String {
    let mut out = String::from("rank,team,submission,score,anti_detection,baseline\n");
    for r in &lb.creation {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            rank(r.rank),
            r.team,
            r.submission,
            num(r.score),
            num(r.anti_detection),
            r.baseline
        );
    }
    out
}
