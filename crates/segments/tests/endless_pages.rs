//! A hostile Segments.ai that answers every page number with the same full page: each listing
//! (samples, datasets, workunits) must end with a `Decode` error after a few pages instead of
//! reading forever.

use axum::extract::Query;
use axum::routing::any;
use futures::StreamExt;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{Error, ErrorKind, Vendor};
use labelmux_segments::{SamplesQuery, SegmentsClient, WorkunitsQuery};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A server answering every list request with `per_page` items (1000 when not asked) that
/// carry every key a sample, a dataset or a workunit needs: always the same ones.
async fn same_page_forever() -> SegmentsClient {
    let app =
        axum::Router::new().fallback(any(|Query(q): Query<HashMap<String, String>>| async move {
            let n: usize = q
                .get("per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1000);
            let items: Vec<Value> = (0..n)
                .map(|i| {
                    json!({"uuid": format!("u{i}"), "name": format!("n{i}"),
                                "full_name": format!("o/n{i}")})
                })
                .collect();
            axum::Json(items)
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    SegmentsClient::new(
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
async fn every_segments_listing_ends_when_the_same_page_comes_back() {
    let client = same_page_forever().await;
    for (op, e) in [
        (
            "get_samples",
            ending(client.get_samples("o/d", SamplesQuery::default())).await,
        ),
        ("get_datasets", ending(client.get_datasets(None)).await),
        (
            "get_workunits",
            ending(client.get_workunits("o/d", WorkunitsQuery::default())).await,
        ),
    ] {
        assert_eq!(e.kind(), ErrorKind::Decode, "{op}: {e}");
        assert_eq!(e.vendor(), Some(Vendor::Segments), "{op}");
        assert_eq!(e.operation(), Some(op), "{e}");
        assert!(e.message().contains("stopped making progress"), "{e}");
    }
}
