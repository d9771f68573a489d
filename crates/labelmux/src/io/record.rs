//! Task files and records, shared by the CLI, the examples and pipelines: the row conventions
//! of the Sama Databricks connector, which labelmux uses for every vendor.

use labelmux_core::{JsonMap, TaskSpec};
use serde_json::Value;

/// The prefix that marks a pre-annotation column (the Sama Databricks connector's convention,
/// used by every task file whatever the vendor).
pub const PRE_ANNOTATION_PREFIX: &str = "output_";

/// Build a spec from one flat record (a JSONL object or CSV row) using the Sama Databricks
/// connector's conventions: `output_<name>` columns are pre-annotations for target `<name>` (a
/// JSON string is parsed, and must parse), `external_id` is the external key, `priority` the
/// priority; every other column is an input.
pub fn spec_from_record(record: JsonMap) -> Result<TaskSpec, String> {
    let mut spec = TaskSpec::default();
    for (key, value) in record {
        if let Some(output) = key.strip_prefix(PRE_ANNOTATION_PREFIX) {
            let value = match value {
                Value::String(text) => serde_json::from_str(&text).map_err(|e| {
                    format!("column `{key}`: pre-annotation is not valid JSON: {e}")
                })?,
                other => other,
            };
            spec = spec.with_pre_annotation(output, value);
        } else if key == "external_id" {
            spec.external_key = match value {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                other => {
                    return Err(format!(
                        "column `external_id`: expected a string, found {other}"
                    ))
                }
            };
        } else if key == "priority" {
            spec.priority = match &value {
                Value::Null => None,
                Value::String(s) if s.trim().is_empty() => None,
                Value::Number(n) => Some(
                    n.as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(|| format!("column `priority`: {n} is not a 32-bit integer"))?,
                ),
                Value::String(s) => Some(
                    s.trim()
                        .parse::<i32>()
                        .map_err(|_| format!("column `priority`: {s:?} is not a 32-bit integer"))?,
                ),
                other => {
                    return Err(format!(
                        "column `priority`: expected an integer, found {other}"
                    ))
                }
            };
        } else {
            spec.inputs.insert(key, value);
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> JsonMap {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn record_columns_split_into_inputs_pre_annotations_key_and_priority() {
        let spec = spec_from_record(rec(json!({
            "url": "https://x/1.jpg",
            "output_weather": "{\"rain\":\"0\"}",
            "output_raw": {"a": 1},
            "external_id": "img-1",
            "priority": "-5"
        })))
        .unwrap();
        assert_eq!(spec.inputs.get("url"), Some(&json!("https://x/1.jpg")));
        assert_eq!(spec.inputs.len(), 1);
        let pre = spec.pre_annotations_by_target();
        assert_eq!(pre["weather"], json!({"rain": "0"}));
        assert_eq!(pre["raw"], json!({"a": 1}));
        assert_eq!(spec.external_key.as_deref(), Some("img-1"));
        assert_eq!(spec.priority, Some(-5));
    }

    #[test]
    fn bad_record_columns_are_reported_by_name() {
        let err = spec_from_record(rec(json!({"output_x": "{not json"}))).unwrap_err();
        assert!(err.contains("output_x"), "{err}");
        let err = spec_from_record(rec(json!({"priority": "high"}))).unwrap_err();
        assert!(err.contains("priority"), "{err}");
        assert!(spec_from_record(rec(json!({"priority": 3_000_000_000_i64}))).is_err());
    }
}
