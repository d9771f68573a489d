//! `SegmentsProvider` behaviour beyond the shared contract, against the Segments.ai emulator.

use chrono::{Duration as Span, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use labelmux_core::cursor::FileCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{
    BatchSpec, DeliveryQuery, Error, ProjectId, Provider, ReviewState, StatsOptions, TaskFilter,
    TaskSpec, TaskState,
};
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use labelmux_segments::{
    IssueStatus, LabelStatus, PutLabelRequest, SamplesQuery, SegmentsClient, SegmentsOptions,
    SegmentsProvider, BATCH_METADATA_KEY,
};
use serde_json::json;

struct Env {
    emu: RunningEmulator,
    provider: SegmentsProvider,
    project: ProjectId,
    _dir: tempfile::TempDir,
}

async fn env_with(options: SegmentsOptions) -> Env {
    let emu = start(EmulatorConfig::new(Vendor::Segments)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = SegmentsClient::new(
        &emu.base_url(),
        SecretString::from(emu.api_key()),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    let provider =
        SegmentsProvider::with_options(client, FileCursorStore::new(dir.path()), options);
    Env {
        project: ProjectId::new(emu.projects()[0].clone()),
        emu,
        provider,
        _dir: dir,
    }
}

fn spec(i: usize) -> TaskSpec {
    TaskSpec::from_json(json!({"image": {"url": format!("https://img.example/{i}.jpg")}}))
        .unwrap()
        .with_external_key(format!("key-{i:03}"))
}

async fn create(env: &Env, batch: &str, specs: Vec<TaskSpec>) -> labelmux_core::BatchReceipt {
    env.provider
        .create_batch(
            &env.project,
            BatchSpec::default().with_name(batch),
            stream::iter(specs.into_iter().map(Ok::<_, Error>)).boxed(),
            None,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn batches_are_recorded_in_sample_metadata_and_filterable() {
    let env = env_with(SegmentsOptions::default().with_chunk_size(3)).await;
    let r1 = create(&env, "b1", (0..7).map(spec).collect()).await;
    assert_eq!((r1.submitted, r1.created), (7, 7));
    let r2 = create(&env, "b2", (7..9).map(spec).collect()).await;
    assert_eq!(r2.created, 2);

    let b1: Vec<_> = env
        .provider
        .list_tasks(&env.project, TaskFilter::default().with_batch("b1"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(b1.len(), 7);
    assert!(b1
        .iter()
        .all(|t| t.batch_id.as_ref().map(|b| b.as_str()) == Some("b1")));
    // The metadata is filterable natively too.
    let native: Vec<_> = env
        .provider
        .client()
        .get_samples(
            env.project.as_str(),
            SamplesQuery {
                metadata: vec![(BATCH_METADATA_KEY.into(), "b2".into())],
                ..SamplesQuery::default()
            },
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(native.len(), 2);

    let status = env
        .provider
        .batch_status(&env.project, &r1.batch_id)
        .await
        .unwrap();
    assert_eq!(status.counts.created, 7);
    assert_eq!(status.counts.submitted, Some(7));
    assert_eq!(
        status.labeling.unwrap().count(&TaskState::New),
        7,
        "fresh samples are unlabeled"
    );

    // Re-submitting existing keys in a new batch creates nothing and says so.
    let again = create(&env, "b3", (0..2).map(spec).collect()).await;
    assert_eq!(again.already_existed.len(), 2);
    assert_eq!(
        again.already_existed[0]
            .batch_id
            .as_ref()
            .map(|b| b.as_str()),
        Some("b1")
    );
    let b3 = env
        .provider
        .batch_status(&env.project, &again.batch_id)
        .await
        .unwrap();
    assert_eq!(b3.counts.created, 0);
    assert!(
        b3.messages[0].contains("existed already"),
        "{:?}",
        b3.messages
    );
}

#[tokio::test]
async fn keys_are_generated_and_refusals_are_recorded_for_batch_status() {
    let env = env_with(SegmentsOptions::default()).await;
    let mut specs: Vec<TaskSpec> = (0..3).map(spec).collect();
    specs[1] = TaskSpec::from_json(json!({"text": "no image"}))
        .unwrap()
        .with_external_key("bad");
    specs[2].external_key = None;
    let r = create(&env, "mixed", specs).await;
    assert_eq!(r.created, 2);
    assert_eq!(r.failures.len(), 1);
    assert!(
        r.failures[0].errors[0].contains("Invalid sample attributes"),
        "{:?}",
        r.failures
    );
    assert_eq!(r.generated_keys, vec![(2, "mixed-000002".to_owned())]);
    let status = env
        .provider
        .batch_status(&env.project, &r.batch_id)
        .await
        .unwrap();
    assert_eq!(status.counts.failed, 1);
    assert_eq!(status.failures[0].external_key.as_deref(), Some("bad"));
    let found = env
        .provider
        .find_task(&env.project, "mixed-000002")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.external_key.as_deref(), Some("mixed-000002"));
    assert!(env
        .provider
        .find_task(&env.project, "nope")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn pre_annotations_become_prelabeled_labels() {
    let env = env_with(SegmentsOptions::default()).await;
    let boxes = json!({"format_version": "0.1", "annotations": [
        {"id": 1, "category_id": 1, "type": "bbox", "points": [[1.0, 1.0], [5.0, 5.0]]}]});
    let specs = vec![
        spec(0).with_pre_annotation("ground-truth", boxes.clone()),
        spec(1).with_pre_annotation("no-such-labelset", boxes.clone()),
    ];
    let r = create(&env, "pre", specs).await;
    assert_eq!(r.created, 2);
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert!(r.failures[0].errors[0].contains("no-such-labelset"));
    let t = env
        .provider
        .get_task(&env.project, &r.task_ids[0])
        .await
        .unwrap();
    assert_eq!(t.state, TaskState::PreLabeled);
    let label = env
        .provider
        .client()
        .get_label(r.task_ids[0].as_str(), "ground-truth")
        .await
        .unwrap();
    assert_eq!(label.status(), LabelStatus::Prelabeled);
    assert_eq!(label.raw["attributes"], boxes);
}

#[tokio::test]
async fn each_label_revision_is_delivered_once_and_rejection_opens_an_issue() {
    let env = env_with(SegmentsOptions::default()).await;
    let before = Utc::now() - Span::seconds(1);
    let r = create(&env, "rev", (0..3).map(spec).collect()).await;
    env.emu.control().complete_all(env.project.as_str());
    // LABELED is not yet delivered at the default status (REVIEWED).
    let none: Vec<_> = env
        .provider
        .deliveries(&env.project, DeliveryQuery::since(before))
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    env.emu.control().deliver_all(env.project.as_str());
    let mut first = Vec::new();
    let mut s = env
        .provider
        .deliveries(&env.project, DeliveryQuery::since_last_call("etl"));
    while let Some(d) = s.try_next().await.unwrap() {
        assert_eq!(d.review, Some(ReviewState::Approved));
        assert_eq!(d.labelset.as_deref(), Some("ground-truth"));
        env.provider
            .commit_consumer(&env.project, "etl", d.checkpoint.as_ref().unwrap())
            .await
            .unwrap();
        first.push(d);
    }
    assert_eq!(first.len(), 3);

    let target = r.task_ids[0].clone();
    env.provider
        .reject_task(
            &env.project,
            &target,
            &["boxes too loose".into(), "missed a car".into()],
        )
        .await
        .unwrap();
    assert_eq!(
        env.provider
            .get_task(&env.project, &target)
            .await
            .unwrap()
            .state,
        TaskState::Rejected
    );
    let issues = env
        .provider
        .client()
        .get_issues(env.project.as_str())
        .await
        .unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(
        issues[0].description.as_deref(),
        Some("boxes too loose\nmissed a car")
    );
    assert_eq!(issues[0].status, Some(IssueStatus::Open));

    env.emu.control().finish_all(env.project.as_str());
    let second: Vec<_> = env
        .provider
        .deliveries(&env.project, DeliveryQuery::since_last_call("etl"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "only the new revision");
    assert_eq!(second[0].task_id, target);
    let old = first.iter().find(|d| d.task_id == target).unwrap();
    assert!(second[0].updated_at > old.updated_at);
    assert_eq!(second[0].id, old.id, "same label, new revision");
}

#[tokio::test]
async fn the_delivery_status_and_labelset_are_configurable() {
    let env = env_with(
        SegmentsOptions::default()
            .with_labelset("predictions")
            .with_delivery_status(LabelStatus::Labeled),
    )
    .await;
    let client = env.provider.client().clone();
    client
        .add_labelset(env.project.as_str(), "predictions", "")
        .await
        .unwrap();
    let r = create(&env, "cfg", (0..2).map(spec).collect()).await;
    client
        .add_label(
            r.task_ids[1].as_str(),
            "predictions",
            &PutLabelRequest {
                label_status: LabelStatus::Labeled,
                attributes: json!({"annotations": []}),
                score: Some(0.8),
            },
        )
        .await
        .unwrap();
    let ds: Vec<_> = env
        .provider
        .deliveries(&env.project, DeliveryQuery::all())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].task_id, r.task_ids[1]);
    assert_eq!(ds[0].labelset.as_deref(), Some("predictions"));
    let t = env
        .provider
        .get_task(&env.project, &r.task_ids[1])
        .await
        .unwrap();
    assert_eq!(t.state, TaskState::Completed);
    assert!(t.delivered_at.is_some());
    assert_eq!(
        env.provider.capabilities().delivers_at,
        TaskState::Completed
    );
}

#[tokio::test]
async fn stats_windows_states_filters_and_schema() {
    let env = env_with(SegmentsOptions::default()).await;
    let r = create(&env, "stats", (0..4).map(spec).collect()).await;
    env.emu.control().complete_all(env.project.as_str());
    env.provider
        .reject_task(&env.project, &r.task_ids[0], &["no".into()])
        .await
        .unwrap();
    let s = env
        .provider
        .project_stats(&env.project, StatsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        s.tasks_by_state.get("completed"),
        Some(&3),
        "{:?}",
        s.tasks_by_state
    );
    assert_eq!(s.tasks_by_state.get("rejected"), Some(&1));
    let windowed = env
        .provider
        .project_stats(
            &env.project,
            StatsOptions::window(
                Some(Utc::now() - Span::hours(1)),
                Some(Utc::now() + Span::hours(1)),
            ),
        )
        .await
        .unwrap();
    assert_eq!(windowed.tasks_by_state, s.tasks_by_state);
    let empty = env
        .provider
        .project_stats(
            &env.project,
            StatsOptions::window(Some(Utc::now() + Span::hours(1)), None),
        )
        .await
        .unwrap();
    assert_eq!(empty.total(), 0);

    let rejected: Vec<_> = env
        .provider
        .list_tasks(
            &env.project,
            TaskFilter::default().with_state(TaskState::Rejected),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].id, r.task_ids[0]);
    let with_answers: Vec<_> = env
        .provider
        .list_tasks(
            &env.project,
            TaskFilter::default()
                .with_state(TaskState::Completed)
                .with_answers(true),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(with_answers.len(), 3);
    assert!(with_answers.iter().all(|t| t.answers.is_some()));
    let canceled: Vec<_> = env
        .provider
        .list_tasks(
            &env.project,
            TaskFilter::default().with_state(TaskState::Canceled),
        )
        .try_collect()
        .await
        .unwrap();
    assert!(canceled.is_empty());

    let schema = env.provider.task_schema(&env.project).await.unwrap();
    assert_eq!(schema["task_type"], "vector");
    assert!(schema["task_attributes"]["categories"].is_array());
    let p = env.provider.project(&env.project).await.unwrap();
    assert_eq!(p.kind.as_deref(), Some("vector"));
}

#[tokio::test]
async fn priorities_flip_sign_so_lower_is_still_worked_first() {
    let env = env_with(SegmentsOptions::default()).await;
    let r = create(&env, "prio", vec![spec(0).with_priority(2), spec(1)]).await;
    let client = env.provider.client();
    let s0 = client
        .get_sample(r.task_ids[0].as_str(), None, false)
        .await
        .unwrap();
    assert_eq!(s0.priority, Some(-2.0));
    env.provider
        .set_priority(&env.project, &r.task_ids[1..], 7)
        .await
        .unwrap();
    let s1 = client
        .get_sample(r.task_ids[1].as_str(), None, false)
        .await
        .unwrap();
    assert_eq!(s1.priority, Some(-7.0));
    assert_eq!(
        env.provider
            .get_task(&env.project, &r.task_ids[1])
            .await
            .unwrap()
            .priority,
        Some(7)
    );
    // Segments labels the highest first: core priority 2 comes before 7.
    let order: Vec<String> = client
        .get_samples(
            env.project.as_str(),
            SamplesQuery {
                sort: labelmux_segments::SampleSort::Priority,
                descending: true,
                ..SamplesQuery::default()
            },
        )
        .map_ok(|s| s.uuid)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(order, [r.task_ids[0].as_str(), r.task_ids[1].as_str()]);
}

#[tokio::test]
async fn deliveries_past_the_window_are_read_one_label_at_a_time_in_the_same_order() {
    for window in [2usize, 5000] {
        let env = env_with(SegmentsOptions::default().with_delivery_window(window)).await;
        let r = create(&env, "win", (0..6).map(spec).collect()).await;
        env.emu.control().finish_all(env.project.as_str());
        let before = env.emu.control().request_count();
        let all: Vec<_> = env
            .provider
            .deliveries(&env.project, DeliveryQuery::since_last_call("w"))
            .try_collect()
            .await
            .unwrap();
        let requests = env.emu.control().request_count() - before;
        assert_eq!(all.len(), 6, "window {window}");
        // Keyset order: (update time, uuid).
        let keys: Vec<_> = all
            .iter()
            .map(|d| (d.updated_at, d.task_id.clone()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "window {window}");
        let mut ids: Vec<_> = all.iter().map(|d| d.task_id.clone()).collect();
        ids.sort();
        let mut want = r.task_ids.clone();
        want.sort();
        assert_eq!(ids, want);
        assert!(all.iter().all(|d| d.answers.is_object()));
        if window == 2 {
            assert!(
                requests >= 7,
                "one read per label past the window: {requests}"
            );
        } else {
            assert!(requests <= 3, "two listings within the window: {requests}");
        }
        // Commit half way: the rest comes next time.
        env.provider
            .commit_consumer(&env.project, "w", all[2].checkpoint.as_ref().unwrap())
            .await
            .unwrap();
        let rest: Vec<_> = env
            .provider
            .deliveries(&env.project, DeliveryQuery::since_last_call("w"))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            rest.iter().map(|d| d.task_id.clone()).collect::<Vec<_>>(),
            all[3..]
                .iter()
                .map(|d| d.task_id.clone())
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_key_repeated_in_the_stream_is_one_sample_counted_once() {
    let env = env_with(SegmentsOptions::default()).await;
    let r = create(&env, "dup", vec![spec(0), spec(1), spec(0)]).await;
    assert_eq!(r.submitted, 3);
    assert_eq!(r.created, 2);
    assert_eq!(r.task_ids.len(), 2);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
}
