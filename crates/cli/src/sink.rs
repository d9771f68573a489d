//! The file deliveries are written to: JSONL or CSV, one delivery at a time, made durable
//! (flush + fsync) on request so a consumer cursor is committed only after what it covers is
//! on disk.

use labelmux::{BatchId, Delivery, ProjectId, RawJson, TaskId, Vendor};
use serde::Serialize;
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Format of a deliveries file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryFormat {
    /// One JSON object per delivery: task_id, external_key, project_id, batch_id,
    /// delivered_at, answers (and, with `--raw`, the vendor's raw record).
    Jsonl,
    /// A header row, then task_id, external_key, project_id, batch_id, delivered_at and
    /// answers (as JSON text) per delivery.
    Csv,
    /// A COCO instances file (boxes, polygons; `docs/annotations.md`).
    Coco,
    /// A YOLO dataset directory: `labels/*.txt`, `data.yaml`, `images.csv`.
    Yolo,
    /// A Parquet file of the delivery table schema (docs/tables.md), written in row groups
    /// and renamed into place when complete.
    Parquet,
}

impl DeliveryFormat {
    /// `.csv` means CSV, `.parquet` Parquet; anything else JSONL.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => DeliveryFormat::Csv,
            Some(e) if e.eq_ignore_ascii_case("parquet") => DeliveryFormat::Parquet,
            _ => DeliveryFormat::Jsonl,
        }
    }
}

/// One delivery as written to a JSONL file (the consumer checkpoint is internal and left out).
/// The answers are written once, as the vendor's JSON text; the vendor's raw record (which
/// holds them again) only when asked for.
#[derive(Serialize)]
struct Line<'a> {
    task_id: &'a TaskId,
    external_key: &'a Option<String>,
    project_id: &'a ProjectId,
    batch_id: &'a Option<BatchId>,
    delivered_at: Option<String>,
    answers: &'a RawJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a RawJson>,
    /// The vendor-neutral reading (labelmux JSONL), when the writer has a vendor.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    labels: Option<Labels>,
}

/// The neutral annotations of a line (`labelmux::io::labelmux_jsonl::Record` reads them back).
#[derive(Serialize)]
struct Labels {
    vendor: Vendor,
    image: labelmux::ImageInfo,
    annotations: Vec<labelmux::Annotation>,
    not_normalized: Vec<labelmux::NotNormalized>,
}

const CSV_HEADER: [&str; 6] = [
    "task_id",
    "external_key",
    "project_id",
    "batch_id",
    "delivered_at",
    "answers",
];

enum Inner {
    Jsonl(BufWriter<File>),
    Csv(Box<csv::Writer<File>>),
}

/// Writes deliveries to a file.
pub struct DeliveryWriter {
    inner: Inner,
    path: PathBuf,
    written: u64,
    unsynced: u64,
    /// Deliveries written since the last sync or write-behind.
    unflushed: u64,
    /// fsyncs made.
    syncs: u64,
    dir_synced: bool,
    dropped: u64,
    /// Bytes after the committed length cut off by [`DeliveryWriter::open_resuming`].
    uncommitted: u64,
    annotations_of: Option<Vendor>,
    with_raw: bool,
    /// File offset up to which writeback was last requested (see `write_behind`).
    hinted: u64,
}

/// [`DeliveryWriter::write_behind`] asks the kernel to start writing once this much is new.
const WRITE_BEHIND_BYTES: u64 = 8 * 1024 * 1024;

impl DeliveryWriter {
    /// Open `path`: appended to when `append` (a consumer run resuming), else truncated.
    /// The parent directory is created if missing.
    pub fn open(path: &Path, format: DeliveryFormat, append: bool) -> io::Result<Self> {
        Self::open_with(path, format, append, None)
    }

    /// Open `path` to append a consumer's deliveries, first cutting it back to `committed`
    /// bytes (the durable length the consumer's last commit covers) when it is longer: what
    /// follows was written by a run that stopped before committing it, and the resumed pull
    /// delivers it again. A file not longer than `committed` is kept whole.
    pub fn open_resuming(
        path: &Path,
        format: DeliveryFormat,
        committed: Option<u64>,
    ) -> io::Result<Self> {
        Self::open_with(path, format, true, committed)
    }

    fn open_with(
        path: &Path,
        format: DeliveryFormat,
        append: bool,
        committed: Option<u64>,
    ) -> io::Result<Self> {
        if format == DeliveryFormat::Parquet {
            // Parquet files are written by `labelmux::io::table` (commands::deliveries_table).
            return Err(io::Error::other("Parquet is not a line format"));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)?;
        let mut existing = file.seek(SeekFrom::End(0))?;
        let mut uncommitted = 0;
        if let Some(keep) = committed.filter(|&keep| append && keep < existing) {
            file.set_len(keep)?;
            uncommitted = existing - keep;
            existing = file.seek(SeekFrom::End(0))?;
        }
        let mut dropped = 0;
        if append && existing > 0 {
            let kept = repair_tail(&mut file, existing, format)?;
            dropped = existing - kept;
            existing = file.seek(SeekFrom::End(0))?;
        }
        let inner = match format {
            DeliveryFormat::Coco | DeliveryFormat::Yolo => {
                return Err(io::Error::other(
                    "COCO and YOLO are written by the label exporters, not line by line",
                ))
            }
            DeliveryFormat::Jsonl | DeliveryFormat::Parquet => {
                Inner::Jsonl(BufWriter::with_capacity(256 * 1024, file))
            }
            DeliveryFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(file);
                // An appended CSV already has its header.
                if existing == 0 {
                    w.write_record(CSV_HEADER).map_err(csv_io)?;
                }
                Inner::Csv(Box::new(w))
            }
        };
        Ok(DeliveryWriter {
            inner,
            path: path.to_owned(),
            written: 0,
            unsynced: 0,
            unflushed: 0,
            syncs: 0,
            dir_synced: false,
            dropped,
            uncommitted,
            annotations_of: None,
            with_raw: false,
            hinted: existing,
        })
    }

    /// Bytes written after the consumer's last commit by a run that stopped before its next
    /// one, cut off by [`DeliveryWriter::open_resuming`] (they are delivered again).
    pub fn uncommitted_bytes(&self) -> u64 {
        self.uncommitted
    }

    /// The file's length; after [`DeliveryWriter::sync`], its durable length.
    pub fn file_len(&self) -> io::Result<u64> {
        let file = match &self.inner {
            Inner::Jsonl(w) => w.get_ref(),
            Inner::Csv(w) => w.get_ref(),
        };
        Ok(file.metadata()?.len())
    }

    /// Add `vendor`'s answers read as neutral annotations to every JSONL line (labelmux JSONL).
    pub fn with_annotations(mut self, vendor: Vendor) -> Self {
        self.annotations_of = Some(vendor);
        self
    }

    /// Also write each delivery's raw vendor record (`raw`) in JSONL lines.
    pub fn with_raw(mut self, with_raw: bool) -> Self {
        self.with_raw = with_raw;
        self
    }

    /// Bytes of an incomplete last record (left by a run killed mid-write) that
    /// [`DeliveryWriter::open`] cut off before appending; 0 when the file ended cleanly. Such a
    /// record was never covered by a committed consumer cursor, so it is delivered again.
    pub fn dropped_partial_bytes(&self) -> u64 {
        self.dropped
    }

    /// Write one delivery (buffered; see [`DeliveryWriter::sync`]).
    pub fn write(&mut self, d: &Delivery) -> io::Result<()> {
        let delivered_at = d.delivered_at.map(|t| t.to_rfc3339());
        match &mut self.inner {
            Inner::Jsonl(w) => {
                let line = Line {
                    task_id: &d.task_id,
                    external_key: &d.external_key,
                    project_id: &d.project_id,
                    batch_id: &d.batch_id,
                    delivered_at,
                    answers: &d.answers,
                    raw: self.with_raw.then_some(&d.raw),
                    labels: self.annotations_of.map(|vendor| {
                        let n = labelmux::io::export::normalize(vendor, d);
                        Labels {
                            vendor,
                            image: n.image,
                            annotations: n.annotations,
                            not_normalized: n.not_normalized,
                        }
                    }),
                };
                serde_json::to_writer(&mut *w, &line).map_err(io::Error::other)?;
                w.write_all(b"\n")?;
            }
            Inner::Csv(w) => {
                w.write_record([
                    d.task_id.as_str(),
                    d.external_key.as_deref().unwrap_or(""),
                    d.project_id.as_str(),
                    d.batch_id.as_ref().map(BatchId::as_str).unwrap_or(""),
                    delivered_at.as_deref().unwrap_or(""),
                    d.answers.as_str(),
                ])
                .map_err(csv_io)?;
            }
        }
        self.written += 1;
        self.unsynced += 1;
        self.unflushed += 1;
        Ok(())
    }

    /// Flush buffers and fsync the file (and, the first time, its directory, so a newly
    /// created file survives a crash too). After this returns, everything written is durable.
    pub fn sync(&mut self) -> io::Result<()> {
        let file = match &mut self.inner {
            Inner::Jsonl(w) => {
                w.flush()?;
                w.get_ref()
            }
            Inner::Csv(w) => {
                w.flush()?;
                w.get_ref()
            }
        };
        file.sync_data()?;
        self.syncs += 1;
        if !self.dir_synced {
            // Directories cannot be opened for sync on every platform; best effort.
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
            self.dir_synced = true;
        }
        self.unsynced = 0;
        self.unflushed = 0;
        Ok(())
    }

    /// Without promising durability: hand what is buffered to the kernel and, once
    /// `WRITE_BEHIND_BYTES` are new, ask it to start writing them to disk without waiting
    /// (Linux: `sync_file_range(SYNC_FILE_RANGE_WRITE)`; elsewhere only the flush). Pulls that
    /// commit no cursor call this between pages and [`DeliveryWriter::sync`] once at the end,
    /// which then has little left to write.
    pub fn write_behind(&mut self) -> io::Result<()> {
        let file = match &mut self.inner {
            Inner::Jsonl(w) => {
                w.flush()?;
                w.get_ref()
            }
            Inner::Csv(w) => {
                w.flush()?;
                w.get_ref()
            }
        };
        self.unflushed = 0;
        let end = file.metadata()?.len();
        if end.saturating_sub(self.hinted) >= WRITE_BEHIND_BYTES {
            start_writeback(file, self.hinted, end - self.hinted);
            self.hinted = end;
        }
        Ok(())
    }

    /// Deliveries written by this writer.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Deliveries written since the last [`DeliveryWriter::sync`].
    pub fn unsynced(&self) -> u64 {
        self.unsynced
    }

    /// Deliveries written since the last [`DeliveryWriter::sync`] or
    /// [`DeliveryWriter::write_behind`].
    pub fn unflushed(&self) -> u64 {
        self.unflushed
    }

    /// How many times the file was synced.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Ask the kernel to start writing `len` bytes of `file` from `offset` to disk, without waiting
/// for it. Only a hint: a failure changes nothing (the final sync reports real errors).
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor belongs to `file`, which is borrowed for the whole call;
    // sync_file_range reads no memory of this process.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// Make a file about to be appended to end with a whole record. Every record this writer
/// writes ends with a newline, so bytes after the last newline are either a record someone
/// wrote without one (kept, and terminated) or a record cut short by a crash (removed: no cursor
/// covers it, so the resumed pull writes it again). Returns the length kept.
fn repair_tail(file: &mut File, len: u64, format: DeliveryFormat) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    // Find the last newline, reading backwards; the tail after it is collected on the way.
    let mut tail: Vec<u8> = Vec::new();
    let mut end = len;
    let mut cut = 0;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let mut buf = vec![0; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        if let Some(pos) = buf.iter().rposition(|&b| b == b'\n') {
            cut = start + pos as u64 + 1;
            buf.drain(..=pos);
            buf.extend_from_slice(&tail);
            tail = buf;
            break;
        }
        buf.extend_from_slice(&tail);
        tail = buf;
        end = start;
    }
    if tail.is_empty() {
        return Ok(len);
    }
    if is_whole_record(&tail, format) {
        file.seek(SeekFrom::End(0))?;
        file.write_all(b"\n")?;
        return Ok(len);
    }
    file.set_len(cut)?;
    file.seek(SeekFrom::End(0))?;
    Ok(cut)
}

/// Whether `bytes` (no trailing newline) hold one complete record of `format`.
fn is_whole_record(bytes: &[u8], format: DeliveryFormat) -> bool {
    match format {
        DeliveryFormat::Jsonl
        | DeliveryFormat::Coco
        | DeliveryFormat::Yolo
        | DeliveryFormat::Parquet => serde_json::from_slice::<Value>(bytes).is_ok(),
        DeliveryFormat::Csv => {
            // An odd number of quotes means a quoted field was cut short.
            if bytes.iter().filter(|&&b| b == b'"').count() % 2 != 0 {
                return false;
            }
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(bytes);
            let records: Vec<csv::StringRecord> = match r.records().collect() {
                Ok(v) => v,
                Err(_) => return false,
            };
            match records.as_slice() {
                [rec] if rec.len() == CSV_HEADER.len() => {
                    // The last field is the answers' JSON text (or, for the header, its name).
                    rec.get(CSV_HEADER.len() - 1)
                        .is_some_and(|a| a == "answers" || serde_json::from_str::<Value>(a).is_ok())
                }
                _ => false,
            }
        }
    }
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery(i: u32) -> Delivery {
        Delivery {
            id: labelmux::DeliveryId::new(format!("t{i}")),
            labelset: None,
            review: None,
            updated_at: None,
            task_id: TaskId::new(format!("t{i}")),
            external_key: Some(format!("k{i}")),
            project_id: ProjectId::new("1001"),
            batch_id: Some(BatchId::new("7")),
            delivered_at: None,
            answers: json!({"label": "cat, \"fluffy\""}).into(),
            raw: json!({"id": format!("t{i}"), "answers": {"label": "cat, \"fluffy\""}}).into(),
            checkpoint: Some(labelmux::Checkpoint(json!(i))),
        }
    }

    #[test]
    fn jsonl_appends_on_consumer_runs_and_truncates_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.jsonl");
        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Jsonl, false).unwrap();
        w.write(&delivery(1)).unwrap();
        w.write(&delivery(2)).unwrap();
        assert_eq!(w.unsynced(), 2);
        w.sync().unwrap();
        assert_eq!((w.written(), w.unsynced()), (2, 0));
        drop(w);
        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Jsonl, true).unwrap();
        w.write(&delivery(3)).unwrap();
        w.sync().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["task_id"], "t3");
        assert_eq!(lines[0]["answers"]["label"], "cat, \"fluffy\"");
        assert!(lines[0].get("checkpoint").is_none());
        // The answers are in the line once; the raw record only on request.
        assert!(lines[0].get("raw").is_none());
        assert_eq!(text.lines().next().unwrap().matches("fluffy").count(), 1);
        let w = DeliveryWriter::open(&path, DeliveryFormat::Jsonl, false).unwrap();
        drop(w);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn the_raw_record_is_written_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Jsonl, false)
            .unwrap()
            .with_raw(true);
        w.write(&delivery(1)).unwrap();
        w.sync().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["raw"]["id"], "t1");
        assert_eq!(line["raw"]["answers"], line["answers"]);
    }

    #[test]
    fn a_record_cut_short_by_a_crash_is_removed_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Jsonl, true).unwrap();
        w.write(&delivery(1)).unwrap();
        w.write(&delivery(2)).unwrap();
        w.sync().unwrap();
        drop(w);
        // A kill -9 in the middle of writing delivery 3.
        let whole = std::fs::read(&path).unwrap();
        let line3 = serde_json::to_string(&json!({"task_id": "t3", "answers": {}})).unwrap();
        let mut broken = whole.clone();
        broken.extend_from_slice(&line3.as_bytes()[..line3.len() / 2]);
        std::fs::write(&path, &broken).unwrap();

        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Jsonl, true).unwrap();
        assert_eq!(w.dropped_partial_bytes(), (line3.len() / 2) as u64);
        w.write(&delivery(3)).unwrap();
        w.sync().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["task_id"].to_string())
            .collect();
        assert_eq!(ids, ["\"t1\"", "\"t2\"", "\"t3\""]);

        // A whole last record without its newline (written by someone else) is kept.
        std::fs::write(&path, r#"{"task_id":"x"}"#).unwrap();
        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Jsonl, true).unwrap();
        assert_eq!(w.dropped_partial_bytes(), 0);
        w.write(&delivery(4)).unwrap();
        w.sync().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.starts_with("{\"task_id\":\"x\"}\n"), "{text}");
    }

    #[test]
    fn resuming_cuts_what_no_commit_covers_and_keeps_a_shorter_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut w = DeliveryWriter::open_resuming(&path, DeliveryFormat::Csv, None).unwrap();
        w.write(&delivery(1)).unwrap();
        w.sync().unwrap();
        let committed = w.file_len().unwrap();
        // Written and synced, then killed before the commit.
        w.write(&delivery(2)).unwrap();
        w.sync().unwrap();
        drop(w);
        let mut w =
            DeliveryWriter::open_resuming(&path, DeliveryFormat::Csv, Some(committed)).unwrap();
        assert!(w.uncommitted_bytes() > 0);
        assert_eq!(w.file_len().unwrap(), committed);
        w.write(&delivery(2)).unwrap();
        w.sync().unwrap();
        drop(w);
        let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&path)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect();
        let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
        assert_eq!(ids, ["t1", "t2"]);
        // Cut to nothing: the header is written again.
        let w = DeliveryWriter::open_resuming(&path, DeliveryFormat::Csv, Some(0)).unwrap();
        drop(w);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().next(),
            Some(CSV_HEADER.join(",").as_str())
        );
        // A file shorter than the commit (replaced by someone) is kept whole.
        let w = DeliveryWriter::open_resuming(&path, DeliveryFormat::Csv, Some(1 << 20)).unwrap();
        assert_eq!(w.uncommitted_bytes(), 0);
    }

    #[test]
    fn a_csv_record_cut_inside_its_answers_is_removed_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Csv, true).unwrap();
        w.write(&delivery(1)).unwrap();
        w.sync().unwrap();
        drop(w);
        let mut broken = std::fs::read(&path).unwrap();
        broken.extend_from_slice(b"t2,k2,1001,7,,\"{\"\"label\"\":\"\"ca");
        std::fs::write(&path, &broken).unwrap();
        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Csv, true).unwrap();
        assert!(w.dropped_partial_bytes() > 0);
        w.write(&delivery(2)).unwrap();
        w.sync().unwrap();
        let mut r = csv::Reader::from_path(&path).unwrap();
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
        assert_eq!(ids, ["t1", "t2"]);

        // Only a header cut short: the file is rebuilt with a whole header.
        std::fs::write(&path, b"task_id,exter").unwrap();
        let mut w = DeliveryWriter::open(&path, DeliveryFormat::Csv, true).unwrap();
        w.write(&delivery(5)).unwrap();
        w.sync().unwrap();
        let mut r = csv::Reader::from_path(&path).unwrap();
        assert_eq!(r.headers().unwrap(), CSV_HEADER.as_slice());
        assert_eq!(r.records().count(), 1);
    }

    #[test]
    fn csv_writes_the_header_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        assert_eq!(DeliveryFormat::from_path(&path), DeliveryFormat::Csv);
        for i in 0..2 {
            let mut w = DeliveryWriter::open(&path, DeliveryFormat::Csv, true).unwrap();
            w.write(&delivery(i)).unwrap();
            w.sync().unwrap();
        }
        let mut r = csv::Reader::from_path(&path).unwrap();
        assert_eq!(r.headers().unwrap(), CSV_HEADER.as_slice());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[1][0], "t1");
        let answers: Value = serde_json::from_str(&rows[0][5]).unwrap();
        assert_eq!(answers["label"], "cat, \"fluffy\"");
    }
}
