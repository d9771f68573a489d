//! `batches status [--wait]`, `batches cancel`.

use super::Ctx;
use crate::args::{BatchArg, StatusArgs};
use crate::exit::CliError;
use crate::journal::Journal;
use crate::output;
use crate::progress::Bars;
use futures::TryStreamExt;
use labelmux::{Batch, BatchId, Operation, ProjectId, Provider, WaitOptions};
use serde_json::json;
use std::time::Duration;

/// Wait (the provider's own [`Provider::wait_batch`]) until a batch's creation has finished,
/// showing created+failed of submitted; `timeout: None` waits as long as it takes.
pub(crate) async fn wait_for_batch(
    provider: &impl Provider,
    project: &ProjectId,
    batch: &BatchId,
    bars: Bars,
    interval: Duration,
    timeout: Option<Duration>,
) -> Result<Batch, CliError> {
    let bar = bars.waiting(1, &format!("batch {batch}: creating tasks"));
    let shown = bar.clone();
    let label = batch.to_string();
    let mut options = WaitOptions::default()
        .with_interval(interval, interval)
        .with_progress(move |b: &Batch| {
            let c = &b.counts;
            let done = c.created + c.failed + c.canceled;
            shown.set_length(c.submitted.unwrap_or(done + c.pending).max(done));
            shown.set_position(done);
            shown.set_message(format!("batch {label}: {}", b.status));
        });
    options = match timeout {
        Some(t) => options.with_timeout(t),
        None => options.without_timeout(),
    };
    let result = provider.wait_batch(project, batch, options).await;
    bar.finish_and_clear();
    Ok(result?)
}

/// Longest `--timeout` of `batches status --wait`: a year.
const MAX_WAIT_SECS: f64 = 365.0 * 24.0 * 3600.0;

pub(crate) async fn status(ctx: &Ctx, a: StatusArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let batch = BatchId::new(a.batch);
    // Bounded, so that no value can panic `Duration` or wait for ever between two polls.
    if !(a.interval > 0.0 && a.interval <= 3600.0) {
        return Err(CliError::usage(
            "--interval must be a positive number of seconds, at most 3600",
        ));
    }
    let timeout = match a.timeout {
        Some(t) if (0.0..=MAX_WAIT_SECS).contains(&t) => Some(Duration::from_secs_f64(t)),
        Some(_) => {
            return Err(CliError::usage(format!(
                "--timeout must be a number of seconds from 0 to {MAX_WAIT_SECS}"
            )))
        }
        None => None,
    };
    let b = if a.wait {
        wait_for_batch(
            &provider,
            &project,
            &batch,
            ctx.bars,
            Duration::from_secs_f64(a.interval),
            timeout,
        )
        .await
        .map_err(|mut e| {
            // Our own --timeout ran out, not the transport's: say which knob that is.
            if timeout.is_some() && e.kind == "timeout" && e.operation.as_deref() == Some("wait_batch") && e.status.is_none() {
                e.advice = Some(
                    "the batch is still being created: wait longer with a larger --timeout, or leave --timeout out to wait as long as it takes".into(),
                );
            }
            e
        })?
    } else {
        provider.batch_status(&project, &batch).await?
    };
    if ctx.json() {
        output::print_json(&b);
    } else {
        for t in output::batch_tables(&b, |_| None) {
            output::print_table(&t);
        }
    }
    // Same rule as `tasks create --wait`: refused tasks make the exit code non-zero.
    if b.counts.failed > 0 {
        return Err(CliError::partly_refused(format!(
            "{} of {} tasks of batch {} were refused by the vendor",
            b.counts.failed,
            b.counts.submitted.unwrap_or(
                b.counts.created + b.counts.failed + b.counts.pending + b.counts.canceled
            ),
            b.id
        )));
    }
    Ok(())
}

pub(crate) async fn cancel(ctx: &Ctx, a: BatchArg) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let batch = BatchId::new(a.batch);
    provider.cancel_batch(&project, &batch).await?;
    if ctx.json() {
        output::print_json(&json!({"batch_id": batch, "project_id": project, "canceled": true}));
    } else {
        println!("Canceled the creation of batch {batch} in project {project}.");
    }
    Ok(())
}

/// The journal of batches `tasks create` opened, in the configured state directory.
pub(crate) fn journal(cfg: &labelmux::Config) -> Journal {
    Journal::in_dir(cfg.cursor_store().dir())
}

pub(crate) async fn list(ctx: &Ctx) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let vendor = provider.vendor();
    if provider.capabilities().supports(Operation::ListBatches) {
        let batches: Vec<Batch> = provider.list_batches(&project).try_collect().await?;
        if ctx.json() {
            output::print_json(&json!({"source": "vendor", "batches": batches}));
        } else if batches.is_empty() {
            println!("No batches in project {project}.");
        } else {
            let mut t =
                output::table(&["batch", "name", "status", "submitted", "created", "failed"]);
            for b in &batches {
                t.add_row(vec![
                    b.id.to_string(),
                    output::opt(b.name.as_deref()),
                    b.status.to_string(),
                    output::opt(b.counts.submitted),
                    b.counts.created.to_string(),
                    b.counts.failed.to_string(),
                ]);
            }
            output::print_table(&t);
        }
        return Ok(());
    }
    let journal = journal(&cfg);
    let endpoint = cfg.base_url_shown(vendor);
    let entries = journal
        .batches(|e| {
            e.vendor == vendor.name() && e.endpoint == endpoint && e.project == project.as_str()
        })
        .map_err(|e| CliError::io(format!("cannot read {}", journal.path().display()), e))?;
    if ctx.json() {
        output::print_json(&json!({
            "source": "journal",
            "journal": journal.path().display().to_string(),
            "batches": entries,
        }));
        return Ok(());
    }
    ctx.note(format!(
        "{vendor} cannot list batches: these are the batches `tasks create` opened from this machine (journal {}).",
        journal.path().display()
    ));
    if entries.is_empty() {
        println!("No batches journaled for project {project} at {endpoint}.");
        return Ok(());
    }
    let mut t = output::table(&["batch", "opened", "file", "rows", "handed over", "stage"]);
    for e in &entries {
        t.add_row(vec![
            e.batch_id.clone(),
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            e.file.clone(),
            e.rows.to_string(),
            e.handed_over.to_string(),
            e.stage.as_str().to_owned(),
        ]);
    }
    output::print_table(&t);
    Ok(())
}
