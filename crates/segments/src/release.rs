//! Reading a release file as a stream: one sample at a time, never the whole file in memory.
//!
//! A release file is one JSON object (spec §7.2), `{"name", ..., "dataset": {"name", "owner",
//! "task_type", "labelsets", ..., "samples": [ {...}, {...}, ... ]}}`, and may hold millions of
//! samples. [`ReleaseReader`] runs a small depth-tracking scanner over the byte stream: it finds
//! `dataset.samples`, cuts out each element's bytes and decodes that element alone with
//! `serde_json`; every other member of the release and of `dataset` is kept in a
//! [`ReleaseHeader`] (small). Memory is one network chunk plus one sample, whatever the file
//! size. (No incremental JSON crate fits an async byte stream without a blocking thread; see
//! `docs/decisions/0008-segments-client.md`.)

use crate::wire::{self, LabelAttributes, LabelStatus, SampleAttributes, TaskType, WithRaw};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use labelmux_core::{Error, JsonMap, Result, Vendor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

const OP: &str = "read_release_file";

/// Largest single sample (or header member) accepted, in bytes: far above any real sample, low
/// enough that a corrupt file cannot exhaust memory.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 256 * 1024 * 1024;

fn err(message: String) -> Error {
    Error::decode(message)
        .with_vendor(Vendor::Segments)
        .with_operation(OP)
}

/// A label of a release-file sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseLabel {
    /// Status.
    #[serde(default)]
    pub label_status: Option<LabelStatus>,
    /// Attributes typed by the dataset's task type (JSON as sent in `raw`).
    #[serde(skip)]
    pub attributes: Option<LabelAttributes>,
    /// Creation time.
    #[serde(default, deserialize_with = "labelmux_core::lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Creator.
    #[serde(default, deserialize_with = "labelmux_core::lenient::opt_string")]
    pub created_by: Option<String>,
    /// The JSON as written in the file.
    #[serde(skip)]
    pub raw: Value,
}

/// One sample of a release file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseSample {
    /// UUID.
    #[serde(deserialize_with = "labelmux_core::lenient::string_or_number")]
    pub uuid: String,
    /// Name.
    #[serde(deserialize_with = "labelmux_core::lenient::string_or_number")]
    pub name: String,
    /// Attributes, typed by shape.
    #[serde(default)]
    pub attributes: SampleAttributes,
    /// Metadata.
    #[serde(default, deserialize_with = "labelmux_core::lenient::map_or_empty")]
    pub metadata: JsonMap,
    /// Labels by labelset name; `None` where the sample is unlabeled in that labelset.
    #[serde(skip)]
    pub labels: BTreeMap<String, Option<ReleaseLabel>>,
    /// The JSON as written in the file.
    #[serde(skip)]
    pub raw: Value,
}

impl ReleaseSample {
    /// Decode one element of `dataset.samples`; labels are typed by `task_type`.
    pub fn from_value(value: Value, task_type: Option<&TaskType>) -> Result<ReleaseSample> {
        let mut s: ReleaseSample = wire::decode(value, "release-file sample")?;
        if let Some(Value::Object(labels)) = s.raw.get("labels") {
            for (labelset, v) in labels {
                let label = match v {
                    Value::Object(_) => {
                        let mut l = ReleaseLabel::deserialize(v).map_err(|e| {
                            Error::decode(format!(
                                "unexpected label of labelset {labelset:?} in release-file sample {:?}: {e}",
                                s.uuid
                            ))
                        })?;
                        l.attributes = v
                            .get("attributes")
                            .filter(|a| !a.is_null())
                            .map(|a| LabelAttributes::from_value(task_type, a));
                        l.raw = v.clone();
                        Some(l)
                    }
                    _ => None,
                };
                s.labels.insert(labelset.clone(), label);
            }
        }
        Ok(s)
    }

    /// The label of `labelset`, if the sample has one there.
    pub fn label(&self, labelset: &str) -> Option<&ReleaseLabel> {
        self.labels.get(labelset).and_then(Option::as_ref)
    }
}

impl WithRaw for ReleaseSample {
    fn set_raw(&mut self, raw: Value) {
        self.raw = raw;
    }
}

/// The members of a release file other than the samples, as far as they were read. Members
/// written before `dataset.samples` (Segments writes name, owner, task type and labelsets
/// first) are known when the first sample is read; all of them once the stream has ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReleaseHeader {
    /// Top-level members except `dataset` (`name`, `description`, `created_at`, ...).
    pub release: JsonMap,
    /// Members of `dataset` except `samples` (`name`, `owner`, `task_type`, `labelsets`, ...).
    pub dataset: JsonMap,
}

impl ReleaseHeader {
    fn str_of<'a>(m: &'a JsonMap, k: &str) -> Option<&'a str> {
        m.get(k).and_then(Value::as_str)
    }

    /// The release name.
    pub fn name(&self) -> Option<&str> {
        Self::str_of(&self.release, "name")
    }

    /// The dataset name.
    pub fn dataset_name(&self) -> Option<&str> {
        Self::str_of(&self.dataset, "name")
    }

    /// The dataset owner (a name; an owner object's `username` is accepted too).
    pub fn owner(&self) -> Option<&str> {
        match self.dataset.get("owner")? {
            Value::String(s) => Some(s),
            Value::Object(o) => o.get("username").and_then(Value::as_str),
            _ => None,
        }
    }

    /// The dataset task type.
    pub fn task_type(&self) -> Option<TaskType> {
        Self::str_of(&self.dataset, "task_type").map(TaskType::parse)
    }

    /// Labelset names, in file order.
    pub fn labelsets(&self) -> Vec<String> {
        self.dataset
            .get("labelsets")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// The scanner
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum ObjState {
    KeyOrEnd,
    Key,
    Colon,
    Value,
    CommaOrEnd,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ArrState {
    ValueOrEnd,
    Value,
    CommaOrEnd,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Frame {
    Object(ObjState),
    Array(ArrState),
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Release(String),
    Dataset(String),
    Sample,
}

struct Capture {
    target: Target,
    /// Stack depth at which the captured value started (its parent's depth).
    depth: usize,
    buf: Vec<u8>,
}

/// What the scanner found in the bytes fed so far.
enum Found {
    Sample(Vec<u8>),
    Header(Target, Vec<u8>),
}

/// A push scanner over the release file's bytes.
struct Scanner {
    stack: Vec<Frame>,
    root_started: bool,
    root_done: bool,
    in_string: bool,
    string_is_key: bool,
    escape: bool,
    in_literal: bool,
    key_buf: Vec<u8>,
    /// The key whose value comes next, at depth 1 (root members) and 2 (dataset members).
    key_top: String,
    key_dataset: String,
    dataset_seen: bool,
    samples_seen: bool,
    capture: Option<Capture>,
    offset: u64,
    max_value_bytes: usize,
    found: VecDeque<Found>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

impl Scanner {
    fn new(max_value_bytes: usize) -> Self {
        Scanner {
            stack: Vec::with_capacity(16),
            root_started: false,
            root_done: false,
            in_string: false,
            string_is_key: false,
            escape: false,
            in_literal: false,
            key_buf: Vec::new(),
            key_top: String::new(),
            key_dataset: String::new(),
            dataset_seen: false,
            samples_seen: false,
            capture: None,
            offset: 0,
            max_value_bytes,
            found: VecDeque::new(),
        }
    }

    fn syntax(&self, what: &str) -> Error {
        err(format!(
            "the release file is not the JSON Segments.ai writes: {what} at byte {}",
            self.offset
        ))
    }

    fn push_capture(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(c) = &mut self.capture {
            if c.buf.len() + bytes.len() > self.max_value_bytes {
                return Err(err(format!(
                    "a value of the release file (ending past byte {}) is larger than {} bytes",
                    self.offset, self.max_value_bytes
                )));
            }
            c.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        let mut i = 0;
        while i < chunk.len() {
            if self.in_string {
                // Copy the run up to the next quote or backslash in one go.
                let rest = &chunk[i..];
                if self.escape {
                    self.escape = false;
                    self.string_byte(&rest[..1])?;
                    i += 1;
                    self.offset += 1;
                    continue;
                }
                let run = rest
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\')
                    .unwrap_or(rest.len());
                self.string_byte(&rest[..run])?;
                i += run;
                self.offset += run as u64;
                if i < chunk.len() {
                    let b = chunk[i];
                    self.string_byte(&[b])?;
                    i += 1;
                    self.offset += 1;
                    if b == b'\\' {
                        self.escape = true;
                    } else {
                        self.end_string()?;
                    }
                }
                continue;
            }
            let b = chunk[i];
            if self.in_literal {
                if is_ws(b) || matches!(b, b',' | b']' | b'}') {
                    self.in_literal = false;
                    self.value_ended()?;
                    // The delimiter is structural: handled below.
                } else {
                    self.push_capture(&[b])?;
                    i += 1;
                    self.offset += 1;
                    continue;
                }
            }
            self.structural(b)?;
            i += 1;
            self.offset += 1;
        }
        Ok(())
    }

    fn string_byte(&mut self, bytes: &[u8]) -> Result<()> {
        self.push_capture(bytes)?;
        if self.string_is_key && self.capture.is_none() {
            if self.key_buf.len() + bytes.len() > 1 << 20 {
                return Err(self.syntax("a member name longer than 1 MiB"));
            }
            self.key_buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn end_string(&mut self) -> Result<()> {
        self.in_string = false;
        if !self.string_is_key {
            return self.value_ended();
        }
        if self.capture.is_none() {
            // key_buf holds the raw text and its closing quote.
            let mut quoted = Vec::with_capacity(self.key_buf.len() + 1);
            quoted.push(b'"');
            quoted.extend_from_slice(&self.key_buf);
            self.key_buf.clear();
            let key: String = serde_json::from_slice(&quoted)
                .map_err(|_| self.syntax("a member name that is not a JSON string"))?;
            match self.stack.len() {
                1 => self.key_top = key,
                2 => self.key_dataset = key,
                _ => {}
            }
        }
        if let Some(Frame::Object(s)) = self.stack.last_mut() {
            *s = ObjState::Colon;
        }
        Ok(())
    }

    /// A scalar or container value just ended.
    fn value_ended(&mut self) -> Result<()> {
        let depth = self.stack.len();
        if self.capture.as_ref().is_some_and(|c| c.depth == depth) {
            if let Some(c) = self.capture.take() {
                self.found.push_back(match c.target {
                    Target::Sample => Found::Sample(c.buf),
                    t => Found::Header(t, c.buf),
                });
            }
        }
        if depth == 0 {
            self.root_done = true;
        }
        Ok(())
    }

    fn expecting_value(&self) -> bool {
        match self.stack.last() {
            None => !self.root_started,
            Some(Frame::Object(s)) => *s == ObjState::Value,
            Some(Frame::Array(s)) => matches!(s, ArrState::ValueOrEnd | ArrState::Value),
        }
    }

    fn start_value(&mut self, b: u8) -> Result<()> {
        let depth = self.stack.len();
        if self.capture.is_none() {
            match depth {
                0 => {
                    if b != b'{' {
                        return Err(self.syntax("the file is not a JSON object"));
                    }
                    self.root_started = true;
                }
                1 if self.key_top == "dataset" => {
                    if b != b'{' {
                        return Err(self.syntax("`dataset` is not an object"));
                    }
                    self.dataset_seen = true;
                }
                1 => {
                    self.capture = Some(Capture {
                        target: Target::Release(self.key_top.clone()),
                        depth,
                        buf: Vec::new(),
                    })
                }
                2 if self.key_dataset == "samples" && !self.samples_seen => {
                    if b != b'[' {
                        return Err(self.syntax("`dataset.samples` is not an array"));
                    }
                    self.samples_seen = true;
                }
                2 => {
                    self.capture = Some(Capture {
                        target: Target::Dataset(self.key_dataset.clone()),
                        depth,
                        buf: Vec::new(),
                    })
                }
                3 => {
                    self.capture = Some(Capture {
                        target: Target::Sample,
                        depth,
                        buf: Vec::with_capacity(1024),
                    })
                }
                _ => return Err(self.syntax("an unexpected value")),
            }
        }
        // The parent now waits for a comma or its end.
        match self.stack.last_mut() {
            Some(Frame::Object(s)) => *s = ObjState::CommaOrEnd,
            Some(Frame::Array(s)) => *s = ArrState::CommaOrEnd,
            None => {}
        }
        self.push_capture(&[b])?;
        match b {
            b'{' => self.stack.push(Frame::Object(ObjState::KeyOrEnd)),
            b'[' => self.stack.push(Frame::Array(ArrState::ValueOrEnd)),
            b'"' => {
                self.in_string = true;
                self.string_is_key = false;
            }
            _ => self.in_literal = true,
        }
        Ok(())
    }

    fn close(&mut self, b: u8) -> Result<()> {
        self.push_capture(&[b])?;
        self.stack.pop();
        self.value_ended()
    }

    fn structural(&mut self, b: u8) -> Result<()> {
        if is_ws(b) {
            return Ok(());
        }
        if self.root_done {
            return Err(self.syntax("content after the end of the JSON object"));
        }
        if self.expecting_value() {
            if matches!(b, b']') && self.stack.last() == Some(&Frame::Array(ArrState::ValueOrEnd)) {
                return self.close(b);
            }
            if matches!(
                b,
                b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
            ) {
                return self.start_value(b);
            }
            return Err(self.syntax(&format!("unexpected {:?} where a value belongs", b as char)));
        }
        match self.stack.last().copied() {
            Some(Frame::Object(ObjState::KeyOrEnd | ObjState::Key)) if b == b'"' => {
                self.push_capture(&[b])?;
                self.in_string = true;
                self.string_is_key = true;
                Ok(())
            }
            Some(Frame::Object(ObjState::KeyOrEnd)) if b == b'}' => self.close(b),
            Some(Frame::Object(ObjState::Colon)) if b == b':' => {
                self.push_capture(&[b])?;
                if let Some(Frame::Object(s)) = self.stack.last_mut() {
                    *s = ObjState::Value;
                }
                Ok(())
            }
            Some(Frame::Object(ObjState::CommaOrEnd)) if b == b',' => {
                self.push_capture(&[b])?;
                if let Some(Frame::Object(s)) = self.stack.last_mut() {
                    *s = ObjState::Key;
                }
                Ok(())
            }
            Some(Frame::Object(ObjState::CommaOrEnd)) if b == b'}' => self.close(b),
            Some(Frame::Array(ArrState::CommaOrEnd)) if b == b',' => {
                self.push_capture(&[b])?;
                if let Some(Frame::Array(s)) = self.stack.last_mut() {
                    *s = ArrState::Value;
                }
                Ok(())
            }
            Some(Frame::Array(ArrState::CommaOrEnd)) if b == b']' => self.close(b),
            _ => Err(self.syntax(&format!("unexpected {:?}", b as char))),
        }
    }

    fn finish(&mut self) -> Result<()> {
        if self.in_literal && self.stack.is_empty() {
            self.in_literal = false;
            self.value_ended()?;
        }
        if !self.root_done {
            return Err(err(format!(
                "the release file ended early, after {} bytes (the download was cut or the file is incomplete)",
                self.offset
            )));
        }
        if !self.samples_seen {
            return Err(err(
                "the release file has no `dataset.samples` array".to_owned()
            ));
        }
        Ok(())
    }
}

/// Reads the samples of a release file from its byte stream, one at a time.
pub struct ReleaseReader {
    bytes: BoxStream<'static, Result<Bytes>>,
    scanner: Scanner,
    header: ReleaseHeader,
    task_type: Option<TaskType>,
    read: u64,
    ended: bool,
    failed: bool,
}

impl std::fmt::Debug for ReleaseReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseReader")
            .field("samples_read", &self.read)
            .field("bytes_read", &self.scanner.offset)
            .field("ended", &self.ended)
            .finish()
    }
}

impl ReleaseReader {
    /// A reader of the release file whose bytes `bytes` yields.
    pub fn new(bytes: BoxStream<'static, Result<Bytes>>) -> Self {
        Self::with_max_value_bytes(bytes, DEFAULT_MAX_VALUE_BYTES)
    }

    /// Like [`ReleaseReader::new`], refusing any sample larger than `max_value_bytes`.
    pub fn with_max_value_bytes(
        bytes: BoxStream<'static, Result<Bytes>>,
        max_value_bytes: usize,
    ) -> Self {
        ReleaseReader {
            bytes,
            scanner: Scanner::new(max_value_bytes),
            header: ReleaseHeader::default(),
            task_type: None,
            read: 0,
            ended: false,
            failed: false,
        }
    }

    /// The members other than samples read so far (see [`ReleaseHeader`]).
    pub fn header(&self) -> &ReleaseHeader {
        &self.header
    }

    /// Samples yielded so far.
    pub fn samples_read(&self) -> u64 {
        self.read
    }

    /// Bytes of the file scanned so far.
    pub fn bytes_read(&self) -> u64 {
        self.scanner.offset
    }

    /// The next sample, `None` at the end of the file. After an error, always `None`.
    pub async fn next_sample(&mut self) -> Result<Option<ReleaseSample>> {
        match self.next_inner().await {
            Err(e) => {
                self.failed = true;
                Err(e)
            }
            ok => ok,
        }
    }

    async fn next_inner(&mut self) -> Result<Option<ReleaseSample>> {
        loop {
            if self.failed {
                return Ok(None);
            }
            while let Some(found) = self.scanner.found.pop_front() {
                match found {
                    Found::Sample(buf) => {
                        let index = self.read;
                        let value: Value = serde_json::from_slice(&buf).map_err(|e| {
                            err(format!(
                                "sample #{index} of the release file is not valid JSON: {e}"
                            ))
                        })?;
                        drop(buf);
                        let sample = ReleaseSample::from_value(value, self.task_type.as_ref())
                            .map_err(|e| e.with_vendor(Vendor::Segments).with_operation(OP))?;
                        self.read += 1;
                        return Ok(Some(sample));
                    }
                    Found::Header(target, buf) => {
                        let value: Value = serde_json::from_slice(&buf).map_err(|e| {
                            err(format!(
                                "a member of the release file is not valid JSON: {e}"
                            ))
                        })?;
                        match target {
                            Target::Release(k) => {
                                self.header.release.insert(k, value);
                            }
                            Target::Dataset(k) => {
                                if k == "task_type" {
                                    self.task_type = value.as_str().map(TaskType::parse);
                                }
                                self.header.dataset.insert(k, value);
                            }
                            Target::Sample => {}
                        }
                    }
                }
            }
            if self.ended {
                return Ok(None);
            }
            match self.bytes.next().await {
                Some(Ok(chunk)) => self.scanner.feed(&chunk)?,
                Some(Err(e)) => return Err(e.with_operation(OP)),
                None => {
                    self.scanner.finish()?;
                    self.ended = true;
                }
            }
        }
    }

    /// The samples as a stream (the header is not reachable from it; use
    /// [`ReleaseReader::next_sample`] for both). An error ends the stream after it is yielded.
    pub fn into_stream(self) -> BoxStream<'static, Result<ReleaseSample>> {
        stream::unfold(self, |mut reader| async move {
            match reader.next_sample().await {
                Ok(Some(s)) => Some((Ok(s), reader)),
                Ok(None) => None,
                Err(e) => Some((Err(e), reader)),
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests;
