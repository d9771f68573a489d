//! HTTP-level tests of the Sama client and provider against a tiny scripted server: what goes
//! over the wire (paths, query encoding, bodies, headers) and how answers are handled.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::TimeZone;
use futures::{stream, StreamExt, TryStreamExt};
use labelmux_core::cursor::MemoryCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{
    BatchId, BatchSpec, BatchStatus, DeliveryQuery, Error, ErrorKind, ProgressEvent,
    ProgressObserver, ProjectId, Provider, TaskFilter, TaskId, TaskSpec, TaskState,
};
use labelmux_sama::{
    MatchType, MultiTaskStatusQuery, SamaClient, SamaProvider, SinceLastCallQuery,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const KEY: &str = "canary-SECRET-key-123";

#[derive(Clone, Debug)]
struct Req {
    method: String,
    path: String,
    query: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Req {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn has_key(&self) -> bool {
        self.query.contains(&format!("access_key={KEY}"))
    }
}

type Responder = Box<dyn Fn(&Req, &str) -> (u16, String) + Send + Sync>;

struct Mock {
    reqs: Mutex<Vec<Req>>,
    root: Mutex<String>,
    respond: Responder,
}

impl Mock {
    fn requests(&self) -> Vec<Req> {
        self.reqs.lock().unwrap().clone()
    }
}

async fn handle(
    State(m): State<Arc<Mock>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let req = Req {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    };
    m.reqs.lock().unwrap().push(req.clone());
    let root = m.root.lock().unwrap().clone();
    let (status, body) = (m.respond)(&req, &root);
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
}

async fn mock(
    respond: impl Fn(&Req, &str) -> (u16, String) + Send + Sync + 'static,
) -> (Arc<Mock>, SamaClient) {
    let m = Arc::new(Mock {
        reqs: Mutex::new(Vec::new()),
        root: Mutex::new(String::new()),
        respond: Box::new(respond),
    });
    let app = axum::Router::new().fallback(handle).with_state(m.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    *m.root.lock().unwrap() = format!("http://{addr}");
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let client = SamaClient::new(
        &format!("http://{addr}/v2"),
        SecretString::from(KEY),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    (m, client)
}

fn ok(v: Value) -> (u16, String) {
    (200, v.to_string())
}

fn spec(i: usize) -> TaskSpec {
    TaskSpec::new(
        json!({"url": format!("https://x/{i}.jpg")})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .with_external_key(format!("k{i}"))
}

#[derive(Default)]
struct Events(Mutex<Vec<ProgressEvent>>);
impl ProgressObserver for Events {
    fn on_progress(&self, e: ProgressEvent) {
        self.0.lock().unwrap().push(e);
    }
}

#[tokio::test]
async fn create_batch_runs_the_three_step_upload_flow() {
    let (m, client) = mock(|r, root| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v2/projects/1001/batches.json") => ok(json!({
            "batch_id": 58555,
            "tasks_put_url": format!("{root}/upload/abc?X-Amz-Signature=sig")
        })),
        ("PUT", "/upload/abc") => (200, String::new()),
        ("POST", "/v2/projects/1001/batches/58555/continue.json") => ok(json!({"batch_id": 58555})),
        _ => (404, String::new()),
    })
    .await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let events = Arc::new(Events::default());
    let tasks = stream::iter((0..3).map(|i| Ok(spec(i)))).boxed();
    let batch = BatchSpec::default().with_name("run-7").with_priority(-1);
    let receipt = sama
        .create_batch(&ProjectId::new("1001"), batch, tasks, Some(events.clone()))
        .await
        .unwrap();
    assert_eq!(receipt.batch_id.as_str(), "58555");
    assert_eq!(receipt.submitted, 3);
    assert_eq!(receipt.raw, json!({"batch_id": 58555}));

    let reqs = m.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    let open = &reqs[0];
    assert!(open.has_key());
    assert_eq!(open.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        open.json(),
        json!({"notification_email": null, "tasks_file_name": "labelmux"})
    );
    let put = &reqs[1];
    assert_eq!(put.method, "PUT");
    assert!(
        !put.query.contains("access_key"),
        "no key on the pre-signed URL"
    );
    assert_eq!(put.query, "X-Amz-Signature=sig");
    assert_eq!(put.content_type.as_deref(), Some("application/json"));
    let uploaded = put.json();
    assert_eq!(uploaded.as_array().unwrap().len(), 3);
    assert_eq!(
        uploaded[2],
        json!({"data": {"url": "https://x/2.jpg", "external_id": "k2", "client_batch_id": "run-7"},
               "priority": -1, "submit": false})
    );
    let cont = &reqs[2];
    assert!(cont.has_key());
    assert_eq!(cont.content_type.as_deref(), Some("application/json"));
    assert!(cont.body.is_empty());

    let ev = events.0.lock().unwrap().clone();
    let phases: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Phase(p) => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(phases, ["spooling", "uploading", "starting"]);
    assert!(ev.contains(&ProgressEvent::TasksSent(3)));
}

#[tokio::test]
async fn a_bad_item_aborts_before_anything_is_sent() {
    let (m, client) = mock(|_, _| ok(json!({}))).await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let tasks = stream::iter(vec![
        Ok(spec(0)),
        Err(Error::validation("line 2: not JSON")),
        Ok(spec(2)),
    ])
    .boxed();
    let err = sama
        .create_batch(&ProjectId::new("1001"), BatchSpec::default(), tasks, None)
        .await
        .unwrap_err();
    assert_eq!(err.message(), "line 2: not JSON");
    assert!(m.requests().is_empty(), "nothing reached Sama");
}

#[tokio::test]
async fn a_failed_upload_cancels_the_waiting_batch_and_never_continues() {
    let (m, client) = mock(|r, root| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v2/projects/1001/batches.json") => ok(json!({
            "batch_id": 9, "tasks_put_url": format!("{root}/upload/x")
        })),
        ("PUT", _) => (403, "<Error>SignatureDoesNotMatch</Error>".into()),
        _ => ok(json!({})),
    })
    .await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let err = sama
        .create_batch(
            &ProjectId::new("1001"),
            BatchSpec::default(),
            stream::iter(vec![Ok(spec(0))]).boxed(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    let paths: Vec<String> = m.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().any(|p| p.ends_with("/batches/9/cancel.json")));
    assert!(!paths.iter().any(|p| p.ends_with("continue.json")));
}

#[tokio::test]
async fn a_refused_retry_of_continue_is_success_when_the_batch_started() {
    let continues = Arc::new(AtomicUsize::new(0));
    let c = continues.clone();
    let (_m, client) = mock(move |r, _| {
        if r.path.ends_with("continue.json") {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                (503, "Service Unavailable".into())
            } else {
                (
                    400,
                    json!({"errors": [{"type": 400, "message": "batch already started"}]})
                        .to_string(),
                )
            }
        } else if r.path.ends_with("/batches/5.json") {
            assert!(r.query.contains("page_size=0"), "{}", r.query);
            ok(json!({"batch_id": 5, "status": "processing"}))
        } else {
            (404, String::new())
        }
    })
    .await;
    let started = client
        .continue_batch(&ProjectId::new("1"), &BatchId::new("5"))
        .await
        .unwrap();
    assert_eq!(started.batch_id.as_deref(), Some("5"));
    assert_eq!(continues.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn multi_task_status_encodes_every_filter_and_pages() {
    let (m, client) = mock(|r, _| {
        let page2 = r.query.contains("page=2");
        let n = if page2 { 5 } else { 100 };
        let offset = if page2 { 100 } else { 0 };
        ok(json!({"tasks": (0..n).map(|i| json!({"id": format!("t{}", i + offset), "state": "in progress"})).collect::<Vec<_>>()}))
    })
    .await;
    let from = chrono::Utc
        .with_ymd_and_hms(2023, 9, 2, 10, 23, 36)
        .unwrap()
        + chrono::Duration::milliseconds(500);
    let query = MultiTaskStatusQuery {
        batch_id: Some(BatchId::new("12")),
        client_batch_id: Some("speed racer".into()),
        client_batch_id_match_type: Some(MatchType::Contains),
        from: Some(from),
        state: Some(TaskState::InProgress),
        ..MultiTaskStatusQuery::default()
    };
    let tasks: Vec<_> = client
        .get_multi_task_status(&ProjectId::new("1001"), query)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 105);
    assert_eq!(tasks[104].id, "t104");
    let reqs = m.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v2/projects/1001/tasks.json");
    assert_eq!(
        reqs[0].query,
        format!(
            "batch_id=12&client_batch_id=speed+racer&client_batch_id_match_type=contains\
             &from=2023-09-02T10%3A23%3A36.500Z&state=in+progress&omit_answers=true\
             &page=1&page_size=100&access_key={KEY}"
        )
    );
    assert!(reqs[1].query.contains("page=2&page_size=100"));
    let bad = MultiTaskStatusQuery {
        page_size: 101,
        ..MultiTaskStatusQuery::default()
    };
    let err = client
        .get_multi_task_status(&ProjectId::new("1001"), bad)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn list_tasks_maps_filter_and_include_answers() {
    let (m, client) = mock(|_, _| ok(json!({"tasks": [{"id": "a", "state": "new", "data": {"url": "u", "output_label": "x"}}]}))).await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let filter = TaskFilter::default()
        .with_answers(true)
        .with_state(TaskState::New);
    let tasks: Vec<_> = sama
        .list_tasks(&ProjectId::new("1001"), filter)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    assert!(!tasks[0].inputs.contains_key("output_label"));
    let q = &m.requests()[0].query;
    assert!(
        q.contains("omit_answers=false") && q.contains("state=new"),
        "{q}"
    );
    assert!(!q.contains("batch_id"), "unset filters are omitted: {q}");
}

#[tokio::test]
async fn since_last_call_reads_pages_one_by_one_until_a_short_page() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let (m, client) = mock(move |_, _| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        let size = if n < 2 { 2 } else { 1 };
        ok(json!({"tasks": (0..size).map(|i| json!({"id": format!("p{n}-{i}"), "state": "completed", "delivered_at": null})).collect::<Vec<_>>()}))
    })
    .await;
    let query = SinceLastCallQuery {
        consumer: Some("etl".into()),
        batch_id: Some(BatchId::new("7")),
        limit: 2,
        ..SinceLastCallQuery::default()
    };
    let mut s = client.get_delivered_tasks_since_last_call(&ProjectId::new("1001"), query);
    s.try_next().await.unwrap().unwrap();
    s.try_next().await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no page read ahead");
    let rest: Vec<_> = s.try_collect().await.unwrap();
    assert_eq!(rest.len(), 3);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "a short page ends the stream"
    );
    let r = &m.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v2/projects/1001/tasks/delivered.json");
    assert_eq!(
        r.json(),
        json!({"batch_id": "7", "client_batch_id": null, "client_batch_id_match_type": null,
               "consumer": "etl", "limit": 2})
    );
}

#[tokio::test]
async fn deliveries_since_timestamp_use_get_and_beginning_sends_no_from() {
    let (m, client) = mock(|_, _| {
        ok(json!({"tasks": [{"id": "d1", "state": "completed", "answers": {"a": 1}}]}))
    })
    .await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let project = ProjectId::new("1001");
    let ts = chrono::Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    let d: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since(ts))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(d[0].answers, json!({"a": 1}));
    let _: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::all())
        .try_collect()
        .await
        .unwrap();
    let reqs = m.requests();
    assert_eq!(reqs[0].method, "GET");
    assert!(reqs[0]
        .query
        .starts_with("from=2024-01-02T03%3A04%3A05Z&page=1&page_size=1000"));
    assert!(!reqs[1].query.contains("from="));
    // A consumer reading one task: the same feed with `task_id` (its own cursor scope), never
    // Sama's since-last-call POST.
    let mut q = DeliveryQuery::since_last_call("etl");
    q.task_id = Some(TaskId::new("x"));
    let _: Vec<_> = sama.deliveries(&project, q).try_collect().await.unwrap();
    let reqs = m.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2].method, "GET");
    assert!(
        reqs[2].query.contains("task_id=x") && !reqs[2].query.contains("from="),
        "{}",
        reqs[2].query
    );
}

#[tokio::test]
async fn batch_status_reads_every_page_and_keeps_job_fields() {
    let (m, client) = mock(|r, _| {
        let page2 = r.query.contains("page=2&");
        let entries: Vec<Value> = if page2 {
            vec![json!({"status": "failed", "data": {"url": 3}, "errors": [{"type": "InvalidInputSchema", "message": "url"}]}); 3]
        } else {
            (0..1000).map(|i| json!({"id": format!("t{i}"), "status": "created"})).collect()
        };
        ok(json!({"batch_id": 5, "status": if page2 { "ignored" } else { "completed" },
                  "tasks_created": 1000, "messages": ["done"], "tasks": entries}))
    })
    .await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let b = sama
        .batch_status(&ProjectId::new("1001"), &BatchId::new("5"))
        .await
        .unwrap();
    assert_eq!(b.status, BatchStatus::Created);
    assert_eq!(b.counts.created, 1000);
    assert_eq!(b.counts.failed, 3);
    assert_eq!(b.counts.submitted, Some(1003));
    assert_eq!(b.failures.len(), 3);
    assert_eq!(b.failures[2].index, Some(1002));
    assert_eq!(b.messages, ["done"]);
    let reqs = m.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0]
        .query
        .starts_with("batch_id=5&omit_failed_task_data=false&page=1&page_size=1000"));
}

#[tokio::test]
async fn unauthorized_says_why_and_never_shows_the_key() {
    let (_m, client) = mock(|_, _| {
        (
            401,
            json!({"errors": [{"type": 401, "message": "Not authorized."}]}).to_string(),
        )
    })
    .await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let err = sama.project(&ProjectId::new("1001")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.status(), Some(401));
    assert!(err.message().contains("API access is not enabled"));
    assert!(!format!("{err} {err:?}").contains(KEY));
}

#[tokio::test]
async fn get_task_accepts_both_envelopes_and_404_is_not_found() {
    let (m, client) = mock(|r, _| match r.path.as_str() {
        "/v2/projects/1/tasks/a.json" => ok(json!({"task": {"id": "a", "state": "delivered"}})),
        "/v2/projects/1/tasks/b.json" => ok(json!({"tasks": [{"id": "b", "state": "rejected"}]})),
        _ => (
            404,
            json!({"errors": [{"type": 404, "message": "Task not found"}]}).to_string(),
        ),
    })
    .await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let p = ProjectId::new("1");
    assert_eq!(
        sama.get_task(&p, &TaskId::new("a")).await.unwrap().state,
        TaskState::Delivered
    );
    assert_eq!(
        sama.get_task(&p, &TaskId::new("b")).await.unwrap().state,
        TaskState::Rejected
    );
    let err = sama.get_task(&p, &TaskId::new("zz")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("Task not found"));
    assert!(m.requests()[0]
        .query
        .starts_with("same_as_delivery=true&access_key="));
}

#[tokio::test]
async fn delete_reports_per_task_outcome_from_the_tasks_themselves() {
    // t1 is new, t2 delivered. Sama refuses a whole request holding an undeletable task.
    let state = Arc::new(Mutex::new(vec![("t1", "new"), ("t2", "delivered")]));
    let s = state.clone();
    let (m, client) = mock(move |r, _| {
        let mut st = s.lock().unwrap();
        if r.path.ends_with("delete_tasks.json") {
            let ids: Vec<String> = serde_json::from_value(r.json()["task_ids"].clone()).unwrap();
            if ids
                .iter()
                .any(|id| st.iter().any(|(t, s)| t == id && *s != "new"))
            {
                return (
                    400,
                    json!({"errors": [{"type": 400, "message": "only new tasks can be deleted"}]})
                        .to_string(),
                );
            }
            st.retain(|(t, _)| !ids.iter().any(|id| id == t));
            return (200, String::new());
        }
        let id = r.path.rsplit('/').next().unwrap().trim_end_matches(".json");
        match st.iter().find(|(t, _)| *t == id) {
            Some((t, s)) => ok(json!({"task": {"id": t, "state": s}})),
            None => (
                404,
                json!({"errors": [{"type": 404, "message": "not found"}]}).to_string(),
            ),
        }
    })
    .await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let report = sama
        .delete_tasks(
            &ProjectId::new("1"),
            &[TaskId::new("t1"), TaskId::new("t2"), TaskId::new("t1")],
        )
        .await
        .unwrap();
    assert_eq!(report.deleted, [TaskId::new("t1")]);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].0, TaskId::new("t2"));
    assert!(
        report.refused[0].1.contains("delivered"),
        "{}",
        report.refused[0].1
    );
    let deletes: Vec<Value> = m
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("delete_tasks.json"))
        .map(|r| r.json())
        .collect();
    assert_eq!(
        deletes,
        [
            json!({"task_ids": ["t1", "t2"]}),
            json!({"task_ids": ["t1"]})
        ]
    );
}

#[tokio::test]
async fn writes_send_the_sdk_bodies_and_accept_empty_answers() {
    let (m, client) = mock(|r, _| {
        if r.path.ends_with("cancel.json") {
            (200, String::new())
        } else {
            ok(json!({"success": true}))
        }
    })
    .await;
    let p = ProjectId::new("1");
    assert_eq!(
        client
            .cancel_batch_creation_job(&p, &BatchId::new("2"))
            .await
            .unwrap(),
        None
    );
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    sama.reject_task(&p, &TaskId::new("t"), &["blurry".into()])
        .await
        .unwrap();
    sama.set_priority(&p, &[TaskId::new("a"), TaskId::new("b")], -5)
        .await
        .unwrap();
    sama.set_priority(&p, &[], 1).await.unwrap();
    let stats = sama
        .project_stats(&p, labelmux_core::StatsOptions::default())
        .await
        .unwrap();
    assert_eq!(stats.raw, json!({"success": true}));
    let reqs = m.requests();
    assert_eq!(reqs[0].content_type.as_deref(), Some("application/json"));
    assert!(reqs[0].body.is_empty());
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("PUT", "/v2/projects/1/tasks/t/reject.json")
    );
    assert_eq!(reqs[1].json(), json!({"reasons": ["blurry"]}));
    assert_eq!(reqs[2].path, "/v2/projects/1/tasks/bulk_update.json");
    assert_eq!(
        reqs[2].json(),
        json!({"task_ids": ["a", "b"], "priority": -5})
    );
    // Each task is read back (Sama's answer is undocumented), then the stats request.
    let paths: Vec<&str> = reqs[3..].iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v2/projects/1/tasks/a.json",
            "/v2/projects/1/tasks/b.json",
            "/v2/projects/1/stats.json"
        ],
        "an empty priority update sends nothing"
    );
}

/// A scripted delivered feed: (delivered_at in ms, task id), answered like Sama's
/// `GET tasks/delivered.json` (`from` inclusive, ordered by time then id, numbered pages).
type Feed = Arc<Mutex<Vec<(i64, String)>>>;

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.replace("%3A", ":").replace("%2B", "+"))
    })
}

fn feed_page(feed: &Feed, req: &Req) -> (u16, String) {
    let from = query_param(&req.query, "from")
        .map(|f| {
            chrono::DateTime::parse_from_rfc3339(&f)
                .unwrap()
                .timestamp_millis()
        })
        .unwrap_or(i64::MIN);
    let page: usize = query_param(&req.query, "page").unwrap().parse().unwrap();
    let size: usize = query_param(&req.query, "page_size")
        .unwrap()
        .parse()
        .unwrap();
    let mut all = feed.lock().unwrap().clone();
    all.sort();
    let tasks: Vec<Value> = all
        .into_iter()
        .filter(|(at, _)| *at >= from)
        .skip((page - 1) * size)
        .take(size)
        .map(|(at, id)| {
            let t = chrono::Utc.timestamp_millis_opt(at).unwrap();
            json!({"id": id, "state": "delivered", "answers": {"n": at},
                   "delivered_at": t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()})
        })
        .collect();
    ok(json!({ "tasks": tasks }))
}

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

#[tokio::test]
async fn a_consumer_walks_the_feed_by_time_so_a_redelivery_mid_walk_skips_nothing() {
    // 2,500 deliveries, ten per millisecond: three pages of 1,000.
    let feed: Feed = Arc::new(Mutex::new(
        (0..2500)
            .map(|i| (T0 + i / 10, format!("t{i:05}")))
            .collect(),
    ));
    let f = feed.clone();
    let (m, client) = mock(move |req, _| {
        let answer = feed_page(&f, req);
        let mut all = f.lock().unwrap();
        if all.len() == 2500 {
            // After the first page, task t00005 is reworked and delivered again: it moves to
            // the end of the feed, shifting every later delivery one place forward.
            all.retain(|(_, id)| id != "t00005");
            all.push((T0 + 10_000, "t00005".to_owned()));
        }
        answer
    })
    .await;
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let project = ProjectId::new("1001");
    let got: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since_last_call("etl"))
        .try_collect()
        .await
        .unwrap();
    let mut revisions: Vec<_> = got
        .iter()
        .map(|d| (d.task_id.to_string(), d.delivered_at))
        .collect();
    assert_eq!(got.len(), 2501, "every delivery, and the re-delivery, once");
    revisions.sort();
    revisions.dedup();
    assert_eq!(revisions.len(), 2501);
    assert!(got.iter().all(|d| d.checkpoint.is_some()));
    // Page 2 was read from the last time of page 1, not as page 2 of a shifted feed.
    let reqs = m.requests();
    let second = &reqs[1].query;
    assert_eq!(
        query_param(second, "page").as_deref(),
        Some("1"),
        "{second}"
    );
    assert_eq!(
        query_param(second, "from").as_deref(),
        Some("2026-01-01T00:00:00.099Z"),
        "{second}"
    );
    // Committed half-way (a tie at one millisecond): the rest, and nothing before, follows.
    let mid = got[1234].checkpoint.clone().unwrap();
    sama.commit_consumer(&project, "etl", &mid).await.unwrap();
    let rest: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since_last_call("etl"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest.len(), 2501 - 1235);
    assert_eq!(rest[0], got[1235]);
}

#[tokio::test]
async fn a_feed_out_of_order_is_refused_rather_than_risking_loss() {
    let feed: Feed = Arc::new(Mutex::new(Vec::new()));
    let (_, client) = mock(move |_, _| {
        ok(json!({"tasks": [
            {"id": "b", "state": "delivered", "delivered_at": "2026-01-01T00:00:02.000Z"},
            {"id": "a", "state": "delivered", "delivered_at": "2026-01-01T00:00:01.000Z"},
        ]}))
    })
    .await;
    drop(feed);
    let sama = SamaProvider::new(client, MemoryCursorStore::new());
    let err = sama
        .deliveries(
            &ProjectId::new("1001"),
            DeliveryQuery::since_last_call("etl"),
        )
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("not ordered"), "{err}");
}
