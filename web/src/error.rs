//! The API's error type: a status, a stable snake_case `code` and a message for humans.
//! A 5xx never carries internals: those go to the log with the request id.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;

pub mod codes;
pub use codes::Code;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 `rate_limited`).
    pub retry_after_s: Option<u64>,
}

/// The error code of a response, kept in its extensions for the middleware that counts
/// upload refusals by code ([`crate::observe`]).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with a registered code, answered with the code's status.
    pub fn of(code: Code, message: impl Into<String>) -> ApiError {
        ApiError::new(code.status(), code.as_str(), message)
    }
    /// An error with a code that arrives as text (from `arena` or the worker; registered in
    /// [`codes`] too) or a status of the caller's choosing.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::of(Code::PayloadTooLarge, message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    /// Logs the cause and answers a bare 500.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::of(Code::Internal, "internal error; it has been logged")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_s {
            resp.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        let mut resp = resp.json(ErrorBody {
            code: self.code,
            message: &self.message,
        });
        resp.extensions_mut().insert(ErrorCode(self.code));
        resp
    }
}

impl From<arena::RepoError> for ApiError {
    fn from(e: arena::RepoError) -> Self {
        match e {
            arena::RepoError::NotFound(what) => {
                ApiError::of(Code::NotFound, format!("{what} not found"))
            }
            arena::RepoError::Conflict(msg) => ApiError::of(Code::Conflict, msg),
            other => ApiError::internal(other),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(e)
    }
}

impl From<arena::storage::StorageError> for ApiError {
    fn from(e: arena::storage::StorageError) -> Self {
        ApiError::internal(e)
    }
}

impl From<arena::evaluation::EvaluationError> for ApiError {
    fn from(e: arena::evaluation::EvaluationError) -> Self {
        ApiError::internal(e)
    }
}

/// Answers actix's own extractor errors (bad JSON body, path, query or form) in our shape,
/// each with its own stable code.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::of(Code::BadRequest, err.to_string()).into()
}

pub fn path_error_handler(
    err: actix_web::error::PathError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    // A path segment of the wrong type or range (e.g. an id past i64) names nothing that exists.
    ApiError::of(
        Code::NotFound,
        format!("no resource at {}: {err}", req.path()),
    )
    .into()
}

pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::of(Code::InvalidQuery, err.to_string()).into()
}

pub fn form_error_handler(
    err: actix_web::error::UrlencodedError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::of(Code::InvalidForm, err.to_string()).into()
}
