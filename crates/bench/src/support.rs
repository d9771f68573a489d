//! What the Labelbox, Segments.ai and tables benchmarks share: their command-line options, the
//! embedded SDK scripts, the emulator's control API, the worker's result line and the printed
//! summary. (The Sama and Scale benchmarks keep their own code in `main.rs`, `harness.rs` and
//! `scale.rs`.)

use crate::harness::{status_field, Emulator, Measured, Orchestra};
use crate::{kib_to_mib, AnyResult, Common};
use clap::Args;
use serde_json::{json, Value};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Options shared by the Labelbox, Segments.ai and tables benchmarks.
#[derive(Args, Debug, Clone)]
pub(crate) struct BenchCommon {
    /// The emulator binary (default: `labelmux-emulator` next to this executable).
    #[arg(long)]
    pub emulator: Option<PathBuf>,
    /// Python interpreter with the official SDK installed (and pandas/pyarrow for the tables).
    #[arg(long, env = "LABELMUX_PYTHON", default_value = "python3")]
    pub python: String,
    /// Skip the Python SDK side.
    #[arg(long)]
    pub no_sdk: bool,
    /// Skip the labelmux side.
    #[arg(long)]
    pub no_labelmux: bool,
    /// Project (default: the emulator's seeded project of the vendor).
    #[arg(long)]
    pub project: Option<String>,
    /// Repeat every measurement this many times.
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Latency the emulator adds to every vendor-API request, in milliseconds; a
    /// comma-separated list measures each (`PUT /_emulator/faults {"latency_ms": N}`).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub latency_ms: Vec<u64>,
    /// Run the SDK side only for counts up to this (the SDK holds whole results in memory:
    /// above a few hundred thousand rows it needs gigabytes).
    #[arg(long, default_value_t = u64::MAX)]
    pub sdk_max_count: u64,
}

/// One benchmark run: the vendor's emulator binary, the SDK script and the measured processes.
pub(crate) struct Bench {
    pub orchestra: Orchestra,
    pub common: BenchCommon,
    pub vendor: &'static str,
    pub project: String,
    self_bin: PathBuf,
    worker_cmd: &'static str,
    sdk_script: tempfile::NamedTempFile,
    pub http: Http,
}

impl Bench {
    /// `vendor` as `labelmux-emulator` names it; `worker_cmd` the hidden subcommand of this
    /// binary that runs the labelmux side; `script` the embedded Python side.
    pub fn new(
        common: BenchCommon,
        vendor: &'static str,
        default_project: &str,
        worker_cmd: &'static str,
        script: (&str, &str),
    ) -> AnyResult<Bench> {
        let project = common
            .project
            .clone()
            .unwrap_or_else(|| default_project.to_owned());
        let orchestra = Orchestra::new(&Common {
            emulator: common.emulator.clone(),
            python: common.python.clone(),
            no_sdk: common.no_sdk,
            no_labelmux: common.no_labelmux,
            project: project.clone(),
            runs: common.runs,
        })?;
        let mut sdk_script = tempfile::Builder::new()
            .prefix(script.0)
            .suffix(".py")
            .tempfile()?;
        sdk_script.write_all(script.1.as_bytes())?;
        sdk_script.flush()?;
        Ok(Bench {
            orchestra,
            common,
            vendor,
            project,
            self_bin: std::env::current_exe()?,
            worker_cmd,
            sdk_script,
            http: Http::new()?,
        })
    }

    pub fn start_emulator(&self) -> AnyResult<Emulator> {
        Emulator::start_vendor(&self.orchestra.emulator_bin, self.vendor, &self.project)
    }

    /// The labelmux side: `labelmux-bench <worker_cmd> OP --base-url ... --project ... ARGS`.
    pub fn worker(&self, emu: &Emulator, op: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.self_bin);
        cmd.args([self.worker_cmd, op, "--base-url", &emu.base_url])
            .args(["--project", &self.project])
            .args(args);
        cmd
    }

    /// The SDK side: `python <script> MODE BASE_URL PROJECT ARGS`.
    pub fn sdk(&self, emu: &Emulator, mode: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.common.python);
        cmd.arg(self.sdk_script.path())
            .args([mode, &emu.base_url, &self.project])
            .args(args);
        cmd
    }

    /// Run one measured process and print its row.
    pub fn measure(
        &self,
        emu: &Emulator,
        cmd: Command,
        bench: &str,
        client: &'static str,
        expected: u64,
    ) -> AnyResult<Measured> {
        let m = self.orchestra.measure(emu, cmd, bench, client, expected)?;
        crate::print_row(&m);
        Ok(m)
    }

    /// Whether the SDK side runs at `n`.
    pub fn sdk_at(&self, n: u64) -> bool {
        !self.common.no_sdk && n <= self.common.sdk_max_count
    }

    /// `POST /_emulator/seed?project=P {"count": n}` then `POST /_emulator/finish`: `n` tasks
    /// labeled and delivered. Returns (seeded, delivered).
    pub fn seed_and_finish(&self, emu: &Emulator, n: u64) -> AnyResult<(u64, u64)> {
        let t = Instant::now();
        let seeded = self.http.call(
            "POST",
            &format!("{}/_emulator/seed", emu.root_url),
            &[("project", &self.project)],
            Some(&json!({"count": n, "prefix": "seed-"})),
        )?["moved"]
            .as_u64()
            .unwrap_or(0);
        let seed_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let finished = self.control(emu, "finish")?;
        eprintln!(
            "# seeded {seeded} tasks in {seed_secs:.1}s, labeled and delivered {finished} in {:.1}s; emulator RSS now {:.0} MiB",
            t.elapsed().as_secs_f64(),
            kib_to_mib(emu.rss_kb().0)
        );
        Ok((seeded, finished))
    }

    /// A lifecycle control (`finish`, `complete`, ...) of the project; returns `moved`.
    pub fn control(&self, emu: &Emulator, op: &str) -> AnyResult<u64> {
        let v = self.http.call(
            "POST",
            &format!("{}/_emulator/{op}", emu.root_url),
            &[("project", &self.project)],
            None,
        )?;
        Ok(v["moved"].as_u64().unwrap_or(0))
    }

    /// Tasks the emulator holds in the project.
    pub fn task_count(&self, emu: &Emulator) -> AnyResult<u64> {
        let v = self.http.call(
            "GET",
            &format!("{}/_emulator/state", emu.root_url),
            &[],
            None,
        )?;
        Ok(v["projects"][&self.project]["tasks"].as_u64().unwrap_or(0))
    }

    /// `POST /_emulator/reset`.
    pub fn reset(&self, emu: &Emulator) -> AnyResult<()> {
        self.http.call(
            "POST",
            &format!("{}/_emulator/reset", emu.root_url),
            &[],
            None,
        )?;
        Ok(())
    }

    /// Check the count the emulator holds after a create run, then empty it.
    pub fn settle(&self, emu: &Emulator, n: u64) -> AnyResult<()> {
        let tasks = self.task_count(emu)?;
        eprintln!(
            "#   emulator holds {tasks} tasks{}",
            if tasks == n { "" } else { "  !! count differs" }
        );
        self.reset(emu)
    }

    /// Print the emulator's peak RSS.
    pub fn emulator_peak(&self, emu: &Emulator, n: u64) {
        let (_, hwm) = emu.rss_kb();
        eprintln!("# emulator peak RSS at N={n}: {:.0} MiB", kib_to_mib(hwm));
    }
}

/// A small blocking JSON client of the emulator's control routes.
pub(crate) struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    pub fn new() -> AnyResult<Http> {
        Ok(Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(3600))
                .build()?,
        })
    }

    /// One request; a non-2xx answer is an error carrying its body.
    pub fn call(
        &self,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> AnyResult<Value> {
        self.call_with(method, url, query, body, &[])
    }

    /// [`Http::call`] with extra headers (the vendor API's key).
    pub fn call_with(
        &self,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> AnyResult<Value> {
        self.rt.block_on(async {
            let method = reqwest::Method::from_bytes(method.as_bytes())?;
            let mut rb = self.client.request(method, url).query(query);
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let r = rb.send().await?;
            let status = r.status();
            let text = r.text().await?;
            if !status.is_success() {
                return Err(format!("{url}: HTTP {status}: {text}").into());
            }
            Ok(if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text)?
            })
        })
    }
}

/// The labelmux side's process: a user's runtime (`#[tokio::main]`'s multi-threaded one), the
/// operation timed alone, then one JSON line with the counts and `VmHWM`.
pub(crate) fn run_worker<F, Fut>(operate: F) -> AnyResult<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = AnyResult<u64>>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let status = || std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_start_kb = status_field(&status(), "VmRSS:");
    let started = Instant::now();
    let items = rt.block_on(operate())?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "items": items,
            "secs": secs,
            "rss_start_kb": rss_start_kb,
            "peak_rss_kb": status_field(&status(), "VmHWM:"),
        })
    );
    Ok(())
}

/// The label of a measurement at a latency.
pub(crate) fn at_latency(what: &str, latency: u64) -> String {
    if latency > 0 {
        format!("{what} @{latency}ms")
    } else {
        what.to_owned()
    }
}

/// A target checked in the summary.
pub(crate) struct Targets {
    /// labelmux's throughput at least this many times the SDK's (0: no target).
    pub speedup: f64,
    /// labelmux's peak RSS at most this many MB (10^6 bytes; 0: no target).
    pub rss_mb: f64,
}

/// Print, per (benchmark, N), the best run of each side, the ratio and the targets.
/// Informative only. `sdk_bench` maps a labelmux benchmark to the SDK's it is compared with.
pub(crate) fn summary(rows: &[Measured], sdk_of: impl Fn(&str) -> String, targets: &Targets) {
    let mut keys: Vec<(String, u64)> = Vec::new();
    for r in rows {
        let k = (r.bench.clone(), r.expected);
        if r.client != "sdk" && !keys.contains(&k) {
            keys.push(k);
        }
    }
    let best = |bench: &str, n: u64, client: &str| {
        rows.iter()
            .filter(|r| r.bench == bench && r.expected == n && r.client == client)
            .min_by(|a, b| a.secs.total_cmp(&b.secs))
    };
    let met = crate::met;
    println!();
    println!("summary (best run of each; MiB = 2^20 bytes, targets in MB = 10^6 bytes):");
    for (bench, n) in keys {
        let Some(lm) = best(&bench, n, "labelmux") else {
            continue;
        };
        let rss = kib_to_mib(lm.peak_rss_kb);
        let mut line = format!(
            "  {bench} N={n}: labelmux {:.2}s ({:.0}/s), peak RSS {rss:.1} MiB, cpu {:.2}s",
            lm.secs,
            lm.items as f64 / lm.secs.max(1e-9),
            lm.cpu_secs
        );
        if targets.rss_mb > 0.0 {
            line += &format!(
                " [RSS <= {} MB: {}]",
                targets.rss_mb,
                met(rss * 1.048576 <= targets.rss_mb)
            );
        }
        let sdk_bench = sdk_of(&bench);
        if let Some(s) = best(&sdk_bench, n, "sdk") {
            let ratio = s.secs / lm.secs.max(1e-9);
            line += &format!(
                "; SDK {:.2}s ({:.0}/s), peak RSS {:.1} MiB; labelmux {ratio:.1}x the SDK's throughput",
                s.secs,
                s.items as f64 / s.secs.max(1e-9),
                kib_to_mib(s.peak_rss_kb)
            );
            if targets.speedup > 0.0 {
                line += &format!(
                    " [>= {}x: {}]",
                    targets.speedup,
                    met(ratio >= targets.speedup)
                );
            }
        }
        println!("{line}");
    }
}

/// Write `n` lines of JSON made by `record`; returns the bytes written.
pub(crate) fn write_jsonl(
    path: &std::path::Path,
    n: u64,
    record: impl Fn(u64) -> Value,
) -> AnyResult<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        serde_json::to_writer(&mut out, &record(i))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}
