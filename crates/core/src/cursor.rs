//! Durable client-side consumer cursors, for vendors without a server-side "since last call"
//! cursor (Scale, Labelbox, Segments) — one service every adapter configures.
//!
//! - A cursor is keyed by everything that identifies the feed ([`FeedKey`]: vendor, endpoint,
//!   account, project, consumer and the filters it reads with), so pulling consumer `k` from the
//!   emulator and then from production never shares a position.
//! - The position is a keyset ([`KeysetPosition`]) over (time, id): every delivery ordered at or
//!   before it was stored. Ties at one instant are ordered by id, so nothing is skipped or
//!   repeated at second granularity.
//! - [`KeysetTracker`] hands each delivery the checkpoint just after it; callers commit only
//!   after the deliveries are stored (a crash in between re-delivers; nothing is skipped).
//! - [`FileCursorStore`] writes atomically (temporary file, fsync, rename, fsync of the
//!   directory) off the async threads, so a crash leaves the old or the new position, never a torn
//!   one. A commit can carry the output it covers ([`OutputMark`]: a file and its durable
//!   length), so a writer resuming after a crash cuts what no commit covers and the output holds
//!   each delivery exactly once.
//! - One pull per consumer at a time: [`ConsumerCursors::exclusive`] holds the consumer's lock
//!   ([`ConsumerCursors::lock`], a [`crate::lock::FileLock`] beside the cursor file for
//!   [`FileCursorStore`]) for as long as a delivery stream lives, and a commit from a process
//!   that holds no such stream takes the lock for the time of the commit. Another process is
//!   refused at once with [`ErrorKind::Busy`], naming the holder.

use crate::lock::{FileLock, LockHolder};
use crate::{Checkpoint, Error, ErrorKind, Result, Vendor};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};

/// Everything that identifies one consumer's feed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeedKey {
    /// The vendor.
    pub vendor: Vendor,
    /// The API endpoint (base URL, without credentials).
    pub endpoint: String,
    /// The account, where the adapter knows it (a key fingerprint, an organization id).
    pub account: Option<String>,
    /// The project.
    pub project: String,
    /// The consumer's name.
    pub consumer: String,
    /// The filters the consumer reads with (`batch=b1`), `None` for unfiltered reads:
    /// differently filtered readers keep separate positions.
    pub scope: Option<String>,
}

/// A stored cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCursor {
    /// The feed it belongs to (checked on load).
    pub feed: FeedKey,
    /// The position (vendor-defined JSON, usually a [`KeysetPosition`]).
    pub position: Value,
    /// The durable length of the output this position covers, where the caller said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_len: Option<u64>,
    /// The output (a file path) `output_len` measures, where the caller said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_path: Option<String>,
}

impl StoredCursor {
    /// The output this position covers, when the commit said.
    pub fn output(&self) -> Option<OutputMark> {
        Some(OutputMark {
            path: self.output_path.clone()?,
            len: self.output_len?,
        })
    }
}

/// The output a commit covers: everything in the file `path` up to `len` bytes is durable and
/// holds exactly the deliveries up to the committed position. A writer resuming into `path`
/// cuts it back to `len` first: bytes after it were written by a run that stopped before its
/// next commit, and the resumed pull delivers them again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputMark {
    /// The output file (an absolute path, as the writer names it).
    pub path: String,
    /// Its durable length in bytes.
    pub len: u64,
}

/// Where consumer cursors are kept.
#[async_trait]
pub trait CursorStore: Send + Sync + std::fmt::Debug {
    /// The stored cursor of `feed`, or `None` for a consumer never committed.
    async fn load(&self, feed: &FeedKey) -> Result<Option<StoredCursor>>;
    /// Store `cursor` atomically and durably.
    async fn store(&self, cursor: &StoredCursor) -> Result<()>;
    /// The lock file of `feed`'s consumer (its scope is `None`: a consumer is locked whatever
    /// its filters), for stores whose cursors other processes can reach; `None` (the default)
    /// locks within this process only.
    fn lock_path(&self, feed: &FeedKey) -> Option<PathBuf> {
        let _ = feed;
        None
    }
}

/// A directory of consumer cursors, one small JSON file per feed.
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

    /// The file of `feed`.
    pub fn path(&self, feed: &FeedKey) -> PathBuf {
        let endpoint = match &feed.account {
            Some(a) => format!("{}@{}", a, feed.endpoint),
            None => feed.endpoint.clone(),
        };
        let consumer = match &feed.scope {
            Some(s) => format!("{}#{s}", feed.consumer),
            None => feed.consumer.clone(),
        };
        self.dir
            .join(feed.vendor.name())
            .join(clean(&endpoint))
            .join(clean(&feed.project))
            .join(format!("{}.json", clean(&consumer)))
    }

    fn load_blocking(path: &Path, feed: &FeedKey) -> Result<Option<StoredCursor>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot read consumer cursor {}: {e}", path.display()),
                ))
            }
        };
        let stored: StoredCursor = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "consumer cursor file {} is corrupt: {e}; delete it to start over",
                    path.display()
                ),
            )
        })?;
        if &stored.feed != feed {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "consumer cursor {} belongs to {} at {} (project {}, consumer {:?}), not to {} at {}; use another consumer name for this endpoint, or delete the file to start over",
                    path.display(),
                    stored.feed.vendor,
                    stored.feed.endpoint,
                    stored.feed.project,
                    stored.feed.consumer,
                    feed.vendor,
                    feed.endpoint
                ),
            ));
        }
        Ok(Some(stored))
    }

    fn store_blocking(path: &Path, cursor: &StoredCursor) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let fail = |what: &str, e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot {what} consumer cursor in {}: {e}", dir.display()),
            )
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("create directory for", e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail("create", e))?;
        serde_json::to_writer(&mut tmp, cursor).map_err(|e| fail("write", e.into()))?;
        tmp.flush().map_err(|e| fail("write", e))?;
        tmp.as_file().sync_all().map_err(|e| fail("sync", e))?;
        tmp.persist(path).map_err(|e| fail("replace", e.error))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[async_trait]
impl CursorStore for FileCursorStore {
    async fn load(&self, feed: &FeedKey) -> Result<Option<StoredCursor>> {
        let path = self.path(feed);
        let feed = feed.clone();
        blocking(move || FileCursorStore::load_blocking(&path, &feed)).await
    }

    async fn store(&self, cursor: &StoredCursor) -> Result<()> {
        let path = self.path(&cursor.feed);
        let cursor = cursor.clone();
        blocking(move || FileCursorStore::store_blocking(&path, &cursor)).await
    }

    fn lock_path(&self, feed: &FeedKey) -> Option<PathBuf> {
        Some(self.path(feed).with_extension("lock"))
    }
}

/// Cursors kept in memory, for tests and for programs that keep no position across runs (every
/// run starts at the beginning). Locks hold within this process only.
#[derive(Debug, Default)]
pub struct MemoryCursorStore {
    cursors: Mutex<HashMap<FeedKey, StoredCursor>>,
}

impl MemoryCursorStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CursorStore for MemoryCursorStore {
    async fn load(&self, feed: &FeedKey) -> Result<Option<StoredCursor>> {
        let cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        Ok(cursors.get(feed).cloned())
    }

    async fn store(&self, cursor: &StoredCursor) -> Result<()> {
        let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
        cursors.insert(cursor.feed.clone(), cursor.clone());
        Ok(())
    }
}

/// Run file I/O off the async threads (inline when there is no runtime).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("cursor I/O task failed: {e}")))?,
        Err(_) => f(),
    }
}

/// File-name-safe text plus a short hash, so distinct names that clean alike stay distinct.
fn clean(s: &str) -> String {
    let text: String = s
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '%'
            }
        })
        .collect();
    format!("{text}-{:08x}", fnv1a(s))
}

/// A stable short hash.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    })
}

/// A keyset position over (`at`, `id`): every delivery ordered at or before it was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysetPosition {
    /// Format version (1).
    pub v: u32,
    /// The filters of the reads (see [`FeedKey::scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Time of the last delivery (completion, update).
    #[serde(alias = "completed_at")]
    pub at: DateTime<Utc>,
    /// Id of the last delivery (the greatest among those at `at`).
    #[serde(alias = "task_id")]
    pub id: String,
}

impl KeysetPosition {
    /// Read a checkpoint back; `vendor` names who is asking in the error.
    pub fn from_checkpoint(vendor: Vendor, checkpoint: &Checkpoint) -> Result<KeysetPosition> {
        let pos: KeysetPosition = serde_json::from_value(checkpoint.0.clone()).map_err(|e| {
            Error::validation(format!("not a {vendor} delivery checkpoint: {e}"))
                .with_vendor(vendor)
        })?;
        if pos.v != 1 {
            return Err(Error::validation(format!(
                "{vendor} delivery checkpoint version {} is not supported",
                pos.v
            ))
            .with_vendor(vendor));
        }
        Ok(pos)
    }

    /// As a checkpoint.
    pub fn to_checkpoint(&self) -> Checkpoint {
        Checkpoint(serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// Whether the delivery at `t` with id `id` was delivered before this position.
    pub fn covers(&self, t: &DateTime<Utc>, id: &str) -> bool {
        (t, id) <= (&self.at, self.id.as_str())
    }
}

/// Builds each delivery's checkpoint: the position just after it.
#[derive(Debug, Clone)]
pub struct KeysetTracker {
    scope: Option<String>,
    at: Option<(DateTime<Utc>, String)>,
}

impl KeysetTracker {
    /// A tracker for reads with `scope`, starting after `start`.
    pub fn new(scope: Option<String>, start: Option<&KeysetPosition>) -> Self {
        KeysetTracker {
            scope,
            at: start.map(|p| (p.at, p.id.clone())),
        }
    }

    /// Record a delivery (deliveries arrive in (`at`, `id`) order) and return the position
    /// after it; a delivery without a time cannot move the position.
    pub fn advance(&mut self, at: Option<DateTime<Utc>>, id: &str) -> Option<Checkpoint> {
        if let Some(t) = at {
            let newer = self
                .at
                .as_ref()
                .is_none_or(|(t0, id0)| (&t, id) > (t0, id0.as_str()));
            if newer {
                self.at = Some((t, id.to_owned()));
            }
        }
        let (t, id) = self.at.as_ref()?;
        Some(
            KeysetPosition {
                v: 1,
                scope: self.scope.clone(),
                at: *t,
                id: id.clone(),
            }
            .to_checkpoint(),
        )
    }
}

/// The cursor service an adapter configures: its vendor, endpoint and account, over a store.
#[derive(Debug, Clone)]
pub struct ConsumerCursors {
    store: Arc<dyn CursorStore>,
    vendor: Vendor,
    endpoint: String,
    account: Option<String>,
}

impl ConsumerCursors {
    /// Cursors of `vendor` at `endpoint` (a base URL without credentials) in `store`.
    pub fn new(store: Arc<dyn CursorStore>, vendor: Vendor, endpoint: impl Into<String>) -> Self {
        ConsumerCursors {
            store,
            vendor,
            endpoint: endpoint.into(),
            account: None,
        }
    }

    /// Key cursors by this account too.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CursorStore> {
        &self.store
    }

    /// The feed key of `consumer` reading `project` with `scope`.
    pub fn feed(&self, project: &str, consumer: &str, scope: Option<&str>) -> FeedKey {
        FeedKey {
            vendor: self.vendor,
            endpoint: self.endpoint.clone(),
            account: self.account.clone(),
            project: project.to_owned(),
            consumer: consumer.to_owned(),
            scope: scope.map(str::to_owned),
        }
    }

    /// Where `consumer` stopped, or `None` if it never committed.
    pub async fn position(
        &self,
        project: &str,
        consumer: &str,
        scope: Option<&str>,
    ) -> Result<Option<KeysetPosition>> {
        let feed = self.feed(project, consumer, scope);
        match self.store.load(&feed).await? {
            None => Ok(None),
            Some(stored) => KeysetPosition::from_checkpoint(self.vendor, &Checkpoint(stored.position))
                .map(Some)
                .map_err(|e| {
                    Error::config(format!(
                        "the stored cursor of consumer {consumer:?} is unreadable ({}); delete it to start over",
                        e.message()
                    ))
                    .with_vendor(self.vendor)
                }),
        }
    }

    /// The output the last commit of `consumer` reading with `scope` said it covers.
    pub async fn output(
        &self,
        project: &str,
        consumer: &str,
        scope: Option<&str>,
    ) -> Result<Option<OutputMark>> {
        let feed = self.feed(project, consumer, scope);
        Ok(self
            .store
            .load(&feed)
            .await?
            .and_then(|stored| stored.output()))
    }

    /// Store `checkpoint` as `consumer`'s position (its scope comes from the checkpoint), with
    /// the output it covers where the caller knows it. Unless this process holds the consumer's
    /// lock (a delivery stream of [`ConsumerCursors::exclusive`] is alive), the lock is taken for
    /// the time of the commit: a commit never lands in the middle of another process's pull.
    /// Errors name the vendor and the `commit_consumer` operation, as every adapter reports them.
    pub async fn commit(
        &self,
        project: &str,
        consumer: &str,
        checkpoint: &Checkpoint,
        output: Option<&OutputMark>,
    ) -> Result<()> {
        self.store_position(project, consumer, checkpoint, output)
            .await
            .map_err(|e| e.with_vendor(self.vendor).with_operation("commit_consumer"))
    }

    async fn store_position(
        &self,
        project: &str,
        consumer: &str,
        checkpoint: &Checkpoint,
        output: Option<&OutputMark>,
    ) -> Result<()> {
        let pos = KeysetPosition::from_checkpoint(self.vendor, checkpoint)?;
        let feed = self.feed(project, consumer, pos.scope.as_deref());
        let position = serde_json::to_value(&pos)
            .map_err(|e| Error::validation(format!("cannot encode checkpoint: {e}")))?;
        let _lock = if held_here(&self.lock_key(project, consumer).0) {
            None
        } else {
            Some(
                self.lock_for(project, consumer, "committing a position")
                    .await?,
            )
        };
        self.store
            .store(&StoredCursor {
                feed,
                position,
                output_len: output.map(|o| o.len),
                output_path: output.map(|o| o.path.clone()),
            })
            .await
    }

    /// Take `consumer`'s lock (whatever its scope) until the returned guard is dropped. Refused
    /// with [`ErrorKind::Busy`], naming the holder, when another process holds it or another
    /// pull of this process does.
    pub async fn lock(&self, project: &str, consumer: &str) -> Result<ConsumerLock> {
        self.lock_for(project, consumer, "pulling deliveries").await
    }

    /// Where `consumer`'s lock is kept in this process's registry, and its lock file: keyed by
    /// the lock file where the store has one (two stores over one directory share it), else by
    /// the store and the feed.
    fn lock_key(&self, project: &str, consumer: &str) -> (String, Option<PathBuf>) {
        let feed = self.feed(project, consumer, None);
        match self.store.lock_path(&feed) {
            Some(p) => (p.display().to_string(), Some(p)),
            None => (format!("{:p} {feed:?}", Arc::as_ptr(&self.store)), None),
        }
    }

    async fn lock_for(&self, project: &str, consumer: &str, doing: &str) -> Result<ConsumerLock> {
        let (key, path) = self.lock_key(project, consumer);
        let vendor = self.vendor;
        let subject = format!("consumer `{consumer}` of {vendor} project {project}");
        let purpose = format!("{doing} for consumer `{consumer}`");
        blocking(move || {
            let mut held = held_consumers().lock().unwrap_or_else(|e| e.into_inner());
            held.retain(|_, w| w.strong_count() > 0);
            if held.contains_key(&key) {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!(
                        "{subject} is already being pulled by this process (pid {})",
                        std::process::id()
                    ),
                ));
            }
            let file = match path {
                Some(p) => Some(FileLock::acquire(
                    &p,
                    &subject,
                    LockHolder::this_process(purpose),
                )?),
                None => None,
            };
            let lock = Arc::new(HeldConsumer { _file: file });
            held.insert(key, Arc::downgrade(&lock));
            Ok(ConsumerLock { _held: lock })
        })
        .await
        .map_err(|e| e.with_vendor(vendor))
    }

    /// `stream` (a pull of `consumer`), holding the consumer's lock from its first poll until it
    /// is dropped (so commits made after its last item are still covered); the lock is taken
    /// before `stream` is first polled, so before it reads the consumer's position. A pull
    /// refused the lock yields the [`ErrorKind::Busy`] error as its one item.
    pub fn exclusive<T: Send + 'static>(
        &self,
        project: &str,
        consumer: &str,
        stream: BoxStream<'static, Result<T>>,
    ) -> BoxStream<'static, Result<T>> {
        let this = self.clone();
        let (project, consumer) = (project.to_owned(), consumer.to_owned());
        futures::stream::once(async move {
            let lock = this
                .lock(&project, &consumer)
                .await
                .map_err(|e| e.with_operation("deliveries"))?;
            Ok::<_, Error>(Guarded {
                inner: stream,
                _lock: lock,
            })
        })
        .flat_map(|opened| match opened {
            Ok(guarded) => guarded.boxed(),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .boxed()
    }
}

/// A consumer's lock, held until dropped (see [`ConsumerCursors::lock`]).
#[derive(Debug)]
pub struct ConsumerLock {
    _held: Arc<HeldConsumer>,
}

#[derive(Debug)]
struct HeldConsumer {
    _file: Option<FileLock>,
}

/// Consumers locked by this process: a second pull in the same process is refused too, and a
/// commit made while this process pulls needs no second lock.
fn held_consumers() -> &'static Mutex<HashMap<String, Weak<HeldConsumer>>> {
    static HELD: OnceLock<Mutex<HashMap<String, Weak<HeldConsumer>>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(HashMap::new()))
}

fn held_here(key: &str) -> bool {
    held_consumers()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .is_some_and(|w| w.strong_count() > 0)
}

/// A stream that keeps a consumer's lock while it lives.
struct Guarded<T> {
    inner: BoxStream<'static, Result<T>>,
    _lock: ConsumerLock,
}

impl<T> Stream for Guarded<T> {
    type Item = Result<T>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        self.inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn cursors(dir: &Path, endpoint: &str) -> ConsumerCursors {
        ConsumerCursors::new(Arc::new(FileCursorStore::new(dir)), Vendor::Scale, endpoint)
    }

    #[tokio::test]
    async fn positions_are_kept_per_endpoint_project_consumer_and_scope() {
        let dir = tempfile::tempdir().unwrap();
        let emu = cursors(dir.path(), "http://127.0.0.1:9/v1");
        let prod = cursors(dir.path(), "https://api.scale.com/v1");
        let mut tr = KeysetTracker::new(None, None);
        let cp = tr.advance(Some(t("2026-01-01T00:00:00Z")), "a").unwrap();
        let mark = OutputMark {
            path: "/data/out.jsonl".into(),
            len: 10,
        };
        emu.commit("p/1", "k", &cp, Some(&mark)).await.unwrap();
        assert_eq!(
            emu.position("p/1", "k", None).await.unwrap().unwrap().id,
            "a"
        );
        // Another endpoint, project, consumer or scope starts from the beginning.
        assert_eq!(prod.position("p/1", "k", None).await.unwrap(), None);
        assert_eq!(emu.position("p_1", "k", None).await.unwrap(), None);
        assert_eq!(emu.position("p/1", "j", None).await.unwrap(), None);
        assert_eq!(
            emu.position("p/1", "k", Some("batch=b")).await.unwrap(),
            None
        );
        let stored = emu
            .store()
            .load(&emu.feed("p/1", "k", None))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.output_len, Some(10));
        assert_eq!(emu.output("p/1", "k", None).await.unwrap(), Some(mark));
        assert_eq!(emu.output("p/1", "j", None).await.unwrap(), None);
    }

    #[tokio::test]
    async fn one_pull_per_consumer_and_commits_respect_another_holder() {
        let dir = tempfile::tempdir().unwrap();
        let c = cursors(dir.path(), "http://127.0.0.1:9/v1");
        let cp = KeysetTracker::new(None, None)
            .advance(Some(t("2026-01-01T00:00:00Z")), "a")
            .unwrap();
        let items = || futures::stream::iter([Ok(1), Ok(2)]).boxed();
        let mut pull = c.exclusive("p", "etl", items());
        assert_eq!(pull.next().await.unwrap().unwrap(), 1);
        // While the pull lives: a second pull of the same consumer (any scope) is refused...
        let second: Vec<_> = c.exclusive("p", "etl", items()).collect().await;
        let err = second[0].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
        assert!(err.to_string().contains("consumer `etl`"), "{err}");
        // ... another consumer is not, and the puller's own commits go through.
        let other: Vec<_> = c.exclusive("p", "bi", items()).collect().await;
        assert!(other.iter().all(|r| r.is_ok()));
        c.commit("p", "etl", &cp, None).await.unwrap();
        drop(pull);
        // Released: pulls again, and a commit without a pull takes the lock for its time.
        let again: Vec<_> = c.exclusive("p", "etl", items()).collect().await;
        assert_eq!(again.len(), 2);
        c.commit("p", "etl", &cp, None).await.unwrap();
        // Another process (another open of the lock file) holds it: commits are refused, naming it.
        let store = FileCursorStore::new(dir.path());
        let path = store.lock_path(&c.feed("p", "etl", None)).unwrap();
        let other_process =
            FileLock::acquire(&path, "x", LockHolder::this_process("the other pull")).unwrap();
        let err = c.commit("p", "etl", &cp, None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy);
        assert!(err.to_string().contains("the other pull"), "{err}");
        let refused: Vec<_> = c.exclusive("p", "etl", items()).collect().await;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].as_ref().unwrap_err().kind(), ErrorKind::Busy);
        drop(other_process);
        c.commit("p", "etl", &cp, None).await.unwrap();
    }

    #[tokio::test]
    async fn a_cursor_of_another_feed_is_refused_and_a_corrupt_one_is_clear() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCursorStore::new(dir.path());
        let c = cursors(dir.path(), "http://127.0.0.1:9/v1");
        let cp = KeysetTracker::new(None, None)
            .advance(Some(t("2026-01-01T00:00:00Z")), "a")
            .unwrap();
        c.commit("p", "k", &cp, None).await.unwrap();
        let feed = c.feed("p", "k", None);
        let path = store.path(&feed);
        // A file copied under another feed's name is refused with the fix in the message.
        let other = cursors(dir.path(), "https://api.scale.com/v1").feed("p", "k", None);
        std::fs::create_dir_all(store.path(&other).parent().unwrap()).unwrap();
        std::fs::copy(&path, store.path(&other)).unwrap();
        let err = store.load(&other).await.unwrap_err().to_string();
        assert!(
            err.contains("belongs to") && err.contains("127.0.0.1"),
            "{err}"
        );
        std::fs::write(&path, b"{torn").unwrap();
        let err = store.load(&feed).await.unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }

    #[test]
    fn checkpoints_cover_exactly_what_was_delivered_including_ties() {
        let t1 = t("2026-01-01T00:00:00Z");
        let t2 = t("2026-01-01T00:00:01Z");
        let mut tr = KeysetTracker::new(None, None);
        let a = KeysetPosition::from_checkpoint(Vendor::Scale, &tr.advance(Some(t1), "a").unwrap())
            .unwrap();
        assert!(a.covers(&t1, "a") && !a.covers(&t1, "b") && !a.covers(&t2, "0"));
        let mut resumed = KeysetTracker::new(None, Some(&a));
        // An older delivery cannot move the position back.
        let cp = resumed.advance(Some(t1), "0").unwrap();
        assert_eq!(
            KeysetPosition::from_checkpoint(Vendor::Scale, &cp)
                .unwrap()
                .id,
            "a"
        );
        assert!(KeysetTracker::new(None, None).advance(None, "x").is_none());
        assert!(KeysetPosition::from_checkpoint(
            Vendor::Scale,
            &Checkpoint(serde_json::json!({"foo": 1}))
        )
        .is_err());
    }

    #[test]
    fn version_one_scale_checkpoints_still_read() {
        let old =
            serde_json::json!({"v": 1, "completed_at": "2026-01-01T00:00:00Z", "task_id": "t"});
        let pos = KeysetPosition::from_checkpoint(Vendor::Scale, &Checkpoint(old)).unwrap();
        assert_eq!(pos.id, "t");
    }
}
