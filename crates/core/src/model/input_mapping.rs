//! [`InputMapping`]: per-vendor renames and defaults of task inputs.

use super::{JsonMap, TaskSpec};
use serde::{Deserialize, Serialize};
#[cfg(test)]
use serde_json::Value;

/// Renames and defaults applied to every task's inputs before it goes to a vendor, so one task
/// file with neutral column names feeds every vendor (e.g. Sama's `url` input is Scale's
/// `attachment`). Configured per vendor; see `docs/configuration.md`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputMapping {
    /// Input name in the task file → input name the vendor expects. A dotted target nests
    /// (`url = "image.url"` gives `{"image": {"url": …}}`, Segments' image attributes).
    pub rename: std::collections::BTreeMap<String, String>,
    /// Inputs added to every task that lacks them (after renaming).
    pub defaults: JsonMap,
}

impl InputMapping {
    /// Whether applying this mapping changes nothing.
    pub fn is_empty(&self) -> bool {
        self.rename.is_empty() && self.defaults.is_empty()
    }

    /// Apply the renames, then the defaults, to one task. A rename whose target already exists
    /// is an error rather than a silent overwrite.
    pub fn apply(&self, mut task: TaskSpec) -> Result<TaskSpec, String> {
        for (from, to) in &self.rename {
            if let Some(value) = task.inputs.remove(from) {
                let clash = || {
                    format!("input `{from}` is renamed to `{to}`, but the task already has `{to}`")
                };
                let mut path = to.split('.').peekable();
                let mut node = &mut task.inputs;
                while let Some(part) = path.next() {
                    if path.peek().is_none() {
                        if node.contains_key(part) {
                            return Err(clash());
                        }
                        node.insert(part.to_owned(), value);
                        break;
                    }
                    let child = node
                        .entry(part.to_owned())
                        .or_insert_with(|| serde_json::Value::Object(JsonMap::new()));
                    node = match child {
                        serde_json::Value::Object(m) => m,
                        _ => return Err(clash()),
                    };
                }
            }
        }
        for (name, value) in &self.defaults {
            task.inputs
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        Ok(task)
    }
}

#[cfg(test)]
mod input_mapping_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renames_then_fills_defaults_without_overwriting() {
        let mapping = InputMapping {
            rename: [("url".to_owned(), "attachment".to_owned())].into(),
            defaults: json!({"attachment_type": "image", "instruction": "Box every cat"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let spec = TaskSpec::from_json(json!({"url": "u", "instruction": "mine"})).unwrap();
        let out = mapping.apply(spec).unwrap();
        assert_eq!(
            Value::Object(out.inputs),
            json!({"attachment": "u", "attachment_type": "image", "instruction": "mine"})
        );
        let clash = TaskSpec::from_json(json!({"url": "u", "attachment": "a"})).unwrap();
        assert!(mapping
            .apply(clash)
            .unwrap_err()
            .contains("already has `attachment`"));
        assert!(InputMapping::default().is_empty());
        let nested = InputMapping {
            rename: [("url".to_owned(), "image.url".to_owned())].into(),
            ..InputMapping::default()
        };
        let out = nested
            .apply(TaskSpec::from_json(json!({"url": "u", "image": {"w": 1}})).unwrap())
            .unwrap();
        assert_eq!(
            Value::Object(out.inputs),
            json!({"image": {"url": "u", "w": 1}})
        );
        assert!(nested
            .apply(TaskSpec::from_json(json!({"url": "u", "image": "flat"})).unwrap())
            .is_err());
    }
}
