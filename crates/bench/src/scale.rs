//! The Scale benchmarks (issue 4): creating 10,000 tasks (one request per task) and listing
//! 100,000 tasks across pages, labelmux beside Scale's official Python SDK (`scaleapi`),
//! against `labelmux-emulator scale`. Same three-process method as the Sama benchmarks; in
//! addition, the emulator's request counter is sampled every 20 ms while a client runs, so the
//! request rate the server saw (average and busiest 1-second window) is printed beside a
//! configured client-side rate limit.

use crate::harness::{status_field, Emulator, Measured, Orchestra, KEY_ENV};
use crate::static_pages::{
    own_cpu_secs, read_page_files, write_page_files, Pages, PagesDir, StaticServer,
};
use crate::{kib_to_mib, print_row, AnyResult, Common};
use clap::{Args, ValueEnum};
use futures::stream::{self, StreamExt, TryStreamExt};
use labelmux_core::cursor::FileCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{BatchSpec, JsonMap, ProjectId, Provider, TaskFilter, TaskSpec};
use labelmux_scale::{ScaleClient, ScaleProvider, TasksQuery};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Python side, embedded so the binary needs no source checkout at run time.
const SDK_SCRIPT: &str = include_str!("../python/scale_sdk_bench.py");

/// Options shared by the Scale benchmarks.
#[derive(Args, Debug, Clone)]
pub(crate) struct ScaleCommon {
    /// The emulator binary (default: `labelmux-emulator` next to this executable).
    #[arg(long)]
    emulator: Option<PathBuf>,
    /// Python interpreter with the official SDK (`scaleapi`) installed.
    #[arg(long, env = "LABELMUX_PYTHON", default_value = "python3")]
    python: String,
    /// Skip the Python SDK side.
    #[arg(long)]
    no_sdk: bool,
    /// Skip the labelmux side.
    #[arg(long)]
    no_labelmux: bool,
    /// Scale project name (the emulator's seeded image-annotation project).
    #[arg(long, default_value = "demo")]
    project: String,
    /// Repeat every measurement this many times.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// Latency the emulator adds to every vendor-API request, in milliseconds; a
    /// comma-separated list measures each (`PUT /_emulator/faults {"latency_ms": N}`).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    latency_ms: Vec<u64>,
    /// labelmux's `TransportConfig::concurrency` (default: the library default, 16).
    #[arg(long)]
    concurrency: Option<usize>,
}

/// `scale-create`: N tasks, one `POST /task/imageannotation` each.
#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    common: ScaleCommon,
    /// Number of tasks.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Also run labelmux with these client-side `rate_limit_per_second` values
    /// (comma-separated), and compare the rate the emulator saw with each.
    #[arg(long, value_delimiter = ',')]
    rate_limit: Vec<u32>,
}

/// `scale-list`: seed N tasks, then list them all (100 a page).
#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    common: ScaleCommon,
    /// Number of tasks seeded (through the API, by labelmux) and then listed.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Which labelmux reads: `provider` (`Provider::list_tasks`, mapped to the neutral
    /// `Task`), `native` (`ScaleClient::get_tasks`, the vendor-native `ScaleTask`).
    #[arg(long, value_delimiter = ',', default_value = "provider,native")]
    modes: Vec<String>,
}

/// `scale-list-static`: seed N tasks into the emulator, capture its task pages (100 a page)
/// into page files, serve them from the static server, then list them all.
#[derive(Args, Debug)]
pub(crate) struct ListStaticArgs {
    #[command(flatten)]
    common: ScaleCommon,
    /// Number of tasks seeded (through the API, by labelmux), captured and listed.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Which labelmux reads: `provider` (`Provider::list_tasks`), `native`
    /// (`ScaleClient::get_tasks`).
    #[arg(long, value_delimiter = ',', default_value = "provider,native")]
    modes: Vec<String>,
    /// Keep the page files in this directory (default: a temporary directory, removed).
    #[arg(long)]
    pages_dir: Option<PathBuf>,
}

/// What the Scale worker measures.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Op {
    /// `Provider::create_batch` of `--count` generated task specs.
    Create,
    /// `Provider::list_tasks` of the project, every task serialised to a sink.
    List,
    /// `ScaleClient::get_tasks` of the project, every task's raw JSON serialised to a sink.
    ListNative,
}

/// Arguments of `labelmux-bench scale-worker` (internal).
#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    op: Op,
    /// Vendor API base URL (the emulator's `base_url`).
    #[arg(long)]
    base_url: String,
    /// Scale project name.
    #[arg(long)]
    project: String,
    /// Tasks to create.
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Batch name and `unique_id` prefix of created tasks.
    #[arg(long, default_value = "lm")]
    prefix: String,
    /// Client-side rate limit (requests per second).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Requests in flight at once.
    #[arg(long)]
    concurrency: Option<usize>,
}

/// The task both sides create for index `i`: an image annotation with a unique id (so the
/// labelmux side's creates are idempotent, as a user's would be), as in
/// tests/fidelity/scale_sdk.py.
fn task_spec(i: u64, prefix: &str) -> TaskSpec {
    let mut inputs = JsonMap::new();
    inputs.insert(
        "attachment".into(),
        json!(format!("https://images.example.com/bench/{i:08}.jpg")),
    );
    inputs.insert("attachment_type".into(), json!("image"));
    inputs.insert(
        "geometries".into(),
        json!({"box": {"objects_to_annotate": ["car", "person"]}}),
    );
    let mut spec = TaskSpec::new(inputs).with_external_key(format!("{prefix}-{i:08}"));
    spec.metadata.insert("i".into(), json!(i));
    spec
}

// ---------------------------------------------------------------------------------------------
// The labelmux side (its own process)

pub(crate) fn run_worker(args: WorkerArgs) -> AnyResult<()> {
    // A user's default: the multi-threaded runtime of `#[tokio::main]`.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let status = || std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_start_kb = status_field(&status(), "VmRSS:");
    let started = Instant::now();
    let (items, batch_id) = rt.block_on(operate(&args))?;
    let secs = started.elapsed().as_secs_f64();
    let line = json!({
        "items": items,
        "secs": secs,
        "rss_start_kb": rss_start_kb,
        "peak_rss_kb": status_field(&status(), "VmHWM:"),
        "batch_id": batch_id,
    });
    println!("{line}");
    Ok(())
}

async fn operate(args: &WorkerArgs) -> AnyResult<(u64, Option<String>)> {
    let key = SecretString::from(std::env::var(KEY_ENV).unwrap_or_else(|_| "emulator-key".into()));
    let mut config = TransportConfig {
        rate_limit_per_second: args.rate_limit,
        ..TransportConfig::default()
    };
    if let Some(c) = args.concurrency {
        config.concurrency = c;
    }
    let client = ScaleClient::new(&args.base_url, key, config)?;
    let cursors = tempfile::tempdir()?;
    let provider = ScaleProvider::new(client.clone(), FileCursorStore::new(cursors.path()));
    let project = ProjectId::new(args.project.clone());
    let mut sink = std::io::sink();
    let mut items = 0u64;
    match args.op {
        Op::Create => {
            let prefix = args.prefix.clone();
            let specs = stream::iter((0..args.count).map(move |i| Ok(task_spec(i, &prefix))));
            let spec = BatchSpec::default().with_name(format!("{}-batch", args.prefix));
            let receipt = provider
                .create_batch(&project, spec, specs.boxed(), None)
                .await?;
            if !receipt.failures.is_empty() {
                eprintln!(
                    "# {} tasks refused, first: {:?}",
                    receipt.failures.len(),
                    receipt.failures[0].errors
                );
            }
            Ok((receipt.created, Some(receipt.batch_id.to_string())))
        }
        Op::List => {
            let mut tasks = provider.list_tasks(&project, TaskFilter::default());
            while let Some(t) = tasks.try_next().await? {
                serde_json::to_writer(&mut sink, &t)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
            Ok((items, None))
        }
        Op::ListNative => {
            let mut tasks = client.get_tasks(TasksQuery::project(args.project.clone()));
            while let Some(t) = tasks.try_next().await? {
                serde_json::to_writer(&mut sink, &t.raw)?;
                sink.write_all(b"\n")?;
                items += 1;
            }
            Ok((items, None))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The orchestrating side

/// The emulator's vendor-API request counter, sampled every 20 ms on a thread while a client
/// runs (control requests are not counted by the emulator).
struct RateSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(Instant, u64)>>,
}

/// The request rate the emulator saw during one measurement.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    requests: u64,
    /// Most requests in any window of 1 s (from 20 ms samples: windows of 1.00–1.02 s).
    max_1s: u64,
}

impl RateSampler {
    fn start(root_url: &str) -> AnyResult<RateSampler> {
        let addr = root_url
            .strip_prefix("http://")
            .ok_or("the emulator's URL is not http://")?
            .trim_end_matches('/')
            .to_owned();
        // Fail now, not silently in the thread.
        request_count(&addr)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Ok(n) = request_count(&addr) {
                    samples.push((Instant::now(), n));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(n) = request_count(&addr) {
                samples.push((Instant::now(), n));
            }
            samples
        });
        Ok(RateSampler { stop, handle })
    }

    fn finish(self) -> Rate {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.handle.join().unwrap_or_default();
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return Rate::default();
        };
        let requests = last.1 - first.1;
        let span = last.0.duration_since(first.0).as_secs_f64();
        // (The average is taken over the client's own wall time by the caller: the sampled
        // span includes process start-up.)
        // For each sample, the requests since the latest sample at least 1 s before it.
        let mut max_1s = 0;
        let mut j = 0;
        for i in 0..samples.len() {
            while j + 1 < i && samples[i].0.duration_since(samples[j + 1].0).as_secs_f64() >= 1.0 {
                j += 1;
            }
            if samples[i].0.duration_since(samples[j].0).as_secs_f64() >= 1.0 {
                max_1s = max_1s.max(samples[i].1 - samples[j].1);
            }
        }
        if span < 1.0 {
            max_1s = requests; // the whole run fits in one second
        }
        Rate { requests, max_1s }
    }
}

/// `GET /_emulator/state` over a plain HTTP/1.1 connection: the `requests` counter.
fn request_count(addr: &str) -> AnyResult<u64> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /_emulator/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or("no HTTP body from /_emulator/state")?;
    let v: Value = serde_json::from_str(body)?;
    v["requests"]
        .as_u64()
        .ok_or_else(|| "no `requests` in /_emulator/state".into())
}

/// Tasks of `project` the emulator holds (not canceled).
fn task_count(emu: &Emulator, project: &str) -> AnyResult<u64> {
    let addr = emu.root_url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "GET /_emulator/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: Value = serde_json::from_str(body)?;
    Ok(v["projects"][project]["tasks"].as_u64().unwrap_or(0))
}

fn reset(emu: &Emulator) -> AnyResult<()> {
    let addr = emu.root_url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "POST /_emulator/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    if !buf.starts_with(b"HTTP/1.1 200") {
        return Err("the emulator refused the reset".into());
    }
    Ok(())
}

struct Bench {
    orchestra: Orchestra,
    common: ScaleCommon,
    self_bin: PathBuf,
    sdk_script: tempfile::NamedTempFile,
}

impl Bench {
    fn new(common: ScaleCommon) -> AnyResult<Bench> {
        let orchestra = Orchestra::new(&Common {
            emulator: common.emulator.clone(),
            python: common.python.clone(),
            no_sdk: common.no_sdk,
            no_labelmux: common.no_labelmux,
            project: common.project.clone(),
            runs: common.runs,
        })?;
        let mut sdk_script = tempfile::Builder::new()
            .prefix("scale_sdk_bench-")
            .suffix(".py")
            .tempfile()?;
        sdk_script.write_all(SDK_SCRIPT.as_bytes())?;
        sdk_script.flush()?;
        Ok(Bench {
            orchestra,
            common,
            self_bin: std::env::current_exe()?,
            sdk_script,
        })
    }

    fn start_emulator(&self) -> AnyResult<Emulator> {
        Emulator::start_vendor(&self.orchestra.emulator_bin, "scale", &self.common.project)
    }

    fn worker(
        &self,
        emu: &Emulator,
        op: &str,
        count: u64,
        prefix: &str,
        rate_limit: Option<u32>,
    ) -> Command {
        self.worker_at(&emu.base_url, op, count, prefix, rate_limit)
    }

    fn worker_at(
        &self,
        base_url: &str,
        op: &str,
        count: u64,
        prefix: &str,
        rate_limit: Option<u32>,
    ) -> Command {
        let mut cmd = Command::new(&self.self_bin);
        cmd.args(["scale-worker", op, "--base-url", base_url])
            .args(["--project", &self.common.project])
            .args(["--count", &count.to_string(), "--prefix", prefix]);
        if let Some(r) = rate_limit {
            cmd.args(["--rate-limit", &r.to_string()]);
        }
        if let Some(c) = self.common.concurrency {
            cmd.args(["--concurrency", &c.to_string()]);
        }
        cmd
    }

    fn sdk(&self, emu: &Emulator, mode: &str, count: u64, prefix: &str) -> Command {
        self.sdk_at(&emu.base_url, mode, count, prefix)
    }

    fn sdk_at(&self, base_url: &str, mode: &str, count: u64, prefix: &str) -> Command {
        let mut cmd = Command::new(&self.common.python);
        cmd.arg(self.sdk_script.path()).args([
            mode,
            base_url,
            &self.common.project,
            &count.to_string(),
            prefix,
        ]);
        cmd
    }

    /// Run one measured client with the request-rate sampler around it. (The sampler's
    /// `/_emulator/state` polls cost the emulator some CPU: each counts the project's tasks.)
    fn measure(
        &self,
        emu: &Emulator,
        cmd: Command,
        bench: &str,
        client: &'static str,
        expected: u64,
    ) -> AnyResult<(Measured, Rate)> {
        let sampler = RateSampler::start(&emu.root_url)?;
        let m = self.orchestra.measure(emu, cmd, bench, client, expected);
        let rate = sampler.finish();
        let m = m?;
        print_row(&m);
        println!(
            "{:<24} {:>9} {:<9} emulator saw {} requests: {:.0}/s over the client's wall time, at most {} in any 1 s window",
            "",
            "",
            "",
            rate.requests,
            rate.requests as f64 / m.secs.max(1e-9),
            rate.max_1s
        );
        Ok((m, rate))
    }

    /// Run one measured client without the sampler (list: its polls would scan 100,000
    /// tasks 50 times a second inside the emulator).
    fn measure_plain(
        &self,
        emu: &Emulator,
        cmd: Command,
        bench: &str,
        client: &'static str,
        expected: u64,
    ) -> AnyResult<Measured> {
        let m = self.orchestra.measure(emu, cmd, bench, client, expected)?;
        print_row(&m);
        Ok(m)
    }

    fn labelmux_label(&self) -> String {
        format!(
            "labelmux (concurrency {})",
            self.common
                .concurrency
                .unwrap_or(TransportConfig::default().concurrency)
        )
    }
}

fn latency_label(what: &str, latency: u64) -> String {
    if latency > 0 {
        format!("{what} @{latency}ms")
    } else {
        what.to_owned()
    }
}

pub(crate) fn create(args: CreateArgs) -> AnyResult<()> {
    let bench = Bench::new(args.common.clone())?;
    let common = &args.common;
    let n = args.count;
    let emu = bench.start_emulator()?;
    eprintln!(
        "# Scale emulator at {}; {} tasks per run, one POST each; labelmux side: {}, {}",
        emu.base_url,
        n,
        bench.labelmux_label(),
        crate::ALLOCATOR
    );
    let mut results: Vec<(Measured, Rate, Option<u32>, u64)> = Vec::new();
    let mut run_no = 0u32;
    for &latency in &common.latency_ms {
        bench.orchestra.set_latency(&emu, latency)?;
        for _ in 0..common.runs {
            let mut limits: Vec<Option<u32>> = Vec::new();
            if !common.no_labelmux {
                limits.push(None);
                limits.extend(args.rate_limit.iter().map(|&r| Some(r)));
            }
            for limit in limits {
                run_no += 1;
                let prefix = format!("lm{run_no}");
                let label = match limit {
                    None => latency_label("scale create", latency),
                    Some(r) => latency_label(&format!("scale create ≤{r}/s"), latency),
                };
                let cmd = bench.worker(&emu, "create", n, &prefix, limit);
                let (m, rate) = bench.measure(&emu, cmd, &label, "labelmux", n)?;
                settle(&emu, &common.project, n)?;
                if let Some(r) = limit {
                    println!(
                        "{:<24} {:>9} {:<9} rate limit {r}/s: busiest 1 s window {} requests [{}]",
                        "",
                        "",
                        "",
                        rate.max_1s,
                        if rate.max_1s <= u64::from(r) {
                            "not exceeded"
                        } else {
                            "EXCEEDED"
                        }
                    );
                }
                results.push((m, rate, limit, latency));
            }
            if !common.no_sdk {
                run_no += 1;
                let cmd = bench.sdk(&emu, "create", n, &format!("sdk{run_no}"));
                let label = latency_label("scale create", latency);
                let (m, rate) = bench.measure(&emu, cmd, &label, "sdk", n)?;
                settle(&emu, &common.project, n)?;
                results.push((m, rate, None, latency));
            }
        }
    }
    let (_, hwm) = emu.rss_kb();
    eprintln!("# emulator peak RSS: {:.0} MiB", kib_to_mib(hwm));

    println!();
    println!("summary (best run of each; throughput = tasks / wall time of the client):");
    for &latency in &common.latency_ms {
        let best = |client: &str, limit: Option<u32>| {
            results
                .iter()
                .filter(|(m, _, l, lat)| m.client == client && *l == limit && *lat == latency)
                .min_by(|a, b| a.0.secs.total_cmp(&b.0.secs))
        };
        let sdk = best("sdk", None);
        if let Some((s, _, _, _)) = sdk {
            println!(
                "  latency {latency} ms: SDK {:.2}s ({:.0} tasks/s), peak RSS {:.1} MiB",
                s.secs,
                s.items as f64 / s.secs.max(1e-9),
                kib_to_mib(s.peak_rss_kb)
            );
        }
        let mut limits = vec![None];
        limits.extend(args.rate_limit.iter().map(|&r| Some(r)));
        for limit in limits {
            let Some((m, rate, _, _)) = best("labelmux", limit) else {
                continue;
            };
            let mut line = format!(
                "  latency {latency} ms: labelmux{} {:.2}s ({:.0} tasks/s), peak RSS {:.1} MiB, server saw ≤{} req in 1 s",
                limit.map(|r| format!(" (rate limit {r}/s)")).unwrap_or_default(),
                m.secs,
                m.items as f64 / m.secs.max(1e-9),
                kib_to_mib(m.peak_rss_kb),
                rate.max_1s
            );
            if let Some((s, _, _, _)) = sdk {
                let ratio = s.secs / m.secs.max(1e-9);
                line += &format!("; {ratio:.1}x the SDK");
                if limit.is_none() {
                    line += &format!(" [>= 20x the SDK: {}]", crate::met(ratio >= 20.0));
                }
            }
            if let Some(r) = limit {
                line += &format!(
                    " [rate limit not exceeded: {}]",
                    crate::met(rate.max_1s <= u64::from(r))
                );
            }
            println!("{line}");
        }
    }
    Ok(())
}

/// After a create measurement: check the count the emulator holds, then empty it.
fn settle(emu: &Emulator, project: &str, n: u64) -> AnyResult<()> {
    let tasks = task_count(emu, project)?;
    if tasks != n {
        eprintln!("#   !! the emulator holds {tasks} tasks, expected {n}");
    }
    reset(emu)
}

pub(crate) fn list(args: ListArgs) -> AnyResult<()> {
    for m in &args.modes {
        if !matches!(m.as_str(), "provider" | "native") {
            return Err(format!("unknown mode {m:?} (provider, native)").into());
        }
    }
    let bench = Bench::new(args.common.clone())?;
    let common = &args.common;
    let n = args.count;
    let emu = bench.start_emulator()?;
    eprintln!(
        "# seeding {n} tasks into {} through the API ...",
        emu.base_url
    );
    let seed = bench.worker(&emu, "create", n, "seed", None);
    let (seeded, _) = bench.measure(&emu, seed, "scale seed (create)", "labelmux", n)?;
    let held = task_count(&emu, &common.project)?;
    eprintln!(
        "# seeded {held} tasks in {:.1}s; emulator RSS now {:.0} MiB",
        seeded.secs,
        kib_to_mib(emu.rss_kb().0)
    );
    let mut rows: Vec<Measured> = Vec::new();
    for &latency in &common.latency_ms {
        bench.orchestra.set_latency(&emu, latency)?;
        for _ in 0..common.runs {
            if !common.no_labelmux {
                for mode in &args.modes {
                    let (op, what) = match mode.as_str() {
                        "native" => ("list-native", "scale list native"),
                        _ => ("list", "scale list"),
                    };
                    let cmd = bench.worker(&emu, op, 0, "list", None);
                    let label = latency_label(what, latency);
                    rows.push(bench.measure_plain(&emu, cmd, &label, "labelmux", held)?);
                }
            }
            if !common.no_sdk {
                let cmd = bench.sdk(&emu, "list", held, "list");
                let label = latency_label("scale list", latency);
                rows.push(bench.measure_plain(&emu, cmd, &label, "sdk", held)?);
            }
        }
    }
    let (_, hwm) = emu.rss_kb();
    eprintln!("# emulator peak RSS: {:.0} MiB", kib_to_mib(hwm));
    println!();
    println!("summary (best run of each; MiB = 2^20 bytes):");
    for &latency in &common.latency_ms {
        let best = |bench: &str, client: &str| {
            let label = latency_label(bench, latency);
            rows.iter()
                .filter(|r| r.bench == label && r.client == client)
                .min_by(|a, b| a.secs.total_cmp(&b.secs))
        };
        let sdk = best("scale list", "sdk");
        for (what, m) in [
            ("SDK get_tasks", sdk),
            (
                "labelmux Provider::list_tasks",
                best("scale list", "labelmux"),
            ),
            (
                "labelmux ScaleClient::get_tasks",
                best("scale list native", "labelmux"),
            ),
        ] {
            let Some(m) = m else { continue };
            let mut line = format!(
                "  latency {latency} ms: {what} {:.2}s ({:.0} tasks/s), peak RSS {:.1} MiB, cpu {:.2}s, server cpu {:.2}s",
                m.secs,
                m.items as f64 / m.secs.max(1e-9),
                kib_to_mib(m.peak_rss_kb),
                m.cpu_secs,
                m.server_cpu_secs
            );
            if let (Some(s), "labelmux") = (sdk, m.client) {
                line += &format!("; {:.1}x the SDK's throughput", s.secs / m.secs.max(1e-9));
            }
            println!("{line}");
        }
    }
    Ok(())
}

/// Seed `n` tasks into a fresh Scale emulator and capture every `GET /tasks` page of the
/// project (100 a page), as served: the pages and, for each page after the first, the token
/// that asks for it.
fn capture_scale_pages(bench: &Bench, n: u64) -> AnyResult<Pages> {
    let emu = bench.start_emulator()?;
    eprintln!(
        "# seeding {n} tasks into {} through the API ...",
        emu.base_url
    );
    let seed = bench.worker(&emu, "create", n, "seed", None);
    let seeded = bench.measure_plain(&emu, seed, "scale seed (create)", "labelmux", n)?;
    eprintln!("# seeded in {:.1}s", seeded.secs);
    let url = format!("{}/tasks", emu.base_url);
    let t = Instant::now();
    let mut pages = Pages::default();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("project", bench.common.project.as_str()), ("limit", "100")];
        if let Some(t) = &token {
            query.push(("next_token", t.as_str()));
        }
        let body = bench
            .orchestra
            .get_body(&url, &query, Some(emu.api_key.as_str()))?;
        let page: Value = serde_json::from_slice(&body)?;
        if let Some(t) = token.take() {
            pages.scale_tokens.insert(t, pages.scale.len());
        }
        pages.scale.push(body.into());
        match (page["has_more"].as_bool(), page["next_token"].as_str()) {
            (Some(true), Some(next)) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    eprintln!(
        "# captured {} pages from the emulator in {:.1}s",
        pages.scale.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(pages)
}

pub(crate) fn list_static(args: ListStaticArgs) -> AnyResult<()> {
    for m in &args.modes {
        if !matches!(m.as_str(), "provider" | "native") {
            return Err(format!("unknown mode {m:?} (provider, native)").into());
        }
    }
    let bench = Bench::new(args.common.clone())?;
    let common = &args.common;
    let n = args.count;
    let dir = PagesDir::new(args.pages_dir.clone())?;
    let captured = capture_scale_pages(&bench, n)?;
    let bytes = write_page_files(dir.path(), "scale-tasks", &captured.scale)?;
    let pages = Pages {
        scale: read_page_files(dir.path(), "scale-tasks")?,
        scale_tokens: captured.scale_tokens,
        ..Pages::default()
    };
    eprintln!(
        "# {} page files ({:.1} MB) in {}; serving them from memory",
        pages.scale.len(),
        bytes as f64 / 1e6,
        dir.path().display()
    );
    let server = StaticServer::start(pages)?;
    let base = format!("{}/v1", server.root);
    let mut rows: Vec<Measured> = Vec::new();
    for &latency in &common.latency_ms {
        server.set_latency(latency);
        for _ in 0..common.runs {
            if !common.no_labelmux {
                for mode in &args.modes {
                    let (op, what) = match mode.as_str() {
                        "native" => ("list-native", "static scale list native"),
                        _ => ("list", "static scale list"),
                    };
                    let cmd = bench.worker_at(&base, op, 0, "list", None);
                    let label = latency_label(what, latency);
                    let m = bench.orchestra.measure_against(
                        "static",
                        &own_cpu_secs,
                        cmd,
                        &label,
                        "labelmux",
                        n,
                    )?;
                    print_row(&m);
                    rows.push(m);
                }
            }
            if !common.no_sdk {
                let cmd = bench.sdk_at(&base, "list", n, "list");
                let label = latency_label("static scale list", latency);
                let m = bench.orchestra.measure_against(
                    "static",
                    &own_cpu_secs,
                    cmd,
                    &label,
                    "sdk",
                    n,
                )?;
                print_row(&m);
                rows.push(m);
            }
        }
    }
    eprintln!("# static server answered {} requests", server.requests());
    println!();
    println!("summary (best run of each; MiB = 2^20 bytes):");
    for &latency in &common.latency_ms {
        let best = |bench: &str, client: &str| {
            let label = latency_label(bench, latency);
            rows.iter()
                .filter(|r| r.bench == label && r.client == client)
                .min_by(|a, b| a.secs.total_cmp(&b.secs))
        };
        let sdk = best("static scale list", "sdk");
        for (what, m) in [
            ("SDK get_tasks", sdk),
            (
                "labelmux Provider::list_tasks",
                best("static scale list", "labelmux"),
            ),
            (
                "labelmux ScaleClient::get_tasks",
                best("static scale list native", "labelmux"),
            ),
        ] {
            let Some(m) = m else { continue };
            let mut line = format!(
                "  latency {latency} ms: {what} {:.2}s ({:.0} tasks/s), peak RSS {:.1} MiB, cpu {:.2}s",
                m.secs,
                m.items as f64 / m.secs.max(1e-9),
                kib_to_mib(m.peak_rss_kb),
                m.cpu_secs,
            );
            if let (Some(s), "labelmux") = (sdk, m.client) {
                let ratio = s.secs / m.secs.max(1e-9);
                line += &format!(
                    "; {ratio:.1}x the SDK's throughput [>= 5x: {}]",
                    crate::met(ratio >= 5.0)
                );
            }
            println!("{line}");
        }
    }
    Ok(())
}
