//! A local journal of the batches `tasks create` opened: which file went to which batch of
//! which endpoint, and whether it was sent whole. It lets `batches list` work on vendors that
//! cannot list batches (Sama) and `tasks create --resume` skip what was already sent.
//!
//! One JSON object per line in `<state dir>/batches.jsonl`, appended (and fsynced) when the
//! vendor opens a batch, when the receipt arrives and when the run is interrupted. The last
//! entry of a batch wins.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// How far a journaled batch got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The vendor opened the batch; the rows were being handed over.
    Opened,
    /// The run was interrupted (Ctrl-C) after the batch was opened.
    Interrupted,
    /// The vendor acknowledged every row of the file (its receipt arrived).
    Sent,
}

impl Stage {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Opened => "opened",
            Stage::Interrupted => "interrupted",
            Stage::Sent => "sent",
        }
    }
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When this entry was written.
    pub at: DateTime<Utc>,
    /// Vendor name.
    pub vendor: String,
    /// The API base URL the batch lives at.
    pub endpoint: String,
    /// Project id.
    pub project: String,
    /// Batch id.
    pub batch_id: String,
    /// The task file (absolute path).
    pub file: String,
    /// Its length in bytes when it was sent.
    pub file_len: u64,
    /// Rows in the file.
    pub rows: u64,
    /// Rows handed to the vendor so far (all of them once `Sent`).
    pub handed_over: u64,
    /// How far it got.
    pub stage: Stage,
}

impl Entry {
    /// Whether this entry is about `file` sent to `project` at `endpoint` of `vendor`.
    pub fn is_for(&self, vendor: &str, endpoint: &str, project: &str, file: &str) -> bool {
        self.vendor == vendor
            && self.endpoint == endpoint
            && self.project == project
            && self.file == file
    }
}

/// The journal file under a state directory.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// The journal of the state directory `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Journal {
            path: dir.join("batches.jsonl"),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry durably.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&line)?;
        f.sync_data()
    }

    /// Every entry, oldest first. Lines that do not parse (a write cut short) are skipped.
    pub fn entries(&self) -> std::io::Result<Vec<Entry>> {
        let f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in std::io::BufReader::new(f).lines() {
            if let Ok(entry) = serde_json::from_str::<Entry>(&line?) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// The latest entry of each batch matching `keep`, newest batch first.
    pub fn batches(&self, keep: impl Fn(&Entry) -> bool) -> std::io::Result<Vec<Entry>> {
        let mut latest: Vec<Entry> = Vec::new();
        for e in self.entries()?.into_iter().filter(|e| keep(e)) {
            match latest
                .iter_mut()
                .find(|x| x.batch_id == e.batch_id && x.endpoint == e.endpoint)
            {
                Some(x) => *x = e,
                None => latest.push(e),
            }
        }
        latest.reverse();
        Ok(latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(batch: &str, stage: Stage) -> Entry {
        Entry {
            at: Utc::now(),
            vendor: "sama".into(),
            endpoint: "http://x/v2".into(),
            project: "1001".into(),
            batch_id: batch.into(),
            file: "/t.jsonl".into(),
            file_len: 10,
            rows: 3,
            handed_over: 0,
            stage,
        }
    }

    #[test]
    fn the_last_entry_of_a_batch_wins_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::in_dir(&dir.path().join("state"));
        assert!(j.entries().unwrap().is_empty());
        j.append(&entry("1", Stage::Opened)).unwrap();
        j.append(&entry("2", Stage::Opened)).unwrap();
        j.append(&entry("1", Stage::Sent)).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(j.path())
            .unwrap();
        f.write_all(b"{\"at\":").unwrap();
        let b = j.batches(|_| true).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].batch_id.as_str(), b[0].stage), ("2", Stage::Opened));
        assert_eq!((b[1].batch_id.as_str(), b[1].stage), ("1", Stage::Sent));
        assert!(b[0].is_for("sama", "http://x/v2", "1001", "/t.jsonl"));
        assert!(!b[0].is_for("scale", "http://x/v2", "1001", "/t.jsonl"));
    }
}
