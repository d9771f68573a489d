//! COCO "instances" export, streamed: memory stays flat however many deliveries are written.
//!
//! COCO is one JSON document, so [`CocoWriter`] writes images and annotations to two temporary
//! files beside the output as deliveries arrive, and [`CocoWriter::finish`] concatenates them
//! with the categories into the final file (written to a temporary name, fsynced, then renamed
//! into place: a reader never sees half a file).
//!
//! - One COCO image per delivery (`id` from 1, `file_name`, `width`/`height` when the vendor or
//!   the task inputs give them — left out and counted in the report otherwise, `coco_url`, and
//!   `labelmux_task_id` / `labelmux_delivery_id` to go back to the vendor).
//! - Categories numbered from the [`LabelSchema`]: category `i` is COCO id `i + 1`; labels the
//!   schema lacks are appended in first-seen order.
//! - `bbox` → `bbox`; `polygon` → `segmentation` polygon with its enclosing `bbox` and area;
//!   `rotated_box` → its corners as a polygon; RLE `mask` → RLE `segmentation` (`iscrowd: 1`).
//!   Other kinds (points, lines, cuboids, classifications, mask files) have no COCO instances
//!   form: counted by kind in the [`ExportReport`], and kept in the labelmux JSONL export.

use super::export::{image_file_name, sync_dir, ExportReport};
use labelmux_core::{
    Annotation, AnnotationKind, BoundingBox, Delivery, LabelSchema, Mask, NormalizedLabels, Point,
    Rle,
};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// One section of the document, spooled to a temporary file.
struct Section {
    file: BufWriter<NamedTempFile>,
    empty: bool,
}

impl Section {
    fn new(dir: &Path) -> io::Result<Self> {
        Ok(Section {
            file: BufWriter::new(NamedTempFile::new_in(dir)?),
            empty: true,
        })
    }

    fn push(&mut self, item: &Value) -> io::Result<()> {
        if !self.empty {
            self.file.write_all(b",\n")?;
        }
        self.empty = false;
        serde_json::to_writer(&mut self.file, item)?;
        Ok(())
    }

    fn copy_into(self, out: &mut impl Write) -> io::Result<()> {
        let mut tmp = self.file.into_inner().map_err(|e| e.into_error())?;
        tmp.as_file_mut().seek(SeekFrom::Start(0))?;
        io::copy(tmp.as_file_mut(), out)?;
        Ok(())
    }
}

/// Writes a COCO instances file, one delivery at a time.
pub struct CocoWriter {
    path: PathBuf,
    dir: PathBuf,
    images: Section,
    annotations: Section,
    schema: LabelSchema,
    next_image: u64,
    next_annotation: u64,
    report: ExportReport,
}

impl CocoWriter {
    /// Start a COCO file at `path` (created or replaced by [`CocoWriter::finish`]), numbering
    /// categories from `schema`.
    pub fn create(path: &Path, schema: LabelSchema) -> io::Result<Self> {
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d.to_path_buf(),
            None => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        Ok(CocoWriter {
            path: path.to_path_buf(),
            images: Section::new(&dir)?,
            annotations: Section::new(&dir)?,
            dir,
            schema,
            next_image: 0,
            next_annotation: 0,
            report: ExportReport::default(),
        })
    }

    /// Add one delivery: an image and its annotations.
    pub fn write(&mut self, delivery: &Delivery, labels: &NormalizedLabels) -> io::Result<()> {
        self.report.note_labels(delivery, labels);
        self.next_image += 1;
        let image_id = self.next_image;
        let mut image = json!({
            "id": image_id,
            "file_name": image_file_name(delivery, labels),
            "labelmux_task_id": delivery.task_id,
            "labelmux_delivery_id": delivery.id,
        });
        match labels.image.size() {
            Some((w, h)) => {
                image["width"] = json!(w);
                image["height"] = json!(h);
            }
            None => self.report.note_missing_size(delivery),
        }
        if let Some(url) = &labels.image.url {
            image["coco_url"] = json!(url);
        }
        self.images.push(&image)?;
        for a in &labels.annotations {
            let Some(shape) = instance_shape(&a.kind) else {
                self.report.skip_kind(a.kind.name());
                continue;
            };
            let Some(label) = a.label.as_deref() else {
                self.report.unlabeled += 1;
                continue;
            };
            if matches!(a.kind, AnnotationKind::RotatedBox { .. }) {
                self.report.converted += 1;
            }
            let category = self.schema.id_or_insert(label) + 1;
            self.next_annotation += 1;
            let item = annotation_json(self.next_annotation, image_id, category, a, shape);
            self.annotations.push(&item)?;
            self.report.annotations += 1;
        }
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

    /// Write the document and make it durable; returns what was written.
    pub fn finish(self) -> io::Result<ExportReport> {
        let CocoWriter {
            path,
            dir,
            images,
            annotations,
            schema,
            mut report,
            ..
        } = self;
        let categories: Vec<Value> = schema
            .categories()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut v = json!({"id": i + 1, "name": c.name});
                if let Some(s) = &c.supercategory {
                    v["supercategory"] = json!(s);
                }
                v
            })
            .collect();
        report.categories = categories.len();
        let mut out = BufWriter::new(NamedTempFile::new_in(&dir)?);
        out.write_all(b"{\"info\":")?;
        serde_json::to_writer(
            &mut out,
            &json!({"description": "exported by labelmux", "version": env!("CARGO_PKG_VERSION")}),
        )?;
        out.write_all(b",\"licenses\":[],\n\"images\":[\n")?;
        images.copy_into(&mut out)?;
        out.write_all(b"\n],\n\"annotations\":[\n")?;
        annotations.copy_into(&mut out)?;
        out.write_all(b"\n],\n\"categories\":")?;
        serde_json::to_writer(&mut out, &categories)?;
        out.write_all(b"}\n")?;
        let tmp = out.into_inner().map_err(|e| e.into_error())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        sync_dir(&dir)?;
        Ok(report)
    }
}

/// The COCO form of a kind: a polygon (`Some(points)`), a box (`Some([])` with the box), an RLE.
enum Shape<'a> {
    Box(BoundingBox),
    Polygon(Vec<Point>),
    Rle(&'a Rle),
}

fn instance_shape(kind: &AnnotationKind) -> Option<Shape<'_>> {
    match kind {
        AnnotationKind::BoundingBox { bbox } => Some(Shape::Box(*bbox)),
        AnnotationKind::Polygon { points } => Some(Shape::Polygon(points.clone())),
        AnnotationKind::RotatedBox {
            bbox,
            rotation,
            corners,
        } => Some(Shape::Polygon(if corners.len() >= 3 {
            corners.clone()
        } else {
            rotate(bbox, *rotation)
        })),
        AnnotationKind::Mask {
            mask: Mask::Rle(rle),
        } => Some(Shape::Rle(rle)),
        _ => None,
    }
}

/// The corners of `bbox` turned `rotation` radians clockwise (y down) about its centre.
fn rotate(bbox: &BoundingBox, rotation: f64) -> Vec<Point> {
    let (cx, cy) = (bbox.x + bbox.width / 2.0, bbox.y + bbox.height / 2.0);
    let (s, c) = rotation.sin_cos();
    bbox.corners()
        .iter()
        .map(|p| {
            let (dx, dy) = (p.x - cx, p.y - cy);
            Point::new(cx + dx * c - dy * s, cy + dx * s + dy * c)
        })
        .collect()
}

fn polygon_area(points: &[Point]) -> f64 {
    let n = points.len();
    let twice: f64 = (0..n)
        .map(|i| {
            let (a, b) = (points[i], points[(i + 1) % n]);
            a.x * b.y - b.x * a.y
        })
        .sum();
    twice.abs() / 2.0
}

/// Area and enclosing box of an uncompressed, column-major RLE.
fn rle_extent(rle: &Rle) -> (f64, BoundingBox) {
    let h = u64::from(rle.size[0].max(1));
    let (mut pos, mut area) = (0u64, 0u64);
    let (mut x0, mut y0, mut x1, mut y1) = (u64::MAX, u64::MAX, 0u64, 0u64);
    for (i, run) in rle.counts.iter().enumerate() {
        if i % 2 == 1 && *run > 0 {
            let (start, end) = (pos, pos + run - 1);
            area += run;
            let (xs, xe) = (start / h, end / h);
            x0 = x0.min(xs);
            x1 = x1.max(xe);
            if xs == xe {
                y0 = y0.min(start % h);
                y1 = y1.max(end % h);
            } else {
                y0 = 0;
                y1 = h - 1;
            }
        }
        pos += run;
    }
    if area == 0 {
        return (0.0, BoundingBox::new(0.0, 0.0, 0.0, 0.0));
    }
    let bbox = BoundingBox::new(
        x0 as f64,
        y0 as f64,
        (x1 - x0 + 1) as f64,
        (y1 - y0 + 1) as f64,
    );
    (area as f64, bbox)
}

fn annotation_json(id: u64, image: u64, category: usize, a: &Annotation, shape: Shape) -> Value {
    let (segmentation, bbox, area, crowd) = match shape {
        Shape::Box(b) => (json!([]), b, b.width * b.height, 0),
        Shape::Polygon(points) => {
            let flat: Vec<f64> = points.iter().flat_map(|p| [p.x, p.y]).collect();
            let bbox =
                BoundingBox::enclosing(&points).unwrap_or(BoundingBox::new(0.0, 0.0, 0.0, 0.0));
            (json!([flat]), bbox, polygon_area(&points), 0)
        }
        Shape::Rle(rle) => {
            let (area, bbox) = rle_extent(rle);
            (
                json!({"size": rle.size, "counts": rle.counts}),
                bbox,
                area,
                1,
            )
        }
    };
    let mut v = json!({
        "id": id,
        "image_id": image,
        "category_id": category,
        "bbox": [bbox.x, bbox.y, bbox.width, bbox.height],
        "area": area,
        "segmentation": segmentation,
        "iscrowd": crowd,
    });
    if !a.attributes.is_empty() {
        v["attributes"] = Value::Object(a.attributes.clone());
    }
    if let Some(s) = a.confidence {
        v["score"] = json!(s);
    }
    if let Some(vid) = &a.vendor_id {
        v["labelmux_vendor_id"] = json!(vid);
    }
    v
}

/// Read a COCO file's image and annotation counts (for tests and checks).
pub fn counts(path: &Path) -> io::Result<(usize, usize, usize)> {
    let v: Value = serde_json::from_reader(io::BufReader::new(File::open(path)?))?;
    let len = |k: &str| v.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    Ok((len("images"), len("annotations"), len("categories")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::{DeliveryId, ImageInfo, ProjectId, TaskId};

    pub(crate) fn delivery(task: &str) -> Delivery {
        Delivery {
            id: DeliveryId::new(task),
            task_id: TaskId::new(task),
            external_key: None,
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

    fn labels(annotations: Vec<Annotation>, size: Option<(u32, u32)>) -> NormalizedLabels {
        let mut n = NormalizedLabels::default();
        n.image = ImageInfo::default();
        n.image.url = Some("https://cdn/x/img.jpg?sig=1".into());
        n.image.width = size.map(|s| s.0);
        n.image.height = size.map(|s| s.1);
        n.annotations = annotations;
        n
    }

    fn bbox(label: &str) -> Annotation {
        Annotation::new(
            AnnotationKind::BoundingBox {
                bbox: BoundingBox::new(10.0, 20.0, 30.0, 40.0),
            },
            "/a",
        )
        .with_label(label)
    }

    #[test]
    fn writes_one_valid_document_with_numbered_categories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/coco.json");
        let mut w = CocoWriter::create(&path, LabelSchema::from_names(["person"])).unwrap();
        let poly = Annotation::new(
            AnnotationKind::Polygon {
                points: vec![
                    Point::new(0.0, 0.0),
                    Point::new(4.0, 0.0),
                    Point::new(4.0, 3.0),
                ],
            },
            "/b",
        )
        .with_label("person");
        let point = Annotation::new(
            AnnotationKind::Point {
                point: Point::new(1.0, 1.0),
            },
            "/c",
        )
        .with_label("eye");
        w.write(
            &delivery("t1"),
            &labels(vec![bbox("car"), poly, point], Some((640, 480))),
        )
        .unwrap();
        w.write(&delivery("t2"), &labels(vec![bbox("car")], None))
            .unwrap();
        w.declare(&LabelSchema::from_names(["car", "truck"]));
        let report = w.finish().unwrap();
        assert_eq!(
            (report.deliveries, report.annotations, report.categories),
            (2, 3, 3)
        );
        assert_eq!(report.skipped_by_kind.get("point"), Some(&1));
        assert_eq!(report.missing_size_examples, ["t2"]);
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            v["categories"],
            json!([{"id": 1, "name": "person"}, {"id": 2, "name": "car"}, {"id": 3, "name": "truck"}])
        );
        assert_eq!(v["images"][0]["file_name"], "img.jpg");
        assert_eq!(v["images"][0]["width"], 640);
        assert!(v["images"][1].get("width").is_none());
        assert_eq!(v["annotations"][0]["category_id"], 2);
        assert_eq!(v["annotations"][0]["bbox"], json!([10.0, 20.0, 30.0, 40.0]));
        assert_eq!(v["annotations"][1]["area"], 6.0);
        assert_eq!(
            v["annotations"][1]["segmentation"],
            json!([[0.0, 0.0, 4.0, 0.0, 4.0, 3.0]])
        );
        assert_eq!(v["annotations"][2]["image_id"], 2);
        // Only the final file is left in the directory.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn empty_export_is_still_a_document() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        CocoWriter::create(&path, LabelSchema::new())
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(counts(&path).unwrap(), (0, 0, 0));
    }

    #[test]
    fn rle_extent_and_rotation() {
        // 3x3 image (h=3): column 1 rows 1..2 set → 2 pixels.
        let rle = Rle {
            size: [3, 3],
            counts: vec![4, 2, 3],
        };
        let (area, b) = rle_extent(&rle);
        assert_eq!(area, 2.0);
        assert_eq!(b, BoundingBox::new(1.0, 1.0, 1.0, 2.0));
        let r = rotate(
            &BoundingBox::new(0.0, 0.0, 2.0, 2.0),
            std::f64::consts::FRAC_PI_2,
        );
        assert!(
            (r[0].x - 2.0).abs() < 1e-9 && (r[0].y - 0.0).abs() < 1e-9,
            "{r:?}"
        );
    }
}
