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
    ProgressEvent, ProgressObserver, ProjectId, Provider, TaskFilter, TaskId,
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
                // Only reachable if the file changed since validation.
                .map_err(|e| {
                    Error::validation(format!(
                        "{source}: {e} (the file changed while it was being sent)"
                    ))
                })
        });
    Ok(provider
        .create_batch(project, spec, futures::stream::iter(rows).boxed(), observer)
        .await?)
}

/// Drives the bar, and journals the batch as soon as the vendor names it.
struct CreateObserver {
    bar: BarObserver,
    journal: Journal,
    template: Entry,
    opened: Mutex<Option<String>>,
    handed_over: AtomicU64,
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
            if let Err(err) = self.journal.append(&e) {
                tracing::warn!(error = %err, "cannot journal batch {id}");
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
    /// Send all but these rows (why).
    Skip(HashSet<u64>, String),
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
        return Ok(Resume::Skip(skip, why));
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

pub(crate) async fn create(ctx: &Ctx, a: CreateArgs) -> Result<(), CliError> {
    // Check the configuration first: a missing key should not wait for a long file to parse.
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let file = TaskFile::open(&a.from, a.format)?;
    let summary = file.validate()?;
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
        endpoint: cfg.base_url(vendor),
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
            Resume::Skip(rows, why) => {
                ctx.note(format!(
                    "--resume: {why}; sending the other {}.",
                    summary.rows - rows.len() as u64
                ));
                if rows.len() as u64 == summary.rows {
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
    spec.name = a.batch_name.clone();
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
        journal: journal.clone(),
        template: template.clone(),
        opened: Mutex::new(None),
        handed_over: AtomicU64::new(0),
    });
    let progress: Progress = Some(observer.clone());
    let sent = tokio::select! {
        r = send_rows(&provider, &project, &file, spec, progress, |t| t, skip.as_ref()) => Some(r),
        _ = super::deliveries::ctrl_c() => None,
    };
    bar.finish_and_clear();
    let receipt = match sent {
        Some(r) => r?,
        None => return Err(interrupted(ctx, &observer, &project, &a, summary.rows)),
    };
    let mut done = template.clone();
    done.at = chrono::Utc::now();
    done.batch_id = receipt.batch_id.to_string();
    done.handed_over = summary.rows;
    done.stage = Stage::Sent;
    if let Err(e) = journal.append(&done) {
        ctx.note(format!(
            "warning: cannot journal batch {} in {}: {e}",
            receipt.batch_id,
            journal.path().display()
        ));
    }
    let batch: Option<Batch> = if a.wait {
        Some(
            wait_for_batch(
                &provider,
                &project,
                &receipt.batch_id,
                ctx.bars,
                Duration::from_millis(500),
                None,
            )
            .await?,
        )
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
        return refused_rows(&receipt, batch.as_ref());
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
                println!("{t}");
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
                println!("{t}");
            }
            let accounted = receipt.failures.len() + receipt.already_existed.len();
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
    refused_rows(&receipt, batch.as_ref())
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
    let resume = format!(
        "{} --project {project} tasks create --from {} --resume",
        ctx.again(),
        super::shell_word(&a.from.display().to_string())
    );
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

/// Exit non-zero (after the receipt is printed) when the vendor refused any row, so scripts
/// notice without parsing the output.
fn refused_rows(
    receipt: &labelmux::BatchReceipt,
    batch: Option<&labelmux::Batch>,
) -> Result<(), CliError> {
    let refused = batch
        .map(|b| b.counts.failed)
        .unwrap_or(0)
        .max(receipt.failures.len() as u64);
    if refused == 0 {
        return Ok(());
    }
    Err(CliError::partly_refused(format!(
        "{refused} of {} tasks were refused by the vendor (batch {})",
        receipt.submitted, receipt.batch_id
    )))
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
        // Streamed as one JSON array: memory does not grow with the number of tasks.
        let mut out = std::io::stdout().lock();
        let write_err = |e: std::io::Error| CliError::io("cannot write to stdout", e);
        out.write_all(b"[").map_err(write_err)?;
        let mut n = 0u64;
        while let Some(t) = tasks.try_next().await? {
            if n > 0 {
                out.write_all(b",").map_err(write_err)?;
            }
            out.write_all(b"\n  ").map_err(write_err)?;
            serde_json::to_writer(&mut out, &t).map_err(|e| write_err(e.into()))?;
            n += 1;
        }
        out.write_all(if n > 0 { b"\n]\n" } else { b"]\n" })
            .map_err(write_err)?;
        out.flush().map_err(write_err)?;
    } else {
        let mut header = output::TASK_HEADER.to_vec();
        if a.answers {
            header.push("answers");
        }
        let mut t = output::table(&header);
        let mut n = 0u64;
        while let Some(task) = tasks.try_next().await? {
            let mut row = output::task_row(&task);
            if a.answers {
                row.push(
                    task.answers
                        .as_ref()
                        .map(|a| output::pretty(&a.to_value()))
                        .unwrap_or_else(|| "-".to_owned()),
                );
            }
            t.add_row(row);
            n += 1;
            bar.inc(1);
        }
        bar.finish_and_clear();
        if n == 0 {
            println!("No tasks match.");
        } else {
            println!("{t}");
            println!("{}.", output::count(n, "task", "tasks"));
        }
    }
    Ok(())
}

pub(crate) async fn get(ctx: &Ctx, a: GetArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let task = provider.get_task(&project, &TaskId::new(a.task)).await?;
    if ctx.json() {
        output::print_json(&task);
    } else {
        println!("{}", output::task_fields(&task));
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
            println!("{t}");
        }
    }
    Ok(())
}
