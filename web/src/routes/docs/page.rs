//! `GET /api/docs`: the API's operations listed from the OpenAPI JSON (no external assets).

use super::Document;
use crate::error::ApiError;
use crate::routes::pages::{Nav, PageError, render};
use crate::session::Browser;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::Value;

pub struct Operation {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub auth: bool,
    pub parameters: Vec<String>,
    pub responses: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    nav: Nav,
    title: String,
    operations: Vec<Operation>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The operations of an OpenAPI document, in path order.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        let Some(methods) = item.as_object() else {
            continue;
        };
        for (method, op) in methods {
            let parameters = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{} ({})", text(&p["name"]), text(&p["in"])))
                .collect();
            let responses = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(code, r)| (code.clone(), text(&r["description"])))
                .collect();
            out.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                auth: op["security"].as_array().is_some_and(|s| !s.is_empty()),
                parameters,
                responses,
            });
        }
    }
    out
}

pub async fn get(browser: Browser, doc: web::Data<Document>) -> Result<HttpResponse, PageError> {
    let doc: Value = serde_json::from_str(doc.0).map_err(ApiError::internal)?;
    let page = DocsPage {
        nav: Nav::of(&browser),
        title: text(&doc["info"]["title"]),
        operations: operations(&doc),
    };
    render(&page, &browser)
}
