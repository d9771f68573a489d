//! Reading tasks and writing deliveries, shared by the CLI, the examples and pipelines.
//!
//! - [`record`]: the row conventions of task files (the Sama Databricks connector's, used for
//!   every vendor).
//! - `table` (feature `tables`): tasks from Arrow record batches, Parquet files and (feature
//!   `delta`) Delta Lake tables; deliveries into Parquet files and Delta tables.

pub mod record;
#[cfg(feature = "tables")]
pub mod table;

pub use record::{spec_from_record, PRE_ANNOTATION_PREFIX};
