//! Segments.ai answers → the vendor-neutral annotation model ([`SegmentsAnnotations`]).
//!
//! A Segments delivery's `answers` are the label's `attributes` (segments.md §5.7), shaped by
//! the dataset's task type:
//!
//! | Segments label attributes | neutral annotation |
//! | --- | --- |
//! | `annotations[]` `type: bbox`, `points [[x0,y0],[x1,y1]]` | `bbox` enclosing the two corners |
//! | `type: polygon` / `polyline` / `point` | `polygon` / `polyline` / `point` |
//! | `annotations[]` without `type`, beside `segmentation_bitmap {url}` | `mask` (a reference to the bitmap, `value` = the instance `id`) |
//! | `frames[]` of sequences | the same per frame, with `frame` (index) and `track_id` |
//! | `image_attributes` string / `[string]` values | `classification` (single / multiple), `question` = the attribute |
//! | `cuboid` and any other type, instances without a bitmap (point clouds), `point_annotations`, `links`, other attribute values | not normalised (`unsupported`) |
//!
//! An annotation's class is its `category_id`'s name in the dataset's task attributes, when
//! the delivery's raw document carries them, else the id itself as text (the
//! [`Normalize::label_schema`] of the task attributes gives the names). Its `attributes` are
//! kept, `id` is the vendor id. Points are pixels, origin top-left — the neutral convention.

use labelmux_core::lenient::{finite_number, json_kind};
use labelmux_core::{
    json_pointer, Annotation, AnnotationKind, BoundingBox, Category, Delivery, ImageInfo,
    LabelSchema, Mask, Normalize, NormalizedLabels, NotNormalized, Point, Vendor,
};
use serde_json::Value;
use std::collections::HashMap;

/// Segments.ai's [`Normalize`] implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct SegmentsAnnotations;

impl Normalize for SegmentsAnnotations {
    fn vendor(&self) -> Vendor {
        Vendor::Segments
    }

    fn normalize(&self, delivery: &Delivery) -> NormalizedLabels {
        self.normalize_in(delivery, &LabelSchema::new())
    }

    /// Category ids are named from `schema` (the dataset's task attributes, as
    /// [`Normalize::label_schema`] reads them), then from task attributes in the delivery's raw
    /// document; an id named by neither stays the id as text.
    fn normalize_in(&self, delivery: &Delivery, schema: &LabelSchema) -> NormalizedLabels {
        let raw = delivery.raw.to_value();
        let mut names = category_names(&raw);
        for c in schema.categories() {
            if let Some(id) = &c.vendor_id {
                names.entry(id.clone()).or_insert_with(|| c.name.clone());
            }
        }
        let mut out = normalize_attributes(&delivery.answers.to_value(), &names);
        out.image = image_info(&raw);
        out
    }

    /// The category names of a dataset's task attributes (the dataset, its `task_attributes`,
    /// or the `categories` list), in order.
    fn label_schema(&self, document: &Value) -> LabelSchema {
        let mut schema = LabelSchema::new();
        for c in categories(document) {
            if let Some(name) = c.get("name").and_then(Value::as_str) {
                let category = Category::new(name, None);
                schema.insert(match c.get("id").and_then(id_text) {
                    Some(id) => category.with_vendor_id(id),
                    None => category,
                });
            }
        }
        schema
    }
}

fn categories(document: &Value) -> impl Iterator<Item = &Value> {
    let attrs = document.get("task_attributes").unwrap_or(document);
    attrs
        .get("categories")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Category id → name, from task attributes found in `document` (under `task_attributes` or
/// `dataset.task_attributes`); empty when it has none.
pub fn category_names(document: &Value) -> HashMap<String, String> {
    let source = document
        .get("dataset")
        .filter(|d| d.get("task_attributes").is_some())
        .unwrap_or(document);
    if source.get("task_attributes").is_none() {
        return HashMap::new();
    }
    categories(source)
        .filter_map(|c| Some((id_text(c.get("id")?)?, c.get("name")?.as_str()?.to_owned())))
        .collect()
}

/// The neutral annotations of Segments label attributes, naming categories from `names`
/// (id as text → name) and falling back to the id.
pub fn normalize_attributes(
    attributes: &Value,
    names: &HashMap<String, String>,
) -> NormalizedLabels {
    let mut out = NormalizedLabels::default();
    match attributes {
        Value::Null => {}
        Value::Object(map) => match map.get("frames") {
            Some(Value::Array(frames)) => {
                for (f, frame) in frames.iter().enumerate() {
                    let fp = json_pointer("/frames", &f.to_string());
                    frame_attributes(frame, &fp, Some(f as u64), names, &mut out);
                }
            }
            Some(other) if !other.is_null() => out.skip(NotNormalized::malformed(
                "/frames",
                None,
                format!("Segments `frames` is {}, not an array", json_kind(other)),
            )),
            _ => frame_attributes(attributes, "", None, names, &mut out),
        },
        other => out.skip(NotNormalized::malformed(
            "",
            None,
            format!(
                "Segments label attributes must be an object, found {}",
                json_kind(other)
            ),
        )),
    }
    out
}

fn frame_attributes(
    v: &Value,
    path: &str,
    frame: Option<u64>,
    names: &HashMap<String, String>,
    out: &mut NormalizedLabels,
) {
    let Some(map) = v.as_object() else {
        out.skip(NotNormalized::malformed(
            path,
            None,
            format!("a Segments frame is {}", json_kind(v)),
        ));
        return;
    };
    let bitmap = map
        .get("segmentation_bitmap")
        .and_then(|b| b.get("url"))
        .and_then(Value::as_str);
    let ap = json_pointer(path, "annotations");
    match map.get("annotations") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let ip = json_pointer(&ap, &i.to_string());
                match annotation(item, &ip, bitmap, names) {
                    Ok(Some(a)) => {
                        let track = item.get("track_id").and_then(id_text);
                        out.push(a.with_frame(frame, track));
                    }
                    Ok(None) => out.skip(NotNormalized::unsupported(
                        ip,
                        item.get("type").and_then(Value::as_str),
                        format!(
                            "annotation type {} has no neutral form",
                            item.get("type").unwrap_or(&Value::Null)
                        ),
                    )),
                    Err(detail) => out.skip(NotNormalized::malformed(
                        ip,
                        item.get("type").and_then(Value::as_str),
                        detail,
                    )),
                }
            }
        }
        Some(other) => out.skip(NotNormalized::malformed(
            ap,
            None,
            format!(
                "Segments `annotations` is {}, not an array",
                json_kind(other)
            ),
        )),
    }
    // Point-cloud point labels and object links have no neutral form: listed, not dropped.
    for key in ["point_annotations", "links"] {
        if map
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            out.skip(NotNormalized::unsupported(
                json_pointer(path, key),
                Some(key),
                format!("Segments `{key}` have no neutral form"),
            ));
        }
    }
    if let Some(attrs) = map.get("image_attributes").and_then(Value::as_object) {
        let base = json_pointer(path, "image_attributes");
        for (name, value) in attrs {
            let p = json_pointer(&base, name);
            let (values, multiple) = match value {
                Value::Null => continue,
                Value::String(s) => (vec![s.clone()], false),
                Value::Array(items) if items.iter().all(Value::is_string) => (
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    true,
                ),
                other => {
                    out.skip(NotNormalized::unsupported(
                        p,
                        None,
                        format!(
                            "image attribute `{name}` is {}, which has no neutral form",
                            json_kind(other)
                        ),
                    ));
                    continue;
                }
            };
            let mut a = Annotation::new(
                AnnotationKind::Classification {
                    question: Some(name.clone()),
                    values: values.clone(),
                    multiple,
                },
                p,
            );
            if !multiple {
                a.label = values.into_iter().next();
            }
            a.frame = frame;
            out.push(a);
        }
    }
}

/// One annotation; `Ok(None)` for a well-formed one with no neutral form.
fn annotation(
    v: &Value,
    path: &str,
    bitmap: Option<&str>,
    names: &HashMap<String, String>,
) -> Result<Option<Annotation>, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("an annotation is {}", json_kind(v)))?;
    let id = obj
        .get("id")
        .and_then(id_text)
        .ok_or("an annotation without an integer `id`")?;
    let category = obj
        .get("category_id")
        .and_then(id_text)
        .ok_or("an annotation without an integer `category_id`")?;
    let points = || -> Result<Vec<Point>, String> {
        obj.get("points")
            .and_then(Value::as_array)
            .ok_or("an annotation without a `points` array")?
            .iter()
            .enumerate()
            .map(|(i, p)| point(p).ok_or_else(|| format!("point {i} is not [x, y]: {p}")))
            .collect()
    };
    let need = |pts: Vec<Point>, n: usize, ty: &str| {
        if pts.len() < n {
            Err(format!("a {ty} needs {n} points, found {}", pts.len()))
        } else {
            Ok(pts)
        }
    };
    let kind = match obj.get("type").map(|t| (t, t.as_str())) {
        Some((_, Some("bbox"))) => {
            let pts = points()?;
            if pts.len() != 2 {
                return Err(format!("a bbox needs 2 points, found {}", pts.len()));
            }
            let bbox = BoundingBox::enclosing(&pts).ok_or("a bbox without points")?;
            AnnotationKind::BoundingBox { bbox }
        }
        Some((_, Some("polygon"))) => AnnotationKind::Polygon {
            points: need(points()?, 3, "polygon")?,
        },
        Some((_, Some("polyline"))) => AnnotationKind::Polyline {
            points: need(points()?, 2, "polyline")?,
        },
        Some((_, Some("point"))) => match points()?.as_slice() {
            [p] => AnnotationKind::Point { point: *p },
            other => return Err(format!("a point needs 1 point, found {}", other.len())),
        },
        Some((_, Some(_))) => return Ok(None),
        Some((t, None)) if !t.is_null() => return Err(format!("`type` is not a string: {t}")),
        _ => match bitmap {
            Some(url) => AnnotationKind::Mask {
                mask: Mask::Url {
                    url: url.to_owned(),
                    value: obj.get("id").cloned(),
                },
            },
            None => return Ok(None),
        },
    };
    let label = names.get(&category).cloned().unwrap_or(category);
    let attributes = obj
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(Some(
        Annotation::new(kind, path)
            .with_label(label)
            .with_attributes(attributes)
            .with_vendor_id(id),
    ))
}

/// An integer id (or a numeric string) as text.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn point(v: &Value) -> Option<Point> {
    match v.as_array()?.as_slice() {
        [x, y, ..] => Some(Point::new(finite_number(x)?, finite_number(y)?)),
        _ => None,
    }
}

/// The image of a Segments sample: `attributes.image.url`, the sample `name` as file name.
pub fn image_info(sample: &Value) -> ImageInfo {
    let mut info = ImageInfo::default();
    let s = |p: &str| sample.pointer(p).and_then(Value::as_str).map(str::to_owned);
    info.url = s("/attributes/image/url");
    info.file_name = s("/name");
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::NotNormalizedReason;
    use serde_json::json;

    /// (attributes, expected kinds, expected labels, not-normalised reasons)
    type Case = (
        Value,
        Vec<&'static str>,
        Vec<Option<&'static str>>,
        Vec<NotNormalizedReason>,
    );

    fn names() -> HashMap<String, String> {
        HashMap::from([("1".to_owned(), "car".to_owned())])
    }

    #[test]
    fn mapping_table() {
        use NotNormalizedReason::{Malformed, Unsupported};
        let cases: Vec<Case> = vec![
            (
                json!({"format_version": "0.1", "annotations": [
                    {"id": 1, "category_id": 1, "type": "bbox", "points": [[12.5, 56], [90, 34]]},
                    {"id": 2, "category_id": 2, "type": "polygon", "points": [[1, 2], [9, 3], [7, 2]]},
                    {"id": 3, "category_id": 3, "type": "polyline", "points": [[1, 2], [3, 4]]},
                    {"id": 4, "category_id": 1, "type": "point", "points": [[12.34, 56.78]]}],
                    "image_attributes": {}}),
                vec!["bbox", "polygon", "polyline", "point"],
                vec![Some("car"), Some("2"), Some("3"), Some("car")],
                vec![],
            ),
            (
                json!({"annotations": [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 4}],
                       "segmentation_bitmap": {"url": "https://s/label.png"},
                       "image_attributes": {"weather": "sunny", "tags": ["a", "b"], "n": 3}}),
                vec!["mask", "mask", "classification", "classification"],
                vec![Some("car"), Some("4"), None, Some("sunny")],
                vec![Unsupported],
            ),
            (
                json!({"frames": [
                    {"annotations": [{"id": 1, "category_id": 1, "type": "bbox", "points": [[0, 0], [2, 2]], "track_id": 1}]},
                    {"annotations": [{"id": 1, "category_id": 1, "type": "bbox", "points": [[1, 1], [3, 3]], "track_id": 1}]}]}),
                vec!["bbox", "bbox"],
                vec![Some("car"), Some("car")],
                vec![],
            ),
            (
                json!({"annotations": [{"id": 1, "category_id": 1, "type": "cuboid", "position": {}},
                                       {"id": 2, "category_id": 1}],
                       "point_annotations": [[1, 2]]}),
                vec![],
                vec![],
                vec![Unsupported; 3],
            ),
            // Malformed: missing ids, points, wrong types and counts; never a panic.
            (
                json!({"annotations": [
                    {"category_id": 1, "type": "bbox", "points": [[0, 0], [1, 1]]},
                    {"id": 1, "type": "bbox", "points": [[0, 0], [1, 1]]},
                    {"id": 1, "category_id": 1, "type": "bbox", "points": [[0, 0]]},
                    {"id": 1, "category_id": 1, "type": "polygon", "points": [[0, 0], [1, 1]]},
                    {"id": 1, "category_id": 1, "type": "point", "points": [[0, "x"]]},
                    {"id": 1, "category_id": 1, "type": "polyline"},
                    {"id": 1, "category_id": 1, "type": 3, "points": []},
                    "x"]}),
                vec![],
                vec![],
                vec![Malformed; 8],
            ),
            (json!({"annotations": {}}), vec![], vec![], vec![Malformed]),
            (json!({"frames": [3], }), vec![], vec![], vec![Malformed]),
            (json!({"frames": "x"}), vec![], vec![], vec![Malformed]),
            (json!([1]), vec![], vec![], vec![Malformed]),
            (Value::Null, vec![], vec![], vec![]),
        ];
        for (attributes, want_kinds, want_labels, want_skips) in cases {
            let n = normalize_attributes(&attributes, &names());
            let kinds: Vec<&str> = n.annotations.iter().map(|a| a.kind.name()).collect();
            assert_eq!(kinds, want_kinds, "{attributes}");
            let labels: Vec<Option<&str>> =
                n.annotations.iter().map(|a| a.label.as_deref()).collect();
            assert_eq!(labels, want_labels, "{attributes}");
            let skips: Vec<NotNormalizedReason> =
                n.not_normalized.iter().map(|s| s.reason).collect();
            assert_eq!(skips, want_skips, "{attributes}: {:?}", n.not_normalized);
        }
    }

    #[test]
    fn bbox_corners_frames_tracks_and_masks() {
        let n = normalize_attributes(
            &json!({"frames": [{}, {"annotations": [{"id": 7, "category_id": 1, "type": "bbox",
                "points": [[90, 34], [12, 56]], "track_id": 7, "attributes": {"occluded": true}}]}]}),
            &HashMap::new(),
        );
        let a = &n.annotations[0];
        assert_eq!(
            a.kind,
            AnnotationKind::BoundingBox {
                bbox: BoundingBox::new(12.0, 34.0, 78.0, 22.0)
            }
        );
        assert_eq!((a.frame, a.track_id.as_deref()), (Some(1), Some("7")));
        assert_eq!(a.label.as_deref(), Some("1"));
        assert_eq!(a.vendor_id.as_deref(), Some("7"));
        assert_eq!(a.attributes["occluded"], true);
        assert_eq!(a.source, "/frames/1/annotations/0");
        let m = normalize_attributes(
            &json!({"annotations": [{"id": 5, "category_id": 1}], "segmentation_bitmap": {"url": "u"}}),
            &HashMap::new(),
        );
        assert_eq!(
            m.annotations[0].kind,
            AnnotationKind::Mask {
                mask: Mask::Url {
                    url: "u".into(),
                    value: Some(json!(5))
                }
            }
        );
    }

    #[test]
    fn categories_schema_and_image() {
        let dataset = json!({"task_type": "bboxes", "task_attributes": {"format_version": "0.1",
            "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]}});
        let s = SegmentsAnnotations.label_schema(&dataset);
        let names: Vec<&str> = s.categories().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["car", "person"]);
        assert_eq!(category_names(&dataset)["2"], "person");
        assert!(category_names(&json!({"uuid": "s"})).is_empty());
        let i = image_info(
            &json!({"name": "a.jpg", "attributes": {"image": {"url": "https://x/a.jpg"}}}),
        );
        assert_eq!(
            (i.url.as_deref(), i.file_name.as_deref()),
            (Some("https://x/a.jpg"), Some("a.jpg"))
        );
    }
}
