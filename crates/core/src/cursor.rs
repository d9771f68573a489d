//! Durable consumer cursors for vendors without a server-side "since last call" cursor.
//!
//! A cursor is stored per (vendor, project, consumer) as a small JSON file, written atomically
//! (temporary file, fsync, rename, fsync of the directory), so a crash leaves either the old or
//! the new position — never a torn one. Callers commit only after the deliveries are stored:
//! a crash in between re-delivers; nothing is skipped.

use crate::{Error, ErrorKind, Result, Vendor};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A directory of consumer cursors.
#[derive(Debug, Clone)]
pub struct FileCursorStore {
    dir: PathBuf,
}

impl FileCursorStore {
    /// Cursors kept under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileCursorStore { dir: dir.into() }
    }

    /// The default location: `$LABELMUX_STATE_DIR`, else `$XDG_STATE_HOME/labelmux`, else
    /// `~/.local/state/labelmux`, else `./.labelmux-state`.
    pub fn default_location() -> Self {
        let dir = std::env::var_os("LABELMUX_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("labelmux"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/labelmux"))
            })
            .unwrap_or_else(|| PathBuf::from(".labelmux-state"));
        FileCursorStore::new(dir)
    }

    /// Where the store lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, vendor: Vendor, project: &str, consumer: &str) -> PathBuf {
        fn clean(s: &str) -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '%'
                    }
                })
                .collect::<String>()
                + &format!("-{:08x}", fnv1a(s))
        }
        self.dir
            .join(vendor.name())
            .join(clean(project))
            .join(format!("{}.json", clean(consumer)))
    }

    /// The stored position, or `None` for a consumer never committed.
    pub fn load(&self, vendor: Vendor, project: &str, consumer: &str) -> Result<Option<Value>> {
        let path = self.path(vendor, project, consumer);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "consumer cursor file {} is corrupt: {e}; delete it to start over",
                        path.display()
                    ),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::new(
                ErrorKind::Config,
                format!("cannot read consumer cursor {}: {e}", path.display()),
            )),
        }
    }

    /// Store a position atomically and durably.
    pub fn store(
        &self,
        vendor: Vendor,
        project: &str,
        consumer: &str,
        position: &Value,
    ) -> Result<()> {
        let path = self.path(vendor, project, consumer);
        let dir = path.parent().expect("cursor path has a parent");
        let fail = |what: &str, e: std::io::Error| {
            Error::new(
                ErrorKind::Config,
                format!("cannot {what} consumer cursor in {}: {e}", dir.display()),
            )
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("create directory for", e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail("create", e))?;
        serde_json::to_writer(&mut tmp, position).map_err(|e| fail("write", e.into()))?;
        tmp.flush().map_err(|e| fail("write", e))?;
        tmp.as_file().sync_all().map_err(|e| fail("sync", e))?;
        tmp.persist(&path).map_err(|e| fail("replace", e.error))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// A stable short hash, so distinct names that clean to the same text get distinct files.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stores_and_loads_per_consumer() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path());
        assert_eq!(store.load(Vendor::Scale, "p/1", "a").unwrap(), None);
        store
            .store(Vendor::Scale, "p/1", "a", &json!({"t": 1}))
            .unwrap();
        store
            .store(Vendor::Scale, "p/1", "b", &json!({"t": 2}))
            .unwrap();
        store
            .store(Vendor::Scale, "p/1", "a", &json!({"t": 3}))
            .unwrap();
        assert_eq!(
            store.load(Vendor::Scale, "p/1", "a").unwrap(),
            Some(json!({"t": 3}))
        );
        assert_eq!(
            store.load(Vendor::Scale, "p/1", "b").unwrap(),
            Some(json!({"t": 2}))
        );
        assert_eq!(store.load(Vendor::Scale, "p_1", "a").unwrap(), None);
    }

    #[test]
    fn a_corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path());
        store.store(Vendor::Scale, "p", "c", &json!(1)).unwrap();
        let path = store.path(Vendor::Scale, "p", "c");
        std::fs::write(&path, b"{torn").unwrap();
        let err = store.load(Vendor::Scale, "p", "c").unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}
