//! The default project fixture (inputs, outputs), record validation against it, generated
//! answers and the JSON Schemas derived from it.

use super::errors::ErrorItem;
use crate::framework::drawing::{Drawing, BOX_CLASS, POINT_CLASS, POLYGON_CLASS};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Type of a project input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum InputKind {
    String,
    Integer,
    #[allow(dead_code)] // part of Sama's input types; the default fixture has no date input
    Date,
}

pub(crate) struct InputSpec {
    pub name: &'static str,
    pub kind: InputKind,
    pub required: bool,
}

/// Type of a project output (what an `output_` pre-annotation must look like).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum OutputKind {
    String,
    Workspace,
}

pub(crate) struct OutputSpec {
    pub name: &'static str,
    pub kind: OutputKind,
}

/// Inputs of the default fixture (EMULATOR_API.md).
pub(crate) const INPUTS: &[InputSpec] = &[
    InputSpec {
        name: "url",
        kind: InputKind::String,
        required: true,
    },
    InputSpec {
        name: "name",
        kind: InputKind::String,
        required: false,
    },
    InputSpec {
        name: "external_id",
        kind: InputKind::String,
        required: false,
    },
    InputSpec {
        name: "client_batch_id",
        kind: InputKind::String,
        required: false,
    },
    InputSpec {
        name: "priority_hint",
        kind: InputKind::Integer,
        required: false,
    },
];

/// Outputs of the default fixture.
pub(crate) const OUTPUTS: &[OutputSpec] = &[
    OutputSpec {
        name: "label",
        kind: OutputKind::String,
    },
    OutputSpec {
        name: "boxes",
        kind: OutputKind::Workspace,
    },
];

/// The input configured as the client-defined batch id.
pub(crate) const CLIENT_BATCH_INPUT: &str = "client_batch_id";

/// String inputs may be up to 16 MB (§6.3).
const MAX_STRING_INPUT: usize = 16 * 1024 * 1024;

/// A validated creation record, ready to become a task.
pub(crate) struct NewTask {
    pub data: Box<RawValue>,
    pub priority: i32,
    pub submit: bool,
    pub client_batch_id: Option<String>,
    pub has_output: bool,
}

/// A record that failed validation: what is echoed in the batch status.
pub(crate) struct Failure {
    pub data: Box<RawValue>,
    pub errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct RecordIn<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    priority: Option<&'a RawValue>,
    #[serde(borrow, default)]
    submit: Option<&'a RawValue>,
}

/// First significant byte of a raw JSON value: enough to know its type.
fn lead(v: &RawValue) -> u8 {
    v.get()
        .bytes()
        .find(|b| !b.is_ascii_whitespace())
        .unwrap_or(b'n')
}

fn is_null(v: &RawValue) -> bool {
    v.get().trim() == "null"
}

fn parse_i32(v: &RawValue) -> Option<i32> {
    serde_json::from_str::<i64>(v.get())
        .ok()
        .and_then(|n| i32::try_from(n).ok())
}

/// Validate one element of an uploaded (or inline) task array. `defaults` are the batch-level
/// `priority`/`submit` used when the record has none.
pub(crate) fn validate(record: &RawValue, defaults: (i32, bool)) -> Result<NewTask, Failure> {
    let fail_record = |msg: String| Failure {
        data: record.to_owned(),
        errors: vec![ErrorItem::invalid_input(msg)],
    };
    let rec: RecordIn<'_> = match serde_json::from_str(record.get()) {
        Ok(r) => r,
        Err(_) => {
            return Err(fail_record(
                "Task record must be an object with a `data` object".to_owned(),
            ))
        }
    };
    let data = match rec.data {
        Some(d) if !is_null(d) => d,
        _ => return Err(fail_record("Task record has no `data` object".to_owned())),
    };
    let mut errors = Vec::new();
    let priority = match rec.priority {
        None => defaults.0,
        Some(p) if is_null(p) => defaults.0,
        Some(p) => match parse_i32(p) {
            Some(n) => n,
            None => {
                errors.push(ErrorItem::invalid_input(
                    "`priority` must be an integer in the signed 32-bit range",
                ));
                0
            }
        },
    };
    let submit = match rec.submit {
        None => defaults.1,
        Some(s) if is_null(s) => defaults.1,
        Some(s) => match s.get().trim() {
            "true" => true,
            "false" => false,
            _ => {
                errors.push(ErrorItem::invalid_input("`submit` must be a boolean"));
                false
            }
        },
    };
    let fields: BTreeMap<String, &RawValue> = match serde_json::from_str(data.get()) {
        Ok(m) => m,
        Err(_) => {
            return Err(Failure {
                data: data.to_owned(),
                errors: vec![ErrorItem::invalid_input(
                    "The task input does not match the project schema: `data` must be an object",
                )],
            })
        }
    };
    let mut unknown_inputs = Vec::new();
    let mut unknown_outputs = Vec::new();
    let mut has_output = false;
    let mut client_batch_id = None;
    for (key, value) in &fields {
        if is_null(value) {
            continue; // null is the same as absent
        }
        if let Some(out) = key.strip_prefix("output_") {
            match OUTPUTS.iter().find(|o| o.name == out) {
                None => unknown_outputs.push(out.to_owned()),
                Some(spec) => {
                    has_output = true;
                    let ok = match spec.kind {
                        OutputKind::String => lead(value) == b'"',
                        OutputKind::Workspace => lead(value) == b'{',
                    };
                    if !ok {
                        let want = match spec.kind {
                            OutputKind::String => "a string",
                            OutputKind::Workspace => "an object with `layers`",
                        };
                        errors.push(ErrorItem::invalid_input(format!(
                            "Pre-annotation `{key}` must be {want}"
                        )));
                    }
                }
            }
            continue;
        }
        let Some(spec) = INPUTS.iter().find(|i| i.name == key) else {
            unknown_inputs.push(key.clone());
            continue;
        };
        match spec.kind {
            InputKind::String | InputKind::Date => {
                if lead(value) != b'"' {
                    errors.push(ErrorItem::invalid_input(format!(
                        "Input `{key}` must be a string"
                    )));
                    continue;
                }
                let Ok(s) = serde_json::from_str::<String>(value.get()) else {
                    errors.push(ErrorItem::invalid_input(format!(
                        "Input `{key}` is not a valid string"
                    )));
                    continue;
                };
                if s.len() > MAX_STRING_INPUT {
                    errors.push(ErrorItem::invalid_input(format!(
                        "Input `{key}` is longer than 16 MB"
                    )));
                } else if spec.kind == InputKind::Date
                    && chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_err()
                {
                    errors.push(ErrorItem::invalid_input(format!(
                        "Input `{key}` must be a date YYYY-mm-dd"
                    )));
                } else if key == CLIENT_BATCH_INPUT {
                    client_batch_id = Some(s);
                }
            }
            InputKind::Integer => {
                if parse_i32(value).is_none() {
                    errors.push(ErrorItem::invalid_input(format!(
                        "Input `{key}` must be a 32-bit integer"
                    )));
                }
            }
        }
    }
    for spec in INPUTS.iter().filter(|i| i.required) {
        if fields.get(spec.name).is_none_or(|v| is_null(v)) {
            errors.push(ErrorItem::invalid_input(format!(
                "Missing required input(s): {}",
                spec.name
            )));
        }
    }
    if !unknown_inputs.is_empty() {
        errors.push(ErrorItem::invalid_input(format!(
            "Unknown input name(s): {}",
            unknown_inputs.join(", ")
        )));
    }
    if !unknown_outputs.is_empty() {
        errors.push(ErrorItem::invalid_input(format!(
            "Invalid seeded output name(s): {}",
            unknown_outputs.join(", ")
        )));
    }
    if !errors.is_empty() {
        return Err(Failure {
            data: data.to_owned(),
            errors,
        });
    }
    Ok(NewTask {
        data: data.to_owned(),
        priority,
        submit,
        client_batch_id,
        has_output,
    })
}

/// Pre-annotations of a task: `output_<name>` members of its data, keyed by output name.
fn pre_annotations(data: &RawValue) -> BTreeMap<String, &RawValue> {
    let fields: BTreeMap<String, &RawValue> = serde_json::from_str(data.get()).unwrap_or_default();
    fields
        .into_iter()
        .filter(|(_, v)| !is_null(v))
        .filter_map(|(k, v)| k.strip_prefix("output_").map(|n| (n.to_owned(), v)))
        .collect()
}

fn raw(s: String) -> Box<RawValue> {
    RawValue::from_string(s).unwrap_or_else(|_| empty_object())
}

/// `{}` as a raw value.
pub(crate) fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("literal JSON")
}

/// Default answers: the pre-annotations (what rejected / unworked tasks show).
pub(crate) fn default_answers(data: &RawValue, has_output: bool) -> Box<RawValue> {
    if !has_output {
        return empty_object();
    }
    raw(serde_json::to_string(&pre_annotations(data)).unwrap_or_else(|_| "{}".to_owned()))
}

/// Answers of a task completed by the emulated workforce: each output's pre-annotation if
/// present, else a deterministic value (`label` = "cat", `boxes` = the shared drawing of the
/// task's `url`: a rectangle classed by `label`, a polygon "road" and a point "eye").
pub(crate) fn generated_answers(data: &RawValue, has_output: bool, seq: u64) -> Box<RawValue> {
    let pre = if has_output {
        pre_annotations(data)
    } else {
        BTreeMap::new()
    };
    let label = pre
        .get("label")
        .map(|v| v.get().to_owned())
        .unwrap_or_else(|| format!("\"{BOX_CLASS}\""));
    let boxes = pre.get("boxes").map(|v| v.get().to_owned()).unwrap_or_else(|| {
        // The shared drawing of the image (the same on every vendor's emulator), in Sama's own
        // shape format (sama.md §4.1.1), each shape tagged with its class.
        let reference = image_reference(data).unwrap_or_else(|| seq.to_string());
        let d = Drawing::of(&reference);
        let (x1, y1, x2, y2) = (d.left, d.top, d.right(), d.bottom());
        let [(ax, ay), (bx, by), (cx, cy)] = d.polygon();
        let (px, py) = d.point();
        format!(
            r#"{{"layers":{{"vector_tagging":[{{"shapes":[{{"type":"rectangle","index":0,"points":[[{x1},{y1}],[{x2},{y1}],[{x1},{y2}],[{x2},{y2}]],"tags":{{"class":{label}}}}},{{"type":"polygon","index":1,"points":[[{ax},{ay}],[{bx},{by}],[{cx},{cy}]],"tags":{{"class":"{POLYGON_CLASS}"}}}},{{"type":"point","index":2,"points":[[{px},{py}]],"tags":{{"class":"{POINT_CLASS}"}}}}],"group_type":null}}]}}}}"#
        )
    });
    raw(format!(r#"{{"label":{label},"boxes":{boxes}}}"#))
}

fn workspace_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "layers": {
                "type": "object",
                "properties": {
                    "vector_tagging": {"type": "array", "items": {"type": "object"}},
                    "raster_coding": {"type": "object"}
                }
            }
        },
        "required": ["layers"]
    })
}

fn output_schema(kind: OutputKind) -> Value {
    match kind {
        OutputKind::String => json!({"type": "string"}),
        OutputKind::Workspace => workspace_schema(),
    }
}

/// JSON Schema (draft-07) of task creation `data`, including `output_` pre-annotations.
pub(crate) fn creation_schema(project: &str) -> Value {
    let mut props = serde_json::Map::new();
    for i in INPUTS {
        let s = match i.kind {
            InputKind::String => json!({"type": "string", "maxLength": MAX_STRING_INPUT}),
            InputKind::Integer => {
                json!({"type": "integer", "minimum": i32::MIN, "maximum": i32::MAX})
            }
            InputKind::Date => json!({"type": "string", "format": "date"}),
        };
        props.insert(i.name.to_owned(), s);
    }
    for o in OUTPUTS {
        props.insert(format!("output_{}", o.name), output_schema(o.kind));
    }
    let required: Vec<&str> = INPUTS
        .iter()
        .filter(|i| i.required)
        .map(|i| i.name)
        .collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": format!("urn:labelmux-emulator:sama:project:{project}:create_task"),
        "title": format!("Task creation data of project {project}"),
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false
    })
}

/// JSON Schema (draft-07) of delivered `answers`.
pub(crate) fn delivery_schema(project: &str) -> Value {
    let props: serde_json::Map<String, Value> = OUTPUTS
        .iter()
        .map(|o| (o.name.to_owned(), output_schema(o.kind)))
        .collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": format!("urn:labelmux-emulator:sama:project:{project}:deliver_task"),
        "title": format!("Delivered answers of project {project}"),
        "type": "object",
        "properties": props,
        "additionalProperties": false
    })
}

/// The task's image URL (input `url`), which the shared drawing is keyed by.
fn image_reference(data: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Url {
        url: Option<String>,
    }
    serde_json::from_str::<Url>(data.get()).ok()?.url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(record: &str) -> Result<NewTask, Vec<String>> {
        let raw = RawValue::from_string(record.to_owned()).unwrap();
        validate(&raw, (0, false)).map_err(|f| f.errors.into_iter().map(|e| e.message).collect())
    }

    #[test]
    fn validation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"data":{"url":"u"}}"#, None),
            (
                r#"{"data":{"url":"u","name":null,"priority_hint":5}}"#,
                None,
            ),
            (
                r#"{"data":{"url":"u","output_label":"dog"},"priority":-3,"submit":true}"#,
                None,
            ),
            (
                r#"{"data":{"name":"x"}}"#,
                Some("Missing required input(s): url"),
            ),
            (
                r#"{"data":{"url":"u","colour":"red"}}"#,
                Some("Unknown input name(s): colour"),
            ),
            (
                r#"{"data":{"url":"u","output_mask":{}}}"#,
                Some("Invalid seeded output name(s): mask"),
            ),
            (
                r#"{"data":{"url":5}}"#,
                Some("Input `url` must be a string"),
            ),
            (
                r#"{"data":{"url":"u","priority_hint":"high"}}"#,
                Some("Input `priority_hint` must be a 32-bit integer"),
            ),
            (
                r#"{"data":{"url":"u","priority_hint":4294967296}}"#,
                Some("Input `priority_hint` must be a 32-bit integer"),
            ),
            (
                r#"{"data":{"url":"u","output_boxes":"x"}}"#,
                Some("Pre-annotation `output_boxes` must be an object with `layers`"),
            ),
            (
                r#"{"data":{"url":"u"},"priority":"x"}"#,
                Some("`priority` must be an integer in the signed 32-bit range"),
            ),
            (r#"{"data":[1]}"#, Some("`data` must be an object")),
            (r#"{"nodata":1}"#, Some("Task record has no `data` object")),
            (r#""just a string""#, Some("Task record must be an object")),
        ];
        for (rec, want) in cases {
            match (check(rec), want) {
                (Ok(_), None) => {}
                (Err(msgs), Some(w)) => assert!(
                    msgs.iter().any(|m| m.contains(w)),
                    "{rec}: {msgs:?} lacks {w}"
                ),
                (Ok(_), Some(w)) => panic!("{rec} accepted, expected {w}"),
                (Err(m), None) => panic!("{rec} rejected: {m:?}"),
            }
        }
        let ok = check(r#"{"data":{"url":"u","client_batch_id":"cb","output_label":"dog"},"priority":-3,"submit":true}"#)
            .ok()
            .unwrap();
        assert_eq!(ok.priority, -3);
        assert!(ok.submit && ok.has_output);
        assert_eq!(ok.client_batch_id.as_deref(), Some("cb"));
    }

    #[test]
    fn answers_prefer_pre_annotations() {
        let data = RawValue::from_string(r#"{"url":"u","output_label":"dog"}"#.into()).unwrap();
        let gen: Value = serde_json::from_str(generated_answers(&data, true, 3).get()).unwrap();
        assert_eq!(gen["label"], "dog");
        let shapes = &gen["boxes"]["layers"]["vector_tagging"][0]["shapes"];
        assert_eq!(shapes[0]["tags"]["class"], "dog");
        assert_eq!(shapes[1]["type"], "polygon");
        // The shared drawing of the task's url, whatever its position.
        let d = Drawing::of("u");
        let (px, py) = d.point();
        assert_eq!(shapes[2]["points"], json!([[px, py]]));
        assert_eq!(shapes[2]["tags"]["class"], POINT_CLASS);
        assert_eq!(shapes[0]["points"][0], json!([d.left, d.top]));
        let other = generated_answers(&data, true, 4);
        assert_eq!(other.get(), generated_answers(&data, true, 3).get());
        let def: Value = serde_json::from_str(default_answers(&data, true).get()).unwrap();
        assert_eq!(def, json!({"label": "dog"}));
        let plain = RawValue::from_string(r#"{"url":"u"}"#.into()).unwrap();
        let gen: Value = serde_json::from_str(generated_answers(&plain, false, 0).get()).unwrap();
        assert_eq!(gen["label"], "cat");
        assert_eq!(default_answers(&plain, false).get(), "{}");
    }
}
