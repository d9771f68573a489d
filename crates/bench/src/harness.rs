//! The orchestrating side: the emulator process, seeding, and the measured subprocesses.

use crate::{AnyResult, Common};
use futures::stream::{self, StreamExt};
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{BatchId, BatchStatus, JsonMap, ProjectId};
use labelmux_sama::{CreateBatchOptions, SamaClient, TaskRecord};
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python side, embedded so the binary needs no source checkout at run time.
const SDK_SCRIPT: &str = include_str!("../python/sama_sdk_bench.py");

/// Environment variable carrying the API key to the measured subprocesses (not on argv).
pub(crate) const KEY_ENV: &str = "LABELMUX_BENCH_API_KEY";

/// One measurement, as a subprocess reported it plus what the orchestrator observed.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Measured {
    #[serde(skip)]
    pub bench: String,
    #[serde(skip)]
    pub client: &'static str,
    #[serde(skip)]
    pub expected: u64,
    /// Items pulled or records submitted.
    pub items: u64,
    /// Wall time of the operation alone (start-up excluded).
    pub secs: f64,
    /// RSS before the operation (KiB).
    pub rss_start_kb: u64,
    /// Peak RSS of the client process (KiB).
    pub peak_rss_kb: u64,
    /// CPU time (user + system) of the whole client process.
    #[serde(skip)]
    pub cpu_secs: f64,
    /// CPU time the emulator spent while the client ran.
    #[serde(skip)]
    pub server_cpu_secs: f64,
    /// The batch created (create benchmark).
    #[serde(default)]
    pub batch_id: Option<String>,
}

/// A running `labelmux-emulator` process, killed on drop.
pub(crate) struct Emulator {
    child: Child,
    pub base_url: String,
    pub root_url: String,
    pub api_key: String,
}

impl Emulator {
    pub fn start(bin: &Path, project: &str) -> AnyResult<Emulator> {
        Self::start_vendor(bin, "sama", project)
    }

    /// Start the emulator of `vendor` (`sama`, `scale`) with one seeded project.
    pub fn start_vendor(bin: &Path, vendor: &str, project: &str) -> AnyResult<Emulator> {
        let mut child = Command::new(bin)
            .args([vendor, "--addr", "127.0.0.1:0", "--project", project])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the emulator {}: {e}", bin.display()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(str::to_owned)
        };
        let (Some(base_url), Some(api_key)) = (field("base_url="), field("api_key=")) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the emulator printed no `base_url=... api_key=...` line".into());
        };
        let root_url = base_url
            .strip_suffix("/v2")
            .or_else(|| base_url.strip_suffix("/v1"))
            .unwrap_or(&base_url)
            .trim_end_matches('/')
            .to_owned();
        Ok(Emulator {
            child,
            base_url,
            root_url,
            api_key,
        })
    }

    /// (VmRSS, VmHWM) of the emulator process, KiB.
    pub fn rss_kb(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        (
            status_field(&status, "VmRSS:"),
            status_field(&status, "VmHWM:"),
        )
    }

    pub fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of `/proc/*/status` (0 when absent).
pub(crate) fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a `/proc/*/stat` file, in seconds (USER_HZ is 100 on Linux).
pub(crate) fn proc_cpu_secs(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The command name (field 2) may hold spaces; fields after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // After ")": state is index 0, so utime (field 14) is index 11, stime index 12.
    (tick(11) + tick(12)) as f64 / 100.0
}

/// What seeding took.
pub(crate) struct Seeded {
    /// RFC 3339 instant before every delivery of the seed (`from` of the GET pulls).
    pub from: String,
    pub create_secs: f64,
    pub finish_secs: f64,
    pub total_secs: f64,
}

/// Settings and shared resources of one benchmark invocation.
pub(crate) struct Orchestra {
    pub emulator_bin: PathBuf,
    self_bin: PathBuf,
    python: String,
    project: String,
    sdk_script: tempfile::NamedTempFile,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// `--read-ahead` passed to the labelmux worker (None: the library default).
    pub read_ahead: Option<usize>,
    /// `--read-ahead-mib` passed to the labelmux worker (None: the library default).
    pub read_ahead_mib: Option<u32>,
}

impl Orchestra {
    pub fn new(common: &Common) -> AnyResult<Orchestra> {
        let self_bin = std::env::current_exe()?;
        let emulator_bin = match &common.emulator {
            Some(p) => p.clone(),
            None => self_bin
                .parent()
                .map(|d| d.join("labelmux-emulator"))
                .ok_or("cannot locate labelmux-emulator; pass --emulator")?,
        };
        if !emulator_bin.exists() {
            return Err(format!(
                "{} not found: build it with `cargo build --release -p labelmux-emulator` or pass --emulator",
                emulator_bin.display()
            )
            .into());
        }
        let mut sdk_script = tempfile::Builder::new()
            .prefix("sama_sdk_bench-")
            .suffix(".py")
            .tempfile()?;
        sdk_script.write_all(SDK_SCRIPT.as_bytes())?;
        sdk_script.flush()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        Ok(Orchestra {
            emulator_bin,
            self_bin,
            python: common.python.clone(),
            project: common.project.clone(),
            sdk_script,
            rt,
            http: reqwest::Client::new(),
            read_ahead: None,
            read_ahead_mib: None,
        })
    }

    fn client(&self, emu: &Emulator) -> AnyResult<SamaClient> {
        let config = TransportConfig {
            timeout_secs: 1800.0,
            deadline_secs: 3600.0,
            ..TransportConfig::fast_for_tests()
        };
        Ok(SamaClient::new(
            &emu.base_url,
            SecretString::from(emu.api_key.clone()),
            config,
        )?)
    }

    /// Create `n` tasks through the real batch upload, wait for their creation, then
    /// `POST /_emulator/finish` so all are delivered.
    pub fn seed_deliveries(&self, emu: &Emulator, project: &str, n: u64) -> AnyResult<Seeded> {
        let client = self.client(emu)?;
        let project_id = ProjectId::new(project);
        let from = labelmux_core::reexports::chrono::Utc::now() - chrono::Duration::seconds(1);
        let from = from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let started = Instant::now();
        let batch = self.rt.block_on(async {
            let records = stream::iter((0..n).map(|i| Ok(record(i)))).boxed();
            client
                .create_task_batch_streaming(
                    &project_id,
                    records,
                    &CreateBatchOptions::default(),
                    &None,
                )
                .await
        })?;
        self.wait_batch(&client, &project_id, &batch.batch_id)?;
        let create_secs = started.elapsed().as_secs_f64();
        let t = Instant::now();
        let moved = self.control(emu, "finish", project)?;
        let finish_secs = t.elapsed().as_secs_f64();
        if moved != n {
            eprintln!("# warning: finish delivered {moved} tasks, expected {n}");
        }
        Ok(Seeded {
            from,
            create_secs,
            finish_secs,
            total_secs: started.elapsed().as_secs_f64(),
        })
    }

    /// Poll the batch status (job-level only) until it is terminal.
    fn wait_batch(
        &self,
        client: &SamaClient,
        project: &ProjectId,
        batch: &BatchId,
    ) -> AnyResult<()> {
        let deadline = Instant::now() + Duration::from_secs(3600);
        loop {
            let job = self
                .rt
                .block_on(client.get_status_batch_creation_job_page(project, batch, true, 1, 0))?;
            let status = job.status.as_deref().map(BatchStatus::parse);
            if status.as_ref().is_some_and(BatchStatus::is_terminal) {
                if status != Some(BatchStatus::Created) {
                    eprintln!(
                        "# warning: batch {batch} ended {:?}: {:?}",
                        job.status, job.messages
                    );
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("batch {batch} still {:?} after an hour", job.status).into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// After a create measurement: wait until the emulator has created the batch's tasks (so
    /// its work does not overlap the next measurement), check the count, then reset it.
    pub fn settle_batch(
        &self,
        emu: &Emulator,
        project: &str,
        batch: Option<&str>,
        n: u64,
    ) -> AnyResult<()> {
        let t = Instant::now();
        if let Some(b) = batch {
            let client = self.client(emu)?;
            self.wait_batch(&client, &ProjectId::new(project), &BatchId::new(b))?;
        }
        let state: Value = self.rt.block_on(async {
            self.http
                .get(format!("{}/_emulator/state", emu.root_url))
                .send()
                .await?
                .json()
                .await
        })?;
        let tasks = state["projects"][project]["tasks"].as_u64().unwrap_or(0);
        eprintln!(
            "#   emulator finished creating {tasks} tasks {:.1}s after the client returned{}",
            t.elapsed().as_secs_f64(),
            if tasks == n { "" } else { "  !! count differs" }
        );
        self.rt.block_on(async {
            self.http
                .post(format!("{}/_emulator/reset", emu.root_url))
                .send()
                .await?
                .error_for_status()
        })?;
        Ok(())
    }

    /// GET `url` with `query` (and HTTP Basic auth with `basic_user` as the user name, as
    /// Scale's key is sent); the body, or an error for a non-2xx answer.
    pub fn get_body(
        &self,
        url: &str,
        query: &[(&str, &str)],
        basic_user: Option<&str>,
    ) -> AnyResult<Vec<u8>> {
        let body = self.rt.block_on(async {
            let mut rb = self.http.get(url).query(query);
            if let Some(user) = basic_user {
                rb = rb.basic_auth(user, Some(""));
            }
            rb.send().await?.error_for_status()?.bytes().await
        })?;
        Ok(body.to_vec())
    }

    /// Make the emulator add `ms` milliseconds to every vendor-API request (0: none).
    pub fn set_latency(&self, emu: &Emulator, ms: u64) -> AnyResult<()> {
        self.rt.block_on(async {
            self.http
                .put(format!("{}/_emulator/faults", emu.root_url))
                .json(&json!({ "latency_ms": ms }))
                .send()
                .await?
                .error_for_status()
        })?;
        Ok(())
    }

    fn control(&self, emu: &Emulator, op: &str, project: &str) -> AnyResult<u64> {
        let v: Value = self.rt.block_on(async {
            self.http
                .post(format!("{}/_emulator/{op}", emu.root_url))
                .query(&[("project", project)])
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        })?;
        Ok(v["moved"].as_u64().unwrap_or(0))
    }

    /// The labelmux side (`labelmux-bench worker OP`) against `base_url`, not yet run.
    pub fn worker_command(&self, base_url: &str, op: &str, arg: &str) -> Command {
        let mut cmd = Command::new(&self.self_bin);
        cmd.args(["worker", op, "--base-url", base_url]).args([
            "--project",
            &self.project,
            "--arg",
            arg,
        ]);
        if let Some(pages) = self.read_ahead {
            cmd.args(["--read-ahead", &pages.to_string()]);
        }
        if let Some(mib) = self.read_ahead_mib {
            cmd.args(["--read-ahead-mib", &mib.to_string()]);
        }
        cmd
    }

    /// The SDK side (`python sama_sdk_bench.py OP`) against `base_url`, not yet run.
    pub fn sdk_command(&self, base_url: &str, op: &str, arg: &str) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg(self.sdk_script.path())
            .args([op, base_url, &self.project, arg]);
        cmd
    }

    /// Run the labelmux side (`labelmux-bench worker OP`) as its own process.
    pub fn run_worker(
        &self,
        emu: &Emulator,
        bench: &str,
        client: &'static str,
        op: &str,
        arg: &str,
        expected: u64,
    ) -> AnyResult<Measured> {
        let cmd = self.worker_command(&emu.base_url, op, arg);
        self.measure(emu, cmd, bench, client, expected)
    }

    /// Run the SDK side (`python sama_sdk_bench.py OP`) as its own process.
    pub fn run_sdk(
        &self,
        emu: &Emulator,
        bench: &str,
        op: &str,
        arg: &str,
        expected: u64,
    ) -> AnyResult<Measured> {
        let cmd = self.sdk_command(&emu.base_url, op, arg);
        self.measure(emu, cmd, bench, "sdk", expected)
    }

    pub fn measure(
        &self,
        emu: &Emulator,
        cmd: Command,
        bench: &str,
        client: &'static str,
        expected: u64,
    ) -> AnyResult<Measured> {
        self.measure_against(
            &emu.api_key,
            &|| emu.cpu_secs(),
            cmd,
            bench,
            client,
            expected,
        )
    }

    /// [`Orchestra::measure`] against any server: `api_key` goes to the client, `server_cpu`
    /// reads the server's CPU time (seconds) before and after.
    pub fn measure_against(
        &self,
        api_key: &str,
        server_cpu: &dyn Fn() -> f64,
        mut cmd: Command,
        bench: &str,
        client: &'static str,
        expected: u64,
    ) -> AnyResult<Measured> {
        cmd.env(KEY_ENV, api_key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let server_cpu_before = server_cpu();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {client}: {e}"))?;
        let pid = child.id();
        // The child's CPU time: what the kernel adds to this process's reaped-children totals.
        let before_children = children_cpu_secs();
        let out = child.wait_with_output()?;
        let cpu_secs = children_cpu_secs() - before_children;
        let server_cpu_secs = server_cpu() - server_cpu_before;
        if !out.status.success() {
            return Err(format!("{client} (pid {pid}) failed: {}", out.status).into());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or_else(|| format!("{client} printed no result line: {text}"))?;
        let mut m: Measured = serde_json::from_str(last)
            .map_err(|e| format!("{client} printed an unreadable result ({e}): {last}"))?;
        m.bench = bench.to_owned();
        m.client = client;
        m.expected = expected;
        m.cpu_secs = cpu_secs;
        m.server_cpu_secs = server_cpu_secs;
        Ok(m)
    }
}

/// CPU time (user + system) of this process's reaped children: `/proc/self/stat` fields
/// cutime and cstime.
fn children_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // cutime is field 16, cstime 17: indexes 13 and 14 after ")".
    (tick(13) + tick(14)) as f64 / 100.0
}

/// The task `data` of seed/benchmark record `i` (valid for the emulator's default fixture).
pub(crate) fn record_data(i: u64) -> JsonMap {
    let mut data = JsonMap::new();
    data.insert(
        "url".into(),
        json!(format!("https://images.example.com/bench/{i:08}.jpg")),
    );
    data.insert("name".into(), json!(format!("image {i}")));
    data.insert("external_id".into(), json!(format!("ext-{i:08}")));
    data
}

fn record(i: u64) -> TaskRecord {
    TaskRecord {
        data: record_data(i),
        priority: Some(0),
        submit: Some(false),
        extra: Default::default(),
    }
}

/// Write `n` records as JSONL; returns the bytes written.
pub(crate) fn write_jsonl(path: &Path, n: u64) -> AnyResult<u64> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        serde_json::to_writer(&mut out, &record_data(i))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Non-blank lines of a file.
pub(crate) fn count_lines(path: &Path) -> AnyResult<u64> {
    let f = BufReader::new(std::fs::File::open(path)?);
    let mut n = 0;
    for line in f.lines() {
        if !line?.trim().is_empty() {
            n += 1;
        }
    }
    Ok(n)
}
