//! A hostile Sama that answers every page with the same full page of tasks: each listing
//! (tasks, delivered tasks, deliveries since the consumer's last call) must end with a `Decode`
//! error after a few pages instead of reading forever.

use axum::extract::{Query, Request};
use axum::routing::any;
use futures::StreamExt;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{DeliveryQuery, Error, ErrorKind, ProjectId, Provider, TaskFilter, Vendor};
use labelmux_sama::{SamaClient, SamaProvider};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A server answering any request with `size` tasks named `t0`, `t1`, … — a full page of the
/// size asked for (`page_size`, or `limit` in a POST body), so the client always asks for more.
async fn same_page_forever() -> (SamaProvider, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(any(
        move |Query(q): Query<HashMap<String, String>>, req: Request| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                let limit = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|b| b["limit"].as_u64());
                let size = q
                    .get("page_size")
                    .and_then(|s| s.parse().ok())
                    .or(limit)
                    .unwrap_or(100);
                let tasks: Vec<Value> = (0..size)
                    .map(|i| json!({"id": format!("t{i}"), "state": "delivered"}))
                    .collect();
                axum::Json(json!({ "tasks": tasks }))
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = SamaClient::new(
        &format!("http://{addr}/v2"),
        SecretString::from("k"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    (
        SamaProvider::new(client, labelmux_core::cursor::MemoryCursorStore::new()),
        hits,
    )
}

/// Drain `s` (failing the test if it runs past `cap` items); the error that ended it.
async fn ending<T>(mut s: futures::stream::BoxStream<'static, labelmux_core::Result<T>>) -> Error {
    let mut n = 0usize;
    while let Some(item) = s.next().await {
        match item {
            Ok(_) => n += 1,
            Err(e) => return e,
        }
        assert!(n < 100_000, "the listing ran away");
    }
    panic!("the endless listing ended without an error after {n} items");
}

fn assert_stuck(e: &Error, op: &str) {
    assert_eq!(e.kind(), ErrorKind::Decode, "{op}: {e}");
    assert_eq!(e.vendor(), Some(Vendor::Sama), "{op}");
    assert_eq!(e.operation(), Some(op), "{e}");
    assert!(e.message().contains("stopped making progress"), "{e}");
}

#[tokio::test]
async fn every_sama_listing_ends_when_the_same_page_comes_back() {
    let project = ProjectId::new("1001");
    for (op, what) in [
        ("get_multi_task_status", 0),
        ("get_delivered_tasks", 1),
        // A consumer walks the delivered feed (decision 0012), with its own guard.
        ("get_delivered_tasks", 2),
    ] {
        let (sama, hits) = same_page_forever().await;
        let stream = match what {
            0 => sama
                .list_tasks(&project, TaskFilter::default())
                .map(|r| r.map(|_| ()))
                .boxed(),
            1 => sama
                .deliveries(&project, DeliveryQuery::all())
                .map(|r| r.map(|_| ()))
                .boxed(),
            _ => sama
                .deliveries(&project, DeliveryQuery::since_last_call("etl"))
                .map(|r| r.map(|_| ()))
                .boxed(),
        };
        let e = ending(stream).await;
        assert_stuck(&e, op);
        // The second page is refused; read-ahead may have asked for a few more.
        assert!(hits.load(Ordering::SeqCst) <= 16, "{op}: {hits:?}");
    }
}
