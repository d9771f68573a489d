//! The Segments.ai benchmarks (issue 10): adding N samples from a JSONL file (beside the
//! official SDK's `add_samples`), pulling the labels of N reviewed samples (beside the SDK's
//! paged listing), and reading a release file of N samples (beside the SDK's `load_release`),
//! against `labelmux-emulator segments`. Same three-process method as the Sama benchmarks.

use crate::harness::Emulator;
use crate::support::{self, at_latency, BenchCommon, Targets};
use crate::AnyResult;
use clap::{Args, ValueEnum};
use futures::TryStreamExt;
use labelmux_core::cursor::FileCursorStore;
use labelmux_core::poll::PollOptions;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{BatchSpec, DeliveryQuery, ProjectId, Provider};
use labelmux_segments::{
    LabelStatus, SamplesQuery, SegmentsClient, SegmentsOptions, SegmentsProvider, GROUND_TRUTH,
};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The Python side, embedded so the binary needs no source checkout at run time.
const SDK_SCRIPT: &str = include_str!("../python/segments_sdk_bench.py");

/// The emulator's seeded dataset.
const DATASET: &str = "labelmux/demo";

/// `segments-create`: N samples from a JSONL file.
#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    common: BenchCommon,
    /// Number of samples (a JSONL file of this many `{"image": {"url"}, "external_id"}`
    /// records is generated in a temp dir).
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Samples per SDK `add_samples` call (0: the whole list in one call). Default: labelmux's
    /// chunk size, so both send the same requests.
    #[arg(long, default_value_t = labelmux_segments::DEFAULT_CHUNK_SIZE)]
    sdk_chunk: usize,
}

/// `segments-pull`: seed N reviewed samples, then pull their labels.
#[derive(Args, Debug)]
pub(crate) struct PullArgs {
    #[command(flatten)]
    common: BenchCommon,
    /// Number(s) of reviewed samples, comma-separated (a fresh emulator for each).
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    count: Vec<u64>,
    /// Which labelmux reads: `provider` (`Provider::deliveries` since a timestamp, default
    /// options), `window` (the same with `delivery_window` = N: full labels from one more
    /// listing, held in memory), `native` (`SegmentsClient::get_samples` with full labels and
    /// `label_status=REVIEWED`, the SDK's listing; each sample's raw JSON).
    #[arg(long, value_delimiter = ',', default_value = "provider,native")]
    modes: Vec<String>,
}

/// `segments-release`: seed N labeled samples, build a release, read its file.
#[derive(Args, Debug)]
pub(crate) struct ReleaseArgs {
    #[command(flatten)]
    common: BenchCommon,
    /// Number(s) of samples, comma-separated (a fresh emulator for each).
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    count: Vec<u64>,
}

/// What the Segments worker measures.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Op {
    /// `Provider::create_batch` of the JSONL file `--arg`.
    Create,
    /// `Provider::deliveries(DeliveryQuery::since(--arg))`, every delivery serialised to a sink.
    Deliveries,
    /// The same with `delivery_window` = `--window`.
    DeliveriesWindow,
    /// `SegmentsClient::get_samples` (full ground-truth labels, `REVIEWED`), every sample's raw
    /// JSON serialised to a sink.
    ListNative,
    /// `SegmentsClient::release_file` of release `--arg`, every sample's raw JSON serialised
    /// to a sink.
    Release,
}

/// Arguments of `labelmux-bench segments-worker` (internal).
#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    op: Op,
    /// The emulator's base URL.
    #[arg(long)]
    base_url: String,
    /// Dataset `owner/name`.
    #[arg(long)]
    project: String,
    /// JSONL path, `since` timestamp or release name, depending on the operation.
    #[arg(long)]
    arg: String,
    /// `delivery_window` of `deliveries-window`.
    #[arg(long, default_value_t = 5000)]
    window: usize,
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
    let client = SegmentsClient::new(&args.base_url, key, TransportConfig::default())?;
    let cursors = tempfile::tempdir()?;
    let mut options = SegmentsOptions::default();
    if matches!(args.op, Op::DeliveriesWindow) {
        options = options.with_delivery_window(args.window);
    }
    let provider = SegmentsProvider::with_options(
        client.clone(),
        FileCursorStore::new(cursors.path()),
        options,
    );
    let project = ProjectId::new(args.project.clone());
    let mut sink = std::io::sink();
    let mut items = 0u64;
    match args.op {
        Op::Create => {
            let specs = crate::worker::jsonl_specs(&args.arg).await?;
            let spec = BatchSpec::default().with_name("lm-bench");
            let receipt = provider.create_batch(&project, spec, specs, None).await?;
            if !receipt.failures.is_empty() {
                eprintln!(
                    "# {} samples refused, first: {:?}",
                    receipt.failures.len(),
                    receipt.failures[0].errors
                );
            }
            items = receipt.created;
        }
        Op::Deliveries | Op::DeliveriesWindow => {
            let since =
                chrono::DateTime::parse_from_rfc3339(&args.arg)?.with_timezone(&chrono::Utc);
            let mut deliveries = provider.deliveries(&project, DeliveryQuery::since(since));
            while let Some(d) = deliveries.try_next().await? {
                serde_json::to_writer(&mut sink, &d)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
        }
        Op::ListNative => {
            let query = SamplesQuery {
                label_status: vec![LabelStatus::Reviewed],
                ..SamplesQuery::with_full_labels(GROUND_TRUTH)
            };
            let mut samples = client.get_samples(&args.project, query);
            while let Some(s) = samples.try_next().await? {
                serde_json::to_writer(&mut sink, &s.raw)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
        }
        Op::Release => {
            let release = client.get_release(&args.project, &args.arg).await?;
            let mut reader = client.release_file(&release)?;
            while let Some(s) = reader.next_sample().await? {
                serde_json::to_writer(&mut sink, &s.raw)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
        }
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------
// The orchestrating side

fn bench(common: BenchCommon) -> AnyResult<support::Bench> {
    support::Bench::new(
        common,
        "segments",
        DATASET,
        "segments-worker",
        ("segments_sdk_bench-", SDK_SCRIPT),
    )
}

pub(crate) fn create(args: CreateArgs) -> AnyResult<()> {
    let b = bench(args.common)?;
    let n = args.count;
    let dir = tempfile::tempdir()?;
    let path: PathBuf = dir.path().join("samples.jsonl");
    let bytes = support::write_jsonl(&path, n, |i| {
        json!({
            "image": {"url": format!("https://images.example.com/bench/{i:08}.jpg")},
            "external_id": format!("sample-{i:08}"),
        })
    })?;
    eprintln!(
        "# generated {n} records ({:.1} MiB) in {}; SDK: {} samples per add_samples call",
        bytes as f64 / 1048576.0,
        path.display(),
        if args.sdk_chunk == 0 {
            "all".to_owned()
        } else {
            args.sdk_chunk.to_string()
        }
    );
    let file = path.to_string_lossy().into_owned();
    let emu = b.start_emulator()?;
    let mut rows = Vec::new();
    for &latency in &b.common.latency_ms {
        for _ in 0..b.common.runs {
            let label = at_latency("segments create", latency);
            if !b.common.no_labelmux {
                b.orchestra.set_latency(&emu, latency)?;
                let cmd = b.worker(&emu, "create", &["--arg", &file]);
                rows.push(b.measure(&emu, cmd, &label, "labelmux", n)?);
                b.settle(&emu, n)?;
            }
            if b.sdk_at(n) {
                b.orchestra.set_latency(&emu, latency)?;
                let cmd = b.sdk(&emu, "create", &[&file, &args.sdk_chunk.to_string()]);
                rows.push(b.measure(&emu, cmd, &label, "sdk", n)?);
                b.settle(&emu, n)?;
            }
        }
    }
    b.emulator_peak(&emu, n);
    support::summary(
        &rows,
        str::to_owned,
        &Targets {
            speedup: 10.0,
            rss_mb: 0.0,
        },
    );
    Ok(())
}

pub(crate) fn pull(args: PullArgs) -> AnyResult<()> {
    for m in &args.modes {
        if !matches!(m.as_str(), "provider" | "window" | "native") {
            return Err(format!("unknown mode {m:?} (provider, window, native)").into());
        }
    }
    let b = bench(args.common)?;
    eprintln!("# labelmux side: {}", crate::ALLOCATOR);
    let mut rows = Vec::new();
    for &n in &args.count {
        let emu = b.start_emulator()?;
        let since = (chrono::Utc::now() - chrono::Duration::seconds(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        eprintln!("# seeding {n} reviewed samples into {} ...", emu.base_url);
        let (_, reviewed) = b.seed_and_finish(&emu, n)?;
        let window = n.to_string();
        for &latency in &b.common.latency_ms {
            b.orchestra.set_latency(&emu, latency)?;
            for _ in 0..b.common.runs {
                if !b.common.no_labelmux {
                    for mode in &args.modes {
                        let (op, what) = match mode.as_str() {
                            "provider" => ("deliveries", "segments deliveries"),
                            "window" => ("deliveries-window", "segments window=N"),
                            _ => ("list-native", "segments list native"),
                        };
                        let cmd = b.worker(&emu, op, &["--arg", &since, "--window", &window]);
                        rows.push(b.measure(
                            &emu,
                            cmd,
                            &at_latency(what, latency),
                            "labelmux",
                            reviewed,
                        )?);
                    }
                }
                if b.sdk_at(n) {
                    let cmd = b.sdk(&emu, "pull", &[&reviewed.to_string()]);
                    rows.push(b.measure(
                        &emu,
                        cmd,
                        &at_latency("segments pull", latency),
                        "sdk",
                        reviewed,
                    )?);
                }
            }
        }
        b.emulator_peak(&emu, n);
    }
    support::summary(
        &rows,
        |bench| {
            bench
                .replace("window=N", "pull")
                .replace("deliveries", "pull")
                .replace("list native", "pull")
        },
        &Targets {
            speedup: 10.0,
            rss_mb: 30.0,
        },
    );
    Ok(())
}

/// Create release `name` of the dataset through the API and wait until its file is served.
fn build_release(b: &support::Bench, emu: &Emulator, name: &str) -> AnyResult<()> {
    let auth = format!("APIKey {}", emu.api_key);
    let t = std::time::Instant::now();
    b.http.call_with(
        "POST",
        &format!("{}/datasets/{}/releases/", emu.base_url, b.project),
        &[],
        Some(&json!({"name": name, "description": "bench"})),
        &[("Authorization", &auth)],
    )?;
    let client = SegmentsClient::new(
        &emu.base_url,
        SecretString::from(emu.api_key.clone()),
        TransportConfig::default(),
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(
        client.wait_for_release(
            &b.project,
            name,
            PollOptions::default()
                .with_interval(Duration::from_millis(100))
                .with_max_interval(Duration::from_millis(500))
                .with_timeout(Duration::from_secs(3600)),
        ),
    )?;
    eprintln!(
        "# release {name:?} built in {:.1}s; emulator RSS now {:.0} MiB",
        t.elapsed().as_secs_f64(),
        crate::kib_to_mib(emu.rss_kb().0)
    );
    Ok(())
}

pub(crate) fn release(args: ReleaseArgs) -> AnyResult<()> {
    let b = bench(args.common)?;
    let mut rows = Vec::new();
    for &n in &args.count {
        let emu = b.start_emulator()?;
        eprintln!("# seeding {n} reviewed samples into {} ...", emu.base_url);
        let (seeded, _) = b.seed_and_finish(&emu, n)?;
        build_release(&b, &emu, "bench-v1")?;
        for &latency in &b.common.latency_ms {
            b.orchestra.set_latency(&emu, latency)?;
            for _ in 0..b.common.runs {
                let label = at_latency("segments release", latency);
                if !b.common.no_labelmux {
                    let cmd = b.worker(&emu, "release", &["--arg", "bench-v1"]);
                    rows.push(b.measure(&emu, cmd, &label, "labelmux", seeded)?);
                }
                if b.sdk_at(n) {
                    let cmd = b.sdk(&emu, "release", &["bench-v1"]);
                    rows.push(b.measure(&emu, cmd, &label, "sdk", seeded)?);
                }
            }
        }
        b.emulator_peak(&emu, n);
    }
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
