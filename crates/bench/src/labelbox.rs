//! The Labelbox benchmarks (issue 9): exporting N labeled data rows (labelmux's streamed pull
//! beside the official SDK's `export()` + `get_buffered_stream()`), and creating a batch of N
//! rows from a JSONL file (beside the SDK's `create_data_rows` + `create_batch`), against
//! `labelmux-emulator labelbox`. Same three-process method as the Sama benchmarks.

use crate::support::{self, at_latency, BenchCommon, Targets};
use crate::AnyResult;
use clap::{Args, ValueEnum};
use futures::TryStreamExt;
use labelmux_core::cursor::FileCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{BatchSpec, DeliveryQuery, ProjectId, Provider};
use labelmux_labelbox::{
    ExportFilters, ExportParams, ExportWorkflowStatus, LabelboxClient, LabelboxProvider,
};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// The Python side, embedded so the binary needs no source checkout at run time.
const SDK_SCRIPT: &str = include_str!("../python/labelbox_sdk_bench.py");

/// The emulator's seeded project.
const PROJECT: &str = "clemudemoproject000000001";

/// `labelbox-export`: seed N labeled rows, then export them.
#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    common: BenchCommon,
    /// Number(s) of labeled data rows, comma-separated (a fresh emulator for each).
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    count: Vec<u64>,
    /// Which labelmux reads: `provider` (`Provider::deliveries` since a timestamp, the neutral
    /// `Delivery` of each label), `native` (`LabelboxClient::export_project`, each line's raw
    /// JSON).
    #[arg(long, value_delimiter = ',', default_value = "provider,native")]
    modes: Vec<String>,
}

/// `labelbox-create`: one batch of N rows from a JSONL file.
#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    common: BenchCommon,
    /// Number of rows (a JSONL file of this many `{"row_data", "external_id"}` records is
    /// generated in a temp dir).
    #[arg(long, default_value_t = 100_000)]
    count: u64,
}

/// What the Labelbox worker measures.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Op {
    /// `Provider::deliveries(DeliveryQuery::since(--arg))`, every delivery serialised to a sink.
    Deliveries,
    /// `LabelboxClient::export_project` (rows Done, the default params), every line's raw JSON
    /// serialised to a sink.
    ExportNative,
    /// `Provider::create_batch` of the JSONL file `--arg`.
    Create,
}

/// Arguments of `labelmux-bench labelbox-worker` (internal).
#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    op: Op,
    /// The emulator's root URL.
    #[arg(long)]
    base_url: String,
    /// Labelbox project id.
    #[arg(long)]
    project: String,
    /// The `since` timestamp (RFC 3339) or the JSONL path, depending on the operation.
    #[arg(long)]
    arg: String,
}

// ---------------------------------------------------------------------------------------------
// The labelmux side (its own process)

pub(crate) fn run_worker(args: WorkerArgs) -> AnyResult<()> {
    support::run_worker(|| operate(args))
}

async fn operate(args: WorkerArgs) -> AnyResult<u64> {
    let key = SecretString::from(
        std::env::var(crate::harness::KEY_ENV).unwrap_or_else(|_| "emulator-key".into()),
    );
    let config = TransportConfig {
        // The emulator builds an export inside the `exportDataRowsInProject` mutation (Labelbox
        // answers at once and builds it in the background): at a million rows the answer takes
        // longer than the default request timeout, and a resent mutation builds another export.
        timeout_secs: 1800.0,
        deadline_secs: 3600.0,
        ..TransportConfig::default()
    };
    let client = LabelboxClient::new(&args.base_url, key, config)?;
    let cursors = tempfile::tempdir()?;
    let provider = LabelboxProvider::new(client.clone(), FileCursorStore::new(cursors.path()));
    let project = ProjectId::new(args.project.clone());
    let mut sink = std::io::sink();
    let mut items = 0u64;
    match args.op {
        Op::Deliveries => {
            let since =
                chrono::DateTime::parse_from_rfc3339(&args.arg)?.with_timezone(&chrono::Utc);
            let mut deliveries = provider.deliveries(&project, DeliveryQuery::since(since));
            while let Some(d) = deliveries.try_next().await? {
                serde_json::to_writer(&mut sink, &d)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
        }
        Op::ExportNative => {
            let filters = ExportFilters {
                workflow_status: Some(ExportWorkflowStatus::Done),
                ..ExportFilters::default()
            };
            let mut lines = client.export_project(&args.project, filters, ExportParams::default());
            while let Some(line) = lines.try_next().await? {
                serde_json::to_writer(&mut sink, &line.raw)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
        }
        Op::Create => {
            let specs = crate::worker::jsonl_specs(&args.arg).await?;
            let spec = BatchSpec::default().with_name("lm-bench");
            let receipt = provider.create_batch(&project, spec, specs, None).await?;
            if !receipt.failures.is_empty() {
                eprintln!(
                    "# {} rows refused, first: {:?}",
                    receipt.failures.len(),
                    receipt.failures[0].errors
                );
            }
            items = receipt.created;
        }
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------
// The orchestrating side

fn bench(common: BenchCommon) -> AnyResult<support::Bench> {
    support::Bench::new(
        common,
        "labelbox",
        PROJECT,
        "labelbox-worker",
        ("labelbox_sdk_bench-", SDK_SCRIPT),
    )
}

/// Async Tasks finish at once: the emulator's 300 ms `IN_PROGRESS` is artificial, and the
/// SDK's first poll sleeps 2 s when a Task is not done (labelmux's too).
fn no_task_delay(b: &support::Bench, emu: &crate::harness::Emulator) -> AnyResult<()> {
    b.http.call(
        "PUT",
        &format!("{}/_labelbox/settings", emu.root_url),
        &[],
        Some(&json!({"task_delay_ms": 0, "processing_delay_ms": 0})),
    )?;
    Ok(())
}

pub(crate) fn export(args: ExportArgs) -> AnyResult<()> {
    for m in &args.modes {
        if !matches!(m.as_str(), "provider" | "native") {
            return Err(format!("unknown mode {m:?} (provider, native)").into());
        }
    }
    let b = bench(args.common)?;
    eprintln!("# labelmux side: {}", crate::ALLOCATOR);
    let mut rows = Vec::new();
    for &n in &args.count {
        let emu = b.start_emulator()?;
        no_task_delay(&b, &emu)?;
        let since = (chrono::Utc::now() - chrono::Duration::seconds(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        eprintln!("# seeding {n} labeled data rows into {} ...", emu.base_url);
        let (_, done) = b.seed_and_finish(&emu, n)?;
        for &latency in &b.common.latency_ms {
            b.orchestra.set_latency(&emu, latency)?;
            for _ in 0..b.common.runs {
                if !b.common.no_labelmux {
                    for mode in &args.modes {
                        let (op, what) = match mode.as_str() {
                            "provider" => ("deliveries", "labelbox deliveries"),
                            _ => ("export-native", "labelbox export native"),
                        };
                        let cmd = b.worker(&emu, op, &["--arg", &since]);
                        rows.push(b.measure(
                            &emu,
                            cmd,
                            &at_latency(what, latency),
                            "labelmux",
                            done,
                        )?);
                    }
                }
                if b.sdk_at(n) {
                    let cmd = b.sdk(&emu, "export", &[&done.to_string()]);
                    rows.push(b.measure(
                        &emu,
                        cmd,
                        &at_latency("labelbox export", latency),
                        "sdk",
                        done,
                    )?);
                }
            }
        }
        b.emulator_peak(&emu, n);
    }
    support::summary(
        &rows,
        |bench| bench.replace("deliveries", "export").replace(" native", ""),
        &Targets {
            speedup: 5.0,
            rss_mb: 0.0,
        },
    );
    Ok(())
}

pub(crate) fn create(args: CreateArgs) -> AnyResult<()> {
    let b = bench(args.common)?;
    let n = args.count;
    let dir = tempfile::tempdir()?;
    let path: PathBuf = dir.path().join("rows.jsonl");
    let bytes = support::write_jsonl(&path, n, |i| {
        json!({
            "row_data": format!("https://images.example.com/bench/{i:08}.jpg"),
            "external_id": format!("lb-{i:08}"),
        })
    })?;
    eprintln!(
        "# generated {n} records ({:.1} MiB) in {}",
        bytes as f64 / 1048576.0,
        path.display()
    );
    let file = path.to_string_lossy().into_owned();
    let emu = b.start_emulator()?;
    let mut rows = Vec::new();
    for &latency in &b.common.latency_ms {
        for _ in 0..b.common.runs {
            for side in ["labelmux", "sdk"] {
                if (side == "labelmux" && b.common.no_labelmux) || (side == "sdk" && !b.sdk_at(n)) {
                    continue;
                }
                // A reset also resets the emulator's settings and faults.
                no_task_delay(&b, &emu)?;
                b.orchestra.set_latency(&emu, latency)?;
                let label = at_latency("labelbox create batch", latency);
                let m = if side == "labelmux" {
                    let cmd = b.worker(&emu, "create", &["--arg", &file]);
                    b.measure(&emu, cmd, &label, "labelmux", n)?
                } else {
                    let cmd = b.sdk(&emu, "create", &[&file]);
                    b.measure(&emu, cmd, &label, "sdk", n)?
                };
                rows.push(m);
                b.settle(&emu, n)?;
            }
        }
    }
    b.emulator_peak(&emu, n);
    support::summary(
        &rows,
        str::to_owned,
        &Targets {
            speedup: 0.0,
            rss_mb: 0.0,
        },
    );
    Ok(())
}
