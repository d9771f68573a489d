//! `ScaleClient` against a scripted local HTTP server: exact requests on the wire (paths,
//! query strings, auth, bodies), the 200-only success rule, and 409 recovery.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::TryStreamExt;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{ErrorKind, JsonMap};
use labelmux_scale::{CreateBatchRequest, ScaleClient, TasksQuery};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

type Script = dyn Fn(usize, &Seen) -> (u16, Value) + Send + Sync;

struct Mock {
    seen: Mutex<Vec<Seen>>,
    script: Box<Script>,
}

async fn handle(
    State(m): State<Arc<Mock>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method,
        uri: uri.to_string(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    };
    let n = {
        let mut all = m.seen.lock().unwrap();
        all.push(seen.clone());
        all.len() - 1
    };
    let (status, body) = (m.script)(n, &seen);
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn serve(
    script: impl Fn(usize, &Seen) -> (u16, Value) + Send + Sync + 'static,
) -> (ScaleClient, Arc<Mock>) {
    let mock = Arc::new(Mock {
        seen: Mutex::new(Vec::new()),
        script: Box::new(script),
    });
    let app = Router::new().fallback(handle).with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let client = ScaleClient::new(
        &format!("http://{addr}/v1"),
        SecretString::from("live_abc123"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    (client, mock)
}

fn task(id: &str, extra: Value) -> Value {
    let mut t =
        json!({"task_id": id, "status": "pending", "project": "p", "type": "imageannotation"});
    if let (Some(t), Some(e)) = (t.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            t.insert(k.clone(), v.clone());
        }
    }
    t
}

fn body_of(v: Value) -> JsonMap {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn requests_match_the_sdk_on_the_wire() {
    let (client, mock) = serve(|_, s| {
        if s.uri.starts_with("/v1/tasks") {
            (
                200,
                json!({"docs": [], "total": 0, "limit": 50, "offset": 0, "has_more": false}),
            )
        } else if s.uri.contains("/batches/") {
            (
                200,
                json!({"name": "b b/x", "project": "p", "status": "in_progress", "metadata": {}}),
            )
        } else {
            (200, task("t1", json!({})))
        }
    })
    .await;
    let q = TasksQuery {
        project: Some("p".into()),
        batch: Some("b b/x".into()),
        task_type: Some("textcollection".into()),
        status: Some("completed".into()),
        customer_review_status: vec!["accepted".into(), "fixed".into()],
        tags: vec!["t".into(), "u v".into()],
        unique_id: vec!["u1".into(), "u2".into()],
        created_after: Some("2024-01-01T00:00:00Z".parse().unwrap()),
        include_attachment_url: Some(true),
        limit: Some(50),
        ..TasksQuery::default()
    };
    client.tasks(&q).await.unwrap();
    client.finalize_batch("b b/x").await.unwrap();
    client.cancel_task("t1", true).await.unwrap();
    client
        .delete_task_tags("t1", &["x".to_owned(), "y".to_owned()])
        .await
        .unwrap();
    client.audit_task("t1", false, None).await.unwrap();

    let seen = mock.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    // Basic auth with the key as user name and an empty password.
    for s in &seen {
        assert_eq!(
            s.auth.as_deref(),
            Some("Basic bGl2ZV9hYmMxMjM6"),
            "{}",
            s.uri
        );
    }
    assert_eq!(
        seen[0].uri,
        "/v1/tasks?start_time=2024-01-01T00%3A00%3A00.000Z&project=p&batch=b+b%2Fx&tags=t&tags=u+v&unique_id=u1&unique_id=u2&customer_review_status=accepted%2Cfixed&include_attachment_url=True&status=completed&type=textcollection&limit=50"
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].uri.as_str()),
        ("POST", "/v1/batches/b%20b%2Fx/finalize")
    );
    assert_eq!(seen[2].uri, "/v1/task/t1/cancel?clear_unique_id=true");
    assert_eq!(seen[2].content_type.as_deref(), Some("application/json"));
    assert!(seen[2].body.is_empty());
    assert_eq!(seen[3].method, Method::DELETE);
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[3].body).unwrap(),
        json!(["x", "y"])
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[4].body).unwrap(),
        json!({"accepted": false, "comments": null})
    );
}

#[tokio::test]
async fn a_retried_create_that_meets_409_returns_the_task_the_first_attempt_made() {
    // Attempt 1 "succeeds" server-side but answers 500; the resend meets 409; the lookup by
    // unique_id finds the task.
    let (client, mock) = serve(|n, s| match (n, s.method.as_str()) {
        (0, "POST") => (500, json!({"status_code": 500, "error": "boom"})),
        (_, "POST") => (
            409,
            json!({"status_code": 409, "error": "The unique_id (\"u1\") is already used for a different task (t1)."}),
        ),
        _ => (
            200,
            json!({"docs": [task("t1", json!({"unique_id": "u1"}))], "total": 1, "limit": 100, "offset": 0, "has_more": false}),
        ),
    })
    .await;
    let body = body_of(json!({"project": "p", "attachment": "a.jpg", "unique_id": "u1"}));
    let t = client.create_task("imageannotation", &body).await.unwrap();
    assert_eq!(t.task_id, "t1");
    let seen = mock.seen.lock().unwrap().clone();
    let kinds: Vec<(String, String)> = seen
        .iter()
        .map(|s| (s.method.to_string(), s.uri.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("POST".to_owned(), "/v1/task/imageannotation".to_owned()),
            ("POST".to_owned(), "/v1/task/imageannotation".to_owned()),
            ("GET".to_owned(), "/v1/tasks?unique_id=u1".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_first_attempt_409_is_a_duplicate_unless_asked_to_resolve_it() {
    let (client, _mock) = serve(|_, s| match s.method.as_str() {
        "POST" => (
            409,
            json!({"status_code": 409, "error": "The unique_id (\"k&1\") is already used for a different task (t9)."}),
        ),
        // A server that ignores the filter: the exact-match check must not pick this task.
        _ if s.uri.starts_with("/v1/tasks?") => (
            200,
            json!({"docs": [task("other", json!({"unique_id": "zzz"}))], "total": 1, "limit": 100, "offset": 0, "has_more": false}),
        ),
        // Found through the id named in the 409 message instead.
        _ => (200, task("t9", json!({"unique_id": "k&1"}))),
    })
    .await;
    let body = body_of(json!({"project": "p", "unique_id": "k&1"}));
    let e = client
        .create_task("imageannotation", &body)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Duplicate);
    assert_eq!(e.vendor_code(), Some("ScaleDuplicateResource"));
    let created = client
        .create_task_idempotent("imageannotation", &body)
        .await
        .unwrap();
    assert!(created.existed);
    assert_eq!(created.task.task_id, "t9");
}

#[tokio::test]
async fn only_http_200_is_success() {
    let (client, _mock) = serve(|_, _| (201, task("t1", json!({})))).await;
    let e = client.get_task("t1").await.unwrap_err();
    assert_eq!(e.status(), Some(201));
    assert!(e.to_string().contains("scale: get_task:"), "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn task_pages_follow_next_token_and_a_stuck_token_is_an_error() {
    let (client, mock) = serve(|_, s| {
        let page = |docs: Vec<Value>, more: bool, token: Option<&str>| {
            json!({"docs": docs, "total": 5, "limit": 2, "offset": 0, "has_more": more, "next_token": token})
        };
        if s.uri.contains("batch=stuck") {
            return (200, page(vec![task("s", json!({}))], true, Some("same")));
        }
        if s.uri.contains("next_token=tok2") {
            (200, page(vec![task("e", json!({}))], false, None))
        } else if s.uri.contains("next_token=tok1") {
            (200, page(vec![task("c", json!({})), task("d", json!({}))], true, Some("tok2")))
        } else {
            (200, page(vec![task("a", json!({})), task("b", json!({}))], true, Some("tok1")))
        }
    })
    .await;
    let all: Vec<String> = client
        .get_tasks(TasksQuery::project("p"))
        .map_ok(|t| t.task_id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all, ["a", "b", "c", "d", "e"]);
    let seen = mock.seen.lock().unwrap().len();
    assert_eq!(seen, 3);
    let stuck: Vec<_> = futures::StreamExt::collect::<Vec<_>>(client.get_tasks(TasksQuery {
        batch: Some("stuck".into()),
        ..TasksQuery::default()
    }))
    .await;
    // Page 1, page 2 (same token again) -> error, then the stream ends.
    assert!(
        stuck.len() <= 4,
        "a stuck token must not loop: {} items",
        stuck.len()
    );
    assert_eq!(
        stuck.last().unwrap().as_ref().unwrap_err().kind(),
        ErrorKind::Decode
    );
}

#[tokio::test]
async fn a_retried_batch_create_that_meets_409_returns_the_batch() {
    let (client, _mock) = serve(|n, s| match (n, s.method.as_str()) {
        (0, "POST") => (503, json!({"status_code": 503, "error": "queue"})),
        (_, "POST") => (409, json!({"status_code": 409, "error": "Batch name exists"})),
        _ => (
            200,
            json!({"name": "b1", "project": "p", "status": "in_progress", "created_at": "2024-01-01T00:00:00Z", "metadata": {}}),
        ),
    })
    .await;
    let b = client
        .create_batch(&CreateBatchRequest::new("p", "b1"))
        .await
        .unwrap();
    assert_eq!(b.name, "b1");
}

/// A provider over the scripted server: tasks whose attachment is "bad" are refused (400);
/// `finalize` and `setMetadata` answer as told.
async fn batch_env(
    finalize_status: u16,
    metadata_status: u16,
) -> (labelmux_scale::ScaleProvider, tempfile::TempDir) {
    let (client, _mock) = serve(move |n, s| {
        let path = s.uri.as_str();
        if s.method == Method::GET && path.starts_with("/v1/projects/") {
            (200, json!({"name": "p", "type": "imageannotation"}))
        } else if path.ends_with("/finalize") {
            match finalize_status {
                200 => (
                    200,
                    json!({"name": "b1", "project": "p", "status": "in_progress"}),
                ),
                code => (
                    code,
                    json!({"status_code": code, "error": "finalize is down"}),
                ),
            }
        } else if path.ends_with("/setMetadata") {
            match metadata_status {
                200 => (
                    200,
                    json!({"name": "b1", "project": "p", "status": "staging"}),
                ),
                code => (
                    code,
                    json!({"status_code": code, "error": "metadata is down"}),
                ),
            }
        } else if path == "/v1/batches" {
            (
                200,
                json!({"name": "b1", "project": "p", "status": "staging", "metadata": {}}),
            )
        } else if path.starts_with("/v1/task/") {
            let body: Value = serde_json::from_slice(&s.body).unwrap_or_default();
            if body["attachment"] == "bad" {
                (
                    400,
                    json!({"status_code": 400, "error": "attachment is not a URL"}),
                )
            } else {
                (
                    200,
                    task(&format!("t{n}"), json!({"unique_id": body["unique_id"]})),
                )
            }
        } else {
            (404, json!({"status_code": 404, "error": "no route"}))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cursors = labelmux_core::cursor::FileCursorStore::new(dir.path());
    (labelmux_scale::ScaleProvider::new(client, cursors), dir)
}

fn three_tasks() -> labelmux_core::TaskSpecStream<'static> {
    use futures::StreamExt;
    let specs = ["a.jpg", "bad", "c.jpg"]
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut inputs = JsonMap::new();
            inputs.insert("attachment".into(), json!(a));
            Ok(labelmux_core::TaskSpec::new(inputs).with_external_key(format!("k{i}")))
        });
    futures::stream::iter(specs).boxed()
}

#[tokio::test]
async fn a_batch_that_cannot_be_finalized_names_itself_and_what_was_done() {
    use labelmux_core::Provider;
    let (provider, _dir) = batch_env(500, 200).await;
    let spec = labelmux_core::BatchSpec::default().with_name("b1");
    let err = provider
        .create_batch(&"p".into(), spec, three_tasks(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(err.operation(), Some("create_batch"));
    let msg = err.to_string();
    for want in [
        "2 tasks were created in Scale batch \"b1\"",
        "1 refused",
        "key \"k1\": ",
        "attachment is not a URL",
        "finalizing the batch failed",
        "finalize is down",
        "batch name \"b1\"",
    ] {
        assert!(msg.contains(want), "{want:?} missing in {msg}");
    }
}

#[tokio::test]
async fn failing_to_record_refusals_on_the_batch_keeps_the_receipt() {
    use labelmux_core::Provider;
    let (provider, _dir) = batch_env(200, 500).await;
    let receipt = provider
        .create_batch(
            &"p".into(),
            labelmux_core::BatchSpec::default(),
            three_tasks(),
            None,
        )
        .await
        .unwrap();
    assert_eq!((receipt.submitted, receipt.created), (3, 2));
    assert_eq!(receipt.failures.len(), 1);
    assert_eq!(receipt.failures[0].external_key.as_deref(), Some("k1"));
    assert_eq!(receipt.failures[0].index, Some(1));
}

#[tokio::test]
async fn file_uploads_are_multipart_fields_then_the_file_resent_whole_on_retry() {
    let (c, m) = serve(|n, _| {
        if n == 0 {
            (500, json!({"error": "boom"}))
        } else {
            (200, json!({"id": "f1", "mimetype": "image/png", "size": 9}))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pic \"1\".png");
    std::fs::write(&path, b"\x89PNG data").unwrap();
    let fields = vec![
        ("project_name".to_owned(), "p".to_owned()),
        ("metadata".to_owned(), r#"{"a":1}"#.to_owned()),
        // With a reference_id the upload is safe to resend after a 500.
        ("reference_id".to_owned(), "r1".to_owned()),
    ];
    c.upload_file(&path, &fields).await.unwrap();
    let seen = m.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.uri.as_str()),
            ("POST", "/v1/files/upload")
        );
        let ct = s.content_type.clone().unwrap();
        let boundary = ct
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap_or_else(|| panic!("{ct}"));
        let text = String::from_utf8_lossy(&s.body);
        assert!(
            text.starts_with(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"project_name\"\r\n\r\np\r\n"
            )),
            "{text}"
        );
        assert!(
            text.contains("name=\"metadata\"\r\n\r\n{\"a\":1}\r\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "name=\"file\"; filename=\"pic %221%22.png\"\r\n\r\n\u{fffd}PNG data\r\n"
            ),
            "{text}"
        );
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")), "{text}");
        assert!(
            !text.contains("Content-Type"),
            "no per-part content type: {text}"
        );
    }
    // Without a reference_id a 500 is not resent: Scale may have stored the file.
    let (c, m) = serve(|_, _| (500, json!({"error": "boom"}))).await;
    let err = c
        .upload_file_bytes("a.txt", b"x".to_vec(), &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(m.seen.lock().unwrap().len(), 1);
    // A file that cannot be read is refused before Scale is contacted.
    let err = c
        .upload_file(&dir.path().join("missing.png"), &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert_eq!(m.seen.lock().unwrap().len(), 1);
}
