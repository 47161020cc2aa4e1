//! `GET /api/openapi.json`: the OpenAPI document generated from the handlers.

use super::Document;
use actix_web::{HttpResponse, web};

pub async fn get(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0)
}
