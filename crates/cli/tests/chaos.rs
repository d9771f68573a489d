//! Chaos tests of consumer pulls (issue 15), against the emulators with the `labelmux` binary:
//! answers lost after the vendor acted (Sama), `kill -9` and resume (Sama, Scale), a crash
//! between the file sync and the cursor commit (all four vendors), and two pulls at once. Each
//! asserts the exact number of unique deliveries in the output file, no duplicate and no corrupt
//! line.
//!
//! Bounds: each test pulls a few thousand deliveries (not the 20,000) and ends in a few
//! seconds; every run of the binary must end within [`RUN_LIMIT`] (a hang guard, not a speed
//! target: runs take about a second), and a kill loop kills at most [`KILLS`] times.

use labelmux_emulator::{start, EmulatorConfig, FaultConfig, RunningEmulator, Vendor};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest a single run of the binary may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Most `kill -9` of one kill loop.
const KILLS: usize = 12;
const SAMA_PROJECT: &str = "1001";

/// The binary, isolated from the developer's environment, in `dir`, retrying quickly.
fn bare(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labelmux"));
    cmd.current_dir(dir)
        .env_remove("LABELMUX_CONFIG")
        .env_remove("LABELMUX_PROVIDER")
        .env_remove("LABELMUX_PROJECT")
        .env_remove("LABELMUX_BASE_URL")
        .env_remove("LABELMUX_FAULT")
        .env_remove("SAMA_API_KEY")
        .env_remove("SCALE_API_KEY")
        .env_remove("LABELBOX_API_KEY")
        .env_remove("SEGMENTS_API_KEY")
        .env_remove("RUST_LOG")
        .env("LABELMUX_STATE_DIR", dir.join("state"))
        .env("LABELMUX_TRANSPORT_MAX_ATTEMPTS", "8")
        .env("LABELMUX_TRANSPORT_INITIAL_BACKOFF_MS", "10")
        .env("LABELMUX_TRANSPORT_MAX_BACKOFF_MS", "100")
        .stdin(Stdio::null());
    cmd
}

fn against(emu: &RunningEmulator, vendor: Vendor, project: &str, dir: &Path) -> Command {
    let mut cmd = bare(dir);
    cmd.env(vendor.api_key_env(), emu.api_key()).args([
        "--provider",
        vendor.name(),
        "--base-url",
        &emu.base_url(),
        "--project",
        project,
    ]);
    cmd
}

/// `deliveries pull --consumer CONSUMER --out FILE --output json`.
fn pull(
    emu: &RunningEmulator,
    vendor: Vendor,
    project: &str,
    dir: &Path,
    consumer: &str,
    file: &Path,
) -> Command {
    let mut cmd = against(emu, vendor, project, dir);
    cmd.args([
        "--output",
        "json",
        "deliveries",
        "pull",
        "--consumer",
        consumer,
    ])
    .arg("--out")
    .arg(file);
    cmd
}

/// Wait for `child`, failing the test if it outlives [`RUN_LIMIT`].
fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a labelmux run took longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Run to the end (bounded) without blocking the runtime that serves the emulator.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_bounded(&mut child);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn written(out: &Output) -> u64 {
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)));
    v["written"].as_u64().unwrap()
}

/// Create `n` tasks with `tasks create --wait` and let the emulated workforce deliver them all.
async fn create_delivered(
    emu: &RunningEmulator,
    vendor: Vendor,
    project: &str,
    dir: &Path,
    n: usize,
) {
    let rows: String = (0..n)
        .map(|i| match vendor {
            Vendor::Scale => {
                format!("{{\"attachment\":\"https://x/c{i}.jpg\",\"attachment_type\":\"image\"}}\n")
            }
            Vendor::Labelbox => format!("{{\"row_data\":\"https://x/c{i}.jpg\"}}\n"),
            Vendor::Segments => format!("{{\"image\":{{\"url\":\"https://x/c{i}.jpg\"}}}}\n"),
            _ => format!(
                "{{\"url\":\"https://x/c{i}.jpg\",\"name\":\"c {i}\",\"external_id\":\"c-{i}\"}}\n"
            ),
        })
        .collect();
    let file = dir.join("tasks.jsonl");
    std::fs::write(&file, rows).unwrap();
    let mut cmd = against(emu, vendor, project, dir);
    cmd.args(["--output", "json", "tasks", "create", "--wait", "--from"])
        .arg(&file);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(emu.control().finish_all(project), n, "tasks delivered");
}

/// The deliveries in `file`: asserts every line is whole JSON and each delivery (task and
/// delivery time) appears once; returns how many there are.
fn unique_deliveries(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "{}: line {} is corrupt ({e}): {line:.200}",
                file.display(),
                i + 1
            )
        });
        let key = (v["task_id"].to_string(), v["delivered_at"].to_string());
        assert!(
            seen.insert(key.clone()),
            "{}: line {} delivers {key:?} again",
            file.display(),
            i + 1
        );
    }
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends mid-line",
        file.display()
    );
    seen.len()
}

/// A small deterministic generator of kill delays.
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

/// (a) Sama, `deliveries pull --consumer` while 10% of responses are lost after the server acted
/// (5% dropped, 5% cut short): every delivery exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sama_consumer_pull_loses_nothing_when_answers_are_lost_after_acting() {
    const N: usize = 3000;
    let emu = start(EmulatorConfig::new(Vendor::Sama)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    create_delivered(&emu, Vendor::Sama, SAMA_PROJECT, dir.path(), N).await;
    let control = emu.control();
    // Requests of a pull without faults, to show the faulted pull was faulted.
    let before = control.request_count();
    let baseline = dir.path().join("baseline.jsonl");
    let out = run(pull(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "baseline",
        &baseline,
    ))
    .await;
    assert!(out.status.success(), "{}", show(&out));
    let clean_requests = control.request_count() - before;
    assert_eq!(unique_deliveries(&baseline), N);

    control.set_faults(FaultConfig {
        drop_after_rate: 0.05,
        truncate_after_rate: 0.05,
        // A seed whose sequence loses answers among the pull's first requests (3 of 8).
        seed: Some(17),
        ..FaultConfig::default()
    });
    let file = dir.path().join("etl.jsonl");
    let before = control.request_count();
    let mut runs = 0;
    loop {
        runs += 1;
        let out = run(pull(
            &emu,
            Vendor::Sama,
            SAMA_PROJECT,
            dir.path(),
            "etl",
            &file,
        ))
        .await;
        if out.status.success() {
            break;
        }
        // Retries exhausted on one request: a rerun resumes (at most a few).
        assert_eq!(out.status.code(), Some(7), "{}", show(&out));
        assert!(runs < 5, "still failing after {runs} runs: {}", show(&out));
    }
    let faulted_requests = control.request_count() - before;
    assert!(
        faulted_requests > clean_requests,
        "answers were lost and asked again ({faulted_requests} requests vs {clean_requests} without faults)"
    );
    control.set_faults(FaultConfig::default());
    let out = run(pull(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "etl",
        &file,
    ))
    .await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(written(&out), 0, "nothing new after the pull");
    assert_eq!(unique_deliveries(&file), N);
    emu.shutdown().await;
}

/// `kill -9` the pull at random points until one run finishes by itself, then resume: the
/// file holds every delivery exactly once.
async fn kill_loop(vendor: Vendor, n: usize, latency_ms: u64, kill_window_ms: (u64, u64)) {
    let emu = start(EmulatorConfig::new(vendor)).await.unwrap();
    let project = emu.projects()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    create_delivered(&emu, vendor, &project, dir.path(), n).await;
    emu.control().set_faults(FaultConfig {
        latency_ms,
        ..FaultConfig::default()
    });
    let file = dir.path().join("etl.jsonl");
    let mut delays = Delays(0x15_15_15);
    let mut kills = 0;
    let root = dir.path().to_owned();
    let (emu_url, key) = (emu.base_url(), emu.api_key());
    let finished = tokio::task::spawn_blocking({
        let (file, project) = (file.clone(), project.clone());
        move || {
            while kills < KILLS {
                let mut cmd = bare(&root);
                cmd.env(vendor.api_key_env(), &key)
                    .args(["--provider", vendor.name(), "--base-url", &emu_url])
                    .args(["--project", &project, "--output", "json"])
                    .args(["deliveries", "pull", "--consumer", "etl", "--out"])
                    .arg(&file)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                let mut child = cmd.spawn().unwrap();
                std::thread::sleep(Duration::from_millis(
                    delays.next_ms(kill_window_ms.0, kill_window_ms.1),
                ));
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills += 1;
                } else {
                    let status = wait_bounded(&mut child);
                    assert!(status.success(), "a run ended with {status}");
                    return kills;
                }
            }
            kills
        }
    })
    .await
    .unwrap();
    assert!(finished >= 2, "the loop killed only {finished} runs");
    emu.control().set_faults(FaultConfig::default());
    let out = run(pull(&emu, vendor, &project, dir.path(), "etl", &file)).await;
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(unique_deliveries(&file), n, "after {finished} kills");
    emu.shutdown().await;
}

/// (b) Sama: 3,000 deliveries, 150 ms per request, killed every 0.1–0.9 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sama_kill_9_loop_then_resume_is_exactly_once() {
    kill_loop(Vendor::Sama, 3000, 150, (100, 900)).await;
}

/// (b) Scale: 1,500 deliveries (pages of 100), 40 ms per request, killed every 0.1–0.7 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_kill_9_loop_then_resume_is_exactly_once() {
    kill_loop(Vendor::Scale, 1500, 40, (100, 700)).await;
}

/// A crash after the file was synced and before the cursor commit (the window a kill rarely
/// hits), at each of `faults` in turn (`after-file-sync:1`: before any commit; `:2` after
/// one). The resumed pull cuts what no commit covers.
async fn crash_between_sync_and_commit(vendor: Vendor, n: usize, faults: &[&str]) {
    let emu = start(EmulatorConfig::new(vendor)).await.unwrap();
    let project = emu.projects()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    create_delivered(&emu, vendor, &project, dir.path(), n).await;
    let file = dir.path().join("etl.jsonl");
    for fault in faults {
        let mut cmd = pull(&emu, vendor, &project, dir.path(), "etl", &file);
        cmd.env("LABELMUX_FAULT", fault);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(86), "{fault}: {}", show(&out));
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines > 0, "{fault}: nothing written before the crash");
    }
    let out = run(pull(&emu, vendor, &project, dir.path(), "etl", &file)).await;
    assert!(out.status.success(), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["removed_uncommitted_bytes"].as_u64().unwrap() > 0,
        "the crash left uncommitted deliveries to remove: {}",
        show(&out)
    );
    assert_eq!(unique_deliveries(&file), n);
    emu.shutdown().await;
}

const BOTH: &[&str] = &["after-file-sync:1", "after-file-sync:2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sama_crash_between_file_sync_and_commit_duplicates_nothing() {
    crash_between_sync_and_commit(Vendor::Sama, 3000, BOTH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_crash_between_file_sync_and_commit_duplicates_nothing() {
    crash_between_sync_and_commit(Vendor::Scale, 1500, BOTH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelbox_crash_between_file_sync_and_commit_duplicates_nothing() {
    crash_between_sync_and_commit(Vendor::Labelbox, 1100, BOTH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_crash_between_file_sync_and_commit_duplicates_nothing() {
    // The Segments emulator creates samples one by one: few deliveries, so one sync, one crash.
    crash_between_sync_and_commit(Vendor::Segments, 60, &["after-file-sync:1"]).await;
}

/// Every `*.lock` file under `dir`.
fn lock_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") {
                found.push(path);
            }
        }
    }
    found
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + RUN_LIMIT;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// (c) Two `deliveries pull --consumer etl --out a.jsonl` at once (Scale): the second refuses at
/// once naming the first (pid); so do a pull of another consumer into the same file and one of
/// the same consumer into another file; the file holds each delivery exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pull_of_the_consumer_or_the_file_refuses_naming_the_first() {
    const N: usize = 1500;
    let emu = start(EmulatorConfig::new(Vendor::Scale)).await.unwrap();
    let project = emu.projects()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    create_delivered(&emu, Vendor::Scale, &project, dir.path(), N).await;
    // Slow enough that the first pull is still running while the others start.
    emu.control().set_faults(FaultConfig {
        latency_ms: 100,
        ..FaultConfig::default()
    });
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    let mut first = pull(&emu, Vendor::Scale, &project, dir.path(), "etl", &a)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = first.id().to_string();
    let lock = dir.path().join(".a.jsonl.lock");
    let pid2 = pid.clone();
    let state = dir.path().join("state");
    tokio::task::spawn_blocking(move || {
        // The first pull holds the file and its consumer (a lock file in the state directory).
        let held_by_first = |path: &Path| {
            std::fs::read_to_string(path).is_ok_and(|t| t.contains(&format!("\"pid\":{pid2}")))
        };
        wait_for("the first pull to hold the file and the consumer", || {
            held_by_first(&lock) && lock_files(&state).iter().any(|p| held_by_first(p))
        });
    })
    .await
    .unwrap();
    let started = Instant::now();
    // The same command again; another consumer into the same file (only the file's lock
    // stands in its way); the same consumer into another file (only the consumer's lock).
    let same = run(pull(&emu, Vendor::Scale, &project, dir.path(), "etl", &a)).await;
    let same_file = run(pull(&emu, Vendor::Scale, &project, dir.path(), "bi", &a)).await;
    let same_consumer = run(pull(&emu, Vendor::Scale, &project, dir.path(), "etl", &b)).await;
    let refused_in = started.elapsed();
    for (what, out) in [
        ("same command", &same),
        ("same file", &same_file),
        ("same consumer", &same_consumer),
    ] {
        assert_eq!(out.status.code(), Some(8), "{what}: {}", show(out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("in use by another process") && err.contains(&format!("pid {pid}")),
            "{what}: {err}"
        );
    }
    assert!(
        String::from_utf8_lossy(&same_file.stderr).contains("a.jsonl is in use"),
        "{}",
        show(&same_file)
    );
    assert!(
        String::from_utf8_lossy(&same_consumer.stderr).contains("consumer `etl`"),
        "{}",
        show(&same_consumer)
    );
    let status = tokio::task::spawn_blocking(move || wait_bounded(&mut first))
        .await
        .unwrap();
    assert!(status.success(), "the first pull ended with {status}");
    assert_eq!(unique_deliveries(&a), N);
    assert_eq!(unique_deliveries(&b), 0, "the refused pull wrote nothing");
    // Printed, not asserted (no timing assertions): both refusals came while the first ran.
    eprintln!("two refusals in {refused_in:?}");
    emu.shutdown().await;
}
