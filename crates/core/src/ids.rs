//! String identifiers. Vendors send ids as JSON numbers (Sama project and batch ids) or strings
//! (task ids); labelmux keeps every id as a string and accepts both shapes on the wire.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Deserialize a JSON string or number into a `String`, so `117` and `"117"` mean the same id.
pub fn string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Str(String),
        Int(i64),
        UInt(u64),
        Float(f64),
    }
    Ok(match Raw::deserialize(de)? {
        Raw::Str(s) => s,
        Raw::Int(i) => i.to_string(),
        Raw::UInt(u) => u.to_string(),
        Raw::Float(f) => f.to_string(),
    })
}

/// Like [`string_or_number`] for optional fields: `null` and absent both give `None`.
pub fn opt_string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "string_or_number")] String);
    Ok(Option::<Wrap>::deserialize(de)?.map(|w| w.0))
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wrap any string-like value as this id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            /// The id as the vendor knows it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Unwrap into the owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                string_or_number(de).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<u64> for $name {
            fn from(n: u64) -> Self {
                Self(n.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A project (Sama project, Scale project name, Labelbox project, Segments dataset).
    ProjectId
);
string_id!(
    /// A task as the vendor identifies it.
    TaskId
);
string_id!(
    /// A batch (Sama batch-creation job, Scale batch name, Labelbox batch; Segments has no
    /// batches: labelmux records its own batch name on each sample).
    BatchId
);
string_id!(
    /// A delivered label: the task for vendors with one label per task (Sama, Scale), the label
    /// id for Labelbox (several labels per data row under consensus), `sample/labelset` for
    /// Segments. Together with `Delivery::updated_at` it identifies one revision of one label.
    DeliveryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_numbers_and_strings() {
        let a: ProjectId = serde_json::from_str("117").unwrap();
        let b: ProjectId = serde_json::from_str("\"117\"").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "117");
        let big: BatchId = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(big.as_str(), "18446744073709551615");
        let neg: BatchId = serde_json::from_str("-3").unwrap();
        assert_eq!(neg.as_str(), "-3");
        assert!(serde_json::from_str::<TaskId>("{}").is_err());
    }

    #[test]
    fn optional_ids_treat_null_as_absent() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "opt_string_or_number")]
            batch_id: Option<String>,
        }
        let t: T = serde_json::from_str(r#"{"batch_id":null}"#).unwrap();
        assert_eq!(t.batch_id, None);
        let t: T = serde_json::from_str(r#"{"batch_id":42}"#).unwrap();
        assert_eq!(t.batch_id.as_deref(), Some("42"));
        let t: T = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(t.batch_id, None);
    }
}
