//! The OpenAPI description of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations into one [`ApiDoc`] (served at `/api/openapi.json`).

use crate::routes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use crate::api_schemas::{
    CreationUpload, DetectorUpload, ErrorDoc, EventDoc, TaskUpload, VideoUpload,
};

/// Declares the `Authorization: Bearer <token>` scheme the annotated routes refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Deepfake Arena",
        description = "Creators submit face-swap videos, detectors submit ONNX models; every pair is scored and the boards are live. Errors are `{\"code\", \"message\"}` with a stable snake_case code."
    ),
    paths(
        routes::health::get,
        routes::health::ready,
        routes::metrics::get,
        routes::competitions::list::get,
        routes::competitions::post::post,
        routes::competitions::get::get,
        routes::competitions::leaderboard::get,
        routes::competitions::matrix::get,
        routes::competitions::detector::get,
        routes::competitions::scores_csv::get,
        routes::competitions::reveal::post,
        routes::competitions::release::get,
        routes::competitions::events::get,
        routes::creations::post::post,
        routes::detectors::post::post,
        routes::submissions::get::get,
        routes::submissions::delete::delete,
        routes::submissions::final_put::put,
        routes::submissions::note_put::put,
        routes::teams::token_post::post,
        routes::teams::delete::delete,
        routes::competitions::delete::delete,
        routes::teams::token_delete::delete,
        routes::teams::webhook::get,
        routes::teams::webhook::put,
        routes::teams::webhook::delete,
        routes::tasks::list::get,
        routes::tasks::post::post,
        routes::tasks::target::get,
        routes::admin::teams_post::post,
        routes::admin::reals_post::post,
        routes::admin::ratings_post::post,
        routes::raters::post::post,
        routes::raters::agreement::get,
        routes::admin::submission_rerun_post::post,
        routes::admin::submission_disqualify_post::post,
        routes::admin::submission_requalify_post::post,
        routes::phases::post::post,
        routes::phases::advance::post,
    ),
    components(schemas(ErrorDoc, crate::error::Code, EventDoc, CreationUpload, DetectorUpload, VideoUpload, TaskUpload)),
    modifiers(&BearerAuth),
    tags(
        (name = "competitions", description = "Competitions and their phases"),
        (name = "boards", description = "Leaderboards, the AUC matrix and live events"),
        (name = "submissions", description = "Creations and detectors"),
        (name = "tasks", description = "Creation tasks (rounds mode)"),
        (name = "teams", description = "A team's token: rotate and revoke"),
        (name = "organizers", description = "Organizer-only set-up"),
        (name = "health", description = "Liveness"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static JSON: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
            Ok(doc) => doc,
            Err(e) => return format!("{{\"error\": \"{e}\"}}"),
        };
        add_common_responses(&mut doc);
        add_error_codes(&mut doc);
        name_operations(&mut doc);
        doc.to_string()
    });
    &JSON
}

/// The answers every operation of a kind can give, whatever its handler: added here once rather
/// than repeated in each `#[utoipa::path]` (where they were forgotten). An operation that takes a
/// token can be refused it (401) and rate limited for failed tokens (429); one with path
/// parameters can name nothing (404); one with a query or a JSON body can send a malformed one
/// (400). A description already written by the handler is kept.
fn add_common_responses(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDoc"}}}
        })
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let secured = op.get("security").is_some();
            let params: Vec<String> = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter_map(|p| p.get("in").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let json_body = op
                .pointer("/requestBody/content/application~1json")
                .is_some();
            let multipart = op
                .pointer("/requestBody/content/multipart~1form-data")
                .is_some();
            // A query or header parameter is text: "null" is not a value it can be absent by.
            if let Some(ps) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for p in ps {
                    if let Some(types) = p.pointer_mut("/schema/type").and_then(Value::as_array_mut)
                    {
                        types.retain(|t| t != "null");
                        if types.len() == 1 {
                            let only = types[0].clone();
                            p["schema"]["type"] = only;
                        }
                    }
                }
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            // An event stream's schema describes one event (`id`, `event`, `data`), whose `data`
            // is JSON of the documented type.
            for response in responses.values_mut() {
                if let Some(media) = response.pointer_mut("/content/text~1event-stream")
                    && let Some(data) = media.get("schema").cloned()
                {
                    media["schema"] = json!({
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "id": {"type": "string"},
                            "event": {"type": "string"},
                            "retry": {"type": "integer"},
                            "data": {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "contentSchema": data,
                            },
                        },
                    });
                }
            }
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description));
            };
            if secured {
                add("401", "`missing_token`, `invalid_token`");
                add(
                    "429",
                    "`rate_limited`: too many failed tokens from this address (`Retry-After`)",
                );
            }
            if params.iter().any(|p| p == "path") {
                add("404", "`not_found`: nothing at this path");
            }
            if params.iter().any(|p| p == "query") {
                add("400", "`invalid_query`");
            }
            if json_body {
                add("400", "`bad_request`: the JSON body is malformed");
            }
            if multipart {
                add(
                    "400",
                    "`bad_multipart`: not a multipart form; `unexpected_field`: a field it does not take",
                );
                add(
                    "415",
                    "`unsupported_media`: the file is not of a kind this upload takes",
                );
            }
        }
    }
    // A form with a field it does not take is refused (`unexpected_field`).
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in [
            "CreationUpload",
            "DetectorUpload",
            "VideoUpload",
            "TaskUpload",
        ] {
            if let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) {
                schema.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
        }
    }
}

/// The error-code registry in the document: `x-error-codes` (each code's status and meaning),
/// the `ErrorCode` schema's `x-enum-descriptions` (read by client generators), and on each error
/// response the registered codes its description names (`x-error-codes`).
fn add_error_codes(doc: &mut serde_json::Value) {
    use crate::error::Code;
    use serde_json::{Value, json};
    let table: serde_json::Map<String, Value> = Code::ALL
        .iter()
        .map(|c| {
            let entry = json!({"status": c.status().as_u16(), "description": c.meaning()});
            (c.as_str().to_owned(), entry)
        })
        .collect();
    doc["x-error-codes"] = Value::Object(table);
    if let Some(schema) = doc.pointer_mut("/components/schemas/ErrorCode") {
        let meanings: Vec<&str> = Code::ALL.iter().map(|c| c.meaning()).collect();
        schema["x-enum-descriptions"] = json!(meanings);
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|rs| rs.iter_mut())
        .filter(|(status, _)| status.starts_with('4') || status.starts_with('5'));
    for (_, response) in responses {
        let named = codes_named(response["description"].as_str().unwrap_or_default());
        response["x-error-codes"] = json!(named);
    }
}

/// Names each operation by its method and path (`get_competitions_slug_leaderboard`): utoipa
/// names it by its handler function, and the handlers are `get`, `post`, … in their own modules,
/// so the names repeated, which a client generator refuses (operation ids must be unique).
fn name_operations(doc: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let words: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
            .map(|s| {
                s.chars()
                    .filter(|c| !matches!(c, '{' | '}'))
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect()
            })
            .collect();
        for (method, op) in item.iter_mut() {
            if let Some(op) = op.as_object_mut() {
                let id = format!("{method}_{}", words.join("_"));
                op.insert("operationId".to_owned(), Value::String(id));
            }
        }
    }
}

/// The registered codes a response's description names in backticks, in order.
pub fn codes_named(description: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for quoted in description.split('`').skip(1).step_by(2) {
        if let Some(code) = crate::error::Code::parse(quoted)
            && !out.contains(&code.as_str())
        {
            out.push(code.as_str());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Each JSON request body is its own component (four handlers' `Body` structs once shared
    /// one name, so every operation was documented with the last one's fields).
    #[test]
    fn each_json_body_is_documented_with_its_own_schema() {
        let doc: Value = serde_json::from_str(super::json()).unwrap_or_default();
        for (path, schema, field) in [
            ("/api/v1/competitions", "CompetitionCreate", "slug"),
            ("/api/v1/teams", "TeamCreate", "name"),
            (
                "/api/v1/competitions/{slug}/phases",
                "PhaseCreate",
                "opens_at_ms",
            ),
            (
                "/api/admin/submissions/{id}/disqualify",
                "DisqualifyRequest",
                "reason",
            ),
        ] {
            let body = &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"];
            assert_eq!(
                body["schema"]["$ref"],
                format!("#/components/schemas/{schema}"),
                "{path}"
            );
            let props = &doc["components"]["schemas"][schema]["properties"];
            assert!(
                props.get(field).is_some(),
                "{schema} lacks {field}: {props}"
            );
        }
        let webhook = &doc["paths"]["/api/v1/teams/{name}/webhook"]["put"]["requestBody"]["content"]
            ["application/json"]["schema"]["$ref"];
        assert_eq!(webhook, "#/components/schemas/WebhookSet");
        let props = &doc["components"]["schemas"]["WebhookSet"]["properties"];
        assert!(
            props.get("url").is_some() && props.get("secret").is_some(),
            "{props}"
        );
        for (path, schema, field) in [
            ("/api/v1/submissions/{id}/final", "FinalPick", "final"),
            ("/api/v1/submissions/{id}/note", "SubmissionNote", "note"),
        ] {
            let body = &doc["paths"][path]["put"]["requestBody"]["content"]["application/json"];
            assert_eq!(
                body["schema"]["$ref"],
                format!("#/components/schemas/{schema}"),
                "{path}"
            );
            let props = &doc["components"]["schemas"][schema]["properties"];
            assert!(
                props.get(field).is_some(),
                "{schema} lacks {field}: {props}"
            );
        }
        let note = &doc["components"]["schemas"]["SubmissionNote"]["properties"]["note"];
        assert_eq!(note["maxLength"], 280, "{note}");
        let competition = &doc["components"]["schemas"]["CompetitionCreate"]["properties"];
        assert!(competition.get("opens_at_ms").is_none());
    }

    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                out.push((format!("{} {path}", method.to_uppercase()), op));
            }
        }
        out
    }

    /// `schema` with its `$ref` followed.
    fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => schema,
        }
    }

    /// A schema a client generator can type: an object with named properties, an array of
    /// such, or a string enum; never `{}` or a bare `object`.
    fn is_typed(doc: &Value, schema: &Value) -> bool {
        let schema = resolve(doc, schema);
        if schema["type"] == "array" {
            return is_typed(doc, &schema["items"]);
        }
        let named = schema["properties"]
            .as_object()
            .is_some_and(|p| !p.is_empty());
        let all_of = schema["allOf"]
            .as_array()
            .is_some_and(|parts| !parts.is_empty() && parts.iter().all(|p| is_typed(doc, p)));
        named || all_of || schema["enum"].is_array()
    }

    /// Every 2xx JSON answer of every operation has a typed schema (issue 14: no
    /// `serde_json::Value` bodies), so a generated client gets types.
    #[test]
    fn every_success_json_response_is_typed() {
        let doc: Value = serde_json::from_str(super::json()).unwrap_or_default();
        let ops = operations(&doc);
        assert!(ops.len() >= 35, "only {} operations", ops.len());
        let mut untyped = Vec::new();
        let mut typed = 0;
        for (name, op) in ops {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if !status.starts_with('2') {
                    continue;
                }
                let Some(media) = response.pointer("/content/application~1json") else {
                    continue;
                };
                if is_typed(&doc, &media["schema"]) {
                    typed += 1;
                } else {
                    untyped.push(format!("{name} {status}: {}", media["schema"]));
                }
            }
        }
        assert!(untyped.is_empty(), "untyped success bodies: {untyped:#?}");
        let mut ids = std::collections::HashSet::new();
        for (name, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && ids.insert(id.to_owned()),
                "{name}: {id:?} repeated"
            );
        }
        assert!(typed >= 30, "only {typed} typed JSON answers");
    }

    /// The registry and the document agree: `ErrorCode` is the registry's string enum (with a
    /// description for each), `x-error-codes` gives each code's status and meaning, and
    /// `ErrorDoc.code` is an `ErrorCode`.
    #[test]
    fn error_codes_in_the_document_are_the_registry() {
        use crate::error::Code;
        let doc: Value = serde_json::from_str(super::json()).unwrap_or_default();
        let names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        let schema = &doc["components"]["schemas"]["ErrorCode"];
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(listed, names, "ErrorCode enum: {schema}");
        let meanings = schema["x-enum-descriptions"].as_array().map(Vec::len);
        assert_eq!(meanings, Some(names.len()));
        let table = doc["x-error-codes"].as_object();
        assert_eq!(table.map(|t| t.len()), Some(names.len()));
        for code in Code::ALL {
            let entry = &doc["x-error-codes"][code.as_str()];
            assert_eq!(entry["status"], code.status().as_u16(), "{}", code.as_str());
            assert_eq!(entry["description"], code.meaning());
        }
        let code = &doc["components"]["schemas"]["ErrorDoc"]["properties"]["code"];
        assert_eq!(code["$ref"], "#/components/schemas/ErrorCode", "{code}");
    }

    /// Each documented error status of each operation names the codes it answers with, each a
    /// registered code of that status (listed again in the response's `x-error-codes`).
    #[test]
    fn every_error_response_names_registered_codes_of_its_status() {
        use crate::error::Code;
        let doc: Value = serde_json::from_str(super::json()).unwrap_or_default();
        let mut wrong = Vec::new();
        for (name, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let codes: Vec<&str> = response["x-error-codes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if codes.is_empty() {
                    wrong.push(format!("{name} {status}: names no code"));
                }
                for code in codes {
                    let registered = Code::parse(code).map(|c| c.status().as_u16().to_string());
                    if registered.as_deref() != Some(status.as_str()) {
                        wrong.push(format!(
                            "{name} {status}: `{code}` is registered {registered:?}"
                        ));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
