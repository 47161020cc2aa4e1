//! The middleware every request passes through inside the tracing span: the request id echoed
//! in `x-request-id` (and added to 5xx bodies, so a user's report names the log lines), HTTP
//! durations by route pattern and status, and uploads accepted or refused by error code.

use crate::error::{Code, ErrorCode};
use crate::metrics::{HTTP_DURATION, UPLOAD_REFUSALS, UPLOADS_ACCEPTED};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::time::Instant;
use tracing_actix_web::RequestId;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Route pattern label of requests no route matched (keeps the label set bounded).
const UNMATCHED: &str = "unmatched";

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let res = next.call(req).await?.map_into_boxed_body();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let status = res.status();
    metrics::histogram!(HTTP_DURATION,
        "method" => method.as_str().to_owned(),
        "route" => route.clone(),
        "status" => status.as_str().to_owned())
    .record(started.elapsed().as_secs_f64());
    if method == Method::POST && is_upload(&route) {
        count_upload(&res, &route, status);
    }
    let Some(id) = request_id else {
        return Ok(res);
    };
    let mut res = if status.is_server_error() {
        with_request_id_in_body(res, &id).await
    } else {
        res
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(res)
}

/// Routes that receive uploaded files.
fn is_upload(route: &str) -> bool {
    route.starts_with("/forms/")
        || ["/creations", "/detectors", "/reals", "/tasks", "/ratings"]
            .iter()
            .any(|end| route.ends_with(end))
}

fn count_upload(res: &ServiceResponse<BoxBody>, route: &str, status: StatusCode) {
    if status.is_success() {
        metrics::counter!(UPLOADS_ACCEPTED, "route" => route.to_owned()).increment(1);
    } else if status.is_client_error() {
        let code = res
            .response()
            .extensions()
            .get::<ErrorCode>()
            .map_or("other", |c| c.0);
        metrics::counter!(UPLOAD_REFUSALS, "code" => code).increment(1);
    }
}

/// Adds `request_id` to a 5xx JSON error body (`{"code","message","request_id"}`); a body
/// that is not ours is replaced by the generic one.
async fn with_request_id_in_body(
    res: ServiceResponse<BoxBody>,
    id: &str,
) -> ServiceResponse<BoxBody> {
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let mut json = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .filter(|v| v.get("code").is_some())
        .unwrap_or_else(|| {
            serde_json::json!({ "code": Code::Internal.as_str(), "message": "internal error; it has been logged" })
        });
    if let Some(obj) = json.as_object_mut() {
        obj.insert("request_id".to_owned(), serde_json::Value::from(id));
    }
    let text = json.to_string();
    head.headers_mut().remove(CONTENT_LENGTH);
    head.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    ServiceResponse::new(req, head.set_body(BoxBody::new(text)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::error::ApiError;
    use actix_web::{App, HttpResponse, test, web};
    use tracing_actix_web::TracingLogger;

    async fn broken() -> Result<HttpResponse, ApiError> {
        Err(ApiError::internal("the disk caught fire"))
    }

    async fn refused() -> Result<HttpResponse, ApiError> {
        Err(ApiError::bad_request("bad_thing", "no"))
    }

    #[actix_web::test]
    async fn a_500_names_its_request_id_in_the_header_and_the_body() {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(super::observe))
                .wrap(TracingLogger::default())
                .route("/broken", web::get().to(broken))
                .route("/refused", web::get().to(refused)),
        )
        .await;
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/broken").to_request()).await;
        assert_eq!(resp.status(), 500);
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("header");
        let body: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(body["code"], "internal");
        assert_eq!(body["request_id"], id.as_str());
        assert!(!body.to_string().contains("fire"), "no internals: {body}");

        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/refused").to_request()).await;
        assert_eq!(resp.status(), 400);
        assert!(resp.headers().contains_key("x-request-id"));
        let body: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(
            body,
            serde_json::json!({"code": "bad_thing", "message": "no"})
        );
    }
}
