//! `labelmux-bench`: throughput and peak-RSS benchmarks of labelmux beside the vendors' official
//! Python SDKs (Sama, Scale, Labelbox, Segments.ai), against the local emulators. It PRINTS figures and targets; it asserts nothing (a missed
//! target never fails the run), and nothing here runs under `cargo test`.
//!
//! Three kinds of processes, so that each peak RSS is the client's own:
//! - the emulator (`labelmux-emulator sama`, a separate process; its CPU time and peak RSS are
//!   printed for context only);
//! - the labelmux side: this binary re-invoked as `labelmux-bench worker ...`, reporting its own
//!   `VmHWM` from `/proc/self/status`;
//! - the SDK side: `python sama_sdk_bench.py ...`, reporting `ru_maxrss`.
//!
//! See docs/benchmarks.md for the commands and the figures measured.

mod harness;
mod labelbox;
mod scale;
mod segments;
mod static_pages;
mod support;
mod tables;
mod worker;

// Only with `--features mimalloc` (a comparison; the default build measures glibc malloc,
// which a library user's program gets). Never set in the libraries.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator this binary was built with (printed with the figures).
pub(crate) const ALLOCATOR: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "glibc malloc"
};

use clap::{Args, Parser, Subcommand};
use harness::{Emulator, Measured, Orchestra};
use std::path::PathBuf;

/// Benchmarks of labelmux beside the official Python SDK, against the local emulator.
#[derive(Parser, Debug)]
#[command(name = "labelmux-bench", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Pull N deliveries (1,000 a page): GET since a timestamp, and since-last-call.
    Deliveries(DeliveriesArgs),
    /// Create one batch of N tasks from a JSONL file.
    Create(CreateArgs),
    /// Scale: create N tasks (one request each), labelmux beside the SDK, optionally with
    /// client-side rate limits checked against the rate the emulator saw.
    ScaleCreate(scale::CreateArgs),
    /// Scale: seed N tasks, then list them all across pages, labelmux beside the SDK.
    ScaleList(scale::ListArgs),
    /// Sama deliveries from static pages (captured from the emulator, served from memory by
    /// an HTTP server in this process): labelmux beside the SDK on the same bytes.
    DeliveriesStatic(static_pages::DeliveriesStaticArgs),
    /// Scale: list N tasks from static pages (captured from the emulator), beside the SDK.
    ScaleListStatic(scale::ListStaticArgs),
    /// Labelbox: seed N labeled data rows, then export them (labelmux's streamed pull beside
    /// the SDK's export + buffered stream).
    LabelboxExport(labelbox::ExportArgs),
    /// Labelbox: one batch of N data rows from a JSONL file.
    LabelboxCreate(labelbox::CreateArgs),
    /// Segments.ai: add N samples from a JSONL file.
    SegmentsCreate(segments::CreateArgs),
    /// Segments.ai: seed N reviewed samples, then pull their labels.
    SegmentsPull(segments::PullArgs),
    /// Segments.ai: seed N labeled samples, then read a release file of them.
    SegmentsRelease(segments::ReleaseArgs),
    /// Tables: N Sama deliveries into Parquet and Delta (beside pyarrow from the SDK's output).
    TablesPull(tables::PullArgs),
    /// Tables: N tasks from a Parquet file into one Sama batch.
    TablesCreate(tables::CreateArgs),
    /// Internal: the labelmux side of one measurement (prints one JSON line).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
    /// Internal: the labelmux side of one Labelbox measurement.
    #[command(hide = true)]
    LabelboxWorker(labelbox::WorkerArgs),
    /// Internal: the labelmux side of one Segments.ai measurement.
    #[command(hide = true)]
    SegmentsWorker(segments::WorkerArgs),
    /// Internal: the labelmux side of one tables measurement.
    #[command(hide = true)]
    TablesWorker(tables::WorkerArgs),
    /// Internal: the labelmux side of one Scale measurement (prints one JSON line).
    #[command(hide = true)]
    ScaleWorker(scale::WorkerArgs),
}

/// Options shared by the benchmarks.
#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// The emulator binary (default: `labelmux-emulator` next to this executable).
    #[arg(long)]
    emulator: Option<PathBuf>,
    /// Python interpreter with the official SDK (`sama`) installed.
    #[arg(long, env = "LABELMUX_PYTHON", default_value = "python3")]
    python: String,
    /// Skip the Python SDK side.
    #[arg(long)]
    no_sdk: bool,
    /// Skip the labelmux side.
    #[arg(long)]
    no_labelmux: bool,
    /// Sama project id (the emulator's seeded default project).
    #[arg(long, default_value = "1001")]
    project: String,
    /// Repeat every measurement this many times.
    #[arg(long, default_value_t = 1)]
    runs: u32,
}

#[derive(Args, Debug)]
struct DeliveriesArgs {
    #[command(flatten)]
    common: Common,
    /// Number(s) of deliveries, comma-separated (a fresh emulator for each).
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    count: Vec<u64>,
    /// Which pulls: `get` (GET delivered.json since a timestamp, through the Provider API),
    /// `since` (since-last-call, through the Provider API), `get-native` (GET through
    /// SamaClient, no mapping to the vendor-neutral model; labelmux only), `floor-raw` and
    /// `floor-typed` (diagnostics, NOT labelmux: plain reqwest + borrowed decoding of the same
    /// pages, to show what the server and HTTP allow).
    #[arg(long, value_delimiter = ',', default_value = "get,since")]
    modes: Vec<String>,
    /// Latency the emulator adds to every vendor-API request, in milliseconds; a
    /// comma-separated list measures each (set after seeding, through `PUT /_emulator/faults`).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    latency_ms: Vec<u64>,
    /// Pages of the GET pulls labelmux fetches concurrently (`SamaClient::with_read_ahead`;
    /// default: the library's default).
    #[arg(long)]
    read_ahead: Option<usize>,
}

#[derive(Args, Debug)]
struct CreateArgs {
    #[command(flatten)]
    common: Common,
    /// Number of tasks (a JSONL file of this many records is generated in a temp dir).
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Use this JSONL file (one task `data` object a line) instead of generating one.
    #[arg(long)]
    jsonl: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Worker(args) => worker::run(args),
        Cmd::Deliveries(args) => deliveries(args),
        Cmd::Create(args) => create(args),
        Cmd::ScaleCreate(args) => scale::create(args),
        Cmd::ScaleList(args) => scale::list(args),
        Cmd::DeliveriesStatic(args) => static_pages::deliveries_static(args),
        Cmd::ScaleListStatic(args) => scale::list_static(args),
        Cmd::ScaleWorker(args) => scale::run_worker(args),
        Cmd::LabelboxExport(args) => labelbox::export(args),
        Cmd::LabelboxCreate(args) => labelbox::create(args),
        Cmd::SegmentsCreate(args) => segments::create(args),
        Cmd::SegmentsPull(args) => segments::pull(args),
        Cmd::SegmentsRelease(args) => segments::release(args),
        Cmd::TablesPull(args) => tables::pull(args),
        Cmd::TablesCreate(args) => tables::create(args),
        Cmd::LabelboxWorker(args) => labelbox::run_worker(args),
        Cmd::SegmentsWorker(args) => segments::run_worker(args),
        Cmd::TablesWorker(args) => tables::run_worker(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

type AnyResult<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn deliveries(args: DeliveriesArgs) -> AnyResult<()> {
    let common = args.common;
    for m in &args.modes {
        if !matches!(
            m.as_str(),
            "get" | "since" | "get-native" | "floor-raw" | "floor-typed"
        ) {
            return Err(format!(
                "unknown mode {m:?} (get, since, get-native, floor-raw, floor-typed)"
            )
            .into());
        }
    }
    let mut orchestra = Orchestra::new(&common)?;
    orchestra.read_ahead = args.read_ahead;
    eprintln!(
        "# labelmux side: {} allocator, read-ahead {} pages (GET pulls)",
        ALLOCATOR,
        args.read_ahead
            .unwrap_or(labelmux_sama::DEFAULT_READ_AHEAD_PAGES)
    );
    let mut rows: Vec<Measured> = Vec::new();
    for &n in &args.count {
        let emu = Emulator::start(&orchestra.emulator_bin, &common.project)?;
        eprintln!("# seeding {n} delivered tasks into {} ...", emu.base_url);
        let seed = orchestra.seed_deliveries(&emu, &common.project, n)?;
        eprintln!(
            "# seeded in {:.1}s (upload+create {:.1}s, finish {:.1}s); emulator RSS now {:.0} MiB",
            seed.total_secs,
            seed.create_secs,
            seed.finish_secs,
            kib_to_mib(emu.rss_kb().0)
        );
        for &latency in &args.latency_ms {
            orchestra.set_latency(&emu, latency)?;
            for run in 1..=common.runs {
                for mode in &args.modes {
                    let label = if latency > 0 {
                        format!("deliveries {mode} @{latency}ms")
                    } else {
                        format!("deliveries {mode}")
                    };
                    let consumer = |who: &str| format!("bench-{who}-{latency}ms-{run}");
                    let arg_for = |who: &str| match mode.as_str() {
                        "since" => consumer(who),
                        _ => seed.from.clone(),
                    };
                    if !common.no_labelmux {
                        let (op, who) = match mode.as_str() {
                            "get" => ("deliveries-get", "labelmux"),
                            "since" => ("deliveries-since", "labelmux"),
                            "get-native" => ("deliveries-get-native", "labelmux"),
                            "floor-raw" => ("deliveries-floor-raw", "floor"),
                            _ => ("deliveries-floor-typed", "floor"),
                        };
                        let m = orchestra.run_worker(&emu, &label, who, op, &arg_for("lm"), n)?;
                        print_row(&m);
                        rows.push(m);
                    }
                    if !common.no_sdk && matches!(mode.as_str(), "get" | "since") {
                        let op = if mode == "since" {
                            "deliveries-since"
                        } else {
                            "deliveries-get"
                        };
                        let m = orchestra.run_sdk(&emu, &label, op, &arg_for("sdk"), n)?;
                        print_row(&m);
                        rows.push(m);
                    }
                }
            }
        }
        let (_, hwm) = emu.rss_kb();
        eprintln!("# emulator peak RSS at N={n}: {:.0} MiB", kib_to_mib(hwm));
    }
    summary(&rows, 30.0, "throughput >= 10x the SDK", 10.0);
    Ok(())
}

fn create(args: CreateArgs) -> AnyResult<()> {
    let common = args.common;
    let orchestra = Orchestra::new(&common)?;
    let dir = tempfile::tempdir()?;
    let jsonl = match args.jsonl {
        Some(p) => p,
        None => {
            let p = dir.path().join("tasks.jsonl");
            let bytes = harness::write_jsonl(&p, args.count)?;
            eprintln!(
                "# generated {} records ({:.1} MiB) in {}",
                args.count,
                bytes as f64 / 1048576.0,
                p.display()
            );
            p
        }
    };
    let n = harness::count_lines(&jsonl)?;
    let emu = Emulator::start(&orchestra.emulator_bin, &common.project)?;
    let mut rows = Vec::new();
    for _ in 0..common.runs {
        let path = jsonl.to_string_lossy().into_owned();
        if !common.no_labelmux {
            let m = orchestra.run_worker(&emu, "create batch", "labelmux", "create", &path, n)?;
            print_row(&m);
            orchestra.settle_batch(&emu, &common.project, m.batch_id.as_deref(), n)?;
            rows.push(m);
        }
        if !common.no_sdk {
            let m = orchestra.run_sdk(&emu, "create batch", "create", &path, n)?;
            print_row(&m);
            orchestra.settle_batch(&emu, &common.project, m.batch_id.as_deref(), n)?;
            rows.push(m);
        }
    }
    let (_, hwm) = emu.rss_kb();
    eprintln!("# emulator peak RSS: {:.0} MiB", kib_to_mib(hwm));
    summary(&rows, 50.0, "wall time beside the SDK", 0.0);
    Ok(())
}

pub(crate) fn kib_to_mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn print_row(m: &Measured) {
    println!(
        "{:<24} {:>9} {:<9} {:>8.2}s {:>11.0}/s  peak RSS {:>7.1} MiB (start {:>5.1})  cpu {:>6.2}s  server cpu {:>6.2}s{}",
        m.bench,
        m.expected,
        m.client,
        m.secs,
        m.items as f64 / m.secs.max(1e-9),
        kib_to_mib(m.peak_rss_kb),
        kib_to_mib(m.rss_start_kb),
        m.cpu_secs,
        m.server_cpu_secs,
        if m.items == m.expected {
            String::new()
        } else {
            format!("  !! got {} items, expected {}", m.items, m.expected)
        }
    );
}

/// Print, per (benchmark, N), the best run of each side, the ratio and whether the targets
/// are met. Informative only.
fn summary(rows: &[Measured], rss_target_mib: f64, ratio_what: &str, ratio_target: f64) {
    let mut keys: Vec<(String, u64)> = Vec::new();
    for r in rows {
        let k = (r.bench.clone(), r.expected);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    println!();
    println!("summary (best run of each side; MiB = 2^20 bytes):");
    for (bench, n) in keys {
        let best = |client: &str| {
            rows.iter()
                .filter(|r| r.bench == bench && r.expected == n && r.client == client)
                .min_by(|a, b| a.secs.total_cmp(&b.secs))
        };
        let lm = best("labelmux");
        let sdk = best("sdk");
        let mut line = format!("  {bench} N={n}:");
        if let Some(f) = best("floor") {
            line += &format!(
                " diagnostic floor (not labelmux) {:.2}s ({:.0}/s), peak RSS {:.1} MiB",
                f.secs,
                f.items as f64 / f.secs.max(1e-9),
                kib_to_mib(f.peak_rss_kb)
            );
        }
        if let Some(lm) = lm {
            let rss = kib_to_mib(lm.peak_rss_kb);
            line += &format!(
                " labelmux {:.2}s ({:.0}/s), peak RSS {rss:.1} MiB [target < {rss_target_mib} MB: {}]",
                lm.secs,
                lm.items as f64 / lm.secs.max(1e-9),
                met(rss * 1.048576 < rss_target_mib)
            );
        }
        if let Some(sdk) = sdk {
            line += &format!(
                "; SDK {:.2}s ({:.0}/s), peak RSS {:.1} MiB",
                sdk.secs,
                sdk.items as f64 / sdk.secs.max(1e-9),
                kib_to_mib(sdk.peak_rss_kb)
            );
        }
        if let (Some(lm), Some(sdk)) = (lm, sdk) {
            let ratio = sdk.secs / lm.secs.max(1e-9);
            line += &format!("; labelmux/SDK speed {ratio:.1}x");
            if ratio_target > 0.0 {
                line += &format!(" [{ratio_what}: {}]", met(ratio >= ratio_target));
            }
        }
        println!("{line}");
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
