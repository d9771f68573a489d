//! `ScaleProvider` and `ScaleClient` end to end against the Scale emulator.

use futures::stream::{self, StreamExt, TryStreamExt};
use labelmux_core::cursor::FileCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{
    BatchSpec, BatchStatus, Delivery, DeliveryQuery, Error, ErrorKind, ProjectId, Provider,
    TaskFilter, TaskSpec, TaskState,
};
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use labelmux_scale::{CreateProjectRequest, ScaleClient, ScaleOptions, ScaleProvider, TasksQuery};
use serde_json::json;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

struct Env {
    emu: RunningEmulator,
    scale: ScaleProvider,
    project: ProjectId,
    _dir: tempfile::TempDir,
}

async fn env_with(options: ScaleOptions) -> Env {
    let emu = start(EmulatorConfig::new(Vendor::Scale)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = ScaleClient::new(
        &emu.base_url(),
        SecretString::from(emu.api_key()),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    let scale = ScaleProvider::with_options(client, FileCursorStore::new(dir.path()), options);
    Env {
        project: ProjectId::new(emu.projects()[0].clone()),
        emu,
        scale,
        _dir: dir,
    }
}

async fn env() -> Env {
    env_with(ScaleOptions::default()).await
}

fn spec(i: usize) -> TaskSpec {
    TaskSpec::new(
        json!({"attachment": format!("https://img.example/{i}.jpg"), "attachment_type": "image"})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .with_external_key(format!("key-{i:04}"))
}

fn batch(name: &str) -> BatchSpec {
    BatchSpec::default().with_name(name)
}

async fn create(e: &Env, name: &str, specs: Vec<TaskSpec>) -> labelmux_core::BatchReceipt {
    e.scale
        .create_batch(
            &e.project,
            batch(name),
            stream::iter(specs.into_iter().map(Ok)).boxed(),
            None,
        )
        .await
        .unwrap()
}

async fn pull(e: &Env, consumer: &str, commit_upto: Option<usize>) -> Vec<Delivery> {
    let ds: Vec<Delivery> = e
        .scale
        .deliveries(&e.project, DeliveryQuery::since_last_call(consumer))
        .try_collect()
        .await
        .unwrap();
    let n = commit_upto.unwrap_or(ds.len()).min(ds.len());
    if n > 0 {
        let cp = ds[n - 1].checkpoint.clone().expect("checkpoint");
        e.scale
            .commit_consumer(&e.project, consumer, &cp)
            .await
            .unwrap();
    }
    ds
}

#[tokio::test]
async fn a_batch_of_500_with_a_repeated_key_lists_delivers_rejects_and_deletes() {
    let e = env().await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    // 500 specs, the last repeats the key of the first.
    let mut specs: Vec<TaskSpec> = (0..499).map(spec).collect();
    specs.push(spec(0));
    let r = create(&e, "big", specs).await;
    assert_eq!(r.submitted, 500);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(
        r.created, 499,
        "the repeated key maps onto the existing task"
    );
    assert_eq!(r.task_ids.len(), 499);
    assert_eq!(e.emu.control().task_count(e.project.as_str()), 499);

    let status = e.scale.batch_status(&e.project, &r.batch_id).await.unwrap();
    assert_eq!(status.status, BatchStatus::Created);
    assert_eq!((status.counts.created, status.counts.failed), (499, 0));
    let labeling = status.labeling.expect("Scale reports labeling progress");
    assert_eq!(labeling.count(&labelmux_core::TaskState::New), 499);

    // Listing crosses pages of 100.
    let listed: Vec<_> = e
        .scale
        .list_tasks(
            &e.project,
            TaskFilter::default().with_batch(r.batch_id.clone()),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 499);
    let keys: BTreeSet<_> = listed
        .iter()
        .filter_map(|t| t.external_key.clone())
        .collect();
    assert_eq!(keys.len(), 499);
    assert!(listed.iter().all(|t| t.state == TaskState::New));
    let count = e
        .scale
        .client()
        .get_tasks_count(&TasksQuery {
            batch: Some("big".into()),
            ..TasksQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(count, 499);

    // Nothing delivered until the workforce completes.
    assert!(pull(&e, "etl", None).await.is_empty());
    assert_eq!(e.emu.control().deliver_all(e.project.as_str()), 499);
    let since: Vec<Delivery> = e
        .scale
        .deliveries(&e.project, DeliveryQuery::since(before))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(since.len(), 499);
    let ids: HashSet<_> = since.iter().map(|d| d.task_id.clone()).collect();
    assert_eq!(ids.len(), 499, "each task once");
    assert!(since
        .iter()
        .all(|d| !d.answers.is_null() && d.checkpoint.is_none()));

    let first = pull(&e, "etl", None).await;
    assert_eq!(first.len(), 499);
    assert!(
        pull(&e, "etl", None).await.is_empty(),
        "committed: nothing new"
    );

    // Reject one: it is back in rework, then delivered again once.
    let target = first[10].task_id.clone();
    e.scale
        .reject_task(
            &e.project,
            &target,
            &["wrong box".into(), "missed a car".into()],
        )
        .await
        .unwrap();
    let t = e.scale.get_task(&e.project, &target).await.unwrap();
    assert_eq!(t.state, TaskState::Rejected);
    assert_eq!(
        t.raw.to_value()["customer_review_comments"],
        json!(["wrong box\nmissed a car"])
    );
    assert!(
        pull(&e, "etl", None).await.is_empty(),
        "a rejected task is not a delivery"
    );
    assert_eq!(e.emu.control().finish_all(e.project.as_str()), 1);
    let again = pull(&e, "etl", None).await;
    assert_eq!(
        again.iter().map(|d| &d.task_id).collect::<Vec<_>>(),
        [&target]
    );

    // Delete: only pending tasks are canceled; completed ones are refused with a reason.
    let fresh = create(&e, "fresh", (1000..1003).map(spec).collect()).await;
    let mut request = fresh.task_ids.clone();
    request.push(target.clone());
    let report = e.scale.delete_tasks(&e.project, &request).await.unwrap();
    assert_eq!(report.deleted, fresh.task_ids);
    assert_eq!(report.refused.len(), 1);
    assert!(
        report.refused[0].1.contains("completed"),
        "{:?}",
        report.refused
    );
    let gone = e
        .scale
        .get_task(&e.project, &fresh.task_ids[0])
        .await
        .unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    // The key was freed: resubmitting it creates a new task.
    let re = create(&e, "fresh-again", vec![spec(1000)]).await;
    assert_eq!(re.created, 1);
    assert_ne!(re.task_ids[0], fresh.task_ids[0]);
    let canceled: Vec<_> = e
        .scale
        .list_tasks(
            &e.project,
            TaskFilter::default().with_state(TaskState::Canceled),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(canceled.len(), 3);
}

#[tokio::test]
async fn not_found_and_unauthorized() {
    let e = env().await;
    let err = e
        .scale
        .get_task(&e.project, &"ffffffffffffffffffffffff".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("scale: get_task: not found (HTTP 404)"),
        "{err}"
    );
    let err = e.scale.project(&ProjectId::new("nope")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let bad = ScaleClient::new(
        &e.emu.base_url(),
        SecretString::from("wrong-key-xyz"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    let err = bad.get_project("demo").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.vendor_code(), Some("ScaleUnauthorized"));
    assert!(!format!("{err} {err:?}").contains("wrong-key-xyz"));
}

#[tokio::test]
async fn a_crash_before_commit_redelivers_and_ties_are_not_skipped() {
    let e = env().await;
    create(&e, "ties", (0..30).map(spec).collect()).await;
    // One completion call: every task gets the same completion instant (a 30-way tie).
    e.emu.control().complete_all(e.project.as_str());
    let all = pull(&e, "c", Some(0)).await; // read, commit nothing: a crash
    assert_eq!(all.len(), 30);
    let again = pull(&e, "c", Some(12)).await; // commit after the 12th only
    assert_eq!(
        again.iter().map(|d| &d.task_id).collect::<Vec<_>>(),
        all.iter().map(|d| &d.task_id).collect::<Vec<_>>(),
        "uncommitted deliveries come again, in the same order"
    );
    let rest = pull(&e, "c", None).await;
    assert_eq!(
        rest.iter().map(|d| &d.task_id).collect::<Vec<_>>(),
        all[12..].iter().map(|d| &d.task_id).collect::<Vec<_>>(),
        "the rest of the tie, nothing skipped, nothing repeated"
    );
    assert!(pull(&e, "c", None).await.is_empty());
    // Another consumer, and a batch-filtered reader of the same name, are independent.
    assert_eq!(pull(&e, "d", None).await.len(), 30);
    let filtered: Vec<Delivery> = e
        .scale
        .deliveries(
            &e.project,
            DeliveryQuery::since_last_call("c").batch("ties"),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(filtered.len(), 30);
}

#[tokio::test]
async fn deliveries_larger_than_the_window_are_split_and_stay_ordered() {
    let e = env_with(ScaleOptions {
        delivery_window: 25,
        ..ScaleOptions::default()
    })
    .await;
    // Four rounds completed at different instants, 30 tasks each: every window must be split.
    for round in 0..4 {
        create(
            &e,
            &format!("round-{round}"),
            (round * 30..round * 30 + 30).map(spec).collect(),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        e.emu.control().complete_all(e.project.as_str());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let requests = e.emu.control().request_count();
    let ds = pull(&e, "w", None).await;
    assert_eq!(ds.len(), 120);
    let used = e.emu.control().request_count() - requests;
    // One open window would take 1 count + 2 pages; splitting takes more.
    assert!(used > 4, "the range was not split: {used} requests");
    let keys: Vec<(chrono::DateTime<chrono::Utc>, String)> = ds
        .iter()
        .map(|d| (d.delivered_at.unwrap(), d.task_id.to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by (completed_at, task_id)");
    assert_eq!(keys.iter().map(|k| &k.1).collect::<HashSet<_>>().len(), 120);
    assert!(pull(&e, "w", None).await.is_empty());
}

#[tokio::test]
async fn refused_and_errored_tasks_are_reported_never_dropped() {
    let e = env().await;
    let mut specs: Vec<TaskSpec> = (0..4).map(spec).collect();
    // No attachment: Scale refuses it (400).
    specs[1] = TaskSpec::new(json!({"instruction": "x"}).as_object().cloned().unwrap())
        .with_external_key("bad");
    // Accepted, then fails processing (status error).
    specs[3].inputs.insert(
        "attachment".into(),
        json!("https://x/scale-emulator-error.jpg"),
    );
    let r = create(&e, "mixed", specs).await;
    assert_eq!(r.submitted, 4);
    assert_eq!(r.failures.len(), 1);
    let f = &r.failures[0];
    assert_eq!((f.index, f.external_key.as_deref()), (Some(1), Some("bad")));
    assert!(f.errors[0].contains("attachment"), "{:?}", f.errors);
    assert_eq!(f.data.as_ref().unwrap()["unique_id"], json!("bad"));

    let b = e.scale.batch_status(&e.project, &r.batch_id).await.unwrap();
    assert_eq!(b.counts.failed, 2, "{:?}", b.counts);
    assert_eq!(b.counts.created, 2, "{:?}", b.counts);
    assert_eq!(b.failures.len(), 2);
    assert!(b
        .failures
        .iter()
        .any(|f| f.external_key.as_deref() == Some("bad")));
    assert!(b
        .failures
        .iter()
        .any(|f| f.errors[0].contains("could not be downloaded")));

    // A stream error stops the batch with a clear error and leaves it unfinalized.
    let items: Vec<labelmux_core::Result<TaskSpec>> = vec![
        Ok(spec(10)),
        Err(Error::validation("row 2 is not JSON")),
        Ok(spec(11)),
    ];
    let err = e
        .scale
        .create_batch(
            &e.project,
            batch("broken"),
            stream::iter(items).boxed(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(
        err.to_string().contains("row 2 is not JSON") && err.to_string().contains("broken"),
        "{err}"
    );
    let n = e
        .scale
        .client()
        .get_tasks_count(&TasksQuery {
            batch: Some("broken".into()),
            ..TasksQuery::default()
        })
        .await
        .unwrap();
    assert!(n <= 1, "nothing after the error is sent: {n}");
}

#[tokio::test]
async fn stats_project_and_unsupported_operations() {
    let e = env().await;
    let r = create(&e, "s", (0..6).map(spec).collect()).await;
    e.scale
        .delete_tasks(&e.project, &r.task_ids[..1])
        .await
        .unwrap();
    e.emu.control().complete_all(e.project.as_str());
    e.scale
        .reject_task(&e.project, &r.task_ids[1], &[])
        .await
        .unwrap();
    let s = e
        .scale
        .project_stats(&e.project, labelmux_core::StatsOptions::default())
        .await
        .unwrap();
    assert_eq!(s.tasks_by_state["completed"], 4);
    assert_eq!(s.tasks_by_state["rejected"], 1);
    assert_eq!(s.tasks_by_state["canceled"], 1);
    assert_eq!(s.tasks_by_state["new"], 0);
    let p = e.scale.project(&e.project).await.unwrap();
    assert_eq!(p.kind.as_deref(), Some("imageannotation"));
    for err in [
        e.scale
            .set_priority(&e.project, &r.task_ids, 1)
            .await
            .unwrap_err(),
        e.scale
            .cancel_batch(&e.project, &r.batch_id)
            .await
            .unwrap_err(),
        e.scale.task_schema(&e.project).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unsupported);
    }
}

#[tokio::test]
async fn native_client_calls_round_trip() {
    let e = env().await;
    let c = e.scale.client();
    let mut req = CreateProjectRequest::new("tc project/1", "textcollection");
    req.params = Some(
        json!({"instruction": "Write", "template_variables": {"a": 1}})
            .as_object()
            .cloned()
            .unwrap(),
    );
    c.create_project(&req).await.unwrap();
    let dup = c.create_project(&req).await.unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::Duplicate);
    let p = c
        .update_project(
            "tc project/1",
            &json!({"instruction": "Write more", "patch": true})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (p.version(), p.instruction()),
        (Some(1), Some("Write more"))
    );
    assert_eq!(c.projects().await.unwrap().len(), 2);
    let tpl = c.get_project_template("tc project/1").await.unwrap();
    assert_eq!(tpl.template_variables["a"], json!(1));
    assert_eq!(
        c.get_project_template("demo").await.unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );

    let body = json!({"project": "demo", "attachment": "a.jpg", "unique_id": "u&1+2 x"})
        .as_object()
        .cloned()
        .unwrap();
    let t = c.create_task("imageannotation", &body).await.unwrap();
    assert_eq!(
        c.create_task("imageannotation", &body)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Duplicate
    );
    let again = c
        .create_task_idempotent("imageannotation", &body)
        .await
        .unwrap();
    assert!(again.existed && again.task.task_id == t.task_id);
    assert_eq!(
        c.find_task_by_unique_id("u&1+2 x")
            .await
            .unwrap()
            .unwrap()
            .task_id,
        t.task_id
    );
    let tags = c
        .set_task_tags(&t.task_id, &["a".into(), "b".into()])
        .await
        .unwrap();
    assert_eq!(tags.tags, ["a", "b"]);
    let tags = c
        .add_task_tags(&t.task_id, &["b".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(tags.tags, ["a", "b", "c"]);
    let tags = c
        .delete_task_tags(&t.task_id, &["a".into(), "z".into()])
        .await
        .unwrap();
    assert_eq!(tags.tags, ["b", "c"]);
    let m = c
        .set_task_metadata(&t.task_id, &json!({"k": "v"}).as_object().cloned().unwrap())
        .await
        .unwrap();
    assert_eq!(m.metadata["k"], json!("v"));
    let u = c
        .update_task_unique_id(&t.task_id, "new-key")
        .await
        .unwrap();
    assert_eq!(u.unique_id.as_deref(), Some("new-key"));
    let cleared = c.clear_task_unique_id(&t.task_id).await.unwrap();
    assert_eq!(cleared.unique_id, None);
    assert!(cleared.raw.to_value().get("unique_id").is_none());
    let canceled = c.cancel_task(&t.task_id, false).await.unwrap();
    assert_eq!(canceled.status.as_deref(), Some("canceled"));
    assert_eq!(
        c.cancel_task(&t.task_id, false).await.unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );

    let b = c
        .create_batch(&labelmux_scale::CreateBatchRequest::new(
            "demo",
            "b/with slash",
        ))
        .await
        .unwrap();
    assert_eq!(b.status.as_deref(), Some("in_progress"));
    assert_eq!(
        c.finalize_batch("b/with slash").await.unwrap().name,
        "b/with slash"
    );
    let all: Vec<_> = c
        .get_batches(Default::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 1);

    let file = c
        .upload_file_bytes(
            "pic.png",
            b"\x89PNG..".to_vec(),
            &[
                ("project_name".into(), "demo".into()),
                ("reference_id".into(), "r1".into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        (file.mime_type.as_deref(), file.size),
        (Some("image/png"), Some(6))
    );
    assert!(file.attachment_url.unwrap().starts_with("scaledata://"));
    let imported = c
        .import_file(
            "https://x/doc.pdf",
            &json!({"project_name": "demo"})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(imported.mime_type.as_deref(), Some("application/pdf"));

    let team = c
        .invite_teammates(&["n@x.com".into()], labelmux_scale::TeammateRole::Member)
        .await
        .unwrap();
    assert_eq!(team.len(), 2);
    let team = c
        .update_teammates_role(&["n@x.com".into()], labelmux_scale::TeammateRole::Manager)
        .await
        .unwrap();
    assert!(team
        .iter()
        .any(|m| m.email == "n@x.com" && m.role.as_deref() == Some("manager")));
    let a = c
        .add_studio_assignments(&["n@x.com".into()], &["demo".into()])
        .await
        .unwrap();
    assert_eq!(a["n@x.com"], ["demo"]);
    let g = c
        .create_project_group("demo", &["n@x.com".into()], "g1")
        .await
        .unwrap();
    assert_eq!(g.num_workers, Some(1));
    let g = c
        .update_project_group("demo", "g1", &[], &["n@x.com".into()])
        .await
        .unwrap();
    assert_eq!(g.num_workers, Some(0));
    assert_eq!(c.list_project_groups("demo").await.unwrap().len(), 1);
    assert!(c.list_studio_batches().await.unwrap().is_empty());
}

#[tokio::test]
async fn completion_posts_a_callback_with_the_auth_header() {
    use axum::http::HeaderMap;
    type Calls = Arc<Mutex<Vec<(Option<String>, serde_json::Value)>>>;
    let got: Calls = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(
            move |headers: HeaderMap, body: axum::Json<serde_json::Value>| {
                let sink = sink.clone();
                async move {
                    let auth = headers
                        .get("scale-callback-auth")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    sink.lock().unwrap().push((auth, body.0));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let e = env_with(ScaleOptions {
        callback_url: Some(url),
        ..ScaleOptions::default()
    })
    .await;
    let r = create(&e, "cb", vec![spec(1)]).await;
    e.emu.control().complete_all(e.project.as_str());
    let mut waited = 0;
    while got.lock().unwrap().is_empty() && waited < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    let calls = got.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0.as_deref(), Some("emulator-callback-auth"));
    assert_eq!(calls[0].1["task_id"], json!(r.task_ids[0].as_str()));
    assert_eq!(calls[0].1["status"], json!("completed"));
    assert!(calls[0].1["response"].is_object());
    // The task records that its callback got through.
    for _ in 0..100 {
        let t = e
            .scale
            .client()
            .get_task(r.task_ids[0].as_str())
            .await
            .unwrap();
        if t.callback_succeeded == Some(true) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("callback_succeeded never became true");
}

#[tokio::test]
async fn keys_already_used_by_another_batch_are_reported_not_counted_as_created() {
    let e = env().await;
    let first = create(&e, "week-1", (0..3).map(spec).collect()).await;
    assert_eq!(first.created, 3);
    assert!(first.already_existed.is_empty());
    // The same three keys again, plus one new task, in another batch.
    let second = create(&e, "week-2", (0..4).map(spec).collect()).await;
    assert_eq!(second.submitted, 4);
    assert_eq!(second.created, 1, "only the new key is a task of week-2");
    assert!(second.failures.is_empty());
    let existed: Vec<_> = second
        .already_existed
        .iter()
        .map(|x| {
            (
                x.index,
                x.external_key.clone().unwrap(),
                x.batch_id.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        existed,
        (0..3)
            .map(|i| (i as u64, format!("key-{i:04}"), "week-1".into()))
            .collect::<Vec<_>>()
    );
    // Nothing was duplicated.
    let all: Vec<_> = e
        .scale
        .list_tasks(&e.project, TaskFilter::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    // Re-running week-2 (a resume) still counts its own task as created.
    let again = create(&e, "week-2", vec![spec(3)]).await;
    assert_eq!(again.created, 1);
    assert!(again.already_existed.is_empty());
}

#[tokio::test]
async fn emulated_reviewers_send_completed_work_back_for_rework() {
    let e = env().await;
    let receipt = create(&e, "review", (0..3).map(spec).collect()).await;
    let control = e.emu.control();
    let project = e.project.as_str();
    let first = receipt.task_ids[0].as_str();
    // A pending task cannot be sent back.
    let err = control.reject(project, Some(first), &[]).unwrap_err();
    assert!(err.contains("pending"), "{err}");
    assert_eq!(control.finish_all(project), 3);
    assert_eq!(
        control.reject(project, Some(first), &["blurry".into()]),
        Ok(1)
    );
    let task = e
        .scale
        .get_task(&e.project, &receipt.task_ids[0])
        .await
        .unwrap();
    assert_eq!(task.state, TaskState::Rejected);
    // Without a task: every other completed task; the rejected one is not counted twice.
    assert_eq!(control.reject(project, None, &[]), Ok(2));
    assert_eq!(control.finish_all(project), 3, "all three are reworked");
    let again = e
        .scale
        .get_task(&e.project, &receipt.task_ids[0])
        .await
        .unwrap();
    assert_eq!(again.state, TaskState::Completed);
}

#[tokio::test]
async fn task_pages_seek_to_their_token_and_keep_the_first_pages_total() {
    let e = env().await;
    create(&e, "paged", (0..250).map(spec).collect()).await;
    create(&e, "other", (250..260).map(spec).collect()).await;
    let client = e.scale.client();
    let mut seen = Vec::new();
    let mut totals = Vec::new();
    let mut token = None;
    for batch in [None, Some("paged")] {
        loop {
            let page = client
                .tasks(&TasksQuery {
                    project: Some(e.project.as_str().to_owned()),
                    batch: batch.map(str::to_owned),
                    limit: Some(100),
                    next_token: token.clone(),
                    ..TasksQuery::default()
                })
                .await
                .unwrap();
            totals.push(page.total);
            seen.extend(page.docs.iter().map(|t| t.task_id.clone()));
            token = page.next_token;
            if !page.has_more {
                break;
            }
        }
        let expected = if batch.is_some() { 250 } else { 260 };
        assert_eq!(seen.len(), expected);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), expected);
        assert!(totals.iter().all(|&t| t == expected as u64), "{totals:?}");
        seen.clear();
        totals.clear();
    }
    // A page is found from its token alone: the total travels in it and is not recounted.
    let first = client
        .tasks(&TasksQuery {
            project: Some(e.project.as_str().to_owned()),
            limit: Some(100),
            ..TasksQuery::default()
        })
        .await
        .unwrap();
    let token = first.next_token.unwrap();
    let (index, total) = token
        .strip_prefix("nt_")
        .and_then(|t| t.split_once('_'))
        .unwrap();
    assert_eq!(usize::from_str_radix(total, 16).unwrap(), 260);
    let page = client
        .tasks(&TasksQuery {
            project: Some(e.project.as_str().to_owned()),
            limit: Some(100),
            next_token: Some(format!("nt_{index}_7")),
            ..TasksQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 7);
    assert_eq!(page.docs[0].task_id, seen_first_of_second_page(&e).await);
}

async fn seen_first_of_second_page(e: &Env) -> String {
    let all: Vec<_> = e
        .scale
        .client()
        .get_tasks(TasksQuery::project(e.project.as_str()))
        .try_collect()
        .await
        .unwrap();
    all[100].task_id.clone()
}
