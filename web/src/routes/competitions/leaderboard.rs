//! `GET /api/v1/competitions/{slug}/leaderboard[?format=csv&board=detection|creation]`.

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::ApiError;
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

pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    let boards = arena::boards::compute(ctx.db(), &comp, q.round).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(&boards)),
        Some("csv") => {
            let csv = match q.board.as_deref() {
                None | Some("detection") => detection_csv(&boards),
                Some("creation") => creation_csv(&boards),
                Some("ratings") => ratings_csv(&boards),
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

fn detection_csv(lb: &Boards) -> String {
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

fn creation_csv(lb: &Boards) -> String {
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
