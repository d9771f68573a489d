//! `deliveries pull --format coco|yolo`: deliveries read as neutral annotations and written as
//! a COCO file or a YOLO directory. Both are finished (written whole and fsynced) before a
//! consumer cursor is committed, so a crash re-delivers rather than loses.

use super::Ctx;
use crate::exit::CliError;
use crate::output;
use crate::sink::DeliveryFormat;
use futures::StreamExt;
use labelmux::io::coco::CocoWriter;
use labelmux::io::export::{normalize_in, normalizer_for, project_label_schema, ExportReport};
use labelmux::io::yolo::{YoloError, YoloWriter};
use labelmux::{
    Checkpoint, Delivery, DeliveryQuery, DeliverySince, LabelSchema, ProjectId, Provider,
};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// A COCO or YOLO writer.
enum Exporter {
    Coco(CocoWriter),
    Yolo(YoloWriter),
}

impl Exporter {
    fn write(
        &mut self,
        vendor: labelmux::Vendor,
        schema: &LabelSchema,
        d: &Delivery,
    ) -> Result<(), CliError> {
        let labels = normalize_in(vendor, d, schema);
        // Classes the task declares (Scale geometries) are numbered in the vendor's order.
        if let Some(declared) = normalizer_for(vendor).map(|n| n.label_schema(&d.raw.to_value())) {
            match self {
                Exporter::Coco(w) => w.declare(&declared),
                Exporter::Yolo(w) => w.declare(&declared),
            }
        }
        match self {
            Exporter::Coco(w) => w
                .write(d, &labels)
                .map_err(|e| CliError::io("cannot write the COCO export".to_owned(), e)),
            Exporter::Yolo(w) => w.write(d, &labels).map_err(|e| match e {
                YoloError::Io(e) => CliError::io("cannot write the YOLO export".to_owned(), e),
                other => CliError::other(
                    other.to_string(),
                    "pull COCO or JSONL instead, or give the tasks their image sizes",
                ),
            }),
        }
    }

    fn finish(self, out: &Path) -> Result<ExportReport, CliError> {
        match self {
            Exporter::Coco(w) => w.finish(),
            Exporter::Yolo(w) => w.finish(),
        }
        .map_err(|e| CliError::io(format!("cannot write {}", out.display()), e))
    }
}

/// Pull `query` from `provider` into a COCO file or YOLO directory at `out`.
pub(crate) async fn pull_export(
    ctx: &Ctx,
    provider: &impl Provider,
    project: &ProjectId,
    query: DeliveryQuery,
    out: &Path,
    format: DeliveryFormat,
) -> Result<(), CliError> {
    let vendor = provider.vendor();
    if normalizer_for(vendor).is_none() {
        ctx.note(format!(
            "This release has no annotation mapping for {vendor}: the export lists its deliveries without annotations."
        ));
    }
    // The project's classes, numbered in the vendor's order (and naming Segments' category ids).
    let schema = project_label_schema(provider, project).await?;
    let open_err = |e| CliError::io(format!("cannot open {}", out.display()), e);
    let mut exporter = match format {
        DeliveryFormat::Yolo => {
            Exporter::Yolo(YoloWriter::create(out, schema.clone()).map_err(open_err)?)
        }
        _ => Exporter::Coco(CocoWriter::create(out, schema.clone()).map_err(open_err)?),
    };
    let consumer = match &query.since {
        DeliverySince::LastCall { consumer } => Some(consumer.clone()),
        _ => None,
    };
    let bar = ctx.bars.items("deliveries", "exporting");
    let started = Instant::now();
    let mut stream = provider.deliveries(project, query);
    let mut pending: Option<Checkpoint> = None;
    let mut failure = None;
    while let Some(item) = stream.next().await {
        match item.map_err(CliError::from).and_then(|d| {
            exporter.write(vendor, &schema, &d)?;
            Ok(d.checkpoint)
        }) {
            Ok(cp) => {
                if cp.is_some() {
                    pending = cp;
                }
                bar.inc(1);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(stream);
    bar.finish_and_clear();
    // What was written is finished and durable before the cursor moves past it.
    let report = exporter.finish(out)?;
    let mut committed = false;
    if let (Some(c), Some(cp)) = (consumer.as_deref(), pending.take()) {
        provider.commit_consumer(project, c, &cp).await?;
        committed = true;
    }
    if let Some(e) = failure {
        return Err(e.context(format!(
            "after {} deliveries exported to {} (finished and kept)",
            report.deliveries,
            out.display()
        )));
    }
    print_report(ctx, vendor, out, format, &report, committed, started);
    Ok(())
}

fn print_report(
    ctx: &Ctx,
    vendor: labelmux::Vendor,
    out: &Path,
    format: DeliveryFormat,
    report: &ExportReport,
    committed: bool,
    started: Instant,
) {
    if ctx.json() {
        output::print_json(&json!({
            "provider": vendor.name(),
            "file": out.display().to_string(),
            "format": format,
            "report": report,
            "committed": committed,
            "elapsed_secs": started.elapsed().as_secs_f64(),
        }));
        return;
    }
    println!(
        "{} deliveries, {} annotations in {} categories exported to {} in {:.1}s.",
        report.deliveries,
        report.annotations,
        report.categories,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    for (kind, n) in &report.skipped_by_kind {
        ctx.note(format!(
            "{n} {kind} annotations have no form in this format (kept in the JSONL export)."
        ));
    }
    if report.missing_size > 0 {
        ctx.note(format!(
            "{} images have no known width/height (e.g. tasks {}).",
            report.missing_size,
            report.missing_size_examples.join(", ")
        ));
    }
    if report.malformed_deliveries > 0 {
        ctx.note(format!(
            "{} deliveries had malformed answers (e.g. tasks {}); pull them as JSONL to see `not_normalized`.",
            report.malformed_deliveries,
            report.malformed_examples.join(", ")
        ));
    }
}
