//! Segments.ai's error signals → [`ErrorKind`] (spec §6).
//!
//! The server is Django REST Framework: errors come as `{"detail": "..."}`, validation failures
//! as field-error objects (`{"name": ["..."]}`), and proxies may answer with HTML. The official
//! SDK ignores the status and classifies by substrings of the lower-cased body; labelmux maps by
//! status first and refines with the SDK's substrings, so both agree (spec §6.2's
//! recommendation). The SDK's exception class is kept as the vendor code.
//!
//! Throttling can also arrive in a 2xx body (`{"detail": "Request was throttled. ..."}`): that
//! is [`success_check`], the transport's `SuccessCheck`.

use labelmux_core::transport::{body_snippet, VendorError};
use labelmux_core::ErrorKind;
use serde_json::Value;
use std::time::Duration;

/// Vendor code of an answer the SDK raises `NotFoundError` for.
pub const NOT_FOUND: &str = "NotFoundError";
/// Vendor code of a page past the end (`{"detail": "Invalid page."}`); pagers treat it as the end.
pub const INVALID_PAGE: &str = "InvalidPage";
/// Vendor code of "already exists" / "already have".
pub const ALREADY_EXISTS: &str = "AlreadyExistsError";
/// Vendor code of collaborator errors.
pub const COLLABORATOR: &str = "CollaboratorError";
/// Vendor code of missing or wrong credentials.
pub const AUTHENTICATION: &str = "AuthenticationError";
/// Vendor code of a role that may not do this.
pub const AUTHORIZATION: &str = "AuthorizationError";
/// Vendor code of subscription limits.
pub const SUBSCRIPTION: &str = "SubscriptionError";
/// Vendor code of gateway time-outs.
pub const TIMEOUT: &str = "TimeoutError";
/// Vendor code of throttling.
pub const API_LIMIT: &str = "APILimitError";
/// Vendor code of field validation errors (the SDK reports them as `NetworkError`).
pub const VALIDATION: &str = "ValidationError";
/// Vendor code of everything else (the SDK's catch-all).
pub const NETWORK: &str = "NetworkError";

/// The message of a DRF error body: `detail`, or the field errors as `field: message; ...`, or a
/// list of messages. `None` when the body is not such JSON.
pub fn drf_message(v: &Value) -> Option<(String, bool)> {
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Array(items) => {
                let parts: Vec<String> = items.iter().filter_map(text).collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            }
            Value::Object(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .filter_map(|(k, v)| text(v).map(|t| format!("{k}: {t}")))
                    .collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            }
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    match v {
        Value::Object(m) => {
            if let Some(detail) = m.get("detail").and_then(text) {
                return Some((detail, false));
            }
            // Field errors; DRF puts errors of the whole object under `non_field_errors`.
            let parts: Vec<String> = m
                .iter()
                .filter_map(|(k, v)| {
                    let t = text(v)?;
                    Some(if k == "non_field_errors" {
                        t
                    } else {
                        format!("{k}: {t}")
                    })
                })
                .collect();
            (!parts.is_empty()).then(|| (parts.join("; "), true))
        }
        Value::Array(_) | Value::String(_) => text(v).map(|t| (t, false)),
        _ => None,
    }
}

/// The wait a throttling message names (`"Expected available in 3 seconds."`).
pub fn throttle_wait(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let tail = lower.split("available in").nth(1)?;
    let number: String = tail
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let secs: f64 = number.parse().ok()?;
    (secs.is_finite() && secs >= 0.0)
        .then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// Classify a non-2xx Segments.ai response. Plugged into the transport as its `ErrorClassifier`.
pub fn classify(status: u16, body: &[u8]) -> VendorError {
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| drf_message(&v));
    let field_errors = parsed.as_ref().is_some_and(|(_, fields)| *fields);
    let message = match parsed {
        Some((m, _)) => m,
        None => {
            let snippet = body_snippet(body);
            if snippet.is_empty() {
                default_message(status).to_owned()
            } else if snippet.starts_with('<') {
                // A proxy's or Django's HTML page: keep its telling words only.
                let lower = snippet.to_ascii_lowercase();
                if lower.contains("time-out") {
                    "gateway time-out".to_owned()
                } else if lower.contains("not found") {
                    "not found".to_owned()
                } else {
                    default_message(status).to_owned()
                }
            } else {
                snippet
            }
        }
    };
    let lower = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));

    let (kind, code): (Option<ErrorKind>, &str) = if status == 429 || has(&["throttled"]) {
        (Some(ErrorKind::TooManyRequests), API_LIMIT)
    } else if has(&["invalid page"]) {
        (Some(ErrorKind::NotFound), INVALID_PAGE)
    } else if has(&["is already a collaborator"]) {
        (Some(ErrorKind::Duplicate), COLLABORATOR)
    } else if has(&["cannot be added as collaborator"]) {
        (Some(ErrorKind::InvalidRequest), COLLABORATOR)
    } else if has(&["already exists", "already have"]) && (400..500).contains(&status) {
        (Some(ErrorKind::Duplicate), ALREADY_EXISTS)
    } else if has(&[
        "authentication credentials were not provided",
        "invalid token",
    ]) || status == 401
    {
        // DRF answers missing credentials with 403 under some authentication classes.
        (Some(ErrorKind::Unauthorized), AUTHENTICATION)
    } else if has(&[
        "do not have permission",
        "need to be an administrator",
        "cannot leave the organization",
    ]) || status == 403
    {
        (Some(ErrorKind::Forbidden), AUTHORIZATION)
    } else if has(&["free trial ended", "exceeded user limit"]) {
        (Some(ErrorKind::NotEnabled), SUBSCRIPTION)
    } else if has(&["time-out"]) || status == 504 {
        (Some(ErrorKind::Timeout), TIMEOUT)
    } else if status == 404 || (has(&["not found", "does not exist"]) && status < 500) {
        (Some(ErrorKind::NotFound), NOT_FOUND)
    } else if field_errors && (400..500).contains(&status) {
        (Some(ErrorKind::Validation), VALIDATION)
    } else {
        (None, NETWORK)
    };

    let message = match (status, code) {
        (404, NOT_FOUND) => format!(
            "{message} (Segments.ai answers 404 both for what does not exist and for datasets this API key may not see; check the `owner/name` identifier and that the key's user collaborates on the dataset)"
        ),
        (_, AUTHORIZATION) => format!(
            "{message} (the key can see the dataset but its role does not allow this operation)"
        ),
        (_, AUTHENTICATION) => format!(
            "{message} (Segments.ai takes the key as `Authorization: APIKey <key>`; check the key on the account page)"
        ),
        (502, _) => format!(
            "{message} (a very large page can cause this: lower the page size of sample lists)"
        ),
        (426, _) => format!("{message} (Segments.ai asks for a newer client version)"),
        _ => message,
    };
    // DRF also sets `Retry-After`; the body's number serves when a proxy dropped the header.
    let retry_after = (code == API_LIMIT)
        .then(|| throttle_wait(&message))
        .flatten();
    VendorError {
        kind,
        message,
        code: Some(code.to_owned()),
        retry_after,
    }
}

fn default_message(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 => "authentication failed",
        403 => "forbidden",
        404 => "not found",
        405 => "method not allowed",
        409 => "conflict",
        413 => "request too large",
        426 => "upgrade required",
        429 => "request was throttled",
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway time-out",
        _ => "error",
    }
}

/// The transport's `SuccessCheck`: a 2xx body reporting throttling (`{"detail": "Request was
/// throttled. ..."}`, which the SDK raises as `APILimitError`) fails the attempt as a 429 would,
/// waiting as long as the message says before a resend.
pub fn success_check(_status: u16, body: &[u8]) -> Option<VendorError> {
    let (message, retry_after) = throttled_in_success(body)?;
    Some(VendorError {
        kind: Some(ErrorKind::TooManyRequests),
        message,
        code: Some(API_LIMIT.to_owned()),
        retry_after,
    })
}

/// The throttling message and wait a 2xx body reports, if it reports throttling.
pub fn throttled_in_success(body: &[u8]) -> Option<(String, Option<Duration>)> {
    // Only objects can carry it; skip parsing large answers that cannot be one.
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || body.len() > 4096 {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let detail = v.get("detail")?.as_str()?;
    detail
        .to_ascii_lowercase()
        .contains("throttled")
        .then(|| (detail.to_owned(), throttle_wait(detail)))
}

#[cfg(test)]
mod tests;
