//! Static pages on loopback: vendor answers captured once from the emulator, written to page
//! files, then served from memory by a tiny HTTP server inside this process, so that both the
//! labelmux worker and the official SDK read the very same bytes and the server costs next to
//! nothing (no rendering: a page is one `Bytes` clone).
//!
//! Routes (everything else is a 404; the API key is not checked):
//! - `GET  /v2/projects/{p}/tasks/delivered.json?page=N` — Sama delivered page N (1-based);
//!   past the last page, `{"tasks":[]}`.
//! - `POST /v2/projects/{p}/tasks/delivered.json` `{"consumer": C, ...}` — Sama since-last-call:
//!   consumer C's k-th call gets page k (a server-side cursor per consumer, as Sama keeps).
//! - `GET  /v1/tasks[?next_token=T]` — Scale task pages: no token is the first page, a token is
//!   the page whose request the emulator answered with it when the pages were captured.
//!
//! `set_latency` delays every answer (as the emulator's `latency_ms` fault does).

use crate::harness::{proc_cpu_secs, Emulator, Measured, Orchestra};
use crate::{kib_to_mib, print_row, summary, AnyResult, Common, ALLOCATOR};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use clap::Args;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Pages served by the static server.
#[derive(Default)]
pub(crate) struct Pages {
    /// Sama delivered pages, page 1 first.
    pub sama: Vec<Bytes>,
    /// Scale task pages, first page first.
    pub scale: Vec<Bytes>,
    /// Scale `next_token` → index in `scale`.
    pub scale_tokens: HashMap<String, usize>,
}

struct ServerState {
    pages: Pages,
    consumers: Mutex<HashMap<String, usize>>,
    latency_ms: AtomicU64,
    requests: AtomicU64,
}

/// The static server, on its own one-thread runtime (stopped on drop).
pub(crate) struct StaticServer {
    /// `http://127.0.0.1:PORT`
    pub root: String,
    state: Arc<ServerState>,
    _rt: tokio::runtime::Runtime,
}

impl StaticServer {
    pub fn start(pages: Pages) -> AnyResult<StaticServer> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let state = Arc::new(ServerState {
            pages,
            consumers: Mutex::new(HashMap::new()),
            latency_ms: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(state.clone());
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        // As the emulator does: without it, the last segment of each page waits for the
        // client's delayed ACK (Nagle), ~40 ms a response.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(StaticServer {
            root: format!("http://{addr}"),
            state,
            _rt: rt,
        })
    }

    /// Delay every answer by `ms` milliseconds.
    pub fn set_latency(&self, ms: u64) {
        self.state.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }
}

/// CPU time of this process (the static server is most of what it does while a client runs).
pub(crate) fn own_cpu_secs() -> f64 {
    proc_cpu_secs("/proc/self/stat")
}

const EMPTY_SAMA_PAGE: &str = r#"{"tasks":[]}"#;

async fn serve(
    State(st): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    st.requests.fetch_add(1, Ordering::Relaxed);
    let latency = st.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let param = |name: &str| -> Option<String> {
        query.as_deref()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    };
    let path = uri.path();
    let json = |b: Bytes| ([(header::CONTENT_TYPE, "application/json")], b).into_response();
    let sama_page = |n: usize| match n.checked_sub(1).and_then(|i| st.pages.sama.get(i)) {
        Some(b) => json(b.clone()),
        None => json(Bytes::from_static(EMPTY_SAMA_PAGE.as_bytes())),
    };
    if path.starts_with("/v2/projects/") && path.ends_with("/tasks/delivered.json") {
        if method == Method::GET {
            let page = param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            return sama_page(page);
        }
        if method == Method::POST {
            let consumer = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["consumer"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let page = {
                let mut c = st.consumers.lock().unwrap_or_else(|e| e.into_inner());
                let n = c.entry(consumer).or_insert(0);
                *n += 1;
                *n
            };
            return sama_page(page);
        }
    }
    if path == "/v1/tasks" && method == Method::GET {
        let index = match param("next_token") {
            None => Some(0),
            Some(t) => st.pages.scale_tokens.get(&t).copied(),
        };
        if let Some(b) = index.and_then(|i| st.pages.scale.get(i)) {
            return json(b.clone());
        }
        return (StatusCode::BAD_REQUEST, "unknown next_token").into_response();
    }
    (StatusCode::NOT_FOUND, "not a static page").into_response()
}

/// Write `pages` as files `<prefix>-0001.json`, ... in `dir`; returns the bytes written.
pub(crate) fn write_page_files(dir: &Path, prefix: &str, pages: &[Bytes]) -> AnyResult<u64> {
    std::fs::create_dir_all(dir)?;
    let mut total = 0;
    for (i, p) in pages.iter().enumerate() {
        std::fs::write(dir.join(format!("{prefix}-{:04}.json", i + 1)), p)?;
        total += p.len() as u64;
    }
    Ok(total)
}

/// Read the files `write_page_files` wrote, in order.
pub(crate) fn read_page_files(dir: &Path, prefix: &str) -> AnyResult<Vec<Bytes>> {
    let mut pages = Vec::new();
    for i in 1.. {
        match std::fs::read(dir.join(format!("{prefix}-{i:04}.json"))) {
            Ok(b) => pages.push(Bytes::from(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(pages)
}

/// Where the page files go: `--pages-dir`, or a temporary directory removed at the end.
pub(crate) enum PagesDir {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl PagesDir {
    pub fn new(dir: Option<PathBuf>) -> AnyResult<PagesDir> {
        Ok(match dir {
            Some(d) => PagesDir::Kept(d),
            None => PagesDir::Temp(tempfile::Builder::new().prefix("lm-pages-").tempdir()?),
        })
    }

    pub fn path(&self) -> &Path {
        match self {
            PagesDir::Kept(d) => d,
            PagesDir::Temp(t) => t.path(),
        }
    }
}

/// `deliveries-static`: Sama deliveries from static pages.
#[derive(Args, Debug)]
pub(crate) struct DeliveriesStaticArgs {
    #[command(flatten)]
    common: Common,
    /// Number(s) of deliveries, comma-separated (pages of 1,000 captured for each).
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    count: Vec<u64>,
    /// Which pulls: `get` (GET since a timestamp: read-ahead on the fetch tasks), `since`
    /// (since-last-call: strictly one page at a time), `cli` (the `labelmux` command's
    /// `deliveries pull --since` into a labelmux JSONL file, annotations included, beside the
    /// SDK's `get`; needs `cargo build --release -p labelmux-cli`), `cli-csv` (the same into a
    /// CSV file: answers only).
    #[arg(long, value_delimiter = ',', default_value = "get,since")]
    modes: Vec<String>,
    /// Latency the static server adds to every answer, ms (comma-separated: each measured).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    latency_ms: Vec<u64>,
    /// Most delivered pages in flight for labelmux's GET pull (default: the library's).
    #[arg(long)]
    read_ahead: Option<usize>,
    /// Read-ahead byte budget of labelmux's GET pull, MiB (default: the library's, 12).
    #[arg(long)]
    read_ahead_mib: Option<u32>,
    /// Keep the page files in this directory (default: a temporary directory, removed).
    #[arg(long)]
    pages_dir: Option<PathBuf>,
    /// Also run `get` and `since` with this other `labelmux-bench` binary's worker (e.g. one
    /// built from an earlier commit), on the same pages: rows `baseline`.
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
}

/// Seed the Sama emulator with `n` delivered tasks and capture its delivered pages (1,000 a
/// page) as they are served to `GET tasks/delivered.json?from=`.
fn capture_sama_pages(orchestra: &Orchestra, project: &str, n: u64) -> AnyResult<Vec<Bytes>> {
    let emu = Emulator::start(&orchestra.emulator_bin, project)?;
    eprintln!("# seeding {n} delivered tasks into {} ...", emu.base_url);
    let seed = orchestra.seed_deliveries(&emu, project, n)?;
    let url = format!("{}/projects/{project}/tasks/delivered.json", emu.base_url);
    let t = Instant::now();
    let mut pages = Vec::new();
    for page in 1u64.. {
        let page_s = page.to_string();
        let body = orchestra.get_body(
            &url,
            &[
                ("access_key", emu.api_key.as_str()),
                ("from", seed.from.as_str()),
                ("page", &page_s),
                ("page_size", "1000"),
            ],
            None,
        )?;
        let tasks = serde_json::from_slice::<PageCount>(&body)?.tasks.len();
        if tasks > 0 {
            pages.push(Bytes::from(body));
        }
        if tasks < 1000 {
            break;
        }
    }
    eprintln!(
        "# captured {} pages from the emulator in {:.1}s",
        pages.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(pages)
}

#[derive(serde::Deserialize)]
struct PageCount<'a> {
    #[serde(borrow)]
    tasks: Vec<&'a serde_json::value::RawValue>,
}

pub(crate) fn deliveries_static(args: DeliveriesStaticArgs) -> AnyResult<()> {
    let common = args.common;
    for m in &args.modes {
        if !matches!(m.as_str(), "get" | "since" | "cli" | "cli-csv") {
            return Err(format!("unknown mode {m:?} (get, since, cli, cli-csv)").into());
        }
    }
    let mut orchestra = Orchestra::new(&common)?;
    orchestra.read_ahead = args.read_ahead;
    orchestra.read_ahead_mib = args.read_ahead_mib;
    eprintln!(
        "# labelmux side: {ALLOCATOR}, GET read-ahead {} MiB / {} pages",
        args.read_ahead_mib
            .map(|m| m.to_string())
            .unwrap_or_else(|| (labelmux_sama::DEFAULT_READ_AHEAD_BYTES >> 20).to_string()),
        args.read_ahead
            .unwrap_or(labelmux_sama::DEFAULT_READ_AHEAD_PAGES)
    );
    let mut rows: Vec<Measured> = Vec::new();
    for &n in &args.count {
        let dir = PagesDir::new(args.pages_dir.clone())?;
        let captured = capture_sama_pages(&orchestra, &common.project, n)?;
        let bytes = write_page_files(dir.path(), "sama-delivered", &captured)?;
        drop(captured);
        let sama = read_page_files(dir.path(), "sama-delivered")?;
        eprintln!(
            "# {} page files ({:.1} MB) in {}; serving them from memory",
            sama.len(),
            bytes as f64 / 1e6,
            dir.path().display()
        );
        let server = StaticServer::start(Pages {
            sama,
            ..Pages::default()
        })?;
        let base = format!("{}/v2", server.root);
        // Any instant: the static server does not filter.
        let from = "2020-01-01T00:00:00.000Z";
        for &latency in &args.latency_ms {
            server.set_latency(latency);
            for run in 1..=common.runs {
                for mode in &args.modes {
                    let label = if latency > 0 {
                        format!("static {mode} @{latency}ms")
                    } else {
                        format!("static {mode}")
                    };
                    let consumer = |who: &str| format!("static-{who}-{n}-{latency}ms-{run}");
                    let (op, arg_lm, arg_sdk) = match mode.as_str() {
                        "since" => ("deliveries-since", consumer("lm"), consumer("sdk")),
                        _ => ("deliveries-get", from.to_owned(), from.to_owned()),
                    };
                    if !common.no_labelmux {
                        let lm_op = match mode.as_str() {
                            "cli" => "deliveries-cli",
                            "cli-csv" => "deliveries-cli-csv",
                            _ => op,
                        };
                        let cmd = orchestra.worker_command(&base, lm_op, &arg_lm);
                        let m = orchestra.measure_against(
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
                    if let (Some(bin), false) = (&args.baseline_bin, mode.starts_with("cli")) {
                        let mut cmd = std::process::Command::new(bin);
                        cmd.args(["worker", op, "--base-url", &base]).args([
                            "--project",
                            &common.project,
                            "--arg",
                            &arg_lm,
                        ]);
                        if let Some(pages) = args.read_ahead {
                            cmd.args(["--read-ahead", &pages.to_string()]);
                        }
                        let m = orchestra.measure_against(
                            "static",
                            &own_cpu_secs,
                            cmd,
                            &label,
                            "baseline",
                            n,
                        )?;
                        print_row(&m);
                        rows.push(m);
                    }
                    // The CLI is compared with the SDK's `get` row (same pages, same reads).
                    if !common.no_sdk && !mode.starts_with("cli") {
                        let cmd = orchestra.sdk_command(&base, op, &arg_sdk);
                        let m = orchestra.measure_against(
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
        }
        eprintln!(
            "# static server answered {} requests; this process's peak RSS {:.0} MiB",
            server.requests(),
            kib_to_mib(crate::harness::status_field(
                &std::fs::read_to_string("/proc/self/status").unwrap_or_default(),
                "VmHWM:"
            ))
        );
    }
    summary(&rows, 30.0, "throughput >= 10x the SDK", 10.0);
    // The CLI beside the SDK's `get` of the same pages.
    let best = |bench: &str, client: &str, n: u64| {
        rows.iter()
            .filter(|r| r.bench == bench && r.client == client && r.expected == n)
            .min_by(|a, b| a.secs.total_cmp(&b.secs))
    };
    for &n in &args.count {
        for &latency in &args.latency_ms {
            let at = |mode: &str| {
                if latency > 0 {
                    format!("static {mode} @{latency}ms")
                } else {
                    format!("static {mode}")
                }
            };
            for mode in ["get", "since"] {
                if let (Some(base), Some(lm)) = (
                    best(&at(mode), "baseline", n),
                    best(&at(mode), "labelmux", n),
                ) {
                    println!(
                        "  {} N={n}: baseline build {:.2}s, peak RSS {:.1} MiB; this build {:.2}s, peak RSS {:.1} MiB [no slower: {}]",
                        at(mode),
                        base.secs,
                        kib_to_mib(base.peak_rss_kb),
                        lm.secs,
                        kib_to_mib(lm.peak_rss_kb),
                        crate::met(lm.secs <= base.secs)
                    );
                }
            }
            for mode in ["cli", "cli-csv"] {
                if let (Some(cli), Some(sdk)) =
                    (best(&at(mode), "labelmux", n), best(&at("get"), "sdk", n))
                {
                    let ratio = sdk.secs / cli.secs.max(1e-9);
                    println!(
                        "  {} N={n}: labelmux CLI {:.2}s, peak RSS {:.1} MiB; SDK get {:.2}s; {ratio:.1}x",
                        at(mode),
                        cli.secs,
                        kib_to_mib(cli.peak_rss_kb),
                        sdk.secs,
                    );
                }
            }
        }
    }
    Ok(())
}
