//! Runs the `labelmux` binary against emulators started in the test process.

use assert_cmd::Command;
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use predicates::prelude::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const SAMA_PROJECT: &str = "1001";

async fn sama() -> RunningEmulator {
    start(EmulatorConfig::new(Vendor::Sama)).await.unwrap()
}

/// The binary, isolated from the developer's environment and config, in directory `dir`.
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
        .env("LABELMUX_STATE_DIR", dir.join("state"));
    cmd
}

/// The binary pointed at `emu` with its key in the environment.
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

/// Run without blocking the runtime that serves the emulator.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{text}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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

fn jsonl_tasks(n: usize, prefix: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"url\":\"https://x/{prefix}{i}.jpg\",\"name\":\"{prefix} {i}\",\"external_id\":\"{prefix}-{i}\"}}\n"
            )
        })
        .collect()
}

/// `tasks create --wait --output json` of `text` (a file named `name`); returns the receipt.
async fn create(
    emu: &RunningEmulator,
    vendor: Vendor,
    project: &str,
    dir: &Path,
    name: &str,
    text: &str,
) -> Value {
    let out = create_output(emu, vendor, project, dir, name, text).await;
    assert_ok(&out);
    stdout_json(&out)
}

/// Run `tasks create --wait --output json` and return the raw output, whatever its exit code.
async fn create_output(
    emu: &RunningEmulator,
    vendor: Vendor,
    project: &str,
    dir: &Path,
    name: &str,
    text: &str,
) -> Output {
    let file = write(dir, name, text);
    let mut cmd = against(emu, vendor, dir);
    cmd.args([
        "--output",
        "json",
        "--project",
        project,
        "tasks",
        "create",
        "--from",
        &file,
        "--wait",
    ]);
    run(cmd).await
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_completes_and_writes_every_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bare(dir.path());
    cmd.args(["demo", "--out-dir", "out", "--step-ms", "20"]);
    let out = run(cmd).await;
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("delivered") && text.contains("200"), "{text}");
    let file = dir.path().join("out/deliveries.jsonl");
    let rows = lines(&file);
    assert_eq!(rows.len(), 200);
    // Pre-annotated tasks (every fourth) come back with their label as the answer.
    let d4 = rows
        .iter()
        .find(|r| r["external_key"] == "demo-0004")
        .unwrap();
    assert_eq!(d4["answers"]["label"], "owl");

    let mut cmd = bare(dir.path());
    cmd.args([
        "--output",
        "json",
        "demo",
        "--out-dir",
        "out2",
        "--step-ms",
        "20",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["delivered"], 200);
    assert_eq!(doc["tasks_created"], 200);
    assert!(doc["file"].as_str().unwrap().ends_with("deliveries.jsonl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_create_from_jsonl_and_csv() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    let receipt = create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "t.jsonl",
        &jsonl_tasks(5, "j"),
    )
    .await;
    assert_eq!(receipt["rows_sent"], 5);
    assert_eq!(receipt["first_line"], 1);
    assert_eq!(receipt["last_line"], 5);
    assert_eq!(receipt["batch"]["status"], "created");
    assert_eq!(receipt["batch"]["counts"]["created"], 5);
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 5);

    let csv = "url,name,external_id,output_label,priority\nhttps://x/c1.jpg,one,c-1,\"\"\"dog\"\"\",2\nhttps://x/c2.jpg,,c-2,,\n";
    let receipt = create(&emu, Vendor::Sama, SAMA_PROJECT, dir.path(), "t.csv", csv).await;
    assert_eq!(receipt["rows_sent"], 2);
    assert_eq!(receipt["first_line"], 2);
    assert_eq!(receipt["last_line"], 3);
    assert_eq!(receipt["batch"]["counts"]["created"], 2);
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 7);

    // Human output names the batch and the lines sent.
    let file = write(dir.path(), "h.jsonl", &jsonl_tasks(2, "h"));
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "tasks",
        "create",
        "--from",
        &file,
        "--batch-name",
        "b1",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sent 2 rows") && text.contains("lines 1-2"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_rejections_are_reported_with_their_file_line() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    // Blank lines shift the line numbers; the unknown input `colour` fails on Sama's side.
    let text = "{\"url\":\"https://x/1.jpg\"}\n\n{\"url\":\"https://x/2.jpg\",\"colour\":\"red\"}\n{\"url\":\"https://x/3.jpg\"}\n";
    let out = create_output(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "t.jsonl",
        text,
    )
    .await;
    // The receipt is printed once, and the exit code tells scripts that rows were refused.
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 of 3 tasks were refused"),
        "{}",
        stderr(&out)
    );
    let receipt = stdout_json(&out);
    assert_eq!(receipt["batch"]["counts"]["created"], 2);
    assert_eq!(receipt["batch"]["counts"]["failed"], 1);
    let failures = receipt["batch"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["line"], 3, "{failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_reported_before_anything_is_sent() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "bad.jsonl",
            "{\"url\":\"https://x/1.jpg\"}\n{\"url\":\"https://x/2.jpg\"}\n{\"url\": nope}\n",
            &["line 3", "invalid JSON"],
        ),
        (
            "bad_output.jsonl",
            "{\"url\":\"https://x/1.jpg\"}\n{\"url\":\"https://x/2.jpg\",\"output_label\":\"{oops\"}\n",
            &["line 2", "output_label"],
        ),
        (
            "bad.csv",
            "url,output_boxes\nhttps://x/1.jpg,\nhttps://x/2.jpg,{not json\n",
            &["line 3", "output_boxes"],
        ),
        ("short.csv", "url,name\na,b\nc\n", &["line 3", "columns"]),
    ];
    for (name, text, wants) in cases {
        let file = write(dir.path(), name, text);
        let mut cmd = against(&emu, Vendor::Sama, dir.path());
        cmd.args([
            "--project",
            SAMA_PROJECT,
            "tasks",
            "create",
            "--from",
            &file,
        ]);
        let out = run(cmd).await;
        assert_eq!(out.status.code(), Some(5), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        for want in wants {
            assert!(err.contains(want), "{name}: `{want}` missing in {err}");
        }
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 0);
    assert_eq!(
        emu.control().request_count(),
        0,
        "nothing may reach the vendor"
    );

    // A missing file.
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "tasks",
        "create",
        "--from",
        "missing.jsonl",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.jsonl", &jsonl_tasks(1, "k"));

    let mut cmd = bare(dir.path());
    cmd.args([
        "--provider",
        "samma",
        "--project",
        "1",
        "tasks",
        "create",
        "--from",
        &file,
    ]);
    cmd.assert().code(2).stderr(predicate::str::contains(
        "known providers: sama, scale, labelbox, segments",
    ));

    let mut cmd = bare(dir.path());
    cmd.args([
        "--provider",
        "sama",
        "--project",
        "1",
        "tasks",
        "create",
        "--from",
        &file,
    ]);
    cmd.assert()
        .code(2)
        .stderr(predicate::str::contains("SAMA_API_KEY"));

    let mut cmd = bare(dir.path());
    cmd.env("SAMA_API_KEY", "k").args(["tasks", "list"]);
    cmd.assert()
        .code(2)
        .stderr(predicate::str::contains("--project"));

    // JSON errors for scripts; the key given never shows. ./labelmux.toml is read by default
    // (here: give up after two attempts, so the unreachable vendor fails fast).
    std::fs::write(
        dir.path().join("labelmux.toml"),
        "project = \"1\"\n[transport]\nmax_attempts = 2\ninitial_backoff_ms = 1\n[sama]\nbase_url = \"http://127.0.0.1:9/v2\"\n",
    )
    .unwrap();
    let mut cmd = bare(dir.path());
    cmd.env("SAMA_API_KEY", "CANARY-KEY-123")
        .args(["--output", "json", "tasks", "get", "--task", "t"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let doc = stdout_json(&out);
    assert_eq!(doc["error"]["exit_code"], 7);
    assert_eq!(doc["error"]["vendor"], "sama");
    assert!(!format!("{doc}{}", stderr(&out)).contains("CANARY-KEY-123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_unknown_ids_have_their_exit_codes() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.env("SAMA_API_KEY", "wrong-key")
        .args(["--project", SAMA_PROJECT, "project", "info"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("SAMA_API_KEY"));
    assert!(!stderr(&out).contains("wrong-key"));

    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "batches",
        "status",
        "--batch",
        "999999",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_status_waits_until_creation_finishes() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.jsonl", &jsonl_tasks(30, "w"));
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--output",
        "json",
        "--project",
        SAMA_PROJECT,
        "tasks",
        "create",
        "--from",
        &file,
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let batch = stdout_json(&out)["batch_id"].as_str().unwrap().to_owned();

    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--output",
        "json",
        "--project",
        SAMA_PROJECT,
        "batches",
        "status",
        "--batch",
        &batch,
        "--wait",
        "--interval",
        "0.05",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["status"], "created");
    assert_eq!(doc["counts"]["created"], 30);

    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "batches",
        "status",
        "--batch",
        &batch,
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_commands_list_get_priority_reject_delete() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "t.jsonl",
        &jsonl_tasks(4, "t"),
    )
    .await;
    let json_cmd = |args: &[&str]| {
        let mut cmd = against(&emu, Vendor::Sama, dir.path());
        cmd.args(["--output", "json", "--project", SAMA_PROJECT])
            .args(args);
        cmd
    };

    let out = run(json_cmd(&["tasks", "list"])).await;
    assert_ok(&out);
    let tasks = stdout_json(&out);
    let ids: Vec<String> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 4);
    let out = run(json_cmd(&[
        "tasks",
        "list",
        "--since",
        "2000-01-01T00:00:00Z",
    ]))
    .await;
    assert_eq!(stdout_json(&out).as_array().unwrap().len(), 4);
    let out = run(json_cmd(&[
        "tasks",
        "list",
        "--since",
        "2999-01-01T00:00:00Z",
    ]))
    .await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out).as_array().unwrap().len(), 0);

    let out = run(json_cmd(&[
        "tasks",
        "priority",
        "--priority",
        "-7",
        &ids[0],
        &ids[1],
    ]))
    .await;
    assert_ok(&out);
    let out = run(json_cmd(&["tasks", "get", "--task", &ids[0]])).await;
    assert_ok(&out);
    let task = stdout_json(&out);
    assert_eq!(task["id"], ids[0].as_str());
    assert_eq!(task["priority"], -7);

    // Delete: tasks still `new` go; the others are reported with the vendor's reason.
    emu.control().complete_all(SAMA_PROJECT);
    let out = run(json_cmd(&["tasks", "delete", &ids[3]])).await;
    assert_ok(&out);
    let report = stdout_json(&out);
    assert_eq!(report["deleted"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["refused"][0]["task_id"], ids[3].as_str());

    let out = run(json_cmd(&[
        "tasks",
        "reject",
        "--task",
        &ids[2],
        "--reason",
        "blurry",
        "--reason",
        "wrong box",
    ]))
    .await;
    assert_ok(&out);
    let out = run(json_cmd(&["tasks", "list", "--state", "rejected"])).await;
    assert_ok(&out);
    let rejected = stdout_json(&out);
    assert_eq!(rejected.as_array().unwrap().len(), 1);
    assert_eq!(rejected[0]["id"], ids[2].as_str());

    // A fresh task is deletable.
    let receipt = create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "d.jsonl",
        &jsonl_tasks(1, "d"),
    )
    .await;
    let out = run(json_cmd(&[
        "tasks",
        "list",
        "--batch",
        receipt["batch_id"].as_str().unwrap(),
    ]))
    .await;
    let fresh = stdout_json(&out)[0]["id"].as_str().unwrap().to_owned();
    let out = run(json_cmd(&["tasks", "delete", &fresh])).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["deleted"][0], fresh.as_str());
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 4);

    // Human tables too.
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "tasks",
        "list",
        "--state",
        "completed",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 tasks."));

    let out = run(json_cmd(&["tasks", "get", "--task", "no-such-task"])).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_pull_since_and_by_consumer() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "a.jsonl",
        &jsonl_tasks(6, "a"),
    )
    .await;
    emu.control().finish_all(SAMA_PROJECT);
    let pull = |args: &[&str]| {
        let mut cmd = against(&emu, Vendor::Sama, dir.path());
        cmd.args([
            "--output",
            "json",
            "--project",
            SAMA_PROJECT,
            "deliveries",
            "pull",
        ])
        .args(args);
        cmd
    };

    let since = dir.path().join("since.jsonl");
    let out = run(pull(&[
        "--since",
        "2000-01-01T00:00:00Z",
        "--out",
        since.to_str().unwrap(),
    ]))
    .await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 6);
    assert_eq!(lines(&since).len(), 6);
    // --since overwrites.
    let out = run(pull(&[
        "--since",
        "2000-01-01T00:00:00Z",
        "--out",
        since.to_str().unwrap(),
    ]))
    .await;
    assert_ok(&out);
    assert_eq!(lines(&since).len(), 6);

    let csv = dir.path().join("since.csv");
    let out = run(pull(&[
        "--since",
        "2000-01-01T00:00:00Z",
        "--out",
        csv.to_str().unwrap(),
    ]))
    .await;
    assert_ok(&out);
    let mut r = csv::Reader::from_path(&csv).unwrap();
    assert_eq!(r.records().count(), 6);

    let by_consumer = dir.path().join("etl.jsonl");
    let path = by_consumer.to_str().unwrap();
    let out = run(pull(&["--consumer", "etl", "--out", path])).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 6);
    // A second run pulls nothing new and leaves the file as it was.
    let out = run(pull(&["--consumer", "etl", "--out", path])).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 0);
    assert_eq!(lines(&by_consumer).len(), 6);
    // New deliveries are appended, each task once.
    create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "b.jsonl",
        &jsonl_tasks(3, "b"),
    )
    .await;
    emu.control().finish_all(SAMA_PROJECT);
    let out = run(pull(&["--consumer", "etl", "--out", path])).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 3);
    let rows = lines(&by_consumer);
    assert_eq!(rows.len(), 9);
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["task_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 9);
    // Another consumer is independent.
    let other = dir.path().join("other.jsonl");
    let out = run(pull(&[
        "--consumer",
        "other",
        "--out",
        other.to_str().unwrap(),
    ]))
    .await;
    assert_ok(&out);
    assert_eq!(lines(&other).len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_parses_for_project_commands() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "a.jsonl",
        &jsonl_tasks(2, "p"),
    )
    .await;
    for args in [
        &["project", "info"][..],
        &["project", "stats"][..],
        &["schema"][..],
        &["capabilities"][..],
    ] {
        let mut cmd = against(&emu, Vendor::Sama, dir.path());
        cmd.args(["--output", "json", "--project", SAMA_PROJECT])
            .args(args);
        let out = run(cmd).await;
        assert_ok(&out);
        let doc = stdout_json(&out);
        match args[0] {
            "project" if args[1] == "info" => assert_eq!(doc["id"], SAMA_PROJECT),
            "project" => assert_eq!(doc["total"], 2),
            "schema" => assert!(doc.is_object()),
            _ => assert_eq!(doc["capabilities"]["create_batch"], true),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Scale
// ------------------------------------------------------------------------------------------

async fn scale() -> RunningEmulator {
    start(EmulatorConfig::new(Vendor::Scale)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_demo_create_and_pull() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bare(dir.path());
    cmd.args([
        "--output",
        "json",
        "--provider",
        "scale",
        "demo",
        "--out-dir",
        "out",
        "--step-ms",
        "20",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["delivered"], 200);
    assert_eq!(lines(&dir.path().join("out/deliveries.jsonl")).len(), 200);

    let emu = scale().await;
    let project = emu.projects()[0].clone();
    // Scale tasks take their parameters as inputs (`attachment`, ...).
    let scale_tasks: String = (0..4)
        .map(|i| {
            format!("{{\"attachment\":\"https://x/s{i}.jpg\",\"attachment_type\":\"image\",\"external_id\":\"s-{i}\"}}\n")
        })
        .collect();
    let receipt = create(
        &emu,
        Vendor::Scale,
        &project,
        dir.path(),
        "t.jsonl",
        &scale_tasks,
    )
    .await;
    assert_eq!(receipt["rows_sent"], 4);
    assert_eq!(receipt["batch"]["counts"]["created"], 4, "{receipt}");
    assert_eq!(emu.control().task_count(&project), 4);
    emu.control().finish_all(&project);

    let path = dir.path().join("scale.jsonl");
    let pull = |consumer: &str| {
        let mut cmd = against(&emu, Vendor::Scale, dir.path());
        cmd.args([
            "--output",
            "json",
            "--project",
            &project,
            "deliveries",
            "pull",
            "--consumer",
            consumer,
            "--out",
            path.to_str().unwrap(),
        ]);
        cmd
    };
    let out = run(pull("etl")).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 4);
    let out = run(pull("etl")).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 0);
    assert_eq!(lines(&path).len(), 4);

    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.args(["--output", "json", "--project", &project, "tasks", "list"]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out).as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_errors_name_scale_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bare(dir.path());
    cmd.args([
        "--provider",
        "scale",
        "--project",
        "demo",
        "project",
        "info",
    ]);
    cmd.assert()
        .code(2)
        .stderr(predicate::str::contains("SCALE_API_KEY"));
    let mut cmd = bare(dir.path());
    cmd.args(["--provider", "scale", "capabilities"]);
    cmd.assert()
        .success()
        .stdout(predicate::str::contains("create_batch"));
}

// ------------------------------------------------------------------------------------------
// Issue 12: what a new user hit
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_csv_files_report_their_real_line_numbers() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    // As Excel writes it: CRLF line ends.
    let csv = "url,name\r\nhttps://x/1.jpg,one\r\nhttps://x/2.jpg,two\r\n";
    let receipt = create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "crlf.csv",
        csv,
    )
    .await;
    assert_eq!(receipt["first_line"], 2, "{receipt}");
    assert_eq!(receipt["last_line"], 3, "{receipt}");

    let bad = "url,name\r\nhttps://x/1.jpg,one\r\nhttps://x/2.jpg,two\r\nonly-one-cell\r\n";
    let file = write(dir.path(), "bad.csv", bad);
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "tasks",
        "create",
        "--from",
        &file,
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 4"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_up_hints_keep_the_endpoint_and_work_as_printed() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.jsonl", &jsonl_tasks(3, "f"));
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "tasks",
        "create",
        "--from",
        &file,
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let err = stderr(&out);
    let hint = err
        .lines()
        .find_map(|l| l.split_once("follow with: ").map(|(_, c)| c.to_owned()))
        .unwrap_or_else(|| panic!("no hint in {err}"));
    assert!(
        hint.contains(&format!("--base-url {}", emu.base_url()))
            && hint.contains("--provider sama"),
        "{hint}"
    );
    // Run it exactly as printed (the key comes from the environment as before).
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert_eq!(words[0], "labelmux");
    let mut cmd = bare(dir.path());
    cmd.env("SAMA_API_KEY", emu.api_key()).args(&words[1..]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("created"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sama_reports_only_what_it_did() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    let receipt = create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "t.jsonl",
        &jsonl_tasks(2, "s"),
    )
    .await;
    let batch = receipt["batch_id"].as_str().unwrap().to_owned();
    let json_cmd = |args: &[&str]| {
        let mut cmd = against(&emu, Vendor::Sama, dir.path());
        cmd.args(["--output", "json", "--project", SAMA_PROJECT])
            .args(args);
        cmd
    };
    let out = run(json_cmd(&["tasks", "list"])).await;
    let known = stdout_json(&out)[0]["id"].as_str().unwrap().to_owned();

    // Deleting an id that never existed is not a deletion.
    let out = run(json_cmd(&["tasks", "delete", "no-such-task", &known])).await;
    assert_ok(&out);
    let report = stdout_json(&out);
    assert_eq!(report["deleted"], serde_json::json!([known]), "{report}");
    assert_eq!(report["refused"][0]["task_id"], "no-such-task", "{report}");
    assert!(
        report["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no such task"),
        "{report}"
    );

    // A priority on an unknown task is not "set".
    let out = run(json_cmd(&["tasks", "list"])).await;
    let remaining = stdout_json(&out)[0]["id"].as_str().unwrap().to_owned();
    let out = run(json_cmd(&[
        "tasks",
        "priority",
        "--priority",
        "3",
        &remaining,
        "ghost",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ghost") && stderr(&out).contains("1 of 2"),
        "{}",
        stderr(&out)
    );

    // Cancelling a batch whose creation already finished changes nothing: say so.
    let out = run(json_cmd(&["batches", "cancel", "--batch", &batch])).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("not canceled"), "{}", stderr(&out));
    let out = run(json_cmd(&["batches", "status", "--batch", &batch])).await;
    assert_eq!(stdout_json(&out)["status"], "created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_need_no_key_for_any_provider() {
    let dir = tempfile::tempdir().unwrap();
    for vendor in ["sama", "scale", "labelbox", "segments"] {
        let mut cmd = bare(dir.path());
        cmd.env_remove("LABELBOX_API_KEY")
            .env_remove("SEGMENTS_API_KEY")
            .args(["--provider", vendor, "capabilities"]);
        let out = run(cmd).await;
        let err = stderr(&out);
        match out.status.code() {
            Some(0) => assert!(String::from_utf8_lossy(&out.stdout).contains("create_batch")),
            Some(6) => {
                // An adapter not in this build: list the ones that are, and do not advise
                // running this very command.
                assert!(err.contains("sama") && err.contains("scale"), "{err}");
                assert!(!err.contains("capabilities`"), "{err}");
            }
            other => panic!("{vendor}: exit {other:?}: {err}"),
        }
        assert!(!err.contains("API_KEY"), "{vendor}: {err}");
    }
    assert!(matches!(
        run({
            let mut c = bare(dir.path());
            c.args(["--provider", "sama", "capabilities"]);
            c
        })
        .await
        .status
        .code(),
        Some(0)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_in_tables_and_failed_batches_exit_non_zero() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    // Row 2 has an input the project does not know: Sama refuses it.
    let text = "{\"url\":\"https://x/1.jpg\",\"output_label\":\"\\\"owl\\\"\"}\n{\"url\":\"https://x/2.jpg\",\"colour\":\"red\"}\n";
    let out = create_output(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "t.jsonl",
        text,
    )
    .await;
    assert_eq!(out.status.code(), Some(5));
    let receipt = stdout_json(&out);
    // The top-level summary agrees with the exit code.
    assert_eq!(receipt["failed"], 1, "{receipt}");
    assert_eq!(receipt["failures"][0]["line"], 2, "{receipt}");
    let batch = receipt["batch_id"].as_str().unwrap().to_owned();

    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "batches",
        "status",
        "--batch",
        &batch,
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("colour") && !text.contains("line"), "{text}");

    emu.control().finish_all(SAMA_PROJECT);
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args(["--project", SAMA_PROJECT, "tasks", "list", "--answers"]);
    let out = run(cmd).await;
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("answers") && text.contains("owl"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_cursor_belongs_to_its_endpoint() {
    let first = scale().await;
    let second = scale().await;
    let dir = tempfile::tempdir().unwrap();
    let project = first.projects()[0].clone();
    assert_eq!(second.projects()[0], project);
    let tasks = |n: usize, p: &str| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"attachment\":\"https://x/{p}{i}.jpg\",\"attachment_type\":\"image\"}}\n"
                )
            })
            .collect()
    };
    create(
        &first,
        Vendor::Scale,
        &project,
        dir.path(),
        "a.jsonl",
        &tasks(2, "a"),
    )
    .await;
    first.control().finish_all(&project);
    create(
        &second,
        Vendor::Scale,
        &project,
        dir.path(),
        "b.jsonl",
        &tasks(5, "b"),
    )
    .await;
    second.control().finish_all(&project);
    let pull = |emu: &RunningEmulator, file: &str| {
        let mut cmd = against(emu, Vendor::Scale, dir.path());
        cmd.args([
            "--output",
            "json",
            "--project",
            &project,
            "deliveries",
            "pull",
            "--consumer",
            "k",
            "--out",
        ])
        .arg(dir.path().join(file));
        cmd
    };
    let out = run(pull(&first, "first.jsonl")).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 2);
    // Same consumer name, same project, another server: its own deliveries, not "nothing new".
    let out = run(pull(&second, "second.jsonl")).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_create_names_its_batch_and_resume_sends_no_duplicates() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.jsonl", &jsonl_tasks(6, "i"));
    // Slow every request down so Ctrl-C lands between "batch opened" and "batch started".
    emu.control().set_faults(labelmux_emulator::FaultConfig {
        latency_ms: 1500,
        ..Default::default()
    });
    let journal = dir.path().join("state/batches.jsonl");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("labelmux"))
        .current_dir(dir.path())
        .env_remove("LABELMUX_CONFIG")
        .env_remove("LABELMUX_PROVIDER")
        .env_remove("LABELMUX_PROJECT")
        .env_remove("LABELMUX_BASE_URL")
        .env("LABELMUX_STATE_DIR", dir.path().join("state"))
        .env("SAMA_API_KEY", emu.api_key())
        .args(["--provider", "sama", "--base-url", &emu.base_url()])
        .args([
            "--project",
            SAMA_PROJECT,
            "tasks",
            "create",
            "--from",
            &file,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The batch is journaled as soon as Sama names it.
    let mut waited = 0;
    while !std::fs::read_to_string(&journal).is_ok_and(|t| t.contains("\"opened\"")) {
        assert!(waited < 600, "the batch was never journaled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    emu.control()
        .set_faults(labelmux_emulator::FaultConfig::default());
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("opened batch ") && err.contains("--resume") && err.contains("of 6 rows"),
        "{err}"
    );

    // `batches list` finds it (Sama cannot list batches: from the journal).
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--output",
        "json",
        "--project",
        SAMA_PROJECT,
        "batches",
        "list",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["source"], "journal");
    assert_eq!(doc["batches"][0]["stage"], "interrupted", "{doc}");
    assert_eq!(doc["batches"][0]["rows"], 6);
    let stale = doc["batches"][0]["batch_id"].as_str().unwrap().to_owned();
    assert!(err.contains(&stale), "{err}");

    // --resume sends what is missing (here: everything, the batch was never started) ...
    let resume = || {
        let mut cmd = against(&emu, Vendor::Sama, dir.path());
        cmd.args(["--output", "json", "--project", SAMA_PROJECT])
            .args(["tasks", "create", "--from", &file, "--resume", "--wait"]);
        cmd
    };
    let out = run(resume()).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["rows_sent"], 6);
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 6);
    // ... and a second --resume sends nothing.
    let out = run(resume()).await;
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["rows_sent"], 0, "{doc}");
    assert_eq!(doc["already_sent"], true);
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_scale_sends_only_rows_whose_key_is_missing() {
    use labelmux_cli::journal::{Entry, Journal, Stage};
    let emu = scale().await;
    let dir = tempfile::tempdir().unwrap();
    let project = emu.projects()[0].clone();
    let rows = |n: usize| -> String {
        (0..n)
            .map(|i| format!("{{\"attachment\":\"https://x/r{i}.jpg\",\"attachment_type\":\"image\",\"external_id\":\"r-{i}\"}}\n"))
            .collect()
    };
    // Two of the four rows reached Scale before an interruption.
    create(
        &emu,
        Vendor::Scale,
        &project,
        dir.path(),
        "first.jsonl",
        &rows(2),
    )
    .await;
    let file = write(dir.path(), "all.jsonl", &rows(4));
    let canonical = std::fs::canonicalize(&file).unwrap();
    Journal::in_dir(&dir.path().join("state"))
        .append(&Entry {
            at: chrono::Utc::now(),
            vendor: "scale".into(),
            endpoint: emu.base_url(),
            project: project.clone(),
            batch_id: "interrupted-batch".into(),
            file: canonical.display().to_string(),
            file_len: std::fs::metadata(&file).unwrap().len(),
            rows: 4,
            handed_over: 2,
            stage: Stage::Interrupted,
        })
        .unwrap();
    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.args(["--output", "json", "--project", &project])
        .args(["tasks", "create", "--from", &file, "--resume", "--wait"]);
    let out = run(cmd).await;
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["rows_sent"], 2, "{doc}");
    assert_eq!(doc["first_line"], 3, "{doc}");
    assert_eq!(emu.control().task_count(&project), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_point_the_right_way() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();

    // A 503 on every attempt to open a Sama batch (resent until the deadline: it creates no
    // task): the error says nothing was created, so running again is safe.
    emu.control().set_faults(labelmux_emulator::FaultConfig {
        unavailable_rate: 1.0,
        ..Default::default()
    });
    let file = write(dir.path(), "t.jsonl", &jsonl_tasks(2, "m"));
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.env("LABELMUX_TRANSPORT_DEADLINE_SECS", "1").args([
        "--project",
        SAMA_PROJECT,
        "tasks",
        "create",
        "--from",
        &file,
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nothing was created") && err.contains("run the same command again"),
        "{err}"
    );
    emu.control()
        .set_faults(labelmux_emulator::FaultConfig::default());

    // `batches status --timeout` running out points at --timeout.
    let receipt = create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "a.jsonl",
        &jsonl_tasks(1, "a"),
    )
    .await;
    let batch = receipt["batch_id"].as_str().unwrap().to_owned();
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "batches",
        "status",
        "--batch",
        "77777",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(4));
    // A base URL without Sama's /v2: the URL is the likely culprit, not the ids.
    let root = emu.base_url().trim_end_matches("/v2").to_owned();
    let mut cmd = bare(dir.path());
    cmd.env("SAMA_API_KEY", emu.api_key()).args([
        "--provider",
        "sama",
        "--base-url",
        &root,
        "--project",
        SAMA_PROJECT,
        "batches",
        "status",
        "--batch",
        &batch,
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("/v2"), "{}", stderr(&out));

    // A port in use: pick another port, not "check free disk space".
    let mut cmd = bare(dir.path());
    cmd.args(["emulate", "sama", "--addr", &emu.addr().to_string()]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--addr") && !stderr(&out).contains("disk space"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_status_timeout_points_at_the_timeout_option() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    // A batch opened and never started stays `waiting`.
    let client = labelmux::sama::SamaClient::new(
        &emu.base_url(),
        labelmux::transport::SecretString::from(emu.api_key()),
        labelmux::transport::TransportConfig::default(),
    )
    .unwrap();
    let waiting = client
        .open_batch(&labelmux::ProjectId::new(SAMA_PROJECT), None, "tasks.json")
        .await
        .unwrap();
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "batches",
        "status",
        "--wait",
        "--timeout",
        "0.2",
    ])
    .args(["--interval", "0.05", "--batch", &waiting.batch_id]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--timeout") && !err.contains("timeout_secs"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_show_once_per_kind_and_scale_warns_of_ignored_options() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9: connection refused, retried.
    std::fs::write(
        dir.path().join("labelmux.toml"),
        "project = \"1\"\n[transport]\nmax_attempts = 3\ninitial_backoff_ms = 1\n[sama]\nbase_url = \"http://127.0.0.1:9/v2\"\n",
    )
    .unwrap();
    let mut cmd = bare(dir.path());
    cmd.env("SAMA_API_KEY", "k")
        .args(["tasks", "get", "--task", "t"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(7));
    let err = stderr(&out);
    assert_eq!(err.matches("retrying in").count(), 1, "{err}");
    assert!(err.contains("get_task"), "{err}");
    // -q: nothing but the error.
    let mut cmd = bare(dir.path());
    cmd.env("SAMA_API_KEY", "k")
        .args(["-q", "tasks", "get", "--task", "t"]);
    let out = run(cmd).await;
    assert!(!stderr(&out).contains("retrying"), "{}", stderr(&out));

    let emu = scale().await;
    let project = emu.projects()[0].clone();
    let file = write(
        dir.path(),
        "p.jsonl",
        "{\"attachment\":\"https://x/1.jpg\",\"attachment_type\":\"image\",\"priority\":3}\n{\"attachment\":\"https://x/2.jpg\",\"attachment_type\":\"image\",\"priority\":1}\n",
    );
    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.args([
        "--project",
        &project,
        "tasks",
        "create",
        "--from",
        &file,
        "--priority",
        "2",
        "--submit",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let err = stderr(&out);
    assert_eq!(err.matches("has no task priority").count(), 1, "{err}");
    assert!(
        err.contains("--priority") && err.contains("`priority` column (2 rows)"),
        "{err}"
    );
    assert!(err.contains("--submit"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_usage_errors_and_plain_text_pre_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bare(dir.path());
    cmd.args(["--output", "json", "tasks", "create"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let doc = stdout_json(&out);
    assert_eq!(doc["error"]["exit_code"], 2);
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("--from"),
        "{doc}"
    );

    // `output_label: "cat"` is the string "cat", in JSONL and in CSV.
    let emu = sama().await;
    let receipt = create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "p.jsonl",
        "{\"url\":\"https://x/1.jpg\",\"output_label\":\"cat\"}\n",
    )
    .await;
    assert_eq!(receipt["batch"]["counts"]["created"], 1, "{receipt}");
    let receipt = create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "p.csv",
        "url,output_label\r\nhttps://x/2.jpg,cat\r\n",
    )
    .await;
    assert_eq!(receipt["batch"]["counts"]["created"], 1, "{receipt}");
    emu.control().finish_all(SAMA_PROJECT);
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--output",
        "json",
        "--project",
        SAMA_PROJECT,
        "tasks",
        "list",
        "--answers",
    ]);
    let out = run(cmd).await;
    let tasks = stdout_json(&out);
    for t in tasks.as_array().unwrap() {
        assert_eq!(t["answers"]["label"], "cat", "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_alone_switches_vendor_and_typos_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bare(dir.path());
    cmd.env("LABELMUX_PROJCT", "1001").args(["capabilities"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("LABELMUX_PROJCT") && stderr(&out).contains("LABELMUX_PROJECT"),
        "{}",
        stderr(&out)
    );

    // The Sama-shaped task file goes to Scale with the input renaming set in the environment.
    let emu = scale().await;
    let project = emu.projects()[0].clone();
    let file = write(dir.path(), "t.jsonl", &jsonl_tasks(3, "e"));
    let mut cmd = bare(dir.path());
    cmd.env("SCALE_API_KEY", emu.api_key())
        .env("LABELMUX_PROVIDER", "scale")
        .env("LABELMUX_PROJECT", &project)
        .env("LABELMUX_SCALE_BASE_URL", emu.base_url())
        .env(
            "LABELMUX_SCALE_INPUTS",
            r#"{"rename": {"url": "attachment"}, "defaults": {"attachment_type": "image"}}"#,
        )
        .env("LABELMUX_TRANSPORT_TIMEOUT_SECS", "10s")
        .args([
            "--output", "json", "tasks", "create", "--from", &file, "--wait",
        ]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["batch"]["counts"]["created"], 3);
    assert_eq!(emu.control().task_count(&project), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_file_keeps_one_format() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "a.jsonl",
        &jsonl_tasks(2, "f"),
    )
    .await;
    emu.control().finish_all(SAMA_PROJECT);
    let path = dir.path().join("labels.jsonl");
    let pull = |consumer: &str, extra: &[&str]| {
        let mut cmd = against(&emu, Vendor::Sama, dir.path());
        cmd.args([
            "--project",
            SAMA_PROJECT,
            "deliveries",
            "pull",
            "--consumer",
            consumer,
        ])
        .arg("--out")
        .arg(&path)
        .args(extra);
        cmd
    };
    assert_ok(&run(pull("a", &[])).await);
    let before = std::fs::read(&path).unwrap();
    let out = run(pull("b", &["--format", "csv"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--format jsonl"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_is_driven_from_the_command_line() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "a.jsonl",
        &jsonl_tasks(3, "c"),
    )
    .await;
    let emulator = |args: &[&str]| {
        let mut cmd = against(&emu, Vendor::Sama, dir.path());
        cmd.args(["--output", "json", "--project", SAMA_PROJECT, "emulator"])
            .args(args);
        cmd
    };
    let out = run(emulator(&["finish"])).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["moved"], 3);
    let out = run(emulator(&["state"])).await;
    assert_ok(&out);
    assert!(stdout_json(&out).to_string().contains("delivered"));
    let out = run(emulator(&["faults", "--latency-ms", "5"])).await;
    assert_ok(&out);
    assert_eq!(emu.control().faults().latency_ms, 5);
    let out = run(emulator(&["faults"])).await;
    assert_ok(&out);
    assert_eq!(emu.control().faults().latency_ms, 0);
    let out = run(emulator(&["reject", "--reason", "blurry"])).await;
    assert_ok(&out);
    // Without a base URL there is nothing to drive.
    let mut cmd = bare(dir.path());
    cmd.args(["--project", SAMA_PROJECT, "emulator", "advance"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--base-url"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_show_names_sources_and_doctor_checks_the_vendor() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("labelmux.toml"),
        "project = 1001\n[transport]\nmax_attempts = 3\n",
    )
    .unwrap();
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.env("LABELMUX_TRANSPORT_CONCURRENCY", "3")
        .args(["--output", "json", "config", "show"]);
    let out = run(cmd).await;
    assert_ok(&out);
    let doc = stdout_json(&out);
    assert_eq!(doc["project"]["value"], "1001");
    assert!(
        doc["project"]["source"]
            .as_str()
            .unwrap()
            .starts_with("file"),
        "{doc}"
    );
    assert_eq!(doc["transport.max_attempts"]["value"], "3");
    assert_eq!(
        doc["transport.concurrency"]["source"], "environment",
        "{doc}"
    );
    assert_eq!(doc["sama.base_url"]["source"], "flag", "{doc}");
    assert_eq!(doc["transport.timeout_secs"]["source"], "default", "{doc}");
    assert_eq!(doc["sama.api_key"]["source"], "environment SAMA_API_KEY");
    assert!(
        !doc.to_string().contains(&emu.api_key()),
        "the key never shows"
    );

    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args(["doctor"]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("answered"));
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.env("SAMA_API_KEY", "wrong")
        .args(["--output", "json", "doctor"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let doc = stdout_json(&out);
    let checks = doc["checks"].as_array().unwrap();
    assert_eq!(checks.last().unwrap()["ok"], false, "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_array_files_and_counted_words() {
    let emu = sama().await;
    let dir = tempfile::tempdir().unwrap();
    let receipt = create(
        &emu,
        Vendor::Sama,
        SAMA_PROJECT,
        dir.path(),
        "tasks.json",
        "[\n  {\n    \"url\": \"https://x/1.jpg\"\n  },\n  {\n    \"url\": \"https://x/2.jpg\"\n  }\n]\n",
    )
    .await;
    assert_eq!(receipt["rows_sent"], 2);
    assert_eq!(receipt["first_line"], 2);
    assert_eq!(receipt["last_line"], 5);
    assert_eq!(receipt["batch"]["counts"]["created"], 2);

    let file = write(dir.path(), "one.jsonl", &jsonl_tasks(1, "o"));
    let mut cmd = against(&emu, Vendor::Sama, dir.path());
    cmd.args([
        "--project",
        SAMA_PROJECT,
        "tasks",
        "create",
        "--from",
        &file,
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sent 1 row of"), "{text}");
    assert!(
        stderr(&out).contains("1 task, every row valid"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_demo_hint_carries_the_input_mapping_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bare(dir.path());
    cmd.args([
        "--provider",
        "scale",
        "demo",
        "--out-dir",
        "out",
        "--step-ms",
        "10",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mapping = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("export LABELMUX_SCALE_INPUTS='"))
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no input mapping in the hint: {text}"))
        .to_owned();
    // The sample's url/name rows, as the hint says to send them.
    let emu = scale().await;
    let project = emu.projects()[0].clone();
    let file = write(dir.path(), "t.jsonl", &jsonl_tasks(2, "h"));
    let mut cmd = against(&emu, Vendor::Scale, dir.path());
    cmd.env("LABELMUX_SCALE_INPUTS", &mapping).args([
        "--output",
        "json",
        "--project",
        &project,
        "tasks",
        "create",
        "--from",
        &file,
        "--wait",
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["batch"]["counts"]["created"], 2);
}

#[test]
fn subcommand_help_lists_its_own_options_not_every_global_one() {
    let dir = tempfile::tempdir().unwrap();
    let sub = bare(dir.path())
        .args(["tasks", "create", "--help"])
        .output()
        .unwrap();
    assert!(sub.status.success());
    let text = String::from_utf8_lossy(&sub.stdout);
    assert!(
        text.contains("--from <FILE>") && text.contains("--project <ID>"),
        "{text}"
    );
    for global in ["--base-url <URL>", "--config <FILE>", "--quiet\n"] {
        assert!(!text.contains(global), "{global} listed again:\n{text}");
    }
    assert!(text.contains("labelmux --help"), "{text}");
    let top = bare(dir.path()).arg("--help").output().unwrap();
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.contains("--base-url <URL>") && top.contains("--config <FILE>"),
        "{top}"
    );
    // Hidden in the help, still accepted after the subcommand.
    let out = bare(dir.path())
        .args([
            "config",
            "show",
            "--provider",
            "scale",
            "-q",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["provider"]["value"], "scale");
}
