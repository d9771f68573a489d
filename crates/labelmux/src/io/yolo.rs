//! YOLO detection export: one `labels/<stem>.txt` per image, `data.yaml` with the class names,
//! and `images.csv` saying which image each stem is.
//!
//! - A line per box: `class x_center y_center width height`, normalised to `[0, 1]` by the
//!   image size. YOLO needs the size, so a delivery whose width/height is unknown is refused
//!   with [`YoloError::MissingImageSize`] naming the task.
//! - The stem is the delivery's external key (the caller's own, unique key), else its task id,
//!   with characters outside `[A-Za-z0-9._-]` replaced by `_`; a later revision of a task
//!   replaces the earlier file. Put (or download) the images as `images/<stem>.<ext>`; the URLs
//!   are in `images.csv`.
//! - Classes are numbered from the [`LabelSchema`] (class `i` = category `i`), labels the schema
//!   lacks appended in first-seen order. A rotated box is written as its enclosing box (counted
//!   as converted); other kinds have no YOLO detection form and are counted by kind.
//! - Each label file is fsynced as it is written, so a consumer cursor committed after
//!   [`YoloWriter::finish`] never covers a file a crash could lose.

use super::export::{sync_dir, ExportReport};
use labelmux_core::{AnnotationKind, BoundingBox, Delivery, LabelSchema, NormalizedLabels, Point};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why a YOLO export stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum YoloError {
    /// YOLO coordinates are fractions of the image size, which this delivery lacks.
    #[error(
        "cannot write YOLO labels for task {task_id}: its image width/height is unknown \
         (the vendor did not report it and the task inputs do not carry it); export COCO or \
         labelmux JSONL instead, or add the sizes to the task inputs"
    )]
    MissingImageSize {
        /// The task.
        task_id: String,
    },
    /// Writing failed.
    #[error("cannot write the YOLO dataset: {0}")]
    Io(#[from] io::Error),
}

/// Writes a YOLO dataset directory, one delivery at a time.
pub struct YoloWriter {
    dir: PathBuf,
    labels_dir: PathBuf,
    manifest: BufWriter<File>,
    schema: LabelSchema,
    report: ExportReport,
}

impl YoloWriter {
    /// Start a dataset in `dir` (created if missing), numbering classes from `schema`.
    pub fn create(dir: &Path, schema: LabelSchema) -> io::Result<Self> {
        let labels_dir = dir.join("labels");
        std::fs::create_dir_all(&labels_dir)?;
        std::fs::create_dir_all(dir.join("images"))?;
        let mut manifest = BufWriter::new(File::create(dir.join("images.csv"))?);
        manifest.write_all(b"stem,url,file_name,width,height,task_id\n")?;
        Ok(YoloWriter {
            dir: dir.to_path_buf(),
            labels_dir,
            manifest,
            schema,
            report: ExportReport::default(),
        })
    }

    /// Write one delivery's label file. Refused, before anything is written for it, when the
    /// image size is unknown.
    pub fn write(
        &mut self,
        delivery: &Delivery,
        labels: &NormalizedLabels,
    ) -> Result<(), YoloError> {
        let Some((w, h)) = labels.image.size() else {
            self.report.note_missing_size(delivery);
            return Err(YoloError::MissingImageSize {
                task_id: delivery.task_id.to_string(),
            });
        };
        self.report.note_labels(delivery, labels);
        let (w, h) = (f64::from(w), f64::from(h));
        let mut text = String::new();
        for a in &labels.annotations {
            let bbox = match &a.kind {
                AnnotationKind::BoundingBox { bbox } => *bbox,
                AnnotationKind::RotatedBox {
                    bbox,
                    rotation,
                    corners,
                } => {
                    self.report.converted += 1;
                    if corners.len() >= 3 {
                        BoundingBox::enclosing(corners).unwrap_or(*bbox)
                    } else {
                        enclosing_rotated(bbox, *rotation)
                    }
                }
                other => {
                    self.report.skip_kind(other.name());
                    continue;
                }
            };
            let Some(label) = a.label.as_deref() else {
                self.report.unlabeled += 1;
                continue;
            };
            let class = self.schema.id_or_insert(label);
            let clamp = |v: f64| v.clamp(0.0, 1.0);
            let _ = writeln!(
                text,
                "{class} {:.6} {:.6} {:.6} {:.6}",
                clamp((bbox.x + bbox.width / 2.0) / w),
                clamp((bbox.y + bbox.height / 2.0) / h),
                clamp(bbox.width / w),
                clamp(bbox.height / h),
            );
            self.report.annotations += 1;
        }
        let stem = stem(delivery);
        let mut file = File::create(self.labels_dir.join(format!("{stem}.txt")))?;
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        let mut row = csv_field(&stem);
        for field in [
            labels.image.url.as_deref().unwrap_or_default(),
            labels.image.file_name.as_deref().unwrap_or_default(),
        ] {
            row.push(',');
            row.push_str(&csv_field(field));
        }
        let _ = writeln!(row, ",{},{},{}", w, h, csv_field(delivery.task_id.as_str()));
        self.manifest.write_all(row.as_bytes())?;
        Ok(())
    }

    /// Add the categories of `schema` not yet numbered, after those already numbered (numbers
    /// never change once given): e.g. a Scale task's declared classes, as
    /// `Normalize::label_schema` reads them from `Delivery::raw`.
    pub fn declare(&mut self, schema: &LabelSchema) {
        self.schema.merge(schema);
    }

    /// The counts so far.
    pub fn report(&self) -> &ExportReport {
        &self.report
    }

    /// Write `data.yaml` and make the dataset durable.
    pub fn finish(self) -> io::Result<ExportReport> {
        let YoloWriter {
            dir,
            labels_dir,
            manifest,
            schema,
            mut report,
        } = self;
        let manifest = manifest.into_inner().map_err(|e| e.into_error())?;
        manifest.sync_all()?;
        let mut yaml = String::from(
            "# YOLO dataset exported by labelmux; images go in images/<stem>.<ext> (see images.csv)\n\
             path: .\ntrain: images\nval: images\n",
        );
        let _ = writeln!(yaml, "nc: {}", schema.len());
        yaml.push_str("names:\n");
        for (i, c) in schema.categories().iter().enumerate() {
            // A JSON string is a valid YAML double-quoted scalar.
            let quoted = serde_json::to_string(&c.name).unwrap_or_else(|_| format!("\"{i}\""));
            let _ = writeln!(yaml, "  {i}: {quoted}");
        }
        let mut file = File::create(dir.join("data.yaml"))?;
        file.write_all(yaml.as_bytes())?;
        file.sync_all()?;
        sync_dir(&labels_dir)?;
        sync_dir(&dir)?;
        report.categories = schema.len();
        Ok(report)
    }
}

fn enclosing_rotated(bbox: &BoundingBox, rotation: f64) -> BoundingBox {
    let (cx, cy) = (bbox.x + bbox.width / 2.0, bbox.y + bbox.height / 2.0);
    let (s, c) = rotation.sin_cos();
    let corners: Vec<Point> = bbox
        .corners()
        .iter()
        .map(|p| {
            let (dx, dy) = (p.x - cx, p.y - cy);
            Point::new(cx + dx * c - dy * s, cy + dx * s + dy * c)
        })
        .collect();
    BoundingBox::enclosing(&corners).unwrap_or(*bbox)
}

/// The file stem of a delivery: its external key, else its task id, made file-name safe.
pub fn stem(delivery: &Delivery) -> String {
    let key = delivery
        .external_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .unwrap_or(delivery.task_id.as_str());
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.as_str() {
        "" | "." | ".." => format!("task_{safe}"),
        _ => safe,
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::{Annotation, DeliveryId, ProjectId, TaskId};

    fn delivery(task: &str, key: Option<&str>) -> Delivery {
        Delivery {
            id: DeliveryId::new(task),
            task_id: TaskId::new(task),
            external_key: key.map(str::to_owned),
            project_id: ProjectId::new("p"),
            batch_id: None,
            labelset: None,
            review: None,
            delivered_at: None,
            updated_at: None,
            answers: labelmux_core::RawJson::null(),
            raw: labelmux_core::RawJson::null(),
            checkpoint: None,
        }
    }

    fn labels(size: Option<(u32, u32)>) -> NormalizedLabels {
        let mut n = NormalizedLabels::default();
        n.image.width = size.map(|s| s.0);
        n.image.height = size.map(|s| s.1);
        n.image.url = Some("https://x/a,b.jpg".into());
        n.annotations = vec![
            Annotation::new(
                AnnotationKind::BoundingBox {
                    bbox: BoundingBox::new(10.0, 20.0, 30.0, 40.0),
                },
                "/a",
            )
            .with_label("car"),
            Annotation::new(
                AnnotationKind::Point {
                    point: Point::new(1.0, 1.0),
                },
                "/b",
            )
            .with_label("eye"),
        ];
        n
    }

    #[test]
    fn writes_normalised_boxes_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = YoloWriter::create(dir.path(), LabelSchema::from_names(["person"])).unwrap();
        w.write(&delivery("t1", Some("img/1")), &labels(Some((100, 200))))
            .unwrap();
        let report = w.finish().unwrap();
        assert_eq!((report.annotations, report.categories), (1, 2));
        assert_eq!(report.skipped_by_kind.get("point"), Some(&1));
        let txt = std::fs::read_to_string(dir.path().join("labels/img_1.txt")).unwrap();
        assert_eq!(txt, "1 0.250000 0.200000 0.300000 0.200000\n");
        let yaml = std::fs::read_to_string(dir.path().join("data.yaml")).unwrap();
        assert!(
            yaml.contains("nc: 2\nnames:\n  0: \"person\"\n  1: \"car\"\n"),
            "{yaml}"
        );
        let csv = std::fs::read_to_string(dir.path().join("images.csv")).unwrap();
        assert!(
            csv.contains("img_1,\"https://x/a,b.jpg\",,100,200,t1"),
            "{csv}"
        );
    }

    #[test]
    fn refuses_unknown_sizes_by_task() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = YoloWriter::create(dir.path(), LabelSchema::new()).unwrap();
        let err = w.write(&delivery("t9", None), &labels(None)).unwrap_err();
        assert!(err.to_string().contains("task t9"), "{err}");
        assert!(!dir.path().join("labels/t9.txt").exists());
    }

    #[test]
    fn stems_are_file_name_safe() {
        assert_eq!(stem(&delivery("t", Some("../x y"))), ".._x_y");
        assert_eq!(stem(&delivery("t/1", None)), "t_1");
        assert_eq!(stem(&delivery("..", None)), "task_..");
    }
}
