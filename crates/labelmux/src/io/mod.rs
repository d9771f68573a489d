//! Reading tasks and writing deliveries, shared by the CLI, the examples and pipelines.
//!
//! - [`record`]: the row conventions of task files (the Sama Databricks connector's, used for
//!   every vendor).
//! - [`export`]: reading any vendor's answers as neutral annotations ([`export::normalize`]),
//!   and the report every label export returns.
//! - [`coco`], [`yolo`], [`labelmux_jsonl`]: streaming label exports (`docs/annotations.md`).

pub mod coco;
pub mod export;
pub mod labelmux_jsonl;
pub mod record;
pub mod yolo;

pub use record::{spec_from_record, PRE_ANNOTATION_PREFIX};
