//! `POST /api/v1/competitions/{slug}/ratings` (admin, body `text/csv`): import human ratings
//! `creation,axis,value` (creation = a creation submission id; axis realism | quality |
//! expression | mouth | identity on a 1–5 scale, or `id`, the DFGC-2021 ID term in [0, 1]).
//! The import replaces the competition's ratings; a bad line refuses the whole file.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::domain::SubmissionKind;
use arena::repo;
use arena::repo::human_ratings::AXES;
use sea_orm::TransactionTrait;
use std::collections::HashSet;

/// Parses the CSV; errors name the line.
pub fn parse(text: &str, creations: &HashSet<i64>) -> Result<Vec<(i64, String, f64)>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, header)) if header.trim().replace(' ', "") == "creation,axis,value" => {}
        _ => return Err("line 1: the header must be `creation,axis,value`".to_owned()),
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [creation, axis, value] = cols[..] else {
            return Err(format!("line {n}: expected 3 columns"));
        };
        let sub: i64 = creation
            .parse()
            .map_err(|_| format!("line {n}: creation {creation:?} is not a submission id"))?;
        if !creations.contains(&sub) {
            return Err(format!(
                "line {n}: {sub} is not a creation of this competition"
            ));
        }
        if !AXES.contains(&axis) {
            return Err(format!(
                "line {n}: unknown axis {axis:?} (expected one of {})",
                AXES.join(", ")
            ));
        }
        let v: f64 = value
            .parse()
            .map_err(|_| format!("line {n}: value {value:?} is not a number"))?;
        let (lo, hi) = if axis == "id" { (0.0, 1.0) } else { (1.0, 5.0) };
        if !v.is_finite() || v < lo || v > hi {
            return Err(format!("line {n}: {axis} must be within [{lo}, {hi}]"));
        }
        rows.push((sub, axis.to_owned(), v));
    }
    Ok(rows)
}

/// Imports human ratings (organizers): CSV `creation,axis,value`, replacing the previous import.
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/ratings", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "`{imported}`", body = serde_json::Value),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc),
        (status = 422, description = "`invalid_ratings`", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::unprocessable("invalid_ratings", "the CSV is not UTF-8"))?;
    let creations: HashSet<i64> = repo::submissions::list_for_competition(ctx.db(), comp.id)
        .await?
        .into_iter()
        .filter(|s| s.kind == SubmissionKind::Creation.as_str())
        .map(|s| s.id)
        .collect();
    let rows =
        parse(text, &creations).map_err(|m| ApiError::unprocessable("invalid_ratings", m))?;
    let txn = ctx.db().begin().await?;
    repo::human_ratings::replace_all(&txn, comp.id, &rows).await?;
    repo::events::append(
        &txn,
        comp.id,
        "ratings_imported",
        &serde_json::json!({ "rows": rows.len() }),
    )
    .await?;
    txn.commit().await?;
    ctx.live().wake();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "imported": rows.len() })))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse;

    #[test]
    fn ratings_csv() {
        let subs = [7].into_iter().collect();
        let rows = parse("creation,axis,value\n7,realism,4.5\n7,id,0.25\n", &subs).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            parse("creation,axis,value\n8,realism,4\n", &subs)
                .unwrap_err()
                .contains("line 2")
        );
        assert!(
            parse("creation,axis,value\n7,beauty,4\n", &subs)
                .unwrap_err()
                .contains("unknown axis")
        );
        assert!(
            parse("creation,axis,value\n7,realism,6\n", &subs)
                .unwrap_err()
                .contains("[1, 5]")
        );
        assert!(parse("a,b,c\n", &subs).is_err());
    }
}
