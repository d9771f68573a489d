//! `tasks create|list|get|reject|priority|delete`.

use super::batches::wait_for_batch;
use super::Ctx;
use crate::args::{CreateArgs, DeleteArgs, GetArgs, ListArgs, PriorityArgs, RejectArgs};
use crate::exit::CliError;
use crate::output::{self, opt};
use crate::progress::{BarObserver, Bars};
use crate::taskfile::{Summary, TaskFile};
use futures::{StreamExt, TryStreamExt};
use labelmux::{
    Batch, BatchReceipt, BatchSpec, Error, Progress, ProjectId, Provider, TaskFilter, TaskId,
};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
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
    let source = file.source().to_string();
    let rows = file.rows()?.map(move |r| {
        r.map(|row| adapt(row.spec))
            // Only reachable if the file changed since validation.
            .map_err(|e| {
                Error::validation(format!(
                    "{source}: {e} (the file changed while it was being sent)"
                ))
            })
    });
    let receipt = provider
        .create_batch(project, spec, futures::stream::iter(rows).boxed(), observer)
        .await;
    bar.finish_and_clear();
    Ok(receipt?)
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
        "{}: {} tasks, every row valid; sending to {} project {project}",
        file.source(),
        summary.rows,
        provider.vendor()
    ));
    let mut spec = BatchSpec::default();
    spec.name = a.batch_name.clone();
    spec.priority = a.priority;
    if a.submit {
        if provider.vendor() == labelmux::Vendor::Sama {
            spec = spec.with_extension("submit", serde_json::Value::Bool(true));
        } else {
            ctx.note(format!(
                "warning: --submit is a Sama option; {} has no submit step, so it is ignored",
                provider.vendor()
            ));
        }
    }
    let receipt = send_file(&provider, &project, &file, &summary, spec, ctx.bars, |t| t).await?;
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
            "failed": receipt.failures.len(),
            "failures": failures_json(&receipt.failures, &summary),
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
        "Batch {} in project {} ({}): sent {} rows of {} ({lines}).",
        receipt.batch_id,
        receipt.project_id,
        provider.vendor(),
        summary.rows,
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
                        opt(f.index),
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
                    "{} creates tasks asynchronously; follow with: labelmux batches status --project {} --batch {} --wait",
                    provider.vendor(),
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
                x.index.to_string(),
                opt(line_of(x.index)),
                opt(x.external_key.as_deref()),
                x.task_id.to_string(),
                opt(x.batch_id.as_ref().map(|b| b.to_string())),
            ]);
        }
        println!(
            "{} rows matched existing tasks by external key (not duplicated, not in this batch):\n{t}",
            receipt.already_existed.len()
        );
    }
    refused_rows(&receipt, batch.as_ref())
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
        let mut t = output::table(&output::TASK_HEADER);
        let mut n = 0u64;
        while let Some(task) = tasks.try_next().await? {
            t.add_row(output::task_row(&task));
            n += 1;
            bar.inc(1);
        }
        bar.finish_and_clear();
        if n == 0 {
            println!("No tasks match.");
        } else {
            println!("{t}");
            println!("{n} task(s).");
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
        println!("Set priority {} on {} task(s).", a.priority, tasks.len());
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
        println!("Deleted {} task(s).", report.deleted.len());
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
