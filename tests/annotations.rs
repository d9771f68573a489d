//! Labels pulled from each vendor's emulator read the same through the neutral annotation
//! model, export to COCO, and a malformed answer is reported, never lost.

use futures::{stream, StreamExt, TryStreamExt};
use labelmux::io::coco::{counts, CocoWriter};
use labelmux::io::export::normalize;
use labelmux::{
    AnnotationKind, AnyProvider, BatchSpec, Delivery, DeliveryQuery, LabelSchema,
    NotNormalizedReason, ProjectId, Provider, TaskSpec, Vendor,
};
use labelmux_suite::emulated_config;
use serde_json::json;
use std::time::Duration;

async fn pull(vendor: Vendor, tasks: Vec<TaskSpec>) -> Vec<Delivery> {
    let (emulator, mut config) = emulated_config(vendor).await.unwrap();
    config.settings_mut(Vendor::Scale).inputs.defaults.insert(
        "geometries".into(),
        json!({"box": {"objects_to_annotate": ["cat"]},
               "polygon": {"objects_to_annotate": ["cat"]},
               "point": {"objects_to_annotate": ["eye"]}}),
    );
    let provider = AnyProvider::from_config(&config).unwrap();
    let project = ProjectId::new(config.project.clone().unwrap_or_default());
    let receipt = provider
        .create_batch(
            &project,
            BatchSpec::default().with_name("annotations"),
            stream::iter(tasks.into_iter().map(Ok)).boxed(),
            None,
        )
        .await
        .unwrap();
    for _ in 0..600 {
        let b = provider
            .batch_status(&project, &receipt.batch_id)
            .await
            .unwrap();
        if b.status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    emulator.control().finish_all(project.as_str());
    let out: Vec<Delivery> = provider
        .deliveries(&project, DeliveryQuery::all())
        .try_collect()
        .await
        .unwrap();
    emulator.shutdown().await;
    out
}

fn tasks(n: usize) -> Vec<TaskSpec> {
    (0..n)
        .map(|i| {
            TaskSpec::default()
                .with_input("url", json!(format!("https://example.com/{i}.jpg")))
                .with_external_key(format!("img-{i}"))
        })
        .collect()
}

/// (kind, label) of every annotation of a delivery, sorted.
fn shape_of(vendor: Vendor, d: &Delivery) -> Vec<(&'static str, Option<String>)> {
    let n = normalize(vendor, d);
    assert!(
        n.not_normalized.is_empty(),
        "{vendor}: {:?}",
        n.not_normalized
    );
    let mut v: Vec<_> = n
        .annotations
        .iter()
        .filter(|a| !matches!(a.kind, AnnotationKind::Classification { .. }))
        .map(|a| (a.kind.name(), a.label.clone()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_same_work_reads_the_same_on_sama_and_scale() {
    let want = vec![
        ("bbox", Some("cat".to_owned())),
        ("point", Some("eye".to_owned())),
        ("polygon", Some("cat".to_owned())),
    ];
    for vendor in [Vendor::Sama, Vendor::Scale] {
        let deliveries = pull(vendor, tasks(5)).await;
        assert_eq!(deliveries.len(), 5, "{vendor}");
        for d in &deliveries {
            assert_eq!(shape_of(vendor, d), want, "{vendor} {}", d.task_id);
            let n = normalize(vendor, d);
            assert!(n
                .image
                .url
                .as_deref()
                .unwrap_or_default()
                .starts_with("https://example.com/"));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coco.json");
        let mut coco = CocoWriter::create(&path, LabelSchema::new()).unwrap();
        for d in &deliveries {
            coco.write(d, &normalize(vendor, d)).unwrap();
        }
        let report = coco.finish().unwrap();
        // A box and a polygon per image; the point has no COCO instances form.
        assert_eq!(counts(&path).unwrap(), (5, 10, 1), "{vendor}");
        assert_eq!(report.skipped_by_kind.get("point"), Some(&5), "{vendor}");
    }
}

#[tokio::test]
async fn a_malformed_answer_is_reported_and_the_delivery_kept() {
    let bad = TaskSpec::default()
        .with_input("url", json!("https://example.com/bad.jpg"))
        .with_external_key("bad")
        .with_pre_annotation(
            "boxes",
            json!({"layers": {"vector_tagging": [{"shapes": [{"type": "rectangle"}, {"type": "point", "points": [["x", 1]]}]}]}}),
        );
    let deliveries = pull(Vendor::Sama, vec![bad]).await;
    assert_eq!(deliveries.len(), 1);
    let n = normalize(Vendor::Sama, &deliveries[0]);
    let reasons: Vec<_> = n.not_normalized.iter().map(|s| s.reason).collect();
    assert_eq!(
        reasons,
        [NotNormalizedReason::Malformed; 2],
        "{:?}",
        n.not_normalized
    );
    assert!(
        n.not_normalized[0].detail.contains("points"),
        "{:?}",
        n.not_normalized
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coco.json");
    let mut coco = CocoWriter::create(&path, LabelSchema::new()).unwrap();
    coco.write(&deliveries[0], &n).unwrap();
    let report = coco.finish().unwrap();
    assert_eq!((report.deliveries, report.malformed_deliveries), (1, 1));
    assert_eq!(counts(&path).unwrap().0, 1);
}

/// Labelbox and Segments emulators label other classes than Sama and Scale (the seeded
/// ontology / dataset categories), so each is checked on its own: every generated geometry and
/// answer reads as its neutral kind, nothing is left unread.
#[tokio::test]
async fn labelbox_and_segments_read_through_the_neutral_model() {
    let cases = [
        (
            Vendor::Labelbox,
            vec![
                ("bbox", Some("car".to_owned())),
                ("point", Some("light".to_owned())),
                ("polygon", Some("road".to_owned())),
                ("text", None),
            ],
        ),
        // Category names live in the dataset, not the sample: labels are the category ids.
        (
            Vendor::Segments,
            vec![
                ("bbox", Some("1".to_owned())),
                ("polygon", Some("2".to_owned())),
            ],
        ),
    ];
    for (vendor, want) in cases {
        let deliveries = pull(vendor, tasks(3)).await;
        assert!(!deliveries.is_empty(), "{vendor}");
        for d in &deliveries {
            assert_eq!(shape_of(vendor, d), want, "{vendor} {}", d.task_id);
        }
        if vendor == Vendor::Labelbox {
            let n = normalize(vendor, &deliveries[0]);
            let kinds: Vec<_> = n
                .annotations
                .iter()
                .filter(|a| !matches!(a.kind.name(), "bbox" | "polygon" | "point"))
                .map(|a| (a.kind.name(), a.label.clone()))
                .collect();
            assert_eq!(
                kinds,
                [("classification", Some("sunny".to_owned())), ("text", None)]
            );
        }
    }
}
