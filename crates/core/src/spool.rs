//! Spooling uploads: a stream of items written as JSON arrays to temporary files, in flat
//! memory, *before* anything is sent, so that a bad item aborts with nothing created and a failed
//! upload can be resent from disk (see `docs/decisions/0003-sama-upload-spooling.md`).
//!
//! Files are removed when their [`SpoolChunk`] is dropped, and at once when spooling fails.
//! Optionally the items are split into chunks of at most N bytes and/or M items (Labelbox takes
//! files of at most 10 MB).
//!
//! A process killed outright (`kill -9`, a power cut) cannot remove its files. Every spool file
//! is therefore named for the process that writes it (`<prefix>spool-<pid>-<random><suffix>`,
//! see [`spool_file`]), and the first spool file a process creates in a directory first removes
//! the spool files there whose process has ended ([`remove_stale_spools`]).

use crate::{Error, Result, Vendor};
use futures::stream::{BoxStream, StreamExt};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// What every spool file name starts with, whatever its prefix adds: how stale files of killed
/// runs are recognised.
pub const SPOOL_NAME_START: &str = "labelmux-";

/// Between the prefix and the writer's process id in a spool file name.
const PID_MARK: &str = "spool-";

/// Create an empty spool file in `dir` (`None`: the system's temporary directory), named
/// `<prefix>spool-<pid>-<random><suffix>` for this process, and removed when the returned guard
/// is dropped. `prefix` should start with [`SPOOL_NAME_START`] (it is added when it does not),
/// so that the file is removed on a later start should this process be killed. The first call
/// for a directory in this process removes the stale spool files there first.
pub fn spool_file(
    dir: Option<&Path>,
    prefix: &str,
    suffix: &str,
) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = dir.map(Path::to_owned).unwrap_or_else(std::env::temp_dir);
    sweep_once(&dir);
    let start = if prefix.starts_with(SPOOL_NAME_START) {
        ""
    } else {
        SPOOL_NAME_START
    };
    let prefix = format!("{start}{prefix}{PID_MARK}{}-", std::process::id());
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(suffix)
        .tempfile_in(&dir)
}

/// Remove stale spool files in `dir` once per process (later calls do nothing).
fn sweep_once(dir: &Path) {
    static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let first = SWEPT
        .lock()
        .map(|mut swept| {
            swept
                .get_or_insert_with(HashSet::new)
                .insert(dir.to_owned())
        })
        .unwrap_or(false);
    if first {
        let removed = remove_stale_spools(dir);
        if removed > 0 {
            tracing::info!(dir = %dir.display(), removed, "removed spool files left by killed runs");
        }
    }
}

/// Remove the spool files in `dir` left by processes that have ended (killed before they could
/// remove them): files named `labelmux-…spool-<pid>-…` whose process no longer exists. Files of
/// live processes, and files this process cannot remove, are left alone. Returns how many were
/// removed. On systems where a process cannot be looked up (non-Unix), nothing is removed.
pub fn remove_stale_spools(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(spool_writer) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if pid != me
            && is_file
            && process_is_gone(pid)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// The process id in a spool file name, if `name` is one.
fn spool_writer(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(SPOOL_NAME_START)?;
    let after = &rest[rest.find(PID_MARK)? + PID_MARK.len()..];
    let digits = after.split('-').next()?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || after.len() == digits.len()
    {
        return None;
    }
    digits.parse().ok()
}

/// Whether no process `pid` exists any more (a process of another user still exists).
#[cfg(unix)]
fn process_is_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 is not delivered; `kill` only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Without a way to look processes up, every file is taken to be in use.
#[cfg(not(unix))]
fn process_is_gone(_pid: u32) -> bool {
    false
}

/// Where and how to spool.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolOptions {
    /// Directory of the temporary files (default: the system's temporary directory).
    pub dir: Option<PathBuf>,
    /// File name prefix, e.g. `labelmux-sama-`.
    pub prefix: String,
    /// File name suffix.
    pub suffix: String,
    /// Largest file, in bytes (brackets and separators included). An item that alone exceeds
    /// it gets a file of its own rather than an error: the vendor decides.
    pub max_chunk_bytes: Option<u64>,
    /// Most items per file.
    pub max_chunk_items: Option<u64>,
    /// Vendor and operation named by the spooler's own errors (the input's errors are passed on
    /// unchanged).
    pub operation: Option<(Vendor, &'static str)>,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            dir: None,
            prefix: "labelmux-".to_owned(),
            suffix: ".json".to_owned(),
            max_chunk_bytes: None,
            max_chunk_items: None,
            operation: None,
        }
    }
}

impl SpoolOptions {
    /// Spool into `dir` (`None`: the system's temporary directory).
    pub fn in_dir(mut self, dir: Option<&Path>) -> Self {
        self.dir = dir.map(Path::to_owned);
        self
    }

    /// Name the files `<prefix>…<suffix>`.
    pub fn named(mut self, prefix: impl Into<String>, suffix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self.suffix = suffix.into();
        self
    }

    /// Split into files of at most `bytes` bytes.
    pub fn with_max_chunk_bytes(mut self, bytes: u64) -> Self {
        self.max_chunk_bytes = Some(bytes);
        self
    }

    /// Split into files of at most `items` items.
    pub fn with_max_chunk_items(mut self, items: u64) -> Self {
        self.max_chunk_items = Some(items.max(1));
        self
    }

    /// Name `vendor` and `operation` in the spooler's own errors.
    pub fn for_operation(mut self, vendor: Vendor, operation: &'static str) -> Self {
        self.operation = Some((vendor, operation));
        self
    }

    fn label(&self, e: Error) -> Error {
        match self.operation {
            Some((vendor, op)) => e.with_vendor(vendor).with_operation(op),
            None => e,
        }
    }
}

/// One spooled file: a JSON array of `items` items, `bytes` long. Deleted on drop.
#[derive(Debug)]
pub struct SpoolChunk {
    path: tempfile::TempPath,
    items: u64,
    bytes: u64,
}

impl SpoolChunk {
    /// Where the file is (valid while `self` lives).
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Items in the file.
    pub fn items(&self) -> u64 {
        self.items
    }
    /// Size of the file in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    /// The file's guard: the file is deleted when it is dropped.
    pub fn into_temp_path(self) -> tempfile::TempPath {
        self.path
    }
}

/// Progress is reported in batches so observers are not called once per item.
pub const PROGRESS_BATCH: u64 = 256;

/// Write `items` to temporary files as JSON arrays (`[`, items separated by `,\n`, `\n]`), one
/// at a time, and return the files in order. Without limits there is exactly one file (holding
/// `[\n]` when there are no items). `on_items(n)` is called as items are written, with `n` up to
/// [`PROGRESS_BATCH`]. An `Err` item is returned as is, and every file written so far is removed.
pub async fn spool_json_arrays<T, F>(
    mut items: BoxStream<'_, Result<T>>,
    options: &SpoolOptions,
    mut on_items: F,
) -> Result<Vec<SpoolChunk>>
where
    T: Serialize,
    F: FnMut(u64) + Send,
{
    let mut chunks = Vec::new();
    let mut current: Option<OpenChunk> = None;
    let mut encoded = Vec::with_capacity(4096);
    let mut index = 0u64;
    let mut unreported = 0u64;
    while let Some(item) = items.next().await {
        // An error of the input is the caller's: returned unchanged (files removed on drop).
        let item = item?;
        encoded.clear();
        serde_json::to_writer(&mut encoded, &item).map_err(|e| {
            options.label(Error::validation(format!(
                "item {index}: cannot encode as JSON: {e}"
            )))
        })?;
        if let Some(open) = current.take() {
            if open.fits(encoded.len() as u64, options) {
                current = Some(open);
            } else {
                chunks.push(open.finish(options).await?);
            }
        }
        let open = match current.as_mut() {
            Some(open) => open,
            None => current.insert(OpenChunk::create(options).await?),
        };
        open.push(&encoded, options).await?;
        index += 1;
        unreported += 1;
        if unreported == PROGRESS_BATCH {
            on_items(unreported);
            unreported = 0;
        }
    }
    let last = match current {
        Some(open) => open,
        None if chunks.is_empty() => OpenChunk::create(options).await?,
        None => return Ok(chunks),
    };
    chunks.push(last.finish(options).await?);
    if unreported > 0 {
        on_items(unreported);
    }
    Ok(chunks)
}

/// Write `items` as one JSON array to `out` (same layout as [`spool_json_arrays`]), one at a
/// time; returns how many were written. An `Err` item is returned as is, leaving `out`
/// incomplete.
pub async fn write_json_array<T, W, F>(
    mut items: BoxStream<'_, Result<T>>,
    out: &mut W,
    mut on_items: F,
) -> Result<u64>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
    F: FnMut(u64) + Send,
{
    let io = |e| Error::io("cannot write the JSON array", e);
    let mut buf = Vec::with_capacity(4096);
    let mut count = 0u64;
    let mut unreported = 0u64;
    out.write_all(b"[").await.map_err(io)?;
    while let Some(item) = items.next().await {
        let item = item?;
        buf.clear();
        if count > 0 {
            buf.push(b',');
        }
        buf.push(b'\n');
        serde_json::to_writer(&mut buf, &item)
            .map_err(|e| Error::validation(format!("item {count}: cannot encode as JSON: {e}")))?;
        out.write_all(&buf).await.map_err(io)?;
        count += 1;
        unreported += 1;
        if unreported == PROGRESS_BATCH {
            on_items(unreported);
            unreported = 0;
        }
    }
    out.write_all(b"\n]").await.map_err(io)?;
    out.flush().await.map_err(io)?;
    if unreported > 0 {
        on_items(unreported);
    }
    Ok(count)
}

/// A spool file being written.
struct OpenChunk {
    out: tokio::io::BufWriter<tokio::fs::File>,
    path: tempfile::TempPath,
    items: u64,
    bytes: u64,
}

impl OpenChunk {
    async fn create(options: &SpoolOptions) -> Result<OpenChunk> {
        let dir = options.dir.clone();
        let where_ = dir
            .as_deref()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "the temporary directory".into());
        // Off the async threads: the first file of a directory sweeps it.
        let (prefix, suffix) = (options.prefix.clone(), options.suffix.clone());
        let named =
            tokio::task::spawn_blocking(move || spool_file(dir.as_deref(), &prefix, &suffix))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
                .map_err(|e| {
                    options.label(Error::io(
                        format!("cannot create a spool file in {where_}"),
                        e,
                    ))
                })?;
        let (file, path) = named.into_parts();
        let mut chunk = OpenChunk {
            out: tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file)),
            path,
            items: 0,
            bytes: 0,
        };
        chunk.write(b"[", options).await?;
        Ok(chunk)
    }

    /// Whether one more item of `len` bytes keeps this chunk within the limits (an empty chunk
    /// takes any item).
    fn fits(&self, len: u64, options: &SpoolOptions) -> bool {
        if self.items == 0 {
            return true;
        }
        let items_ok = options.max_chunk_items.is_none_or(|m| self.items < m);
        // `,\n` before the item, `\n]` to close.
        let bytes_ok = options
            .max_chunk_bytes
            .is_none_or(|m| self.bytes + 2 + len + 2 <= m);
        items_ok && bytes_ok
    }

    async fn push(&mut self, encoded: &[u8], options: &SpoolOptions) -> Result<()> {
        let separator: &[u8] = if self.items > 0 { b",\n" } else { b"\n" };
        self.write(separator, options).await?;
        self.write(encoded, options).await?;
        self.items += 1;
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8], options: &SpoolOptions) -> Result<()> {
        self.out
            .write_all(bytes)
            .await
            .map_err(|e| self.io_error(e, options))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn io_error(&self, e: std::io::Error, options: &SpoolOptions) -> Error {
        options.label(Error::io(
            format!("cannot write the spool file {}", self.path.display()),
            e,
        ))
    }

    async fn finish(mut self, options: &SpoolOptions) -> Result<SpoolChunk> {
        self.write(b"\n]", options).await?;
        if let Err(e) = self.out.flush().await {
            return Err(self.io_error(e, options));
        }
        // Close the handle before the file is read back for the upload.
        drop(self.out);
        Ok(SpoolChunk {
            path: self.path,
            items: self.items,
            bytes: self.bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use futures::stream;
    use serde_json::{json, Value};

    fn rows(n: usize) -> Vec<Result<Value>> {
        (0..n)
            .map(|i| Ok(json!({"row_data": format!("https://x/{i}.jpg"), "q": "a \"b\"\n,]"})))
            .collect()
    }

    async fn spool(
        items: Vec<Result<Value>>,
        options: &SpoolOptions,
    ) -> (Result<Vec<SpoolChunk>>, u64) {
        let mut reported = 0u64;
        let r = spool_json_arrays(stream::iter(items).boxed(), options, |n| {
            assert!(n <= PROGRESS_BATCH);
            reported += n
        })
        .await;
        (r, reported)
    }

    fn read(chunk: &SpoolChunk) -> Vec<Value> {
        let bytes = std::fs::read(chunk.path()).unwrap();
        assert_eq!(bytes.len() as u64, chunk.bytes());
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn without_limits_one_file_holds_every_item_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let options = SpoolOptions::default()
            .in_dir(Some(dir.path()))
            .named("labelmux-test-", ".json");
        for n in [0usize, 1, 2, 1000] {
            let (chunks, reported) = spool(rows(n), &options).await;
            let chunks = chunks.unwrap();
            assert_eq!(chunks.len(), 1);
            assert_eq!(chunks[0].items(), n as u64);
            assert_eq!(reported, n as u64);
            let want: Vec<Value> = rows(n).into_iter().map(|r| r.unwrap()).collect();
            assert_eq!(read(&chunks[0]), want, "n = {n}");
            let name = chunks[0]
                .path()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                name.starts_with("labelmux-test-") && name.ends_with(".json"),
                "{name}"
            );
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "dropped files are removed"
        );
    }

    #[tokio::test]
    async fn chunks_respect_byte_and_item_limits_and_keep_every_item_once() {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<Value> = rows(500).into_iter().map(|r| r.unwrap()).collect();
        for (max_bytes, max_items) in [(Some(2_000), None), (None, Some(7)), (Some(1_500), Some(5))]
        {
            let mut options = SpoolOptions::default().in_dir(Some(dir.path()));
            options.max_chunk_bytes = max_bytes;
            options.max_chunk_items = max_items;
            let (chunks, reported) = spool(rows(500), &options).await;
            let chunks = chunks.unwrap();
            assert!(chunks.len() > 1);
            assert_eq!(reported, 500);
            let mut seen = Vec::new();
            for c in &chunks {
                assert!(
                    max_bytes.is_none_or(|m| c.bytes() <= m),
                    "{} bytes",
                    c.bytes()
                );
                assert!(
                    max_items.is_none_or(|m| c.items() <= m),
                    "{} items",
                    c.items()
                );
                let items = read(c);
                assert_eq!(items.len() as u64, c.items());
                seen.extend(items);
            }
            assert_eq!(seen, all, "{max_bytes:?} {max_items:?}");
            // Chunks are full: merging the next item into one would break a limit.
            let sizes: u64 = chunks.iter().map(SpoolChunk::items).sum();
            assert_eq!(sizes, 500);
        }
    }

    #[tokio::test]
    async fn an_item_larger_than_the_byte_limit_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let options = SpoolOptions::default()
            .in_dir(Some(dir.path()))
            .with_max_chunk_bytes(100);
        let items = vec![
            Ok(json!("small")),
            Ok(json!("x".repeat(300))),
            Ok(json!("small again")),
        ];
        let chunks = spool(items, &options).await.0.unwrap();
        let counts: Vec<u64> = chunks.iter().map(SpoolChunk::items).collect();
        assert_eq!(counts, [1, 1, 1]);
        assert!(chunks[1].bytes() > 300);
    }

    #[tokio::test]
    async fn a_bad_item_is_returned_unchanged_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let options = SpoolOptions::default()
            .in_dir(Some(dir.path()))
            .with_max_chunk_items(3)
            .for_operation(Vendor::Labelbox, "create_data_rows");
        let mut items = rows(10);
        items.insert(8, Err(Error::new(ErrorKind::Validation, "row 9: bad JSON")));
        let err = spool(items, &options).await.0.unwrap_err();
        assert_eq!(err.message(), "row 9: bad JSON");
        assert_eq!(err.vendor(), None, "the caller's error is not relabelled");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn an_unusable_directory_is_an_io_error_naming_it_and_the_operation() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir");
        let options = SpoolOptions::default()
            .in_dir(Some(&missing))
            .for_operation(Vendor::Sama, "create_task_batch");
        let err = spool(rows(1), &options).await.0.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(err.operation(), Some("create_task_batch"));
        assert!(err.message().contains("no/such/dir"), "{err}");
    }

    #[test]
    fn spool_file_names_carry_the_writer_process() {
        assert_eq!(
            spool_writer("labelmux-sama-spool-4242-Xa81kq.json"),
            Some(4242)
        );
        assert_eq!(spool_writer("labelmux-spool-7-abc"), Some(7));
        for other in [
            "labelmux-sama-4242.json",
            "other-spool-4242-x.json",
            "labelmux-spool--x.json",
            "labelmux-spool-12a-x.json",
            "labelmux-spool-12",
        ] {
            assert_eq!(spool_writer(other), None, "{other}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn stale_spools_of_ended_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has ended: its id is free (reuse within the test is unlikely).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::process::id();
        let parent = std::os::unix::process::parent_id();
        let names = [
            format!("labelmux-sama-spool-{dead}-aaaaaa.json"),
            format!("labelmux-input-spool-{dead}-bbbbbb.jsonl"),
            format!("labelmux-sama-spool-{live}-cccccc.json"),
            format!("labelmux-sama-spool-{parent}-dddddd.json"),
            format!("unrelated-spool-{dead}-eeeeee.json"),
        ];
        for n in &names {
            std::fs::write(dir.path().join(n), b"[]").unwrap();
        }
        assert_eq!(remove_stale_spools(dir.path()), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = names[2..].to_vec();
        want.sort();
        assert_eq!(left, want);
        // A new spool file sweeps its directory first, and is named for this process.
        std::fs::write(dir.path().join(&names[0]), b"[]").unwrap();
        let f = spool_file(Some(dir.path()), "labelmux-sama-", ".json").unwrap();
        let name = f.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(spool_writer(&name), Some(live), "{name}");
        assert!(!dir.path().join(&names[0]).exists());
    }

    #[tokio::test]
    async fn write_json_array_matches_the_spool_layout() {
        let mut out = Vec::new();
        let mut reported = 0;
        let n = write_json_array(stream::iter(rows(3)).boxed(), &mut out, |k| reported += k)
            .await
            .unwrap();
        assert_eq!((n, reported), (3, 3));
        let dir = tempfile::tempdir().unwrap();
        let options = SpoolOptions::default().in_dir(Some(dir.path()));
        let chunks = spool(rows(3), &options).await.0.unwrap();
        assert_eq!(std::fs::read(chunks[0].path()).unwrap(), out);
        let mut empty = Vec::new();
        write_json_array(stream::iter(rows(0)).boxed(), &mut empty, |_| {})
            .await
            .unwrap();
        assert_eq!(empty, b"[\n]");
    }
}
