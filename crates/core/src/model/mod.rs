//! The vendor-neutral model. Its vocabulary is Sama's — a batch is a batch-creation job, a task
//! moves through new → in progress → completed → approved → delivered → acknowledged / rejected —
//! widened for the review-and-rework workflows of Labelbox and Segments.ai (in review, in rework,
//! skipped, pre-labeled). `docs/states.md` maps every vendor's states onto [`TaskState`].
//!
//! Inputs (specs, filters, queries, options) are `#[non_exhaustive]` with `Default` and `with_*`
//! builders, so new options never break callers; words only one vendor has live in
//! [`Extensions`], documented by each adapter.

mod annotation;
mod batch;
mod capabilities;
mod delivery;
mod extensions;
mod input_mapping;
mod project;
mod raw_json;
mod task;

pub use annotation::*;
pub use batch::*;
pub use capabilities::*;
pub use delivery::*;
pub use extensions::*;
pub use input_mapping::*;
pub use project::*;
pub use raw_json::RawJson;
pub use task::*;

/// A JSON object, as task inputs, pre-annotations and metadata are.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Implements `as_str`/`Display`/`Serialize`/`Deserialize` over canonical names for a
/// string-valued enum with an `Other(String)` catch-all.
macro_rules! string_enum_serde {
    ($name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok($name::parse(&<String as serde::Deserialize>::deserialize(
                    d,
                )?))
            }
        }
    };
}
pub(crate) use string_enum_serde;
