use super::*;
use serde_json::json;

fn chunks_of(text: &str, sizes: &[usize]) -> BoxStream<'static, Result<Bytes>> {
    let bytes = text.as_bytes().to_vec();
    let mut out = Vec::new();
    let mut at = 0;
    let mut k = 0;
    while at < bytes.len() {
        let n = sizes[k % sizes.len()].max(1).min(bytes.len() - at);
        out.push(Ok(Bytes::copy_from_slice(&bytes[at..at + n])));
        at += n;
        k += 1;
    }
    stream::iter(out).boxed()
}

async fn read_all(text: &str, sizes: &[usize]) -> Result<(Vec<ReleaseSample>, ReleaseHeader)> {
    let mut r = ReleaseReader::new(chunks_of(text, sizes));
    let mut out = Vec::new();
    while let Some(s) = r.next_sample().await? {
        out.push(s);
    }
    Ok((out, r.header().clone()))
}

fn spec_example() -> Value {
    json!({
      "name": "v0.1",
      "description": "first \"quoted\" release \\ with {braces} and [brackets]",
      "created_at": "2020-07-09 10:20:19.888887+00:00",
      "dataset": {
        "name": "flowers",
        "owner": "jane",
        "task_type": "bboxes",
        "task_attributes": {"format_version": "0.1", "categories": [{"name": "flower", "id": 1}]},
        "labelsets": [{"name": "ground-truth", "description": ""}, {"name": "predictions", "description": ""}],
        "samples": [
          {"uuid": "u1", "name": "donuts.jpg", "attributes": {"image": {"url": "https://x/donuts.jpg"}},
           "metadata": {"k": [1, 2.5e3, -3, true, false, null]},
           "labels": {
             "ground-truth": {"label_status": "REVIEWED", "created_by": "jane",
                              "attributes": {"format_version": "0.1", "annotations": [
                                {"id": 1, "category_id": 1, "type": "bbox", "points": [[1, 2], [3, 4]]}]}},
             "predictions": null}},
          {"uuid": "u2", "name": "na\u{ef}ve \\\"]}.jpg", "attributes": {"image": {"url": "u"}}, "metadata": {},
           "labels": {"ground-truth": null, "predictions": null}},
          {"uuid": 3, "name": "third", "metadata": {}, "labels": {}}
        ],
        "after_samples": {"x": 1}
      },
      "trailer": 42
    })
}

#[tokio::test]
async fn samples_are_read_in_order_whatever_the_chunking() {
    let text = serde_json::to_string_pretty(&spec_example()).unwrap();
    for sizes in [vec![1], vec![2, 3, 5], vec![7], vec![64], vec![100_000]] {
        let (samples, header) = read_all(&text, &sizes).await.unwrap();
        let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["donuts.jpg", "naïve \\\"]}.jpg", "third"],
            "{sizes:?}"
        );
        assert_eq!(samples[2].uuid, "3");
        let gt = samples[0].label("ground-truth").unwrap();
        assert_eq!(gt.label_status, Some(LabelStatus::Reviewed));
        assert_eq!(gt.created_by.as_deref(), Some("jane"));
        let Some(LabelAttributes::Single(f)) = &gt.attributes else {
            panic!("{:?}", gt.attributes)
        };
        assert_eq!(f.annotations[0].points[1], vec![3.0, 4.0]);
        assert!(samples[0].labels.contains_key("predictions"));
        assert!(samples[0].label("predictions").is_none());
        assert_eq!(
            samples[0].metadata["k"],
            json!([1, 2500.0, -3, true, false, null])
        );
        assert_eq!(samples[0].raw, spec_example()["dataset"]["samples"][0]);
        assert_eq!(header.name(), Some("v0.1"));
        assert_eq!(header.dataset_name(), Some("flowers"));
        assert_eq!(header.owner(), Some("jane"));
        assert_eq!(header.task_type(), Some(TaskType::Bboxes));
        assert_eq!(header.labelsets(), ["ground-truth", "predictions"]);
        assert_eq!(header.dataset["after_samples"], json!({"x": 1}));
        assert_eq!(header.release["trailer"], 42);
        assert_eq!(header.release["description"], spec_example()["description"]);
    }
}

#[tokio::test]
async fn the_header_written_before_the_samples_is_known_at_the_first_sample() {
    // Written in Segments' order (serde_json would sort the members).
    let text = r#"{"name": "v1", "dataset": {"name": "d", "task_type": "bboxes",
        "samples": [{"uuid": "u1", "name": "a"}, {"uuid": "u2", "name": "b"}]}, "trailer": 42}"#;
    let mut r = ReleaseReader::new(chunks_of(text, &[3]));
    let first = r.next_sample().await.unwrap().unwrap();
    assert_eq!(first.uuid, "u1");
    assert_eq!(r.header().task_type(), Some(TaskType::Bboxes));
    assert!(!r.header().release.contains_key("trailer"));
    assert_eq!(r.samples_read(), 1);
}

#[tokio::test]
async fn an_empty_sample_list_yields_nothing() {
    let (s, h) = read_all(r#"{"name":"r","dataset":{"name":"d","samples":[]}}"#, &[4])
        .await
        .unwrap();
    assert!(s.is_empty());
    assert_eq!(h.name(), Some("r"));
}

#[tokio::test]
async fn broken_files_are_decode_errors_naming_the_problem() {
    let table = [
        ("", "ended early"),
        ("[1, 2]", "not a JSON object"),
        (r#"{"dataset": [1]}"#, "`dataset` is not an object"),
        (
            r#"{"dataset": {"samples": {"a": 1}}}"#,
            "`dataset.samples` is not an array",
        ),
        (r#"{"dataset": {"name": "d"}}"#, "no `dataset.samples`"),
        (
            r#"{"dataset": {"samples": [{"uuid": "a", "name": "b"}, "#,
            "ended early",
        ),
        (
            r#"{"dataset": {"samples": [{"uuid": "a", "name": "b"}]}} {}"#,
            "after the end",
        ),
        (
            r#"{"dataset": {"samples": [{"uuid": "a" "name": "b"}]}}"#,
            "unexpected",
        ),
        (
            r#"{"dataset": {"samples": [{"uuid": "a", "name": tru}]}}"#,
            "not valid JSON",
        ),
        (r#"{"dataset": {"samples": [{"name": "no uuid"}]}}"#, "uuid"),
        (r#"{"dataset" {"samples": []}}"#, "unexpected"),
    ];
    for (text, want) in table {
        let e = read_all(text, &[5]).await.unwrap_err();
        assert_eq!(e.kind(), labelmux_core::ErrorKind::Decode, "{text}");
        assert_eq!(e.vendor(), Some(Vendor::Segments));
        assert_eq!(e.operation(), Some(OP));
        assert!(e.to_string().contains(want), "{text}: {e}");
    }
}

#[tokio::test]
async fn samples_before_an_error_are_yielded_and_the_reader_stops_after_it() {
    let text = r#"{"dataset": {"samples": [{"uuid": "a", "name": "1"}, {"uuid": "b", "name": "2"}, {"uuid": "#;
    let mut r = ReleaseReader::new(chunks_of(text, &[8]));
    assert_eq!(r.next_sample().await.unwrap().unwrap().uuid, "a");
    assert_eq!(r.next_sample().await.unwrap().unwrap().uuid, "b");
    assert!(r.next_sample().await.is_err());
    assert!(r.next_sample().await.unwrap().is_none());
}

#[tokio::test]
async fn an_oversized_sample_is_refused_instead_of_buffered() {
    let big = "x".repeat(10_000);
    let text = format!(r#"{{"dataset": {{"samples": [{{"uuid": "a", "name": "{big}"}}]}}}}"#);
    let mut r = ReleaseReader::with_max_value_bytes(chunks_of(&text, &[512]), 4096);
    let e = r.next_sample().await.unwrap_err();
    assert!(e.to_string().contains("larger than 4096 bytes"), "{e}");
}

#[tokio::test]
async fn a_transport_error_mid_stream_is_passed_on() {
    let s = stream::iter(vec![
        Ok(Bytes::from_static(b"{\"dataset\": {\"samples\": [")),
        Err(Error::new(
            labelmux_core::ErrorKind::Transport,
            "connection reset",
        )),
    ])
    .boxed();
    let e = ReleaseReader::new(s)
        .into_stream()
        .collect::<Vec<_>>()
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), labelmux_core::ErrorKind::Transport);
}
