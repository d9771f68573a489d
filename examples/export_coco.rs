//! Export labels as COCO (and YOLO) from whichever vendor the configuration names: the same code
//! for every vendor, reading each vendor's answers through labelmux's neutral annotations.
//!
//! ```sh
//! cargo run --example export_coco -- OUT_DIR                          # Sama emulator
//! LABELMUX_PROVIDER=scale cargo run --example export_coco -- OUT_DIR  # Scale emulator
//! ```
//! Writes `OUT_DIR/coco.json`, `OUT_DIR/labels.jsonl` (labelmux JSONL) and, when every image
//! size is known, the YOLO dataset `OUT_DIR/yolo/`; prints the export reports as JSON. It starts
//! the vendor's built-in emulator, so it needs no credentials or network.

use futures::{stream, StreamExt, TryStreamExt};
use labelmux::io::coco::CocoWriter;
use labelmux::io::export::{normalize, normalizer_for};
use labelmux::io::labelmux_jsonl::Record;
use labelmux::io::yolo::{YoloError, YoloWriter};
use labelmux::{
    AnyProvider, BatchSpec, DeliveryQuery, Error, LabelSchema, ProjectId, Provider, TaskSpec,
    Vendor,
};
use labelmux_suite::emulated_config;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[tokio::main]
async fn main() -> labelmux::Result<()> {
    let vendor: Vendor = std::env::var("LABELMUX_PROVIDER")
        .unwrap_or_else(|_| "sama".into())
        .parse()
        .map_err(|e| Error::config(format!("LABELMUX_PROVIDER: {e}")))?;
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "export".into()));
    let io_err = |what: &str, e: std::io::Error| Error::config(format!("{what}: {e}"));

    let (emulator, mut config) = emulated_config(vendor).await?;
    // Configuration, not code: Scale image tasks name the geometries to draw.
    config.settings_mut(Vendor::Scale).inputs.defaults.insert(
        "geometries".into(),
        json!({"box": {"objects_to_annotate": ["car"]},
               "polygon": {"objects_to_annotate": ["road"]},
               "point": {"objects_to_annotate": ["eye"]}}),
    );
    let provider = AnyProvider::from_config(&config)?;
    let project = ProjectId::new(config.project.clone().unwrap_or_default());

    // Send 12 images; the image size travels as task metadata where the vendor keeps it.
    let tasks = (0..12).map(|i| {
        Ok(TaskSpec::default()
            .with_input("url", json!(format!("https://example.com/img/{i}.jpg")))
            .with_external_key(format!("img-{i}"))
            .with_metadata("width", json!(640))
            .with_metadata("height", json!(480)))
    });
    let receipt = provider
        .create_batch(
            &project,
            BatchSpec::default().with_name("export"),
            stream::iter(tasks).boxed(),
            None,
        )
        .await?;
    for _ in 0..600 {
        if provider
            .batch_status(&project, &receipt.batch_id)
            .await?
            .status
            .is_terminal()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    emulator.control().finish_all(project.as_str());

    // From here on nothing depends on the vendor.
    std::fs::create_dir_all(&out).map_err(|e| io_err("output directory", e))?;
    let schema = LabelSchema::new();
    let mut coco = CocoWriter::create(&out.join("coco.json"), schema.clone())
        .map_err(|e| io_err("coco.json", e))?;
    let mut yolo =
        Some(YoloWriter::create(&out.join("yolo"), schema).map_err(|e| io_err("yolo", e))?);
    let mut jsonl = std::io::BufWriter::new(
        std::fs::File::create(out.join("labels.jsonl")).map_err(|e| io_err("labels.jsonl", e))?,
    );
    let mut yolo_refused = None;
    let mut deliveries = provider.deliveries(&project, DeliveryQuery::all());
    while let Some(d) = deliveries.try_next().await? {
        let labels = normalize(vendor, &d);
        coco.write(&d, &labels)
            .map_err(|e| io_err("coco.json", e))?;
        if let Some(w) = yolo.as_mut() {
            match w.write(&d, &labels) {
                Ok(()) => {}
                Err(e @ YoloError::MissingImageSize { .. }) => {
                    yolo_refused = Some(e.to_string());
                    yolo = None;
                }
                Err(e) => return Err(Error::config(e.to_string())),
            }
        }
        serde_json::to_writer(&mut jsonl, &Record::new(vendor, &d, labels))
            .map_err(|e| io_err("labels.jsonl", e.into()))?;
        jsonl
            .write_all(b"\n")
            .map_err(|e| io_err("labels.jsonl", e))?;
    }
    jsonl.flush().map_err(|e| io_err("labels.jsonl", e))?;
    let coco_report = coco.finish().map_err(|e| io_err("coco.json", e))?;
    let yolo_report = match yolo {
        Some(w) => Some(w.finish().map_err(|e| io_err("yolo", e))?),
        None => {
            let _ = std::fs::remove_dir_all(out.join("yolo"));
            None
        }
    };
    println!(
        "{}",
        json!({
            "vendor": vendor.name(),
            "mapped": normalizer_for(vendor).is_some(),
            "coco": coco_report,
            "yolo": yolo_report,
            "yolo_refused": yolo_refused,
        })
    );
    emulator.shutdown().await;
    Ok(())
}
