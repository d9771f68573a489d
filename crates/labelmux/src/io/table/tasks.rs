//! Tasks from Arrow record batches and Parquet files.
//!
//! Every row becomes one [`TaskSpec`] through [`spec_from_record`]: columns are inputs,
//! `output_<name>` columns pre-annotations, `external_id` and `priority` reserved. Struct, list
//! and map columns become JSON inputs (objects and arrays); a null cell is left out of the row,
//! as an empty CSV cell is. Batches are converted one at a time, so memory stays flat however
//! many rows the table holds.

use super::TableError;
use crate::io::record::spec_from_record;
use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use futures::{Stream, StreamExt};
use labelmux_core::{JsonMap, TaskSpec};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A row that cannot become a task: where (file, 1-based row) and why (naming the column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRowError {
    /// The Parquet file, when the rows come from one.
    pub file: Option<PathBuf>,
    /// 1-based row number (within `file`, or within the stream of batches).
    pub row: u64,
    /// What is wrong, naming the column where one is at fault.
    pub message: String,
}

impl fmt::Display for TaskRowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        write!(f, "row {}: {}", self.row, self.message)
    }
}

impl std::error::Error for TaskRowError {}

/// The rows of `batch` as JSON records (nested columns as JSON objects and arrays, null cells
/// left out).
pub fn batch_records(batch: &RecordBatch) -> Result<Vec<JsonMap>, ArrowError> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let mut writer = arrow_json::ArrayWriter::new(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    serde_json::from_slice(&bytes).map_err(|e| ArrowError::JsonError(e.to_string()))
}

fn record_spec(record: JsonMap, row: u64, file: Option<&Path>) -> Result<TaskSpec, TaskRowError> {
    let error = |message: String| TaskRowError {
        file: file.map(Path::to_path_buf),
        row,
        message,
    };
    if record.is_empty() {
        return Err(error("every column of the row is null".into()));
    }
    spec_from_record(record).map_err(error)
}

/// Specs from an iterator of record batches: see [`specs_from_batches`].
pub struct BatchSpecs<I> {
    batches: I,
    file: Option<PathBuf>,
    pending: std::vec::IntoIter<JsonMap>,
    row: u64,
    failed: bool,
}

impl<I> BatchSpecs<I> {
    /// Name `file` in row errors.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl<I, E> Iterator for BatchSpecs<I>
where
    I: Iterator<Item = Result<RecordBatch, E>>,
    E: fmt::Display,
{
    type Item = Result<TaskSpec, TaskRowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(record) = self.pending.next() {
                self.row += 1;
                return Some(record_spec(record, self.row, self.file.as_deref()));
            }
            let batch = match self.batches.next()? {
                Ok(b) => b,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(TaskRowError {
                        file: self.file.clone(),
                        row: self.row + 1,
                        message: format!("cannot read the table: {e}"),
                    }));
                }
            };
            match batch_records(&batch) {
                Ok(records) => self.pending = records.into_iter(),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(TaskRowError {
                        file: self.file.clone(),
                        row: self.row + 1,
                        message: format!("cannot convert the rows to JSON: {e}"),
                    }));
                }
            }
        }
    }
}

/// One [`TaskSpec`] per row of `batches`, numbered from 1 across batches. A batch that cannot
/// be read ends the iteration after its error.
pub fn specs_from_batches<I, E>(batches: I) -> BatchSpecs<I::IntoIter>
where
    I: IntoIterator<Item = Result<RecordBatch, E>>,
    E: fmt::Display,
{
    BatchSpecs {
        batches: batches.into_iter(),
        file: None,
        pending: Vec::new().into_iter(),
        row: 0,
        failed: false,
    }
}

/// One [`TaskSpec`] per row of a stream of record batches (a DataFusion or Polars pipeline),
/// numbered from 1 across batches, converted a batch at a time.
pub fn spec_stream_from_batches<S, E>(
    batches: S,
) -> impl Stream<Item = Result<TaskSpec, TaskRowError>>
where
    S: Stream<Item = Result<RecordBatch, E>>,
    E: fmt::Display,
{
    let mut first_row = 0u64;
    batches.flat_map(move |batch| {
        let start = first_row;
        let items: Vec<Result<TaskSpec, TaskRowError>> = match batch {
            Ok(batch) => {
                first_row += batch.num_rows() as u64;
                match batch_records(&batch) {
                    Ok(records) => records
                        .into_iter()
                        .enumerate()
                        .map(|(i, r)| record_spec(r, start + i as u64 + 1, None))
                        .collect(),
                    Err(e) => vec![Err(TaskRowError {
                        file: None,
                        row: start + 1,
                        message: format!("cannot convert the rows to JSON: {e}"),
                    })],
                }
            }
            Err(e) => vec![Err(TaskRowError {
                file: None,
                row: start + 1,
                message: format!("cannot read the table: {e}"),
            })],
        };
        futures::stream::iter(items)
    })
}

/// Rows per record batch read from Parquet: bounds memory per batch.
const READ_BATCH_ROWS: usize = 4096;

/// A Parquet file, a directory of Parquet files (as Spark writes them), or the data files of a
/// Delta table, read as tasks.
#[derive(Debug, Clone)]
pub struct ParquetTaskSource {
    files: Vec<PathBuf>,
}

impl ParquetTaskSource {
    /// A Parquet file, or a directory whose `*.parquet` files (names starting with `_` or `.`
    /// skipped, as Spark's `_SUCCESS` and checksum files) are read in name order. Partitioned
    /// directories (`column=value/` subdirectories) are refused: their partition values are not
    /// in the files.
    pub fn open(path: &Path) -> Result<Self, TableError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| TableError::new(format!("cannot open {}: {e}", path.display())))?;
        if !meta.is_dir() {
            return Ok(ParquetTaskSource {
                files: vec![path.to_owned()],
            });
        }
        let entries = std::fs::read_dir(path)
            .map_err(|e| TableError::new(format!("cannot list {}: {e}", path.display())))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry
                .map_err(|e| TableError::new(format!("cannot list {}: {e}", path.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && name.contains('=') {
                return Err(TableError::new(format!(
                    "{} is a partitioned table ({name}); partition values are not in the files, \
                     so partitioned directories are not read: write the table unpartitioned",
                    path.display()
                )));
            }
            if !is_dir && name.to_ascii_lowercase().ends_with(".parquet") {
                files.push(entry.path());
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(TableError::new(format!(
                "{} holds no .parquet files",
                path.display()
            )));
        }
        Ok(ParquetTaskSource { files })
    }

    /// These Parquet files, read in this order.
    pub fn from_files(files: Vec<PathBuf>) -> Self {
        ParquetTaskSource { files }
    }

    /// The files read.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The number of rows, from the files' footers (nothing else is read).
    pub fn row_count(&self) -> Result<u64, TableError> {
        let mut rows = 0u64;
        for file in &self.files {
            let builder = open_builder(file)?;
            rows += builder.metadata().file_metadata().num_rows().max(0) as u64;
        }
        Ok(rows)
    }

    /// Every row as a task, file after file, a record batch at a time. Row errors name the
    /// file and the row within it.
    pub fn specs(&self) -> impl Iterator<Item = Result<TaskSpec, TaskRowError>> + Send + 'static {
        self.files.clone().into_iter().flat_map(|file| {
            let specs: Box<dyn Iterator<Item = Result<TaskSpec, TaskRowError>> + Send> =
                match open_builder(&file).and_then(|b| {
                    b.with_batch_size(READ_BATCH_ROWS)
                        .build()
                        .map_err(|e| TableError::new(format!("{}: {e}", file.display())))
                }) {
                    Ok(reader) => Box::new(specs_from_batches(reader).in_file(&file)),
                    // The message names the file already.
                    Err(e) => Box::new(std::iter::once(Err(TaskRowError {
                        file: None,
                        row: 1,
                        message: e.to_string(),
                    }))),
                };
            specs
        })
    }
}

fn open_builder(file: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, TableError> {
    let f = File::open(file)
        .map_err(|e| TableError::new(format!("cannot open {}: {e}", file.display())))?;
    ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| {
        TableError::new(format!(
            "{} is not a readable Parquet file: {e}",
            file.display()
        ))
    })
}
