//! Reading tasks and writing deliveries, shared by the CLI, the examples and pipelines.
//!
//! - [`record`]: the row conventions of task files (the Sama Databricks connector's, used for
//!   every vendor).

pub mod record;

pub use record::{spec_from_record, PRE_ANNOTATION_PREFIX};
