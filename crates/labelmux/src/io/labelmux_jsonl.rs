//! labelmux JSONL: one delivery per line with its vendor-neutral annotations — the format
//! downstream code reads without knowing the vendor.
//!
//! Each line is a [`Record`]: the delivery's identity (`task_id`, `external_key`, `project_id`,
//! `batch_id`, `delivered_at`, `vendor`), the `image` (url, file name, width, height), the
//! `annotations`, what was `not_normalized` and why, and the untouched vendor `answers`, once.
//! The vendor's whole `raw` record is added only on request (`labelmux deliveries pull --raw`,
//! [`Record::with_raw`]). [`read_records`] reads a file back, also files written by earlier
//! releases (which always carried `raw`).

use labelmux_core::{
    Annotation, BatchId, Delivery, ImageInfo, NormalizedLabels, NotNormalized, ProjectId, RawJson,
    TaskId, Vendor,
};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Write};

/// One line of a labelmux JSONL file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// The task (data row, sample) labeled.
    pub task_id: TaskId,
    /// The caller's external key, if the vendor kept one.
    #[serde(default)]
    pub external_key: Option<String>,
    /// The project.
    pub project_id: ProjectId,
    /// The batch, if known.
    #[serde(default)]
    pub batch_id: Option<BatchId>,
    /// When it was delivered (RFC 3339), if the vendor says.
    #[serde(default)]
    pub delivered_at: Option<String>,
    /// The vendor that produced the labels.
    pub vendor: Vendor,
    /// The image labeled.
    #[serde(default)]
    pub image: ImageInfo,
    /// The neutral annotations.
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    /// What did not normalise, and why.
    #[serde(default)]
    pub not_normalized: Vec<NotNormalized>,
    /// The vendor's answers, untouched (JSON text, written as it came).
    #[serde(default)]
    pub answers: RawJson,
    /// The vendor's whole record of the delivery (it holds the answers a second time): only
    /// when asked for ([`Record::with_raw`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawJson>,
}

impl Record {
    /// The line for `delivery` from `vendor`, read as `labels`.
    pub fn new(vendor: Vendor, delivery: &Delivery, labels: NormalizedLabels) -> Record {
        Record {
            task_id: delivery.task_id.clone(),
            external_key: delivery.external_key.clone(),
            project_id: delivery.project_id.clone(),
            batch_id: delivery.batch_id.clone(),
            delivered_at: delivery.delivered_at.map(|t| t.to_rfc3339()),
            vendor,
            image: labels.image,
            annotations: labels.annotations,
            not_normalized: labels.not_normalized,
            answers: delivery.answers.clone(),
            raw: None,
        }
    }

    /// Also carry the delivery's raw vendor record.
    pub fn with_raw(mut self, delivery: &Delivery) -> Record {
        self.raw = Some(delivery.raw.clone());
        self
    }
}

/// Write `delivery`'s line (normalised with `vendor`'s adapter) to `out`.
pub fn write_record(out: &mut impl Write, vendor: Vendor, delivery: &Delivery) -> io::Result<()> {
    let labels = super::export::normalize(vendor, delivery);
    let record = Record::new(vendor, delivery, labels);
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")
}

/// Read the records of a labelmux JSONL stream, one at a time (blank lines skipped); a bad line
/// is an error naming its line number.
pub fn read_records(input: impl BufRead) -> impl Iterator<Item = io::Result<Record>> {
    input
        .lines()
        .enumerate()
        .filter_map(|(i, line)| match line {
            Err(e) => Some(Err(e)),
            Ok(l) if l.trim().is_empty() => None,
            Ok(l) => Some(serde_json::from_str(&l).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("labelmux JSONL line {}: {e}", i + 1),
                )
            })),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::{AnnotationKind, DeliveryId};
    use serde_json::{json, Value};

    #[test]
    fn round_trips_with_annotations_and_errors() {
        let d = Delivery {
            id: DeliveryId::new("t1"),
            task_id: TaskId::new("t1"),
            external_key: Some("img-1".into()),
            project_id: ProjectId::new("p"),
            batch_id: None,
            labelset: None,
            review: None,
            delivered_at: None,
            updated_at: None,
            answers: json!({"annotations": [{"type": "box", "label": "car", "left": 1, "top": 2, "width": 3, "height": 4},
                                            {"type": "box", "label": "bad"}]}).into(),
            raw: json!({"type": "imageannotation", "params": {"attachment": "https://x/1.jpg"}}).into(),
            checkpoint: None,
        };
        let mut buf = Vec::new();
        write_record(&mut buf, Vendor::Scale, &d).unwrap();
        write_record(&mut buf, Vendor::Labelbox, &d).unwrap();
        buf.extend_from_slice(b"\n");
        let records: Vec<Record> = read_records(&buf[..]).collect::<io::Result<_>>().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].image.url.as_deref(), Some("https://x/1.jpg"));
        assert!(matches!(
            records[0].annotations[0].kind,
            AnnotationKind::BoundingBox { .. }
        ));
        assert_eq!(records[0].not_normalized.len(), 1);
        assert_eq!(records[0].answers, d.answers);
        // Answers another vendor's mapping does not know: no annotations, each part listed.
        assert!(records[1].annotations.is_empty());
        assert_eq!(records[1].not_normalized.len(), 2);
        assert!(records[1].not_normalized[0].detail.contains("Labelbox"));
        let err = read_records(&b"{\n"[..]).next().unwrap().unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn answers_are_written_once_and_raw_only_on_request() {
        let d = Delivery {
            id: DeliveryId::new("t1"),
            task_id: TaskId::new("t1"),
            external_key: None,
            project_id: ProjectId::new("p"),
            batch_id: None,
            labelset: None,
            review: None,
            delivered_at: None,
            updated_at: None,
            answers: r#"{"label": "a-very-distinct-answer"}"#.parse().unwrap(),
            raw: r#"{"id": "t1", "answers": {"label": "a-very-distinct-answer"}}"#
                .parse()
                .unwrap(),
            checkpoint: None,
        };
        let labels = NormalizedLabels::default();
        let line = serde_json::to_string(&Record::new(Vendor::Sama, &d, labels.clone())).unwrap();
        assert_eq!(line.matches("a-very-distinct-answer").count(), 1, "{line}");
        assert!(!line.contains("\"raw\""), "{line}");
        // The answers' text is written as the vendor sent it.
        assert!(
            line.contains(r#""answers":{"label": "a-very-distinct-answer"}"#),
            "{line}"
        );
        let with_raw = Record::new(Vendor::Sama, &d, labels).with_raw(&d);
        let line = serde_json::to_string(&with_raw).unwrap();
        assert_eq!(line.matches("a-very-distinct-answer").count(), 2, "{line}");
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, with_raw);
        // A line of the earlier format (raw always there, answers as a tree) reads back.
        let old = r#"{"task_id":"t9","external_key":null,"project_id":"p","batch_id":null,"delivered_at":null,"answers":{"x":[1,2]},"raw":{"id":"t9"},"vendor":"sama","image":{},"annotations":[],"not_normalized":[]}"#;
        let rec = read_records(old.as_bytes()).next().unwrap().unwrap();
        assert_eq!(rec.answers, json!({"x": [1, 2]}));
        assert_eq!(rec.raw.map(Value::from), Some(json!({"id": "t9"})));
    }
}
