//! A large release file streamed from a local server is read one sample at a time, in order,
//! in flat memory.
//!
//! The sample count defaults to 200,000 (about 85 MiB of JSON, well past the point where a
//! whole-file read would show); `SEGMENTS_RELEASE_SAMPLES=1000000` runs the million-sample case
//! (about 425 MiB; a few minutes in a debug build). Run with `--nocapture` to see the memory
//! figures.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_segments::wire::decode;
use labelmux_segments::{LabelStatus, Release, SegmentsClient};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const SAMPLES_PER_CHUNK: usize = 500;

fn sample_json(i: usize) -> String {
    let status = if i % 3 == 0 { "REVIEWED" } else { "LABELED" };
    format!(
        r#"{{"uuid": "00000000-0000-4000-8000-{i:012}", "name": "frame-{i:07}.jpg", "attributes": {{"image": {{"url": "https://img.example/frame-{i:07}.jpg"}}}}, "metadata": {{"index": {i}, "note": "esc\"aped, [brackets] {{braces}}"}}, "labels": {{"ground-truth": {{"label_status": "{status}", "attributes": {{"format_version": "0.1", "annotations": [{{"id": 1, "category_id": 1, "type": "bbox", "points": [[1.5, 2.5], [{i}.0, 4.0]]}}]}}}}, "predictions": null}}}}"#
    )
}

fn head() -> String {
    r#"{"name": "v1", "description": "big", "created_at": "2020-07-09 10:20:19.888887+00:00",
  "dataset": {"name": "big", "owner": "jane", "task_type": "bboxes",
    "labelsets": [{"name": "ground-truth", "description": ""}, {"name": "predictions", "description": ""}],
    "samples": ["#
        .to_owned()
}

/// The file, generated chunk by chunk (the server holds no more than one chunk either).
fn body(n: usize, bytes_sent: Arc<AtomicUsize>) -> Body {
    let chunks = (0..n.div_ceil(SAMPLES_PER_CHUNK)).map(move |c| {
        let mut s = String::with_capacity(SAMPLES_PER_CHUNK * 420);
        if c == 0 {
            s.push_str(&head());
        }
        let from = c * SAMPLES_PER_CHUNK;
        for i in from..(from + SAMPLES_PER_CHUNK).min(n) {
            if i > 0 {
                s.push_str(",\n");
            }
            s.push_str(&sample_json(i));
        }
        if from + SAMPLES_PER_CHUNK >= n {
            s.push_str("]}, \"trailer\": true}");
        }
        s
    });
    let first: Vec<String> = if n == 0 {
        vec![head() + "]}}"]
    } else {
        Vec::new()
    };
    let all = stream::iter(first)
        .chain(stream::iter(chunks))
        .map(move |s| {
            bytes_sent.fetch_add(s.len(), Ordering::Relaxed);
            Ok::<_, std::io::Error>(Bytes::from(s))
        });
    Body::from_stream(all)
}

#[derive(Clone)]
struct Srv {
    n: usize,
    sent: Arc<AtomicUsize>,
}

async fn release_file(State(s): State<Srv>, headers: HeaderMap) -> Response {
    // The download is unauthenticated: a key here would be a leak.
    if headers.contains_key("authorization") {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Body::from("credentials sent to storage"))
            .unwrap_or_default();
    }
    Response::builder()
        .header("content-type", "application/json")
        .body(body(s.n, s.sent))
        .unwrap_or_default()
}

fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_release_file_streams_in_order_in_flat_memory() {
    let n: usize = std::env::var("SEGMENTS_RELEASE_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let sent = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/releases/big.json", get(release_file))
        .with_state(Srv {
            n,
            sent: sent.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = SegmentsClient::new(
        &format!("http://{addr}/"),
        SecretString::from("k"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    let release: Release = decode(
        json!({"name": "v1", "status": "SUCCEEDED", "release_type": "JSON",
               "attributes": {"url": format!("http://{addr}/releases/big.json")}}),
        "release",
    )
    .unwrap();

    let rss_before = kib("VmRSS:");
    let mut reader = client.release_file(&release).unwrap();
    let mut seen = 0usize;
    let mut reviewed = 0usize;
    let mut peak_rss = rss_before;
    while let Some(s) = reader.next_sample().await.unwrap() {
        assert_eq!(s.name, format!("frame-{seen:07}.jpg"), "order broken");
        assert_eq!(s.metadata["index"], seen as u64);
        let gt = s.label("ground-truth").unwrap();
        if gt.label_status == Some(LabelStatus::Reviewed) {
            reviewed += 1;
        }
        assert!(s.labels.contains_key("predictions"));
        if seen == 0 {
            assert_eq!(
                reader
                    .header()
                    .task_type()
                    .map(|t| t.to_string())
                    .as_deref(),
                Some("bboxes")
            );
            assert_eq!(gt.attributes.as_ref().unwrap().annotations().len(), 1);
        }
        seen += 1;
        if seen % 50_000 == 0 {
            peak_rss = peak_rss.max(kib("VmRSS:"));
        }
    }
    peak_rss = peak_rss.max(kib("VmRSS:"));
    assert_eq!(seen, n, "every sample once");
    assert_eq!(reviewed, n.div_ceil(3));
    assert_eq!(reader.header().release["trailer"], true);
    let file_mib = sent.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0);
    let growth_mib = peak_rss.saturating_sub(rss_before) as f64 / 1024.0;
    eprintln!(
        "release file: {n} samples, {file_mib:.1} MiB streamed; RSS before {:.1} MiB, peak while reading {:.1} MiB (growth {growth_mib:.1} MiB)",
        rss_before as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
    );
    // Flat: far below the file size (the whole file in memory would be several times it).
    if file_mib > 64.0 {
        assert!(
            growth_mib < file_mib / 4.0,
            "memory grew {growth_mib:.1} MiB for a {file_mib:.1} MiB file"
        );
    }
}

#[derive(Clone)]
struct Flaky {
    text: Arc<String>,
    calls: Arc<AtomicUsize>,
}

/// Serves the file with `Range` support; the first answer breaks off after 40% of the bytes.
async fn flaky_file(State(s): State<Flaky>, headers: HeaderMap) -> Response {
    let call = s.calls.fetch_add(1, Ordering::SeqCst);
    let from: usize = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let bytes = Bytes::copy_from_slice(&s.text.as_bytes()[from..]);
    let status = if from > 0 {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = if call == 0 {
        let cut = bytes.len() * 2 / 5;
        let head = bytes.slice(..cut);
        Body::from_stream(stream::iter(vec![
            Ok(head),
            Err(std::io::Error::other("connection reset by the test")),
        ]))
    } else {
        Body::from(bytes)
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("accept-ranges", "bytes")
        .body(body)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_download_cut_midway_resumes_and_yields_every_sample_once() {
    let n = 3000;
    let mut text = head();
    for i in 0..n {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&sample_json(i));
    }
    text.push_str("]}}");
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/releases/flaky.json", get(flaky_file))
        .with_state(Flaky {
            text: Arc::new(text),
            calls: calls.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = SegmentsClient::new(
        &format!("http://{addr}/"),
        SecretString::from("k"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    let release: Release = decode(
        json!({"name": "v1", "status": "SUCCEEDED",
               "attributes": {"url": format!("http://{addr}/releases/flaky.json")}}),
        "release",
    )
    .unwrap();
    let names: Vec<String> = client
        .release_file(&release)
        .unwrap()
        .into_stream()
        .map(|s| s.map(|s| s.name))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<labelmux_core::Result<_>>()
        .unwrap();
    assert_eq!(names.len(), n);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(name, &format!("frame-{i:07}.jpg"));
    }
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "the cut was not exercised"
    );
}
