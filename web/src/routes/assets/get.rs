//! `GET /static/{name}`: one of the pages' scripts or style sheet.

use crate::error::{ApiError, Code};
use actix_web::{HttpResponse, http::header, web};

/// The files under web/static, by name, with their content type.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "arena.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/arena.css"),
    ),
    (
        "board.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/board.js"),
    ),
    (
        "submission.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/submission.js"),
    ),
    (
        "team.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/team.js"),
    ),
];

pub async fn get(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name.as_str()) else {
        return Err(ApiError::of(Code::NotFound, "no such file"));
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(*body))
}
