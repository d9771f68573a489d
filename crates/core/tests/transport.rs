//! Transport behaviour against a local HTTP server: retries, Retry-After, timeouts, refused
//! connections, exhausted retries, rate limits, and that secrets never leak.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use labelmux_core::transport::{
    default_classifier, path, Auth, Method, Multipart, RetryMode, SecretString, Transport,
    TransportConfig, VendorError,
};
use labelmux_core::{ErrorKind, Vendor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted answer: status, headers, body.
type Step = (u16, Vec<(&'static str, String)>, &'static str);

/// A scripted server: the n-th request (0-based) gets `script[n]`, later ones the last entry.
#[derive(Clone)]
struct Script {
    steps: Arc<Vec<Step>>,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
    delay: Duration,
}

async fn scripted(State(s): State<Script>, uri: Uri, headers: HeaderMap) -> impl IntoResponse {
    let n = s.hits.fetch_add(1, Ordering::SeqCst);
    s.seen.lock().unwrap().push(format!(
        "{uri} auth={}",
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap_or(""))
            .unwrap_or("")
    ));
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    let (status, hdrs, body) = s.steps[n.min(s.steps.len() - 1)].clone();
    let mut map = HeaderMap::new();
    for (k, v) in hdrs {
        map.insert(k, v.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), map, body)
}

async fn serve(steps: Vec<Step>, delay: Duration) -> (String, Script) {
    let script = Script {
        steps: Arc::new(steps),
        hits: Arc::new(AtomicUsize::new(0)),
        seen: Arc::new(Mutex::new(Vec::new())),
        delay,
    };
    let app = Router::new()
        .fallback(any(scripted))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v2"), script)
}

fn quick() -> TransportConfig {
    TransportConfig {
        initial_backoff_ms: 10,
        max_backoff_ms: 20,
        ..TransportConfig::fast_for_tests()
    }
}

fn transport(base: &str, cfg: TransportConfig) -> Transport {
    Transport::new(
        Vendor::Sama,
        base,
        Auth::QueryParam {
            name: "access_key",
            key: SecretString::from("k"),
        },
        cfg,
        default_classifier,
    )
    .unwrap()
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let (base, s) = serve(
        vec![
            (429, vec![("retry-after", "1".into())], "slow down"),
            (200, vec![], "{}"),
        ],
        Duration::ZERO,
    )
    .await;
    let t = transport(&base, quick());
    let started = Instant::now();
    t.request(Method::GET, "get_task", "x.json")
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    // The backoff alone is 10-20 ms; Retry-After asked for 1 s.
    assert!(
        waited >= Duration::from_millis(990),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn retry_after_as_http_date_is_honoured() {
    let when = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    let (base, s) = serve(
        vec![(503, vec![("retry-after", when)], ""), (200, vec![], "{}")],
        Duration::ZERO,
    )
    .await;
    let started = Instant::now();
    transport(&base, quick())
        .request(Method::GET, "op", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    // HTTP dates have whole-second resolution: at least ~1 s must have passed.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn two_503_then_success() {
    let (base, s) = serve(
        vec![
            (503, vec![], ""),
            (503, vec![], ""),
            (200, vec![], r#"{"ok":true}"#),
        ],
        Duration::ZERO,
    )
    .await;
    let v: serde_json::Value = transport(&base, quick())
        .request(Method::GET, "op", "x")
        .send_json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(s.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_400_is_never_retried_and_keeps_the_vendor_message() {
    let (base, s) = serve(
        vec![(400, vec![], "bad filter"), (200, vec![], "{}")],
        Duration::ZERO,
    )
    .await;
    let err = transport(&base, quick())
        .request(Method::GET, "list_tasks", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.vendor(), Some(Vendor::Sama));
    assert_eq!(err.operation(), Some("list_tasks"));
    assert!(err.message().contains("bad filter"));
    assert!(!err.is_persistent());
}

#[tokio::test]
async fn exhausted_retries_say_so_and_keep_the_last_cause() {
    let (base, s) = serve(vec![(502, vec![], "bad gateway")], Duration::ZERO).await;
    let cfg = TransportConfig {
        max_attempts: 3,
        ..quick()
    };
    let err = transport(&base, cfg)
        .request(Method::GET, "op", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(s.hits.load(Ordering::SeqCst), 3);
    assert_eq!(err.kind(), ErrorKind::ServiceUnavailable);
    assert!(err.is_persistent());
    assert_eq!(err.attempts(), 3);
    assert!(
        err.to_string().contains("gave up after 3 attempts"),
        "{err}"
    );
    assert!(err.message().contains("bad gateway"));
}

#[tokio::test]
async fn posts_are_not_resent_after_a_5xx_unless_marked_idempotent() {
    let (base, s) = serve(
        vec![(503, vec![], ""), (503, vec![], ""), (200, vec![], "{}")],
        Duration::ZERO,
    )
    .await;
    let t = transport(&base, quick());
    let err = t
        .request(Method::POST, "create", "x")
        .json(&1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServiceUnavailable);
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
    t.request(Method::POST, "create", "x")
        .json(&1)
        .retry(RetryMode::Idempotent)
        .send()
        .await
        .unwrap();
    assert_eq!(s.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn posts_are_resent_after_a_429() {
    let (base, s) = serve(vec![(429, vec![], ""), (200, vec![], "{}")], Duration::ZERO).await;
    transport(&base, quick())
        .request(Method::POST, "create", "x")
        .json(&1)
        .send()
        .await
        .unwrap();
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let (base, s) = serve(vec![(200, vec![], "{}")], Duration::from_millis(800)).await;
    let cfg = TransportConfig {
        timeout_secs: 0.2,
        max_attempts: 2,
        ..quick()
    };
    let err = transport(&base, cfg)
        .request(Method::GET, "op", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    assert!(err.is_persistent());
}

#[tokio::test]
async fn the_deadline_bounds_all_retries() {
    let (base, _s) = serve(
        vec![(503, vec![("retry-after", "1".into())], "")],
        Duration::ZERO,
    )
    .await;
    let cfg = TransportConfig {
        deadline_secs: 0.5,
        max_attempts: 10,
        ..quick()
    };
    let started = Instant::now();
    let err = transport(&base, cfg)
        .request(Method::GET, "op", "x")
        .send()
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_persistent());
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    // Bind then drop to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = TransportConfig {
        max_attempts: 2,
        ..quick()
    };
    let err = transport(&format!("http://127.0.0.1:{port}/v2"), cfg)
        .request(Method::GET, "op", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.is_persistent() && err.attempts() == 2, "{err:?}");
}

#[tokio::test]
async fn basic_auth_header_and_query_key_are_sent() {
    let (base, s) = serve(vec![(200, vec![], "{}")], Duration::ZERO).await;
    transport(&base, quick())
        .request(Method::GET, "op", "projects/1.json")
        .query("page", 2)
        .send()
        .await
        .unwrap();
    let t = Transport::new(
        Vendor::Scale,
        &base,
        Auth::BasicUser(SecretString::from("live_k")),
        quick(),
        default_classifier,
    )
    .unwrap();
    t.request(Method::GET, "op", "task").send().await.unwrap();
    let seen = s.seen.lock().unwrap().clone();
    assert_eq!(seen[0], "/v2/projects/1.json?page=2&access_key=k auth=");
    // base64("live_k:")
    assert_eq!(seen[1], "/v2/task auth=Basic bGl2ZV9rOg==");
}

#[tokio::test]
async fn rate_limit_spaces_requests() {
    let (base, s) = serve(vec![(200, vec![], "{}")], Duration::ZERO).await;
    let cfg = TransportConfig {
        rate_limit_per_second: Some(10),
        ..quick()
    };
    let t = transport(&base, cfg);
    let started = Instant::now();
    let mut sent_at = Vec::new();
    for _ in 0..12 {
        t.request(Method::GET, "op", "x").send().await.unwrap();
        sent_at.push(started.elapsed());
    }
    assert_eq!(s.hits.load(Ordering::SeqCst), 12);
    // Evenly spaced at 100 ms, no initial burst: 12 requests need at least 1.1 s, and no
    // window of one second holds more than 10 (+1 for the window's edges).
    assert!(
        started.elapsed() >= Duration::from_millis(1050),
        "{:?}",
        started.elapsed()
    );
    for (i, t0) in sent_at.iter().enumerate() {
        let in_window = sent_at[i..]
            .iter()
            .filter(|t| **t - *t0 < Duration::from_secs(1))
            .count();
        assert!(
            in_window <= 11,
            "{in_window} requests within 1 s of request {i}"
        );
    }
}

#[tokio::test]
async fn a_key_the_vendor_echoes_in_its_error_body_is_scrubbed() {
    const KEY: &str = "ECHOED-KEY-5f1c";
    let (base, _s) = serve(
        vec![(
            400,
            vec![],
            r#"{"message":"key ECHOED-KEY-5f1c is not valid for project 7"}"#,
        )],
        Duration::ZERO,
    )
    .await;
    for auth in [
        Auth::QueryParam {
            name: "access_key",
            key: SecretString::from(KEY),
        },
        Auth::Bearer(SecretString::from(KEY)),
    ] {
        let t = Transport::new(Vendor::Sama, &base, auth, quick(), default_classifier).unwrap();
        let e = t
            .request(Method::GET, "get_task", "projects/7.json")
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(KEY), "key leaked: {shown}");
        assert!(shown.contains("is not valid for project 7"), "{shown}");
    }
}

/// A success check in the shape of Labelbox's (GraphQL `errors[]` in a 200) and Segments' (a
/// "throttled" detail in a 2xx, with the wait in the body).
fn body_check(_status: u16, body: &[u8]) -> Option<VendorError> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let Some(detail) = v.get("detail").and_then(|d| d.as_str()) {
        return detail.contains("throttled").then(|| VendorError {
            kind: Some(ErrorKind::TooManyRequests),
            message: detail.to_owned(),
            code: None,
            retry_after: Some(Duration::from_millis(400)),
        });
    }
    let first = v.get("errors")?.as_array()?.first()?;
    let code = first["extensions"]["code"].as_str().unwrap_or("");
    Some(VendorError {
        kind: Some(match code {
            "INTERNAL_SERVER_ERROR" => ErrorKind::Internal,
            _ => ErrorKind::InvalidRequest,
        }),
        message: first["message"].as_str().unwrap_or("").to_owned(),
        code: Some(code.to_owned()),
        retry_after: None,
    })
}

#[tokio::test]
async fn errors_inside_a_200_body_fail_the_request_without_a_resend() {
    let (base, s) = serve(
        vec![
            (
                200,
                vec![],
                r#"{"data":null,"errors":[{"message":"Cannot query field \"bbb\"","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}"#,
            ),
        ],
        Duration::ZERO,
    )
    .await;
    let t = transport(&base, quick()).with_success_check(body_check);
    let err = t
        .request(Method::POST, "get_project", "graphql")
        .json(&serde_json::json!({"query": "{bbb}"}))
        .retry(RetryMode::Idempotent)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        s.hits.load(Ordering::SeqCst),
        1,
        "a permanent failure is not resent"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(err.status(), Some(200));
    assert_eq!(err.operation(), Some("get_project"));
    assert_eq!(err.vendor_code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(err.message().contains("Cannot query field"), "{err}");
    // send_json runs the check too.
    let err = t
        .request(Method::GET, "get_project", "graphql")
        .send_json::<serde_json::Value>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_temporary_error_inside_a_200_is_retried_when_safe() {
    let (base, s) = serve(
        vec![
            (
                200,
                vec![],
                r#"{"errors":[{"message":"boom","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
            ),
            (200, vec![], r#"{"data":{"ok":true}}"#),
        ],
        Duration::ZERO,
    )
    .await;
    let t = transport(&base, quick()).with_success_check(body_check);
    let v: serde_json::Value = t
        .request(Method::POST, "list_projects", "graphql")
        .json(&1)
        .retry(RetryMode::Idempotent)
        .send_json()
        .await
        .unwrap();
    assert_eq!(v["data"]["ok"], true);
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    // The same failure of a mutation that may have run is not resent.
    let (base, s) = serve(
        vec![
            (
                200,
                vec![],
                r#"{"errors":[{"message":"boom","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
            ),
            (200, vec![], r#"{"data":{"ok":true}}"#),
        ],
        Duration::ZERO,
    )
    .await;
    let err = transport(&base, quick())
        .with_success_check(body_check)
        .request(Method::POST, "create_project", "graphql")
        .json(&1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn throttling_inside_a_2xx_is_not_processed_and_its_wait_is_honoured() {
    let (base, s) = serve(
        vec![
            (
                200,
                vec![],
                r#"{"detail":"Request was throttled. Expected available in 1 second."}"#,
            ),
            (201, vec![], r#"{"uuid":"u1"}"#),
        ],
        Duration::ZERO,
    )
    .await;
    let t = transport(&base, quick()).with_success_check(body_check);
    let started = Instant::now();
    // A POST (OnlyIfNotProcessed by default) is resent: throttling means nothing was done.
    let v: serde_json::Value = t
        .request(Method::POST, "add_sample", "datasets/a/b/samples/")
        .json(&1)
        .send_json()
        .await
        .unwrap();
    assert_eq!(v["uuid"], "u1");
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    // The backoff alone is 10-20 ms; the body asked for 400 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(390),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_wait_in_the_body_overrides_the_retry_after_header_and_is_kept_on_the_error() {
    let (base, s) = serve(
        vec![(
            200,
            vec![("retry-after", "60".into())],
            r#"{"detail":"Request was throttled."}"#,
        )],
        Duration::ZERO,
    )
    .await;
    let cfg = TransportConfig {
        max_attempts: 2,
        ..quick()
    };
    let err = transport(&base, cfg)
        .with_success_check(body_check)
        .request(Method::GET, "get_dataset", "datasets/a/b/")
        .send()
        .await
        .unwrap_err();
    // 60 s would exceed max_retry_after_secs (5 s) and end at once; 400 ms allows the resend.
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    assert_eq!(err.kind(), ErrorKind::TooManyRequests);
    assert_eq!(err.retry_after(), Some(Duration::from_millis(400)));
    assert!(err.is_persistent());
}

#[tokio::test]
async fn without_a_success_check_a_2xx_body_is_not_inspected() {
    let (base, _s) = serve(
        vec![(200, vec![], r#"{"errors":[{"message":"x"}]}"#)],
        Duration::ZERO,
    )
    .await;
    let r = transport(&base, quick())
        .request(Method::GET, "op", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn path_segments_arrive_encoded_and_bad_paths_are_refused_unsent() {
    let (base, s) = serve(vec![(200, vec![], "{}")], Duration::ZERO).await;
    let t = transport(&base, quick());
    let p = format!(
        "{}/",
        path(&["datasets", "jane", "my flowers/2", "samples"])
    );
    t.request(Method::GET, "list_samples", &p)
        .send()
        .await
        .unwrap();
    let seen = s.seen.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        "/v2/datasets/jane/my%20flowers%2F2/samples/?access_key=k auth="
    );
    for bad in [
        path(&["datasets", "", "x"]),
        path(&["datasets", "..", "x"]),
        "datasets/%2e%2E/x".to_owned(),
    ] {
        let err = t
            .request(Method::GET, "get_dataset", &bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation, "{bad}: {err}");
        assert_eq!(err.operation(), Some("get_dataset"));
    }
    assert_eq!(s.hits.load(Ordering::SeqCst), 1, "nothing bad was sent");
}

/// A server that records every request's headers and body, answering `statuses[n]` to the
/// n-th request (later ones get the last).
#[derive(Clone)]
struct Recorder {
    statuses: Arc<Vec<u16>>,
    requests: Arc<Mutex<Vec<(HeaderMap, bytes::Bytes)>>>,
}

async fn record(
    State(r): State<Recorder>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> impl IntoResponse {
    let mut requests = r.requests.lock().unwrap();
    let n = requests.len();
    requests.push((headers, body));
    let status = r.statuses[n.min(r.statuses.len() - 1)];
    (StatusCode::from_u16(status).unwrap(), "{}")
}

async fn serve_recording(statuses: Vec<u16>) -> (String, Recorder) {
    let r = Recorder {
        statuses: Arc::new(statuses),
        requests: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new().fallback(any(record)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), r)
}

/// The parts of a recorded multipart body, parsed by a real parser: (name, file name, content
/// type, data).
async fn parse_multipart(
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Vec<(String, Option<String>, Option<String>, Vec<u8>)> {
    use axum::extract::FromRequest;
    let req = axum::http::Request::builder()
        .header("content-type", headers.get("content-type").unwrap())
        .body(axum::body::Body::from(body))
        .unwrap();
    let mut form = axum::extract::Multipart::from_request(req, &())
        .await
        .unwrap();
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.unwrap().to_vec();
        parts.push((name, file_name, content_type, data));
    }
    parts
}

#[tokio::test]
async fn a_multipart_form_is_rebuilt_for_every_attempt_with_its_file_reread() {
    let (base, r) = serve_recording(vec![503, 200]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.json");
    let rows = br#"[{"row_data":"https://x/1.jpg","global_key":"k\"1"}]"#.repeat(2000);
    std::fs::write(&file, &rows).unwrap();
    let form = Multipart::new()
        .text(
            "operations",
            r#"{"variables":{"file":null},"query":"mutation"}"#,
        )
        .text("map", r#"{"1":["variables.file"]}"#)
        .file("1", "rows.json", "application/json", file.clone())
        .bytes(
            "2",
            "manifest \"m\".json",
            "",
            bytes::Bytes::from_static(b"{}"),
        );
    transport(&base, quick())
        .request(Method::POST, "upload_file", "graphql")
        .multipart(form)
        .retry(RetryMode::Idempotent)
        .send()
        .await
        .unwrap();
    let requests = r.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one retry after the 503");
    for (headers, body) in requests {
        let ct = headers["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
        assert_eq!(
            headers["content-length"].to_str().unwrap(),
            body.len().to_string()
        );
        let parts = parse_multipart(&headers, body).await;
        let json = Some("application/json".to_owned());
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].0, "operations");
        assert_eq!(
            parts[0].3,
            br#"{"variables":{"file":null},"query":"mutation"}"#
        );
        assert_eq!((parts[1].0.as_str(), parts[1].1.as_deref()), ("map", None));
        assert_eq!(
            (&parts[2].0, parts[2].1.as_deref(), &parts[2].2),
            (&"1".to_owned(), Some("rows.json"), &json)
        );
        assert_eq!(parts[2].3, rows, "the file arrives whole on every attempt");
        // Quoted as browsers and Python's requests quote file names.
        assert_eq!(parts[3].1.as_deref(), Some("manifest %22m%22.json"));
        assert_eq!(parts[3].2, None, "an empty content type sends none");
        assert_eq!(parts[3].3, b"{}");
    }
}

#[tokio::test]
async fn a_gzipped_json_body_is_compressed_once_and_resent_identically() {
    let (base, r) = serve_recording(vec![429, 201]).await;
    let value = serde_json::json!({"name": "s1", "attributes": {"image": {"url": "https://x/1.jpg"}}, "pad": "x".repeat(5000)});
    let t = transport(&base, quick());
    // Either order of json() and gzip().
    t.request(Method::POST, "add_sample", "datasets/a/b/samples/")
        .gzip()
        .json(&value)
        .send()
        .await
        .unwrap();
    t.request(Method::PUT, "add_label", "labels/u/ground-truth/")
        .json(&value)
        .gzip()
        .send()
        .await
        .unwrap();
    let requests = r.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    for (headers, body) in &requests {
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["content-length"].to_str().unwrap(),
            body.len().to_string()
        );
        assert!(body.len() < 1000, "compressed: {} bytes", body.len());
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
        let got: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(got, value);
    }
    assert_eq!(
        requests[0].1, requests[1].1,
        "the resend carries the same bytes"
    );
}

#[tokio::test]
async fn bodies_that_cannot_be_sent_are_refused_before_anything_is_sent() {
    let (base, r) = serve_recording(vec![200]).await;
    let t = transport(&base, quick());
    let bad_form = Multipart::new().bytes("1", "f", "no such type", bytes::Bytes::new());
    let file_gzipped = t
        .request(Method::POST, "upload", "x")
        .file("/etc/hostname", "application/json")
        .gzip();
    for builder in [
        t.request(Method::POST, "upload", "x").multipart(bad_form),
        file_gzipped,
        t.request(Method::POST, "upload", "x")
            .multipart(Multipart::new().text("a", "b"))
            .gzip(),
    ] {
        let err = builder.send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
        assert_eq!(err.operation(), Some("upload"));
    }
    assert!(r.requests.lock().unwrap().is_empty());
}

/// How a raw download server answers one request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// Honour any `Range` (206), but close the connection after this many body bytes.
    CutAfter(usize),
    /// Honour any `Range` (206) and send the rest in full.
    Whole,
    /// Ignore `Range`: 200 with the whole file.
    IgnoreRange,
    /// Honour `Range`, but for a new version of the file (another ETag).
    Changed,
}

/// A hand-written HTTP/1.1 file server (so a body can be cut off mid-way), answering request n
/// with `plan[n]` (later ones with the last). Records each request's `Range` header.
async fn serve_file(file: Arc<Vec<u8>>, plan: Vec<Answer>) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = ranges.clone();
    tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let answer = plan[n.min(plan.len() - 1)];
            n += 1;
            let file = file.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if sock.read(&mut byte).await.unwrap() == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
                let range = head
                    .lines()
                    .find_map(|l| l.strip_prefix("range: bytes="))
                    .map(|r| r.trim_end_matches('-').to_owned());
                seen.lock().unwrap().push(range.clone().unwrap_or_default());
                let start: usize = match (answer, &range) {
                    (Answer::IgnoreRange, _) | (_, None) => 0,
                    (_, Some(r)) => r.parse().unwrap(),
                };
                let total = file.len();
                let status = if start > 0 {
                    format!(
                        "206 Partial Content\r\ncontent-range: bytes {start}-{}/{total}",
                        total - 1
                    )
                } else {
                    "200 OK".to_owned()
                };
                let etag = if matches!(answer, Answer::Changed) {
                    "v2"
                } else {
                    "v1"
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\netag: \"{etag}\"\r\nconnection: close\r\n\r\n",
                    total - start
                );
                sock.write_all(head.as_bytes()).await.unwrap();
                let body = &file[start..];
                let body = match answer {
                    Answer::CutAfter(k) => &body[..k.min(body.len())],
                    _ => body,
                };
                // Several writes, so the client sees several chunks.
                for part in body.chunks(16 * 1024) {
                    if sock.write_all(part).await.is_err() {
                        return;
                    }
                }
                let _ = sock.flush().await;
                // Dropping the socket closes it: a cut body ends short of its length.
            });
        }
    });
    (
        format!("http://{addr}/export.ndjson?X-Goog-Signature=s3cr3t"),
        ranges,
    )
}

fn test_file(len: usize) -> Arc<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(7);
    Arc::new((0..len).map(|_| rng.u8(..)).collect())
}

async fn download_all(t: &Transport, url: &str) -> labelmux_core::Result<Vec<u8>> {
    use futures::StreamExt;
    let mut out = Vec::new();
    let mut s = labelmux_core::transport::resumable_download(t, "export_labels", url);
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

#[tokio::test]
async fn a_download_cut_mid_way_resumes_with_a_range_request_answered_206() {
    let file = test_file(300_000);
    let (url, ranges) = serve_file(
        file.clone(),
        vec![
            Answer::CutAfter(100_000),
            Answer::CutAfter(50_000),
            Answer::Whole,
        ],
    )
    .await;
    let got = download_all(&transport(&url, quick()), &url).await.unwrap();
    assert_eq!(got.len(), file.len());
    assert!(got == *file, "bytes differ");
    assert_eq!(*ranges.lock().unwrap(), ["", "100000", "150000"]);
}

#[tokio::test]
async fn a_range_request_answered_200_skips_the_prefix_already_delivered() {
    let file = test_file(200_000);
    let (url, ranges) = serve_file(
        file.clone(),
        vec![Answer::CutAfter(70_001), Answer::IgnoreRange],
    )
    .await;
    let got = download_all(&transport(&url, quick()), &url).await.unwrap();
    assert!(
        got == *file,
        "bytes differ: {} vs {}",
        got.len(),
        file.len()
    );
    assert_eq!(*ranges.lock().unwrap(), ["", "70001"]);
}

#[tokio::test]
async fn resumes_count_against_the_retry_budget() {
    let file = test_file(100_000);
    let (url, ranges) = serve_file(file.clone(), vec![Answer::CutAfter(10_000)]).await;
    let cfg = TransportConfig {
        max_attempts: 3,
        ..quick()
    };
    let t = transport(&url, cfg);
    let err = download_all(&t, &url).await.unwrap_err();
    assert_eq!(ranges.lock().unwrap().len(), 3, "first try + 2 resumes");
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.is_persistent() && err.attempts() == 3, "{err:?}");
    assert_eq!(err.operation(), Some("export_labels"));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cr3t"), "signature leaked: {shown}");
}

#[tokio::test]
async fn send_streaming_retries_until_the_head_and_classifies_error_statuses() {
    use futures::StreamExt;
    let (base, s) = serve(
        vec![(503, vec![], "busy"), (200, vec![], "line1\nline2\n")],
        Duration::ZERO,
    )
    .await;
    let t = transport(&base, quick());
    let resp = t
        .request(Method::GET, "export", "x")
        .send_streaming()
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    let lines: Vec<_> = labelmux_core::transport::ndjson_lines(resp.into_stream(), 100)
        .map(|l| l.unwrap())
        .collect()
        .await;
    assert_eq!(lines, ["line1", "line2"]);

    let (base, _s) = serve(vec![(404, vec![], "no such export")], Duration::ZERO).await;
    let err = transport(&base, quick())
        .request(Method::GET, "export", "x")
        .send_streaming()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("no such export"), "{err}");
}

#[tokio::test]
async fn a_missing_upload_file_is_an_io_error_never_retried_nor_sent() {
    let (base, r) = serve_recording(vec![200]).await;
    let t = transport(&base, quick());
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone.json");
    for builder in [
        t.request(Method::PUT, "upload_tasks", "x")
            .file(missing.clone(), "application/json"),
        t.request(Method::POST, "upload_file", "graphql")
            .multipart(Multipart::new().text("map", "{}").file(
                "1",
                "gone.json",
                "application/json",
                missing.clone(),
            ))
            .retry(RetryMode::Idempotent),
    ] {
        let err = builder.send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert_eq!(err.retryability(), labelmux_core::Retryability::Permanent);
        assert!(!err.is_persistent(), "tried once: {err:?}");
        assert!(err.message().contains("gone.json"), "{err}");
        assert!(err.operation().is_some());
    }
    assert!(r.requests.lock().unwrap().is_empty());
}

/// A hand-written server that sends `head`, then each body piece after its delay, then closes.
async fn serve_trickle(
    head: &'static str,
    pieces: Vec<(Duration, &'static [u8])>,
) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let pieces = pieces.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for (delay, piece) in pieces {
                    tokio::time::sleep(delay).await;
                    if sock.write_all(piece).await.is_err() || sock.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/"), hits)
}

#[tokio::test]
async fn a_body_that_stalls_ends_the_attempt_after_the_read_idle_timeout() {
    let (base, hits) = serve_trickle(
        "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n",
        vec![
            (Duration::ZERO, b"{\"partial\":"),
            (Duration::from_secs(30), b"never"),
        ],
    )
    .await;
    let cfg = TransportConfig {
        read_idle_timeout: Duration::from_millis(200),
        max_attempts: 2,
        ..quick()
    };
    let t = transport(&base, cfg);
    let err = t
        .request(Method::GET, "get_export", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("read_idle_timeout"), "{err}");
    assert!(
        err.is_persistent() && hits.load(Ordering::SeqCst) == 2,
        "{err:?}"
    );
    // A streamed body: the bytes that came, then the timeout.
    use futures::StreamExt;
    let resp = t
        .request(Method::GET, "get_export", "x")
        .send_streaming()
        .await
        .unwrap();
    let items: Vec<_> = resp.into_stream().collect().await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().as_ref(), b"{\"partial\":");
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(e.operation(), Some("get_export"));
}

#[tokio::test]
async fn a_streamed_body_may_outlast_the_per_attempt_timeout_while_bytes_keep_coming() {
    let step = Duration::from_millis(150);
    let (base, _hits) = serve_trickle(
        "HTTP/1.1 200 OK\r\ncontent-length: 25\r\nconnection: close\r\n\r\n",
        vec![
            (step, b"line1\n"),
            (step, b"line2\n"),
            (step, b"line3\n"),
            (step, b"line4\n"),
            (step, b"5"),
        ],
    )
    .await;
    let cfg = TransportConfig {
        timeout_secs: 0.4,
        read_idle_timeout: Duration::from_secs(5),
        max_attempts: 1,
        ..quick()
    };
    let t = transport(&base, cfg);
    use futures::StreamExt;
    let mut got = Vec::new();
    let mut chunks = t
        .request(Method::GET, "export", "x")
        .send_streaming()
        .await
        .unwrap()
        .into_stream();
    while let Some(c) = chunks.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(got, b"line1\nline2\nline3\nline4\n5");
    // Buffered, the same body is bounded by the per-attempt timeout.
    let err = t
        .request(Method::GET, "export", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn a_response_over_max_response_bytes_is_a_clear_error_not_retried() {
    let big: &'static str = Box::leak("x".repeat(5000).into_boxed_str());
    let (base, s) = serve(vec![(200, vec![], big)], Duration::ZERO).await;
    let cfg = TransportConfig {
        max_response_bytes: 4096,
        ..quick()
    };
    let err = transport(&base, cfg.clone())
        .request(Method::GET, "list_samples", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(
        err.message().contains("max_response_bytes") && err.message().contains("5000"),
        "{err}"
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
    // Without a Content-Length (chunked), the limit holds while reading.
    let (base, _hits) = serve_trickle(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        vec![
            (Duration::ZERO, b"800\r\n"),
            (Duration::ZERO, &[b'y'; 2048]),
            (Duration::ZERO, b"\r\n800\r\n"),
            (Duration::ZERO, &[b'y'; 2048]),
            (Duration::ZERO, b"\r\n800\r\n"),
            (Duration::ZERO, &[b'y'; 2048]),
            (Duration::ZERO, b"\r\n0\r\n\r\n"),
        ],
    )
    .await;
    let err = transport(&base, cfg)
        .request(Method::GET, "list_samples", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.message().contains("max_response_bytes"), "{err}");
}

/// Adapters run these inside `Send` futures (`async_trait` providers, spawned tasks).
#[allow(dead_code)]
fn futures_and_streams_are_send(t: Transport) {
    fn send<T: Send>(_: T) {}
    let form = Multipart::new().file("1", "f.json", "application/json", "f.json".into());
    send(t.request(Method::POST, "op", "x").multipart(form).send());
    send(
        t.request(Method::POST, "op", "x")
            .json(&1)
            .gzip()
            .send_json::<serde_json::Value>(),
    );
    send(t.request(Method::GET, "op", "x").send_streaming());
    send(labelmux_core::transport::resumable_download(
        &t,
        "op",
        "https://x/y",
    ));
    send(labelmux_core::transport::graphql::execute_raw(
        &t,
        "graphql",
        "op",
        "{x}",
        serde_json::Value::Null,
        RetryMode::Idempotent,
    ));
    send(labelmux_core::poll::poll_until(
        Vendor::Labelbox,
        "op",
        Default::default(),
        || async { Ok(labelmux_core::poll::PollStatus::Done(1)) },
    ));
}

#[tokio::test]
async fn a_file_that_changed_between_requests_is_not_spliced() {
    let file = test_file(100_000);
    let (url, ranges) = serve_file(
        file.clone(),
        vec![Answer::CutAfter(40_000), Answer::Changed],
    )
    .await;
    let err = download_all(&transport(&url, quick()), &url)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.message().contains("changed"), "{err}");
    assert_eq!(ranges.lock().unwrap().len(), 2);
}
