//! The labelmux side of one measurement, run in its own process so its peak RSS (`VmHWM`) is
//! labelmux's alone. Consumes the API the way a user would, then prints one JSON line.

use crate::harness::{proc_cpu_secs, status_field, KEY_ENV};
use crate::AnyResult;
use clap::{Args, ValueEnum};
use futures::stream::{self, StreamExt, TryStreamExt};
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{
    BatchSpec, DeliveryQuery, Error, JsonMap, ProjectId, Provider, TaskSpecStream,
};
use labelmux_sama::{DeliveredTasksQuery, SamaClient, SamaProvider};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use tokio::io::AsyncBufReadExt;

/// What the worker measures.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Op {
    /// `Provider::deliveries` since a timestamp (`--arg` RFC 3339): Sama's GET delivered.json.
    DeliveriesGet,
    /// `Provider::deliveries` since the last call of consumer `--arg`.
    DeliveriesSince,
    /// `SamaClient::get_delivered_tasks` from `--arg` (no mapping to the neutral model).
    DeliveriesGetNative,
    /// Diagnostic floor, not labelmux: plain reqwest GETs of the same pages, each task kept
    /// as raw JSON (`&RawValue`, no `Value` tree) and written to the sink.
    DeliveriesFloorRaw,
    /// Diagnostic floor, not labelmux: the same pages decoded from bytes straight into a
    /// borrowed typed struct (ids, state, timestamp, raw data/answers), then written out as a
    /// delivery record: roughly what a `Value`-free adapter would do.
    DeliveriesFloorTyped,
    /// `Provider::create_batch` of the JSONL file `--arg`.
    Create,
    /// The `labelmux` command next to this binary: `deliveries pull --since ARG --out
    /// <temp>/deliveries.jsonl` (labelmux JSONL: each record with its neutral annotations,
    /// written and synced as the CLI does). Reports the CLI's own elapsed time and peak RSS.
    DeliveriesCli,
    /// As `deliveries-cli`, into a CSV file (the answers only, no annotations).
    DeliveriesCliCsv,
}

/// Arguments of `labelmux-bench worker`.
#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    op: Op,
    /// Vendor API base URL (the emulator's `base_url`).
    #[arg(long)]
    base_url: String,
    /// Sama project id.
    #[arg(long)]
    project: String,
    /// The `from` timestamp, consumer name or JSONL path, depending on the operation.
    #[arg(long)]
    arg: String,
    /// Delivered-task pages fetched concurrently (default: the library's).
    #[arg(long)]
    read_ahead: Option<usize>,
    /// MiB of delivered pages held ahead of the consumer (default: the library's).
    #[arg(long)]
    read_ahead_mib: Option<u32>,
}

/// Run the `labelmux` CLI pull as a child process and report it like any measurement: items
/// and seconds from its `--output json` summary, peak RSS from its `VmHWM`, read every 2 ms
/// while it runs (the peak is reached mid-pull; the last sample is taken before it exits).
fn run_cli(args: &WorkerArgs) -> AnyResult<()> {
    let bin = std::env::current_exe()?.with_file_name("labelmux");
    if !bin.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p labelmux-cli`",
            bin.display()
        )
        .into());
    }
    let dir = tempfile::tempdir()?;
    let out = dir.path().join(match args.op {
        Op::DeliveriesCliCsv => "deliveries.csv",
        _ => "deliveries.jsonl",
    });
    let key = std::env::var(KEY_ENV).unwrap_or_else(|_| "emulator-key".into());
    let mut child = std::process::Command::new(&bin)
        .args(["--provider", "sama", "--base-url", &args.base_url])
        .args(["--project", &args.project, "--output", "json", "-q"])
        .args(["deliveries", "pull", "--since", &args.arg, "--out"])
        .arg(&out)
        .env("SAMA_API_KEY", key)
        .env("LABELMUX_STATE_DIR", dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            peak_kb = peak_kb.max(status_field(&s, "VmHWM:"));
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let mut stdout = String::new();
    if let Some(mut o) = child.stdout.take() {
        std::io::Read::read_to_string(&mut o, &mut stdout)?;
    }
    if !status.success() {
        return Err(format!("labelmux deliveries pull failed: {status}: {stdout}").into());
    }
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("unreadable CLI summary ({e}): {stdout}"))?;
    let line = json!({
        "items": summary["written"].as_u64().unwrap_or(0),
        "secs": summary["elapsed_secs"].as_f64().unwrap_or(0.0),
        "rss_start_kb": 0,
        "peak_rss_kb": peak_kb,
        "file_bytes": std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0),
    });
    println!("{line}");
    Ok(())
}

pub(crate) fn run(args: WorkerArgs) -> AnyResult<()> {
    if matches!(args.op, Op::DeliveriesCli | Op::DeliveriesCliCsv) {
        return run_cli(&args);
    }
    // A user's default: the multi-threaded runtime of `#[tokio::main]`.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rss_start_kb = status_field(&self_status(), "VmRSS:");
    let started = Instant::now();
    let (items, batch_id) = rt.block_on(operate(&args))?;
    let secs = started.elapsed().as_secs_f64();
    let status = self_status();
    let line = json!({
        "items": items,
        "secs": secs,
        "rss_start_kb": rss_start_kb,
        "peak_rss_kb": status_field(&status, "VmHWM:"),
        "cpu_secs": proc_cpu_secs("/proc/self/stat"),
        "batch_id": batch_id,
    });
    println!("{line}");
    Ok(())
}

fn self_status() -> String {
    std::fs::read_to_string("/proc/self/status").unwrap_or_default()
}

async fn operate(args: &WorkerArgs) -> AnyResult<(u64, Option<String>)> {
    let key = SecretString::from(std::env::var(KEY_ENV).unwrap_or_else(|_| "emulator-key".into()));
    let config = TransportConfig {
        // A million-task upload is one long PUT.
        deadline_secs: 3600.0,
        ..TransportConfig::default()
    };
    let mut client = SamaClient::new(&args.base_url, key, config)?;
    if let Some(pages) = args.read_ahead {
        client = client.with_read_ahead(pages);
    }
    if let Some(mib) = args.read_ahead_mib {
        client = client.with_read_ahead_bytes(mib as usize * 1024 * 1024);
    }
    // Each run pulls a new consumer name, so in-memory cursors start where a new consumer does.
    let provider = SamaProvider::new(
        client.clone(),
        labelmux_core::cursor::MemoryCursorStore::new(),
    );
    let project = ProjectId::new(args.project.clone());
    // Every item is serialised as JSON to a sink, as an exporter writing JSONL would.
    let mut sink = std::io::sink();
    let mut items = 0u64;
    match args.op {
        Op::DeliveriesGet | Op::DeliveriesSince => {
            let query = match args.op {
                Op::DeliveriesGet => DeliveryQuery::since(parse_time(&args.arg)?),
                _ => DeliveryQuery::since_last_call(args.arg.clone()),
            };
            let mut deliveries = provider.deliveries(&project, query);
            while let Some(d) = deliveries.try_next().await? {
                serde_json::to_writer(&mut sink, &d)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
            Ok((items, None))
        }
        Op::DeliveriesGetNative => {
            let query = DeliveredTasksQuery {
                from: Some(parse_time(&args.arg)?),
                ..DeliveredTasksQuery::default()
            };
            let mut tasks = client.get_delivered_tasks(&project, query);
            while let Some(t) = tasks.try_next().await? {
                serde_json::to_writer(&mut sink, &t.raw)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
            Ok((items, None))
        }
        Op::DeliveriesFloorRaw | Op::DeliveriesFloorTyped => {
            let typed = matches!(args.op, Op::DeliveriesFloorTyped);
            let key = std::env::var(KEY_ENV).unwrap_or_else(|_| "emulator-key".into());
            let url = format!(
                "{}/projects/{}/tasks/delivered.json",
                args.base_url.trim_end_matches('/'),
                args.project
            );
            let http = reqwest::Client::new();
            let mut buf = Vec::with_capacity(1024);
            for page in 1u32.. {
                let page_s = page.to_string();
                let body = http
                    .get(&url)
                    .query(&[
                        ("access_key", key.as_str()),
                        ("from", args.arg.as_str()),
                        ("page", page_s.as_str()),
                        ("page_size", "1000"),
                    ])
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                let n = if typed {
                    let page: FloorPage<FloorTask<'_>> = serde_json::from_slice(&body)?;
                    for t in &page.tasks {
                        buf.clear();
                        serde_json::to_writer(&mut buf, &FloorDelivery::from(t))?;
                        sink.write_all(&buf)?;
                    }
                    page.tasks.len()
                } else {
                    let page: FloorPage<&serde_json::value::RawValue> =
                        serde_json::from_slice(&body)?;
                    for t in &page.tasks {
                        sink.write_all(t.get().as_bytes())?;
                    }
                    page.tasks.len()
                };
                items += n as u64;
                if n < 1000 {
                    break;
                }
            }
            Ok((items, None))
        }
        Op::DeliveriesCli | Op::DeliveriesCliCsv => unreachable!("run_cli"),
        Op::Create => {
            let receipt = provider
                .create_batch(
                    &project,
                    BatchSpec::default(),
                    jsonl_specs(&args.arg).await?,
                    None,
                )
                .await?;
            Ok((receipt.submitted, Some(receipt.batch_id.to_string())))
        }
    }
}

fn parse_time(s: &str) -> AnyResult<chrono::DateTime<chrono::Utc>> {
    Ok(chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("--arg {s:?} is not an RFC 3339 timestamp: {e}"))?
        .with_timezone(&chrono::Utc))
}

/// The JSONL file as a stream of task specs, read line by line (never whole).
pub(crate) async fn jsonl_specs(path: &str) -> AnyResult<TaskSpecStream<'static>> {
    let file = tokio::fs::File::open(PathBuf::from(path))
        .await
        .map_err(|e| format!("cannot open {path}: {e}"))?;
    let lines = tokio::io::BufReader::with_capacity(256 * 1024, file).lines();
    let specs = stream::try_unfold((lines, 0u64), |(mut lines, mut no)| async move {
        loop {
            no += 1;
            let Some(line) = lines.next_line().await.map_err(Error::from)? else {
                return Ok(None);
            };
            if line.trim().is_empty() {
                continue;
            }
            let record: JsonMap = serde_json::from_str(&line)
                .map_err(|e| Error::validation(format!("line {no}: not a JSON object: {e}")))?;
            let spec = labelmux::io::spec_from_record(record)
                .map_err(|e| Error::validation(format!("line {no}: {e}")))?;
            return Ok(Some((spec, (lines, no))));
        }
    });
    Ok(specs.boxed())
}

#[derive(serde::Deserialize)]
#[serde(bound(deserialize = "T: serde::Deserialize<'de>"))]
struct FloorPage<T> {
    tasks: Vec<T>,
}

#[derive(serde::Deserialize)]
struct FloorTask<'a> {
    #[serde(borrow)]
    id: &'a str,
    #[serde(default)]
    batch_id: Option<u64>,
    #[serde(default, borrow)]
    delivered_at: Option<&'a str>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
    #[serde(default, borrow)]
    answers: Option<&'a serde_json::value::RawValue>,
}

#[derive(serde::Serialize)]
struct FloorDelivery<'a> {
    task_id: &'a str,
    external_key: Option<&'a serde_json::value::RawValue>,
    batch_id: Option<u64>,
    delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    answers: Option<&'a serde_json::value::RawValue>,
    data: &'a serde_json::value::RawValue,
}

impl<'a> From<&'a FloorTask<'a>> for FloorDelivery<'a> {
    fn from(t: &'a FloorTask<'a>) -> Self {
        FloorDelivery {
            task_id: t.id,
            // A real adapter would pick `external_id` out of `data`; the floor does not.
            external_key: None,
            batch_id: t.batch_id,
            delivered_at: t
                .delivered_at
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&chrono::Utc)),
            answers: t.answers,
            data: t.data,
        }
    }
}
