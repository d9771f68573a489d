//! `batches status [--wait]`, `batches cancel`.

use super::Ctx;
use crate::args::{BatchArg, StatusArgs};
use crate::exit::CliError;
use crate::output;
use crate::progress::Bars;
use labelmux::{Batch, BatchId, Error, ErrorKind, ProjectId, Provider};
use serde_json::json;
use std::time::{Duration, Instant};

/// Poll a batch until its creation has finished, showing created+failed of submitted.
pub(crate) async fn wait_for_batch(
    provider: &impl Provider,
    project: &ProjectId,
    batch: &BatchId,
    bars: Bars,
    interval: Duration,
    timeout: Option<Duration>,
) -> Result<Batch, CliError> {
    let started = Instant::now();
    let bar = bars.waiting(1, &format!("batch {batch}: creating tasks"));
    let result = loop {
        let b = provider.batch_status(project, batch).await?;
        let c = &b.counts;
        let done = c.created + c.failed + c.canceled;
        let total = c.submitted.unwrap_or(done + c.pending).max(done);
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(format!("batch {batch}: {}", b.status));
        if b.status.is_terminal() {
            break Ok(b);
        }
        if let Some(t) = timeout {
            if started.elapsed() >= t {
                break Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "batch {batch} is still {} after {:.0?} ({done} of {total} tasks processed)",
                        b.status, t
                    ),
                )
                .with_vendor(provider.vendor())
                .with_operation("batch_status")
                .into());
            }
        }
        tokio::time::sleep(interval).await;
    };
    bar.finish_and_clear();
    result
}

pub(crate) async fn status(ctx: &Ctx, a: StatusArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let batch = BatchId::new(a.batch);
    if !(a.interval.is_finite() && a.interval > 0.0) {
        return Err(CliError::usage(
            "--interval must be a positive number of seconds",
        ));
    }
    let timeout = match a.timeout {
        Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
        Some(_) => return Err(CliError::usage("--timeout must be a number of seconds")),
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
        .await?
    } else {
        provider.batch_status(&project, &batch).await?
    };
    if ctx.json() {
        output::print_json(&b);
    } else {
        for t in output::batch_tables(&b, |_| None) {
            println!("{t}");
        }
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
