//! `tasks create --from` a Parquet file, a directory of them or a Delta table, and
//! `deliveries pull --out x.parquet` / `--delta DIR`, against emulators started in the test.

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use assert_cmd::Command;
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

const SAMA_PROJECT: &str = "1001";

fn bare(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("labelmux").unwrap();
    cmd.current_dir(dir)
        .env_remove("LABELMUX_CONFIG")
        .env_remove("LABELMUX_PROVIDER")
        .env_remove("LABELMUX_PROJECT")
        .env_remove("LABELMUX_BASE_URL")
        .env_remove("LABELMUX_FAULT")
        .env_remove("SAMA_API_KEY")
        .env_remove("SCALE_API_KEY")
        .env_remove("RUST_LOG")
        .env("LABELMUX_STATE_DIR", dir.join("state"));
    cmd
}

fn against(emu: &RunningEmulator, vendor: Vendor, project: &str, dir: &Path) -> Command {
    let mut cmd = bare(dir);
    cmd.env(vendor.api_key_env(), emu.api_key()).args([
        "--provider",
        vendor.name(),
        "--base-url",
        &emu.base_url(),
        "--output",
        "json",
        "--project",
        project,
    ]);
    cmd
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{text}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sama tasks (url, name, external_id, output_label) rows `from..to`; `bad` gets broken JSON.
fn sama_tasks(from: usize, to: usize, bad: Option<usize>) -> RecordBatch {
    let col = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new((from..to).map(|i| Some(f(i))).collect::<StringArray>())
    };
    RecordBatch::try_from_iter([
        ("url", col(&|i| format!("https://x/{i}.jpg"))),
        ("name", col(&|i| format!("task {i}"))),
        ("external_id", col(&|i| format!("p-{i}"))),
        (
            "output_label",
            col(&|i| {
                if Some(i) == bad {
                    "{broken".into()
                } else {
                    format!("\"c{i}\"")
                }
            }),
        ),
    ])
    .unwrap()
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

fn parquet_rows(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn create(emu: &RunningEmulator, dir: &Path, from: &Path) -> Command {
    let mut cmd = against(emu, Vendor::Sama, SAMA_PROJECT, dir);
    cmd.args([
        "tasks",
        "create",
        "--wait",
        "--from",
        from.to_str().unwrap(),
    ]);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_from_parquet_files_directories_and_delta_tables() {
    let emu = start(EmulatorConfig::new(Vendor::Sama)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let file = dir.path().join("tasks.parquet");
    write_parquet(&file, &sama_tasks(0, 5, None));
    let out = run(create(&emu, dir.path(), &file)).await;
    assert_ok(&out);
    let receipt = stdout_json(&out);
    assert_eq!(receipt["rows_sent"], 5, "{receipt}");
    assert_eq!(receipt["batch"]["counts"]["created"], 5, "{receipt}");
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 5);

    // A directory as Spark writes it.
    let spark = dir.path().join("spark");
    std::fs::create_dir(&spark).unwrap();
    write_parquet(
        &spark.join("part-00000.snappy.parquet"),
        &sama_tasks(5, 8, None),
    );
    write_parquet(
        &spark.join("part-00001.snappy.parquet"),
        &sama_tasks(8, 10, None),
    );
    std::fs::write(spark.join("_SUCCESS"), b"").unwrap();
    let out = run(create(&emu, dir.path(), &spark)).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["rows_sent"], 5);
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 10);

    // A bad row: reported with file, row and column; nothing sent.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    write_parquet(&bad.join("part-0.parquet"), &sama_tasks(0, 3, None));
    write_parquet(&bad.join("part-1.parquet"), &sama_tasks(3, 7, Some(5)));
    let out = run(create(&emu, dir.path(), &bad)).await;
    assert_eq!(out.status.code(), Some(5), "input error exit code");
    let err = stdout_json(&out);
    let message = err.to_string();
    assert!(
        message.contains("part-1.parquet: row 3") && message.contains("output_label"),
        "{message}"
    );
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 10);

    // A Delta table of tasks (two commits).
    let table = dir.path().join("tasks_delta");
    let location = table.to_str().unwrap().to_owned();
    std::fs::create_dir(&table).unwrap();
    {
        use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
        let schema: deltalake_core::kernel::StructType = sama_tasks(0, 1, None)
            .schema()
            .as_ref()
            .try_into_kernel()
            .unwrap();
        let mut t = deltalake_core::DeltaOps::try_from_uri(&location)
            .await
            .unwrap()
            .create()
            .with_columns(schema.fields().cloned())
            .await
            .unwrap();
        for (from, to) in [(20, 24), (24, 26)] {
            let mut w = RecordBatchWriter::for_table(&t).unwrap();
            w.write(sama_tasks(from, to, None)).await.unwrap();
            w.flush_and_commit(&mut t).await.unwrap();
        }
    }
    let out = run(create(&emu, dir.path(), &table)).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["rows_sent"], 6);
    assert_eq!(emu.control().task_count(SAMA_PROJECT), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_pull_into_a_parquet_file() {
    let emu = start(EmulatorConfig::new(Vendor::Sama)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tasks.parquet");
    write_parquet(&file, &sama_tasks(0, 6, None));
    assert_ok(&run(create(&emu, dir.path(), &file)).await);
    emu.control().finish_all(SAMA_PROJECT);

    let out_path = dir.path().join("out/labels.parquet");
    let mut cmd = against(&emu, Vendor::Sama, SAMA_PROJECT, dir.path());
    cmd.args([
        "deliveries",
        "pull",
        "--all",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    let out = run(cmd).await;
    assert_ok(&out);
    let report = stdout_json(&out);
    assert_eq!(report["written"], 6, "{report}");
    assert_eq!(report["format"], "parquet");
    let batches = parquet_rows(&out_path);
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 6);
    let keys = batches[0]
        .column_by_name("external_key")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let mut keys: Vec<&str> = keys.iter().map(|k| k.unwrap()).collect();
    keys.sort();
    assert_eq!(keys[0], "p-0");

    // A Parquet file cannot be appended to: --consumer is refused.
    let mut cmd = against(&emu, Vendor::Sama, SAMA_PROJECT, dir.path());
    cmd.args([
        "deliveries",
        "pull",
        "--consumer",
        "c",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
}

async fn delta_rows(table: &Path) -> usize {
    let files = labelmux::io::table::delta::delta_data_files(table)
        .await
        .unwrap();
    files
        .iter()
        .map(|f| {
            parquet_rows(f)
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>()
        })
        .sum()
}

async fn delta_task_ids(table: &Path) -> Vec<String> {
    let files = labelmux::io::table::delta::delta_data_files(table)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for f in files {
        for b in parquet_rows(&f) {
            let col = b
                .column_by_name("task_id")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            ids.extend(col.iter().map(|v| v.unwrap().to_owned()));
        }
    }
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_consumer_pulls_are_exactly_once_across_a_kill_between_the_commits() {
    let emu = start(EmulatorConfig::new(Vendor::Scale)).await.unwrap();
    let project = emu.projects()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let scale_tasks = |from: usize, to: usize| -> String {
        (from..to)
            .map(|i| format!("{{\"attachment\":\"https://x/s{i}.jpg\",\"attachment_type\":\"image\",\"external_id\":\"s-{i}\"}}\n"))
            .collect()
    };
    let send = |from: usize, to: usize| {
        let path = dir.path().join(format!("t{from}.jsonl"));
        std::fs::write(&path, scale_tasks(from, to)).unwrap();
        let mut cmd = against(&emu, Vendor::Scale, &project, dir.path());
        cmd.args([
            "tasks",
            "create",
            "--wait",
            "--from",
            path.to_str().unwrap(),
        ]);
        cmd
    };
    let table = dir.path().join("lake/labels");
    let pull = |fault: Option<&str>| {
        let mut cmd = against(&emu, Vendor::Scale, &project, dir.path());
        cmd.args([
            "deliveries",
            "pull",
            "--consumer",
            "etl",
            "--delta",
            table.to_str().unwrap(),
        ]);
        if let Some(f) = fault {
            cmd.env("LABELMUX_FAULT", f);
        }
        cmd
    };

    assert_ok(&run(send(0, 4)).await);
    emu.control().finish_all(&project);
    // Killed after the Delta commit, before the cursor commit.
    let out = run(pull(Some("after-delta-commit"))).await;
    assert_eq!(
        out.status.code(),
        Some(86),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(delta_rows(&table).await, 4);
    // The re-run takes the cursor from the table: nothing twice.
    let out = run(pull(None)).await;
    assert_ok(&out);
    let report = stdout_json(&out);
    assert_eq!(report["written"], 0, "{report}");
    assert_eq!(report["cursor_from_table"], true, "{report}");
    assert_eq!(delta_rows(&table).await, 4);

    // New deliveries: one more commit with the next transaction version; killed again.
    assert_ok(&run(send(4, 7)).await);
    emu.control().finish_all(&project);
    let out = run(pull(Some("after-delta-commit"))).await;
    assert_eq!(out.status.code(), Some(86));
    let out = run(pull(None)).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 0);
    let out = run(pull(None)).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 0);
    let ids = delta_task_ids(&table).await;
    assert_eq!(ids.len(), 7);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids, "no delivery twice");

    // And without a kill, a normal pull appends only what is new.
    assert_ok(&run(send(7, 9)).await);
    emu.control().finish_all(&project);
    let out = run(pull(None)).await;
    assert_ok(&out);
    assert_eq!(stdout_json(&out)["written"], 2);
    assert_eq!(delta_rows(&table).await, 9);
}
