//! [`Extensions`]: the per-vendor options slot of neutral inputs.

use super::JsonMap;
use crate::{Error, Result, Vendor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Options that only one vendor understands (Sama's `notification_email`, `submit`,
/// `client_batch_id_match_type`, …), kept out of the neutral fields. Each adapter documents the
/// keys it reads (its crate docs and `docs/providers/<vendor>.md`) and refuses the others, so a
/// misspelt or misplaced option is an error, never silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Extensions(JsonMap);

impl Extensions {
    /// Set `key` to `value`.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        self.0.insert(key.into(), value);
    }
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
    /// The value of `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }
    /// The value of `key` if it is a boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.0.get(key).and_then(Value::as_bool)
    }
    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Every option, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }
    /// A validation error (naming the vendor and operation, listing the known keys) for the
    /// first key that is not in `known`.
    pub fn check_known(
        &self,
        vendor: Vendor,
        operation: &'static str,
        known: &[&str],
    ) -> Result<()> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(unknown) => Err(Error::validation(format!(
                "unknown {vendor} option `{unknown}`; {vendor} reads {}",
                if known.is_empty() {
                    "no options here".to_owned()
                } else {
                    known.join(", ")
                }
            ))
            .with_vendor(vendor)
            .with_operation(operation)),
        }
    }
}

impl From<JsonMap> for Extensions {
    fn from(map: JsonMap) -> Self {
        Extensions(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_are_refused_with_the_known_ones_listed() {
        let mut ext = Extensions::default();
        ext.insert("submit", json!(true));
        ext.check_known(
            Vendor::Sama,
            "create_batch",
            &["submit", "notification_email"],
        )
        .unwrap();
        ext.insert("sumbit", json!(true));
        let err = ext
            .check_known(
                Vendor::Sama,
                "create_batch",
                &["submit", "notification_email"],
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sumbit") && err.contains("notification_email"),
            "{err}"
        );
        assert_eq!(ext.get_bool("submit"), Some(true));
    }
}
