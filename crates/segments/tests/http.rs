//! What `SegmentsClient` puts on the wire, recorded by a local server: paths, query strings,
//! headers, gzip-compressed bodies, and which requests are resent.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::TryStreamExt;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::ErrorKind;
use labelmux_segments::{
    CreateIssueRequest, CreateSampleRequest, LabelStatus, PutLabelRequest, SamplesQuery,
    SegmentsClient, UpdateLabelRequest, UpdateSampleRequest,
};
use serde_json::{json, Value};
use std::io::Read;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        let bytes = if self.headers.get("content-encoding").map(|v| v.as_bytes()) == Some(b"gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            self.body.clone()
        };
        serde_json::from_slice(&bytes).unwrap()
    }

    fn gzipped(&self) -> bool {
        self.headers.get("content-encoding").map(|v| v.as_bytes()) == Some(b"gzip")
    }
}

type Answer = fn(&Seen, usize) -> (u16, String);

#[derive(Clone)]
struct Rec {
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Answer,
}

async fn record(
    State(rec): State<Rec>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method,
        uri: uri.to_string(),
        headers,
        body: body.to_vec(),
    };
    let n = {
        let mut all = rec.seen.lock().unwrap();
        all.push(seen.clone());
        all.len()
    };
    let (status, body) = (rec.answer)(&seen, n);
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
        .into_response();
    if status == 429 {
        r.headers_mut().insert("retry-after", "0".parse().unwrap());
    }
    r
}

async fn server(answer: Answer) -> (SegmentsClient, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().fallback(record).with_state(Rec {
        seen: seen.clone(),
        answer,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = SegmentsClient::new(
        &format!("http://{addr}"),
        SecretString::from("my-key"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    (client, seen)
}

fn sample(name: &str) -> String {
    json!({"uuid": format!("u-{name}"), "name": name, "metadata": {}, "created_at": "2020-01-01T00:00:00Z", "created_by": "jane", "priority": 0}).to_string()
}

fn label() -> String {
    json!({"sample_uuid": "s1", "label_type": "bboxes", "label_status": "PRELABELED", "labelset": "ground-truth",
           "attributes": {"annotations": []}, "created_at": "2020-01-01T00:00:00Z", "created_by": "jane", "updated_at": "2020-01-01T00:00:00Z"})
        .to_string()
}

#[tokio::test]
async fn the_five_sdk_compressed_calls_send_gzip_bodies_and_others_plain_json() {
    fn answer(s: &Seen, _: usize) -> (u16, String) {
        if s.uri.contains("samples_bulk") {
            (201, format!("[{}]", sample("a.jpg")))
        } else if s.uri.starts_with("/labels/") {
            (200, label())
        } else if s.uri.contains("/issues/") {
            (201, json!({"uuid": "i1", "status": "OPEN"}).to_string())
        } else {
            (201, sample("a.jpg"))
        }
    }
    let (client, seen) = server(answer).await;
    let req = CreateSampleRequest::new("a.jpg", json!({"image": {"url": "https://x/a.jpg"}}));
    client.add_sample("jane/flowers", &req).await.unwrap();
    client
        .add_samples("jane/flowers", std::slice::from_ref(&req))
        .await
        .unwrap();
    client
        .update_sample(
            "s1",
            &UpdateSampleRequest {
                assigned_reviewer: Some(None),
                ..UpdateSampleRequest::default()
            },
        )
        .await
        .unwrap();
    let put = PutLabelRequest {
        label_status: LabelStatus::Prelabeled,
        attributes: json!({"annotations": []}),
        score: Some(0.25),
    };
    client.add_label("s1", "ground-truth", &put).await.unwrap();
    client
        .update_label(
            "s1",
            "ground-truth",
            &UpdateLabelRequest {
                label_status: Some(LabelStatus::Rejected),
                ..UpdateLabelRequest::default()
            },
        )
        .await
        .unwrap();
    client
        .add_issue("s1", &CreateIssueRequest::new("bad"))
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    let want = [
        (Method::POST, "/datasets/jane/flowers/samples/", true),
        (Method::POST, "/datasets/jane/flowers/samples_bulk/", true),
        (Method::PATCH, "/samples/s1/", true),
        (Method::PUT, "/labels/s1/ground-truth/", true),
        (Method::PATCH, "/labels/s1/ground-truth/", true),
        (Method::POST, "/samples/s1/issues/", false),
    ];
    assert_eq!(seen.len(), want.len());
    for (s, (m, uri, gz)) in seen.iter().zip(want) {
        assert_eq!(s.method, m);
        assert_eq!(s.uri, uri);
        assert_eq!(s.gzipped(), gz, "{uri}");
        assert_eq!(s.headers["content-type"], "application/json", "{uri}");
        assert_eq!(s.headers["authorization"], "APIKey my-key");
        assert_eq!(s.headers["x-source"], "labelmux");
    }
    assert_eq!(seen[0].json()["name"], "a.jpg");
    assert_eq!(seen[0].json()["priority"], 0.0);
    assert_eq!(
        seen[1].json()[0]["attributes"]["image"]["url"],
        "https://x/a.jpg"
    );
    assert_eq!(seen[2].json(), json!({"assigned_reviewer": null}));
    assert_eq!(
        seen[3].json(),
        json!({"label_status": "PRELABELED", "attributes": {"annotations": []}, "score": 0.25})
    );
    assert_eq!(seen[4].json(), json!({"label_status": "REJECTED"}));
    assert_eq!(
        seen[5].json(),
        json!({"description": "bad", "status": "OPEN"})
    );
}

#[tokio::test]
async fn list_queries_are_encoded_and_sent_in_the_sdks_order() {
    fn answer(_: &Seen, _: usize) -> (u16, String) {
        (200, "[]".into())
    }
    let (client, seen) = server(answer).await;
    let q = SamplesQuery {
        labelset: Some("ground truth".into()),
        include_full_label: true,
        name_contains: Some("a b&c".into()),
        label_status: vec![LabelStatus::Labeled, LabelStatus::Reviewed],
        metadata: vec![
            ("weather".into(), "sunny".into()),
            ("cam".into(), "3".into()),
        ],
        sort: labelmux_segments::SampleSort::CreatedAt,
        descending: true,
        per_page: 50,
        page: 2,
    };
    let all: Vec<_> = client
        .get_samples("acme org/my data", q)
        .try_collect()
        .await
        .unwrap();
    assert!(all.is_empty());
    let s = &seen.lock().unwrap()[0];
    assert_eq!(
        s.uri,
        "/datasets/acme%20org/my%20data/samples/?per_page=50&page=2&labelset=ground+truth&include_full_label=1&name__contains=a+b%26c&filters=weather%3Asunny%2Ccam%3A3&label_status=LABELED%2CREVIEWED&sort=-created_at"
    );
    assert!(s.headers.get("content-type").is_none());
}

#[tokio::test]
async fn pages_continue_until_a_short_page_or_an_invalid_page() {
    fn answer(s: &Seen, _: usize) -> (u16, String) {
        let page: usize = s
            .uri
            .split("page=")
            .nth(2)
            .and_then(|p| p.split('&').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        match page {
            1 | 2 => (
                200,
                format!(
                    "[{}, {}]",
                    sample(&format!("p{page}a")),
                    sample(&format!("p{page}b"))
                ),
            ),
            _ => (404, r#"{"detail": "Invalid page."}"#.into()),
        }
    }
    let (client, seen) = server(answer).await;
    let names: Vec<String> = client
        .get_samples(
            "jane/flowers",
            SamplesQuery {
                per_page: 2,
                ..SamplesQuery::default()
            },
        )
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names, ["p1a", "p1b", "p2a", "p2b"]);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn creations_are_resent_only_when_safe() {
    // Every request fails with 503 twice, then succeeds.
    fn answer(s: &Seen, n: usize) -> (u16, String) {
        if n % 3 != 0 {
            return (503, String::new());
        }
        if s.uri.contains("issues") {
            (201, json!({"uuid": "i1"}).to_string())
        } else if s.uri.contains("samples_bulk") {
            (201, format!("[{}]", sample("a")))
        } else {
            (200, sample("a"))
        }
    }
    let (client, seen) = server(answer).await;
    // An issue creation may have been processed by a 503: not resent.
    let e = client
        .add_issue("s1", &CreateIssueRequest::new("x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ServiceUnavailable);
    assert_eq!(seen.lock().unwrap().len(), 1);
    seen.lock().unwrap().clear();
    // Bulk creation cannot duplicate: resent.
    let r = client
        .add_samples(
            "jane/flowers",
            &[CreateSampleRequest::new(
                "a",
                json!({"image": {"url": "u"}}),
            )],
        )
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(seen.lock().unwrap().len(), 3);
    // The resent body is the same gzip body.
    let all = seen.lock().unwrap().clone();
    assert_eq!(all[0].body, all[2].body);
}

#[tokio::test]
async fn a_duplicate_met_after_a_retry_is_resolved_by_name() {
    // First attempt: connection-level failure after processing (503); second: "already exists".
    fn answer(s: &Seen, n: usize) -> (u16, String) {
        if s.method == Method::POST {
            return if n == 1 {
                (503, String::new())
            } else {
                (
                    400,
                    r#"{"name": ["sample with this name already exists."]}"#.into(),
                )
            };
        }
        (200, format!("[{}, {}]", sample("a.jpg-2"), sample("a.jpg")))
    }
    let (client, seen) = server(answer).await;
    let s = client
        .add_sample(
            "jane/flowers",
            &CreateSampleRequest::new("a.jpg", json!({"image": {"url": "u"}})),
        )
        .await
        .unwrap();
    assert_eq!(s.uuid, "u-a.jpg");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[2].uri.contains("name__contains=a.jpg"),
        "{}",
        seen[2].uri
    );
}

#[tokio::test]
async fn a_bulk_create_refused_as_duplicate_falls_back_to_single_creates() {
    fn answer(s: &Seen, _: usize) -> (u16, String) {
        if s.uri.contains("samples_bulk") {
            return (400, r#"{"detail": "Sample b.jpg already exists."}"#.into());
        }
        if s.method == Method::POST {
            let name = s.json()["name"].as_str().unwrap_or("").to_owned();
            return if name == "b.jpg" {
                (400, r#"{"detail": "Sample b.jpg already exists."}"#.into())
            } else {
                (201, sample(&name))
            };
        }
        (200, format!("[{}]", sample("b.jpg")))
    }
    let (client, _) = server(answer).await;
    let got = client
        .add_samples(
            "jane/flowers",
            &[
                CreateSampleRequest::new("a.jpg", json!({})),
                CreateSampleRequest::new("b.jpg", json!({})),
                CreateSampleRequest::new("c.jpg", json!({})),
            ],
        )
        .await
        .unwrap();
    let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a.jpg", "b.jpg", "c.jpg"]);
}

#[tokio::test]
async fn throttling_in_a_200_body_is_retried_and_non_json_2xx_is_a_decode_error() {
    fn answer(s: &Seen, n: usize) -> (u16, String) {
        if s.uri.starts_with("/user") {
            return if n == 1 {
                (
                    200,
                    r#"{"detail": "Request was throttled. Expected available in 0 seconds."}"#
                        .into(),
                )
            } else {
                (
                    200,
                    json!({"username": "jane", "created_at": "2020-01-01T00:00:00Z"}).to_string(),
                )
            };
        }
        (200, "<html>ok</html>".into())
    }
    let (client, seen) = server(answer).await;
    assert_eq!(client.get_user(None).await.unwrap().username, "jane");
    assert_eq!(seen.lock().unwrap().len(), 2);
    let e = client.get_dataset("jane/flowers").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert_eq!(e.operation(), Some("get_dataset"));
}

#[tokio::test]
async fn deletes_have_no_body_except_the_bulk_one_and_a_426_status_is_a_warning() {
    fn answer(s: &Seen, _: usize) -> (u16, String) {
        if s.uri.starts_with("/api_status/") {
            return (426, String::new());
        }
        if s.uri.contains("samples_bulk") {
            return (200, r#"{"deleted_count": 2}"#.into());
        }
        (204, String::new())
    }
    let (client, seen) = server(answer).await;
    assert!(client.api_status().await.unwrap().upgrade_available);
    client.delete_sample("s1").await.unwrap();
    client
        .delete_dataset_collaborator("jane/flowers", "john")
        .await
        .unwrap();
    let r = client
        .delete_samples("jane/flowers", &["a".into(), "b".into()])
        .await
        .unwrap();
    assert_eq!(r.deleted_count, 2);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].uri, "/api_status/?lib_version=1.33.0");
    assert_eq!(seen[1].uri, "/samples/s1/");
    assert!(seen[1].body.is_empty());
    assert_eq!(seen[2].uri, "/datasets/jane/flowers/collaborators/john");
    assert_eq!(seen[3].json(), json!({"uuids": ["a", "b"]}));
    assert!(!seen[3].gzipped());
}
