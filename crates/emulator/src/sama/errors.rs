//! Sama error bodies (§6.1): `{"errors": [{"type": <status or name>, "message": "..."}]}`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

/// `type` of an error item: the HTTP status or a symbolic name.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub(crate) enum ErrorType {
    Status(u16),
    Name(&'static str),
}

/// One element of an `errors` array.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct ErrorItem {
    #[serde(rename = "type")]
    pub kind: ErrorType,
    pub message: String,
}

impl ErrorItem {
    /// A record that does not match the project schema.
    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        ErrorItem {
            kind: ErrorType::Name("InvalidInputSchema"),
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: &'a [ErrorItem],
}

/// A JSON response with a precomputed body.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An error response whose item type is the numeric status.
pub(crate) fn error(status: u16, message: impl Into<String>) -> Response {
    error_items(
        status,
        &[ErrorItem {
            kind: ErrorType::Status(status),
            message: message.into(),
        }],
    )
}

/// An error response with the given items.
pub(crate) fn error_items(status: u16, items: &[ErrorItem]) -> Response {
    let body = serde_json::to_vec(&ErrorBody { errors: items }).unwrap_or_default();
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

/// The documented 401 body.
pub(crate) fn not_authorized() -> Response {
    error(401, "Not authorized.")
}

pub(crate) fn not_found(message: impl Into<String>) -> Response {
    error(404, message)
}

pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    error(400, message)
}

/// 405 with an `Allow` header listing the methods of that path.
pub(crate) fn method_not_allowed(allow: &[&str]) -> Response {
    let mut r = error(405, "Method Not Allowed");
    if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

/// 429 of the documented multi-task-status rate limit.
pub(crate) fn rate_limited(retry_after_secs: u64) -> Response {
    let mut r = error(429, "Rate limit exceeded: at most 1 call per second");
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_types_serialize_as_number_or_name() {
        let items = [
            ErrorItem {
                kind: ErrorType::Status(401),
                message: "Not authorized.".into(),
            },
            ErrorItem::invalid_input("bad"),
        ];
        let v = serde_json::to_value(ErrorBody { errors: &items }).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errors": [
                {"type": 401, "message": "Not authorized."},
                {"type": "InvalidInputSchema", "message": "bad"}
            ]})
        );
    }
}
