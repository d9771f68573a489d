//! [`CompactJson`]: JSON kept as its text, for the large per-task stores of the emulators.

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// A JSON value kept as its compact text. A `Value` object is a B-tree whose nodes hold room
/// for eleven entries, so a small label (a few objects with coordinates) takes 5–10 KB as a
/// tree and about 1 KB as text: what lets an emulator hold a million labeled tasks. Serialised
/// verbatim into a response or file; [`CompactJson::value`] parses it where a handler needs
/// the tree.
#[derive(Clone)]
pub(crate) struct CompactJson(Box<RawValue>);

impl CompactJson {
    /// The value as text.
    pub(crate) fn new(value: &Value) -> Self {
        // Serialising a `Value` cannot fail (its map keys are strings).
        CompactJson(
            serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned()),
        )
    }

    /// The value, parsed again.
    pub(crate) fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    /// Whether it is a JSON object.
    pub(crate) fn is_object(&self) -> bool {
        self.0.get().starts_with('{')
    }
}

impl From<Value> for CompactJson {
    fn from(value: Value) -> Self {
        CompactJson::new(&value)
    }
}

impl Serialize for CompactJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl std::fmt::Display for CompactJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

impl std::fmt::Debug for CompactJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_round_trips_and_embeds_as_json() {
        let v = json!({"objects": [{"x": 1.5, "name": "car"}], "n": null});
        let c = CompactJson::from(v.clone());
        assert_eq!(c.value(), v);
        assert!(c.is_object());
        assert!(!CompactJson::from(json!([1])).is_object());
        assert_eq!(json!({"label": c}), json!({"label": v}));
        assert_eq!(c.to_string(), v.to_string());
        assert_eq!(serde_json::to_string(&vec![c]).ok(), Some(format!("[{v}]")));
    }
}
