//! `POST /api/v1/competitions/{slug}/phases/advance` (admin): close the open phase now and open
//! the next one now — the organizer's "end this phase" button. The close is processed at once
//! (what it brings into scope is enqueued).

use crate::admin::competition;
use crate::auth::AuthTeam;
use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use arena::evaluation::{self, EnqueuePolicy};
use arena::repo;
use arena::time::now_ms;

/// Closes the open phase now and opens the next one (organizers).
#[utoipa::path(post, path = "/api/v1/competitions/{slug}/phases/advance", tag = "organizers",
    security(("bearer" = [])), params(("slug" = String, Path, description = "competition slug")),
    responses((status = 200, description = "`{closed, opened}`", body = serde_json::Value),
        (status = 401, description = "`missing_token`, `invalid_token`", body = crate::openapi::ErrorDoc),
        (status = 403, description = "`admin_only`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn post(
    ctx: web::Data<AppContext>,
    caller: AuthTeam,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let comp = competition(&ctx, &slug).await?;
    let now = now_ms();
    let phases = repo::phases::list(ctx.db(), comp.id).await?;
    let open = phases
        .iter()
        .position(|p| p.opens_at_ms <= now && now < p.closes_at_ms);
    let next_index = match open {
        Some(i) => {
            repo::phases::set_window(ctx.db(), phases[i].id, phases[i].opens_at_ms, now).await?;
            i + 1
        }
        None => phases
            .iter()
            .position(|p| p.opens_at_ms > now)
            .unwrap_or(phases.len()),
    };
    let policy = EnqueuePolicy {
        score_batch_videos: ctx.settings().evaluation.score_batch_videos,
        max_attempts: ctx.settings().queue.max_attempts,
    };
    evaluation::process_due_phase_closes(ctx.db(), policy).await?;
    let opened = match phases.get(next_index) {
        Some(next) => {
            let closes = next.closes_at_ms.max(now + 1);
            repo::phases::set_window(ctx.db(), next.id, now, closes).await?;
            Some(format!(
                "{}{}",
                if next.kind == "creation" { 'C' } else { 'D' },
                next.round
            ))
        }
        None => None,
    };
    let closed = open.map(|i| {
        format!(
            "{}{}",
            if phases[i].kind == "creation" {
                'C'
            } else {
                'D'
            },
            phases[i].round
        )
    });
    Ok(HttpResponse::Ok().json(serde_json::json!({ "closed": closed, "opened": opened })))
}
