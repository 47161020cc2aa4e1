//! `GET /api/openapi.json`: the OpenAPI document generated from the handlers.

use actix_web::HttpResponse;

pub async fn get() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::json())
}
