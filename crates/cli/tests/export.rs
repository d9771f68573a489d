//! `deliveries pull --format coco|yolo|jsonl` against the Sama emulator: neutral annotations in
//! the JSONL lines, a COCO file, and YOLO refused clearly when image sizes are unknown.

use assert_cmd::Command;
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const PROJECT: &str = "1001";

fn against(emu: &RunningEmulator, dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("labelmux").unwrap();
    cmd.current_dir(dir)
        .env_remove("LABELMUX_CONFIG")
        .env_remove("LABELMUX_PROVIDER")
        .env_remove("LABELMUX_PROJECT")
        .env_remove("LABELMUX_BASE_URL")
        .env_remove("RUST_LOG")
        .env("LABELMUX_STATE_DIR", dir.join("state"))
        .env(Vendor::Sama.api_key_env(), emu.api_key())
        .args(["--provider", "sama", "--base-url", &emu.base_url()])
        .args(["--output", "json", "--project", PROJECT]);
    cmd
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_exports_coco_jsonl_and_refuses_yolo_without_sizes() {
    let emu = start(EmulatorConfig::new(Vendor::Sama)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tasks: String = (0..4)
        .map(|i| format!("{{\"url\":\"https://x/{i}.jpg\",\"external_id\":\"k-{i}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("t.jsonl"), tasks).unwrap();
    let mut cmd = against(&emu, dir.path());
    cmd.args(["tasks", "create", "--from", "t.jsonl", "--wait"]);
    ok_json(&run(cmd).await);
    emu.control().finish_all(PROJECT);

    let pull = |format: &str, out: &str| {
        let mut cmd = against(&emu, dir.path());
        cmd.args([
            "deliveries",
            "pull",
            "--all",
            "--format",
            format,
            "--out",
            out,
        ]);
        cmd
    };

    let report = ok_json(&run(pull("coco", "coco.json")).await);
    assert_eq!(report["report"]["deliveries"], 4, "{report}");
    // A box and a polygon per image; sizes are unknown on Sama without image metadata.
    assert_eq!(report["report"]["annotations"], 8, "{report}");
    assert_eq!(report["report"]["missing_size"], 4, "{report}");
    let coco: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("coco.json")).unwrap()).unwrap();
    assert_eq!(coco["images"].as_array().unwrap().len(), 4);
    assert_eq!(coco["annotations"].as_array().unwrap().len(), 8);
    assert_eq!(coco["categories"][0]["name"], "cat");

    let report = ok_json(&run(pull("jsonl", "labels.jsonl")).await);
    assert_eq!(report["written"], 4);
    let text = std::fs::read_to_string(dir.path().join("labels.jsonl")).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["vendor"], "sama");
    assert_eq!(first["annotations"].as_array().unwrap().len(), 4, "{first}");
    // The answers once; the vendor's raw record only with --raw.
    assert!(
        first.get("raw").is_none() && first["answers"].is_object(),
        "{first}"
    );
    let mut with_raw = pull("jsonl", "raw.jsonl");
    with_raw.arg("--raw");
    assert_eq!(ok_json(&run(with_raw).await)["written"], 4);
    let text = std::fs::read_to_string(dir.path().join("raw.jsonl")).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["raw"]["answers"], first["answers"], "{first}");
    let mut csv_raw = pull("csv", "x.csv");
    csv_raw.arg("--raw");
    let out = run(csv_raw).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--raw"));

    let out = run(pull("yolo", "yolo")).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("width/height is unknown"), "{err}");
    emu.shutdown().await;
}
