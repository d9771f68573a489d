//! `deliveries pull`: stream deliveries into a file, durably, and commit consumer cursors only
//! after what they cover is on disk.

use super::Ctx;
use crate::args::PullArgs;
use crate::exit::CliError;
use crate::output;
use crate::sink::{DeliveryFormat, DeliveryWriter};
use futures::{FutureExt, StreamExt};
use indicatif::ProgressBar;
use labelmux::cursor::OutputMark;
use labelmux::lock::{FileLock, LockHolder};
use labelmux::{BatchId, Checkpoint, DeliveryQuery, DeliverySince, ProjectId, Provider};
use serde_json::json;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Make the file durable at least this often (deliveries) ...
const SYNC_EVERY_ITEMS: u64 = 1000;
/// ... or this often (time), besides every time the stream has to wait for the next page.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// How a pull ended.
#[derive(Debug, Default)]
pub(crate) struct PullOutcome {
    /// Deliveries written (and durable).
    pub written: u64,
    /// Consumer-cursor commits made.
    pub commits: u64,
    /// Stopped by the interrupt future.
    pub interrupted: bool,
}

/// The lock of an output file, held for a whole pull: a second run into the same file is
/// refused at once, naming the holder, instead of interleaving its writes. For consumer pulls it
/// also keeps, durably, the length of the file that no later run needs to cut (its length when
/// the run began, then after each cursor commit), for the next run to cut back to when the
/// consumer's last commit does not name this file (a run killed before its first commit, or a
/// consumer that since pulled into another file).
pub(crate) struct OutputLock {
    lock: FileLock,
    /// Who appends to the file (vendor, project, consumer, filters): a length noted by a run
    /// for another consumer says nothing about this one.
    owner: String,
    /// The output file, absolute, as cursor commits name it.
    path: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OutputNote {
    owner: String,
    len: u64,
}

impl OutputLock {
    /// Lock `out` (in the hidden file `.NAME.lock` beside it) for `purpose`.
    pub(crate) fn acquire(out: &Path, owner: String, purpose: String) -> Result<Self, CliError> {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "deliveries".to_owned());
        let lock = FileLock::acquire(
            &out.with_file_name(format!(".{name}.lock")),
            &out.display().to_string(),
            LockHolder::this_process(purpose),
        )?;
        Ok(OutputLock {
            lock,
            owner,
            path: out.display().to_string(),
        })
    }

    /// The good length the previous run of the same owner noted, if it was this owner.
    fn previous_len(&self) -> Option<u64> {
        let note: OutputNote = serde_json::from_value(self.lock.previous()?.note.clone()).ok()?;
        (note.owner == self.owner).then_some(note.len)
    }

    /// Note `len` as good, durably.
    fn note(&mut self, len: u64) -> Result<(), CliError> {
        let note = json!({"owner": self.owner, "len": len});
        Ok(self.lock.set_note(note)?)
    }
}

/// Test hook: `LABELMUX_FAULT=after-file-sync[:N]` ends the process at the N-th (default first)
/// point where the file is synced and the cursor commit is about to be made, as a kill there
/// would (exercised by the CLI's chaos tests).
fn fault_after_file_sync() {
    static SEEN: AtomicU32 = AtomicU32::new(0);
    let Ok(v) = std::env::var("LABELMUX_FAULT") else {
        return;
    };
    let Some(rest) = v.strip_prefix("after-file-sync") else {
        return;
    };
    let nth: u32 = rest
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    if SEEN.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        eprintln!("LABELMUX_FAULT: stopping at after-file-sync:{nth}");
        std::process::exit(86);
    }
}

/// Everything written so far is made durable, then the last checkpoint it covers is committed
/// (with `output`: with the file's durable length, then noted in the lock).
async fn make_durable(
    provider: &impl Provider,
    project: &ProjectId,
    consumer: Option<&str>,
    writer: &mut DeliveryWriter,
    pending: &mut Option<Checkpoint>,
    outcome: &mut PullOutcome,
    output: Option<&mut OutputLock>,
) -> Result<(), CliError> {
    let shown = writer.path().display().to_string();
    let io = |e| CliError::io(format!("cannot write {shown}"), e);
    writer.sync().map_err(io)?;
    outcome.written = writer.written();
    if let (Some(consumer), Some(cp)) = (consumer, pending.take()) {
        match output {
            Some(out) => {
                let len = writer.file_len().map_err(io)?;
                fault_after_file_sync();
                let mark = OutputMark {
                    path: out.path.clone(),
                    len,
                };
                provider
                    .commit_consumer_output(project, consumer, &cp, &mark)
                    .await?;
                out.note(len)?;
            }
            None => provider.commit_consumer(project, consumer, &cp).await?,
        }
        outcome.commits += 1;
    }
    Ok(())
}

/// Between pages: a consumer pull makes what it wrote durable and commits its cursor (a
/// cursor must never run ahead of the file); a pull without a consumer has nothing to commit,
/// so it only hands its bytes to the kernel with a writeback hint, and syncs once at the end.
async fn between_pages(
    provider: &impl Provider,
    project: &ProjectId,
    consumer: Option<&str>,
    writer: &mut DeliveryWriter,
    pending: &mut Option<Checkpoint>,
    outcome: &mut PullOutcome,
    output: Option<&mut OutputLock>,
) -> Result<(), CliError> {
    if consumer.is_some() {
        make_durable(
            provider, project, consumer, writer, pending, outcome, output,
        )
        .await
    } else {
        writer
            .write_behind()
            .map_err(|e| CliError::io(format!("cannot write {}", writer.path().display()), e))
    }
}

/// Pull `query` into `writer`. With `consumer`, the file is fsynced whenever the stream must
/// wait for the vendor (a page boundary), every [`SYNC_EVERY_ITEMS`] deliveries or
/// [`SYNC_EVERY`], and each sync is followed by a commit of the last checkpoint written.
/// Without one (`--since`, `--all`), those points only start writeback, and the file is synced
/// once, at the end. On a vendor error or `interrupt`, what was written is made durable (and
/// committed) first.
/// With `output` (the file's lock), each commit carries the file's durable length. Commits are
/// made while the delivery stream (which holds the consumer's lock) is alive.
pub(crate) async fn pull_into(
    provider: &impl Provider,
    project: &ProjectId,
    query: DeliveryQuery,
    writer: &mut DeliveryWriter,
    bar: &ProgressBar,
    interrupt: impl Future<Output = ()>,
    mut output: Option<&mut OutputLock>,
) -> Result<PullOutcome, CliError> {
    let consumer = match &query.since {
        DeliverySince::LastCall { consumer } => Some(consumer.clone()),
        _ => None,
    };
    let consumer = consumer.as_deref();
    let mut stream = provider.deliveries(project, query);
    let mut pending: Option<Checkpoint> = None;
    let mut outcome = PullOutcome::default();
    let mut last_sync = Instant::now();
    let mut interrupt = std::pin::pin!(interrupt);
    loop {
        let next = match stream.next().now_or_never() {
            Some(item) => item,
            None => {
                // The stream has to wait for the vendor: a good moment to make the page durable.
                if writer.unflushed() > 0 {
                    between_pages(
                        provider,
                        project,
                        consumer,
                        writer,
                        &mut pending,
                        &mut outcome,
                        output.as_deref_mut(),
                    )
                    .await?;
                    last_sync = Instant::now();
                }
                tokio::select! {
                    item = stream.next() => item,
                    _ = &mut interrupt => {
                        outcome.interrupted = true;
                        break;
                    }
                }
            }
        };
        match next {
            None => break,
            // Refused before anything was read (another run holds the consumer): nothing to
            // keep or resume, the refusal says it all.
            Some(Err(e)) if e.kind() == labelmux::ErrorKind::Busy && writer.written() == 0 => {
                return Err(CliError::from(e));
            }
            Some(Err(e)) => {
                make_durable(
                    provider,
                    project,
                    consumer,
                    writer,
                    &mut pending,
                    &mut outcome,
                    output.as_deref_mut(),
                )
                .await?;
                drop(stream);
                return Err(CliError::from(e).context(format!(
                    "after {} deliveries written to {} (kept; rerun to resume)",
                    outcome.written,
                    writer.path().display()
                )));
            }
            Some(Ok(d)) => {
                writer.write(&d).map_err(|e| {
                    CliError::io(format!("cannot write {}", writer.path().display()), e)
                })?;
                if d.checkpoint.is_some() {
                    pending = d.checkpoint;
                }
                bar.inc(1);
                if writer.unflushed() >= SYNC_EVERY_ITEMS || last_sync.elapsed() >= SYNC_EVERY {
                    between_pages(
                        provider,
                        project,
                        consumer,
                        writer,
                        &mut pending,
                        &mut outcome,
                        output.as_deref_mut(),
                    )
                    .await?;
                    last_sync = Instant::now();
                }
            }
        }
    }
    make_durable(
        provider,
        project,
        consumer,
        writer,
        &mut pending,
        &mut outcome,
        output,
    )
    .await?;
    drop(stream);
    Ok(outcome)
}

/// Appending CSV rows to a JSONL file (or the reverse) would leave a file no reader can parse:
/// refuse, naming the format the file already has.
fn refuse_mixed_formats(path: &std::path::Path, format: DeliveryFormat) -> Result<(), CliError> {
    use std::io::Read;
    let mut head = [0u8; 64];
    let n = match std::fs::File::open(path) {
        Ok(mut f) => f.read(&mut head).unwrap_or(0),
        Err(_) => return Ok(()),
    };
    let text = String::from_utf8_lossy(&head[..n]);
    let text = text.trim_start();
    let existing = if text.starts_with('{') {
        DeliveryFormat::Jsonl
    } else if text.starts_with("task_id,") {
        DeliveryFormat::Csv
    } else {
        return Ok(());
    };
    if existing == format {
        return Ok(());
    }
    let name = |f: DeliveryFormat| match f {
        DeliveryFormat::Jsonl => "jsonl",
        DeliveryFormat::Csv => "csv",
        DeliveryFormat::Coco => "coco",
        DeliveryFormat::Yolo => "yolo",
        DeliveryFormat::Parquet => "parquet",
    };
    Err(CliError::usage(format!(
        "{} holds {} deliveries; appending {} to it would mix formats: pass --format {} (or pull into another file)",
        path.display(),
        name(existing).to_uppercase(),
        name(format).to_uppercase(),
        name(existing)
    )))
}

/// Where a consumer's file resumes: the durable length the consumer's last commit covers when
/// it was made into this file; else the length a run of the same consumer noted in the file's
/// lock (it stopped before committing into this file); else nothing is cut.
async fn resume_point(
    ctx: &Ctx,
    provider: &impl Provider,
    project: &ProjectId,
    query: &DeliveryQuery,
    out: &Path,
    lock: &OutputLock,
) -> Result<Option<u64>, CliError> {
    let Ok(meta) = std::fs::metadata(out) else {
        return Ok(None);
    };
    let here = std::fs::canonicalize(out)
        .ok()
        .map(|p| p.display().to_string());
    if let Some(mark) = provider.consumer_output(project, query).await? {
        if Some(&mark.path) == here.as_ref() {
            if meta.len() < mark.len {
                ctx.note(format!(
                    "{} is shorter ({} bytes) than the consumer's last commit covered ({} bytes): it was changed outside labelmux; appending to it as it is.",
                    out.display(),
                    meta.len(),
                    mark.len
                ));
                return Ok(None);
            }
            return Ok(Some(mark.len));
        }
    }
    Ok(lock.previous_len().filter(|&len| len <= meta.len()))
}

/// Resolves on Ctrl-C (never, if the handler cannot be installed).
pub(crate) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub(crate) async fn pull(ctx: &Ctx, a: PullArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let mut query = match (&a.consumer, a.since) {
        (Some(c), _) => {
            if c.trim().is_empty() {
                return Err(CliError::usage("--consumer needs a non-empty name"));
            }
            DeliveryQuery::since_last_call(c.clone())
        }
        (None, Some(ts)) => DeliveryQuery::since(ts),
        (None, None) => DeliveryQuery::all(),
    };
    if let Some(b) = &a.batch {
        query = query.batch(BatchId::new(b.clone()));
    }
    if let Some(table) = super::deliveries_table::destination(&a) {
        return super::deliveries_table::pull(ctx, &a, table, &provider, &project, query).await;
    }
    let Some(out) = a.out.clone() else {
        return Err(CliError::usage(
            "deliveries pull needs --out FILE or --delta DIR",
        ));
    };
    let format = a.format.unwrap_or_else(|| DeliveryFormat::from_path(&out));
    if a.raw && format != DeliveryFormat::Jsonl {
        return Err(CliError::usage(format!(
            "--raw adds the vendor's record to JSONL lines; {} has no place for it (pull JSONL, or Parquet/Delta, which always keep it)",
            match format {
                DeliveryFormat::Csv => "CSV",
                DeliveryFormat::Coco => "COCO",
                DeliveryFormat::Yolo => "YOLO",
                _ => "this format",
            }
        )));
    }
    if matches!(format, DeliveryFormat::Coco | DeliveryFormat::Yolo) {
        return super::export::pull_export(ctx, &provider, &project, query, &out, format).await;
    }
    let append = a.consumer.is_some();
    // One run per output file: refused at once, naming the holder, before the file is touched.
    let owner = format!(
        "{} project {project} consumer {:?} batch {:?}",
        provider.vendor().name(),
        a.consumer,
        a.batch
    );
    let purpose = match &a.consumer {
        Some(c) => format!("deliveries pull --consumer {c} into {}", out.display()),
        None => format!("deliveries pull into {}", out.display()),
    };
    let mut lock = OutputLock::acquire(&out, owner, purpose)?;
    if append {
        refuse_mixed_formats(&out, format)?;
    }
    let server_side = provider
        .capabilities()
        .has(labelmux::Property::ServerSideConsumer);
    // With a cursor labelmux commits, the file's committed length is kept with it and the file
    // is cut back to it on resume. (A server-side cursor moves on read: nothing to cut back to.)
    let marked = append && !server_side;
    let committed = if marked {
        resume_point(ctx, &provider, &project, &query, &out, &lock).await?
    } else {
        None
    };
    let opened = if append {
        DeliveryWriter::open_resuming(&out, format, committed)
    } else {
        DeliveryWriter::open(&out, format, false)
    };
    let mut writer = opened
        .map_err(|e| CliError::io(format!("cannot open {}", out.display()), e))?
        .with_annotations(provider.vendor())
        .with_raw(a.raw);
    if writer.uncommitted_bytes() > 0 {
        ctx.note(format!(
            "{} held {} bytes written after consumer `{}`'s last commit by a run that stopped before its next one; they were removed and are pulled again.",
            out.display(),
            writer.uncommitted_bytes(),
            a.consumer.as_deref().unwrap_or_default()
        ));
    }
    if marked {
        if let Ok(path) = std::fs::canonicalize(&out) {
            lock.path = path.display().to_string();
        }
        let len = writer
            .file_len()
            .map_err(|e| CliError::io(format!("cannot read {}", out.display()), e))?;
        // A run that stops before its first commit leaves the file to be cut back to here.
        lock.note(len)?;
    }
    if writer.dropped_partial_bytes() > 0 {
        ctx.note(format!(
            "{} ended in a record cut short by an interrupted run ({} bytes); it was removed and is pulled again.",
            out.display(),
            writer.dropped_partial_bytes()
        ));
    }
    let bar = ctx.bars.items("deliveries", "pulling");
    let started = Instant::now();
    let output = marked.then_some(&mut lock);
    let outcome = pull_into(
        &provider,
        &project,
        query,
        &mut writer,
        &bar,
        ctrl_c(),
        output,
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    let elapsed = started.elapsed();
    if ctx.json() {
        output::print_json(&json!({
            "project_id": project,
            "provider": provider.vendor().name(),
            "file": out.display().to_string(),
            "format": format,
            "appended": append,
            "written": outcome.written,
            "consumer": a.consumer,
            "cursor": a.consumer.as_ref().map(|_| if server_side { "server-side" } else { "committed" }),
            "commits": outcome.commits,
            "removed_uncommitted_bytes": writer.uncommitted_bytes(),
            "interrupted": outcome.interrupted,
            "elapsed_secs": elapsed.as_secs_f64(),
        }));
    } else {
        let how = if append { "appended to" } else { "written to" };
        println!(
            "{} {how} {} in {:.1}s.",
            output::count(outcome.written, "delivery", "deliveries"),
            out.display(),
            elapsed.as_secs_f64()
        );
        if let Some(c) = &a.consumer {
            if outcome.written == 0 {
                ctx.note(format!("Nothing new for consumer `{c}`."));
            } else if !server_side {
                ctx.note(format!(
                    "Consumer `{c}`'s cursor was committed after the file was synced; the next run resumes there."
                ));
            }
        }
    }
    if outcome.interrupted {
        let mut e = CliError::interrupted(format!(
            "stopped after {}; they are safely in {}",
            output::count(outcome.written, "delivery", "deliveries"),
            out.display()
        ));
        if a.consumer.is_none() {
            // --since/--all rewrite FILE: running again starts over, it does not resume.
            e.advice = Some(format!(
                "running the same command again starts over and overwrites {}; to resume across runs, pull with --consumer NAME",
                out.display()
            ));
        }
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Bars;
    use async_trait::async_trait;
    use futures::stream::{self, BoxStream};
    use labelmux::{Capabilities, Delivery, Error, ErrorKind, Result, TaskId, Vendor};
    use serde_json::{json, Value};
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// Yields d1, d2 at once, then (after a wait) d3, then `tail`.
    struct Fake {
        file: PathBuf,
        fail_at_end: bool,
        /// (checkpoint committed, lines durable in the file at that moment)
        commits: Mutex<Vec<(Value, usize)>>,
    }

    fn delivery(i: u64) -> Delivery {
        Delivery {
            id: labelmux::DeliveryId::new(format!("t{i}")),
            labelset: None,
            review: None,
            updated_at: None,
            task_id: TaskId::new(format!("t{i}")),
            external_key: None,
            project_id: ProjectId::new("p"),
            batch_id: None,
            delivered_at: None,
            answers: json!({"label": i}).into(),
            raw: json!({}).into(),
            checkpoint: Some(Checkpoint(json!(i))),
        }
    }

    #[async_trait]
    impl Provider for Fake {
        fn vendor(&self) -> Vendor {
            Vendor::Scale
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::none()
        }
        fn deliveries(
            &self,
            _: &ProjectId,
            _: DeliveryQuery,
        ) -> BoxStream<'static, Result<Delivery>> {
            let first = stream::iter([Ok(delivery(1)), Ok(delivery(2))]);
            let later = stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(delivery(3))
            });
            let tail: BoxStream<'static, Result<Delivery>> = if self.fail_at_end {
                stream::once(async {
                    Err(Error::new(ErrorKind::ServiceUnavailable, "down")
                        .with_vendor(Vendor::Scale))
                })
                .boxed()
            } else {
                stream::pending().boxed()
            };
            first.chain(later).chain(tail).boxed()
        }
        async fn commit_consumer(&self, _: &ProjectId, _: &str, cp: &Checkpoint) -> Result<()> {
            // What is on disk now (the writer has synced; read the file independently).
            let lines = std::fs::read_to_string(&self.file).unwrap().lines().count();
            self.commits.lock().unwrap().push((cp.0.clone(), lines));
            Ok(())
        }
    }

    fn fake(dir: &tempfile::TempDir, fail_at_end: bool) -> Fake {
        Fake {
            file: dir.path().join("out.jsonl"),
            fail_at_end,
            commits: Mutex::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn cursor_is_committed_only_after_the_file_holds_what_it_covers() {
        let dir = tempfile::tempdir().unwrap();
        let p = fake(&dir, true);
        let mut w = DeliveryWriter::open(&p.file, DeliveryFormat::Jsonl, true).unwrap();
        let bar = Bars::hidden().items("deliveries", "pulling");
        let err = pull_into(
            &p,
            &ProjectId::new("p"),
            DeliveryQuery::since_last_call("etl"),
            &mut w,
            &bar,
            std::future::pending(),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, crate::exit::code::VENDOR);
        assert!(
            err.message.contains("after 3 deliveries"),
            "{}",
            err.message
        );
        // Page 1 (d1, d2) was synced before waiting for d3; d3 was synced before the error.
        let commits = p.commits.lock().unwrap().clone();
        assert_eq!(commits, vec![(json!(2), 2), (json!(3), 3)]);
        assert_eq!(bar.position(), 3);
    }

    #[tokio::test]
    async fn an_interrupted_pull_keeps_and_commits_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let p = fake(&dir, false);
        let mut w = DeliveryWriter::open(&p.file, DeliveryFormat::Jsonl, true).unwrap();
        let bar = Bars::hidden().items("deliveries", "pulling");
        let interrupt = tokio::time::sleep(Duration::from_millis(200));
        let outcome = pull_into(
            &p,
            &ProjectId::new("p"),
            DeliveryQuery::since_last_call("etl"),
            &mut w,
            &bar,
            interrupt,
            None,
        )
        .await
        .unwrap();
        assert!(outcome.interrupted);
        assert_eq!(outcome.written, 3);
        let commits = p.commits.lock().unwrap().clone();
        assert_eq!(commits.last(), Some(&(json!(3), 3)));
    }

    #[tokio::test]
    async fn without_a_consumer_nothing_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let p = fake(&dir, true);
        let mut w = DeliveryWriter::open(&p.file, DeliveryFormat::Jsonl, false).unwrap();
        let bar = Bars::hidden().items("deliveries", "pulling");
        let _ = pull_into(
            &p,
            &ProjectId::new("p"),
            DeliveryQuery::all(),
            &mut w,
            &bar,
            std::future::pending(),
            None,
        )
        .await;
        assert!(p.commits.lock().unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(&p.file).unwrap().lines().count(), 3);
    }

    #[tokio::test]
    async fn a_pull_without_a_consumer_syncs_once_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = fake(&dir, false);
        let bar = Bars::hidden().items("deliveries", "pulling");
        // The stream waits between d2 and d3 (a page boundary), then forever: interrupted.
        let mut w = DeliveryWriter::open(&p.file, DeliveryFormat::Jsonl, false).unwrap();
        let outcome = pull_into(
            &p,
            &ProjectId::new("p"),
            DeliveryQuery::all(),
            &mut w,
            &bar,
            tokio::time::sleep(Duration::from_millis(200)),
            None,
        )
        .await
        .unwrap();
        assert_eq!(outcome.written, 3);
        assert_eq!(w.syncs(), 1, "one sync, at the end");
        assert_eq!(std::fs::read_to_string(&p.file).unwrap().lines().count(), 3);
        // A consumer pull of the same stream syncs at the page boundary too.
        let mut w = DeliveryWriter::open(&p.file, DeliveryFormat::Jsonl, true).unwrap();
        pull_into(
            &p,
            &ProjectId::new("p"),
            DeliveryQuery::since_last_call("etl"),
            &mut w,
            &bar,
            tokio::time::sleep(Duration::from_millis(200)),
            None,
        )
        .await
        .unwrap();
        assert!(w.syncs() >= 2, "{}", w.syncs());
    }
}
