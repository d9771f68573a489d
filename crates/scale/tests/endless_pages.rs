//! A hostile Scale whose pages never end: the same tasks under new tokens, fresh tasks past the
//! total it reports, the same batches at every offset. Each listing must end with a `Decode`
//! error after a few pages instead of reading forever.

use axum::extract::Query;
use axum::routing::any;
use futures::StreamExt;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{Error, ErrorKind, Vendor};
use labelmux_scale::{BatchesQuery, ScaleClient, TasksQuery};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A server answering `GET /tasks` and `GET /batches` with `answer(request number, query)`.
async fn server(answer: fn(u64, &HashMap<String, String>) -> Value) -> ScaleClient {
    let hits = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().fallback(any(move |Query(q): Query<HashMap<String, String>>| {
        let n = hits.fetch_add(1, Ordering::SeqCst);
        async move { axum::Json(answer(n, &q)) }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    ScaleClient::new(
        &format!("http://{addr}/v1"),
        SecretString::from("live_k"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap()
}

fn task(id: String) -> Value {
    json!({"task_id": id, "type": "imageannotation", "status": "pending"})
}

/// Drain `s`; the error that ended it, and the items before it.
async fn ending<T>(
    mut s: futures::stream::BoxStream<'static, labelmux_core::Result<T>>,
) -> (usize, Error) {
    let mut n = 0usize;
    while let Some(item) = s.next().await {
        match item {
            Ok(_) => n += 1,
            Err(e) => return (n, e),
        }
        assert!(n < 100_000, "the listing ran away");
    }
    panic!("the endless listing ended without an error after {n} items");
}

fn assert_stuck(e: &Error, op: &str) {
    assert_eq!(e.kind(), ErrorKind::Decode, "{op}: {e}");
    assert_eq!(e.vendor(), Some(Vendor::Scale), "{op}");
    assert_eq!(e.operation(), Some(op), "{e}");
    assert!(e.message().contains("stopped making progress"), "{e}");
}

#[tokio::test]
async fn the_same_tasks_under_a_new_token_end_the_listing() {
    let client = server(|n, _| {
        json!({"docs": (0..100).map(|i| task(format!("t{i}"))).collect::<Vec<_>>(),
               "has_more": true, "next_token": format!("token-{n}"), "total": 0})
    })
    .await;
    let (n, e) = ending(client.get_tasks(TasksQuery::default())).await;
    assert_stuck(&e, "get_tasks");
    assert_eq!(n, 100, "the first page, then the refusal");
}

#[tokio::test]
async fn fresh_tasks_past_the_reported_total_end_the_listing() {
    let client = server(|n, _| {
        json!({"docs": (0..100).map(|i| task(format!("t{n}-{i}"))).collect::<Vec<_>>(),
               "has_more": true, "next_token": format!("token-{n}"), "total": 150})
    })
    .await;
    let (n, e) = ending(client.get_tasks(TasksQuery::default())).await;
    assert_stuck(&e, "get_tasks");
    assert!(e.message().contains("150"), "{e}");
    // 150 reported plus a page of slack: the third page is refused.
    assert_eq!(n, 200);
}

#[tokio::test]
async fn the_same_batches_at_every_offset_end_the_listing() {
    let client = server(|_, _| {
        json!({"docs": (0..10).map(|i| json!({"name": format!("b{i}"), "project": "p"})).collect::<Vec<_>>(),
               "has_more": true, "limit": 10, "totalDocs": 0})
    })
    .await;
    let (n, e) = ending(client.get_batches(BatchesQuery::default())).await;
    assert_stuck(&e, "get_batches");
    assert_eq!(n, 10);
}
