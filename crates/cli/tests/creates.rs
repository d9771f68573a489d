//! `tasks create` under faults, kills and odd inputs (issue 15): every task created once, an
//! unknown outcome never reported as a refusal, the batch named whenever a failure comes after
//! it was opened, task files from pipes and FIFOs read once, spool files of killed runs removed.
//! Each test ends within the bound it states (a run that hangs fails instead).

use assert_cmd::Command;
use labelmux_emulator::{start, EmulatorConfig, FaultConfig, RunningEmulator, Vendor};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

const SAMA_PROJECT: &str = "1001";

/// Longest a single command of these tests may take.
const BOUND: Duration = Duration::from_secs(90);

/// The binary, isolated from the developer's environment, in `dir`, with its own temp dir.
fn bare(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("labelmux").unwrap();
    cmd.current_dir(dir)
        .env_remove("LABELMUX_CONFIG")
        .env_remove("LABELMUX_PROVIDER")
        .env_remove("LABELMUX_PROJECT")
        .env_remove("LABELMUX_BASE_URL")
        .env_remove("SAMA_API_KEY")
        .env_remove("SCALE_API_KEY")
        .env_remove("RUST_LOG")
        .env("LABELMUX_STATE_DIR", dir.join("state"))
        .env("TMPDIR", tmp(dir))
        .timeout(BOUND);
    cmd
}

fn tmp(dir: &Path) -> PathBuf {
    let t = dir.join("tmp");
    std::fs::create_dir_all(&t).unwrap();
    t
}

fn against(emu: &RunningEmulator, vendor: Vendor, dir: &Path) -> Command {
    let mut cmd = bare(dir);
    cmd.env(vendor.api_key_env(), emu.api_key()).args([
        "--provider",
        vendor.name(),
        "--base-url",
        &emu.base_url(),
    ]);
    cmd
}

/// The same command as a plain process (to kill it).
fn spawn(emu: &RunningEmulator, vendor: Vendor, dir: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("labelmux"))
        .current_dir(dir)
        .env_remove("LABELMUX_CONFIG")
        .env_remove("LABELMUX_PROVIDER")
        .env_remove("LABELMUX_PROJECT")
        .env_remove("LABELMUX_BASE_URL")
        .env_remove("RUST_LOG")
        .env("LABELMUX_STATE_DIR", dir.join("state"))
        .env("TMPDIR", tmp(dir))
        .env(vendor.api_key_env(), emu.api_key())
        .args(["--provider", vendor.name(), "--base-url", &emu.base_url()])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{text}\nstderr:\n{}",
            stderr(out)
        )
    })
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn sama_rows(n: usize, prefix: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"url\":\"https://x/{prefix}{i}.jpg\",\"name\":\"{prefix} {i}\",\"external_id\":\"{prefix}-{i}\"}}\n"
            )
        })
        .collect()
}

fn scale_rows(n: usize, prefix: &str, keyed: bool) -> String {
    (0..n)
        .map(|i| {
            let key = if keyed {
                format!(",\"external_id\":\"{prefix}-{i}\"")
            } else {
                String::new()
            };
            format!(
                "{{\"attachment\":\"https://x/{prefix}{i}.jpg\",\"attachment_type\":\"image\"{key}}}\n"
            )
        })
        .collect()
}

async fn emulator(vendor: Vendor) -> RunningEmulator {
    start(EmulatorConfig::new(vendor)).await.unwrap()
}

/// Spool files left in `dir` by the process `pid`.
fn spools_of(dir: &Path, pid: u32) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("labelmux-") && n.contains(&format!("spool-{pid}-")))
        .collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < BOUND, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Creates that survive transient faults
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_creates_every_task_once_through_503s_429s_and_dropped_connections() {
    const N: usize = 2000;
    let emu = emulator(Vendor::Scale).await;
    let dir = tempfile::tempdir().unwrap();
    let project = emu.projects()[0].clone();
    let file = write(dir.path(), "t.jsonl", &scale_rows(N, "f", true));
    emu.control().set_faults(FaultConfig {
        unavailable_rate: 0.10,
        throttle_rate: 0.05,
        burst_429: 64,
        retry_after_secs: 0.02,
        drop_rate: 0.03,
        drop_after_rate: 0.03,
        seed: Some(15),
        // The creates (`POST /v1/task/<type>`); the few other requests keep max_attempts.
        only_path_containing: Some("/task/".into()),
        ..FaultConfig::default()
    });
    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    // Two attempts only: a task must outlive that on the deadline, not on max_attempts.
    cmd.env("LABELMUX_TRANSPORT_MAX_ATTEMPTS", "2")
        .env("LABELMUX_TRANSPORT_INITIAL_BACKOFF_MS", "20")
        .env("LABELMUX_TRANSPORT_MAX_BACKOFF_MS", "200")
        .args(["--output", "json", "--project", &project])
        .args(["tasks", "create", "--from", &file]);
    let started = Instant::now();
    let out = run(cmd).await;
    println!("{N} Scale creates under faults: {:?}", started.elapsed());
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["created"], N, "{doc}");
    assert_eq!(doc["failed"], 0);
    assert!(doc["unknown"].as_array().unwrap().is_empty());
    // Exactly once: N tasks at the vendor (a unique_id cannot be held twice).
    assert_eq!(emu.control().task_count(&project), N);
    assert!(
        emu.control().request_count() > N as u64,
        "faults were injected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sama_create_survives_a_lost_answer_to_opening_its_batch() {
    let emu = emulator(Vendor::Sama).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.jsonl", &sama_rows(40, "o"));
    // Sama opens the batch, the answer never arrives.
    emu.control().set_faults(FaultConfig {
        drop_after_next: 1,
        only_method: Some("POST".into()),
        only_path_containing: Some("batches.json".into()),
        ..FaultConfig::default()
    });
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args(["--output", "json", "--project", SAMA_PROJECT])
        .args(["tasks", "create", "--from", &file, "--wait"]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert_eq!(emu.control().faults().drop_after_next, 0, "the fault hit");
    let doc = stdout_json(&out);
    assert_eq!(doc["batch"]["counts"]["created"], 40, "{doc}");
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 40);
}

// ---------------------------------------------------------------------------------------------
// Creates that never advise a duplicate
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_of_unkeyed_scale_creates_are_unknown_exit_7_never_refused() {
    const N: usize = 200;
    let emu = emulator(Vendor::Scale).await;
    let dir = tempfile::tempdir().unwrap();
    let project = emu.projects()[0].clone();
    let file = write(dir.path(), "t.jsonl", &scale_rows(N, "u", false));
    emu.control().set_faults(FaultConfig {
        drop_after_rate: 0.2,
        only_method: Some("POST".into()),
        seed: Some(7),
        ..FaultConfig::default()
    });
    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.args(["--output", "json", "--project", &project])
        .args(["tasks", "create", "--from", &file]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let doc = stdout_json(&out);
    let unknown = doc["unknown"].as_array().unwrap();
    assert!(!unknown.is_empty(), "{doc}");
    assert_eq!(
        doc["failed"], 0,
        "an unknown outcome is not a refusal: {doc}"
    );
    assert!(doc["failures"].as_array().unwrap().is_empty());
    // They were in fact created: resubmitting them would have made duplicates.
    assert_eq!(emu.control().task_count(&project), N);
    assert_eq!(doc["created"].as_u64().unwrap() as usize + unknown.len(), N);
    let err = stderr(&out);
    assert!(
        err.contains("unknown") && err.contains("do not send them again blindly"),
        "{err}"
    );
    assert!(!err.contains("refused"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_failing_after_creation_names_the_batch_and_the_advised_rerun_sends_nothing() {
    let emu = emulator(Vendor::Sama).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.jsonl", &sama_rows(50, "w"));
    // Batch status polls (GET .../batches/<id>.json) fail; creating the batch works.
    emu.control().set_faults(FaultConfig {
        unavailable_rate: 1.0,
        only_method: Some("GET".into()),
        only_path_containing: Some("/batches/".into()),
        ..FaultConfig::default()
    });
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.env("LABELMUX_TRANSPORT_MAX_ATTEMPTS", "2")
        .env("LABELMUX_TRANSPORT_INITIAL_BACKOFF_MS", "10")
        .args(["--output", "json", "--project", SAMA_PROJECT])
        .args(["tasks", "create", "--from", &file, "--wait"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let doc = stdout_json(&out);
    let batch = doc["error"]["batch_id"]
        .as_str()
        .expect("the batch is named")
        .to_owned();
    let err = stderr(&out);
    assert!(
        err.contains(&format!("batches status --batch {batch} --wait")),
        "{err}"
    );
    assert!(err.contains("do not send the file again"), "{err}");
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 50);

    // The advised re-runs: following the batch works once Sama answers again, and --resume
    // knows the file was sent.
    emu.control().set_faults(FaultConfig::default());
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args(["--output", "json", "--project", SAMA_PROJECT])
        .args(["batches", "status", "--batch", &batch, "--wait"]);
    assert_ok(&run(cmd).await);
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args(["--output", "json", "--project", SAMA_PROJECT])
        .args(["tasks", "create", "--from", &file, "--resume"]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["rows_sent"], 0);
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 50, "no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_batch_opened_names_it_and_never_says_send_again() {
    let emu = emulator(Vendor::Sama).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.jsonl", &sama_rows(5, "a"));
    // Starting the batch fails on every attempt (the upload went through).
    emu.control().set_faults(FaultConfig {
        unavailable_rate: 1.0,
        only_path_containing: Some("continue.json".into()),
        ..FaultConfig::default()
    });
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.env("LABELMUX_TRANSPORT_DEADLINE_SECS", "1")
        .env("LABELMUX_TRANSPORT_INITIAL_BACKOFF_MS", "10")
        .args(["--output", "json", "--project", SAMA_PROJECT])
        .args(["tasks", "create", "--from", &file]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let doc = stdout_json(&out);
    let batch = doc["error"]["batch_id"]
        .as_str()
        .expect("the batch is named")
        .to_owned();
    let advice = doc["error"]["advice"].as_str().unwrap();
    assert!(
        advice.contains("--resume") && advice.contains(&batch),
        "{advice}"
    );
    assert!(!advice.contains("retry later"), "{advice}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_batch_left_open_by_a_kill_is_finished_by_the_resume() {
    use labelmux::scale::{CreateProjectRequest, ScaleClient};
    use labelmux::transport::{SecretString, TransportConfig};
    const N: usize = 300;
    let emu = emulator(Vendor::Scale).await;
    let dir = tempfile::tempdir().unwrap();
    let client = ScaleClient::new(
        &emu.base_url(),
        SecretString::from(emu.api_key()),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    // A Rapid project: its batches wait in `staging` until finalized.
    let mut req = CreateProjectRequest::new("rapid", "imageannotation");
    req.rapid = true;
    client.create_project(&req).await.unwrap();
    let file = write(dir.path(), "t.jsonl", &scale_rows(N, "k", true));
    emu.control().set_faults(FaultConfig {
        latency_ms: 40,
        ..FaultConfig::default()
    });
    let mut child = spawn(
        &emu,
        Vendor::Scale,
        dir.path(),
        &["--project", "rapid", "tasks", "create", "--from", &file],
    );
    let journal = dir.path().join("state/batches.jsonl");
    wait_for("the batch to be journaled and tasks created", || {
        std::fs::read_to_string(&journal).is_ok_and(|t| t.contains("\"opened\""))
            && emu.control().task_count("rapid") >= 20
    })
    .await;
    child.kill().unwrap(); // SIGKILL: nothing runs after it
    child.wait().unwrap();
    emu.control().set_faults(FaultConfig::default());
    let entry: Value = serde_json::from_str(
        std::fs::read_to_string(&journal)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    let batch = entry["batch_id"].as_str().unwrap().to_owned();
    let before = emu.control().task_count("rapid");
    assert!(before < N, "the kill came before the end ({before} tasks)");
    assert_eq!(
        client.get_batch(&batch).await.unwrap().status.as_deref(),
        Some("staging")
    );

    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.args(["--output", "json", "--project", "rapid"])
        .args(["tasks", "create", "--from", &file, "--resume"]);
    let out = run(cmd).await;
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["batch_id"], batch.as_str(), "{doc}");
    assert_eq!(emu.control().task_count("rapid"), N);
    let status = client.get_batch(&batch).await.unwrap().status;
    assert_ne!(
        status.as_deref(),
        Some("staging"),
        "the batch was finalized"
    );
    // Every task is in that one batch.
    let in_batch = client
        .batch_status(&batch)
        .await
        .map(|s| s.pending + s.completed + s.error + s.canceled)
        .unwrap();
    assert_eq!(in_batch, N as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_external_key_with_other_data_is_refused_naming_both_lines() {
    let emu = emulator(Vendor::Scale).await;
    let dir = tempfile::tempdir().unwrap();
    let project = emu.projects()[0].clone();
    let mut rows = scale_rows(5, "d", true);
    rows.push_str("{\"attachment\":\"https://x/other.jpg\",\"attachment_type\":\"image\",\"external_id\":\"d-1\"}\n");
    let file = write(dir.path(), "t.jsonl", &rows);
    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.args(["--project", &project, "tasks", "create", "--from", &file]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lines 2 and 6") && err.contains("\"d-1\""),
        "{err}"
    );
    assert_eq!(emu.control().task_count(&project), 0, "nothing was sent");

    // The same row twice is the same task: accepted, created once.
    let mut rows = scale_rows(3, "s", true);
    rows.push_str(scale_rows(1, "s", true).as_str());
    let file = write(dir.path(), "same.jsonl", &rows);
    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.args(["--project", &project, "tasks", "create", "--from", &file]);
    assert_ok(&run(cmd).await);
    assert_eq!(emu.control().task_count(&project), 3);
}

// ---------------------------------------------------------------------------------------------
// Task files that are streams; spool files
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_is_read_once_and_every_row_is_created() {
    let emu = emulator(Vendor::Sama).await;
    let dir = tempfile::tempdir().unwrap();
    // Standard input as a pipe.
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.write_stdin(sama_rows(300, "p"))
        .args(["--output", "json", "--project", SAMA_PROJECT])
        .args([
            "tasks",
            "create",
            "--from",
            "/dev/stdin",
            "--format",
            "jsonl",
            "--wait",
        ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["rows_sent"], 300);
    assert_eq!(doc["batch"]["counts"]["created"], 300, "{doc}");
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 300);

    // A process substitution, as a shell user writes it.
    let file = write(
        dir.path(),
        "t.csv",
        "url,name,external_id\nhttps://x/1.jpg,one,c-1\nhttps://x/2.jpg,two,c-2\n",
    );
    let cmd = format!(
        "{} --output json --provider sama --base-url {} --project {SAMA_PROJECT} tasks create --from <(cat {file}) --format csv --wait",
        assert_cmd::cargo::cargo_bin("labelmux").display(),
        emu.base_url()
    );
    let mut bash = Command::new("bash");
    bash.current_dir(dir.path())
        .env("SAMA_API_KEY", emu.api_key())
        .env("LABELMUX_STATE_DIR", dir.path().join("state"))
        .env("TMPDIR", tmp(dir.path()))
        .env_remove("LABELMUX_CONFIG")
        .timeout(BOUND)
        .args(["-c", &cmd]);
    let out = run(bash).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["batch"]["counts"]["created"], 2);
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 302);
    // The input spool is gone with the run.
    let left: Vec<_> = std::fs::read_dir(tmp(dir.path())).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_is_read_once_and_every_row_is_created() {
    let emu = emulator(Vendor::Scale).await;
    let dir = tempfile::tempdir().unwrap();
    let project = emu.projects()[0].clone();
    let fifo = dir.path().join("tasks.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            // Opening blocks until the reader opens it; closing ends the stream.
            std::fs::write(fifo, scale_rows(150, "q", true)).unwrap();
        })
    };
    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.args(["--output", "json", "--project", &project]).args([
        "tasks",
        "create",
        "--from",
        fifo.to_str().unwrap(),
    ]);
    let out = run(cmd).await;
    writer.join().unwrap();
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(
        (doc["rows_sent"].as_u64(), doc["created"].as_u64()),
        (Some(150), Some(150)),
        "{doc}"
    );
    assert_eq!(emu.control().task_count(&project), 150);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_left_by_kill_9_is_removed_on_the_next_start() {
    let emu = emulator(Vendor::Sama).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.jsonl", &sama_rows(2000, "k"));
    // The upload hangs: the run is killed while its spool file exists.
    emu.control().set_faults(FaultConfig {
        latency_ms: 60_000,
        only_method: Some("PUT".into()),
        ..FaultConfig::default()
    });
    let mut child = spawn(
        &emu,
        Vendor::Sama,
        dir.path(),
        &[
            "--project",
            SAMA_PROJECT,
            "tasks",
            "create",
            "--from",
            &file,
        ],
    );
    let pid = child.id();
    let tmp = tmp(dir.path());
    let before = emu.control().request_count();
    wait_for("the upload to start", || {
        emu.control().request_count() >= before + 2 && !spools_of(&tmp, pid).is_empty()
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let left = spools_of(&tmp, pid);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(std::fs::metadata(tmp.join(&left[0])).unwrap().len() > 100_000);

    // The next run removes it.
    emu.control().set_faults(FaultConfig::default());
    let other = write(dir.path(), "u.jsonl", &sama_rows(3, "n"));
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "tasks",
        "create",
        "--from",
        &other,
    ]);
    assert_ok(&run(cmd).await);
    assert!(
        spools_of(&tmp, pid).is_empty(),
        "the stale spool was removed"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
