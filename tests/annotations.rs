//! Labels pulled from each vendor's emulator read the same through the neutral annotation
//! model, export to COCO, and a malformed answer is reported, never lost.

use futures::{stream, StreamExt, TryStreamExt};
use labelmux::io::coco::{counts, CocoWriter};
use labelmux::io::export::{normalize, normalize_in, project_label_schema};
use labelmux::{
    AnnotationKind, AnyProvider, BatchSpec, Delivery, DeliveryQuery, LabelSchema,
    NotNormalizedReason, ProjectId, Provider, TaskSpec, Vendor,
};
use labelmux_suite::emulated_config;
use serde_json::json;
use std::time::Duration;

async fn pull(vendor: Vendor, tasks: Vec<TaskSpec>) -> Vec<Delivery> {
    pull_with_schema(vendor, tasks).await.0
}

/// The deliveries of `tasks` labeled on `vendor`'s emulator, and the project's classes.
async fn pull_with_schema(vendor: Vendor, tasks: Vec<TaskSpec>) -> (Vec<Delivery>, LabelSchema) {
    let (emulator, mut config) = emulated_config(vendor).await.unwrap();
    config.settings_mut(Vendor::Scale).inputs.defaults.insert(
        "geometries".into(),
        json!({"box": {"objects_to_annotate": ["cat"]},
               "polygon": {"objects_to_annotate": ["road"]},
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
    let schema = project_label_schema(&provider, &project).await.unwrap();
    emulator.shutdown().await;
    (out, schema)
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

/// Every geometric annotation of a delivery as (kind, kind with its coordinates, label), sorted.
fn geometry_of(
    vendor: Vendor,
    d: &Delivery,
    schema: &LabelSchema,
) -> Vec<(&'static str, String, Option<String>)> {
    let n = normalize_in(vendor, d, schema);
    assert!(
        n.not_normalized.is_empty(),
        "{vendor}: {:?}",
        n.not_normalized
    );
    let mut v: Vec<_> = n
        .annotations
        .iter()
        .filter(|a| {
            !matches!(
                a.kind,
                AnnotationKind::Classification { .. } | AnnotationKind::Text { .. }
            )
        })
        .map(|a| {
            let geometry = serde_json::to_string(&a.kind).unwrap();
            (a.kind.name(), geometry, a.label.clone())
        })
        .collect();
    v.sort();
    v
}

/// The same work (five images) labeled on each vendor's emulator reads back as the same
/// neutral annotations: the same kinds, classes and pixel coordinates for each image, although
/// each vendor sends them in its own format (Sama corner lists, Scale `left/top/width/height`,
/// Labelbox `top/left/height/width`, Segments point pairs and category ids).
#[tokio::test]
async fn the_same_work_reads_the_same_on_every_vendor() {
    let mut by_vendor = Vec::new();
    for vendor in labelmux_emulator::emulated_vendors() {
        let (deliveries, schema) = pull_with_schema(vendor, tasks(5)).await;
        assert_eq!(deliveries.len(), 5, "{vendor}");
        let mut by_key = std::collections::BTreeMap::new();
        for d in &deliveries {
            let key = d.external_key.clone().expect("every task has its key");
            let n = normalize_in(vendor, d, &schema);
            assert!(
                n.image
                    .url
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("https://example.com/"),
                "{vendor}: {:?}",
                n.image
            );
            by_key.insert(key, geometry_of(vendor, d, &schema));
        }
        let kinds: Vec<_> = by_key["img-0"]
            .iter()
            .map(|(kind, _, label)| (*kind, label.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("bbox", Some("cat")),
                ("point", Some("eye")),
                ("polygon", Some("road")),
            ],
            "{vendor}"
        );
        // COCO from the same deliveries: a box and a polygon per image; points have no form.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coco.json");
        let mut coco = CocoWriter::create(&path, schema.clone()).unwrap();
        for d in &deliveries {
            coco.write(d, &normalize_in(vendor, d, &schema)).unwrap();
        }
        let report = coco.finish().unwrap();
        assert_eq!(counts(&path).unwrap().0, 5, "{vendor}");
        assert_eq!(counts(&path).unwrap().1, 10, "{vendor}");
        assert_eq!(report.skipped_by_kind.get("point"), Some(&5), "{vendor}");
        by_vendor.push((vendor, by_key));
    }
    let (first, reference) = &by_vendor[0];
    for (vendor, by_key) in &by_vendor[1..] {
        assert_eq!(by_key, reference, "{vendor} differs from {first}");
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

/// Labelbox's global classifications (the seeded ontology's radio and text questions) read as
/// neutral classification and text annotations beside the shapes.
#[tokio::test]
async fn labelbox_classifications_read_through_the_neutral_model() {
    let deliveries = pull(Vendor::Labelbox, tasks(2)).await;
    assert_eq!(deliveries.len(), 2);
    for d in &deliveries {
        let n = normalize(Vendor::Labelbox, d);
        assert!(n.not_normalized.is_empty(), "{:?}", n.not_normalized);
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
