//! `deliveries pull --out x.parquet` and `--delta DIR`: deliveries into a table.
//!
//! - Parquet: one file of the delivery schema, written in row groups and renamed into place
//!   when complete. A file cannot be appended to, so `--consumer` is refused (use `--delta`).
//! - Delta: the whole pull is one Delta commit. With `--consumer`, the commit carries the
//!   consumer's `txn` action and checkpoint, and the cursor is committed only after it; before
//!   pulling, the checkpoint the table recorded last is committed again, so a pull killed
//!   anywhere and re-run neither loses nor duplicates a row (see `labelmux::io::table::delta`).

use super::Ctx;
use crate::args::PullArgs;
use crate::exit::CliError;
use crate::output;
use crate::sink::DeliveryFormat;
use futures::StreamExt;
use indicatif::ProgressBar;
use labelmux::io::table::delta::{consumer_app_id, ConsumerTxn, DeltaDeliveryAppender};
use labelmux::io::table::{ParquetDeliveryWriter, TableError};
use labelmux::{Checkpoint, Delivery, DeliveryQuery, DeliverySince, ProjectId, Provider};
use serde_json::json;
use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

/// Where a table pull writes.
#[derive(Debug, Clone)]
pub(crate) enum TableOut {
    /// A Parquet file.
    Parquet(PathBuf),
    /// A Delta table location (path or object-store URL).
    Delta(String),
}

impl std::fmt::Display for TableOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableOut::Parquet(p) => write!(f, "{}", p.display()),
            TableOut::Delta(d) => f.write_str(d),
        }
    }
}

/// The table `a` asks for, if it asks for one.
pub(crate) fn destination(a: &PullArgs) -> Option<TableOut> {
    if let Some(d) = &a.delta {
        return Some(TableOut::Delta(d.clone()));
    }
    let out = a.out.as_ref()?;
    let format = a.format.unwrap_or_else(|| DeliveryFormat::from_path(out));
    (format == DeliveryFormat::Parquet).then(|| TableOut::Parquet(out.clone()))
}

enum Sink {
    Parquet(Box<ParquetDeliveryWriter>),
    Delta(Box<DeltaDeliveryAppender>),
}

impl Sink {
    async fn write(&mut self, d: &Delivery) -> Result<(), TableError> {
        match self {
            Sink::Parquet(w) => w.write(d),
            Sink::Delta(w) => w.write(d).await,
        }
    }
}

/// How a table pull ended.
#[derive(Debug, Default)]
pub(crate) struct TableOutcome {
    /// Deliveries in the table from this pull.
    pub written: u64,
    /// The Delta version committed, if any.
    pub table_version: Option<i64>,
    /// Whether the consumer's cursor was first moved to the table's record of it (a previous
    /// run stopped between its Delta commit and its cursor commit).
    pub recovered: bool,
    /// Stopped by the interrupt future.
    pub interrupted: bool,
}

fn table_error(e: TableError) -> CliError {
    CliError::input(e.to_string())
}

/// Test hook: `LABELMUX_FAULT=after-delta-commit` ends the process right after the Delta
/// commit, before the cursor commit, as a kill there would (exercised by the CLI tests).
fn fault(point: &str) {
    if std::env::var("LABELMUX_FAULT").is_ok_and(|v| v == point) {
        eprintln!("LABELMUX_FAULT: stopping at {point}");
        std::process::exit(86);
    }
}

/// Pull `query` into a Delta table in one commit (exactly once per consumer).
pub(crate) async fn pull_into_delta(
    provider: &impl Provider,
    project: &ProjectId,
    query: DeliveryQuery,
    location: &str,
    bar: &ProgressBar,
    interrupt: impl Future<Output = ()>,
) -> Result<TableOutcome, CliError> {
    let vendor = provider.vendor().name();
    let consumer = match &query.since {
        DeliverySince::LastCall { consumer } => Some(consumer.clone()),
        _ => None,
    };
    let appender = DeltaDeliveryAppender::open(location, vendor)
        .await
        .map_err(table_error)?;
    let mut outcome = TableOutcome::default();
    let mut next_txn = None;
    if let Some(consumer) = &consumer {
        let app_id = consumer_app_id(vendor, project.as_str(), consumer);
        let last = appender
            .consumer_commit(&app_id)
            .await
            .map_err(table_error)?;
        // The table is the record of what was stored: its last checkpoint for this consumer is
        // committed again (a no-op unless a run stopped between the two commits).
        if let Some(cp) = last.as_ref().and_then(|l| l.checkpoint.as_ref()) {
            provider.commit_consumer(project, consumer, cp).await?;
            outcome.recovered = true;
        }
        next_txn = Some((app_id, last.map_or(0, |l| l.txn_version + 1)));
    }
    let mut sink = Sink::Delta(Box::new(appender));
    let (checkpoint, stopped) = drain(provider, project, query, &mut sink, bar, interrupt).await?;
    let Sink::Delta(appender) = sink else {
        return Err(CliError::input("internal: the Delta sink changed"));
    };
    let written = appender.written();
    let failed = match stopped {
        Stopped::Done => None,
        Stopped::Interrupted => {
            outcome.interrupted = true;
            None
        }
        // Without a cursor a re-run starts over: commit nothing rather than half.
        Stopped::Failed(e) if consumer.is_none() => {
            return Err(CliError::from(e).context(format!(
                "nothing was committed to Delta table {location}; rerun"
            )))
        }
        Stopped::Failed(e) => Some(e),
    };
    let txn = next_txn.map(|(app_id, version)| ConsumerTxn {
        app_id,
        version,
        checkpoint: checkpoint.clone(),
    });
    outcome.table_version = appender.commit(txn).await.map_err(table_error)?;
    if outcome.table_version.is_some() {
        outcome.written = written;
    }
    fault("after-delta-commit");
    if let (Some(consumer), Some(cp), Some(_)) = (&consumer, &checkpoint, outcome.table_version) {
        provider.commit_consumer(project, consumer, cp).await?;
    }
    if let Some(e) = failed {
        return Err(CliError::from(e).context(format!(
            "after {} deliveries committed to Delta table {location} (kept; rerun to resume)",
            outcome.written
        )));
    }
    Ok(outcome)
}

/// Pull `query` into a Parquet file (complete, or not written at all).
pub(crate) async fn pull_into_parquet(
    provider: &impl Provider,
    project: &ProjectId,
    query: DeliveryQuery,
    path: &std::path::Path,
    bar: &ProgressBar,
    interrupt: impl Future<Output = ()>,
) -> Result<TableOutcome, CliError> {
    let writer =
        ParquetDeliveryWriter::create(path, provider.vendor().name()).map_err(table_error)?;
    let mut sink = Sink::Parquet(Box::new(writer));
    let drained = drain(provider, project, query, &mut sink, bar, interrupt).await;
    let Sink::Parquet(writer) = sink else {
        return Err(CliError::input("internal: the Parquet sink changed"));
    };
    let (_, stopped) = match drained {
        Ok(v) => v,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    match stopped {
        Stopped::Failed(e) => {
            writer.abandon();
            Err(CliError::from(e).context(format!("{} was not written; rerun", path.display())))
        }
        Stopped::Interrupted => {
            writer.abandon();
            Ok(TableOutcome {
                interrupted: true,
                ..TableOutcome::default()
            })
        }
        Stopped::Done => Ok(TableOutcome {
            written: writer.finish().map_err(table_error)?,
            ..TableOutcome::default()
        }),
    }
}

enum Stopped {
    Done,
    Interrupted,
    Failed(labelmux::Error),
}

/// Write every delivery of the stream; returns the last checkpoint written and how it ended.
async fn drain(
    provider: &impl Provider,
    project: &ProjectId,
    query: DeliveryQuery,
    sink: &mut Sink,
    bar: &ProgressBar,
    interrupt: impl Future<Output = ()>,
) -> Result<(Option<Checkpoint>, Stopped), CliError> {
    let mut stream = provider.deliveries(project, query);
    let mut checkpoint = None;
    let mut interrupt = std::pin::pin!(interrupt);
    loop {
        let next = tokio::select! {
            item = stream.next() => item,
            _ = &mut interrupt => return Ok((checkpoint, Stopped::Interrupted)),
        };
        match next {
            None => return Ok((checkpoint, Stopped::Done)),
            Some(Err(e)) => return Ok((checkpoint, Stopped::Failed(e))),
            Some(Ok(d)) => {
                sink.write(&d).await.map_err(table_error)?;
                if d.checkpoint.is_some() {
                    checkpoint = d.checkpoint;
                }
                bar.inc(1);
            }
        }
    }
}

pub(crate) async fn pull(
    ctx: &Ctx,
    a: &PullArgs,
    table: TableOut,
    provider: &impl Provider,
    project: &ProjectId,
    query: DeliveryQuery,
) -> Result<(), CliError> {
    let bar = ctx.bars.items("deliveries", "pulling");
    let started = Instant::now();
    let outcome = match &table {
        TableOut::Parquet(path) => {
            if a.consumer.is_some() {
                bar.finish_and_clear();
                return Err(CliError::usage(
                    "a Parquet file cannot be appended to: with --consumer, use --delta DIR (exactly-once appends) or a .jsonl/.csv file",
                ));
            }
            pull_into_parquet(
                provider,
                project,
                query,
                path,
                &bar,
                super::deliveries::ctrl_c(),
            )
            .await
        }
        TableOut::Delta(location) => {
            pull_into_delta(
                provider,
                project,
                query,
                location,
                &bar,
                super::deliveries::ctrl_c(),
            )
            .await
        }
    };
    bar.finish_and_clear();
    let outcome = outcome?;
    let elapsed = started.elapsed();
    let (format, how) = match &table {
        TableOut::Parquet(_) => ("parquet", "written to"),
        TableOut::Delta(_) => ("delta", "appended to Delta table"),
    };
    if ctx.json() {
        output::print_json(&json!({
            "project_id": project,
            "provider": provider.vendor().name(),
            "file": table.to_string(),
            "format": format,
            "appended": matches!(table, TableOut::Delta(_)),
            "written": outcome.written,
            "consumer": a.consumer,
            "table_version": outcome.table_version,
            "cursor_from_table": outcome.recovered,
            "interrupted": outcome.interrupted,
            "elapsed_secs": elapsed.as_secs_f64(),
        }));
    } else {
        println!(
            "{} deliveries {how} {table} in {:.1}s.",
            outcome.written,
            elapsed.as_secs_f64()
        );
        if let Some(v) = outcome.table_version {
            ctx.note(format!("Delta table version {v}."));
        }
        if let Some(c) = &a.consumer {
            if outcome.written == 0 {
                ctx.note(format!("Nothing new for consumer `{c}`."));
            }
        }
    }
    if outcome.interrupted {
        return Err(CliError::interrupted(match &table {
            TableOut::Parquet(p) => format!("stopped; {} was not written", p.display()),
            TableOut::Delta(_) => format!(
                "stopped after {} deliveries; they are committed to {table}",
                outcome.written
            ),
        }));
    }
    Ok(())
}
