//! Labelbox answers → the vendor-neutral annotation model ([`LabelboxAnnotations`]).
//!
//! A Labelbox delivery's `answers` are the export line's `annotations` of one label
//! (labelbox.md §12.5): `{"objects": [...], "classifications": [...], "relationships": [...]}`.
//!
//! | Labelbox answer | neutral annotation |
//! | --- | --- |
//! | object with `bounding_box {top,left,height,width}` | `bbox` |
//! | object with `polygon [{x,y}]` / `line [{x,y}]` / `point {x,y}` | `polygon` / `polyline` / `point` |
//! | object with `mask {url}` | `mask` (a reference to Labelbox's mask file) |
//! | classification with `radio_answer` | `classification` (single), label = the answer's `name` |
//! | classification with `checklist_answers` | `classification` (multiple) |
//! | classification with `text_answer {content}` | `text` |
//! | any other object geometry, any `relationships` entry, other answer kinds | not normalised (`unsupported`) |
//!
//! An object's class is its `name` (else `value`); its `feature_id` is the vendor id, and its
//! nested `classifications` (when any) become the attribute `classifications`, as sent.
//! Coordinates are pixels, origin top-left — the neutral convention already. The image size is
//! the line's `media_attributes` when the delivery's raw document carries them.

use labelmux_core::lenient::{finite_number, json_kind};
use labelmux_core::{
    json_pointer, Annotation, AnnotationKind, BoundingBox, Delivery, ImageInfo, JsonMap,
    LabelSchema, Mask, Normalize, NormalizedLabels, NotNormalized, Point, Vendor,
};
use serde_json::Value;

/// Labelbox's [`Normalize`] implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct LabelboxAnnotations;

impl Normalize for LabelboxAnnotations {
    fn vendor(&self) -> Vendor {
        Vendor::Labelbox
    }

    fn normalize(&self, delivery: &Delivery) -> NormalizedLabels {
        let mut out = normalize_answers(&delivery.answers.to_value());
        out.image = image_info(&delivery.raw.to_value());
        out
    }

    /// The `name` of every tool of an ontology (its `normalized` form, or the ontology object
    /// holding it), in order: the tools are a Labelbox project's object classes.
    fn label_schema(&self, document: &Value) -> LabelSchema {
        let ontology = document.get("normalized").unwrap_or(document);
        let ontology = match ontology {
            // The GraphQL API sends `normalized` as a JSON string.
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            other => other.clone(),
        };
        let mut schema = LabelSchema::new();
        for tool in ontology
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = tool.get("name").and_then(Value::as_str) {
                schema.id_or_insert(name);
            }
        }
        schema
    }
}

/// The neutral annotations of one Labelbox label's `annotations` (without the image).
pub fn normalize_answers(answers: &Value) -> NormalizedLabels {
    let mut out = NormalizedLabels::default();
    let map = match answers {
        Value::Null => return out,
        Value::Object(map) => map,
        other => {
            out.skip(NotNormalized::malformed(
                "",
                None,
                format!(
                    "Labelbox annotations must be an object, found {}",
                    json_kind(other)
                ),
            ));
            return out;
        }
    };
    for (key, value) in map {
        let path = json_pointer("", key);
        let Some(items) = value.as_array() else {
            if !value.is_null() {
                out.skip(NotNormalized::malformed(
                    path,
                    Some(key),
                    format!("Labelbox `{key}` is {}, not an array", json_kind(value)),
                ));
            }
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let ip = json_pointer(&path, &i.to_string());
            match key.as_str() {
                "objects" => object(item, ip, &mut out),
                "classifications" => match classification(item, &ip) {
                    Ok(Some(a)) => out.push(a),
                    Ok(None) => out.skip(NotNormalized::unsupported(
                        ip,
                        None,
                        "a classification whose answer kind has no neutral form",
                    )),
                    Err(detail) => out.skip(NotNormalized::malformed(ip, None, detail)),
                },
                other => out.skip(NotNormalized::unsupported(
                    ip,
                    Some(other),
                    format!("Labelbox `{other}` entries have no neutral form"),
                )),
            }
        }
    }
    out
}

fn object(v: &Value, path: String, out: &mut NormalizedLabels) {
    let kind_name = v.get("annotation_kind").and_then(Value::as_str);
    let Some(obj) = v.as_object() else {
        out.skip(NotNormalized::malformed(
            path,
            None,
            format!("an object is {}", json_kind(v)),
        ));
        return;
    };
    let kind = match geometry(obj) {
        Ok(Some(kind)) => kind,
        Ok(None) => {
            out.skip(NotNormalized::unsupported(
                path,
                kind_name,
                format!(
                    "object kind {} has no neutral form",
                    kind_name.unwrap_or("(no geometry key)")
                ),
            ));
            return;
        }
        Err(detail) => {
            out.skip(NotNormalized::malformed(path, kind_name, detail));
            return;
        }
    };
    let mut a = Annotation::new(kind, path).with_attributes(nested(obj));
    a.label = text(obj, "name").or_else(|| text(obj, "value"));
    a.vendor_id = text(obj, "feature_id");
    out.push(a);
}

/// The geometry of an object; `Ok(None)` when it has none the model knows.
fn geometry(obj: &JsonMap) -> Result<Option<AnnotationKind>, String> {
    if let Some(b) = obj.get("bounding_box") {
        let field = |k: &str| {
            b.get(k)
                .and_then(finite_number)
                .ok_or_else(|| format!("bounding_box has no numeric `{k}`: {b}"))
        };
        return Ok(Some(AnnotationKind::BoundingBox {
            bbox: BoundingBox::new(
                field("left")?,
                field("top")?,
                field("width")?,
                field("height")?,
            ),
        }));
    }
    if let Some(p) = obj.get("polygon") {
        let points = points_of(p, "polygon")?;
        if points.len() < 3 {
            return Err(format!("a polygon needs 3 points, found {}", points.len()));
        }
        return Ok(Some(AnnotationKind::Polygon { points }));
    }
    if let Some(p) = obj.get("line") {
        let points = points_of(p, "line")?;
        if points.len() < 2 {
            return Err(format!("a line needs 2 points, found {}", points.len()));
        }
        return Ok(Some(AnnotationKind::Polyline { points }));
    }
    if let Some(p) = obj.get("point") {
        let point = point(p).ok_or_else(|| format!("a point is not {{x, y}}: {p}"))?;
        return Ok(Some(AnnotationKind::Point { point }));
    }
    if let Some(m) = obj.get("mask") {
        let url = m
            .get("url")
            .and_then(Value::as_str)
            .ok_or("a mask without a `url` string")?;
        return Ok(Some(AnnotationKind::Mask {
            mask: Mask::Url {
                url: url.to_owned(),
                value: m.get("color_rgb").cloned(),
            },
        }));
    }
    Ok(None)
}

/// A global classification; `Ok(None)` for an answer kind with no neutral form.
fn classification(v: &Value, path: &str) -> Result<Option<Annotation>, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("a classification is {}", json_kind(v)))?;
    let question = text(obj, "name").or_else(|| text(obj, "value"));
    let answer_name = |a: &Value| -> Result<String, String> {
        a.as_object()
            .and_then(|o| text(o, "name").or_else(|| text(o, "value")))
            .ok_or_else(|| format!("an answer without a `name`: {a}"))
    };
    let mut attributes = nested(obj);
    let a = if let Some(answer) = obj.get("radio_answer") {
        let value = answer_name(answer)?;
        if let Some(inner) = answer.get("classifications").filter(|c| !is_empty(c)) {
            attributes.insert("classifications".into(), inner.clone());
        }
        Annotation::new(
            AnnotationKind::Classification {
                question,
                values: vec![value.clone()],
                multiple: false,
            },
            json_pointer(path, "radio_answer"),
        )
        .with_label(value)
    } else if let Some(answers) = obj.get("checklist_answers") {
        let items = answers
            .as_array()
            .ok_or("`checklist_answers` is not an array")?;
        let values = items.iter().map(answer_name).collect::<Result<_, _>>()?;
        let inner: Vec<Value> = items
            .iter()
            .filter_map(|a| a.get("classifications"))
            .filter(|c| !is_empty(c))
            .cloned()
            .collect();
        if !inner.is_empty() {
            attributes.insert("classifications".into(), Value::Array(inner));
        }
        Annotation::new(
            AnnotationKind::Classification {
                question,
                values,
                multiple: true,
            },
            json_pointer(path, "checklist_answers"),
        )
    } else if let Some(answer) = obj.get("text_answer") {
        let text = answer
            .get("content")
            .and_then(Value::as_str)
            .ok_or("`text_answer` without a `content` string")?;
        Annotation::new(
            AnnotationKind::Text {
                question,
                text: text.to_owned(),
            },
            json_pointer(path, "text_answer"),
        )
    } else {
        return Ok(None);
    };
    let mut a = a.with_attributes(attributes);
    a.vendor_id = text(obj, "feature_id");
    Ok(Some(a))
}

/// Nested classifications as the attribute `classifications`, when there are any.
fn nested(obj: &JsonMap) -> JsonMap {
    let mut attributes = JsonMap::new();
    if let Some(c) = obj.get("classifications").filter(|c| !is_empty(c)) {
        attributes.insert("classifications".into(), c.clone());
    }
    attributes
}

fn is_empty(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(Vec::is_empty)
}

fn text(obj: &JsonMap, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn points_of(v: &Value, ty: &str) -> Result<Vec<Point>, String> {
    v.as_array()
        .ok_or_else(|| format!("a {ty} is not an array of points"))?
        .iter()
        .enumerate()
        .map(|(i, p)| point(p).ok_or_else(|| format!("point {i} of a {ty} is not {{x, y}}: {p}")))
        .collect()
}

fn point(v: &Value) -> Option<Point> {
    Some(Point::new(
        finite_number(v.get("x")?)?,
        finite_number(v.get("y")?)?,
    ))
}

/// The image of a Labelbox delivery: `media_attributes` and `data_row.row_data` /
/// `external_id` where the raw document carries them (an export line does; a bare label does
/// not, and then the image is unknown).
pub fn image_info(raw: &Value) -> ImageInfo {
    let mut info = ImageInfo::default();
    let size = |k: &str| {
        raw.pointer(&format!("/media_attributes/{k}"))
            .and_then(finite_number)
            .filter(|n| *n >= 1.0 && *n <= u32::MAX as f64)
            .map(|n| n.round() as u32)
    };
    info.width = size("width");
    info.height = size("height");
    let s = |p: &str| raw.pointer(p).and_then(Value::as_str).map(str::to_owned);
    info.url = s("/data_row/row_data");
    info.file_name = s("/data_row/external_id");
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::NotNormalizedReason;
    use serde_json::json;

    /// (annotations, expected kinds, expected labels, not-normalised reasons)
    type Case = (
        Value,
        Vec<&'static str>,
        Vec<Option<&'static str>>,
        Vec<NotNormalizedReason>,
    );

    fn objects(o: Value) -> Value {
        json!({"objects": o, "classifications": [], "relationships": []})
    }

    #[test]
    fn mapping_table() {
        use NotNormalizedReason::{Malformed, Unsupported};
        let cases: Vec<Case> = vec![
            (
                objects(
                    json!([{"feature_id": "f1", "name": "car", "annotation_kind": "ImageBoundingBox",
                    "bounding_box": {"top": 977, "left": 1690, "height": 330, "width": 225}}]),
                ),
                vec!["bbox"],
                vec![Some("car")],
                vec![],
            ),
            (
                objects(json!([
                    {"name": "road", "polygon": [{"x": 1, "y": 2}, {"x": 5, "y": 2}, {"x": 3, "y": 7.5}]},
                    {"name": "lane", "line": [{"x": 0, "y": 0}, {"x": "4", "y": 4}]},
                    {"name": "eye", "point": {"x": 3, "y": 4}},
                    {"name": "sky", "mask": {"url": "https://m/1.png", "color_rgb": [255, 0, 0]}}])),
                vec!["polygon", "polyline", "point", "mask"],
                vec![Some("road"), Some("lane"), Some("eye"), Some("sky")],
                vec![],
            ),
            (
                json!({"classifications": [
                    {"feature_id": "c1", "name": "q", "radio_answer": {"name": "a", "classifications": []}},
                    {"name": "tags", "checklist_answers": [{"name": "x"}, {"name": "y"}]},
                    {"name": "note", "text_answer": {"content": "hello"}}]}),
                vec!["classification", "classification", "text"],
                vec![Some("a"), None, None],
                vec![],
            ),
            (
                json!({"objects": [{"name": "c", "annotation_kind": "ImageCuboid", "cuboid": {}}],
                       "relationships": [{"source": "a", "target": "b"}],
                       "classifications": [{"name": "odd", "slider": 3}]}),
                vec![],
                vec![],
                vec![Unsupported; 3],
            ),
            // Malformed: missing or wrong coordinates, wrong containers; never a panic.
            (
                objects(json!([
                    {"name": "a", "bounding_box": {"top": 1, "left": 2, "height": "x"}},
                    {"name": "b", "polygon": [{"x": 1, "y": 2}, {"x": 3}]},
                    {"name": "c", "polygon": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]},
                    {"name": "d", "line": "nope"},
                    {"name": "e", "point": [1, 2]},
                    {"name": "f", "mask": {}},
                    7])),
                vec![],
                vec![],
                vec![Malformed; 7],
            ),
            (
                json!({"classifications": [{"name": "q", "radio_answer": 3},
                    {"name": "t", "text_answer": {}}, {"checklist_answers": {}}, "x"],
                       "objects": {"not": "an array"}}),
                vec![],
                vec![],
                vec![Malformed; 5],
            ),
            (
                json!(["not", "an", "object"]),
                vec![],
                vec![],
                vec![Malformed],
            ),
            (Value::Null, vec![], vec![], vec![]),
        ];
        for (answers, want_kinds, want_labels, want_skips) in cases {
            let n = normalize_answers(&answers);
            let kinds: Vec<&str> = n.annotations.iter().map(|a| a.kind.name()).collect();
            assert_eq!(kinds, want_kinds, "{answers}");
            let labels: Vec<Option<&str>> =
                n.annotations.iter().map(|a| a.label.as_deref()).collect();
            assert_eq!(labels, want_labels, "{answers}");
            let skips: Vec<NotNormalizedReason> =
                n.not_normalized.iter().map(|s| s.reason).collect();
            assert_eq!(skips, want_skips, "{answers}: {:?}", n.not_normalized);
        }
    }

    #[test]
    fn box_corner_and_size_with_id_source_and_nested_classifications() {
        let n = normalize_answers(&objects(json!([{"feature_id": "f9", "name": "car",
            "bounding_box": {"top": 10, "left": 20, "height": 30, "width": 40},
            "classifications": [{"name": "occluded", "radio_answer": {"name": "no"}}]}])));
        let a = &n.annotations[0];
        assert_eq!(
            a.kind,
            AnnotationKind::BoundingBox {
                bbox: BoundingBox::new(20.0, 10.0, 40.0, 30.0)
            }
        );
        assert_eq!(a.vendor_id.as_deref(), Some("f9"));
        assert_eq!(a.source, "/objects/0");
        assert_eq!(a.attributes["classifications"][0]["name"], "occluded");
    }

    #[test]
    fn classifications_keep_question_and_values() {
        let n = normalize_answers(&json!({"classifications": [
            {"name": "tags", "checklist_answers": [{"name": "x"}, {"value": "y"}]},
            {"name": "note", "text_answer": {"content": "hello"}}]}));
        assert_eq!(
            n.annotations[0].kind,
            AnnotationKind::Classification {
                question: Some("tags".into()),
                values: vec!["x".into(), "y".into()],
                multiple: true
            }
        );
        assert_eq!(
            n.annotations[1].kind,
            AnnotationKind::Text {
                question: Some("note".into()),
                text: "hello".into()
            }
        );
    }

    #[test]
    fn image_from_an_export_line_and_schema_from_an_ontology() {
        let i = image_info(&json!({"media_attributes": {"height": 1707, "width": 2560},
            "data_row": {"row_data": "https://x/a.jpg", "external_id": "a.jpg"}}));
        assert_eq!(i.size(), Some((2560, 1707)));
        assert_eq!(i.file_name.as_deref(), Some("a.jpg"));
        assert_eq!(image_info(&json!({"id": "l1"})), ImageInfo::default());
        let ontology = json!({"tools": [{"tool": "rectangle", "name": "car"},
            {"tool": "polygon", "name": "road"}], "classifications": []});
        let names = |s: LabelSchema| -> Vec<String> {
            s.categories().iter().map(|c| c.name.clone()).collect()
        };
        assert_eq!(
            names(LabelboxAnnotations.label_schema(&ontology)),
            ["car", "road"]
        );
        let wrapped = json!({"normalized": ontology.to_string()});
        assert_eq!(
            names(LabelboxAnnotations.label_schema(&wrapped)),
            ["car", "road"]
        );
    }
}
