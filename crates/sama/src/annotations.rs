//! Sama answers → the vendor-neutral annotation model ([`SamaAnnotations`]).
//!
//! Sama delivers `answers` keyed by output name (sama.md §4.1). Each value is read as:
//!
//! | Sama answer | neutral annotation |
//! | --- | --- |
//! | a string (radio, menu `a\|b`, date) | `classification` (single), `question` = output name |
//! | a checkbox object `{"left":"1","none":"0"}` | `classification` (multiple): the keys set to `1` |
//! | workspace `layers.vector_tagging[].shapes[]` `rectangle` | `bbox` enclosing its 4 points |
//! | shape `polygon` / `line` / `point` | `polygon` / `polyline` / `point` |
//! | shape `cuboid` (8 points) | `cuboid` |
//! | shape `keypoint_shape` | `keypoints` |
//! | `layers.raster_coding.mask_url` | `mask` (a reference to Sama's mask file) |
//! | shape `arrow`, `slider_rectangle`, any other type; numbers, arrays, other objects | not normalised (`unsupported`) |
//!
//! A shape's class is its tag `class` / `label` / `category` / `object_class` / `object` (the
//! first present, as a string), else the group's `group_type`, else the output name; all its
//! `tags` become attributes. Points are `[x, y]` pairs (or `{"x","y"}` objects), in pixels,
//! origin top-left — the neutral convention already.
//!
//! The image: the `url` input (else the first input ending in `url`), and the image-metadata
//! inputs `<input> Width`, `<input> Height`, `<input> Original file name` Sama adds when
//! enabled (strings), or plain `width`/`height` inputs.

use labelmux_core::lenient::{finite_number, json_kind};
use labelmux_core::{
    json_pointer, Annotation, AnnotationKind, BoundingBox, Delivery, ImageInfo, JsonMap, Keypoint,
    LabelSchema, Mask, Normalize, NormalizedLabels, NotNormalized, Point, Vendor,
};
use serde_json::Value;

/// Tag names read as a shape's class, in order.
pub const LABEL_TAGS: [&str; 5] = ["class", "label", "category", "object_class", "object"];

/// Sama's [`Normalize`] implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct SamaAnnotations;

impl Normalize for SamaAnnotations {
    fn vendor(&self) -> Vendor {
        Vendor::Sama
    }

    fn normalize(&self, delivery: &Delivery) -> NormalizedLabels {
        let mut out = normalize_answers(&delivery.answers.to_value());
        out.image = delivery
            .raw
            .parse::<TaskData>()
            .map(|t| image_info_of_data(&t.data))
            .unwrap_or_default();
        out
    }

    /// Every string `enum` value under the schema's shape tags (`tags` properties), in order:
    /// Sama's output schema is where a project lists its classes.
    fn label_schema(&self, document: &Value) -> LabelSchema {
        let mut schema = LabelSchema::new();
        collect_tag_enums(document, 0, &mut schema);
        schema
    }
}

/// `state`: 0 outside shape tags, 1 inside `tags`, 2 inside a class tag (whose enum is read).
fn collect_tag_enums(v: &Value, state: u8, schema: &mut LabelSchema) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "enum" && state == 2 {
                    for s in child
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        schema.id_or_insert(s);
                    }
                    continue;
                }
                let next = if k == "tags" {
                    1
                } else if state >= 1 && LABEL_TAGS.contains(&k.as_str()) {
                    2
                } else {
                    state
                };
                collect_tag_enums(child, next, schema);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| collect_tag_enums(i, state, schema)),
        _ => {}
    }
}

/// The neutral annotations of Sama `answers` (without the image, which comes from the task).
pub fn normalize_answers(answers: &Value) -> NormalizedLabels {
    let mut out = NormalizedLabels::default();
    match answers {
        Value::Null => {}
        Value::Object(map) => {
            for (name, value) in map {
                output(name, value, &json_pointer("", name), &mut out);
            }
        }
        other => out.skip(NotNormalized::malformed(
            "",
            None,
            format!(
                "Sama answers must be an object keyed by output name, found {}",
                json_kind(other)
            ),
        )),
    }
    out
}

fn output(name: &str, value: &Value, path: &str, out: &mut NormalizedLabels) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push(
            Annotation::new(
                AnnotationKind::Classification {
                    question: Some(name.to_owned()),
                    values: vec![s.clone()],
                    multiple: false,
                },
                path,
            )
            .with_label(s.clone()),
        ),
        Value::Object(map) if map.contains_key("layers") => workspace(name, map, path, out),
        Value::Object(map) if !map.is_empty() && map.values().all(is_flag) => {
            let values = map
                .iter()
                .filter(|(_, v)| flag_set(v))
                .map(|(k, _)| k.clone())
                .collect();
            out.push(Annotation::new(
                AnnotationKind::Classification {
                    question: Some(name.to_owned()),
                    values,
                    multiple: true,
                },
                path,
            ));
        }
        other => out.skip(NotNormalized::unsupported(
            path,
            None,
            format!(
                "output `{name}` is {}, which has no neutral form",
                json_kind(other)
            ),
        )),
    }
}

fn is_flag(v: &Value) -> bool {
    matches!(v.as_str(), Some("0" | "1")) || matches!(v.as_u64(), Some(0 | 1)) || v.is_boolean()
}

fn flag_set(v: &Value) -> bool {
    v.as_str() == Some("1") || v.as_u64() == Some(1) || v.as_bool() == Some(true)
}

fn workspace(name: &str, map: &JsonMap, path: &str, out: &mut NormalizedLabels) {
    let layers_path = json_pointer(path, "layers");
    let Some(layers) = map.get("layers").and_then(Value::as_object) else {
        out.skip(NotNormalized::malformed(
            layers_path,
            None,
            format!("output `{name}`: `layers` is not an object"),
        ));
        return;
    };
    for (layer, value) in layers {
        let lp = json_pointer(&layers_path, layer);
        match layer.as_str() {
            "vector_tagging" => vector_tagging(name, value, &lp, out),
            "raster_coding" => raster_coding(name, value, &lp, out),
            other => out.skip(NotNormalized::unsupported(
                lp,
                Some(other),
                format!("output `{name}`: layer `{other}` has no neutral form"),
            )),
        }
    }
}

fn raster_coding(name: &str, value: &Value, path: &str, out: &mut NormalizedLabels) {
    match value.get("mask_url").and_then(Value::as_str) {
        Some(url) => out.push(
            Annotation::new(
                AnnotationKind::Mask {
                    mask: Mask::Url {
                        url: url.to_owned(),
                        value: None,
                    },
                },
                json_pointer(path, "mask_url"),
            )
            .with_label(name),
        ),
        None if value.is_null() => {}
        None => out.skip(NotNormalized::malformed(
            path,
            Some("raster_coding"),
            format!("output `{name}`: raster_coding without a `mask_url` string"),
        )),
    }
}

fn vector_tagging(name: &str, value: &Value, path: &str, out: &mut NormalizedLabels) {
    let Some(groups) = value.as_array() else {
        out.skip(NotNormalized::malformed(
            path,
            Some("vector_tagging"),
            format!("output `{name}`: vector_tagging is not an array of groups"),
        ));
        return;
    };
    for (g, group) in groups.iter().enumerate() {
        let gp = json_pointer(path, &g.to_string());
        let group_type = group.get("group_type").and_then(Value::as_str);
        let Some(shapes) = group.get("shapes").and_then(Value::as_array) else {
            out.skip(NotNormalized::malformed(
                gp,
                None,
                format!("output `{name}`: group {g} has no `shapes` array"),
            ));
            continue;
        };
        for (s, shape_value) in shapes.iter().enumerate() {
            let sp = json_pointer(&json_pointer(&gp, "shapes"), &s.to_string());
            match shape(shape_value, &sp) {
                Ok(Some(mut a)) => {
                    if a.label.is_none() {
                        a.label = Some(group_type.unwrap_or(name).to_owned());
                    }
                    out.push(a);
                }
                Ok(None) => out.skip(NotNormalized::unsupported(
                    sp,
                    shape_value.get("type").and_then(Value::as_str),
                    format!(
                        "output `{name}`: shape type {} has no neutral form",
                        shape_value.get("type").unwrap_or(&Value::Null)
                    ),
                )),
                Err(detail) => out.skip(NotNormalized::malformed(
                    sp,
                    shape_value.get("type").and_then(Value::as_str),
                    format!("output `{name}`: {detail}"),
                )),
            }
        }
    }
}

/// One shape; `Ok(None)` for a well-formed shape with no neutral form.
fn shape(v: &Value, path: &str) -> Result<Option<Annotation>, String> {
    let obj = v.as_object().ok_or("a shape is not an object")?;
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a shape has no `type` string")?;
    let points = || points_of(obj.get("points"), ty);
    let kind = match ty {
        "rectangle" => {
            let pts = points()?;
            if pts.len() != 4 {
                return Err(format!("a rectangle needs 4 points, found {}", pts.len()));
            }
            let bbox = BoundingBox::enclosing(&pts).ok_or("a rectangle without points")?;
            AnnotationKind::BoundingBox { bbox }
        }
        "polygon" => {
            let pts = points()?;
            if pts.len() < 3 {
                return Err(format!("a polygon needs 3 points, found {}", pts.len()));
            }
            AnnotationKind::Polygon { points: pts }
        }
        "line" => {
            let pts = points()?;
            if pts.len() < 2 {
                return Err(format!("a line needs 2 points, found {}", pts.len()));
            }
            AnnotationKind::Polyline { points: pts }
        }
        "point" => match points()?.as_slice() {
            [p] => AnnotationKind::Point { point: *p },
            other => return Err(format!("a point needs 1 point, found {}", other.len())),
        },
        "cuboid" => {
            let pts = points()?;
            if pts.len() != 8 {
                return Err(format!("a cuboid needs 8 points, found {}", pts.len()));
            }
            AnnotationKind::Cuboid {
                points: pts,
                names: Vec::new(),
            }
        }
        "keypoint_shape" => AnnotationKind::Keypoints {
            points: points()?
                .into_iter()
                .map(|point| Keypoint {
                    point,
                    name: None,
                    visible: None,
                })
                .collect(),
        },
        _ => return Ok(None),
    };
    let tags = obj
        .get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut a = Annotation::new(kind, path).with_attributes(tags);
    a.label = LABEL_TAGS
        .iter()
        .find_map(|k| a.attributes.get(*k).and_then(Value::as_str))
        .map(str::to_owned);
    if let Some(index) = obj.get("index").filter(|i| !i.is_null()) {
        a.vendor_id = Some(match index {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    Ok(Some(a))
}

fn points_of(v: Option<&Value>, ty: &str) -> Result<Vec<Point>, String> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| format!("a {ty} has no `points` array"))?;
    arr.iter()
        .enumerate()
        .map(|(i, p)| point(p).ok_or_else(|| format!("point {i} of a {ty} is not [x, y]: {p}")))
        .collect()
}

/// `[x, y]` or `{"x": .., "y": ..}`, numbers or numeric strings.
fn point(v: &Value) -> Option<Point> {
    match v {
        Value::Array(xy) if xy.len() >= 2 => {
            Some(Point::new(finite_number(&xy[0])?, finite_number(&xy[1])?))
        }
        Value::Object(o) => Some(Point::new(
            finite_number(o.get("x")?)?,
            finite_number(o.get("y")?)?,
        )),
        _ => None,
    }
}

/// The image of a Sama task (its `data` inputs).
pub fn image_info(task: &Value) -> ImageInfo {
    task.get("data").map(image_info_of_data).unwrap_or_default()
}

/// Only the `data` of a task (the rest of its JSON is skipped, not built).
#[derive(serde::Deserialize)]
struct TaskData {
    #[serde(default)]
    data: Value,
}

/// [`image_info`] from the task's `data`.
fn image_info_of_data(data: &Value) -> ImageInfo {
    let mut info = ImageInfo::default();
    let Some(data) = data.as_object() else {
        return info;
    };
    let text = |v: &Value| v.as_str().map(str::to_owned);
    info.url = data.get("url").and_then(text).or_else(|| {
        data.iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                k.ends_with("url") && !k.starts_with("output_")
            })
            .find_map(|(_, v)| text(v))
    });
    let size = |suffix: &str| -> Option<u32> {
        data.iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                k == suffix || k.ends_with(&format!(" {suffix}"))
            })
            .find_map(|(_, v)| finite_number(v))
            .filter(|n| *n >= 1.0 && *n <= u32::MAX as f64)
            .map(|n| n.round() as u32)
    };
    info.width = size("width");
    info.height = size("height");
    info.file_name = data
        .iter()
        .find(|(k, _)| k.to_ascii_lowercase().ends_with("original file name"))
        .and_then(|(_, v)| text(v));
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::NotNormalizedReason;
    use serde_json::json;

    fn one(answers: Value) -> NormalizedLabels {
        normalize_answers(&answers)
    }

    fn kinds(n: &NormalizedLabels) -> Vec<&'static str> {
        n.annotations.iter().map(|a| a.kind.name()).collect()
    }

    fn ws(shapes: Value) -> Value {
        json!({"objects": {"layers": {"vector_tagging": [{"shapes": shapes, "group_type": null}]}}})
    }

    /// (answers, expected kinds, expected labels, not-normalised reasons)
    type Case = (
        Value,
        Vec<&'static str>,
        Vec<Option<&'static str>>,
        Vec<NotNormalizedReason>,
    );

    #[test]
    fn mapping_table() {
        // (answers, expected kinds, expected labels, not-normalised reasons)
        let cases: Vec<Case> = vec![
            (
                json!({"quality": "clear"}),
                vec!["classification"],
                vec![Some("clear")],
                vec![],
            ),
            (
                json!({"light": {"dark": "0", "bright": "1"}}),
                vec!["classification"],
                vec![None],
                vec![],
            ),
            (
                ws(
                    json!([{"type": "rectangle", "index": 0, "points": [[1,2],[11,2],[1,22],[11,22]], "tags": {"class": "car"}}]),
                ),
                vec!["bbox"],
                vec![Some("car")],
                vec![],
            ),
            (
                ws(json!([{"type": "polygon", "points": [[0,0],[4,0],[4,3]], "tags": {}}])),
                vec!["polygon"],
                vec![Some("objects")],
                vec![],
            ),
            (
                ws(
                    json!([{"type": "line", "points": [[0,0],[4.5,0]]}, {"type": "point", "points": [["3","4"]], "tags": {"label": "eye"}}]),
                ),
                vec!["polyline", "point"],
                vec![Some("objects"), Some("eye")],
                vec![],
            ),
            (
                ws(
                    json!([{"type": "cuboid", "points": [[0,0],[1,0],[1,1],[0,1],[2,2],[3,2],[3,3],[2,3]]}, {"type": "keypoint_shape", "points": [[1,1],[2,2]]}]),
                ),
                vec!["cuboid", "keypoints"],
                vec![Some("objects"), Some("objects")],
                vec![],
            ),
            (
                json!({"image": {"layers": {"raster_coding": {"mask_url": "https://m/1.png"}}}}),
                vec!["mask"],
                vec![Some("image")],
                vec![],
            ),
            (
                ws(json!([{"type": "arrow", "points": [[0,0],[1,1]]}])),
                vec![],
                vec![],
                vec![NotNormalizedReason::Unsupported],
            ),
            (
                json!({"count": 3}),
                vec![],
                vec![],
                vec![NotNormalizedReason::Unsupported],
            ),
            // Malformed: missing points, wrong types, wrong point counts; never a panic.
            (
                ws(
                    json!([{"type": "rectangle"}, {"type": "polygon", "points": "x"}, {"type": "point", "points": [[1, "a"]]}, {"type": "rectangle", "points": [[1,1]]}, 7, {"points": []}]),
                ),
                vec![],
                vec![],
                vec![NotNormalizedReason::Malformed; 6],
            ),
            (
                json!({"objects": {"layers": {"vector_tagging": {"shapes": []}}}}),
                vec![],
                vec![],
                vec![NotNormalizedReason::Malformed],
            ),
            (
                json!(["not", "an", "object"]),
                vec![],
                vec![],
                vec![NotNormalizedReason::Malformed],
            ),
            (Value::Null, vec![], vec![], vec![]),
        ];
        for (answers, want_kinds, want_labels, want_skips) in cases {
            let n = one(answers.clone());
            assert_eq!(kinds(&n), want_kinds, "{answers}");
            let labels: Vec<Option<&str>> =
                n.annotations.iter().map(|a| a.label.as_deref()).collect();
            assert_eq!(labels, want_labels, "{answers}");
            let skips: Vec<NotNormalizedReason> =
                n.not_normalized.iter().map(|s| s.reason).collect();
            assert_eq!(skips, want_skips, "{answers}: {:?}", n.not_normalized);
        }
    }

    #[test]
    fn rectangle_becomes_its_enclosing_box_with_tags_and_source() {
        let n = one(ws(json!([{"type": "rectangle", "index": 3,
            "points": [[10,20],[40,20],[10,60],[40,60]], "tags": {"class": "car", "occluded": "no"}}])));
        let a = &n.annotations[0];
        assert_eq!(
            a.kind,
            AnnotationKind::BoundingBox {
                bbox: BoundingBox::new(10.0, 20.0, 30.0, 40.0)
            }
        );
        assert_eq!(a.attributes["occluded"], "no");
        assert_eq!(a.vendor_id.as_deref(), Some("3"));
        assert_eq!(a.source, "/objects/layers/vector_tagging/0/shapes/0");
    }

    #[test]
    fn checkbox_keeps_the_chosen_keys() {
        let n = one(json!({"light": {"dark": "0", "bright": "1", "dim": 1}}));
        match &n.annotations[0].kind {
            AnnotationKind::Classification {
                values,
                multiple,
                question,
            } => {
                assert_eq!(values, &vec!["bright".to_owned(), "dim".to_owned()]);
                assert!(*multiple);
                assert_eq!(question.as_deref(), Some("light"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_from_inputs_and_metadata() {
        let task = json!({"data": {"url": "https://a/b.jpg", "image Width": "6000",
            "image Height": "4000", "image Original file name": "b.jpg"}});
        let i = image_info(&task);
        assert_eq!(i.url.as_deref(), Some("https://a/b.jpg"));
        assert_eq!(i.size(), Some((6000, 4000)));
        assert_eq!(i.file_name.as_deref(), Some("b.jpg"));
        let i = image_info(&json!({"data": {"img url": "u", "width": 5, "height": "x"}}));
        assert_eq!(
            (i.url.as_deref(), i.width, i.height),
            (Some("u"), Some(5), None)
        );
        assert_eq!(image_info(&json!(null)), ImageInfo::default());
    }

    #[test]
    fn label_schema_from_tag_enums() {
        let schema = json!({"properties": {"boxes": {"properties": {"tags": {"properties": {
            "class": {"enum": ["car", "person"]}, "occluded": {"type": "string"}}}}}}});
        let s = SamaAnnotations.label_schema(&schema);
        let names: Vec<&str> = s.categories().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["car", "person"]);
    }
}
