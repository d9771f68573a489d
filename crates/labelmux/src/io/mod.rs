//! Reading tasks and writing deliveries, shared by the CLI, the examples and pipelines.
//!
//! - [`record`]: the row conventions of task files (the Sama Databricks connector's, used for
//!   every vendor).
//! - [`export`]: reading any vendor's answers as neutral annotations ([`export::normalize`]),
//!   and the report every label export returns.
//! - [`coco`], [`yolo`], [`labelmux_jsonl`]: streaming label exports (`docs/annotations.md`).
//! - `table` (feature `tables`): tasks from Arrow record batches, Parquet files and (feature
//!   `delta`) Delta Lake tables; deliveries into Parquet files and Delta tables.

pub mod coco;
pub mod export;
pub mod labelmux_jsonl;
pub mod record;
#[cfg(feature = "tables")]
pub mod table;
pub mod yolo;

pub use record::{spec_from_record, PRE_ANNOTATION_PREFIX};
