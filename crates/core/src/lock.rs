//! Exclusive advisory locks that name their holder: one pull per consumer, one writer per output
//! file.
//!
//! A lock is a small file beside what it protects, locked with the operating system's advisory
//! lock (`flock` on Unix, `LockFileEx` on Windows, through the `fs4` crate) without waiting: a
//! second process is refused at once. The operating system releases the lock when its holder
//! exits, however it exits (`kill -9` included), so a lock is never stale and nothing has to be
//! cleaned up. The file stays, holding a record of its last holder (pid, host, start time,
//! purpose) that a refused process prints, and that the next holder can read back
//! ([`FileLock::previous`]).

use crate::{Error, ErrorKind, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Who holds (or last held) a lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockHolder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// The program (its executable's file name).
    #[serde(default)]
    pub program: String,
    /// When the lock was taken.
    pub started_at: DateTime<Utc>,
    /// What the holder is doing, e.g. "deliveries pull --consumer etl into out.jsonl".
    pub purpose: String,
    /// Data the holder keeps with its record (see [`FileLock::set_note`]).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub note: Value,
}

impl LockHolder {
    /// This process, starting now, doing `purpose`.
    pub fn this_process(purpose: impl Into<String>) -> LockHolder {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        LockHolder {
            pid: std::process::id(),
            host: host_name(),
            program,
            started_at: Utc::now(),
            purpose: purpose.into(),
            note: Value::Null,
        }
    }
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = if self.program.is_empty() {
            "process"
        } else {
            &self.program
        };
        write!(
            f,
            "{program} pid {} on {}, since {} ({})",
            self.pid,
            self.host,
            self.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
            self.purpose
        )
    }
}

/// The machine's name, best effort.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "this host".to_owned())
}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
    holder: LockHolder,
    previous: Option<LockHolder>,
}

impl FileLock {
    /// Take the lock kept in the file at `path` (created, with its directory, if missing),
    /// without waiting, and record `holder` in it. When another process (or another open of the
    /// same file in this one) holds it, the error is [`ErrorKind::Busy`] and names the holder;
    /// `subject` says what the lock protects ("consumer `etl`", "out.jsonl").
    pub fn acquire(path: &Path, subject: &str, holder: LockHolder) -> Result<FileLock> {
        let io = |what: &str, e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot {what} lock file {}: {e}", path.display()),
            )
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io("open", e))?;
        // Fully qualified: newer standard libraries have an inherent `File::try_lock` too.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => return Err(held(path, subject)),
            Err(fs4::TryLockError::Error(e)) => return Err(io("lock", e)),
        }
        let previous = read_record(&mut file);
        let mut lock = FileLock {
            file,
            path: path.to_owned(),
            holder,
            previous,
        };
        lock.write_record().map_err(|e| io("write", e))?;
        Ok(lock)
    }

    /// The record the previous holder left (a run that finished or was killed), read before
    /// this holder replaced it; `None` for a new lock file.
    pub fn previous(&self) -> Option<&LockHolder> {
        self.previous.as_ref()
    }

    /// This holder's record.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keep `note` in this holder's record, durably (the file is fsynced), so the next holder
    /// reads it back through [`FileLock::previous`] even after a crash.
    pub fn set_note(&mut self, note: Value) -> Result<()> {
        self.holder.note = note;
        self.write_record().map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot write lock file {}: {e}", self.path.display()),
            )
        })?;
        self.file.sync_data().map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot sync lock file {}: {e}", self.path.display()),
            )
        })
    }

    fn write_record(&mut self) -> std::io::Result<()> {
        let text = serde_json::to_vec(&self.holder).map_err(std::io::Error::other)?;
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&text)?;
        self.file.flush()
    }
}

fn read_record(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// The error for a lock another process holds, naming it when its record can be read.
fn held(path: &Path, subject: &str) -> Error {
    // The holder writes its record right after locking: give it a moment if it is not there yet.
    let mut holder = None;
    for _ in 0..3 {
        holder = File::open(path).ok().and_then(|mut f| read_record(&mut f));
        if holder.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let who = match holder {
        Some(h) => h.to_string(),
        None => format!("holder not recorded in {}", path.display()),
    };
    Error::new(
        ErrorKind::Busy,
        format!("{subject} is in use by another process: {who}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_named_and_the_record_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.lock");
        let mut first = FileLock::acquire(&path, "x", LockHolder::this_process("pulling")).unwrap();
        assert!(first.previous().is_none());
        first.set_note(serde_json::json!({"len": 7})).unwrap();
        // Another open file description conflicts, as another process would.
        let err = FileLock::acquire(&path, "consumer `etl`", LockHolder::this_process("other"))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy);
        let msg = err.to_string();
        let pid = std::process::id().to_string();
        assert!(
            msg.contains("consumer `etl` is in use")
                && msg.contains(&pid)
                && msg.contains("pulling"),
            "{msg}"
        );
        drop(first);
        let second = FileLock::acquire(&path, "x", LockHolder::this_process("again")).unwrap();
        let previous = second.previous().expect("the first holder's record");
        assert_eq!(previous.purpose, "pulling");
        assert_eq!(previous.note["len"], 7);
        assert_eq!(second.holder().purpose, "again");
    }
}
