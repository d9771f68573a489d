//! Segments.ai answers (segments.md §6, §8.1): Django REST Framework bodies, `{"detail": …}` or
//! field errors `{"field": ["…"]}`, worded so the official SDK's substring rules classify them
//! as the real server's (e.g. "not found" → `NotFoundError`, "already exists" →
//! `AlreadyExistsError`, "do not have permission" → `AuthorizationError`).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

/// A JSON response.
pub(crate) fn json_response(status: u16, value: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 200 with a JSON body.
pub(crate) fn ok(value: &Value) -> Response {
    json_response(200, value)
}

/// 201 with a JSON body (creations, §1.7).
pub(crate) fn created(value: &Value) -> Response {
    json_response(201, value)
}

/// 204 with an empty body (deletions).
pub(crate) fn no_content() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// `{"detail": message}` with `status`.
pub(crate) fn detail(status: u16, message: impl Into<String>) -> Response {
    json_response(status, &json!({"detail": message.into()}))
}

/// DRF's 404: unknown objects, invisible datasets and unroutable paths alike.
pub(crate) fn not_found() -> Response {
    detail(404, "Not found.")
}

/// DRF's 404 for a page past the end.
pub(crate) fn invalid_page() -> Response {
    detail(404, "Invalid page.")
}

/// 403: the dataset is visible but the caller's role does not allow the operation.
pub(crate) fn forbidden() -> Response {
    detail(403, "You do not have permission to perform this action.")
}

/// 401 without (usable) credentials.
pub(crate) fn no_credentials() -> Response {
    detail(401, "Authentication credentials were not provided.")
}

/// 401 for an unknown API key.
pub(crate) fn invalid_token() -> Response {
    detail(401, "Invalid token.")
}

/// 405 for a method a matched route does not serve.
pub(crate) fn method_not_allowed(method: &str) -> Response {
    detail(405, format!("Method \"{method}\" not allowed."))
}

/// 400 with a plain `detail` (malformed bodies).
pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    detail(400, message)
}

/// 400 with a DRF field error `{"field": ["message"]}` (validation, duplicates).
pub(crate) fn field_error(field: &str, message: impl Into<String>) -> Response {
    json_response(400, &json!({ field: [message.into()] }))
}

/// DRF's throttle answer: "Request was throttled. Expected available in N seconds." with
/// `status` (429, or 2xx for a throttle notice the SDK turns into `APILimitError`).
pub(crate) fn throttled(status: u16, retry_after_secs: f64) -> Response {
    let wait = retry_after_secs.max(0.0).ceil() as u64;
    let unit = if wait == 1 { "second" } else { "seconds" };
    detail(
        status,
        format!("Request was throttled. Expected available in {wait} {unit}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(r: Response) -> String {
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(b.to_vec()).unwrap().to_lowercase()
    }

    #[tokio::test]
    async fn bodies_carry_the_phrases_the_sdk_classifies_by() {
        assert!(text(not_found()).await.contains("not found"));
        assert!(text(invalid_page()).await.contains("invalid page"));
        assert!(text(forbidden()).await.contains("do not have permission"));
        assert!(text(no_credentials())
            .await
            .contains("authentication credentials were not provided"));
        let t = throttled(429, 2.5);
        assert_eq!(t.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(text(t)
            .await
            .contains("throttled. expected available in 3 seconds"));
        assert!(text(throttled(200, 1.0)).await.contains("in 1 second."));
        let f = field_error("name", "Dataset with this name already exists.");
        assert_eq!(f.status(), StatusCode::BAD_REQUEST);
        assert!(text(f).await.contains("already exists"));
    }
}
