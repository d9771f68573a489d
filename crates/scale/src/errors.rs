//! Scale's error signals → [`ErrorKind`].
//!
//! Scale v1 answers errors with `{"status_code": <n>, "error": "<message>"}` and the matching
//! HTTP status. Load balancers in front of the API may answer 5xx with HTML or empty bodies.
//! The HTTP status decides the kind (the official SDK maps statuses onto its exception classes
//! the same way); the body gives the message, and the SDK's exception class name is kept as the
//! vendor code so users can match it against Scale's documentation.

use labelmux_core::transport::{body_snippet, VendorError};
use labelmux_core::ErrorKind;
use serde_json::Value;

/// The SDK's exception class for a status, as the vendor code.
fn sdk_exception(status: u16) -> &'static str {
    match status {
        400 => "ScaleInvalidRequest",
        401 => "ScaleUnauthorized",
        402 => "ScaleNotEnabled",
        404 => "ScaleResourceNotFound",
        409 => "ScaleDuplicateResource",
        429 => "ScaleTooManyRequests",
        500 => "ScaleInternalError",
        503 => "ScaleServiceUnavailable",
        504 => "ScaleTimeoutError",
        _ => "ScaleException",
    }
}

/// Classify a non-2xx Scale response. Plugged into the transport as its `ErrorClassifier`.
pub fn classify(status: u16, body: &[u8]) -> VendorError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| error_message(&v))
        .unwrap_or_else(|| {
            let snippet = body_snippet(body);
            if snippet.is_empty() || snippet.starts_with('<') {
                // An HTML page from a proxy says nothing useful.
                default_message(status).to_owned()
            } else {
                snippet
            }
        });
    let message = match status {
        401 => format!(
            "{message} (Scale takes the API key as the HTTP Basic user name; check that it is a live_ or test_ key of this account)"
        ),
        402 => format!("{message} (this task type or endpoint is not enabled for the account)"),
        _ => message,
    };
    VendorError {
        kind: kind_for(status),
        message,
        code: Some(sdk_exception(status).to_owned()),
        retry_after: None,
    }
}

/// The kind for an error status. Scale's 503 means "server timeout from request queueing"
/// (temporary), 504 a server timeout; everything else follows the core status table.
fn kind_for(status: u16) -> Option<ErrorKind> {
    match status {
        503 => Some(ErrorKind::ServiceUnavailable),
        504 => Some(ErrorKind::Timeout),
        _ => ErrorKind::from_status(status),
    }
}

fn default_message(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 => "no valid API key provided",
        402 => "not enabled",
        404 => "not found",
        409 => "already exists",
        429 => "too many requests",
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "server timeout",
        _ => "error",
    }
}

/// `body["error"]` as the SDK takes it: a string as is, anything else as JSON text; falls back
/// to `message` (seen on some gateways).
fn error_message(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    ["error", "message"]
        .iter()
        .find_map(|k| match obj.get(*k)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Null | Value::String(_) => None,
            other => Some(other.to_string()),
        })
}

/// The id of the task that already holds a `unique_id`, from a 409 message such as
/// `The unique_id ("x") is already used for a different task (602c399c6d092c00115aa3c9).`
pub fn conflicting_task_id(message: &str) -> Option<String> {
    let tail = message.rsplit_once("task (")?.1;
    let id = tail.split(')').next()?.trim();
    (!id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_bodies_map_to_kinds_messages_and_codes() {
        struct Case {
            status: u16,
            body: &'static str,
            kind: ErrorKind,
            message_has: &'static str,
            code: &'static str,
        }
        let table = [
            Case {
                status: 400,
                body: r#"{"status_code":400,"error":"Please include an attachment or attachments parameter."}"#,
                kind: ErrorKind::InvalidRequest,
                message_has: "attachment",
                code: "ScaleInvalidRequest",
            },
            Case {
                status: 401,
                body: r#"{"status_code":401,"error":"Invalid API key"}"#,
                kind: ErrorKind::Unauthorized,
                message_has: "Basic user name",
                code: "ScaleUnauthorized",
            },
            Case {
                status: 402,
                body: r#"{"status_code":402,"error":"Not enabled"}"#,
                kind: ErrorKind::NotEnabled,
                message_has: "not enabled for the account",
                code: "ScaleNotEnabled",
            },
            Case {
                status: 404,
                body: r#"{"status_code":404,"error":"Task with that ID not found."}"#,
                kind: ErrorKind::NotFound,
                message_has: "Task with that ID not found.",
                code: "ScaleResourceNotFound",
            },
            Case {
                status: 409,
                body: r#"{"status_code":409,"error":"The unique_id (\"u1\") is already used for a different task (602c399c6d092c00115aa3c9)."}"#,
                kind: ErrorKind::Duplicate,
                message_has: "already used",
                code: "ScaleDuplicateResource",
            },
            Case {
                status: 429,
                body: r#"{"status_code":429,"error":"Too many requests"}"#,
                kind: ErrorKind::TooManyRequests,
                message_has: "Too many",
                code: "ScaleTooManyRequests",
            },
            Case {
                status: 500,
                body: r#"{"status_code":500,"error":"Internal"}"#,
                kind: ErrorKind::Internal,
                message_has: "Internal",
                code: "ScaleInternalError",
            },
            Case {
                status: 503,
                body: "",
                kind: ErrorKind::ServiceUnavailable,
                message_has: "service unavailable",
                code: "ScaleServiceUnavailable",
            },
            Case {
                status: 504,
                body: "<html>Gateway Timeout</html>",
                kind: ErrorKind::Timeout,
                message_has: "server timeout",
                code: "ScaleTimeoutError",
            },
            Case {
                status: 502,
                body: "upstream reset",
                kind: ErrorKind::ServiceUnavailable,
                message_has: "upstream reset",
                code: "ScaleException",
            },
            Case {
                status: 403,
                body: r#"{"error":{"reason":"nope"}}"#,
                kind: ErrorKind::Forbidden,
                message_has: "nope",
                code: "ScaleException",
            },
            Case {
                status: 422,
                body: r#"{"status_code":422,"error":null,"message":"bad field"}"#,
                kind: ErrorKind::Validation,
                message_has: "bad field",
                code: "ScaleException",
            },
        ];
        for c in table {
            let v = classify(c.status, c.body.as_bytes());
            let kind = v.kind.or_else(|| ErrorKind::from_status(c.status));
            assert_eq!(kind, Some(c.kind), "status {}", c.status);
            assert!(
                v.message.contains(c.message_has),
                "status {}: {:?}",
                c.status,
                v.message
            );
            assert_eq!(v.code.as_deref(), Some(c.code), "status {}", c.status);
        }
    }

    #[test]
    fn the_conflicting_task_id_is_read_from_a_409_message() {
        let table = [
            ("The unique_id (\"s3://bucket/file.png\") is already used for a different task (602c399c6d092c00115aa3c9).", Some("602c399c6d092c00115aa3c9")),
            ("The unique_id (\"a (b) task (x\") is already used for a different task (abc123).", Some("abc123")),
            ("Batch name already exists", None),
            ("used for a different task ().", None),
            ("task (bad id!)", None),
        ];
        for (msg, want) in table {
            assert_eq!(conflicting_task_id(msg).as_deref(), want, "{msg}");
        }
    }
}
