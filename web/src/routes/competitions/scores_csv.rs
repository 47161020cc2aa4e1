//! `GET /api/v1/competitions/{slug}/scores.csv[?round=k&board=detection|creation]` (organizers):
//! the (detector, video) scores behind a board, in the CSV `arena score --input` reads, so an
//! organizer can recompute and check every number of the board offline.

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, web};
use arena::boards::BoardScope;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Query {
    round: Option<i32>,
    board: Option<String>,
}

/// The pair scores of a board (organizers): `detector,creation,video,label,score`.
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/scores.csv", tag = "organizers",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "competition slug"),
        ("round" = Option<i32>, Query, description = "rounds mode: the round (default the current one)"),
        ("board" = Option<String>, Query, pattern = "^(detection|creation)$", description = "whose scope: `detection` (default) or `creation` (they differ in rounds mode)")),
    responses((status = 200, description = "CSV `detector,creation,video,label,score`: detectors and creations named `<team>#<submission>`, videos `video-<id>`, label 1 = fake, an empty score = the detector failed on the video", body = String, content_type = "text/csv"),
        (status = 400, description = "`bad_query`", body = crate::openapi::ErrorDoc),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let scope = match q.board.as_deref() {
        None | Some("detection") => BoardScope::Detection,
        Some("creation") => BoardScope::Creation,
        Some(other) => {
            return Err(ApiError::of(
                Code::BadQuery,
                format!("unknown board {other:?}"),
            ));
        }
    };
    let comp = competition(&ctx, &slug).await?;
    let csv = arena::boards::pairs_csv(ctx.db(), &comp, q.round, scope).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{}-scores.csv\"", comp.slug),
        ))
        .body(csv))
}
