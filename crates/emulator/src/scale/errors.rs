//! Scale v1 error bodies (scale.md §5.1): `{"status_code": <n>, "error": "<message>"}` with the
//! matching HTTP status.

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
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// 200 with a JSON body: Scale v1 answers 200 to every success, creations included.
pub(crate) fn ok(value: &Value) -> Response {
    json_response(200, value)
}

/// An error response in Scale's shape.
pub(crate) fn error(status: u16, message: impl Into<String>) -> Response {
    json_response(
        status,
        &json!({"status_code": status, "error": message.into()}),
    )
}

/// 400.
pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    error(400, message)
}

/// 401 for a missing or unknown key.
pub(crate) fn unauthorized() -> Response {
    error(
        401,
        "Unauthorized: please provide a valid API key (HTTP Basic auth with the key as user name).",
    )
}

/// 404.
pub(crate) fn not_found(message: impl Into<String>) -> Response {
    error(404, message)
}

/// 409.
pub(crate) fn conflict(message: impl Into<String>) -> Response {
    error(409, message)
}

/// The documented 404 of an unknown task id.
pub(crate) fn task_not_found() -> Response {
    not_found("Task with that ID not found.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_status_code_and_message() {
        let r = error(409, "dup");
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let r = task_not_found();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
