//! The tables benchmarks (issue 14), against `labelmux-emulator sama`:
//! - N deliveries into a Parquet file and into a Delta table (`labelmux::io::table`, what
//!   `labelmux deliveries pull --out x.parquet` / `--delta DIR` run), beside `pyarrow` writing
//!   the same rows, in the same schema, from the official Sama SDK's `get_delivered_tasks`;
//! - N tasks from a Parquet file into one Sama batch (`ParquetTaskSource` →
//!   `Provider::create_batch`, what `labelmux tasks create --from x.parquet` runs), beside the
//!   SDK reading the same file with pandas (`read_parquet().to_dict("records")`, as its
//!   Databricks connector does after `toPandas()`) and calling `create_task_batch`.

use crate::harness::Emulator;
use crate::support::{self, at_latency, BenchCommon, Targets};
use crate::AnyResult;
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use clap::{Args, ValueEnum};
use futures::stream::{self, StreamExt, TryStreamExt};
use labelmux::io::table::delta::DeltaDeliveryAppender;
use labelmux::io::table::{ParquetDeliveryWriter, ParquetTaskSource};
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{BatchSpec, DeliveryQuery, Error, ProjectId, Provider};
use labelmux_sama::{SamaClient, SamaProvider};
use parquet::arrow::ArrowWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The Python side, embedded so the binary needs no source checkout at run time.
const SDK_SCRIPT: &str = include_str!("../python/tables_sdk_bench.py");

/// `tables-pull`: seed N delivered Sama tasks, then pull them into tables.
#[derive(Args, Debug)]
pub(crate) struct PullArgs {
    #[command(flatten)]
    common: BenchCommon,
    /// Number(s) of deliveries, comma-separated (a fresh emulator for each).
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    count: Vec<u64>,
    /// Which labelmux tables: `parquet`, `delta`.
    #[arg(long, value_delimiter = ',', default_value = "parquet,delta")]
    modes: Vec<String>,
    /// Directory for the tables written (default: a temp dir; each is removed after its run).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// `tables-create`: one Sama batch from a Parquet task table of N rows.
#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    common: BenchCommon,
    /// Number of tasks (a Parquet file of this many `url`, `name`, `external_id` rows is
    /// generated in a temp dir).
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
}

/// What the tables worker measures.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Op {
    /// `Provider::deliveries(since --arg)` into `ParquetDeliveryWriter` at `--out`.
    Parquet,
    /// `Provider::deliveries(since --arg)` into `DeltaDeliveryAppender` at `--out`, one commit.
    Delta,
    /// `ParquetTaskSource::open(--arg).specs()` into `Provider::create_batch`.
    CreateParquet,
}

/// Arguments of `labelmux-bench tables-worker` (internal).
#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    op: Op,
    /// Sama API base URL (the emulator's `base_url`).
    #[arg(long)]
    base_url: String,
    /// Sama project id.
    #[arg(long)]
    project: String,
    /// The `since` timestamp (RFC 3339) or the Parquet task file.
    #[arg(long)]
    arg: String,
    /// The table written.
    #[arg(long)]
    out: Option<PathBuf>,
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
        // A million-task upload is one long PUT.
        deadline_secs: 3600.0,
        ..TransportConfig::default()
    };
    let provider = SamaProvider::new(
        SamaClient::new(&args.base_url, key, config)?,
        labelmux_core::cursor::MemoryCursorStore::new(),
    );
    let project = ProjectId::new(args.project.clone());
    let out = || {
        args.out
            .clone()
            .ok_or_else(|| "--out is required".to_owned())
    };
    match args.op {
        Op::Parquet | Op::Delta => {
            let since =
                chrono::DateTime::parse_from_rfc3339(&args.arg)?.with_timezone(&chrono::Utc);
            let mut deliveries = provider.deliveries(&project, DeliveryQuery::since(since));
            let out = out()?;
            if matches!(args.op, Op::Parquet) {
                let mut w = ParquetDeliveryWriter::create(&out, "sama")?;
                while let Some(d) = deliveries.try_next().await? {
                    w.write(&d)?;
                }
                Ok(w.finish()?)
            } else {
                let mut w = DeltaDeliveryAppender::open(&out.to_string_lossy(), "sama").await?;
                while let Some(d) = deliveries.try_next().await? {
                    w.write(&d).await?;
                }
                let written = w.written();
                w.commit(None).await?;
                Ok(written)
            }
        }
        Op::CreateParquet => {
            let source = ParquetTaskSource::open(Path::new(&args.arg))?;
            let specs = stream::iter(
                source
                    .specs()
                    .map(|r| r.map_err(|e| Error::validation(e.to_string()))),
            )
            .boxed();
            let receipt = provider
                .create_batch(&project, BatchSpec::default(), specs, None)
                .await?;
            Ok(receipt.submitted)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The orchestrating side

fn bench(common: BenchCommon) -> AnyResult<support::Bench> {
    support::Bench::new(
        common,
        "sama",
        "1001",
        "tables-worker",
        ("tables_sdk_bench-", SDK_SCRIPT),
    )
}

/// Bytes under `path` (a file, or a directory's files recursively).
fn size_of(path: &Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| size_of(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

fn remove(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
    let _ = std::fs::remove_file(path);
}

pub(crate) fn pull(args: PullArgs) -> AnyResult<()> {
    for m in &args.modes {
        if !matches!(m.as_str(), "parquet" | "delta") {
            return Err(format!("unknown mode {m:?} (parquet, delta)").into());
        }
    }
    let b = bench(args.common)?;
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    eprintln!(
        "# labelmux side: {}; tables under {}",
        crate::ALLOCATOR,
        dir.display()
    );
    let mut rows = Vec::new();
    for &n in &args.count {
        let emu = b.start_emulator()?;
        eprintln!("# seeding {n} delivered tasks into {} ...", emu.base_url);
        let seed = b.orchestra.seed_deliveries(&emu, &b.project, n)?;
        eprintln!(
            "# seeded in {:.1}s; emulator RSS now {:.0} MiB",
            seed.total_secs,
            crate::kib_to_mib(emu.rss_kb().0)
        );
        for &latency in &b.common.latency_ms {
            b.orchestra.set_latency(&emu, latency)?;
            for run in 0..b.common.runs {
                if !b.common.no_labelmux {
                    for mode in &args.modes {
                        let out = dir.join(format!("lm-{n}-{latency}-{run}.{mode}"));
                        let cmd = b.worker(
                            &emu,
                            mode,
                            &["--arg", &seed.from, "--out", &out.to_string_lossy()],
                        );
                        let what = at_latency(&format!("into {mode}"), latency);
                        rows.push(b.measure(&emu, cmd, &what, "labelmux", n)?);
                        eprintln!("#   {:.1} MiB written", size_of(&out) as f64 / 1048576.0);
                        remove(&out);
                    }
                }
                if b.sdk_at(n) {
                    let out = dir.join(format!("sdk-{n}-{latency}-{run}.parquet"));
                    let cmd = b.sdk(
                        &emu,
                        "deliveries-parquet",
                        &[&seed.from, &out.to_string_lossy()],
                    );
                    let what = at_latency("into pyarrow parquet", latency);
                    rows.push(b.measure(&emu, cmd, &what, "sdk", n)?);
                    eprintln!("#   {:.1} MiB written", size_of(&out) as f64 / 1048576.0);
                    remove(&out);
                }
            }
        }
        b.emulator_peak(&emu, n);
    }
    support::summary(
        &rows,
        |bench| {
            bench
                .replace("into parquet", "into pyarrow parquet")
                .replace("into delta", "into pyarrow parquet")
        },
        &Targets {
            speedup: 0.0,
            rss_mb: 0.0,
        },
    );
    Ok(())
}

/// A Parquet task table of `n` rows (`url`, `name`, `external_id`, the Sama emulator's default
/// project inputs), written a batch of 64k rows at a time.
fn write_task_table(path: &Path, n: u64) -> AnyResult<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("external_id", DataType::Utf8, false),
    ]));
    let file = std::fs::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None)?;
    let mut start = 0u64;
    while start < n {
        let end = (start + 65_536).min(n);
        let column = |f: &dyn Fn(u64) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values((start..end).map(f)))
        };
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                column(&|i| format!("https://images.example.com/bench/{i:08}.jpg")),
                column(&|i| format!("image {i}")),
                column(&|i| format!("ext-{i:08}")),
            ],
        )?;
        writer.write(&batch)?;
        start = end;
    }
    writer.close()?;
    Ok(())
}

pub(crate) fn create(args: CreateArgs) -> AnyResult<()> {
    let b = bench(args.common)?;
    let n = args.count;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tasks.parquet");
    write_task_table(&path, n)?;
    eprintln!(
        "# generated a Parquet task table of {n} rows ({:.1} MiB) in {}",
        size_of(&path) as f64 / 1048576.0,
        path.display()
    );
    let file = path.to_string_lossy().into_owned();
    let emu = b.start_emulator()?;
    let mut rows = Vec::new();
    for &latency in &b.common.latency_ms {
        for _ in 0..b.common.runs {
            let label = at_latency("parquet tasks to batch", latency);
            if !b.common.no_labelmux {
                b.orchestra.set_latency(&emu, latency)?;
                let cmd = b.worker(&emu, "create-parquet", &["--arg", &file]);
                rows.push(b.measure(&emu, cmd, &label, "labelmux", n)?);
                settle(&b, &emu, n)?;
            }
            if b.sdk_at(n) {
                b.orchestra.set_latency(&emu, latency)?;
                let cmd = b.sdk(&emu, "create-parquet", &[&file]);
                rows.push(b.measure(&emu, cmd, &label, "sdk", n)?);
                settle(&b, &emu, n)?;
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

/// Wait until the emulator has created the batch's tasks (Sama creates them after
/// `continue.json` answers, so they must not overlap the next run), check the count, reset.
fn settle(b: &support::Bench, emu: &Emulator, n: u64) -> AnyResult<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let mut tasks = b.task_count(emu)?;
    while tasks < n && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        tasks = b.task_count(emu)?;
    }
    eprintln!(
        "#   emulator holds {tasks} tasks{}",
        if tasks == n { "" } else { "  !! count differs" }
    );
    b.reset(emu)
}
