//! Deliveries as a table: one schema for every vendor, record batches, and a Parquet file
//! written in row groups as deliveries arrive.
//!
//! | column          | type                       | null | from                                  |
//! |-----------------|----------------------------|------|---------------------------------------|
//! | `vendor`        | string                     | no   | the provider (`sama`, `scale`, ...)   |
//! | `project_id`    | string                     | no   | [`Delivery::project_id`]              |
//! | `batch_id`      | string                     | yes  | [`Delivery::batch_id`]                |
//! | `task_id`       | string                     | no   | [`Delivery::task_id`]                 |
//! | `external_key`  | string                     | yes  | [`Delivery::external_key`]            |
//! | `delivery_id`   | string                     | no   | [`Delivery::id`]                      |
//! | `updated_at`    | timestamp(µs, UTC)         | yes  | [`Delivery::updated_at`]              |
//! | `delivered_at`  | timestamp(µs, UTC)         | yes  | [`Delivery::delivered_at`]            |
//! | `labelset`      | string                     | yes  | [`Delivery::labelset`]                |
//! | `review`        | string                     | yes  | [`Delivery::review`] (canonical name) |
//! | `vendor_state`  | string                     | yes  | the vendor's `state`/`status` field   |
//! | `answers`       | string (JSON text)         | no   | [`Delivery::answers`]                 |
//! | `raw`           | string (JSON text)         | no   | [`Delivery::raw`]                     |
//!
//! `(delivery_id, updated_at)` identifies a delivery revision ([`Delivery::revision`]).

use super::TableError;
use arrow_array::builder::{StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use labelmux_core::{Delivery, RawJson};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Rows per Parquet row group (and per record batch handed to the writer): bounds memory while
/// keeping row groups large enough for fast scans.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The delivery table schema (see the module documentation).
pub fn delivery_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("vendor", DataType::Utf8, false),
                Field::new("project_id", DataType::Utf8, false),
                Field::new("batch_id", DataType::Utf8, true),
                Field::new("task_id", DataType::Utf8, false),
                Field::new("external_key", DataType::Utf8, true),
                Field::new("delivery_id", DataType::Utf8, false),
                Field::new("updated_at", utc_micros(), true),
                Field::new("delivered_at", utc_micros(), true),
                Field::new("labelset", DataType::Utf8, true),
                Field::new("review", DataType::Utf8, true),
                Field::new("vendor_state", DataType::Utf8, true),
                Field::new("answers", DataType::Utf8, false),
                Field::new("raw", DataType::Utf8, false),
            ]))
        })
        .clone()
}

/// The vendor's own task state, where its payload carries one as a string.
fn vendor_state(raw: &RawJson) -> Option<String> {
    /// The two members a vendor's state may be in; the rest of the record is skipped.
    #[derive(serde::Deserialize)]
    struct States {
        #[serde(default)]
        state: Option<Value>,
        #[serde(default)]
        status: Option<Value>,
    }
    if !raw.is_object() {
        return None;
    }
    let s = raw.parse::<States>().ok()?;
    [s.state, s.status].into_iter().find_map(|v| match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    })
}

/// Collects deliveries into record batches of the [`delivery_schema`].
#[derive(Debug)]
pub struct DeliveryBatchBuilder {
    vendor: String,
    project_id: StringBuilder,
    batch_id: StringBuilder,
    task_id: StringBuilder,
    external_key: StringBuilder,
    delivery_id: StringBuilder,
    updated_at: TimestampMicrosecondBuilder,
    delivered_at: TimestampMicrosecondBuilder,
    labelset: StringBuilder,
    review: StringBuilder,
    vendor_state: StringBuilder,
    answers: StringBuilder,
    raw: StringBuilder,
    len: usize,
}

impl DeliveryBatchBuilder {
    /// A builder for deliveries of `vendor` (its name, as [`labelmux_core::Vendor::name`]).
    pub fn new(vendor: impl Into<String>) -> Self {
        DeliveryBatchBuilder {
            vendor: vendor.into(),
            project_id: StringBuilder::new(),
            batch_id: StringBuilder::new(),
            task_id: StringBuilder::new(),
            external_key: StringBuilder::new(),
            delivery_id: StringBuilder::new(),
            updated_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            delivered_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            labelset: StringBuilder::new(),
            review: StringBuilder::new(),
            vendor_state: StringBuilder::new(),
            answers: StringBuilder::new(),
            raw: StringBuilder::new(),
            len: 0,
        }
    }

    /// Add one delivery.
    pub fn push(&mut self, d: &Delivery) {
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
        self.project_id.append_value(d.project_id.as_str());
        self.batch_id
            .append_option(d.batch_id.as_ref().map(|b| b.as_str()));
        self.task_id.append_value(d.task_id.as_str());
        self.external_key.append_option(d.external_key.as_deref());
        self.delivery_id.append_value(d.id.as_str());
        self.updated_at.append_option(micros(d.updated_at));
        self.delivered_at.append_option(micros(d.delivered_at));
        self.labelset.append_option(d.labelset.as_deref());
        self.review
            .append_option(d.review.as_ref().map(|r| r.as_str()));
        self.vendor_state.append_option(vendor_state(&d.raw));
        // The vendor's JSON text as it came.
        self.answers.append_value(d.answers.as_str());
        self.raw.append_value(d.raw.as_str());
        self.len += 1;
    }

    /// Deliveries added since the last [`DeliveryBatchBuilder::finish`].
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was added since the last [`DeliveryBatchBuilder::finish`].
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The deliveries added so far as one record batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, TableError> {
        let len = std::mem::take(&mut self.len);
        let mut vendor = StringBuilder::with_capacity(len, len * self.vendor.len());
        for _ in 0..len {
            vendor.append_value(&self.vendor);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(vendor.finish()),
            Arc::new(self.project_id.finish()),
            Arc::new(self.batch_id.finish()),
            Arc::new(self.task_id.finish()),
            Arc::new(self.external_key.finish()),
            Arc::new(self.delivery_id.finish()),
            Arc::new(self.updated_at.finish()),
            Arc::new(self.delivered_at.finish()),
            Arc::new(self.labelset.finish()),
            Arc::new(self.review.finish()),
            Arc::new(self.vendor_state.finish()),
            Arc::new(self.answers.finish()),
            Arc::new(self.raw.finish()),
        ];
        RecordBatch::try_new(delivery_schema(), columns)
            .map_err(|e| TableError::new(format!("cannot build a delivery record batch: {e}")))
    }
}

/// Writes deliveries to a Parquet file of the [`delivery_schema`], a row group of
/// [`ROW_GROUP_ROWS`] at a time. The file is written under a temporary name beside `path` and
/// renamed into place (after an fsync) by [`ParquetDeliveryWriter::finish`], so `path` is never
/// a torn file: an interrupted run leaves the previous file, or none.
pub struct ParquetDeliveryWriter {
    writer: ArrowWriter<File>,
    rows: DeliveryBatchBuilder,
    path: PathBuf,
    partial: PathBuf,
    written: u64,
}

impl std::fmt::Debug for ParquetDeliveryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetDeliveryWriter")
            .field("path", &self.path)
            .field("written", &self.written)
            .finish()
    }
}

impl ParquetDeliveryWriter {
    /// Start writing deliveries of `vendor` to `path` (its parent directory is created).
    pub fn create(path: &Path, vendor: &str) -> Result<Self, TableError> {
        let fail = |e: &dyn std::fmt::Display| {
            TableError::new(format!("cannot write {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = path.with_file_name(name);
        let file = File::create(&partial).map_err(|e| fail(&e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_size(ROW_GROUP_ROWS)
            .build();
        let writer =
            ArrowWriter::try_new(file, delivery_schema(), Some(props)).map_err(|e| fail(&e))?;
        Ok(ParquetDeliveryWriter {
            writer,
            rows: DeliveryBatchBuilder::new(vendor),
            path: path.to_owned(),
            partial,
            written: 0,
        })
    }

    /// Add one delivery; a full row group is written out.
    pub fn write(&mut self, d: &Delivery) -> Result<(), TableError> {
        self.rows.push(d);
        self.written += 1;
        if self.rows.len() >= ROW_GROUP_ROWS {
            self.write_rows()?;
        }
        Ok(())
    }

    fn write_rows(&mut self) -> Result<(), TableError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = self.rows.finish()?;
        self.writer
            .write(&batch)
            .map_err(|e| TableError::new(format!("cannot write {}: {e}", self.path.display())))
    }

    /// Deliveries written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The file this writer produces.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write the last row group and the footer, fsync, and rename the file into place.
    /// Returns the number of deliveries in it.
    pub fn finish(mut self) -> Result<u64, TableError> {
        self.write_rows()?;
        let path = self.path.clone();
        let fail = |e: &dyn std::fmt::Display| {
            TableError::new(format!("cannot write {}: {e}", path.display()))
        };
        let file = self.writer.into_inner().map_err(|e| fail(&e))?;
        file.sync_all().map_err(|e| fail(&e))?;
        drop(file);
        std::fs::rename(&self.partial, &self.path).map_err(|e| fail(&e))?;
        // Best effort: directories cannot be opened for sync on every platform.
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(self.written)
    }

    /// Stop without producing the file (the partial file is removed).
    pub fn abandon(self) {
        let partial = self.partial.clone();
        drop(self);
        let _ = std::fs::remove_file(partial);
    }
}
