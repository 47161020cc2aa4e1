//! `GET /api/v1/competitions/{slug}/leaderboard[?format=csv&board=detection|creation]`.

use crate::admin::competition;
use crate::admission;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::domain::CompetitionMode;
use arena::entities::competitions;
use arena::evaluation;
use arena::rules::BoardPolicy;
use arena::scoring::{self, BoardInput, Leaderboard};
use arena::time::now_ms;
use serde::Deserialize;
use std::fmt::Write;

#[derive(Deserialize)]
pub struct Query {
    format: Option<String>,
    board: Option<String>,
    round: Option<i32>,
}

/// A competition's boards: live mode over everything; rounds mode for one round (default the
/// current one), the creation board provisional until that round's detection phase closes.
pub struct Boards {
    pub board: Leaderboard,
    pub round: Option<i32>,
    pub provisional: bool,
}

/// Computes a competition's boards.
pub async fn boards(
    ctx: &AppContext,
    comp: &competitions::Model,
    round: Option<i32>,
) -> Result<Boards, ApiError> {
    if admission::mode(comp)? == CompetitionMode::Live {
        let input = evaluation::board_input(ctx.db(), comp.id).await?;
        return Ok(Boards {
            board: policy_compute(comp, &input)?,
            round: None,
            provisional: false,
        });
    }
    let view = evaluation::view(ctx.db(), comp.id).await?;
    let Some(k) = round.or_else(|| evaluation::current_round(&view, now_ms())) else {
        return Ok(Boards {
            board: Leaderboard::default(),
            round: None,
            provisional: false,
        });
    };
    let (det_input, creation_input, provisional) =
        evaluation::round_boards(ctx.db(), comp.id, k).await?;
    let detection = policy_compute(comp, &det_input)?.detection;
    let creation = policy_compute(comp, &creation_input)?.creation;
    Ok(Boards {
        board: Leaderboard {
            detection,
            creation,
        },
        round: Some(k),
        provisional,
    })
}

/// Applies the competition's board policy: each team's best row, or its last submission's.
fn policy_compute(comp: &competitions::Model, input: &BoardInput) -> Result<Leaderboard, ApiError> {
    if admission::settings(comp)?.board == BoardPolicy::Best {
        return Ok(scoring::compute(input));
    }
    let mut last = input.clone();
    let keep_last = |items: Vec<(String, i64)>| -> Vec<i64> {
        let mut by_team: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        for (team, id) in items {
            let e = by_team.entry(team).or_insert(id);
            *e = (*e).max(id);
        }
        by_team.into_values().collect()
    };
    let dets = keep_last(
        input
            .detectors
            .iter()
            .map(|d| (d.team.clone(), d.submission_id))
            .collect(),
    );
    last.detectors.retain(|d| dets.contains(&d.submission_id));
    let subs = keep_last(
        input
            .creations
            .iter()
            .map(|c| (c.team.clone(), c.submission_id))
            .collect(),
    );
    last.creations.retain(|c| subs.contains(&c.submission_id));
    Ok(scoring::compute(&last))
}

pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    let boards = boards(&ctx, &comp, q.round).await?;
    let lb = &boards.board;
    match q.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(serde_json::json!({
            "competition": comp.slug,
            "mode": comp.mode,
            "round": boards.round,
            "provisional": boards.provisional,
            "detection": lb.detection,
            "creation": lb.creation,
            "ratings": [],
        }))),
        Some("csv") => {
            let csv = match q.board.as_deref() {
                None | Some("detection") => detection_csv(lb),
                Some("creation") => creation_csv(lb),
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
