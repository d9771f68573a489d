//! Labelbox's error signals → [`ErrorKind`].
//!
//! Labelbox answers GraphQL errors as `{"data": …, "errors": [{"message", "path",
//! "extensions": {"code", "exception": {"status"}}}]}` — often with HTTP 200, sometimes with
//! 400/401 — and rate limits as a top-level `{"message": "You have exceeded …"}` under any
//! status below 500. Proxies in front of it answer 5xx with HTML or Envoy text. The checks run
//! in the order of the official SDK (spec §3.2): the first code found *anywhere* in `errors`
//! wins, whatever the status. The SDK's exception class is kept as the vendor code (with the
//! GraphQL code), so users can match it against Labelbox's documentation.
//!
//! [`success_check`] is the transport's `SuccessCheck` (errors inside a 2xx body);
//! [`classify`] is its `ErrorClassifier` (non-2xx answers). Both use [`classify_body`].

use labelmux_core::transport::{body_snippet, VendorError};
use labelmux_core::ErrorKind;
use serde_json::Value;

/// What the checks of spec §3.2 make of a body, before the HTTP status is considered.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlFailure {
    /// The kind, when the body decides it (`None`: the status decides).
    pub kind: Option<ErrorKind>,
    /// The message(s).
    pub message: String,
    /// `<SDK exception class>` or `<SDK exception class> (<GraphQL code>)`.
    pub code: String,
}

fn code_of(e: &Value) -> Option<&str> {
    e.pointer("/extensions/code").and_then(Value::as_str)
}

fn exception_status(e: &Value) -> Option<u16> {
    let s = e.pointer("/extensions/exception/status")?;
    s.as_u64()
        .or_else(|| s.as_str().and_then(|t| t.trim().parse().ok()))
        .and_then(|n| u16::try_from(n).ok())
}

/// The message of one error object, with its `path` (the operation field that failed) and the
/// detail list an export error carries in its own `errors` member.
fn message_of(e: &Value) -> String {
    let mut msg = e
        .get("message")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("(no message)")
        .to_owned();
    if let Some(details) = e.get("errors").filter(|d| !d.is_null()) {
        let text = match details {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !text.trim().is_empty() && text != "[]" {
            msg.push_str(": ");
            msg.push_str(text.trim());
        }
    }
    let path: Vec<String> = e
        .get("path")
        .and_then(Value::as_array)
        .map(|p| {
            p.iter()
                .map(|s| match s {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    if !path.is_empty() {
        msg = format!("{msg} (at {})", path.join("."));
    }
    msg
}

/// Apply the checks of spec §3.2 to a parsed body. `None` when the body signals no failure.
pub fn classify_graphql(body: &Value) -> Option<GraphqlFailure> {
    let errors: &[Value] = body
        .get("errors")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let find = |code: &str| errors.iter().find(|e| code_of(e) == Some(code));
    let fail = |kind: Option<ErrorKind>, e: &Value, class: &str| GraphqlFailure {
        kind,
        message: message_of(e),
        code: match code_of(e) {
            Some(c) => format!("{class} ({c})"),
            None => class.to_owned(),
        },
    };
    if let Some(e) = find("AUTHENTICATION_ERROR") {
        let mut f = fail(Some(ErrorKind::Unauthorized), e, "AuthenticationError");
        f.message = format!(
            "{} (Labelbox takes the API key as `Authorization: Bearer <key>`; check that the key is valid)",
            f.message
        );
        return Some(f);
    }
    if let Some(e) = find("AUTHORIZATION_ERROR") {
        return Some(fail(Some(ErrorKind::Forbidden), e, "AuthorizationError"));
    }
    if let Some(e) = find("GRAPHQL_VALIDATION_FAILED") {
        let class = if e.get("message").and_then(Value::as_str)
            == Some("Query complexity limit exceeded")
        {
            "ValidationFailedError"
        } else {
            "InvalidQueryError"
        };
        return Some(fail(Some(ErrorKind::InvalidRequest), e, class));
    }
    if let Some(e) = find("GRAPHQL_PARSE_FAILED") {
        return Some(fail(
            Some(ErrorKind::InvalidRequest),
            e,
            "InvalidQueryError",
        ));
    }
    if let Some(m) = body
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| m.starts_with("You have exceeded"))
    {
        return Some(GraphqlFailure {
            kind: Some(ErrorKind::TooManyRequests),
            message: m.trim().to_owned(),
            code: "ApiLimitError".to_owned(),
        });
    }
    if let Some(e) = find("RESOURCE_NOT_FOUND") {
        return Some(fail(Some(ErrorKind::NotFound), e, "ResourceNotFoundError"));
    }
    if let Some(e) = find("RESOURCE_CONFLICT") {
        return Some(fail(Some(ErrorKind::Duplicate), e, "ResourceConflict"));
    }
    if let Some(e) = find("MALFORMED_REQUEST") {
        return Some(fail(
            Some(ErrorKind::InvalidRequest),
            e,
            "MalformedQueryException",
        ));
    }
    if let Some(e) = find("INTERNAL_SERVER_ERROR") {
        let status = exception_status(e);
        let (kind, class) = match status {
            Some(400) => (ErrorKind::InvalidRequest, "InvalidQueryError"),
            Some(422) => (ErrorKind::Validation, "UnprocessableEntityError"),
            // The usage (LBU) limit: "LBU limit exceeded, upgrade to continue".
            Some(426) => (ErrorKind::Forbidden, "OperationNotAllowedException"),
            None | Some(500) => (ErrorKind::Internal, "LabelboxError"),
            Some(other) => (
                ErrorKind::from_status(other)
                    .filter(|k| k.is_temporary() || (400..500).contains(&other))
                    .unwrap_or(ErrorKind::Internal),
                "InternalServerError",
            ),
        };
        let mut f = fail(Some(kind), e, class);
        if let Some(s) = status {
            f.code = format!("{class} (INTERNAL_SERVER_ERROR/{s})");
        }
        return Some(f);
    }
    if let Some(e) = find("OPERATION_NOT_ALLOWED") {
        return Some(fail(
            Some(ErrorKind::Forbidden),
            e,
            "OperationNotAllowedException",
        ));
    }
    if !errors.is_empty() {
        let list: Vec<String> = errors
            .iter()
            .map(|e| match code_of(e) {
                Some(c) => format!("{} [{c}]", message_of(e)),
                None => message_of(e),
            })
            .collect();
        return Some(GraphqlFailure {
            kind: None,
            message: format!("Unknown error: {}", list.join("; ")),
            code: "LabelboxError".to_owned(),
        });
    }
    None
}

fn vendor_error(kind: Option<ErrorKind>, message: String, code: Option<String>) -> VendorError {
    VendorError {
        kind,
        message,
        code,
        ..VendorError::default()
    }
}

/// Classify a body whatever its status: `None` when it signals nothing (no `errors`, no rate
/// limit message, or not JSON at all).
pub fn classify_body(body: &[u8]) -> Option<VendorError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let f = classify_graphql(&v)?;
    Some(vendor_error(f.kind, f.message, Some(f.code)))
}

/// The transport's success check: a 2xx answer carrying GraphQL `errors` (or the rate-limit
/// message) is a failure. An unknown error code in a 2xx is an invalid request.
pub fn success_check(_status: u16, body: &[u8]) -> Option<VendorError> {
    let mut e = classify_body(body)?;
    e.kind = e.kind.or(Some(ErrorKind::InvalidRequest));
    Some(e)
}

/// The transport's classifier for non-2xx answers.
pub fn classify(status: u16, body: &[u8]) -> VendorError {
    if status >= 500 {
        // The SDK does not read 5xx bodies (they come from proxies), except Envoy's reset text.
        let text = String::from_utf8_lossy(body);
        if text.contains("upstream connect error or disconnect/reset before headers") {
            return vendor_error(
                Some(ErrorKind::ServiceUnavailable),
                "Connection reset".to_owned(),
                Some("InternalServerError".to_owned()),
            );
        }
        if let Some(e) = classify_body(body).filter(|e| e.kind.is_some_and(|k| k.is_temporary())) {
            return e;
        }
        let message = match status {
            502 => "502 Bad Gateway".to_owned(),
            _ => format!("Internal server http error {status}"),
        };
        return vendor_error(None, message, Some("InternalServerError".to_owned()));
    }
    if let Some(e) = classify_body(body) {
        return e;
    }
    // No GraphQL error: the body's top-level `message`, as the SDK reports it.
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            let snippet = body_snippet(body);
            if snippet.is_empty() || snippet.starts_with('<') {
                format!("HTTP {status}")
            } else {
                snippet
            }
        });
    let message = if status == 401 {
        format!("{message} (check the API key, and that API access is enabled for the plan)")
    } else {
        message
    };
    vendor_error(None, message, Some(format!("HTTP {status}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str, message: &str) -> String {
        format!(
            r#"{{"data":null,"errors":[{{"message":"{message}","extensions":{{"code":"{code}"}}}}]}}"#
        )
    }

    fn ise(status: &str) -> String {
        format!(
            r#"{{"data":null,"errors":[{{"message":"boom","path":["createDataset"],"extensions":{{"code":"INTERNAL_SERVER_ERROR","exception":{{"status":{status}}}}}}}]}}"#
        )
    }

    /// Kind as the transport would decide it: the classifier's, else the status's.
    fn kind(status: u16, body: &str) -> (Option<ErrorKind>, VendorError) {
        if (200..300).contains(&status) {
            let v = success_check(status, body.as_bytes());
            (v.as_ref().and_then(|v| v.kind), v.unwrap_or_default())
        } else {
            let v = classify(status, body.as_bytes());
            (v.kind.or_else(|| ErrorKind::from_status(status)), v)
        }
    }

    #[test]
    fn statuses_and_graphql_codes_map_to_kinds_messages_and_codes() {
        use ErrorKind::*;
        let lbu = r#"{"data":null,"errors":[{"message":"LBU limit exceeded, upgrade to continue","locations":[{"line":1,"column":45}],"extensions":{"code":"INTERNAL_SERVER_ERROR","exception":{"response":"LBU limit exceeded, upgrade to continue","status":426,"message":"LBU limit exceeded, upgrade to continue"}},"path":["createDataset"]}]}"#;
        let table: Vec<(u16, String, Option<ErrorKind>, &str, &str)> = vec![
            // (status, body, kind, message contains, code contains)
            (
                200,
                err("AUTHENTICATION_ERROR", "Invalid API key"),
                Some(Unauthorized),
                "Bearer",
                "AuthenticationError",
            ),
            (
                401,
                err("AUTHENTICATION_ERROR", "Invalid API key"),
                Some(Unauthorized),
                "Invalid API key",
                "AUTHENTICATION_ERROR",
            ),
            (
                200,
                err("AUTHORIZATION_ERROR", "no access"),
                Some(Forbidden),
                "no access",
                "AuthorizationError",
            ),
            (
                400,
                err(
                    "GRAPHQL_VALIDATION_FAILED",
                    "Query complexity limit exceeded",
                ),
                Some(InvalidRequest),
                "complexity",
                "ValidationFailedError",
            ),
            (
                400,
                err(
                    "GRAPHQL_VALIDATION_FAILED",
                    "Cannot query field \\\"bbb\\\" on type \\\"Query\\\".",
                ),
                Some(InvalidRequest),
                "Cannot query field",
                "InvalidQueryError",
            ),
            (
                400,
                err(
                    "GRAPHQL_PARSE_FAILED",
                    "Syntax Error: Unexpected Name \\\"asda\\\".",
                ),
                Some(InvalidRequest),
                "Syntax Error:",
                "InvalidQueryError",
            ),
            // Rate limit: under any status < 500, also disguised in a 200.
            (
                429,
                r#"{"message":"You have exceeded the rate limit"}"#.into(),
                Some(TooManyRequests),
                "exceeded",
                "ApiLimitError",
            ),
            (
                200,
                r#"{"message":"You have exceeded the rate limit"}"#.into(),
                Some(TooManyRequests),
                "exceeded",
                "ApiLimitError",
            ),
            (
                400,
                r#"{"message":"You have exceeded your quota"}"#.into(),
                Some(TooManyRequests),
                "quota",
                "ApiLimitError",
            ),
            (
                200,
                err("RESOURCE_NOT_FOUND", "Project not found"),
                Some(NotFound),
                "not found",
                "ResourceNotFoundError",
            ),
            (
                200,
                err("RESOURCE_CONFLICT", "Batch name taken"),
                Some(Duplicate),
                "taken",
                "ResourceConflict",
            ),
            (
                200,
                err("MALFORMED_REQUEST", "No valid data rows to add to project"),
                Some(InvalidRequest),
                "No valid data rows",
                "MalformedQueryException",
            ),
            // INTERNAL_SERVER_ERROR disguises client errors behind exception.status.
            (
                200,
                ise("400"),
                Some(InvalidRequest),
                "boom (at createDataset)",
                "INTERNAL_SERVER_ERROR/400",
            ),
            (
                200,
                ise("422"),
                Some(Validation),
                "boom",
                "UnprocessableEntityError",
            ),
            (
                200,
                lbu.into(),
                Some(Forbidden),
                "LBU limit exceeded",
                "OperationNotAllowedException",
            ),
            (200, ise("500"), Some(Internal), "boom", "LabelboxError"),
            (
                200,
                err("INTERNAL_SERVER_ERROR", "no status"),
                Some(Internal),
                "no status",
                "LabelboxError",
            ),
            (
                200,
                ise("503"),
                Some(ServiceUnavailable),
                "boom",
                "InternalServerError",
            ),
            (
                200,
                ise("\"404\""),
                Some(NotFound),
                "boom",
                "INTERNAL_SERVER_ERROR/404",
            ),
            (
                200,
                err("OPERATION_NOT_ALLOWED", "not allowed"),
                Some(Forbidden),
                "not allowed",
                "OperationNotAllowedException",
            ),
            (
                200,
                err("SOMETHING_NEW", "odd"),
                Some(InvalidRequest),
                "Unknown error: odd [SOMETHING_NEW]",
                "LabelboxError",
            ),
            // HTTP layer.
            (
                401,
                r#"{"message":"API access disabled"}"#.into(),
                Some(Unauthorized),
                "API access disabled",
                "HTTP 401",
            ),
            (
                502,
                "<html>bad gateway</html>".into(),
                Some(ServiceUnavailable),
                "502 Bad Gateway",
                "InternalServerError",
            ),
            (
                500,
                "upstream connect error or disconnect/reset before headers. reset reason: overflow"
                    .into(),
                Some(ServiceUnavailable),
                "Connection reset",
                "InternalServerError",
            ),
            (
                503,
                "".into(),
                Some(ServiceUnavailable),
                "Internal server http error 503",
                "InternalServerError",
            ),
            (
                500,
                err("RESOURCE_CONFLICT", "x"),
                Some(Internal),
                "Internal server http error 500",
                "InternalServerError",
            ),
            (403, "".into(), Some(Forbidden), "HTTP 403", "HTTP 403"),
        ];
        for (status, body, want, msg, code) in table {
            let (got, v) = kind(status, &body);
            assert_eq!(got, want, "{status} {body}");
            assert!(v.message.contains(msg), "{status} {body}: {:?}", v.message);
            assert!(
                v.code.as_deref().unwrap_or("").contains(code),
                "{status} {body}: {:?}",
                v.code
            );
        }
    }

    #[test]
    fn the_first_code_in_check_order_wins_wherever_it_sits() {
        let body = r#"{"errors":[
            {"message":"conflict","extensions":{"code":"RESOURCE_CONFLICT"}},
            {"message":"who are you","extensions":{"code":"AUTHENTICATION_ERROR"}}]}"#;
        let v = success_check(200, body.as_bytes()).unwrap();
        assert_eq!(v.kind, Some(ErrorKind::Unauthorized));
    }

    #[test]
    fn successful_bodies_pass_the_check() {
        for body in [
            r#"{"data":{"project":null}}"#,
            r#"{"data":{"user":{"id":"x"}},"errors":[]}"#,
            r#"{"data":{"x":1},"errors":null}"#,
            "",
            "not json",
            "[1,2]",
        ] {
            assert_eq!(success_check(200, body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn export_errors_carry_their_detail_list() {
        let body = r#"{"errors":[{"message":"Invalid filters","errors":["global_keys: too many"],"extensions":{"code":"MALFORMED_REQUEST"}}]}"#;
        let v = success_check(200, body.as_bytes()).unwrap();
        assert!(v.message.contains("too many"), "{}", v.message);
    }
}
