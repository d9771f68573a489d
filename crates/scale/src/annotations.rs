//! Scale task responses → the vendor-neutral annotation model ([`ScaleAnnotations`]).
//!
//! A delivery's `answers` is the task's `response`; the task (`raw`) gives its `type`, its
//! `params` and the image. Scale's coordinates are pixels, origin top-left, like the model.
//!
//! | Scale response | neutral annotation |
//! | --- | --- |
//! | `annotations[]` `type: box` (`left`, `top`, `width`, `height`) | `bbox` |
//! | `box` with `rotation` (`can_rotate`; `vertices` = rotated corners) | `rotated_box` |
//! | `polygon` / `line` (`vertices[] {x, y}`) | `polygon` / `polyline` |
//! | `point` (`x`, `y`) | `point` |
//! | `ellipse` (4 extremal `vertices`) | `ellipse` |
//! | `cuboid` (`vertices[] {x, y, description}`) | `cuboid` with vertex names |
//! | untyped `annotations[]` of the legacy types (`annotation`, `polygonannotation`, `lineannotation`, `pointannotation`, `cuboidannotation`) | by task type, else by the fields present |
//! | segmentation `annotations.labeled.{label: [url]}` / `combined` | `mask` (mask file URLs) |
//! | `global_attributes.{name: value}` | `classification` |
//! | `category` (string or array) / `taxonomies.{name: …}` | `classification` |
//! | `fields.{name: string}` / `transcription` | `text` |
//! | `annotations` as a file link (video, lidar), `links`, `error`, anything else | not normalised |
//!
//! Every annotation keeps its `uuid` as the vendor id and its `attributes`. The image: the
//! `attachment` parameter; Scale does not report image sizes, so `width` / `height` are read
//! from the task `metadata` (or `params.metadata`) where the caller stored them.

use labelmux_core::lenient::{finite_number, json_kind};
use labelmux_core::{
    json_pointer, Annotation, AnnotationKind, BoundingBox, Category, Delivery, ImageInfo, JsonMap,
    LabelSchema, Mask, Normalize, NormalizedLabels, NotNormalized, Point, Vendor,
};
use serde_json::Value;

/// Scale's [`Normalize`] implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScaleAnnotations;

impl Normalize for ScaleAnnotations {
    fn vendor(&self) -> Vendor {
        Vendor::Scale
    }

    fn normalize(&self, delivery: &Delivery) -> NormalizedLabels {
        let raw = delivery.raw.to_value();
        let task_type = raw.get("type").and_then(Value::as_str);
        let mut out = normalize_response(&delivery.answers.to_value(), task_type);
        out.image = image_info(&raw);
        out
    }

    /// The classes of `params.geometries.*.objects_to_annotate` (a task, a project's params or
    /// the params object itself), plain strings and `{choice, subchoices}` objects, in order;
    /// subchoices name their choice as supercategory.
    fn label_schema(&self, document: &Value) -> LabelSchema {
        let mut schema = LabelSchema::new();
        let params = document
            .get("params")
            .filter(|p| p.is_object())
            .unwrap_or(document);
        let geometries = params.get("geometries").and_then(Value::as_object);
        for geometry in geometries.into_iter().flat_map(|g| g.values()) {
            let objects = geometry
                .get("objects_to_annotate")
                .and_then(Value::as_array);
            for object in objects.into_iter().flatten() {
                add_choice(object, None, &mut schema);
            }
        }
        schema
    }
}

fn add_choice(v: &Value, parent: Option<&str>, schema: &mut LabelSchema) {
    let category = |name: &str| Category::new(name, parent.map(str::to_owned));
    match v {
        Value::String(s) => {
            schema.insert(category(s));
        }
        Value::Object(o) => {
            let Some(choice) = o.get("choice").and_then(Value::as_str) else {
                return;
            };
            schema.insert(category(choice));
            for sub in o
                .get("subchoices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                add_choice(sub, Some(choice), schema);
            }
        }
        _ => {}
    }
}

/// The neutral annotations of a Scale `response` for a task of `task_type`.
pub fn normalize_response(response: &Value, task_type: Option<&str>) -> NormalizedLabels {
    let mut out = NormalizedLabels::default();
    let map = match response {
        Value::Null => return out,
        Value::Object(map) => map,
        other => {
            out.skip(NotNormalized::malformed(
                "",
                task_type,
                format!(
                    "a Scale response must be an object, found {}",
                    json_kind(other)
                ),
            ));
            return out;
        }
    };
    for (key, value) in map {
        let path = json_pointer("", key);
        match key.as_str() {
            "annotations" => annotations(value, &path, task_type, &mut out),
            "global_attributes" | "taxonomies" => classifications(value, &path, &mut out),
            "category" => classification(None, value, &path, &mut out),
            "fields" => texts(value, &path, &mut out),
            "transcription" => match value.as_str() {
                Some(t) => out.push(Annotation::new(
                    AnnotationKind::Text {
                        question: None,
                        text: t.to_owned(),
                    },
                    path,
                )),
                None => out.skip(unsupported(&path, key, value)),
            },
            "labelMapping" | "instances" => {} // describe the masks; kept in the answers
            _ => out.skip(unsupported(&path, key, value)),
        }
    }
    out
}

fn unsupported(path: &str, key: &str, value: &Value) -> NotNormalized {
    NotNormalized::unsupported(
        path,
        Some(key),
        format!(
            "response `{key}` ({}) has no neutral form",
            json_kind(value)
        ),
    )
}

fn annotations(value: &Value, path: &str, task_type: Option<&str>, out: &mut NormalizedLabels) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let ip = json_pointer(path, &i.to_string());
                match geometry(item, &ip, task_type) {
                    Ok(Some(a)) => out.push(a),
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
                        item.get("type").and_then(Value::as_str).or(task_type),
                        detail,
                    )),
                }
            }
        }
        Value::Object(o) if o.contains_key("labeled") || o.contains_key("combined") => {
            segmentation(o, path, out)
        }
        other => out.skip(NotNormalized::unsupported(
            path,
            task_type,
            format!(
                "`annotations` as {} (a file link for video or lidar tasks) has no neutral form",
                json_kind(other)
            ),
        )),
    }
}

/// Segmentation: one mask file per label instance, and the combined images.
fn segmentation(o: &JsonMap, path: &str, out: &mut NormalizedLabels) {
    let mask = |url: &str, p: String| {
        Annotation::new(
            AnnotationKind::Mask {
                mask: Mask::Url {
                    url: url.to_owned(),
                    value: None,
                },
            },
            p,
        )
    };
    for (key, value) in o {
        let kp = json_pointer(path, key);
        match (key.as_str(), value) {
            ("labeled", Value::Object(labels)) => {
                for (label, urls) in labels {
                    let lp = json_pointer(&kp, label);
                    let list: Vec<&Value> = match urls {
                        Value::Array(a) => a.iter().collect(),
                        single => vec![single],
                    };
                    for (i, u) in list.into_iter().enumerate() {
                        match u.as_str() {
                            Some(url) => out.push(
                                mask(url, json_pointer(&lp, &i.to_string())).with_label(label),
                            ),
                            None => out.skip(NotNormalized::malformed(
                                json_pointer(&lp, &i.to_string()),
                                Some("segmentation"),
                                format!("mask of `{label}` is not a URL string"),
                            )),
                        }
                    }
                }
            }
            _ => out.skip(NotNormalized::unsupported(
                kp,
                Some("segmentation"),
                format!("segmentation `{key}` (whole-image masks) has no per-label neutral form"),
            )),
        }
    }
}

/// One element of `annotations`; `Ok(None)` for a well-formed type with no neutral form.
fn geometry(v: &Value, path: &str, task_type: Option<&str>) -> Result<Option<Annotation>, String> {
    let o = v.as_object().ok_or("an annotation is not an object")?;
    let ty = match o.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(other) if !other.is_null() => return Err(format!("`type` is not a string: {other}")),
        _ => legacy_type(o, task_type).ok_or("an annotation without `type` or coordinates")?,
    };
    let f = |k: &str| -> Result<f64, String> {
        o.get(k)
            .and_then(finite_number)
            .ok_or_else(|| format!("a {ty} has no numeric `{k}`"))
    };
    let vertices = || vertices(o.get("vertices"), ty);
    let kind = match ty {
        "box" => {
            let bbox = BoundingBox::new(f("left")?, f("top")?, f("width")?, f("height")?);
            match o.get("rotation").and_then(finite_number) {
                Some(rotation) if rotation != 0.0 => AnnotationKind::RotatedBox {
                    bbox,
                    rotation,
                    corners: if o.contains_key("vertices") {
                        vertices()?
                    } else {
                        Vec::new()
                    },
                },
                _ => AnnotationKind::BoundingBox { bbox },
            }
        }
        "polygon" => AnnotationKind::Polygon {
            points: at_least(vertices()?, 3, ty)?,
        },
        "line" => AnnotationKind::Polyline {
            points: at_least(vertices()?, 2, ty)?,
        },
        "point" => AnnotationKind::Point {
            point: Point::new(f("x")?, f("y")?),
        },
        "ellipse" => AnnotationKind::Ellipse {
            points: at_least(vertices()?, 4, ty)?,
        },
        "cuboid" => {
            let points = at_least(vertices()?, 4, ty)?;
            let names = o
                .get("vertices")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .map(|v| {
                            v.get("description")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned()
                        })
                        .collect::<Vec<_>>()
                })
                .filter(|names| names.iter().any(|n| !n.is_empty()))
                .unwrap_or_default();
            AnnotationKind::Cuboid { points, names }
        }
        _ => return Ok(None),
    };
    let mut a = Annotation::new(kind, path);
    a.label = o.get("label").and_then(Value::as_str).map(str::to_owned);
    a.attributes = o
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    a.vendor_id = o.get("uuid").and_then(Value::as_str).map(str::to_owned);
    a.confidence = o.get("confidence").and_then(finite_number);
    Ok(Some(a))
}

/// The geometry of an untyped annotation: from the legacy task type, else its fields.
fn legacy_type(o: &JsonMap, task_type: Option<&str>) -> Option<&'static str> {
    match task_type {
        Some("annotation") => return Some("box"),
        Some("polygonannotation") => return Some("polygon"),
        Some("lineannotation") => return Some("line"),
        Some("pointannotation") => return Some("point"),
        Some("cuboidannotation") => return Some("cuboid"),
        _ => {}
    }
    if o.contains_key("left") && o.contains_key("width") {
        Some("box")
    } else if o.contains_key("vertices") {
        Some("polygon")
    } else if o.contains_key("x") && o.contains_key("y") {
        Some("point")
    } else {
        None
    }
}

fn at_least(points: Vec<Point>, n: usize, ty: &str) -> Result<Vec<Point>, String> {
    if points.len() < n {
        return Err(format!("a {ty} needs {n} vertices, found {}", points.len()));
    }
    Ok(points)
}

fn vertices(v: Option<&Value>, ty: &str) -> Result<Vec<Point>, String> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| format!("a {ty} has no `vertices` array"))?;
    arr.iter()
        .enumerate()
        .map(|(i, p)| {
            let coordinate = |k: &str| p.get(k).and_then(finite_number);
            match (coordinate("x"), coordinate("y")) {
                (Some(x), Some(y)) => Ok(Point::new(x, y)),
                _ => Err(format!("vertex {i} of a {ty} is not {{x, y}}: {p}")),
            }
        })
        .collect()
}

fn classifications(value: &Value, path: &str, out: &mut NormalizedLabels) {
    let Some(map) = value.as_object() else {
        out.skip(NotNormalized::malformed(
            path,
            None,
            format!("expected an object of answers, found {}", json_kind(value)),
        ));
        return;
    };
    for (name, v) in map {
        // Taxonomy answers may wrap the value: {"type": "category", "category": ...}.
        let v = v.get("category").or_else(|| v.get("value")).unwrap_or(v);
        classification(Some(name), v, &json_pointer(path, name), out);
    }
}

fn classification(question: Option<&str>, v: &Value, path: &str, out: &mut NormalizedLabels) {
    let question = question.map(str::to_owned);
    match v {
        Value::String(s) => out.push(
            Annotation::new(
                AnnotationKind::Classification {
                    question,
                    values: vec![s.clone()],
                    multiple: false,
                },
                path,
            )
            .with_label(s.clone()),
        ),
        Value::Array(items) if items.iter().all(Value::is_string) => out.push(Annotation::new(
            AnnotationKind::Classification {
                question,
                values: items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                multiple: true,
            },
            path,
        )),
        Value::Null => {}
        other => out.skip(NotNormalized::unsupported(
            path,
            Some("category"),
            format!("a classification answer that is {}", json_kind(other)),
        )),
    }
}

fn texts(value: &Value, path: &str, out: &mut NormalizedLabels) {
    let Some(map) = value.as_object() else {
        out.skip(NotNormalized::malformed(
            path,
            Some("fields"),
            format!("`fields` is {}, not an object", json_kind(value)),
        ));
        return;
    };
    for (name, v) in map {
        let p = json_pointer(path, name);
        match v {
            Value::String(t) => out.push(Annotation::new(
                AnnotationKind::Text {
                    question: Some(name.clone()),
                    text: t.clone(),
                },
                p,
            )),
            other => out.skip(NotNormalized::unsupported(
                p,
                Some("field"),
                format!("field `{name}` is {}", json_kind(other)),
            )),
        }
    }
}

/// The image of a Scale task: `params.attachment`, and `width`/`height` from the task
/// `metadata` or `params.metadata` (Scale itself does not report sizes).
pub fn image_info(task: &Value) -> ImageInfo {
    let mut info = ImageInfo::default();
    let params = task.get("params");
    info.url = params
        .and_then(|p| p.get("attachment"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let size = |k: &str| -> Option<u32> {
        [task.get("metadata"), params.and_then(|p| p.get("metadata"))]
            .into_iter()
            .flatten()
            .find_map(|m| m.get(k).and_then(finite_number))
            .filter(|n| *n >= 1.0 && *n <= u32::MAX as f64)
            .map(|n| n.round() as u32)
    };
    info.width = size("width");
    info.height = size("height");
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::NotNormalizedReason::{self, Malformed, Unsupported};
    use serde_json::json;

    fn kinds(n: &NormalizedLabels) -> Vec<&'static str> {
        n.annotations.iter().map(|a| a.kind.name()).collect()
    }

    /// (response, task type, expected kinds, not-normalised reasons)
    type Case = (
        Value,
        Option<&'static str>,
        Vec<&'static str>,
        Vec<NotNormalizedReason>,
    );

    #[test]
    fn mapping_table() {
        // (response, task type, expected kinds, not-normalised reasons)
        let cases: Vec<Case> = vec![
            (
                json!({"annotations": [{"type": "box", "label": "car", "left": 1, "top": 2, "width": 3, "height": 4, "uuid": "u1"}]}),
                Some("imageannotation"),
                vec!["bbox"],
                vec![],
            ),
            (
                json!({"annotations": [{"type": "box", "label": "truck", "left": 50, "top": 10, "width": 20, "height": 30, "rotation": 0.5,
                    "vertices": [{"x": 50, "y": 10}, {"x": 75, "y": 15}, {"x": 70, "y": 45}, {"x": 45, "y": 40}]}]}),
                Some("imageannotation"),
                vec!["rotated_box"],
                vec![],
            ),
            (
                json!({"annotations": [
                    {"type": "polygon", "label": "p", "vertices": [{"x": 1, "y": 1}, {"x": 5, "y": 1}, {"x": 5, "y": 5}]},
                    {"type": "line", "label": "l", "vertices": [{"x": 0, "y": 0}, {"x": 9.5, "y": 9.5}]},
                    {"type": "point", "label": "pt", "x": 3, "y": 4},
                    {"type": "ellipse", "label": "e", "vertices": [{"x": 1, "y": 0}, {"x": 2, "y": 1}, {"x": 1, "y": 2}, {"x": 0, "y": 1}]},
                    {"type": "cuboid", "label": "c", "vertices": [
                        {"x": 137, "y": 219, "description": "face-topleft"}, {"x": 137, "y": 318, "description": "face-bottomleft"},
                        {"x": 245, "y": 219, "description": "face-topright"}, {"x": 245, "y": 318, "description": "face-bottomright"},
                        {"x": 316, "y": 165, "description": "side-topcorner"}, {"x": 316, "y": 264, "description": "side-bottomcorner"}]}
                ]}),
                Some("imageannotation"),
                vec!["polygon", "polyline", "point", "ellipse", "cuboid"],
                vec![],
            ),
            // Legacy task types carry no `type` per annotation.
            (
                json!({"annotations": [{"label": "car", "left": 1, "top": 2, "width": 3, "height": 4}]}),
                Some("annotation"),
                vec!["bbox"],
                vec![],
            ),
            (
                json!({"annotations": [{"label": "lane", "vertices": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]}]}),
                Some("lineannotation"),
                vec!["polyline"],
                vec![],
            ),
            (
                json!({"annotations": [{"label": "eye", "x": 1, "y": 2}]}),
                Some("pointannotation"),
                vec!["point"],
                vec![],
            ),
            (
                json!({"annotations": {"labeled": {"road": ["https://m/road.png"]}, "combined": {"image": "https://m/all.png"}}, "labelMapping": {}}),
                Some("segmentannotation"),
                vec!["mask"],
                vec![Unsupported],
            ),
            (
                json!({"category": "big"}),
                Some("categorization"),
                vec!["classification"],
                vec![],
            ),
            (
                json!({"category": ["a", "b"]}),
                Some("categorization"),
                vec!["classification"],
                vec![],
            ),
            (
                json!({"taxonomies": {"weather": {"type": "category", "category": "rain"}}}),
                Some("categorization"),
                vec!["classification"],
                vec![],
            ),
            (
                json!({"annotations": [], "global_attributes": {"time": "night"}, "links": []}),
                Some("imageannotation"),
                vec!["classification"],
                vec![Unsupported],
            ),
            (
                json!({"fields": {"answer": "emulated", "n": 3}}),
                Some("textcollection"),
                vec!["text"],
                vec![Unsupported],
            ),
            (
                json!({"transcription": "hello"}),
                Some("transcription"),
                vec!["text"],
                vec![],
            ),
            (
                json!({"annotations": {"url": "https://v/annotations.json"}}),
                Some("videoannotation"),
                vec![],
                vec![Unsupported],
            ),
            (
                json!({"error": "attachment 403"}),
                Some("imageannotation"),
                vec![],
                vec![Unsupported],
            ),
            (
                json!({"annotations": [{"type": "textbox"}]}),
                None,
                vec![],
                vec![Unsupported],
            ),
            // Malformed: never a panic, every one reported.
            (
                json!({"annotations": [
                    {"type": "box", "left": 1, "top": 2, "width": "wide", "height": 4},
                    {"type": "box", "top": 2},
                    {"type": "polygon", "vertices": [{"x": 1}]},
                    {"type": "polygon", "vertices": [{"x": 1, "y": 1}]},
                    {"type": 7},
                    {"label": "mystery"},
                    "box"
                ]}),
                Some("imageannotation"),
                vec![],
                vec![Malformed; 7],
            ),
            (json!("done"), None, vec![], vec![Malformed]),
            (json!({"fields": ["a"]}), None, vec![], vec![Malformed]),
            (Value::Null, None, vec![], vec![]),
        ];
        for (response, task_type, want_kinds, want_skips) in cases {
            let n = normalize_response(&response, task_type);
            assert_eq!(kinds(&n), want_kinds, "{response}");
            let skips: Vec<NotNormalizedReason> =
                n.not_normalized.iter().map(|s| s.reason).collect();
            assert_eq!(skips, want_skips, "{response}: {:?}", n.not_normalized);
        }
    }

    #[test]
    fn box_keeps_label_uuid_and_attributes() {
        let n = normalize_response(
            &json!({"annotations": [{"type": "box", "label": "car", "left": 10.5, "top": 20,
                "width": 30, "height": 40, "uuid": "u-1", "attributes": {"parked": "Yes"}}]}),
            Some("imageannotation"),
        );
        let a = &n.annotations[0];
        assert_eq!(
            a.kind,
            AnnotationKind::BoundingBox {
                bbox: BoundingBox::new(10.5, 20.0, 30.0, 40.0)
            }
        );
        assert_eq!(a.label.as_deref(), Some("car"));
        assert_eq!(a.vendor_id.as_deref(), Some("u-1"));
        assert_eq!(a.attributes["parked"], "Yes");
        assert_eq!(a.source, "/annotations/0");
    }

    #[test]
    fn cuboid_vertex_names_are_kept() {
        let n = normalize_response(
            &json!({"annotations": [{"type": "cuboid", "vertices": [
                {"x": 0, "y": 0, "description": "face-topleft"}, {"x": 0, "y": 1, "description": "face-bottomleft"},
                {"x": 1, "y": 0, "description": "face-topright"}, {"x": 1, "y": 1, "description": "face-bottomright"}]}]}),
            None,
        );
        match &n.annotations[0].kind {
            AnnotationKind::Cuboid { names, points } => {
                assert_eq!(names[0], "face-topleft");
                assert_eq!(points.len(), 4);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn label_schema_from_geometries() {
        let task = json!({"params": {"geometries": {
            "box": {"objects_to_annotate": ["traffic_sign", {"choice": "vehicle", "subchoices": ["Car", {"choice": "truck_suv"}]}]},
            "polygon": {"objects_to_annotate": ["traffic_sign", "pedestrian"]}}}});
        let s = ScaleAnnotations.label_schema(&task);
        let names: Vec<&str> = s.categories().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["traffic_sign", "vehicle", "Car", "truck_suv", "pedestrian"]
        );
        assert_eq!(s.categories()[2].supercategory.as_deref(), Some("vehicle"));
        assert!(ScaleAnnotations.label_schema(&json!(null)).is_empty());
    }

    #[test]
    fn image_from_attachment_and_metadata() {
        let i = image_info(&json!({"params": {"attachment": "https://a/1.jpg"},
            "metadata": {"width": 640, "height": "480"}}));
        assert_eq!(i.url.as_deref(), Some("https://a/1.jpg"));
        assert_eq!(i.size(), Some((640, 480)));
        let i = image_info(&json!({"params": {"attachment": "u", "metadata": {"width": 5}}}));
        assert_eq!((i.width, i.height), (Some(5), None));
    }
}
