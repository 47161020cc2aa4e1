//! The OpenAPI description of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations into one [`ApiDoc`] (served at `/api/openapi.json`).

use crate::routes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error: a stable snake_case `code` and a message for humans.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDoc {
    /// e.g. `invalid_token`, `wrong_role`, `invalid_manifest`, `quota_exceeded`, `internal`.
    code: String,
    message: String,
}

/// A creation upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CreationUpload {
    /// One video (mp4, mov, mkv, webm) or a zip of `<task_id>.<ext>` videos.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The task a single video answers (rounds mode).
    task: Option<String>,
}

/// A detector upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DetectorUpload {
    /// The ONNX model.
    #[schema(value_type = String, format = Binary)]
    model: Vec<u8>,
    /// `manifest.toml` (see the README's detector manifest).
    #[schema(value_type = String, format = Binary)]
    manifest: Vec<u8>,
}

/// A video upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VideoUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A task: its target clip, id, round and donor identity.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TaskUpload {
    #[schema(value_type = String, format = Binary)]
    target: Vec<u8>,
    task_id: String,
    round: i32,
    donor: String,
}

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
        routes::competitions::events::get,
        routes::creations::post::post,
        routes::detectors::post::post,
        routes::submissions::get::get,
        routes::submissions::delete::delete,
        routes::teams::token_post::post,
        routes::teams::token_delete::delete,
        routes::tasks::list::get,
        routes::tasks::post::post,
        routes::tasks::target::get,
        routes::admin::teams_post::post,
        routes::admin::reals_post::post,
        routes::admin::ratings_post::post,
        routes::admin::submission_rerun_post::post,
        routes::admin::submission_disqualify_post::post,
        routes::admin::submission_requalify_post::post,
        routes::phases::post::post,
        routes::phases::advance::post,
    ),
    components(schemas(ErrorDoc, CreationUpload, DetectorUpload, VideoUpload, TaskUpload)),
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
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    });
    &JSON
}
