//! The native client against the in-process Labelbox emulator.

use futures::{stream, StreamExt, TryStreamExt};
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::ErrorKind;
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use labelmux_labelbox::client::{BatchRows, CreateBatchOptions, DataRowFilter, DataRowIdentifiers};
use labelmux_labelbox::{
    DataRowSpec, ExportFilters, ExportParams, LabelVersionsQuery, LabelboxClient, MediaType,
    NewProject, OverviewScope, PollSettings, ProjectUpdate, QueueType, UploadLimits, WebhookScope,
    WebhookStatus, WebhookTopic, WebhookUpdate,
};
use serde_json::json;

async fn setup() -> (RunningEmulator, LabelboxClient) {
    let emu = start(EmulatorConfig::new(Vendor::Labelbox)).await.unwrap();
    let client = LabelboxClient::new(
        &emu.root_url(),
        SecretString::from(emu.api_key()),
        TransportConfig::fast_for_tests(),
    )
    .unwrap()
    .with_poll_settings(PollSettings::fast_for_tests());
    (emu, client)
}

async fn control(emu: &RunningEmulator, path: &str, body: serde_json::Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}/_labelbox/{path}", emu.root_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

/// A project with an ontology, a dataset, and `n` uploaded rows keyed `<prefix>-<i>`.
async fn project_with_rows(
    client: &LabelboxClient,
    prefix: &str,
    n: usize,
) -> (String, String, Vec<String>) {
    let project = client
        .create_project(&NewProject::new(
            format!("{prefix} project"),
            MediaType::Image,
        ))
        .await
        .unwrap();
    let ontology = client
        .create_ontology(
            &format!("{prefix} ontology"),
            &json!({"tools": [{"tool": "rectangle", "name": "car"}], "classifications": []}),
            Some(&MediaType::Image),
        )
        .await
        .unwrap();
    client
        .connect_ontology(&project.id, &ontology.id)
        .await
        .unwrap();
    let dataset = client
        .create_dataset(&format!("{prefix} data"), None)
        .await
        .unwrap();
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let specs = keys
        .iter()
        .map(|k| {
            Ok(DataRowSpec::create(
                format!("https://example.com/{k}.jpg"),
                Some(k.clone()),
            ))
        })
        .collect::<Vec<_>>();
    let report = client
        .upsert_data_rows(&dataset.id, stream::iter(specs), UploadLimits::default())
        .await
        .unwrap();
    assert_eq!(report.created.len(), n, "{:?}", report.failed);
    (project.id, dataset.id, keys)
}

#[tokio::test]
async fn identity_and_a_bad_key() {
    let (emu, client) = setup().await;
    let user = client.current_user().await.unwrap();
    assert!(!user.id.is_empty());
    assert_eq!(client.user_id().await.unwrap(), user.id);
    let org = client.organization().await.unwrap();
    assert!(!org.id.is_empty());

    let bad = LabelboxClient::new(
        &emu.root_url(),
        SecretString::from("wrong-key"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    let e = bad.current_user().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(!e.to_string().contains("wrong-key"), "{e}");
    // The configured base URL of the core (`…/graphql`) works as well as the root.
    let via_graphql = LabelboxClient::new(
        &format!("{}/graphql", emu.root_url()),
        SecretString::from(emu.api_key()),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    assert_eq!(via_graphql.current_user().await.unwrap().id, user.id);
}

#[tokio::test]
async fn projects_are_created_listed_updated_and_deleted() {
    let (_emu, client) = setup().await;
    let mut new = NewProject::new("P one", MediaType::Image);
    new.description = Some("first".into());
    let p = client.create_project(&new).await.unwrap();
    assert_eq!(p.name.as_deref(), Some("P one"));
    assert_eq!(p.allowed_media_type, Some(MediaType::Image));
    assert_eq!(client.get_project(&p.id).await.unwrap().id, p.id);

    let all: Vec<_> = client.list_projects().try_collect().await.unwrap();
    assert!(all.iter().any(|x| x.id == p.id));
    let named: Vec<_> = client.projects_named("P one").try_collect().await.unwrap();
    assert_eq!(named.len(), 1);

    let updated = client
        .update_project(
            &p.id,
            &ProjectUpdate {
                name: Some("P renamed".into()),
                description: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("P renamed"));
    assert_eq!(updated.description.as_deref(), Some("first"));

    client.delete_project(&p.id).await.unwrap();
    let all: Vec<_> = client.list_projects().try_collect().await.unwrap();
    assert!(!all.iter().any(|x| x.id == p.id));

    let e = client.get_project("invalid project ID").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = client
        .create_project(&NewProject::new("  ", MediaType::Image))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn more_projects_than_one_page_are_all_listed() {
    let (_emu, client) = setup().await;
    let before = client
        .list_projects()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len();
    for i in 0..105 {
        client
            .create_project(&NewProject::new(format!("many {i}"), MediaType::Text))
            .await
            .unwrap();
    }
    let all: Vec<_> = client.list_projects().try_collect().await.unwrap();
    assert_eq!(all.len(), before + 105);
    let mut ids: Vec<_> = all.iter().map(|p| p.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "no project twice across pages");
}

#[tokio::test]
async fn ontologies_connect_by_the_sdk_sequence() {
    let (_emu, client) = setup().await;
    let project = client
        .create_project(&NewProject::new("O", MediaType::Image))
        .await
        .unwrap();
    assert!(client
        .project_ontology(&project.id)
        .await
        .unwrap()
        .is_none());
    assert!(client
        .project_labeling_frontend(&project.id)
        .await
        .unwrap()
        .is_none());
    let normalized =
        json!({"tools": [{"tool": "rectangle", "name": "car"}], "classifications": []});
    let ontology = client
        .create_ontology("cars", &normalized, Some(&MediaType::Image))
        .await
        .unwrap();
    client
        .connect_ontology(&project.id, &ontology.id)
        .await
        .unwrap();
    let connected = client.project_ontology(&project.id).await.unwrap().unwrap();
    assert_eq!(connected.id, ontology.id);
    let tools = &connected.normalized.unwrap()["tools"];
    assert_eq!(tools[0]["name"], "car");
    let editor = client
        .project_labeling_frontend(&project.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(editor.name.as_deref(), Some("Editor"));

    let video = client
        .create_ontology("clips", &normalized, Some(&MediaType::Video))
        .await
        .unwrap();
    let e = client
        .connect_ontology(&project.id, &video.id)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
}

#[tokio::test]
async fn datasets_are_created_listed_and_deleted() {
    let (_emu, client) = setup().await;
    let d = client.create_dataset("D", Some("desc")).await.unwrap();
    assert_eq!(d.row_count, Some(0));
    assert_eq!(
        client.get_dataset(&d.id).await.unwrap().name.as_deref(),
        Some("D")
    );
    let all: Vec<_> = client.list_datasets().try_collect().await.unwrap();
    assert!(all.iter().any(|x| x.id == d.id));
    client.delete_dataset(&d.id).await.unwrap();
    let all: Vec<_> = client.list_datasets().try_collect().await.unwrap();
    assert!(!all.iter().any(|x| x.id == d.id));
}

#[tokio::test]
async fn uploads_split_into_chunks_and_jobs_and_report_refused_rows() {
    let (_emu, client) = setup().await;
    let d = client.create_dataset("rows", None).await.unwrap();
    let mut specs: Vec<DataRowSpec> = (0..5)
        .map(|i| {
            DataRowSpec::create(
                format!("https://example.com/{i}.jpg"),
                Some(format!("gk-{i}")),
            )
        })
        .collect();
    // The same key twice in one job: one row, one refusal.
    specs.push(DataRowSpec::create(
        "https://example.com/dup.jpg",
        Some("gk-0".into()),
    ));
    let limits = UploadLimits {
        max_chunk_bytes: 250,
        max_rows_per_task: 3,
        parallel_uploads: 2,
    };
    let report = client
        .upsert_data_rows(&d.id, stream::iter(specs.into_iter().map(Ok)), limits)
        .await
        .unwrap();
    assert_eq!(report.submitted, 6);
    assert_eq!(report.tasks.len(), 2, "two jobs of at most 3 rows");
    assert_eq!(report.created.len(), 5);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        report.failed[0].message.as_deref(),
        Some("Duplicate global key: 'gk-0'")
    );
    assert_eq!(
        report.failed[0].spec.row_data.as_deref(),
        Some("https://example.com/dup.jpg")
    );

    let rows: Vec<_> = client
        .dataset_data_rows(&d.id, DataRowFilter::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    let only: Vec<_> = client
        .dataset_data_rows(
            &d.id,
            DataRowFilter {
                global_key: Some("gk-3".into()),
                ..DataRowFilter::default()
            },
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(only.len(), 1);

    let keys = vec!["gk-1".to_owned(), "nope".to_owned(), "gk-4".to_owned()];
    let res = client.data_row_ids_for_global_keys(&keys).await.unwrap();
    assert_eq!(res.rows.len(), 3);
    assert!(res.rows[0].1.is_some());
    assert_eq!(res.rows[1], ("nope".to_owned(), None));
    assert_eq!(res.not_found, vec!["nope".to_owned()]);
    let row = client
        .get_data_row(res.rows[2].1.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(row.global_key.as_deref(), Some("gk-4"));
    assert!(client.data_rows_processed(&keys).await.unwrap());
    assert!(!client.metadata_ontology().await.unwrap().is_empty());

    // Upsert by global key updates the row in place.
    let mut payload = serde_json::Map::new();
    payload.insert("external_id".into(), json!("renamed"));
    let report = client
        .upsert_data_rows(
            &d.id,
            stream::iter([Ok(DataRowSpec::upsert_by_global_key("gk-4", payload))]),
            UploadLimits::default(),
        )
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let row = client.get_data_row(&row.id).await.unwrap();
    assert_eq!(row.external_id.as_deref(), Some("renamed"));
}

#[tokio::test]
async fn batches_below_and_above_a_thousand_rows() {
    let (_emu, client) = setup().await;
    let (project, _dataset, keys) = project_with_rows(&client, "b", 1_003).await;
    let small = BatchRows::GlobalKeys(keys[..2].to_vec());
    let created = client
        .create_batch(&project, "small", &small, &CreateBatchOptions::default())
        .await
        .unwrap();
    assert_eq!(created.batch.size, Some(2));
    assert!(created.failed_data_row_ids.is_empty());

    // Same name again: a conflict.
    let e = client
        .create_batch(
            &project,
            "small",
            &BatchRows::GlobalKeys(keys[2..3].to_vec()),
            &CreateBatchOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Duplicate, "{e}");
    // Rows already in the project: nothing can be added.
    let e = client
        .create_batch(&project, "again", &small, &CreateBatchOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    assert!(
        e.vendor_code()
            .unwrap_or("")
            .contains("MalformedQueryException"),
        "{e}"
    );

    // 1,001 rows: empty batch + add-rows Task.
    let big = BatchRows::GlobalKeys(keys[2..].to_vec());
    let created = client
        .create_batch(&project, "big", &big, &CreateBatchOptions::default())
        .await
        .unwrap();
    assert_eq!(created.batch.size, Some(1_001));
    assert_eq!(created.batch.name.as_deref(), Some("big"));

    let batches: Vec<_> = client.list_batches(&project).try_collect().await.unwrap();
    assert_eq!(batches.len(), 2);
    let got = client.get_batch(&project, &created.batch.id).await.unwrap();
    assert_eq!(got.size, Some(1_001));

    let overview = client
        .project_overview(&project, &OverviewScope::Project)
        .await
        .unwrap();
    assert_eq!(overview.count("All"), 1_003);
    assert_eq!(overview.count("Unlabeled"), 1_003);
    let scoped = client
        .project_overview(
            &project,
            &OverviewScope::Batches(vec![created.batch.id.clone()]),
        )
        .await
        .unwrap();
    assert_eq!(scoped.count("All"), 1_001);

    client
        .archive_batch(&project, &created.batch.id)
        .await
        .unwrap();
    let after = client
        .project_overview(&project, &OverviewScope::Project)
        .await
        .unwrap();
    assert_eq!(after.count("Unlabeled"), 2);
    let deleted = client
        .delete_batch(&project, &created.batch.id)
        .await
        .unwrap();
    assert_eq!(deleted, created.batch.id);
    let batches: Vec<_> = client.list_batches(&project).try_collect().await.unwrap();
    assert_eq!(batches.len(), 1);
}

#[tokio::test]
async fn queues_moves_exports_and_label_versions() {
    let (emu, client) = setup().await;
    let (project, _dataset, keys) = project_with_rows(&client, "q", 3).await;
    client
        .create_batch(
            &project,
            "b1",
            &BatchRows::GlobalKeys(keys.clone()),
            &CreateBatchOptions::default(),
        )
        .await
        .unwrap();
    let queues = client.task_queues(&project).await.unwrap();
    assert_eq!(queues.len(), 3);
    let start = chrono::Utc::now() - chrono::TimeDelta::seconds(5);

    // Labelers finish everything.
    assert_eq!(emu.control().finish_all(&project), 3);
    let lines: Vec<_> = client
        .export_project(&project, ExportFilters::default(), ExportParams::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        let p = &line.projects[&project];
        assert!(!p.labels.is_empty(), "{}", line.raw);
        assert!(p.labels[0].label_details.updated_at.is_some());
        assert_eq!(p.project_details.batch_name.as_deref(), Some("b1"));
    }
    let filtered: Vec<_> = client
        .export_project(
            &project,
            ExportFilters {
                global_keys: vec![keys[1].clone()],
                last_activity_at: Some(labelmux_labelbox::TimeRange::since(start)),
                ..ExportFilters::default()
            },
            ExportParams::default(),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(
        filtered[0].data_row.global_key.as_deref(),
        Some(keys[1].as_str())
    );
    // A filter matching nothing: an empty stream, not an error.
    let none: Vec<_> = client
        .export_project(
            &project,
            ExportFilters {
                last_activity_at: Some(labelmux_labelbox::TimeRange::since(
                    chrono::Utc::now() + chrono::TimeDelta::days(1),
                )),
                ..ExportFilters::default()
            },
            ExportParams::default(),
        )
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());

    let versions: Vec<_> = client
        .label_versions(LabelVersionsQuery {
            project_id: project.clone(),
            created_after: Some(start),
            ..LabelVersionsQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert!(versions.len() >= 3, "{versions:?}");
    let one = client.label_version(&versions[0].id).await.unwrap();
    assert_eq!(one.label_id, versions[0].label_id);

    // Send one row back for rework.
    let rework = client
        .task_queue_of_type(&project, &QueueType::ManualRework)
        .await
        .unwrap();
    client
        .move_data_rows_to_queue(
            &project,
            Some(&rework.id),
            &DataRowIdentifiers::GlobalKeys(vec![keys[0].clone()]),
        )
        .await
        .unwrap();
    let overview = client
        .project_overview(&project, &OverviewScope::Project)
        .await
        .unwrap();
    assert_eq!(overview.count("InRework"), 1, "{:?}", overview.states);
    client
        .update_queue_priority(
            &project,
            1,
            Some(&DataRowIdentifiers::GlobalKeys(vec![keys[0].clone()])),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn webhooks_are_created_listed_updated_and_deleted() {
    let (_emu, client) = setup().await;
    let project = client
        .create_project(&NewProject::new("W", MediaType::Image))
        .await
        .unwrap();
    let scope = WebhookScope::Project(project.id.clone());
    let hook = client
        .create_webhook(
            &scope,
            &[WebhookTopic::LabelCreated, WebhookTopic::WorkflowAction],
            "http://127.0.0.1:9/hook",
            "s3cr3t",
        )
        .await
        .unwrap();
    assert_eq!(hook.status, Some(WebhookStatus::Active));
    assert_eq!(hook.topics.len(), 2);
    let listed: Vec<_> = client.list_webhooks(&scope).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    let org: Vec<_> = client
        .list_webhooks(&WebhookScope::Organization)
        .try_collect()
        .await
        .unwrap();
    assert!(org.iter().any(|w| w.id == hook.id) || org.is_empty());
    let updated = client
        .update_webhook(
            &hook.id,
            &WebhookUpdate {
                url: Some("http://127.0.0.1:9/other".into()),
                topics: Some(vec![WebhookTopic::LabelUpdated]),
                status: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.url.as_deref(), Some("http://127.0.0.1:9/other"));
    assert_eq!(updated.topics, vec![WebhookTopic::LabelUpdated]);
    let deleted = client.delete_webhook(&hook.id).await.unwrap();
    assert_eq!(deleted.status, Some(WebhookStatus::Inactive));
}

#[tokio::test]
async fn errors_inside_200_answers_are_classified_and_temporary_ones_retried() {
    let (emu, client) = setup().await;
    // Usage limit disguised as INTERNAL_SERVER_ERROR/426: not retried, Forbidden.
    control(
        &emu,
        "graphql-faults",
        json!({"code": "INTERNAL_SERVER_ERROR", "status": 426, "message": "LBU limit exceeded, upgrade to continue", "count": 1}),
    )
    .await;
    let e = client.organization().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
    assert!(e.to_string().contains("LBU limit"), "{e}");
    // A temporary one (status 503 inside a 200): the query is resent and succeeds.
    control(
        &emu,
        "graphql-faults",
        json!({"code": "INTERNAL_SERVER_ERROR", "status": 503, "message": "busy", "count": 2}),
    )
    .await;
    client.organization().await.unwrap();
    // A mutation is not resent after a failure that may have been acted on.
    control(
        &emu,
        "graphql-faults",
        json!({"code": "INTERNAL_SERVER_ERROR", "status": 503, "message": "busy", "count": 1}),
    )
    .await;
    let e = client.create_dataset("once", None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ServiceUnavailable, "{e}");
    let e = client.get_data_row("cl-no-such-row").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn a_batch_creation_that_may_have_failed_midway_is_looked_up_then_sent_again() {
    let (emu, client) = setup().await;
    let (project, _dataset, keys) = project_with_rows(&client, "r", 2).await;
    // The next GraphQL request fails temporarily inside a 200: for a mutation that may have
    // been acted on, so the transport does not resend it.
    control(
        &emu,
        "graphql-faults",
        json!({"code": "INTERNAL_SERVER_ERROR", "status": 503, "message": "busy", "count": 1}),
    )
    .await;
    let options = CreateBatchOptions {
        wait_until_processed: false,
        ..CreateBatchOptions::default()
    };
    let created = client
        .create_batch(&project, "once", &BatchRows::GlobalKeys(keys), &options)
        .await
        .unwrap();
    assert_eq!(created.batch.size, Some(2));
    let batches: Vec<_> = client.list_batches(&project).try_collect().await.unwrap();
    assert_eq!(batches.len(), 1, "one batch, not two");
}

#[tokio::test]
async fn an_export_over_several_chunks_streams_every_line_once() {
    let (_emu, client) = setup().await;
    let (project, _dataset, keys) = project_with_rows(&client, "x", 3_000).await;
    client
        .create_batch(
            &project,
            "all",
            &BatchRows::GlobalKeys(keys.clone()),
            &CreateBatchOptions::default(),
        )
        .await
        .unwrap();
    let task = client
        .create_project_export(
            &project,
            &ExportFilters::default(),
            &ExportParams::default(),
            Some("big"),
        )
        .await
        .unwrap();
    client.wait_for_export(&task).await.unwrap();
    let header = client
        .export_header(&task, labelmux_labelbox::ExportStream::Result)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header.total_lines, 3_000);
    assert!(
        header.total_size > 1 << 20,
        "more than one 1 MiB chunk: {header:?}"
    );
    let lines: Vec<serde_json::Value> = client
        .export_lines(&task, labelmux_labelbox::ExportStream::Result)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(lines.len(), 3_000);
    let mut seen: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["data_row"]["global_key"].as_str())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 3_000);
    // No error stream on a successful export.
    let errors = client
        .export_header(&task, labelmux_labelbox::ExportStream::Errors)
        .await
        .unwrap();
    assert!(errors.is_none_or(|h| h.total_size == 0));
}

#[tokio::test]
async fn an_unused_ontology_is_deleted_over_rest() {
    let (_emu, client) = setup().await;
    let o = client
        .create_ontology("unused", &json!({"tools": [], "classifications": []}), None)
        .await
        .unwrap();
    client.delete_ontology(&o.id).await.unwrap();
    let e = client.get_ontology(&o.id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn the_provider_receipt_names_every_refused_task_and_why() {
    use labelmux_core::{BatchSpec, Provider, TaskSpec};
    let (emu, client) = setup().await;
    let cursors = tempfile::tempdir().unwrap();
    let provider = labelmux_labelbox::LabelboxProvider::new(
        client,
        labelmux_core::cursor::FileCursorStore::new(cursors.path()),
    );
    let project = labelmux_core::ProjectId::new(emu.projects()[0].clone());
    let task = |url: &str| TaskSpec::from_json(json!({"row_data": url})).unwrap();
    let tasks = vec![
        task("https://x/1.jpg").with_external_key("k1"),
        task("https://x/2.jpg").with_external_key("k1"),
        TaskSpec::from_json(json!({"external_id": "no asset"}))
            .unwrap()
            .with_external_key("k3"),
        task("https://x/4.jpg"),
    ];
    let receipt = provider
        .create_batch(
            &project,
            BatchSpec::default().with_name("receipt"),
            stream::iter(tasks.into_iter().map(Ok)).boxed(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(receipt.submitted, 4);
    assert_eq!(receipt.created, 2, "{receipt:?}");
    let mut refused: Vec<(Option<u64>, String)> = receipt
        .failures
        .iter()
        .map(|f| (f.index, f.errors.join(" ")))
        .collect();
    refused.sort();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, Some(1));
    assert!(refused[0].1.contains("more than one task"), "{refused:?}");
    assert_eq!(refused[1].0, Some(2));
    assert!(refused[1].1.contains("no row_data"), "{refused:?}");
    assert_eq!(receipt.generated_keys, vec![(3, "receipt-3".to_owned())]);
    let t = provider
        .get_task(&project, &labelmux_core::TaskId::new("receipt-3"))
        .await
        .unwrap();
    assert_eq!(t.batch_id, Some(receipt.batch_id.clone()));
}
