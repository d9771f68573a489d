//! Reading a task file twice (validate, then send) without sending anything but what was
//! validated:
//!
//! - a pipe or FIFO (`--from <(cat f)`, `mkfifo`) is read once: its bytes are copied to a spool
//!   file as the validation pass reads them ([`StreamInput`]), and the sending pass reads the
//!   spool; the stream is never opened again;
//! - a regular file is fingerprinted by the validation pass (size, modification time and a hash
//!   of each block, [`Fingerprint`]); the sending pass refuses a file whose size or time changed,
//!   and verifies every block before any byte of it is parsed ([`BlockReader`]), so a file
//!   changed in between ends with a clear error instead of sending other rows than were checked;
//! - an external key repeated with other data is an error naming both lines ([`KeyCheck`]).

use labelmux::TaskSpec;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// Bytes per verified block: one block is held in memory while it is read.
const BLOCK: usize = 256 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// A pipe, FIFO or other stream given as a task file: read once, into a spool file.
#[derive(Debug)]
pub struct StreamInput {
    path: PathBuf,
    /// File name suffix of the spool (the format's extension, for readers that look at it).
    suffix: &'static str,
    state: Mutex<StreamState>,
}

#[derive(Debug)]
enum StreamState {
    /// Not opened yet (opening a FIFO waits for its writer).
    Unopened,
    /// Being copied by the first reader.
    Reading,
    /// Read to its end; every later read is of this file (removed when dropped).
    Spooled(tempfile::TempPath),
    /// The first reader stopped before the end, or the spool was discarded.
    Incomplete,
}

impl StreamInput {
    /// The stream at `path`, not opened yet.
    pub fn new(path: &Path, suffix: &'static str) -> Self {
        StreamInput {
            path: path.to_owned(),
            suffix,
            state: Mutex::new(StreamState::Unopened),
        }
    }

    /// The path given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The spool file, once the stream has been read to its end.
    pub fn spool_path(&self) -> Option<PathBuf> {
        match &*lock(&self.state) {
            StreamState::Spooled(p) => Some(p.to_path_buf()),
            _ => None,
        }
    }

    /// Remove the spool file now (e.g. on Ctrl-C, while another thread may still read it).
    pub fn discard(&self) {
        let old = std::mem::replace(&mut *lock(&self.state), StreamState::Incomplete);
        if let StreamState::Spooled(p) = old {
            let _ = p.close();
        }
    }

    /// A reader of the content: the first call reads the stream itself and copies it to a
    /// spool file as it goes; later calls read the spool.
    pub fn reader(self: &Arc<Self>) -> std::io::Result<Box<dyn BufRead + Send>> {
        let mut state = lock(&self.state);
        match &*state {
            StreamState::Spooled(p) => {
                let f = File::open(p)?;
                return Ok(Box::new(BufReader::with_capacity(64 * 1024, f)));
            }
            StreamState::Reading | StreamState::Incomplete => {
                return Err(std::io::Error::other(format!(
                    "{} is a stream and was not read to its end; it cannot be read again",
                    self.path.display()
                )))
            }
            StreamState::Unopened => {}
        }
        *state = StreamState::Reading;
        drop(state);
        let opened = File::open(&self.path).and_then(|source| {
            let spool = labelmux::spool::spool_file(None, "labelmux-input-", self.suffix)?;
            Ok((source, spool))
        });
        let (source, spool) = match opened {
            Ok(x) => x,
            Err(e) => {
                *lock(&self.state) = StreamState::Incomplete;
                return Err(e);
            }
        };
        let (file, path) = spool.into_parts();
        Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            Tee {
                source,
                copy: Some((std::io::BufWriter::with_capacity(256 * 1024, file), path)),
                owner: Arc::clone(self),
            },
        )))
    }

    /// Read the whole stream into the spool now (for formats read by path, e.g. Parquet), and
    /// return the spool's path.
    pub fn spool_all(self: &Arc<Self>) -> std::io::Result<PathBuf> {
        if let Some(p) = self.spool_path() {
            return Ok(p);
        }
        let mut r = self.reader()?;
        std::io::copy(&mut r, &mut std::io::sink())?;
        drop(r);
        self.spool_path().ok_or_else(|| {
            std::io::Error::other(format!("{} could not be spooled", self.path.display()))
        })
    }
}

/// Passes the stream's bytes through and copies them to the spool; at the end, hands the
/// spool to its [`StreamInput`].
struct Tee {
    source: File,
    copy: Option<(std::io::BufWriter<File>, tempfile::TempPath)>,
    owner: Arc<StreamInput>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.source.read(buf)?;
        let Some((out, _)) = self.copy.as_mut() else {
            return Ok(n);
        };
        if n > 0 {
            out.write_all(&buf[..n])?;
            return Ok(n);
        }
        // The end: the spool is complete.
        if let Some((mut out, path)) = self.copy.take() {
            out.flush()?;
            drop(out);
            *lock(&self.owner.state) = StreamState::Spooled(path);
        }
        Ok(0)
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // Stopped before the end (a bad row, an error): the copy is partial and removed.
        if self.copy.take().is_some() {
            *lock(&self.owner.state) = StreamState::Incomplete;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files on disk
// ---------------------------------------------------------------------------------------------

/// Size and modification time of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stat {
    /// Of the file at `path`.
    pub fn of(path: &Path) -> std::io::Result<Stat> {
        let m = std::fs::metadata(path)?;
        Ok(Stat {
            len: m.len(),
            modified: m.modified().ok(),
        })
    }

    /// What differs from `then`, in words, or `None`.
    pub fn change_since(&self, then: &Stat) -> Option<String> {
        if self.len != then.len {
            return Some(format!("{} bytes then, {} now", then.len, self.len));
        }
        if self.modified != then.modified {
            return Some("modified since".to_owned());
        }
        None
    }
}

/// What the validation pass read of a file: its size and time, and a hash per block.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// Size and time when validation began.
    pub stat: Stat,
    blocks: Vec<u64>,
    len: u64,
}

/// Collects a [`Fingerprint`] as the validation pass reads.
#[derive(Debug, Default)]
pub struct Recording {
    blocks: Vec<u64>,
    len: u64,
    complete: bool,
}

impl Recording {
    /// The fingerprint, if the file was read to its end.
    pub fn finish(&self, stat: Stat) -> Option<Fingerprint> {
        self.complete.then(|| Fingerprint {
            stat,
            blocks: self.blocks.clone(),
            len: self.len,
        })
    }
}

fn block_hash(block: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    // One call per block, in both passes: the hash never depends on how reads were split.
    h.write(block);
    h.finish()
}

/// What a [`BlockReader`] does with each block.
pub enum BlockMode {
    /// Hash it into the recording.
    Record(Arc<Mutex<Recording>>),
    /// Compare it with the fingerprint before handing out any byte of it.
    Verify(Arc<Fingerprint>),
}

/// Reads a file a block at a time, recording or verifying each block's hash.
pub struct BlockReader {
    inner: File,
    name: String,
    mode: BlockMode,
    buf: Vec<u8>,
    pos: usize,
    index: usize,
    offset: u64,
    done: bool,
    /// A verification failed: every later read fails the same way, no byte is handed out.
    failed: Option<String>,
}

impl BlockReader {
    /// Read `file` (shown as `name` in errors).
    pub fn new(file: File, name: String, mode: BlockMode) -> Self {
        BlockReader {
            inner: file,
            name,
            mode,
            buf: Vec::with_capacity(BLOCK),
            pos: 0,
            index: 0,
            offset: 0,
            done: false,
            failed: None,
        }
    }

    /// Fail this read and every later one: the block read is dropped unseen.
    fn changed(&mut self, what: &str) -> std::io::Error {
        let text = format!(
            "{} changed after it was validated ({what}); rows from the changed part were not sent",
            self.name
        );
        self.buf.clear();
        self.pos = 0;
        self.failed = Some(text.clone());
        std::io::Error::other(text)
    }

    /// Read the next block into the buffer (empty at the end) and record or verify it.
    fn next_block(&mut self) -> std::io::Result<()> {
        if let Some(text) = &self.failed {
            return Err(std::io::Error::other(text.clone()));
        }
        self.buf.clear();
        self.pos = 0;
        let mut chunk = (&mut self.inner).take(BLOCK as u64);
        chunk.read_to_end(&mut self.buf)?;
        let start = self.offset;
        self.offset += self.buf.len() as u64;
        let problem = match &self.mode {
            BlockMode::Record(rec) => {
                let mut rec = lock(rec);
                if self.buf.is_empty() {
                    rec.complete = true;
                    rec.len = start;
                } else {
                    rec.blocks.push(block_hash(&self.buf));
                }
                None
            }
            BlockMode::Verify(fp) if self.buf.is_empty() => (start != fp.len)
                .then(|| format!("{} bytes were validated, it now ends after {start}", fp.len)),
            BlockMode::Verify(fp) => match fp.blocks.get(self.index) {
                Some(&h) if h == block_hash(&self.buf) => None,
                Some(_) => Some(format!("bytes {start}..{} differ", self.offset)),
                None => Some(format!("it grew past the {} bytes validated", fp.len)),
            },
        };
        if let Some(what) = problem {
            return Err(self.changed(&what));
        }
        if self.buf.is_empty() {
            self.done = true;
        }
        self.index += 1;
        Ok(())
    }
}

impl Read for BlockReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for BlockReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.failed.is_some() || (self.pos >= self.buf.len() && !self.done) {
            self.next_block()?;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Repeated external keys
// ---------------------------------------------------------------------------------------------

/// Finds an external key given to two rows with different data. Keeps about 40 bytes per keyed
/// row (hashes, not the rows).
#[derive(Debug, Default)]
pub struct KeyCheck {
    seen: HashMap<u128, (u64, u64)>,
}

/// Two rows with one external key and different data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedKey {
    /// The key.
    pub key: String,
    /// The line of the first row.
    pub first_line: u64,
    /// The line of the second.
    pub line: u64,
}

impl KeyCheck {
    /// Note the row at `line`; an error when its key was used by an earlier row with other data
    /// (the same data twice is the same task, and is let through).
    pub fn check(&mut self, spec: &TaskSpec, line: u64) -> Result<(), RepeatedKey> {
        let Some(key) = spec.external_key.as_deref() else {
            return Ok(());
        };
        let data = data_hash(spec);
        match self.seen.entry(key_hash(key)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((data, line));
                Ok(())
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let (first_data, first_line) = *o.get();
                if first_data == data {
                    Ok(())
                } else {
                    Err(RepeatedKey {
                        key: key.to_owned(),
                        first_line,
                        line,
                    })
                }
            }
        }
    }
}

/// 128 bits, so that two different keys never meet by chance in any real file.
fn key_hash(key: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// A hash of everything in a task but its key, object keys in sorted order (the order of fields
/// in a row does not make it other data).
fn data_hash(spec: &TaskSpec) -> u64 {
    let mut h = DefaultHasher::new();
    match serde_json::to_value(spec) {
        Ok(Value::Object(mut map)) => {
            map.remove("external_key");
            hash_value(&Value::Object(map), &mut h);
        }
        Ok(other) => hash_value(&other, &mut h),
        // Cannot happen for a TaskSpec; a row that cannot be encoded is its own data.
        Err(_) => spec.inputs.len().hash(&mut h),
    }
    h.finish()
}

fn hash_value(v: &Value, h: &mut DefaultHasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, n.to_string()).hash(h),
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            for i in items {
                hash_value(i, h);
            }
        }
        Value::Object(map) => {
            (5u8, map.len()).hash(h);
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                k.hash(h);
                hash_value(&map[k], h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value, key: &str) -> TaskSpec {
        TaskSpec::from_json(v).unwrap().with_external_key(key)
    }

    #[test]
    fn a_key_repeated_with_other_data_names_both_lines() {
        let mut k = KeyCheck::default();
        k.check(&spec(json!({"url": "a", "n": 1}), "k1"), 1)
            .unwrap();
        k.check(&spec(json!({"url": "b"}), "k2"), 2).unwrap();
        // Same data, fields in another order: the same task.
        k.check(&spec(json!({"n": 1, "url": "a"}), "k1"), 3)
            .unwrap();
        k.check(&TaskSpec::from_json(json!({"url": "c"})).unwrap(), 4)
            .unwrap();
        let err = k
            .check(&spec(json!({"url": "a", "n": 2}), "k1"), 5)
            .unwrap_err();
        assert_eq!(
            err,
            RepeatedKey {
                key: "k1".into(),
                first_line: 1,
                line: 5
            }
        );
        let mut k = KeyCheck::default();
        k.check(&spec(json!({"url": "a"}), "k"), 1).unwrap();
        let with_priority = spec(json!({"url": "a"}), "k").with_priority(3);
        assert!(k.check(&with_priority, 2).is_err());
    }

    #[test]
    fn a_verified_read_gives_the_recorded_bytes_and_refuses_any_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let content: Vec<u8> = (0..(BLOCK * 2 + 123)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let rec = Arc::new(Mutex::new(Recording::default()));
        let mut r = BlockReader::new(
            File::open(&path).unwrap(),
            "t".into(),
            BlockMode::Record(rec.clone()),
        );
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, content);
        let fp = Arc::new(lock(&rec).finish(Stat::of(&path).unwrap()).unwrap());
        let verify = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            let mut r = BlockReader::new(
                File::open(&path).unwrap(),
                "t".into(),
                BlockMode::Verify(fp.clone()),
            );
            let mut got = Vec::new();
            r.read_to_end(&mut got).map(|_| got)
        };
        assert_eq!(verify(&content).unwrap(), content);
        let mut changed = content.clone();
        changed[BLOCK + 5] ^= 1;
        let err = verify(&changed).unwrap_err().to_string();
        assert!(err.contains("changed after it was validated"), "{err}");
        assert!(verify(&content[..content.len() - 1]).is_err());
        let mut longer = content.clone();
        longer.push(b'\n');
        assert!(verify(&longer).is_err());
        // Nothing of a changed block is handed out.
        let mut r = BlockReader::new(
            File::open(&path).unwrap(),
            "t".into(),
            BlockMode::Verify(fp.clone()),
        );
        std::fs::write(&path, &changed).unwrap();
        let first = r.fill_buf().unwrap().len();
        assert_eq!(first, BLOCK);
        r.consume(first);
        assert!(r.fill_buf().is_err());
        // ...nor later: the failure sticks.
        assert!(r.fill_buf().is_err());
        assert!(r.read(&mut [0u8; 16]).is_err());
    }
}
