//! What the label exporters ([`super::coco`], [`super::yolo`], [`super::labelmux_jsonl`]) share:
//! the adapter that reads a vendor's answers ([`normalizer_for`]) and the [`ExportReport`].

use labelmux_core::{
    Delivery, ErrorKind, LabelSchema, Normalize, NormalizedLabels, NotNormalizedReason, ProjectId,
    Provider, Vendor,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How many examples of a problem a report names (the counts are always complete).
pub const REPORT_EXAMPLES: usize = 10;

/// The [`Normalize`] implementation of `vendor`'s adapter; `None` for a vendor this release has
/// no mapping for (its deliveries export with no annotations, each reported).
pub fn normalizer_for(vendor: Vendor) -> Option<&'static dyn Normalize> {
    static SAMA: labelmux_sama::SamaAnnotations = labelmux_sama::SamaAnnotations;
    static SCALE: labelmux_scale::ScaleAnnotations = labelmux_scale::ScaleAnnotations;
    static LABELBOX: labelmux_labelbox::LabelboxAnnotations =
        labelmux_labelbox::LabelboxAnnotations;
    static SEGMENTS: labelmux_segments::SegmentsAnnotations =
        labelmux_segments::SegmentsAnnotations;
    match vendor {
        Vendor::Sama => Some(&SAMA),
        Vendor::Scale => Some(&SCALE),
        Vendor::Labelbox => Some(&LABELBOX),
        Vendor::Segments => Some(&SEGMENTS),
        _ => None,
    }
}

/// The neutral annotations of `delivery` from `vendor`'s adapter; for a vendor without a
/// mapping, no annotations and one `unsupported` entry saying so (nothing is dropped silently).
pub fn normalize(vendor: Vendor, delivery: &Delivery) -> NormalizedLabels {
    match normalizer_for(vendor) {
        Some(n) => n.normalize(delivery),
        None => {
            let mut out = NormalizedLabels::default();
            out.skip(labelmux_core::NotNormalized::unsupported(
                "",
                None,
                format!("this release has no annotation mapping for {vendor}"),
            ));
            out
        }
    }
}

/// [`normalize`] with the project's classes at hand ([`project_label_schema`]): vendors whose
/// answers name classes by id (Segments) label annotations with the class names.
pub fn normalize_in(vendor: Vendor, delivery: &Delivery, schema: &LabelSchema) -> NormalizedLabels {
    match normalizer_for(vendor) {
        Some(n) => n.normalize_in(delivery, schema),
        None => normalize(vendor, delivery),
    }
}

/// The classes `project` declares (Sama's output schema, Segments' dataset categories, …), read
/// through `Provider::task_schema`; empty where the vendor has no project-level schema (the
/// exporters then number classes as they meet them).
pub async fn project_label_schema<P: Provider + ?Sized>(
    provider: &P,
    project: &ProjectId,
) -> labelmux_core::Result<LabelSchema> {
    let Some(normalizer) = normalizer_for(provider.vendor()) else {
        return Ok(LabelSchema::new());
    };
    match provider.task_schema(project).await {
        Ok(document) => Ok(normalizer.label_schema(&document)),
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(LabelSchema::new()),
        Err(e) => Err(e),
    }
}

/// What an export wrote and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ExportReport {
    /// Deliveries written (COCO images, YOLO label files, JSONL lines).
    pub deliveries: u64,
    /// Annotations written.
    pub annotations: u64,
    /// Categories numbered.
    pub categories: usize,
    /// Annotations the format has no form for, by neutral kind (`point`, `classification`...).
    pub skipped_by_kind: BTreeMap<String, u64>,
    /// Annotations without a class name (left out of class-numbered formats).
    pub unlabeled: u64,
    /// Annotations converted to a coarser form (a rotated box written as its enclosing box).
    pub converted: u64,
    /// Deliveries whose image width/height is unknown.
    pub missing_size: u64,
    /// Some of those deliveries' task ids.
    pub missing_size_examples: Vec<String>,
    /// Parts of the answers that did not normalise (see each delivery's `not_normalized`).
    pub not_normalized: u64,
    /// Deliveries with a malformed answer.
    pub malformed_deliveries: u64,
    /// Some of those deliveries' task ids.
    pub malformed_examples: Vec<String>,
}

impl ExportReport {
    /// Count a delivery's normalisation outcome.
    pub(crate) fn note_labels(&mut self, delivery: &Delivery, labels: &NormalizedLabels) {
        self.deliveries += 1;
        self.not_normalized += labels.not_normalized.len() as u64;
        if labels
            .not_normalized
            .iter()
            .any(|n| n.reason == NotNormalizedReason::Malformed)
        {
            self.malformed_deliveries += 1;
            if self.malformed_examples.len() < REPORT_EXAMPLES {
                self.malformed_examples.push(delivery.task_id.to_string());
            }
        }
    }

    pub(crate) fn note_missing_size(&mut self, delivery: &Delivery) {
        self.missing_size += 1;
        if self.missing_size_examples.len() < REPORT_EXAMPLES {
            self.missing_size_examples
                .push(delivery.task_id.to_string());
        }
    }

    pub(crate) fn skip_kind(&mut self, kind: &str) {
        *self.skipped_by_kind.entry(kind.to_owned()).or_default() += 1;
    }
}

/// A file name for an image: the vendor's, else the last segment of its URL, else the task id.
pub(crate) fn image_file_name(delivery: &Delivery, labels: &NormalizedLabels) -> String {
    if let Some(name) = labels.image.file_name.as_deref().filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    labels
        .image
        .url
        .as_deref()
        .map(|u| u.split(['?', '#']).next().unwrap_or(u))
        .and_then(|u| u.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| delivery.task_id.to_string())
}

/// Make `dir` durable (a renamed or created entry survives a crash); a no-op where directories
/// cannot be opened (Windows).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    let _ = dir;
    Ok(())
}
