//! Sama's error signals → [`ErrorKind`].
//!
//! Sama answers errors with `{"errors": [{"type": <number or string>, "message": "…"}]}` where
//! `type` is either the HTTP status or a symbolic name such as `InvalidInputSchema`. Load
//! balancers in front of the API answer 502/503/504 with HTML or empty bodies. The status code
//! decides the kind unless a symbolic type says something more precise.

use labelmux_core::transport::{body_snippet, VendorError};
use labelmux_core::{lenient, ErrorKind};
use serde_json::Value;

/// Symbolic error types (compared case-insensitively) that refine the status code.
const SYMBOLIC_TYPES: &[(&str, ErrorKind)] = &[
    ("InvalidInputSchema", ErrorKind::Validation),
    ("ValidationError", ErrorKind::Validation),
    ("InvalidSchema", ErrorKind::Validation),
    ("InvalidSeededOutput", ErrorKind::Validation),
    ("NotFound", ErrorKind::NotFound),
    ("RecordNotFound", ErrorKind::NotFound),
    ("Unauthorized", ErrorKind::Unauthorized),
    ("NotAuthorized", ErrorKind::Unauthorized),
    ("Forbidden", ErrorKind::Forbidden),
    ("RateLimitExceeded", ErrorKind::TooManyRequests),
    ("TooManyRequests", ErrorKind::TooManyRequests),
];

/// Classify a non-2xx Sama response. Plugged into the transport as its `ErrorClassifier`.
pub fn classify(status: u16, body: &[u8]) -> VendorError {
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| parse_errors(&v));
    let (mut kind, code, mut message) = match parsed {
        Some((code, message)) => {
            let kind = code.as_deref().and_then(symbolic_kind);
            // A numeric `type` only repeats the HTTP status; keep symbolic names alone.
            let code = code.filter(|c| c.parse::<i64>().is_err());
            (kind, code, message)
        }
        None => (None, None, non_json_message(status, body)),
    };
    // A symbolic type must not turn a server failure into a permanent client error (or the
    // reverse): it only refines statuses of the same family.
    if let Some(k) = kind {
        let status_kind = ErrorKind::from_status(status);
        let server_side = (500..=599).contains(&status);
        if server_side && !k.is_temporary() {
            kind = status_kind;
        }
    }
    match status {
        401 => {
            message = join(
                &message,
                "the access key is wrong, or API access is not enabled for this project (ask Sama to enable it)",
            );
        }
        429 => {
            message = join(
                &message,
                "rate limited by Sama; labelmux retries after a backoff (lower `rate_limit_per_second` if this persists)",
            );
        }
        _ => {}
    }
    VendorError {
        kind,
        message,
        code,
        retry_after: None,
    }
}

fn join(message: &str, explanation: &str) -> String {
    if message.is_empty() {
        explanation.to_owned()
    } else {
        format!("{message} ({explanation})")
    }
}

fn symbolic_kind(code: &str) -> Option<ErrorKind> {
    if code.parse::<i64>().is_ok() {
        return None; // a numeric type repeats the status; the status decides
    }
    SYMBOLIC_TYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(code))
        .map(|(_, kind)| *kind)
        .or_else(|| {
            // Unknown names that clearly speak of schemas are validation failures.
            code.to_ascii_lowercase()
                .contains("schema")
                .then_some(ErrorKind::Validation)
        })
}

/// `(type of the first error, every message joined)`, or `None` if the body is not Sama's shape.
fn parse_errors(v: &Value) -> Option<(Option<String>, String)> {
    let obj = v.as_object()?;
    let list: Vec<&Value> = match obj.get("errors") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other @ (Value::Object(_) | Value::String(_))) => vec![other],
        _ => match obj.get("error") {
            Some(e @ (Value::Object(_) | Value::String(_))) => vec![e],
            _ => {
                // Some frameworks answer `{"message": "…"}`.
                let m = obj.get("message")?.as_str()?;
                return Some((None, m.to_owned()));
            }
        },
    };
    let mut code = None;
    let mut messages = Vec::new();
    for item in list {
        match item {
            Value::String(s) => messages.push(s.clone()),
            Value::Object(e) => {
                if code.is_none() {
                    code = e
                        .get("type")
                        .or_else(|| e.get("code"))
                        .and_then(lenient::scalar_string);
                }
                if let Some(m) = e.get("message").and_then(lenient::scalar_string) {
                    messages.push(m);
                }
            }
            _ => {}
        }
    }
    Some((code, body_snippet(messages.join("; ").as_bytes())))
}

fn non_json_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    if text.starts_with('<') {
        // An HTML error page from a load balancer or proxy: its title says enough.
        let title = text
            .find("<title>")
            .and_then(|start| {
                let rest = &text[start + 7..];
                rest.find("</title>")
                    .map(|end| rest[..end].trim().to_owned())
            })
            .filter(|t| !t.is_empty());
        return match title {
            Some(t) => format!(
                "non-JSON error page (HTTP {status}, likely from a load balancer): {}",
                body_snippet(t.as_bytes())
            ),
            None => format!("non-JSON error page (HTTP {status}, likely from a load balancer)"),
        };
    }
    body_snippet(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table() {
        // (status, body, kind after the transport's fallback, code, message must contain)
        let table: &[(u16, &str, ErrorKind, Option<&str>, &str)] = &[
            (
                401,
                r#"{"errors":[{"type":401,"message":"Not authorized."}]}"#,
                ErrorKind::Unauthorized,
                None,
                "API access is not enabled",
            ),
            (
                401,
                "",
                ErrorKind::Unauthorized,
                None,
                "access key is wrong",
            ),
            (
                400,
                r#"{"errors":[{"type":"InvalidInputSchema","message":"The task input does not match the project schema"}]}"#,
                ErrorKind::Validation,
                Some("InvalidInputSchema"),
                "does not match the project schema",
            ),
            (
                422,
                r#"{"errors":[{"type":"invalidinputschema","message":"x"}]}"#,
                ErrorKind::Validation,
                Some("invalidinputschema"),
                "x",
            ),
            (
                400,
                r#"{"errors":[{"type":"OutputSchemaMismatch","message":"bad"}]}"#,
                ErrorKind::Validation,
                Some("OutputSchemaMismatch"),
                "bad",
            ),
            (
                400,
                r#"{"errors":[{"type":400,"message":"missing tasks_file_name"},{"type":400,"message":"second"}]}"#,
                ErrorKind::InvalidRequest,
                None,
                "missing tasks_file_name; second",
            ),
            (
                404,
                r#"{"errors":[{"type":404,"message":"Task not found"}]}"#,
                ErrorKind::NotFound,
                None,
                "Task not found",
            ),
            (
                400,
                r#"{"errors":[{"type":"RecordNotFound","message":"no batch"}]}"#,
                ErrorKind::NotFound,
                Some("RecordNotFound"),
                "no batch",
            ),
            (
                429,
                r#"{"errors":[{"type":429,"message":"Rate limit exceeded"}]}"#,
                ErrorKind::TooManyRequests,
                None,
                "rate limited by Sama",
            ),
            (429, "", ErrorKind::TooManyRequests, None, "rate limited"),
            (
                502,
                "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
                ErrorKind::ServiceUnavailable,
                None,
                "502 Bad Gateway",
            ),
            (
                503,
                "Service Unavailable",
                ErrorKind::ServiceUnavailable,
                None,
                "Service Unavailable",
            ),
            (
                504,
                "<html><body>Gateway Time-out</body></html>",
                ErrorKind::Timeout,
                None,
                "load balancer",
            ),
            (500, "", ErrorKind::Internal, None, ""),
            (
                // A symbolic validation type never makes a 5xx permanent.
                500,
                r#"{"errors":[{"type":"InvalidInputSchema","message":"boom"}]}"#,
                ErrorKind::Internal,
                Some("InvalidInputSchema"),
                "boom",
            ),
            (
                400,
                r#"{"error":"bad page_size"}"#,
                ErrorKind::InvalidRequest,
                None,
                "bad page_size",
            ),
            (
                405,
                r#"{"message":"Method Not Allowed"}"#,
                ErrorKind::InvalidRequest,
                None,
                "Method Not Allowed",
            ),
            (
                400,
                r#"{"errors":[{"type":null,"message":null}],"unknown":1}"#,
                ErrorKind::InvalidRequest,
                None,
                "",
            ),
            (
                400,
                r#"["not","an","object"]"#,
                ErrorKind::InvalidRequest,
                None,
                "not",
            ),
        ];
        for (status, body, kind, code, contains) in table {
            let v = classify(*status, body.as_bytes());
            let got_kind = v
                .kind
                .or_else(|| ErrorKind::from_status(*status))
                .unwrap_or(ErrorKind::InvalidRequest);
            assert_eq!(got_kind, *kind, "status {status} body {body}");
            assert_eq!(v.code.as_deref(), *code, "status {status} body {body}");
            assert!(
                v.message.contains(contains),
                "status {status} body {body}: message {:?} lacks {contains:?}",
                v.message
            );
        }
    }
}
