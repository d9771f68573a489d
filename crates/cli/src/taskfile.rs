//! Task files: JSONL or CSV, one task per row, read as a stream with line numbers.
//!
//! Each row becomes a [`TaskSpec`] through [`labelmux::io::spec_from_record`] (Sama Databricks connector
//! conventions: `output_<name>` columns are pre-annotations, `external_id` the external key,
//! `priority` the priority, every other column an input). A file is read twice: a first pass
//! that only validates ([`TaskFile::validate`]), so nothing is submitted unless every row
//! parses and no external key is repeated with other data, then a second pass that streams
//! specs into the vendor ([`TaskFile::rows`]). Memory stays small: one row at a time, a few
//! bytes per irregular line break, and about 40 bytes per row with an external key.
//!
//! The second pass reads exactly what the first one validated ([`crate::taskinput`]): a pipe
//! or FIFO is read once, into a spool file, and a file on disk that changed in between is
//! refused (before anything is sent when its size or time changed, else at the first changed
//! block, before any row of it is parsed).

use crate::exit::CliError;
use crate::taskinput::{
    BlockMode, BlockReader, Fingerprint, KeyCheck, Recording, Stat, StreamInput,
};
use labelmux::{JsonMap, TaskSpec};
use serde_json::Value;
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Format of a task file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskFileFormat {
    /// One JSON object per line (blank lines are skipped).
    Jsonl,
    /// Comma-separated values with a header row; empty cells are left out.
    Csv,
    /// A Parquet file, or a directory of Parquet files (as Spark writes them); null cells are
    /// left out, nested columns become JSON.
    Parquet,
    /// A Delta Lake table directory (its current version).
    Delta,
}

impl TaskFileFormat {
    /// The format a file name implies: `.jsonl`/`.ndjson`/`.json`, `.csv` or `.parquet` (any
    /// case); a directory is a Delta table if it has a `_delta_log`, else Parquet files.
    pub fn from_path(path: &Path) -> Option<Self> {
        if crate::tablefile::is_delta_table(path) {
            return Some(TaskFileFormat::Delta);
        }
        if crate::tablefile::is_parquet_dir(path) {
            return Some(TaskFileFormat::Parquet);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(TaskFileFormat::Jsonl),
            "csv" => Some(TaskFileFormat::Csv),
            "parquet" | "pq" => Some(TaskFileFormat::Parquet),
            _ => None,
        }
    }
}

/// Where a task file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk.
    Path(PathBuf),
    /// A pipe, FIFO or other stream: read once, copied to a spool file as it is validated.
    Stream(Arc<StreamInput>),
    /// Text built into the binary (the demo's sample), with a display name.
    Embedded {
        /// Shown in messages.
        name: &'static str,
        /// The content.
        text: &'static str,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(p) => write!(f, "{}", p.display()),
            Source::Stream(s) => write!(f, "{}", s.path().display()),
            Source::Embedded { name, .. } => f.write_str(name),
        }
    }
}

/// A bad row: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong, naming the column where one is at fault.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One parsed row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line number where the row starts.
    pub line: u64,
    /// The task it describes.
    pub spec: TaskSpec,
}

/// Maps the 0-based index of a row in the stream sent to the vendor back to its line number.
/// Stores only the places where the line number does not simply advance by one (blank lines,
/// multi-line CSV cells), so it stays tiny for regular files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineIndex {
    // (row index, line) at each break in the "one row per line" progression.
    breaks: Vec<(u64, u64)>,
    next_index: u64,
    next_line: u64,
}

impl LineIndex {
    /// Record that row number `index` (the next one) starts at `line`.
    pub fn push(&mut self, line: u64) {
        if self.breaks.is_empty() || line != self.next_line {
            self.breaks.push((self.next_index, line));
        }
        self.next_index += 1;
        self.next_line = line + 1;
    }

    /// The line of row `index`, if the row exists.
    pub fn line_of(&self, index: u64) -> Option<u64> {
        if index >= self.next_index {
            return None;
        }
        let pos = self.breaks.partition_point(|(i, _)| *i <= index);
        let (i, line) = self.breaks[pos.checked_sub(1)?];
        Some(line + (index - i))
    }

    /// How many rows.
    pub fn rows(&self) -> u64 {
        self.next_index
    }
}

/// What the validation pass found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Number of task rows.
    pub rows: u64,
    /// Line of the first row, if any.
    pub first_line: Option<u64>,
    /// Line of the last row, if any.
    pub last_line: Option<u64>,
    /// Row index → line number.
    pub lines: LineIndex,
    /// Rows that set a `priority`.
    pub with_priority: u64,
}

/// A task file of a known format.
#[derive(Debug, Clone)]
pub struct TaskFile {
    source: Source,
    format: TaskFileFormat,
    /// The Parquet files of a table format.
    table: Option<labelmux::io::table::ParquetTaskSource>,
    /// What validation read of a file on disk; the rows sent must be the same.
    validated: Arc<Mutex<Validated>>,
}

/// What the validation pass saw.
#[derive(Debug, Default)]
enum Validated {
    /// Not validated (yet), or nothing to check (a stream's spool, embedded text).
    #[default]
    Nothing,
    /// A file's blocks.
    File(Arc<Fingerprint>),
    /// A table's files: size and time of each.
    Table(Vec<(PathBuf, Stat)>),
}

/// Whether `path` is something that can be read only once (a pipe, FIFO, socket or device).
fn is_stream(meta: &std::fs::Metadata) -> bool {
    !meta.is_file() && !meta.is_dir()
}

/// The spool suffix of a format.
fn suffix_of(format: TaskFileFormat) -> &'static str {
    match format {
        TaskFileFormat::Jsonl => ".jsonl",
        TaskFileFormat::Csv => ".csv",
        TaskFileFormat::Parquet | TaskFileFormat::Delta => ".parquet",
    }
}

impl TaskFile {
    /// A file on disk; the format is `format` or else implied by the extension. Fails if the
    /// file does not exist or the format cannot be told.
    pub fn open(path: &Path, format: Option<TaskFileFormat>) -> Result<TaskFile, CliError> {
        let format = match format.or_else(|| TaskFileFormat::from_path(path)) {
            Some(f) => f,
            None => {
                return Err(CliError::usage(format!(
                    "cannot tell the format of {} from its extension; pass --format jsonl, csv, parquet or delta",
                    path.display()
                )))
            }
        };
        let stream = std::fs::metadata(path).is_ok_and(|m| is_stream(&m));
        if stream {
            let input = Arc::new(StreamInput::new(path, suffix_of(format)));
            let table = match format {
                TaskFileFormat::Delta => {
                    return Err(CliError::input(format!(
                        "{} is a stream; a Delta table is a directory",
                        path.display()
                    )))
                }
                // Parquet is read by position: the whole stream goes to the spool first.
                TaskFileFormat::Parquet => {
                    let spooled = input.spool_all().map_err(|e| {
                        CliError::input(format!("cannot read task file {}: {e}", path.display()))
                    })?;
                    Some(crate::tablefile::open(&spooled, false)?)
                }
                TaskFileFormat::Jsonl | TaskFileFormat::Csv => None,
            };
            return Ok(TaskFile {
                source: Source::Stream(input),
                format,
                table,
                validated: Arc::default(),
            });
        }
        if matches!(format, TaskFileFormat::Parquet | TaskFileFormat::Delta) {
            let table = crate::tablefile::open(path, format == TaskFileFormat::Delta)?;
            return Ok(TaskFile {
                source: Source::Path(path.to_owned()),
                format,
                table: Some(table),
                validated: Arc::default(),
            });
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Err(CliError::input(format!(
                "{} is a directory, not a task file",
                path.display()
            ))),
            Ok(_) => Ok(TaskFile {
                source: Source::Path(path.to_owned()),
                format,
                table: None,
                validated: Arc::default(),
            }),
            Err(e) => Err(CliError::input(format!(
                "cannot open task file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Built-in text (the demo's sample file).
    pub fn embedded(name: &'static str, text: &'static str, format: TaskFileFormat) -> TaskFile {
        TaskFile {
            source: Source::Embedded { name, text },
            format,
            table: None,
            validated: Arc::default(),
        }
    }

    /// Whether the rows come from a stream (a pipe or FIFO), which can be read only once.
    pub fn is_stream(&self) -> bool {
        matches!(self.source, Source::Stream(_))
    }

    /// Remove a stream's spool file now (on Ctrl-C, while a validating thread may still run).
    pub fn discard_spool(&self) {
        if let Source::Stream(s) = &self.source {
            s.discard();
        }
    }

    /// Where the rows come from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The format.
    pub fn format(&self) -> TaskFileFormat {
        self.format
    }

    /// A reader of the content: for a file on disk, recording its fingerprint (`record`) or,
    /// once validated, verifying it.
    fn reader(
        &self,
        record: Option<Arc<Mutex<Recording>>>,
    ) -> Result<Box<dyn BufRead + Send>, CliError> {
        match &self.source {
            Source::Path(p) => {
                let validated = match &*lock(&self.validated) {
                    Validated::File(fp) => Some(Arc::clone(fp)),
                    _ => None,
                };
                if let Some(fp) = &validated {
                    self.check_unchanged(p, &fp.stat)?;
                }
                let f = File::open(p).map_err(|e| {
                    CliError::input(format!("cannot open task file {}: {e}", p.display()))
                })?;
                let name = p.display().to_string();
                Ok(match (validated, record) {
                    (Some(fp), _) => Box::new(BlockReader::new(f, name, BlockMode::Verify(fp))),
                    (None, Some(rec)) => {
                        Box::new(BlockReader::new(f, name, BlockMode::Record(rec)))
                    }
                    (None, None) => Box::new(BufReader::with_capacity(64 * 1024, f)),
                })
            }
            Source::Stream(s) => s.reader().map_err(|e| {
                CliError::input(format!("cannot read task file {}: {e}", s.path().display()))
            }),
            Source::Embedded { text, .. } => Ok(Box::new(text.as_bytes())),
        }
    }

    /// An error when the file at `path` is no longer what was validated (`then`).
    fn check_unchanged(&self, path: &Path, then: &Stat) -> Result<(), CliError> {
        let now = Stat::of(path).map_err(|e| {
            CliError::input(format!("cannot open task file {}: {e}", path.display()))
        })?;
        match now.change_since(then) {
            None => Ok(()),
            Some(what) => Err(CliError::input(format!(
                "{} changed after it was validated ({what}); nothing was sent from this read of it",
                path.display()
            ))),
        }
    }

    /// The rows, one at a time. After [`TaskFile::validate`], exactly the rows validated (or an
    /// error saying the file changed).
    pub fn rows(&self) -> Result<Rows, CliError> {
        if let Some(table) = &self.table {
            if let Validated::Table(stats) = &*lock(&self.validated) {
                for (path, then) in stats {
                    self.check_unchanged(path, then)?;
                }
            }
            return Ok(Rows::Table(Box::new(crate::tablefile::rows(table))));
        }
        let reader = self.reader(None)?;
        self.rows_from(reader)
    }

    fn rows_from(&self, mut reader: Box<dyn BufRead + Send>) -> Result<Rows, CliError> {
        let dot_json = match &self.source {
            Source::Path(p) => p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json")),
            Source::Stream(s) => s
                .path()
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json")),
            Source::Embedded { name, .. } => name.ends_with(".json"),
        };
        if self.format == TaskFileFormat::Jsonl && dot_json && starts_with_bracket(&mut reader) {
            // A pretty-printed JSON array of tasks (`.json` as many tools write it): read whole.
            let mut text = String::new();
            reader.read_to_string(&mut text).map_err(|e| {
                CliError::input(format!("cannot read task file {}: {e}", self.source))
            })?;
            return Ok(Rows::Array(json_array_rows(&text).into_iter()));
        }
        Ok(match self.format {
            TaskFileFormat::Jsonl => Rows::Jsonl(JsonlRows {
                reader,
                line: 0,
                ended: false,
            }),
            // Tables are opened by `TaskFile::open` and returned above.
            TaskFileFormat::Parquet | TaskFileFormat::Delta => {
                return Err(CliError::input(format!(
                    "{}: a table must be opened with its path",
                    self.source
                )))
            }
            TaskFileFormat::Csv => {
                let breaks = Arc::new(Mutex::new(LineBreaks::default()));
                let counted = CountLines {
                    inner: reader,
                    breaks: breaks.clone(),
                    offset: 0,
                };
                let mut rdr = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(false)
                    .from_reader(Box::new(counted) as Box<dyn Read + Send>);
                let headers = match rdr.headers() {
                    Ok(h) => Ok(h.clone()),
                    Err(e) => Err(csv_error(&e, 1, &breaks)),
                };
                let headers = headers.and_then(check_headers);
                Rows::Csv(Box::new(CsvRows {
                    reader: rdr,
                    headers,
                    record: csv::StringRecord::new(),
                    done: false,
                    breaks,
                }))
            }
        })
    }

    /// First pass: parse every row, keep nothing but the line index. The first bad row is
    /// returned as an error naming the file, its line and (where one is at fault) the column;
    /// an external key given to two rows with different data is an error naming both lines.
    pub fn validate(&self) -> Result<Summary, CliError> {
        let mut lines = LineIndex::default();
        if let Some(table) = &self.table {
            let stats = match &self.source {
                Source::Path(_) => table
                    .files()
                    .iter()
                    .filter_map(|f| Stat::of(f).ok().map(|s| (f.clone(), s)))
                    .collect(),
                _ => Vec::new(),
            };
            // Table rows are numbered 1, 2, ... across the table's files: "line" is the row.
            let rows = crate::tablefile::validate(&self.source.to_string(), table)?;
            if rows == 0 {
                return Err(CliError::input(format!("{} holds no tasks", self.source)));
            }
            for row in 1..=rows {
                lines.push(row);
            }
            *lock(&self.validated) = Validated::Table(stats);
            return Ok(Summary {
                rows,
                first_line: Some(1),
                last_line: Some(rows),
                lines,
                // Not counted for tables: the Scale priority warning covers files only.
                with_priority: 0,
            });
        }
        let mut first_line = None;
        let mut last_line = None;
        let mut with_priority = 0;
        let (recording, before) = match &self.source {
            Source::Path(p) => (
                Some(Arc::new(Mutex::new(Recording::default()))),
                Some(Stat::of(p).map_err(|e| {
                    CliError::input(format!("cannot open task file {}: {e}", p.display()))
                })?),
            ),
            _ => (None, None),
        };
        let mut keys = KeyCheck::default();
        for row in self.rows_from(self.reader(recording.clone())?)? {
            let row = row.map_err(|e| CliError::input(format!("{}: {e}", self.source)))?;
            keys.check(&row.spec, row.line).map_err(|r| {
                CliError::input(format!(
                    "{}: lines {} and {} give the external key {:?} to different tasks; one key names one task (the vendor would keep only one of them, or make two): give each its own key, or remove one",
                    self.source, r.first_line, r.line, r.key
                ))
            })?;
            with_priority += u64::from(row.spec.priority.is_some());
            first_line.get_or_insert(row.line);
            last_line = Some(row.line);
            lines.push(row.line);
        }
        if lines.rows() == 0 {
            return Err(CliError::input(format!("{} holds no tasks", self.source)));
        }
        if let (Source::Path(p), Some(rec), Some(before)) = (&self.source, recording, before) {
            // Changed while it was read: what was validated may be a mix of two versions.
            self.check_unchanged(p, &before).map_err(|_| {
                CliError::input(format!(
                    "{} changed while it was being validated; nothing was sent: run again once it is complete",
                    p.display()
                ))
            })?;
            if let Some(fp) = lock(&rec).finish(before) {
                *lock(&self.validated) = Validated::File(Arc::new(fp));
            }
        }
        Ok(Summary {
            rows: lines.rows(),
            first_line,
            last_line,
            lines,
            with_priority,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the first byte after whitespace (and a byte-order mark) is `[`, without consuming it.
fn starts_with_bracket(reader: &mut Box<dyn BufRead + Send>) -> bool {
    loop {
        let Ok(buf) = reader.fill_buf() else {
            return false;
        };
        let Some(&first) = buf.first() else {
            return false;
        };
        if buf.starts_with("\u{feff}".as_bytes()) {
            reader.consume(3);
        } else if first.is_ascii_whitespace() {
            reader.consume(1);
        } else {
            return first == b'[';
        }
    }
}

/// The rows of a JSON array of objects, each with the line its object starts on.
fn json_array_rows(text: &str) -> Vec<Result<Row, RowError>> {
    let line_at = |pos: usize| text[..pos.min(text.len())].matches('\n').count() as u64 + 1;
    let mut rows = Vec::new();
    let skip_ws = |mut pos: usize| {
        while text[pos..].starts_with(|c: char| c.is_whitespace()) {
            pos += text[pos..].chars().next().map_or(1, char::len_utf8);
        }
        pos
    };
    let mut pos = skip_ws(text.find('[').map_or(0, |p| p + 1));
    if text[pos..].starts_with(']') {
        return rows;
    }
    loop {
        let start = pos;
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        let line = line_at(start);
        match values.next() {
            Some(Ok(Value::Object(map))) => rows.push(record_to_spec(map, line)),
            Some(Ok(_)) => {
                rows.push(Err(RowError {
                    line,
                    message: "expected a JSON object for each task of the array".into(),
                }));
                return rows;
            }
            Some(Err(e)) => {
                rows.push(Err(RowError {
                    line: line + e.line() as u64 - 1,
                    message: json_error_text(&e),
                }));
                return rows;
            }
            None => {
                rows.push(Err(RowError {
                    line,
                    message: "the JSON array is not closed with `]`".into(),
                }));
                return rows;
            }
        }
        pos = skip_ws(start + values.byte_offset());
        if text[pos..].starts_with(',') {
            pos = skip_ws(pos + 1);
        } else if text[pos..].starts_with(']') {
            return rows;
        } else {
            rows.push(Err(RowError {
                line: line_at(pos),
                message: "expected `,` or `]` after a task of the JSON array".into(),
            }));
            return rows;
        }
    }
}

/// Iterator over the rows of a task file.
pub enum Rows {
    /// Rows of a JSON array file.
    Array(std::vec::IntoIter<Result<Row, RowError>>),
    /// JSONL rows.
    Jsonl(JsonlRows),
    /// CSV rows.
    Csv(Box<CsvRows>),
    /// Parquet or Delta rows (numbered from 1 across the table's files).
    Table(Box<dyn Iterator<Item = Result<Row, RowError>> + Send>),
}

impl Iterator for Rows {
    type Item = Result<Row, RowError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Rows::Array(r) => r.next(),
            Rows::Jsonl(r) => r.next(),
            Rows::Csv(r) => r.next(),
            Rows::Table(r) => r.next(),
        }
    }
}

/// JSONL rows.
pub struct JsonlRows {
    reader: Box<dyn BufRead + Send>,
    line: u64,
    /// A read failed: no more rows (what follows cannot be trusted).
    ended: bool,
}

/// Strip serde_json's " at line 1 column N" (always line 1 here) and say the column instead.
fn json_error_text(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let msg = text
        .rsplit_once(" at line ")
        .map(|(m, _)| m.to_owned())
        .unwrap_or(text);
    format!("invalid JSON at column {}: {msg}", e.column())
}

/// A pre-annotation written as plain text (`"output_label": "cat"`, CSV cell `cat`) is meant as
/// that string; text that looks like JSON (`{`, `[`, `"`, a number, true/false/null) must still
/// parse, so a typo in a structure is reported rather than sent as text.
fn plain_text_pre_annotations(record: &mut JsonMap) {
    for (key, value) in record.iter_mut() {
        if !key.starts_with(labelmux::io::PRE_ANNOTATION_PREFIX) {
            continue;
        }
        if let Value::String(text) = value {
            let t = text.trim_start();
            let looks_like_json = t.starts_with(['{', '[', '"', '-'])
                || t.starts_with(|c: char| c.is_ascii_digit())
                || serde_json::from_str::<Value>(t).is_ok();
            if !looks_like_json {
                *value = Value::String(Value::String(std::mem::take(text)).to_string());
            }
        }
    }
}

fn record_to_spec(mut record: JsonMap, line: u64) -> Result<Row, RowError> {
    if record.is_empty() {
        return Err(RowError {
            line,
            message: "the row has no columns".into(),
        });
    }
    plain_text_pre_annotations(&mut record);
    labelmux::io::spec_from_record(record)
        .map(|spec| Row { line, spec })
        .map_err(|message| RowError { line, message })
}

impl Iterator for JsonlRows {
    type Item = Result<Row, RowError>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        loop {
            if self.ended {
                return None;
            }
            buf.clear();
            self.line += 1;
            let line = self.line;
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    self.ended = true;
                    return Some(Err(RowError {
                        line,
                        message: format!("cannot read: {e}"),
                    }));
                }
            }
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => t,
                Err(e) => {
                    return Some(Err(RowError {
                        line,
                        message: format!("not UTF-8 text: {e}"),
                    }))
                }
            };
            // A UTF-8 byte-order mark may open the file.
            let text = if line == 1 {
                text.trim_start_matches('\u{feff}')
            } else {
                text
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => record_to_spec(map, line),
                Ok(other) => Err(RowError {
                    line,
                    message: format!(
                        "expected a JSON object, found {}",
                        match other {
                            Value::Array(_) => "an array",
                            Value::String(_) => "a string",
                            Value::Number(_) => "a number",
                            Value::Bool(_) => "a boolean",
                            _ => "null",
                        }
                    ),
                }),
                Err(e) => Err(RowError {
                    line,
                    message: json_error_text(&e),
                }),
            });
        }
    }
}

/// CSV rows.
pub struct CsvRows {
    reader: csv::Reader<Box<dyn Read + Send>>,
    headers: Result<csv::StringRecord, RowError>,
    record: csv::StringRecord,
    done: bool,
    breaks: Arc<Mutex<LineBreaks>>,
}

/// Line numbers of CSV records, counted here because the csv crate's count is one too low
/// after a CRLF line end (it ends a record at `\r` and counts the `\n` only when the next
/// record is read) and after blank lines. Keeps only the `\r`/`\n` bytes the parser has not
/// passed yet, so memory is bounded by its read-ahead buffer.
#[derive(Debug, Default)]
struct LineBreaks {
    newlines_passed: u64,
    // (byte offset, is `\n`) of each `\r` and `\n` at or after the last record start asked.
    pending: VecDeque<(u64, bool)>,
}

impl LineBreaks {
    /// The 1-based line of the first content byte at or after byte offset `start`.
    fn line_at(&mut self, start: u64) -> u64 {
        while let Some(&(at, is_nl)) = self.pending.front() {
            if at >= start {
                break;
            }
            self.newlines_passed += u64::from(is_nl);
            self.pending.pop_front();
        }
        // Line ends right at the record start (the `\n` of a CRLF, blank lines) come before it.
        let mut leading = 0;
        for (expected, &(at, is_nl)) in (start..).zip(self.pending.iter()) {
            if at != expected {
                break;
            }
            leading += u64::from(is_nl);
        }
        self.newlines_passed + leading + 1
    }
}

/// Passes bytes through, noting where line breaks are.
struct CountLines {
    inner: Box<dyn BufRead + Send>,
    breaks: Arc<Mutex<LineBreaks>>,
    offset: u64,
}

impl Read for CountLines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut b) = self.breaks.lock() {
            for (i, &c) in buf[..n].iter().enumerate() {
                if c == b'\n' || c == b'\r' {
                    b.pending.push_back((self.offset + i as u64, c == b'\n'));
                }
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn line_of_position(pos: &csv::Position, breaks: &Mutex<LineBreaks>) -> u64 {
    match breaks.lock() {
        Ok(mut b) => b.line_at(pos.byte()),
        Err(_) => pos.line(),
    }
}

fn csv_error(e: &csv::Error, fallback_line: u64, breaks: &Mutex<LineBreaks>) -> RowError {
    let line = e
        .position()
        .map(|p| line_of_position(p, breaks))
        .unwrap_or(fallback_line);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} columns as in the header, found {len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 text in field {}", err.field() + 1),
        csv::ErrorKind::Io(err) => format!("cannot read: {err}"),
        _ => e.to_string(),
    };
    RowError { line, message }
}

fn check_headers(h: csv::StringRecord) -> Result<csv::StringRecord, RowError> {
    let mut seen = std::collections::HashSet::new();
    for (i, name) in h.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(RowError {
                line: 1,
                message: format!("header column {} has no name", i + 1),
            });
        }
        if !seen.insert(name) {
            return Err(RowError {
                line: 1,
                message: format!("header names column `{name}` twice"),
            });
        }
    }
    if h.is_empty() {
        return Err(RowError {
            line: 1,
            message: "the header row is empty".into(),
        });
    }
    Ok(h)
}

impl Iterator for CsvRows {
    type Item = Result<Row, RowError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let headers = match &self.headers {
            Ok(h) => h,
            Err(e) => {
                self.done = true;
                return Some(Err(e.clone()));
            }
        };
        match self.reader.read_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self
                    .record
                    .position()
                    .map(|p| line_of_position(p, &self.breaks))
                    .unwrap_or(0);
                let mut map = JsonMap::new();
                for (name, cell) in headers.iter().zip(self.record.iter()) {
                    // An empty cell means "no value": optional inputs and pre-annotations stay absent.
                    if !cell.is_empty() {
                        map.insert(name.to_owned(), Value::String(cell.to_owned()));
                    }
                }
                Some(record_to_spec(map, line))
            }
            Err(e) => {
                self.done = true;
                Some(Err(csv_error(&e, 0, &self.breaks)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn embedded(text: &'static str, format: TaskFileFormat) -> TaskFile {
        TaskFile::embedded("test", text, format)
    }

    #[test]
    fn format_follows_the_extension() {
        use TaskFileFormat::*;
        assert_eq!(TaskFileFormat::from_path(Path::new("a.JSONL")), Some(Jsonl));
        assert_eq!(
            TaskFileFormat::from_path(Path::new("a.ndjson")),
            Some(Jsonl)
        );
        assert_eq!(TaskFileFormat::from_path(Path::new("dir/a.csv")), Some(Csv));
        assert_eq!(TaskFileFormat::from_path(Path::new("a.txt")), None);
        assert_eq!(TaskFileFormat::from_path(Path::new("a")), None);
    }

    #[test]
    fn jsonl_rows_keep_line_numbers_across_blank_lines() {
        let f = embedded(
            "{\"url\":\"u1\",\"external_id\":\"k1\"}\n\n   \n{\"url\":\"u2\",\"output_label\":\"\\\"cat\\\"\",\"priority\":3}\n",
            TaskFileFormat::Jsonl,
        );
        let rows: Vec<Row> = f.rows().unwrap().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 1);
        assert_eq!(rows[0].spec.external_key.as_deref(), Some("k1"));
        assert_eq!(rows[1].line, 4);
        assert_eq!(
            rows[1].spec.pre_annotations_by_target()["label"],
            json!("cat")
        );
        assert_eq!(rows[1].spec.priority, Some(3));
        let s = f.validate().unwrap();
        assert_eq!((s.rows, s.first_line, s.last_line), (2, Some(1), Some(4)));
        assert_eq!(s.lines.line_of(0), Some(1));
        assert_eq!(s.lines.line_of(1), Some(4));
        assert_eq!(s.lines.line_of(2), None);
    }

    #[test]
    fn bad_jsonl_lines_are_reported_by_line_and_column_name() {
        let f = embedded("{\"url\":\"u1\"}\n{\"url\": oops}\n", TaskFileFormat::Jsonl);
        let err = f.validate().unwrap_err();
        assert_eq!(err.code, crate::exit::code::INPUT);
        assert!(
            err.message.contains("test: line 2: invalid JSON at column"),
            "{}",
            err.message
        );

        let f = embedded(
            "{\"url\":\"u1\",\"output_label\":\"{nope\"}\n",
            TaskFileFormat::Jsonl,
        );
        let err = f.validate().unwrap_err();
        assert!(
            err.message.contains("line 1") && err.message.contains("output_label"),
            "{}",
            err.message
        );

        let f = embedded("[1,2]\n", TaskFileFormat::Jsonl);
        assert!(f
            .validate()
            .unwrap_err()
            .message
            .contains("expected a JSON object, found an array"));

        let f = embedded("\n\n", TaskFileFormat::Jsonl);
        assert!(f.validate().unwrap_err().message.contains("no tasks"));

        let f = embedded("{}\n", TaskFileFormat::Jsonl);
        assert!(f.validate().unwrap_err().message.contains("no columns"));
    }

    #[test]
    fn csv_rows_map_columns_and_skip_empty_cells() {
        let f = embedded(
            "url,name,external_id,output_label,priority\nhttps://x/1.jpg,one,k1,\"\"\"dog\"\"\",2\nhttps://x/2.jpg,,k2,,\n",
            TaskFileFormat::Csv,
        );
        let rows: Vec<Row> = f.rows().unwrap().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].spec.inputs["url"], json!("https://x/1.jpg"));
        assert_eq!(rows[0].spec.inputs["name"], json!("one"));
        assert_eq!(
            rows[0].spec.pre_annotations_by_target()["label"],
            json!("dog")
        );
        assert_eq!(rows[0].spec.priority, Some(2));
        assert_eq!(rows[1].line, 3);
        assert!(!rows[1].spec.inputs.contains_key("name"));
        assert!(rows[1].spec.pre_annotations.is_empty());
        assert_eq!(rows[1].spec.priority, None);
    }

    #[test]
    fn bad_csv_rows_are_reported_by_line() {
        let f = embedded("url,name\na,b\nc\n", TaskFileFormat::Csv);
        let err = f.validate().unwrap_err();
        assert!(
            err.message.contains("line 3") && err.message.contains("expected 2 columns"),
            "{}",
            err.message
        );

        let f = embedded("url,output_boxes\na,{bad\n", TaskFileFormat::Csv);
        let err = f.validate().unwrap_err();
        assert!(
            err.message.contains("line 2") && err.message.contains("output_boxes"),
            "{}",
            err.message
        );

        let f = embedded("url,url\na,b\n", TaskFileFormat::Csv);
        assert!(f.validate().unwrap_err().message.contains("twice"));

        let f = embedded("url,priority\na,high\n", TaskFileFormat::Csv);
        let err = f.validate().unwrap_err();
        assert!(err.message.contains("line 2") && err.message.contains("priority"));
    }

    #[test]
    fn plain_text_pre_annotations_are_strings_and_broken_json_is_still_an_error() {
        let f = embedded(
            "{\"url\":\"u\",\"output_label\":\"cat\",\"output_n\":\"3\"}\n",
            TaskFileFormat::Jsonl,
        );
        let rows: Vec<Row> = f.rows().unwrap().map(Result::unwrap).collect();
        let pre = rows[0].spec.pre_annotations_by_target();
        assert_eq!(pre["label"], json!("cat"));
        assert_eq!(pre["n"], json!(3));
        let f = embedded("url,output_label\nu,tabby cat\n", TaskFileFormat::Csv);
        let rows: Vec<Row> = f.rows().unwrap().map(Result::unwrap).collect();
        assert_eq!(
            rows[0].spec.pre_annotations_by_target()["label"],
            json!("tabby cat")
        );
        let f = embedded("url,output_boxes\nu,{bad\n", TaskFileFormat::Csv);
        assert!(f.validate().is_err());
    }

    #[test]
    fn a_pretty_printed_json_array_is_a_list_of_tasks() {
        let f = TaskFile::embedded("tasks.json",
            "\u{feff}[\n  {\n    \"url\": \"u1\",\n    \"external_id\": \"k1\"\n  },\n  {\"url\": \"u2\"}\n]\n",
            TaskFileFormat::Jsonl,
        );
        let s = f.validate().unwrap();
        assert_eq!((s.rows, s.first_line, s.last_line), (2, Some(2), Some(6)));
        let rows: Vec<Row> = f.rows().unwrap().map(Result::unwrap).collect();
        assert_eq!(rows[0].spec.external_key.as_deref(), Some("k1"));
        let f = TaskFile::embedded(
            "tasks.json",
            "[\n {\"url\": \"u1\"},\n {\"url\": oops}\n]",
            TaskFileFormat::Jsonl,
        );
        let err = f.validate().unwrap_err();
        assert!(err.message.contains("line 3"), "{}", err.message);
        let f = TaskFile::embedded(
            "tasks.json",
            "[{\"url\": \"u1\"}, 3]",
            TaskFileFormat::Jsonl,
        );
        assert!(f.validate().unwrap_err().message.contains("JSON object"));
        let f = TaskFile::embedded("tasks.json", "[]", TaskFileFormat::Jsonl);
        assert!(f.validate().unwrap_err().message.contains("no tasks"));
    }

    #[test]
    fn crlf_csv_rows_have_their_real_line_numbers() {
        let f = embedded(
            "url,name\r\na,b\r\n\r\nc,d\r\ne,\"two\r\nlines\"\r\nf,g\r\n",
            TaskFileFormat::Csv,
        );
        let lines: Vec<u64> = f.rows().unwrap().map(|r| r.unwrap().line).collect();
        assert_eq!(lines, vec![2, 4, 5, 7]);
        let f = embedded("url,name\r\na,b\r\nc,d\r\nx\r\n", TaskFileFormat::Csv);
        let err = f.validate().unwrap_err();
        assert!(err.message.contains("line 4"), "{}", err.message);
        let f = embedded("url,name\na,b\n\nc,d\n", TaskFileFormat::Csv);
        let lines: Vec<u64> = f.rows().unwrap().map(|r| r.unwrap().line).collect();
        assert_eq!(lines, vec![2, 4]);
    }

    #[test]
    fn multi_line_csv_cells_keep_the_row_start_line() {
        let f = embedded("url,name\na,\"two\nlines\"\nb,c\n", TaskFileFormat::Csv);
        let s = f.validate().unwrap();
        assert_eq!(s.rows, 2);
        assert_eq!(s.lines.line_of(0), Some(2));
        assert_eq!(s.lines.line_of(1), Some(4));
    }

    #[test]
    fn line_index_handles_irregular_gaps() {
        let mut ix = LineIndex::default();
        for line in [1, 2, 3, 7, 8, 20] {
            ix.push(line);
        }
        let got: Vec<_> = (0..6).map(|i| ix.line_of(i).unwrap()).collect();
        assert_eq!(got, vec![1, 2, 3, 7, 8, 20]);
        assert_eq!(ix.breaks.len(), 3);
    }

    #[test]
    fn missing_files_and_unknown_extensions_are_clear_errors() {
        let err = TaskFile::open(Path::new("/nonexistent/tasks.jsonl"), None).unwrap_err();
        assert_eq!(err.code, crate::exit::code::INPUT);
        assert!(err.message.contains("/nonexistent/tasks.jsonl"));
        let err = TaskFile::open(Path::new("tasks.txt"), None).unwrap_err();
        assert_eq!(err.code, crate::exit::code::USAGE);
        assert!(err.message.contains("--format"));
    }

    fn rows_of(n: usize, tag: &str) -> String {
        (0..n)
            .map(|i| {
                format!("{{\"url\":\"https://x/{tag}{i}.jpg\",\"external_id\":\"{tag}-{i}\"}}\n")
            })
            .collect()
    }

    #[test]
    fn a_file_changed_after_validation_is_refused_before_or_while_sending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        // Another size: refused before a row is read.
        std::fs::write(&path, rows_of(3, "a")).unwrap();
        let f = TaskFile::open(&path, None).unwrap();
        f.validate().unwrap();
        std::fs::write(&path, rows_of(4, "a")).unwrap();
        let err = f.rows().err().expect("refused");
        assert!(
            err.message.contains("changed after it was validated"),
            "{}",
            err.message
        );

        // Same size and time, other bytes: the rows stop with an error at the changed block.
        let original = rows_of(3, "a");
        std::fs::write(&path, &original).unwrap();
        let f = TaskFile::open(&path, None).unwrap();
        f.validate().unwrap();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, original.replace("a1.jpg", "b1.jpg")).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        let rows: Vec<_> = f.rows().unwrap().collect();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let err = rows[0].as_ref().unwrap_err();
        assert!(
            err.message.contains("changed after it was validated"),
            "{err}"
        );

        // Unchanged: exactly the rows validated.
        std::fs::write(&path, &original).unwrap();
        let f = TaskFile::open(&path, None).unwrap();
        assert_eq!(f.validate().unwrap().rows, 3);
        let keys: Vec<String> = f
            .rows()
            .unwrap()
            .map(|r| r.unwrap().spec.external_key.unwrap())
            .collect();
        assert_eq!(keys, ["a-0", "a-1", "a-2"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_read_once_into_a_spool_that_goes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("t.jsonl");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, rows_of(1000, "f")).unwrap())
        };
        let f = TaskFile::open(&fifo, None).unwrap();
        assert!(f.is_stream());
        assert_eq!(f.validate().unwrap().rows, 1000);
        writer.join().unwrap();
        // Read twice more without the writer: the spool answers.
        for _ in 0..2 {
            assert_eq!(f.rows().unwrap().filter(|r| r.is_ok()).count(), 1000);
        }
        let spool = match &f.source {
            Source::Stream(s) => s.spool_path().unwrap(),
            _ => unreachable!(),
        };
        assert!(spool.exists());
        drop(f);
        assert!(!spool.exists(), "the spool goes with the task file");
    }

    #[cfg(unix)]
    #[test]
    fn a_stream_with_a_bad_row_leaves_no_spool() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("t.jsonl");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                // The reader stops at the bad row; the rest may meet a closed pipe.
                let _ = std::fs::write(
                    fifo,
                    format!("{}{{bad\n{}", rows_of(5, "x"), rows_of(5000, "y")),
                );
            })
        };
        let f = TaskFile::open(&fifo, None).unwrap();
        let err = f.validate().unwrap_err();
        assert!(err.message.contains("line 6"), "{}", err.message);
        match &f.source {
            Source::Stream(s) => assert!(s.spool_path().is_none()),
            _ => unreachable!(),
        }
        assert!(f.rows().is_err(), "a stream cannot be read again");
        drop(f);
        writer.join().unwrap();
    }

    #[test]
    fn the_bundled_sample_parses() {
        let f = embedded(crate::SAMPLE_TASKS, TaskFileFormat::Jsonl);
        let s = f.validate().unwrap();
        assert_eq!(s.rows, 200);
        let with_label = f
            .rows()
            .unwrap()
            .filter(|r| {
                r.as_ref()
                    .unwrap()
                    .spec
                    .pre_annotations
                    .iter()
                    .any(|p| p.target == "label")
            })
            .count();
        assert_eq!(with_label, 50);
    }
}
