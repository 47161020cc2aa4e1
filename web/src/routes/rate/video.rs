//! `GET /rate/{slug}/video`: the fake currently assigned to the logged-in rater, and no other
//! video, with HTTP Range support (one byte range → 206 with `Content-Range`; an unsatisfiable
//! one → 416 `range_not_satisfiable`; no or a multi-range header → the whole file, 200) so the
//! `<video>` element can seek. Refusals are JSON: 401 `login_required`, 403 `not_a_rater`,
//! 404 `nothing_to_rate` when no fake is assigned.

use super::rater_of;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::session::Browser;
use actix_web::http::header::{self, Header, Range};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use arena::repo;

fn content_type(container: &str) -> &'static str {
    if container.contains("webm") || container.contains("matroska") {
        "video/webm"
    } else {
        "video/mp4"
    }
}

/// The one byte range asked for, end-inclusive, within `len` bytes: Ok(None) for the whole
/// file (no header, a multi-range or unparsable one: RFC 9110 lets a server ignore Range),
/// Err when a single range lies outside the file.
fn requested_range(req: &HttpRequest, len: u64) -> Result<Option<(u64, u64)>, ()> {
    match Range::parse(req) {
        Ok(Range::Bytes(specs)) if specs.len() == 1 => {
            specs[0].to_satisfiable_range(len).map(Some).ok_or(())
        }
        _ => Ok(None),
    }
}

pub async fn get(
    ctx: web::Data<AppContext>,
    browser: Browser,
    req: HttpRequest,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, rater) = rater_of(&ctx, &browser, &slug).await?;
    let nothing = || ApiError::of(Code::NothingToRate, "no fake is assigned to you now");
    let video_id = rater.current_video_id.ok_or_else(nothing)?;
    let video = repo::videos::find(ctx.db(), video_id)
        .await?
        .ok_or_else(nothing)?;
    let bytes = ctx.storage().get(&video.storage_key).await?;
    let len = bytes.len() as u64;
    let (mut resp, body) = match requested_range(&req, len) {
        Ok(None) => (HttpResponse::Ok(), bytes),
        Ok(Some((start, end))) => {
            let mut r = HttpResponse::PartialContent();
            r.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")));
            let (start, end) = (usize::try_from(start), usize::try_from(end));
            let (Ok(start), Ok(end)) = (start, end) else {
                return Err(ApiError::internal("range beyond memory"));
            };
            (r, bytes.slice(start..=end))
        }
        Err(()) => {
            let mut refused = ApiError::of(
                Code::RangeNotSatisfiable,
                format!("the video has {len} bytes"),
            )
            .error_response();
            if let Ok(v) = header::HeaderValue::from_str(&format!("bytes */{len}")) {
                refused.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(refused);
        }
    };
    Ok(resp
        .content_type(content_type(&video.container))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(body))
}
