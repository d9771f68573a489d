//! A hostile Labelbox whose GraphQL pages never end: the same nodes under a new cursor each
//! time, or the same cursor again. Each listing (ORM lists, batches, label versions, data rows)
//! must end with a `Decode` error after a few pages instead of reading forever.

use axum::routing::any;
use futures::StreamExt;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{Error, ErrorKind, Vendor};
use labelmux_labelbox::{LabelVersionsQuery, LabelboxClient};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A server answering every query with one `data` holding a full page for each listing: the
/// same 500 nodes, and a cursor that is new each time (`fixed_cursor`: always the same).
async fn server(fixed_cursor: bool) -> LabelboxClient {
    let hits = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().fallback(any(move || {
        let n = hits.fetch_add(1, Ordering::SeqCst);
        let cursor = if fixed_cursor {
            "c".to_owned()
        } else {
            format!("c{n}")
        };
        let nodes: Vec<Value> = (0..500)
            .map(|i| json!({"id": format!("n{i}"), "labelId": "l", "dataRowId": "d"}))
            .collect();
        async move {
            axum::Json(json!({"data": {
                "projects": nodes,
                "project": {"batches": {"nodes": nodes, "pageInfo": {"endCursor": cursor}}},
                "labelVersions": {"nodes": nodes, "nextCursor": cursor},
                "datasetDataRows": {"nodes": nodes, "pageInfo": {"startCursor": cursor}},
            }}))
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    LabelboxClient::new(
        &format!("http://{addr}"),
        SecretString::from("k"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap()
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

#[tokio::test]
async fn every_labelbox_listing_ends_when_pages_repeat() {
    for fixed_cursor in [false, true] {
        let lb = server(fixed_cursor).await;
        let listings = [
            ("list_projects", ending(lb.list_projects()).await),
            ("list_batches", ending(lb.list_batches("p")).await),
            (
                "label_versions",
                ending(lb.label_versions(LabelVersionsQuery::default())).await,
            ),
            (
                "dataset_data_rows",
                ending(lb.dataset_data_rows("d", Default::default())).await,
            ),
        ];
        for (op, e) in listings {
            assert_eq!(e.kind(), ErrorKind::Decode, "{op}: {e}");
            assert_eq!(e.vendor(), Some(Vendor::Labelbox), "{op}");
            assert_eq!(e.operation(), Some(op), "{e}");
            assert!(e.message().contains("stopped making progress"), "{e}");
        }
    }
}
