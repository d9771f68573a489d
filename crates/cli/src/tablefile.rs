//! Task tables: a Parquet file, a directory of Parquet files (as Spark writes them) or a Delta
//! table, read through [`labelmux::io::table`] with the same row conventions as JSONL and CSV.
//! Rows are numbered from 1 across the table's files, in the order they are read.

use crate::exit::CliError;
use crate::taskfile::{Row, RowError};
use labelmux::io::table::delta::delta_data_files;
use labelmux::io::table::{ParquetTaskSource, TableError};
use std::path::Path;

/// Whether `path` is a Delta table (a directory with a `_delta_log`).
pub(crate) fn is_delta_table(path: &Path) -> bool {
    path.join("_delta_log").is_dir()
}

/// Whether `path` is a directory of Parquet files (not a Delta table).
pub(crate) fn is_parquet_dir(path: &Path) -> bool {
    path.is_dir() && !is_delta_table(path)
}

fn input(e: TableError) -> CliError {
    CliError::input(e.to_string())
}

/// The Parquet files of `path`: a file, a directory of them, or (with `delta`) the current
/// data files of a Delta table.
pub(crate) fn open(path: &Path, delta: bool) -> Result<ParquetTaskSource, CliError> {
    if !delta {
        return ParquetTaskSource::open(path).map_err(input);
    }
    if !is_delta_table(path) {
        return Err(CliError::input(format!(
            "{} is not a Delta table (no _delta_log directory)",
            path.display()
        )));
    }
    // The CLI's commands run on the async runtime, and opening a Delta table is async: list its
    // files on a thread of its own so this works from sync and async callers alike.
    let owned = path.to_owned();
    let files = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TableError::new(format!("cannot start a runtime: {e}")))?;
        rt.block_on(delta_data_files(&owned))
    })
    .join()
    .map_err(|_| CliError::input(format!("cannot read Delta table {}", path.display())))?
    .map_err(input)?;
    Ok(ParquetTaskSource::from_files(files))
}

/// Every row as a task; errors name the data file and its row.
pub(crate) fn rows(
    source: &ParquetTaskSource,
) -> impl Iterator<Item = Result<Row, RowError>> + Send + 'static {
    let mut index = 0u64;
    source.specs().map(move |r| {
        index += 1;
        r.map(|spec| Row { line: index, spec })
            .map_err(|e| RowError {
                line: index,
                message: e.to_string(),
            })
    })
}

/// First pass: every row must become a task. Returns the row count.
pub(crate) fn validate(name: &str, source: &ParquetTaskSource) -> Result<u64, CliError> {
    let mut rows = 0u64;
    for spec in source.specs() {
        spec.map_err(|e| CliError::input(format!("{name}: {e}")))?;
        rows += 1;
    }
    Ok(rows)
}
