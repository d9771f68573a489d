//! The full Sama flow against the emulator (crates/emulator): create, follow, list, finish,
//! deliver (since a timestamp and since the last call), reject, prioritise, delete, errors.

use chrono::Utc;
use futures::{stream, StreamExt, TryStreamExt};
use labelmux_core::cursor::MemoryCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{
    BatchId, BatchSpec, BatchStatus, DeliveryQuery, ErrorKind, ProjectId, Provider, TaskFilter,
    TaskId, TaskSpec, TaskState,
};
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use labelmux_sama::{SamaClient, SamaProvider};
use serde_json::json;
use std::time::Duration;

const PROJECT: &str = "1001";

fn provider(emu: &RunningEmulator, key: &str) -> SamaProvider {
    let client = SamaClient::new(
        &emu.base_url(),
        SecretString::from(key.to_owned()),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    SamaProvider::new(client, MemoryCursorStore::new())
}

fn spec(i: usize) -> TaskSpec {
    TaskSpec::new(
        json!({"url": format!("https://assets.example/{i}.jpg"), "name": format!("img {i}")})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .with_external_key(format!("img-{i}"))
    .with_pre_annotation("label", json!("cat"))
}

async fn create(sama: &SamaProvider, specs: Vec<TaskSpec>, name: &str) -> BatchId {
    let batch = BatchSpec::default().with_name(name.to_owned());
    let tasks = stream::iter(specs.into_iter().map(Ok)).boxed();
    sama.create_batch(&ProjectId::new(PROJECT), batch, tasks, None)
        .await
        .unwrap()
        .batch_id
}

async fn wait_done(sama: &SamaProvider, batch: &BatchId) -> labelmux_core::Batch {
    let project = ProjectId::new(PROJECT);
    for _ in 0..500 {
        let b = sama.batch_status(&project, batch).await.unwrap();
        if b.status.is_terminal() {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("batch {batch} did not finish");
}

#[tokio::test]
async fn full_flow_against_the_emulator() {
    let emu = start(EmulatorConfig::new(Vendor::Sama)).await.unwrap();
    let sama = provider(&emu, &emu.api_key());
    let project = ProjectId::new(PROJECT);
    let control = emu.control();

    // Create 1,000 tasks through the spooled 3-step upload.
    let batch = create(&sama, (0..1000).map(spec).collect(), "run-1").await;
    let status = wait_done(&sama, &batch).await;
    assert_eq!(status.status, BatchStatus::Created, "{status:?}");
    assert_eq!(status.counts.created, 1000);
    assert_eq!(status.counts.failed, 0);
    assert!(status.failures.is_empty());

    // A task the project rejects is reported with its index, data and errors.
    let mut bad = spec(1);
    bad.inputs.insert("no_such_input".into(), json!(1));
    let mixed = create(&sama, vec![spec(0), bad], "run-bad").await;
    let mixed = wait_done(&sama, &mixed).await;
    assert_eq!(mixed.counts.created, 1);
    assert_eq!(mixed.counts.failed, 1);
    assert_eq!(mixed.failures[0].index, Some(1));
    assert_eq!(mixed.failures[0].external_key.as_deref(), Some("img-1"));
    assert!(!mixed.failures[0].errors.is_empty());

    // List the batch.
    let filter = TaskFilter::default().with_batch(batch.clone());
    let tasks: Vec<_> = sama
        .list_tasks(&project, filter)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1000);
    assert!(tasks.iter().all(|t| t.state == TaskState::New));
    assert!(tasks.iter().all(|t| !t.inputs.contains_key("output_label")));
    let mut keys: Vec<_> = tasks
        .iter()
        .filter_map(|t| t.external_key.clone())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 1000);

    // Finish every task (the emulated workforce), then pull deliveries.
    let before = Utc::now() - chrono::Duration::seconds(1);
    assert!(control.finish_all(PROJECT) >= 1000);
    let since: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since(before).batch(batch.clone()))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(since.len(), 1000);
    assert!(since.iter().all(|d| d.answers != serde_json::Value::Null));

    let first: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since_last_call("etl"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first.len(), 1001, "1000 + the good task of run-bad");
    // The consumer's position is labelmux's: nothing moves until it is committed.
    let uncommitted: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since_last_call("etl"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(uncommitted, first, "not committed: delivered again");
    let last = first.last().and_then(|d| d.checkpoint.clone()).unwrap();
    sama.commit_consumer(&project, "etl", &last).await.unwrap();
    let again: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since_last_call("etl"))
        .try_collect()
        .await
        .unwrap();
    assert!(again.is_empty(), "committed past every delivery");
    let other: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since_last_call("audit"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(other.len(), 1001, "consumers are independent");

    // Reject and reprioritise.
    let t0 = tasks[0].id.clone();
    sama.reject_task(&project, &t0, &["boxes too loose".into()])
        .await
        .unwrap();
    assert_eq!(
        sama.get_task(&project, &t0).await.unwrap().state,
        TaskState::Rejected
    );
    let pair = [tasks[1].id.clone(), tasks[2].id.clone()];
    sama.set_priority(&project, &pair, -5).await.unwrap();
    assert_eq!(
        sama.get_task(&project, &pair[0]).await.unwrap().priority,
        Some(-5)
    );

    // Delete: new tasks go, a delivered one is refused with its state.
    let fresh = create(&sama, vec![spec(5000), spec(5001)], "run-2").await;
    wait_done(&sama, &fresh).await;
    let fresh_ids: Vec<TaskId> = sama
        .list_tasks(&project, TaskFilter::default().with_batch(fresh))
        .map_ok(|t| t.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(fresh_ids.len(), 2);
    let mut to_delete = fresh_ids.clone();
    to_delete.push(tasks[3].id.clone());
    let report = sama.delete_tasks(&project, &to_delete).await.unwrap();
    assert_eq!(report.deleted, fresh_ids);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].0, tasks[3].id);
    assert!(
        report.refused[0].1.contains("delivered"),
        "{}",
        report.refused[0].1
    );
    let gone = sama.get_task(&project, &fresh_ids[0]).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);

    // Project reads.
    let info = sama.project(&project).await.unwrap();
    assert_eq!(info.id.as_str(), PROJECT);
    let stats = sama
        .project_stats(&project, labelmux_core::StatsOptions::default())
        .await
        .unwrap();
    assert!(stats.total() >= 1000, "{stats:?}");
    let schema = sama.task_schema(&project).await.unwrap();
    assert!(schema.is_object());

    // Errors.
    let missing = sama
        .get_task(&project, &TaskId::new("000000000000000000000000"))
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    let intruder = provider(&emu, "wrong-key");
    let err = intruder.project(&project).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(!format!("{err:?}").contains("wrong-key"));

    emu.shutdown().await;
}

#[tokio::test]
async fn reads_and_updates_survive_injected_faults() {
    let emu = start(EmulatorConfig::new(Vendor::Sama)).await.unwrap();
    let sama = provider(&emu, &emu.api_key());
    let project = ProjectId::new(PROJECT);
    let control = emu.control();
    let batch = create(&sama, (0..300).map(spec).collect(), "faulty").await;
    wait_done(&sama, &batch).await;
    control.finish_all(PROJECT);
    // From here on, a third of the requests fail with 503 or 429 (Retry-After 10 ms).
    control.set_faults(labelmux_emulator::FaultConfig {
        unavailable_rate: 0.2,
        throttle_rate: 0.15,
        retry_after_secs: 0.01,
        seed: Some(7),
        ..Default::default()
    });
    let received = control.request_count();
    let status = sama.batch_status(&project, &batch).await.unwrap();
    assert_eq!(status.counts.created, 300);
    let delivered: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::since_last_call("etl"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        delivered.len(),
        300,
        "every delivery arrives despite retries"
    );
    let all: Vec<_> = sama
        .deliveries(&project, DeliveryQuery::all())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 300);
    sama.reject_task(&project, &all[0].task_id, &["redo".into()])
        .await
        .unwrap();
    assert_eq!(
        sama.get_task(&project, &all[0].task_id)
            .await
            .unwrap()
            .state,
        TaskState::Rejected
    );
    assert!(
        control.request_count() > received + 5,
        "requests were made and retried"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn multi_task_status_rate_limit_is_waited_out() {
    let mut config = EmulatorConfig::new(Vendor::Sama);
    config.enforce_rate_limits = true;
    let emu = start(config).await.unwrap();
    let sama = provider(&emu, &emu.api_key());
    let project = ProjectId::new(PROJECT);
    let batch = create(&sama, (0..3).map(spec).collect(), "limited").await;
    wait_done(&sama, &batch).await;
    let requests = emu.control().request_count();
    // Two listings back to back: the second meets Sama's 1 call/s limit (429 + Retry-After).
    for _ in 0..2 {
        let n = sama
            .list_tasks(&project, TaskFilter::default())
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len();
        assert_eq!(n, 3);
    }
    assert!(
        emu.control().request_count() >= requests + 3,
        "a 429 was retried"
    );
    emu.shutdown().await;
}
