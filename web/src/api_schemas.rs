//! The schemas the handlers' `#[utoipa::path]` annotations name (errors, events, uploads). Apart
//! from [`crate::openapi`], which lists the handlers: the handlers import these, and the document
//! imports the handlers, so the two halves must not be one module (no circle).

use utoipa::ToSchema;

/// Every error: a stable snake_case `code` and a message for humans.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document only: never built or read"
)]
pub struct ErrorDoc {
    /// One of the registered codes (`x-error-codes` says what each means and its status).
    code: crate::error::Code,
    message: String,
}

/// One live event: the `data:` of each event of the stream (its `id:` is `id`).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document only: never built or read"
)]
pub struct EventDoc {
    id: i64,
    /// `submission`, `scores`, `phase_closed`, `ratings_imported`, …
    kind: String,
    competition_id: i64,
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    at_ms: i64,
}

/// A creation upload.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document only: never built or read"
)]
pub struct CreationUpload {
    /// One video (mp4, mov, mkv, webm) or a zip of `<task_id>.<ext>` videos.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The task a single video answers (rounds mode).
    task: Option<String>,
}

/// A detector upload.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document only: never built or read"
)]
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
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document only: never built or read"
)]
pub struct VideoUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A task: its target clip, id, round and donor identity.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document only: never built or read"
)]
pub struct TaskUpload {
    #[schema(value_type = String, format = Binary)]
    target: Vec<u8>,
    /// 1–64 letters, digits, '_' or '-'.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    task_id: String,
    #[schema(minimum = 1, maximum = 2147483647)]
    round: i32,
    donor: String,
    /// Optional: a clip of the donor identity, the reference of the DFGC-2021 ID term (stored as
    /// a target-kind upload: never scored, never shown to teams).
    #[schema(value_type = Option<String>, format = Binary)]
    donor_reference: Option<Vec<u8>>,
}
