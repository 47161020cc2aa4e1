//! `GET /api/v1/competitions/{slug}/events`: the competition's events as `text/event-stream`
//! (`id:` = event id; `Last-Event-ID` replays what came after it; keep-alive comments).

use crate::admin::competition;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::live::sse;
use actix_web::{HttpRequest, HttpResponse, http::header, web};

/// The `Last-Event-ID` a reconnecting client sends (absent: live events only).
fn last_event_id(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get("Last-Event-ID") else {
        return Ok(None);
    };
    // An EventSource sends the header only with an id; an empty one is not an id either.
    let text = value.to_str().unwrap_or_default().trim();
    text.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::of(Code::BadLastEventId, "Last-Event-ID must be an event id"))
}

/// Live events as `text/event-stream`: `id:` is the event id, `data:` its JSON
/// (`{id, kind, competition_id, payload, at_ms}`, kinds `submission`, `scores`, `phase_closed`,
/// `ratings_imported`); `Last-Event-ID` replays what came after it; `: keep-alive` every 15 s.
#[utoipa::path(get, path = "/api/v1/competitions/{slug}/events", tag = "boards",
    params(("slug" = String, Path, description = "competition slug"),
        ("Last-Event-ID" = Option<i64>, Header, description = "resume after this event id")),
    responses((status = 200, description = "the event stream: each event's `data:` is one JSON event", content_type = "text/event-stream", body = crate::openapi::EventDoc),
        (status = 400, description = "`bad_last_event_id`", body = crate::openapi::ErrorDoc),
        (status = 404, description = "`competition_not_found`", body = crate::openapi::ErrorDoc)))]
pub async fn get(
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let comp = competition(&ctx, &slug).await?;
    let after = last_event_id(&req)?;
    let body = sse::stream(ctx.live(), ctx.db().clone(), comp.id, after);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
