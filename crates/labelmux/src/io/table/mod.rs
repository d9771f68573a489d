//! Tables in and out: the open formats of lakehouse pipelines (Spark, Databricks, DuckDB,
//! Polars), for every vendor.
//!
//! - [`tasks`]: [`TaskSpec`](labelmux_core::TaskSpec)s from Arrow record batches (an iterator
//!   or a stream, so an Arrow, DataFusion or Polars pipeline never writes a file) and from
//!   Parquet files or directories of them, with the row conventions of [`crate::io::record`].
//! - [`deliveries`]: the delivery table schema ([`deliveries::delivery_schema`]), deliveries
//!   into record batches and into a Parquet file written in row groups as they arrive.
//! - [`delta`] (feature `delta`): deliveries appended to a Delta Lake table, exactly once per
//!   consumer, and the data files of a Delta table for reading tasks.
//!
//! The schemas are documented in `docs/tables.md`.

pub mod deliveries;
#[cfg(feature = "delta")]
pub mod delta;
pub mod tasks;

pub use arrow_array::RecordBatch;
pub use arrow_schema::{ArrowError, SchemaRef};
pub use deliveries::{delivery_schema, DeliveryBatchBuilder, ParquetDeliveryWriter};
pub use tasks::{specs_from_batches, ParquetTaskSource, TaskRowError};

use std::fmt;

/// A table could not be read or written: what was being done, and why.
#[derive(Debug)]
pub struct TableError {
    message: String,
}

impl TableError {
    /// An error with its full message (what was being done: why).
    pub fn new(message: impl Into<String>) -> Self {
        TableError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TableError {}
