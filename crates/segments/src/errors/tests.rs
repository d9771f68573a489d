use super::*;

struct Case {
    status: u16,
    body: &'static str,
    kind: ErrorKind,
    code: &'static str,
    message_has: &'static str,
}

#[test]
fn statuses_and_drf_bodies_map_to_kinds_codes_and_messages() {
    let table = [
        // DRF `detail` bodies.
        Case { status: 404, body: r#"{"detail":"Not found."}"#, kind: ErrorKind::NotFound, code: NOT_FOUND, message_has: "may not see" },
        Case { status: 404, body: r#"{"detail":"Invalid page."}"#, kind: ErrorKind::NotFound, code: INVALID_PAGE, message_has: "Invalid page." },
        Case { status: 404, body: "", kind: ErrorKind::NotFound, code: NOT_FOUND, message_has: "not found" },
        Case { status: 404, body: "<html><title>Not Found</title><p>The requested resource was not found on this server.</p></html>", kind: ErrorKind::NotFound, code: NOT_FOUND, message_has: "not found" },
        // 403: visible but forbidden — not the same as invisible (404).
        Case { status: 403, body: r#"{"detail":"You do not have permission to perform this action."}"#, kind: ErrorKind::Forbidden, code: AUTHORIZATION, message_has: "role does not allow" },
        Case { status: 403, body: r#"{"detail":"You need to be an administrator of the organization."}"#, kind: ErrorKind::Forbidden, code: AUTHORIZATION, message_has: "administrator" },
        Case { status: 403, body: r#"{"detail":"Authentication credentials were not provided."}"#, kind: ErrorKind::Unauthorized, code: AUTHENTICATION, message_has: "APIKey" },
        Case { status: 401, body: r#"{"detail":"Invalid token."}"#, kind: ErrorKind::Unauthorized, code: AUTHENTICATION, message_has: "Invalid token." },
        // Duplicates.
        Case { status: 400, body: r#"{"detail":"A dataset with this name already exists."}"#, kind: ErrorKind::Duplicate, code: ALREADY_EXISTS, message_has: "already exists" },
        Case { status: 400, body: r#"{"name":["release with this name already exists."]}"#, kind: ErrorKind::Duplicate, code: ALREADY_EXISTS, message_has: "name: release with this name already exists." },
        Case { status: 409, body: r#"{"detail":"You already have a dataset named flowers."}"#, kind: ErrorKind::Duplicate, code: ALREADY_EXISTS, message_has: "already have" },
        Case { status: 400, body: r#"{"detail":"john is already a collaborator"}"#, kind: ErrorKind::Duplicate, code: COLLABORATOR, message_has: "already a collaborator" },
        Case { status: 400, body: r#"{"detail":"This user cannot be added as collaborator."}"#, kind: ErrorKind::InvalidRequest, code: COLLABORATOR, message_has: "cannot be added" },
        // Validation: field-error objects.
        Case { status: 400, body: r#"{"attributes":["This field is required."],"non_field_errors":["Bad sample."]}"#, kind: ErrorKind::Validation, code: VALIDATION, message_has: "attributes: This field is required." },
        Case { status: 400, body: r#"{"uuids":{"0":["Must be a valid UUID."]}}"#, kind: ErrorKind::Validation, code: VALIDATION, message_has: "uuids: 0: Must be a valid UUID." },
        Case { status: 400, body: r#"["Something went wrong."]"#, kind: ErrorKind::InvalidRequest, code: NETWORK, message_has: "Something went wrong." },
        // Throttling.
        Case { status: 429, body: r#"{"detail":"Request was throttled. Expected available in 3 seconds."}"#, kind: ErrorKind::TooManyRequests, code: API_LIMIT, message_has: "throttled" },
        Case { status: 429, body: "", kind: ErrorKind::TooManyRequests, code: API_LIMIT, message_has: "throttled" },
        // Subscriptions, time-outs, server errors.
        Case { status: 402, body: r#"{"detail":"Your free trial ended."}"#, kind: ErrorKind::NotEnabled, code: SUBSCRIPTION, message_has: "free trial" },
        Case { status: 400, body: r#"{"detail":"You exceeded user limit of your plan."}"#, kind: ErrorKind::NotEnabled, code: SUBSCRIPTION, message_has: "user limit" },
        Case { status: 504, body: "<html><body><h1>504 Gateway Time-out</h1></body></html>", kind: ErrorKind::Timeout, code: TIMEOUT, message_has: "time-out" },
        Case { status: 502, body: "", kind: ErrorKind::ServiceUnavailable, code: NETWORK, message_has: "page size" },
        Case { status: 500, body: "Server Error (500)", kind: ErrorKind::Internal, code: NETWORK, message_has: "Server Error" },
        Case { status: 405, body: r#"{"detail":"Method \"POST\" not allowed."}"#, kind: ErrorKind::InvalidRequest, code: NETWORK, message_has: "not allowed" },
        Case { status: 426, body: "", kind: ErrorKind::InvalidRequest, code: NETWORK, message_has: "newer client" },
        // "does not exist" in a 400 is the SDK's NotFoundError.
        Case { status: 400, body: r#"{"user":["Object with username=ghost does not exist."]}"#, kind: ErrorKind::NotFound, code: NOT_FOUND, message_has: "ghost" },
    ];
    for c in table {
        let v = classify(c.status, c.body.as_bytes());
        let kind = v.kind.or_else(|| ErrorKind::from_status(c.status));
        assert_eq!(kind, Some(c.kind), "{} {}", c.status, c.body);
        assert_eq!(v.code.as_deref(), Some(c.code), "{} {}", c.status, c.body);
        assert!(
            v.message.contains(c.message_has),
            "{} {}: {:?}",
            c.status,
            c.body,
            v.message
        );
    }
}

#[test]
fn a_429_carries_the_wait_its_body_names() {
    let v = classify(
        429,
        br#"{"detail":"Request was throttled. Expected available in 3 seconds."}"#,
    );
    assert_eq!(v.retry_after, Some(Duration::from_secs(3)));
    assert_eq!(classify(429, b"").retry_after, None);
    assert_eq!(
        classify(404, br#"{"detail":"Not found."}"#).retry_after,
        None
    );
}

#[test]
fn the_wait_of_a_throttle_message_is_read() {
    let table = [
        (
            "Request was throttled. Expected available in 3 seconds.",
            Some(Duration::from_secs(3)),
        ),
        (
            "Request was throttled. Expected available in 0.5 seconds.",
            Some(Duration::from_millis(500)),
        ),
        (
            "Request was throttled. Expected available in 1 second.",
            Some(Duration::from_secs(1)),
        ),
        ("Request was throttled.", None),
        ("available in soon seconds", None),
    ];
    for (msg, want) in table {
        assert_eq!(throttle_wait(msg), want, "{msg}");
    }
}

#[test]
fn throttling_in_a_2xx_body_is_recognised_and_nothing_else_is() {
    let (msg, wait) = throttled_in_success(
        br#"{"detail": "Request was throttled. Expected available in 7 seconds."}"#,
    )
    .unwrap();
    assert!(msg.contains("throttled"));
    assert_eq!(wait, Some(Duration::from_secs(7)));
    let v = success_check(
        200,
        br#"{"detail":"Request was throttled. Expected available in 2 seconds."}"#,
    )
    .unwrap();
    assert_eq!(v.kind, Some(ErrorKind::TooManyRequests));
    assert_eq!(v.code.as_deref(), Some(API_LIMIT));
    assert_eq!(v.retry_after, Some(Duration::from_secs(2)));
    assert!(success_check(200, br#"{"name": "flowers"}"#).is_none());
    for ok in [
        &b""[..],
        b"[]",
        br#"{"detail": "ok"}"#,
        br#"{"name": "throttled"}"#,
        br#"[{"detail": "throttled"}]"#,
        b"not json",
    ] {
        assert!(
            throttled_in_success(ok).is_none(),
            "{}",
            String::from_utf8_lossy(ok)
        );
    }
}

#[test]
fn messages_are_never_empty() {
    for status in [400u16, 401, 403, 404, 409, 429, 500, 502, 503, 504, 418] {
        for body in [&b""[..], b"{}", b"[]", b"null", b"<html></html>"] {
            let v = classify(status, body);
            assert!(!v.message.trim().is_empty(), "{status} {body:?}");
        }
    }
}
