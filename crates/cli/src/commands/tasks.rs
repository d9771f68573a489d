//! `tasks create|list|get|reject|priority|delete`.

use super::batches::wait_for_batch;
use super::Ctx;
use crate::args::{CreateArgs, DeleteArgs, GetArgs, ListArgs, PriorityArgs, RejectArgs};
use crate::exit::CliError;
use crate::journal::{Entry, Journal, Stage};
use crate::output::{self, opt};
use crate::progress::{BarObserver, Bars};
use crate::taskfile::{Summary, TaskFile};
use futures::{StreamExt, TryStreamExt};
use labelmux::{
    Batch, BatchId, BatchReceipt, BatchSpec, BatchStatus, Error, Operation, Progress,
    ProgressEvent, ProgressObserver, ProjectId, Property, Provider, TaskFilter, TaskId,
};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Send every row of a validated file as one batch, with a progress bar of tasks sent.
pub(crate) async fn send_file(
    provider: &impl Provider,
    project: &ProjectId,
    file: &TaskFile,
    summary: &Summary,
    spec: BatchSpec,
    bars: Bars,
    adapt: fn(labelmux::TaskSpec) -> labelmux::TaskSpec,
) -> Result<BatchReceipt, CliError> {
    let bar = bars.tasks(summary.rows, "sending tasks");
    let observer: Progress = Some(Arc::new(BarObserver::new(bar.clone())));
    let receipt = send_rows(provider, project, file, spec, observer, adapt, None).await;
    bar.finish_and_clear();
    receipt
}

/// Send the rows of a validated file as one batch, leaving out the rows (0-based) in `skip`.
async fn send_rows(
    provider: &impl Provider,
    project: &ProjectId,
    file: &TaskFile,
    spec: BatchSpec,
    observer: Progress,
    adapt: fn(labelmux::TaskSpec) -> labelmux::TaskSpec,
    skip: Option<&HashSet<u64>>,
) -> Result<BatchReceipt, CliError> {
    let source = file.source().to_string();
    let rows = file
        .rows()?
        .enumerate()
        .filter(move |(i, _)| skip.is_none_or(|s| !s.contains(&(*i as u64))))
        .map(move |(_, r)| {
            r.map(|row| adapt(row.spec))
                // Only reachable if the file changed since validation (which the reader says).
                .map_err(|e| Error::validation(format!("{source}: {e}")))
        });
    Ok(provider
        .create_batch(project, spec, futures::stream::iter(rows).boxed(), observer)
        .await?)
}

/// Drives the bar, and journals and announces the batch as soon as the vendor names it.
struct CreateObserver {
    bar: BarObserver,
    /// The bar itself, to print above it.
    line: indicatif::ProgressBar,
    journal: Journal,
    template: Entry,
    opened: Mutex<Option<String>>,
    handed_over: AtomicU64,
    /// Say on stderr which batch was opened (not under `-q` or `--output json`).
    announce: bool,
}

impl ProgressObserver for CreateObserver {
    fn on_progress(&self, event: ProgressEvent) {
        if let ProgressEvent::TasksSent(n) = &event {
            self.handed_over.fetch_add(*n, Ordering::Relaxed);
        }
        if let ProgressEvent::BatchOpened(id) = &event {
            if let Ok(mut o) = self.opened.lock() {
                *o = Some(id.to_string());
            }
            let mut e = self.template.clone();
            e.at = chrono::Utc::now();
            e.batch_id = id.to_string();
            e.handed_over = self.handed_over.load(Ordering::Relaxed);
            let journaled = match self.journal.append(&e) {
                Ok(()) => format!("journaled in {}", self.journal.path().display()),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot journal batch {id}");
                    format!("could not be journaled: {err}")
                }
            };
            if self.announce {
                // Said at once: whatever happens next, the user knows which batch to follow.
                self.line.suspend(|| {
                    eprintln!(
                        "{} opened batch {id} in project {} ({journaled}).",
                        self.template.vendor, self.template.project
                    )
                });
            }
        }
        self.bar.on_progress(event);
    }
}

impl CreateObserver {
    fn opened(&self) -> Option<String> {
        self.opened.lock().ok().and_then(|o| o.clone())
    }
}

/// What `--resume` found out about earlier runs of the same file.
enum Resume {
    /// Every row is with the vendor already, in this batch.
    AlreadySent(Entry, String),
    /// Send every row (why).
    All(String),
    /// Send all but these rows (why), into `into` when the vendor can add to the interrupted
    /// batch ([`Property::ResumableBatches`]): it is then finished (and started) even when no
    /// row is left to send.
    Skip {
        rows: HashSet<u64>,
        why: String,
        into: Option<String>,
    },
}

async fn plan_resume(
    provider: &impl Provider,
    project: &ProjectId,
    file: &TaskFile,
    summary: &Summary,
    journal: &Journal,
    template: &Entry,
) -> Result<Resume, CliError> {
    let earlier = journal
        .batches(|e| {
            e.is_for(
                &template.vendor,
                &template.endpoint,
                &template.project,
                &template.file,
            )
        })
        .map_err(|e| CliError::io(format!("cannot read {}", journal.path().display()), e))?;
    let Some(last) = earlier.into_iter().next() else {
        return Ok(Resume::All(format!(
            "no earlier run of {} to project {} at {} is journaled",
            template.file, template.project, template.endpoint
        )));
    };
    if last.file_len != template.file_len {
        return Err(CliError::usage(format!(
            "{} changed since it was sent as batch {} ({} bytes then, {} now); --resume needs the same file",
            template.file, last.batch_id, last.file_len, template.file_len
        )));
    }
    if last.stage == Stage::Sent {
        let why = format!(
            "the vendor acknowledged every row as batch {} at {}",
            last.batch_id,
            last.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        return Ok(Resume::AlreadySent(last, why));
    }
    let vendor = provider.vendor();
    if provider.capabilities().supports(Operation::FindTask) {
        // Look every row up by its external key; a row without one cannot be told apart.
        let mut keys = Vec::new();
        let mut unkeyed = 0u64;
        for (i, row) in file.rows()?.enumerate() {
            match row.ok().and_then(|r| r.spec.external_key) {
                Some(k) => keys.push((i as u64, k)),
                None => unkeyed += 1,
            }
        }
        if unkeyed > 0 {
            return Err(CliError::usage(format!(
                "{unkeyed} of {} rows have no external_id, so {vendor} cannot tell whether the interrupted batch {} created them; add an external_id column to resume safely",
                summary.rows, last.batch_id
            )));
        }
        let found: Vec<Option<u64>> = futures::stream::iter(keys)
            .map(
                |(i, k)| async move { provider.find_task(project, &k).await.map(|t| t.map(|_| i)) },
            )
            .buffered(8)
            .try_collect()
            .await?;
        let skip: HashSet<u64> = found.into_iter().flatten().collect();
        let why = format!(
            "{} of {} rows already exist at {vendor} (looked up by external key)",
            skip.len(),
            summary.rows
        );
        let into = provider
            .capabilities()
            .has(Property::ResumableBatches)
            .then(|| last.batch_id.clone());
        return Ok(Resume::Skip {
            rows: skip,
            why,
            into,
        });
    }
    // Without look-ups, the batch itself tells: never started means nothing was created.
    let batch = BatchId::new(last.batch_id.clone());
    let b = provider.batch_status(project, &batch).await?;
    let c = &b.counts;
    match b.status {
        BatchStatus::Waiting => {
            // Best effort: the stale batch would otherwise linger at the vendor.
            let _ = provider.cancel_batch(project, &batch).await;
            Ok(Resume::All(format!(
                "batch {batch} was never started, so nothing was created from it"
            )))
        }
        BatchStatus::Failed | BatchStatus::Canceled if c.created == 0 => Ok(Resume::All(format!(
            "batch {batch} is {} with no task created",
            b.status
        ))),
        BatchStatus::Processing | BatchStatus::Created
            if c.submitted == Some(summary.rows)
                || c.created + c.failed + c.pending + c.canceled == summary.rows =>
        {
            let why = format!(
                "batch {batch} holds all {} rows (its creation is {})",
                summary.rows, b.status
            );
            let mut e = last.clone();
            e.at = chrono::Utc::now();
            e.stage = Stage::Sent;
            e.handed_over = summary.rows;
            let _ = journal.append(&e);
            Ok(Resume::AlreadySent(e, why))
        }
        _ => Err(CliError::usage(format!(
            "batch {batch} is {} with {} of {} tasks created, and {vendor} cannot look tasks up by external key: labelmux cannot tell which rows are missing; see `batches status --batch {batch}`",
            b.status, c.created, summary.rows
        ))),
    }
}

fn failures_json(failures: &[labelmux::TaskCreationFailure], summary: &Summary) -> Vec<Value> {
    failures
        .iter()
        .map(|f| {
            json!({
                "line": f.index.and_then(|i| summary.lines.line_of(i)),
                "index": f.index,
                "external_key": f.external_key,
                "errors": f.errors,
            })
        })
        .collect()
}

/// Validate on a thread of its own, so that Ctrl-C (e.g. while a pipe is being spooled) ends
/// the run at once with its spool file removed.
async fn validate_interruptible(file: &TaskFile) -> Result<Summary, CliError> {
    let worker = file.clone();
    let validating = tokio::task::spawn_blocking(move || worker.validate());
    tokio::select! {
        r = validating => r.unwrap_or_else(|e| {
            Err(CliError::other(
                format!("validating the task file failed: {e}"),
                "run again; report it if it happens again",
            ))
        }),
        _ = super::deliveries::ctrl_c() => {
            file.discard_spool();
            Err(CliError::interrupted(format!(
                "tasks create interrupted while {} was being read; nothing was sent",
                file.source()
            )))
        }
    }
}

pub(crate) async fn create(ctx: &Ctx, a: CreateArgs) -> Result<(), CliError> {
    // Check the configuration first: a missing key should not wait for a long file to parse.
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    // Spool files of runs killed outright (kill -9) are removed here, on the next start.
    let _ =
        tokio::task::spawn_blocking(|| labelmux::spool::remove_stale_spools(&std::env::temp_dir()))
            .await;
    let file = TaskFile::open(&a.from, a.format)?;
    if a.resume && file.is_stream() {
        return Err(CliError::usage(format!(
            "{} is a pipe or FIFO: --resume matches a file on disk with its earlier run; save the stream to a file and pass that",
            a.from.display()
        )));
    }
    let summary = validate_interruptible(&file).await?;
    ctx.note(format!(
        "{}: {}, every row valid; sending to {} project {project}",
        file.source(),
        output::count(summary.rows, "task", "tasks"),
        provider.vendor()
    ));
    let vendor = provider.vendor();
    let journal = super::batches::journal(&cfg);
    let template = Entry {
        at: chrono::Utc::now(),
        vendor: vendor.name().to_owned(),
        endpoint: cfg.base_url_shown(vendor),
        project: project.to_string(),
        batch_id: String::new(),
        file: std::fs::canonicalize(&a.from)
            .unwrap_or_else(|_| a.from.clone())
            .display()
            .to_string(),
        file_len: std::fs::metadata(&a.from).map(|m| m.len()).unwrap_or(0),
        rows: summary.rows,
        handed_over: 0,
        stage: Stage::Opened,
    };
    let mut skip = None;
    // The interrupted batch the rows go back into (vendors that can add to it).
    let mut resume_into: Option<String> = None;
    if a.resume {
        match plan_resume(&provider, &project, &file, &summary, &journal, &template).await? {
            Resume::AlreadySent(e, why) => {
                if ctx.json() {
                    output::print_json(&json!({
                        "batch_id": e.batch_id,
                        "project_id": project,
                        "provider": vendor.name(),
                        "file": file.source().to_string(),
                        "rows_sent": 0,
                        "resumed": true,
                        "already_sent": true,
                        "reason": why,
                    }));
                } else {
                    println!("Nothing to send: {why}.");
                }
                return Ok(());
            }
            Resume::All(why) => ctx.note(format!("--resume: {why}; sending every row.")),
            Resume::Skip { rows, why, into } => {
                let left = summary.rows - rows.len() as u64;
                match &into {
                    Some(b) => ctx.note(format!(
                        "--resume: {why}; sending the other {left} into batch {b}, and finishing it."
                    )),
                    None => ctx.note(format!("--resume: {why}; sending the other {left}.")),
                }
                if let (Some(b), Some(name)) = (&into, &a.batch_name) {
                    if b != name {
                        return Err(CliError::usage(format!(
                            "--resume continues batch {b}, but --batch-name says {name}: leave --batch-name out, or pass --batch-name {b}"
                        )));
                    }
                }
                if left == 0 && into.is_none() {
                    if ctx.json() {
                        output::print_json(
                            &json!({"project_id": project, "provider": vendor.name(), "file": file.source().to_string(), "rows_sent": 0, "resumed": true, "already_sent": true, "reason": why}),
                        );
                    } else {
                        println!("Nothing to send: {why}.");
                    }
                    return Ok(());
                }
                skip = Some(rows);
                resume_into = into;
            }
        }
    }
    // With rows left out, failures are numbered within what was sent: map them back.
    let summary = match &skip {
        None => summary,
        Some(rows) => {
            let mut lines = crate::taskfile::LineIndex::default();
            for i in (0..summary.rows).filter(|i| !rows.contains(i)) {
                if let Some(l) = summary.lines.line_of(i) {
                    lines.push(l);
                }
            }
            Summary {
                with_priority: summary.with_priority,
                rows: lines.rows(),
                first_line: lines.line_of(0),
                last_line: lines.rows().checked_sub(1).and_then(|i| lines.line_of(i)),
                lines,
            }
        }
    };
    if !provider.capabilities().supports(Operation::SetPriority) {
        // Said once, not per row: the vendor has no task priority to set.
        let mut ignored = Vec::new();
        if a.priority.is_some() {
            ignored.push("--priority".to_owned());
        }
        if summary.with_priority > 0 {
            ignored.push(format!(
                "the `priority` column ({} rows)",
                summary.with_priority
            ));
        }
        if !ignored.is_empty() {
            ctx.note(format!(
                "warning: {vendor} has no task priority, so {} is ignored",
                ignored.join(" and ")
            ));
        }
    }
    let mut spec = BatchSpec::default();
    spec.name = resume_into.clone().or_else(|| a.batch_name.clone());
    spec.priority = a.priority;
    if a.submit {
        if provider.vendor() == labelmux::Vendor::Sama {
            spec = spec.with_extension("submit", serde_json::Value::Bool(true));
        } else {
            ctx.note(format!(
                "warning: --submit is a Sama option; {} has no submit step (tasks go straight to its workforce), so it is ignored",
                provider.vendor()
            ));
        }
    }
    let bar = ctx.bars.tasks(summary.rows, "sending tasks");
    let observer = Arc::new(CreateObserver {
        bar: BarObserver::new(bar.clone()),
        line: bar.clone(),
        journal: journal.clone(),
        template: template.clone(),
        opened: Mutex::new(None),
        handed_over: AtomicU64::new(0),
        announce: !ctx.global.quiet && !ctx.json(),
    });
    let progress: Progress = Some(observer.clone());
    let sent = tokio::select! {
        r = send_rows(&provider, &project, &file, spec, progress, |t| t, skip.as_ref()) => Some(r),
        _ = super::deliveries::ctrl_c() => None,
    };
    bar.finish_and_clear();
    let receipt = match sent {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(failed_after_opening(ctx, &observer, &project, &a, e)),
        None => return Err(interrupted(ctx, &observer, &project, &a, summary.rows)),
    };
    let mut done = template.clone();
    done.at = chrono::Utc::now();
    done.batch_id = receipt.batch_id.to_string();
    done.handed_over = summary.rows;
    // Rows of unknown outcome are not settled: `--resume` must still look them up (and finish
    // the batch where the vendor left it open for them).
    done.stage = if receipt.unknown.is_empty() {
        Stage::Sent
    } else {
        Stage::Opened
    };
    if let Err(e) = journal.append(&done) {
        ctx.note(format!(
            "warning: cannot journal batch {} in {}: {e}",
            receipt.batch_id,
            journal.path().display()
        ));
    }
    let batch: Option<Batch> = if a.wait {
        let waited = wait_for_batch(
            &provider,
            &project,
            &receipt.batch_id,
            ctx.bars,
            Duration::from_millis(500),
            None,
        )
        .await;
        match waited {
            Ok(b) => Some(b),
            Err(e) => return Err(wait_failed(ctx, &project, &receipt, &a, e)),
        }
    } else {
        None
    };

    let lines = match (summary.first_line, summary.last_line) {
        (Some(f), Some(l)) => format!("lines {f}-{l}"),
        _ => "no lines".to_owned(),
    };
    if ctx.json() {
        // After --wait the batch knows the failures the receipt could not yet see: the top-level
        // fields agree with the exit code.
        let (failed, failures) = match &batch {
            Some(b) if b.counts.failed as usize > receipt.failures.len() => {
                (b.counts.failed, failures_json(&b.failures, &summary))
            }
            _ => (
                receipt.failures.len() as u64,
                failures_json(&receipt.failures, &summary),
            ),
        };
        let mut doc = json!({
            "batch_id": receipt.batch_id,
            "project_id": receipt.project_id,
            "provider": provider.vendor().name(),
            "file": file.source().to_string(),
            "rows_sent": summary.rows,
            "first_line": summary.first_line,
            "last_line": summary.last_line,
            "submitted": receipt.submitted,
            "created": receipt.created,
            "failed": failed,
            "failures": failures,
            "unknown": failures_json(&receipt.unknown, &summary),
            "already_existed": existed_json(&receipt.already_existed, &summary),
            "task_ids": receipt.task_ids,
        });
        if let Some(b) = &batch {
            doc["batch"] = json!({
                "status": b.status,
                "counts": b.counts,
                "failures": failures_json(&b.failures, &summary),
            });
        }
        output::print_json(&doc);
        return unsettled_rows(ctx, &receipt, batch.as_ref(), &a);
    }
    println!(
        "Batch {} in project {} ({}): sent {} of {} ({lines}).",
        receipt.batch_id,
        receipt.project_id,
        provider.vendor(),
        output::count(summary.rows, "row", "rows"),
        file.source()
    );
    if receipt.submitted != summary.rows {
        println!(
            "Note: the vendor counted {} tasks submitted.",
            receipt.submitted
        );
    }
    let line_of = |i: u64| summary.lines.line_of(i);
    match &batch {
        Some(b) => {
            println!(
                "Creation {}: {} created, {} failed.",
                b.status, b.counts.created, b.counts.failed
            );
            for t in output::batch_tables(b, line_of).into_iter().skip(1) {
                output::print_table(&t);
            }
        }
        None => {
            println!(
                "Created so far: {}; failed so far: {}.",
                receipt.created,
                receipt.failures.len()
            );
            if !receipt.failures.is_empty() {
                let mut t = output::table(&["row", "line", "external key", "errors"]);
                for f in &receipt.failures {
                    t.add_row(vec![
                        opt(f.index.map(|i| i + 1)),
                        opt(f.index.and_then(line_of)),
                        opt(f.external_key.as_deref()),
                        f.errors.join("; "),
                    ]);
                }
                output::print_table(&t);
            }
            if !receipt.unknown.is_empty() {
                let mut t = output::table(&["row", "line", "external key", "what happened"]);
                for f in &receipt.unknown {
                    t.add_row(vec![
                        opt(f.index.map(|i| i + 1)),
                        opt(f.index.and_then(line_of)),
                        opt(f.external_key.as_deref()),
                        f.errors.join("; "),
                    ]);
                }
                println!(
                    "{} with an unknown outcome (the vendor may or may not have created them):\n{t}",
                    output::count(receipt.unknown.len() as u64, "row", "rows")
                );
            }
            let accounted =
                receipt.failures.len() + receipt.unknown.len() + receipt.already_existed.len();
            if receipt.created + (accounted as u64) < receipt.submitted {
                ctx.note(format!(
                    "{} creates tasks asynchronously; follow with: {} --project {} batches status --batch {} --wait",
                    provider.vendor(),
                    ctx.again(),
                    receipt.project_id,
                    receipt.batch_id
                ));
            }
        }
    }
    if !receipt.already_existed.is_empty() {
        let mut t = output::table(&["row", "line", "external key", "existing task", "in batch"]);
        for x in &receipt.already_existed {
            t.add_row(vec![
                (x.index + 1).to_string(),
                opt(line_of(x.index)),
                opt(x.external_key.as_deref()),
                x.task_id.to_string(),
                opt(x.batch_id.as_ref().map(|b| b.to_string())),
            ]);
        }
        println!(
            "{} matched existing tasks by external key (not duplicated, not in this batch):\n{t}",
            output::count(receipt.already_existed.len() as u64, "row", "rows")
        );
    }
    unsettled_rows(ctx, &receipt, batch.as_ref(), &a)
}

/// The `--resume` command line for this run's file.
fn resume_command(ctx: &Ctx, project: &ProjectId, a: &CreateArgs) -> String {
    format!(
        "{} --project {project} tasks create --from {} --resume",
        ctx.again(),
        super::shell_word(&a.from.display().to_string())
    )
}

/// The error of a `tasks create` that failed: when the vendor had opened a batch by then, the
/// message names it and the advice says how to follow it and finish it, never to send the file
/// again as it is (that could duplicate what the batch holds).
fn failed_after_opening(
    ctx: &Ctx,
    observer: &CreateObserver,
    project: &ProjectId,
    a: &CreateArgs,
    e: CliError,
) -> CliError {
    let Some(batch) = observer.opened() else {
        return e;
    };
    let mut e = e.context(format!(
        "tasks create failed after {} opened batch {batch} in project {project}",
        observer.template.vendor
    ));
    e.batch_id = Some(batch.clone());
    e.advice = Some(format!(
        "do not send the file again as it is: see what batch {batch} holds with `{} --project {project} batches status --batch {batch}`, then send only what is missing with `{}`",
        ctx.again(),
        resume_command(ctx, project, a)
    ));
    e
}

/// The error of `--wait` failing after every row was handed over: the batch exists, with the
/// whole file; only following it failed.
fn wait_failed(
    ctx: &Ctx,
    project: &ProjectId,
    receipt: &BatchReceipt,
    a: &CreateArgs,
    e: CliError,
) -> CliError {
    let batch = receipt.batch_id.to_string();
    let mut e = e.context(format!(
        "batch {batch} in project {project} holds all {} rows sent (journaled as sent), but waiting for it failed",
        receipt.submitted
    ));
    e.batch_id = Some(batch.clone());
    e.advice = Some(format!(
        "do not send the file again: follow the batch with `{} --project {project} batches status --batch {batch} --wait` (`{}` also knows it was sent)",
        ctx.again(),
        resume_command(ctx, project, a)
    ));
    e
}

/// The error of a `tasks create` stopped by Ctrl-C: which batch, how far, what to run next.
fn interrupted(
    ctx: &Ctx,
    observer: &CreateObserver,
    project: &ProjectId,
    a: &CreateArgs,
    rows: u64,
) -> CliError {
    let handed = observer.handed_over.load(Ordering::Relaxed);
    let vendor = &observer.template.vendor;
    let resume = resume_command(ctx, project, a);
    let message = match observer.opened() {
        Some(batch) => {
            let mut e = observer.template.clone();
            e.at = chrono::Utc::now();
            e.batch_id = batch.clone();
            e.handed_over = handed;
            e.stage = Stage::Interrupted;
            let _ = observer.journal.append(&e);
            format!(
                "tasks create interrupted: {vendor} opened batch {batch} in project {project}; {handed} of {rows} rows had been read for it, and the vendor had not acknowledged them. See it with `{} --project {project} batches status --batch {batch}`",
                ctx.again()
            )
        }
        None => format!(
            "tasks create interrupted before {vendor} reported a batch; {handed} of {rows} rows had been read"
        ),
    };
    let mut e = CliError::interrupted(message);
    e.advice = Some(format!("send only what is missing with `{resume}`"));
    e
}

/// Exit non-zero (after the receipt is printed) when a row is not settled, so scripts notice
/// without parsing the output: rows of unknown outcome first (exit 7: sending them again may
/// duplicate them), then rows the vendor refused (exit 5: fix them and send them again).
fn unsettled_rows(
    ctx: &Ctx,
    receipt: &labelmux::BatchReceipt,
    batch: Option<&labelmux::Batch>,
    a: &CreateArgs,
) -> Result<(), CliError> {
    let refused = batch
        .map(|b| b.counts.failed)
        .unwrap_or(0)
        .max(receipt.failures.len() as u64);
    let unknown = receipt.unknown.len() as u64;
    if unknown > 0 {
        let keyed = receipt.unknown.iter().all(|f| f.external_key.is_some());
        let project = &receipt.project_id;
        let batch = &receipt.batch_id;
        let advice = if keyed {
            format!(
                "every one has an external key: `{}` looks them up and sends only the missing ones",
                resume_command(ctx, project, a)
            )
        } else {
            format!(
                "do not send them again blindly: look for them with `{} --project {project} tasks list --batch {batch}`; rows with an external key are settled safely by `{}`",
                ctx.again(),
                resume_command(ctx, project, a)
            )
        };
        let also = if refused > 0 {
            format!("; {refused} more were refused")
        } else {
            String::new()
        };
        let mut e = CliError::unknown_outcome(
            format!(
                "the outcome of {unknown} of {} tasks is unknown (batch {batch}): the vendor may have created them, but its answer was lost or it kept failing{also}",
                receipt.submitted
            ),
            advice,
        );
        e.batch_id = Some(batch.to_string());
        return Err(e);
    }
    if refused == 0 {
        return Ok(());
    }
    let mut e = CliError::partly_refused(format!(
        "{refused} of {} tasks were refused by the vendor (batch {})",
        receipt.submitted, receipt.batch_id
    ));
    e.batch_id = Some(receipt.batch_id.to_string());
    Err(e)
}

fn existed_json(existed: &[labelmux::AlreadyExisted], summary: &Summary) -> Vec<Value> {
    existed
        .iter()
        .map(|x| {
            json!({
                "line": summary.lines.line_of(x.index),
                "index": x.index,
                "external_key": x.external_key,
                "task_id": x.task_id,
                "batch_id": x.batch_id,
            })
        })
        .collect()
}

pub(crate) async fn list(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let mut filter = TaskFilter::default()
        .with_window(a.since, None)
        .with_answers(a.answers);
    if let Some(batch) = a.batch {
        filter = filter.with_batch(batch);
    }
    if let Some(state) = a.state {
        filter = filter.with_state(state);
    }
    let mut tasks = provider.list_tasks(&project, filter);
    let bar = ctx.bars.items("tasks", "listing");
    if ctx.json() {
        // Streamed as one JSON array: memory does not grow with the number of tasks. It opens
        // with the first task, so a listing that fails at once prints only the error document;
        // one that fails later closes the array of the tasks received (stdout stays one
        // document) and reports the error on stderr and in the exit code.
        let mut out = std::io::stdout().lock();
        let write_err = |e: std::io::Error| CliError::io("cannot write to stdout", e);
        let mut n = 0u64;
        loop {
            let t = match tasks.try_next().await {
                Ok(Some(t)) => t,
                Ok(None) => break,
                Err(e) if n == 0 => return Err(e.into()),
                Err(e) => {
                    out.write_all(b"\n]\n").map_err(write_err)?;
                    out.flush().map_err(write_err)?;
                    let mut e = CliError::from(e);
                    e.result_printed = true;
                    return Err(e);
                }
            };
            out.write_all(if n == 0 { b"[" } else { b"," })
                .map_err(write_err)?;
            out.write_all(b"\n  ").map_err(write_err)?;
            serde_json::to_writer(&mut out, &t).map_err(|e| write_err(e.into()))?;
            n += 1;
        }
        out.write_all(if n > 0 { b"\n]\n" } else { b"[]\n" })
            .map_err(write_err)?;
        out.flush().map_err(write_err)?;
    } else {
        let mut header = output::TASK_HEADER.to_vec();
        if a.answers {
            header.push("answers");
        }
        // Printed a page of rows at a time: memory holds one page however many tasks match,
        // and an endless listing (a hostile server; ended by the listing's progress guard)
        // never grows it. A result that fits in one page prints as one table.
        let mut page = Vec::with_capacity(TABLE_PAGE_ROWS);
        let mut n = 0u64;
        let flush = |page: &mut Vec<Vec<String>>| {
            if page.is_empty() {
                return;
            }
            let mut t = output::table(&header);
            for row in page.drain(..) {
                t.add_row(row);
            }
            bar.suspend(|| output::print_table(&t));
        };
        loop {
            let task = match tasks.try_next().await {
                Ok(Some(task)) => task,
                Ok(None) => break,
                Err(e) => {
                    // The rows received so far are shown before the error.
                    flush(&mut page);
                    bar.finish_and_clear();
                    return Err(e.into());
                }
            };
            let mut row = output::task_row(&task);
            if a.answers {
                row.push(
                    task.answers
                        .as_ref()
                        .map(|a| output::pretty(&a.to_value()))
                        .unwrap_or_else(|| "-".to_owned()),
                );
            }
            page.push(row);
            n += 1;
            bar.inc(1);
            if page.len() == TABLE_PAGE_ROWS {
                flush(&mut page);
            }
        }
        flush(&mut page);
        bar.finish_and_clear();
        if n == 0 {
            println!("No tasks match.");
        } else {
            println!("{}.", output::count(n, "task", "tasks"));
        }
    }
    Ok(())
}

/// Rows of `tasks list` held before they are printed as one table.
const TABLE_PAGE_ROWS: usize = 500;

pub(crate) async fn get(ctx: &Ctx, a: GetArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let task = provider.get_task(&project, &TaskId::new(a.task)).await?;
    if ctx.json() {
        output::print_json(&task);
    } else {
        output::print_table(&output::task_fields(&task));
    }
    Ok(())
}

pub(crate) async fn reject(ctx: &Ctx, a: RejectArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let task = TaskId::new(a.task);
    provider.reject_task(&project, &task, &a.reasons).await?;
    if ctx.json() {
        output::print_json(
            &json!({"task_id": task, "project_id": project, "rejected": true, "reasons": a.reasons}),
        );
    } else {
        println!("Rejected task {task} ({}).", a.reasons.join("; "));
    }
    Ok(())
}

pub(crate) async fn priority(ctx: &Ctx, a: PriorityArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let tasks: Vec<TaskId> = a.tasks.into_iter().map(TaskId::new).collect();
    provider.set_priority(&project, &tasks, a.priority).await?;
    if ctx.json() {
        output::print_json(&json!({"project_id": project, "priority": a.priority, "tasks": tasks}));
    } else {
        println!(
            "Set priority {} on {}.",
            a.priority,
            output::count(tasks.len() as u64, "task", "tasks")
        );
    }
    Ok(())
}

pub(crate) async fn delete(ctx: &Ctx, a: DeleteArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let tasks: Vec<TaskId> = a.tasks.into_iter().map(TaskId::new).collect();
    let report = provider.delete_tasks(&project, &tasks).await?;
    if ctx.json() {
        output::print_json(&json!({
            "project_id": project,
            "deleted": report.deleted,
            "refused": report.refused.iter().map(|(t, why)| json!({"task_id": t, "reason": why})).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "Deleted {}.",
            output::count(report.deleted.len() as u64, "task", "tasks")
        );
        if !report.refused.is_empty() {
            let mut t = output::table(&["task", "not deleted because"]);
            for (task, why) in &report.refused {
                t.add_row(vec![task.to_string(), why.clone()]);
            }
            output::print_table(&t);
        }
    }
    Ok(())
}
