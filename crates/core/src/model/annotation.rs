//! Vendor-neutral annotations: what a delivery's answers mean, whichever vendor produced them.
//!
//! Each adapter converts its own answer shapes ([`Delivery::answers`], with [`Delivery::raw`] for
//! context) into [`NormalizedLabels`] through the [`Normalize`] trait. The vendor answers stay
//! untouched beside the result; whatever has no neutral form is listed in
//! [`NormalizedLabels::not_normalized`] — never dropped silently — and a malformed answer is
//! listed there as [`NotNormalizedReason::Malformed`], never a panic.
//!
//! ## Coordinates
//!
//! Pixels of the source image, origin at its top-left corner, `x` to the right, `y` down (the
//! convention of every vendor labelmux speaks to, and of COCO). Boxes are `x`/`y` (top-left
//! corner) with `width`/`height`. Rotations are clockwise, in radians, about the box centre.
//! Coordinates are `f64`: vendors send integers or floats, and exporters round only where their
//! format needs it.

use super::{Delivery, JsonMap};
use crate::Vendor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// A point in source-image pixels (origin top-left, `x` right, `y` down).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Pixels from the left edge.
    pub x: f64,
    /// Pixels from the top edge.
    pub y: f64,
}

impl Point {
    /// A point.
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
}

/// An axis-aligned box: top-left corner and size, in source-image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl BoundingBox {
    /// A box from its top-left corner and size.
    pub fn new(x: f64, y: f64, width: f64, height: f64) -> Self {
        BoundingBox {
            x,
            y,
            width,
            height,
        }
    }

    /// The smallest box holding every point; `None` for no points.
    pub fn enclosing(points: &[Point]) -> Option<BoundingBox> {
        let first = points.first()?;
        let (mut x0, mut y0, mut x1, mut y1) = (first.x, first.y, first.x, first.y);
        for p in points {
            x0 = x0.min(p.x);
            y0 = y0.min(p.y);
            x1 = x1.max(p.x);
            y1 = y1.max(p.y);
        }
        Some(BoundingBox::new(x0, y0, x1 - x0, y1 - y0))
    }

    /// The four corners, clockwise from the top-left.
    pub fn corners(&self) -> [Point; 4] {
        [
            Point::new(self.x, self.y),
            Point::new(self.x + self.width, self.y),
            Point::new(self.x + self.width, self.y + self.height),
            Point::new(self.x, self.y + self.height),
        ]
    }
}

/// A keypoint of a keypoint set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    /// Where it is.
    #[serde(flatten)]
    pub point: Point,
    /// Its name in the vendor's skeleton, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it is visible, where the vendor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
}

/// A run-length encoded mask, COCO's uncompressed form: `counts` alternate background and
/// foreground runs, column-major, starting with background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rle {
    /// Image height and width, in that order (COCO's `size`).
    pub size: [u32; 2],
    /// Run lengths.
    pub counts: Vec<u64>,
}

/// A segmentation mask: encoded inline, or a reference to the vendor's mask file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "encoding", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mask {
    /// Run-length encoded.
    Rle(Rle),
    /// A mask image the vendor serves (Sama `raster_coding.mask_url`, Scale segmentation
    /// layers); fetch it to read the pixels.
    Url {
        /// Where the mask file is.
        url: String,
        /// Which pixel value or colour marks this annotation, where the vendor says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
}

/// What an annotation is: a classification, a text, or a geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnnotationKind {
    /// One or several classes chosen for the whole image (or frame), e.g. a radio or checkbox
    /// answer. `question` is the vendor's output/field name where there is one.
    Classification {
        /// The question or output name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        question: Option<String>,
        /// The chosen classes (one for a single choice).
        values: Vec<String>,
        /// Whether several could be chosen.
        multiple: bool,
    },
    /// Free text: a text answer or a transcription.
    Text {
        /// The question or output name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        question: Option<String>,
        /// The text.
        text: String,
    },
    /// An axis-aligned box.
    #[serde(rename = "bbox")]
    BoundingBox {
        /// The box.
        bbox: BoundingBox,
    },
    /// A rotated box: `bbox` is the box before rotation, turned `rotation` radians clockwise
    /// about its centre.
    RotatedBox {
        /// The unrotated box.
        bbox: BoundingBox,
        /// Clockwise rotation in radians.
        rotation: f64,
        /// The rotated corners, where the vendor sends them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        corners: Vec<Point>,
    },
    /// A closed polygon.
    Polygon {
        /// Vertices in order.
        points: Vec<Point>,
    },
    /// An open line through the points.
    Polyline {
        /// Vertices in order.
        points: Vec<Point>,
    },
    /// One point.
    Point {
        /// The point.
        point: Point,
    },
    /// A set of named points (a skeleton).
    Keypoints {
        /// The points.
        points: Vec<Keypoint>,
    },
    /// An ellipse, as the extremal points the vendor sends (Scale: four vertices).
    Ellipse {
        /// Extremal points.
        points: Vec<Point>,
    },
    /// A perspective (2D-projected) cuboid: its vertices, with the vendor's vertex names where
    /// given (`names[i]` names `points[i]`).
    Cuboid {
        /// Projected vertices.
        points: Vec<Point>,
        /// Vertex names (e.g. Scale's `face-topleft`), empty when the vendor has none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        names: Vec<String>,
    },
    /// A segmentation mask.
    Mask {
        /// The mask.
        mask: Mask,
    },
}

impl AnnotationKind {
    /// The kind's name, as serialized in `type` (`bbox`, `polygon`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            AnnotationKind::Classification { .. } => "classification",
            AnnotationKind::Text { .. } => "text",
            AnnotationKind::BoundingBox { .. } => "bbox",
            AnnotationKind::RotatedBox { .. } => "rotated_box",
            AnnotationKind::Polygon { .. } => "polygon",
            AnnotationKind::Polyline { .. } => "polyline",
            AnnotationKind::Point { .. } => "point",
            AnnotationKind::Keypoints { .. } => "keypoints",
            AnnotationKind::Ellipse { .. } => "ellipse",
            AnnotationKind::Cuboid { .. } => "cuboid",
            AnnotationKind::Mask { .. } => "mask",
        }
    }
}

/// One vendor-neutral annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Annotation {
    /// What it is, with its coordinates or values.
    #[serde(flatten)]
    pub kind: AnnotationKind,
    /// The class name of an object (a box's `car`); for a single-choice classification, the
    /// chosen class; `None` where the vendor gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The vendor's further answers about this annotation (Scale `attributes`, Sama shape
    /// `tags`, Labelbox nested classifications), as sent.
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
    pub attributes: JsonMap,
    /// Confidence in `[0, 1]`, where the vendor gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The vendor's id of this annotation (Scale `uuid`, Labelbox feature id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// The frame of a video or sequence, from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    /// The object track across frames, for video and sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<String>,
    /// Where in the vendor answers it came from (a JSON pointer into [`Delivery::answers`]).
    pub source: String,
}

impl Annotation {
    /// An annotation of `kind` found at `source` (a JSON pointer into the answers).
    pub fn new(kind: AnnotationKind, source: impl Into<String>) -> Self {
        Annotation {
            kind,
            label: None,
            attributes: JsonMap::new(),
            confidence: None,
            vendor_id: None,
            frame: None,
            track_id: None,
            source: source.into(),
        }
    }
    /// Set the class name.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    /// Set the attributes.
    pub fn with_attributes(mut self, attributes: JsonMap) -> Self {
        self.attributes = attributes;
        self
    }
    /// Set the vendor's annotation id.
    pub fn with_vendor_id(mut self, id: impl Into<String>) -> Self {
        self.vendor_id = Some(id.into());
        self
    }
    /// Set the confidence.
    pub fn with_confidence(mut self, confidence: f64) -> Self {
        self.confidence = Some(confidence);
        self
    }
    /// Set the frame and track.
    pub fn with_frame(mut self, frame: Option<u64>, track_id: Option<String>) -> Self {
        self.frame = frame;
        self.track_id = track_id;
        self
    }
}

/// Why part of an answer has no neutral annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotNormalizedReason {
    /// A well-formed answer the model has no form for (a Sama `arrow`, a Scale video annotation
    /// file link); it stays in the vendor answers.
    Unsupported,
    /// The answer is not what the vendor documents (missing coordinates, wrong types).
    Malformed,
}

/// A part of the vendor answers that did not become an [`Annotation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NotNormalized {
    /// Where it is: a JSON pointer into [`Delivery::answers`].
    pub path: String,
    /// The vendor's name for its kind (`arrow`, `segmentannotation`), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Why.
    pub reason: NotNormalizedReason,
    /// What was wrong or missing, for people.
    pub detail: String,
}

impl NotNormalized {
    /// A well-formed part with no neutral form.
    pub fn unsupported(
        path: impl Into<String>,
        kind: Option<&str>,
        detail: impl Into<String>,
    ) -> Self {
        NotNormalized {
            path: path.into(),
            kind: kind.map(str::to_owned),
            reason: NotNormalizedReason::Unsupported,
            detail: detail.into(),
        }
    }
    /// A malformed part.
    pub fn malformed(
        path: impl Into<String>,
        kind: Option<&str>,
        detail: impl Into<String>,
    ) -> Self {
        NotNormalized {
            path: path.into(),
            kind: kind.map(str::to_owned),
            reason: NotNormalizedReason::Malformed,
            detail: detail.into(),
        }
    }
}

/// The image a delivery labels, as far as the vendor's task says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageInfo {
    /// Where the image is (the task's attachment or URL input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its file name, where the vendor reports one (else derived from the URL by exporters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Width in pixels, where the vendor or the task inputs give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels, where the vendor or the task inputs give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl ImageInfo {
    /// Width and height, when both are known.
    pub fn size(&self) -> Option<(u32, u32)> {
        Some((self.width?, self.height?))
    }
}

/// The neutral reading of one delivery: its annotations, the image they are on, and every part
/// of the answers that has no neutral form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NormalizedLabels {
    /// The image labeled, as far as known.
    #[serde(default)]
    pub image: ImageInfo,
    /// The annotations, in the vendor's order.
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    /// What did not become an annotation, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_normalized: Vec<NotNormalized>,
}

impl NormalizedLabels {
    /// Whether some part of the answers was malformed.
    pub fn has_errors(&self) -> bool {
        self.not_normalized
            .iter()
            .any(|n| n.reason == NotNormalizedReason::Malformed)
    }
    /// Add an annotation.
    pub fn push(&mut self, annotation: Annotation) {
        self.annotations.push(annotation);
    }
    /// Record a part that did not become an annotation.
    pub fn skip(&mut self, entry: NotNormalized) {
        self.not_normalized.push(entry);
    }
}

/// One category of a [`LabelSchema`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Category {
    /// The class name, as annotations carry it in [`Annotation::label`].
    pub name: String,
    /// A parent class, where the vendor nests them (Scale `subchoices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
    /// The vendor's id of the class, where its answers name classes by id (Segments'
    /// `category_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
}

impl Category {
    /// A category, with its parent class if any.
    pub fn new(name: impl Into<String>, supercategory: Option<String>) -> Self {
        Category {
            name: name.into(),
            supercategory,
            vendor_id: None,
        }
    }
    /// The same category, with the vendor's id of it.
    pub fn with_vendor_id(mut self, id: impl Into<String>) -> Self {
        self.vendor_id = Some(id.into());
        self
    }
}

/// A project's classes, in a fixed order, so exporters number them the same way every time:
/// category `i` (from 0) is YOLO class `i` and COCO category id `i + 1`. Labels met that the
/// schema lacks are appended in the order they are first seen ([`LabelSchema::id_or_insert`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSchema {
    categories: Vec<Category>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl LabelSchema {
    /// An empty schema.
    pub fn new() -> Self {
        LabelSchema::default()
    }

    /// Categories with these names, in this order (duplicates kept once).
    pub fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut schema = LabelSchema::new();
        for n in names {
            schema.id_or_insert(&n.into());
        }
        schema
    }

    /// Add a category (kept once by name); returns its index.
    pub fn insert(&mut self, category: Category) -> usize {
        if let Some(&i) = self.index.get(&category.name) {
            return i;
        }
        let i = self.categories.len();
        self.index.insert(category.name.clone(), i);
        self.categories.push(category);
        i
    }

    /// The index of `name`, appending it when new.
    pub fn id_or_insert(&mut self, name: &str) -> usize {
        match self.index.get(name) {
            Some(&i) => i,
            None => self.insert(Category::new(name, None)),
        }
    }

    /// The index of `name`, if present.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The name of the class the vendor calls `vendor_id` ([`Category::vendor_id`]).
    pub fn name_of_vendor_id(&self, vendor_id: &str) -> Option<&str> {
        self.categories
            .iter()
            .find(|c| c.vendor_id.as_deref() == Some(vendor_id))
            .map(|c| c.name.as_str())
    }

    /// Add every category of `other` not yet present, in its order.
    pub fn merge(&mut self, other: &LabelSchema) {
        for c in &other.categories {
            self.insert(c.clone());
        }
    }

    /// The categories, in order.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// How many categories.
    pub fn len(&self) -> usize {
        self.categories.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
    }

    /// Rebuild the name index (after deserializing).
    pub fn reindexed(mut self) -> Self {
        self.index = self
            .categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        self
    }
}

/// The mapping of one vendor's answers into the neutral model. Each adapter implements it on a
/// zero-sized type (`labelmux_sama::SamaAnnotations`, `labelmux_scale::ScaleAnnotations`); it
/// never fails: what cannot be read is reported in [`NormalizedLabels::not_normalized`].
pub trait Normalize: Send + Sync {
    /// The vendor whose answers this reads.
    fn vendor(&self) -> Vendor;

    /// The neutral annotations of `delivery` (its `answers`, with `raw` for the image and the
    /// task type).
    fn normalize(&self, delivery: &Delivery) -> NormalizedLabels;

    /// The classes a vendor document declares: a project's schema (as
    /// `Provider::task_schema` returns it) or a delivered task whose parameters list them (Scale
    /// `params.geometries`). Empty where the document declares none.
    fn label_schema(&self, document: &Value) -> LabelSchema;

    /// [`Normalize::normalize`] with the project's classes at hand, for vendors whose answers
    /// name classes by id (Segments): labels become the schema's names. By default the schema
    /// is not needed.
    fn normalize_in(&self, delivery: &Delivery, schema: &LabelSchema) -> NormalizedLabels {
        let _ = schema;
        self.normalize(delivery)
    }
}

/// JSON pointer of `key` under `parent` (escaping `~` and `/` as RFC 6901 says).
pub fn json_pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_serialize_flat_with_their_type() {
        let a = Annotation::new(
            AnnotationKind::BoundingBox {
                bbox: BoundingBox::new(1.0, 2.0, 3.0, 4.0),
            },
            "/boxes",
        )
        .with_label("car")
        .with_vendor_id("u1");
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v,
            json!({"type": "bbox", "bbox": {"x": 1.0, "y": 2.0, "width": 3.0, "height": 4.0},
                   "label": "car", "vendor_id": "u1", "source": "/boxes"})
        );
        let back: Annotation = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn schema_numbers_categories_in_first_seen_order() {
        let mut s = LabelSchema::from_names(["car", "person", "car"]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.id("person"), Some(1));
        assert_eq!(s.id_or_insert("bike"), 2);
        assert_eq!(s.id_or_insert("car"), 0);
        let back: LabelSchema = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back.reindexed().id("bike"), Some(2));
    }

    #[test]
    fn enclosing_box_and_pointers() {
        let b = BoundingBox::enclosing(&[Point::new(5.0, 1.0), Point::new(2.0, 7.0)]).unwrap();
        assert_eq!(b, BoundingBox::new(2.0, 1.0, 3.0, 6.0));
        assert!(BoundingBox::enclosing(&[]).is_none());
        assert_eq!(json_pointer("/a", "b/c~d"), "/a/b~1c~0d");
    }

    #[test]
    fn malformed_entries_are_errors() {
        let mut n = NormalizedLabels::default();
        n.skip(NotNormalized::unsupported(
            "/x",
            Some("arrow"),
            "no neutral form",
        ));
        assert!(!n.has_errors());
        n.skip(NotNormalized::malformed("/y", None, "no points"));
        assert!(n.has_errors());
    }
}
