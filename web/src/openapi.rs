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
    components(schemas(ErrorDoc, EventDoc, CreationUpload, DetectorUpload, VideoUpload, TaskUpload)),
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
}
