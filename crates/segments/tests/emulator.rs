//! `SegmentsClient` end to end against the in-process Segments.ai emulator.

use bytes::Bytes;
use futures::TryStreamExt;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::ErrorKind;
use labelmux_emulator::{start, EmulatorConfig, FaultConfig, RunningEmulator, Vendor};
use labelmux_segments::{
    CloneDatasetRequest, CreateDatasetRequest, CreateIssueRequest, CreateSampleRequest,
    IssueStatus, LabelStatus, PutLabelRequest, Role, SampleAttributes, SampleLabel, SampleSort,
    SamplesQuery, SegmentsClient, TaskType, UpdateDatasetRequest, UpdateIssueRequest,
    UpdateLabelRequest, UpdateSampleRequest, WorkunitsQuery,
};
use serde_json::json;

async fn env() -> (RunningEmulator, SegmentsClient) {
    let emu = start(EmulatorConfig::new(Vendor::Segments)).await.unwrap();
    let client = SegmentsClient::new(
        &emu.base_url(),
        SecretString::from(emu.api_key()),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    (emu, client)
}

fn image(name: &str) -> CreateSampleRequest {
    CreateSampleRequest::new(
        name,
        json!({"image": {"url": format!("https://img.example/{name}")}}),
    )
}

fn bbox_label(status: LabelStatus) -> PutLabelRequest {
    PutLabelRequest {
        label_status: status,
        attributes: json!({"format_version": "0.1", "annotations": [
            {"id": 1, "category_id": 1, "type": "bbox", "points": [[1.0, 2.0], [3.0, 4.0]]}
        ]}),
        score: Some(0.5),
    }
}

async fn new_dataset(client: &SegmentsClient, name: &str) -> String {
    let mut req = CreateDatasetRequest::new(name);
    req.task_type = TaskType::Bboxes;
    req.task_attributes =
        json!({"format_version": "0.1", "categories": [{"name": "car", "id": 1}]});
    client.add_dataset(&req, None).await.unwrap().identifier()
}

#[tokio::test]
async fn status_user_and_a_wrong_key() {
    let (emu, client) = env().await;
    let status = client.api_status().await.unwrap();
    assert!(!status.upgrade_available);
    let me = client.get_user(None).await.unwrap();
    assert_eq!(me.username, "labelmux");
    let other = client.get_user(Some("other-user")).await.unwrap();
    assert_eq!(other.username, "other-user");
    let e = client
        .get_user(Some("no-such-user-abcde"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);

    let bad = SegmentsClient::new(
        &emu.base_url(),
        SecretString::from("wrong-key"),
        TransportConfig::fast_for_tests(),
    )
    .unwrap();
    let e = bad.get_user(None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(!e.to_string().contains("wrong-key"));
}

#[tokio::test]
async fn datasets_are_created_listed_updated_cloned_and_deleted() {
    let (_emu, client) = env().await;
    let id = new_dataset(&client, "flowers").await;
    assert_eq!(id, "labelmux/flowers");
    let d = client.get_dataset(&id).await.unwrap();
    assert_eq!(d.task_type, Some(TaskType::Bboxes));
    assert_eq!(d.labelsets[0].name, "ground-truth");
    assert_eq!(d.task_attributes.categories[0].name.as_deref(), Some("car"));

    // Duplicate names are Duplicate errors on a first attempt.
    let e = client
        .add_dataset(&CreateDatasetRequest::new("flowers"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Duplicate, "{e}");

    // Under an organization.
    let org = client
        .add_dataset(&CreateDatasetRequest::new("cars"), Some("labelmux-org"))
        .await
        .unwrap();
    assert_eq!(org.identifier(), "labelmux-org/cars");

    let listed: Vec<String> = client
        .get_datasets(None)
        .map_ok(|d| d.identifier())
        .try_collect()
        .await
        .unwrap();
    assert!(listed.contains(&id), "{listed:?}");
    let theirs: Vec<String> = client
        .get_datasets(Some("labelmux-org"))
        .map_ok(|d| d.identifier())
        .try_collect()
        .await
        .unwrap();
    assert!(
        theirs.contains(&"labelmux-org/cars".to_owned()),
        "{theirs:?}"
    );

    let updated = client
        .update_dataset(
            &id,
            &UpdateDatasetRequest {
                description: Some("Roses".into()),
                public: Some(true),
                ..UpdateDatasetRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("Roses"));
    assert_eq!(updated.public, Some(true));

    client.add_sample(&id, &image("a.jpg")).await.unwrap();
    let clone = client
        .clone_dataset(&id, &CloneDatasetRequest::default())
        .await
        .unwrap();
    assert_eq!(clone.name, "flowers-clone");
    assert_eq!(clone.cloned_from.as_deref(), Some("labelmux/flowers"));
    let cloned_samples: Vec<_> = client
        .get_samples(&clone.identifier(), SamplesQuery::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(cloned_samples.len(), 1);

    client.delete_dataset(&clone.identifier()).await.unwrap();
    let e = client.get_dataset(&clone.identifier()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn invisible_datasets_are_not_found_and_forbidden_operations_are_forbidden() {
    let (_emu, client) = env().await;
    let e = client
        .get_dataset("other-user/private-dataset")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("may not see"), "{e}");
    // Readable as a labeler, not deletable.
    client
        .get_dataset("other-user/shared-dataset")
        .await
        .unwrap();
    let e = client
        .delete_dataset("other-user/shared-dataset")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
    // Malformed identifiers never reach the wire.
    let e = client.get_dataset("abcde").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn collaborators_are_added_read_updated_and_removed() {
    let (_emu, client) = env().await;
    let id = new_dataset(&client, "collab").await;
    let c = client
        .add_dataset_collaborator(&id, "other-user", &Role::Labeler)
        .await
        .unwrap();
    assert_eq!(c.user.username, "other-user");
    assert_eq!(c.role, Some(Role::Labeler));
    let e = client
        .add_dataset_collaborator(&id, "other-user", &Role::Labeler)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Duplicate, "{e}");
    assert_eq!(e.vendor_code(), Some("CollaboratorError"));
    let c = client
        .update_dataset_collaborator(&id, "other-user", &Role::Reviewer)
        .await
        .unwrap();
    assert_eq!(c.role, Some(Role::Reviewer));
    assert_eq!(
        client
            .get_dataset_collaborator(&id, "other-user")
            .await
            .unwrap()
            .role,
        Some(Role::Reviewer)
    );
    client
        .delete_dataset_collaborator(&id, "other-user")
        .await
        .unwrap();
    let e = client
        .get_dataset_collaborator(&id, "other-user")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn samples_single_and_bulk_with_existing_names_returned_unchanged() {
    let (_emu, client) = env().await;
    let id = new_dataset(&client, "samples").await;
    let mut first = image("a.jpg");
    first.metadata.insert("city".into(), json!("London"));
    let a = client.add_sample(&id, &first).await.unwrap();
    assert_eq!(a.metadata["city"], "London");
    let e = client.add_sample(&id, &image("a.jpg")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Duplicate);
    let (again, existed) = client
        .add_sample_idempotent(&id, &image("a.jpg"))
        .await
        .unwrap();
    assert!(existed);
    assert_eq!(again.uuid, a.uuid);

    // "a.jpg" exists: it comes back unchanged (metadata not replaced), the others are new.
    let mut changed = image("a.jpg");
    changed.metadata.insert("city".into(), json!("Paris"));
    let batch = vec![changed, image("b.jpg"), image("c.jpg")];
    let created = client.add_samples(&id, &batch).await.unwrap();
    assert_eq!(created.len(), 3);
    assert_eq!(created[0].uuid, a.uuid);
    assert_eq!(created[0].metadata["city"], "London");
    let again = client.add_samples(&id, &batch).await.unwrap();
    let uuids =
        |v: &[labelmux_segments::Sample]| v.iter().map(|s| s.uuid.clone()).collect::<Vec<_>>();
    assert_eq!(uuids(&again), uuids(&created));

    let got = client.get_sample(&a.uuid, None, true).await.unwrap();
    match &got.attributes {
        SampleAttributes::Image { image } => {
            assert_eq!(image.url.as_deref(), Some("https://img.example/a.jpg"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(got.dataset_full_name.as_deref(), Some(id.as_str()));

    let upd = client
        .update_sample(
            &a.uuid,
            &UpdateSampleRequest {
                priority: Some(5.0),
                assigned_labeler: Some(None),
                ..UpdateSampleRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(upd.priority, Some(5.0));
    assert_eq!(upd.assigned_labeler, None);

    client.delete_sample(&a.uuid).await.unwrap();
    assert_eq!(
        client
            .get_sample(&a.uuid, None, false)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let rest: Vec<String> = created[1..].iter().map(|s| s.uuid.clone()).collect();
    let mut with_unknown = rest.clone();
    with_unknown.push("00000000-0000-4000-8000-000000000000".into());
    let r = client.delete_samples(&id, &with_unknown).await.unwrap();
    assert_eq!(r.deleted_count, 2);
    let e = client.delete_samples(&id, &[]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    let too_many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    assert_eq!(
        client
            .delete_samples(&id, &too_many)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Validation
    );
}

#[tokio::test]
async fn sample_lists_filter_sort_and_page_as_a_static_stream() {
    let (_emu, client) = env().await;
    let id = new_dataset(&client, "lists").await;
    let batch: Vec<CreateSampleRequest> = (0..7)
        .map(|i| {
            let mut s = image(&format!("img-{i}.jpg"));
            s.priority = i as f64;
            s.metadata.insert(
                "weather".into(),
                json!(if i % 2 == 0 { "sunny" } else { "rain" }),
            );
            s
        })
        .collect();
    let created = client.add_samples(&id, &batch).await.unwrap();
    client
        .add_label(
            &created[1].uuid,
            "ground-truth",
            &bbox_label(LabelStatus::Labeled),
        )
        .await
        .unwrap();
    client
        .add_label(
            &created[2].uuid,
            "ground-truth",
            &bbox_label(LabelStatus::Reviewed),
        )
        .await
        .unwrap();

    // Paging: pages of 2 give every sample once, in order.
    let query = SamplesQuery {
        per_page: 2,
        ..SamplesQuery::default()
    };
    let stream = client.get_samples(&id, query);
    drop(client.clone()); // the stream owns what it needs
    let names: Vec<String> = stream.map_ok(|s| s.name).try_collect().await.unwrap();
    let want: Vec<String> = (0..7).map(|i| format!("img-{i}.jpg")).collect();
    assert_eq!(names, want);

    let by_priority: Vec<String> = client
        .get_samples(
            &id,
            SamplesQuery {
                sort: SampleSort::Priority,
                descending: true,
                per_page: 3,
                ..SamplesQuery::default()
            },
        )
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_priority[0], "img-6.jpg");
    assert_eq!(by_priority[6], "img-0.jpg");

    let sunny: Vec<String> = client
        .get_samples(
            &id,
            SamplesQuery {
                metadata: vec![("weather".into(), "sunny".into())],
                ..SamplesQuery::default()
            },
        )
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sunny, ["img-0.jpg", "img-2.jpg", "img-4.jpg", "img-6.jpg"]);

    let done: Vec<String> = client
        .get_samples(
            &id,
            SamplesQuery {
                label_status: vec![LabelStatus::Labeled, LabelStatus::Reviewed],
                ..SamplesQuery::default()
            },
        )
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(done, ["img-1.jpg", "img-2.jpg"]);

    let named: Vec<String> = client
        .get_samples(
            &id,
            SamplesQuery {
                name_contains: Some("-3".into()),
                ..SamplesQuery::default()
            },
        )
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(named, ["img-3.jpg"]);

    // Labels attached: summaries, or full labels.
    let summaries: Vec<_> = client
        .get_samples(
            &id,
            SamplesQuery {
                labelset: Some("ground-truth".into()),
                ..SamplesQuery::default()
            },
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(summaries[1].label_status(), LabelStatus::Labeled);
    let full: Vec<_> = client
        .get_samples(&id, SamplesQuery::with_full_labels("ground-truth"))
        .try_collect()
        .await
        .unwrap();
    match &full[2].label {
        Some(SampleLabel::Full(l)) => {
            assert_eq!(l.status(), LabelStatus::Reviewed);
            assert_eq!(l.attributes.as_ref().unwrap().annotations().len(), 1);
        }
        other => panic!("{other:?}"),
    }

    // One page past the end.
    let e = client
        .get_samples_page(
            &id,
            &SamplesQuery {
                page: 9,
                ..SamplesQuery::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.vendor_code(), Some("InvalidPage"));
    assert_eq!(
        client
            .find_sample_by_name(&id, "img-4.jpg")
            .await
            .unwrap()
            .unwrap()
            .uuid,
        created[4].uuid
    );
    assert!(client
        .find_sample_by_name(&id, "img-")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn labels_are_put_read_patched_and_deleted() {
    let (_emu, client) = env().await;
    let id = new_dataset(&client, "labels").await;
    let s = client.add_sample(&id, &image("x.jpg")).await.unwrap();
    let e = client.get_label(&s.uuid, "ground-truth").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let l = client
        .add_label(
            &s.uuid,
            "ground-truth",
            &bbox_label(LabelStatus::Prelabeled),
        )
        .await
        .unwrap();
    assert_eq!(l.status(), LabelStatus::Prelabeled);
    assert_eq!(l.label_type, Some(TaskType::Bboxes));
    let l = client
        .update_label(
            &s.uuid,
            "ground-truth",
            &UpdateLabelRequest {
                label_status: Some(LabelStatus::Reviewed),
                ..UpdateLabelRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(l.status(), LabelStatus::Reviewed);
    let got = client.get_label(&s.uuid, "ground-truth").await.unwrap();
    assert_eq!(got.score, Some(0.5));
    assert_eq!(
        got.attributes.unwrap().annotations()[0].points[1],
        vec![3.0, 4.0]
    );
    let with_label = client
        .get_sample(&s.uuid, Some("ground-truth"), false)
        .await
        .unwrap();
    assert_eq!(with_label.label_status(), LabelStatus::Reviewed);
    let stats = client.get_dataset(&id).await.unwrap().label_stats;
    assert_eq!(stats.count(&LabelStatus::Reviewed), 1);
    client.delete_label(&s.uuid, "ground-truth").await.unwrap();
    assert_eq!(
        client
            .get_label(&s.uuid, "ground-truth")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn labelsets_and_issues() {
    let (_emu, client) = env().await;
    let id = new_dataset(&client, "sets").await;
    let ls = client
        .add_labelset(&id, "predictions", "model output")
        .await
        .unwrap();
    assert_eq!(ls.name, "predictions");
    let e = client
        .add_labelset(&id, "predictions", "")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Duplicate);
    let names: Vec<String> = client
        .get_labelsets(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["ground-truth", "predictions"]);
    assert_eq!(
        client
            .get_labelset(&id, "predictions")
            .await
            .unwrap()
            .description
            .as_deref(),
        Some("model output")
    );
    client.delete_labelset(&id, "predictions").await.unwrap();
    assert_eq!(client.get_labelsets(&id).await.unwrap().len(), 1);

    let s = client.add_sample(&id, &image("i.jpg")).await.unwrap();
    let mut req = CreateIssueRequest::new("You forgot the cars.");
    req.anchor = Some(json!({"type": "basic"}));
    let issue = client.add_issue(&s.uuid, &req).await.unwrap();
    assert_eq!(issue.status, Some(IssueStatus::Open));
    assert_eq!(issue.sample_uuid.as_deref(), Some(s.uuid.as_str()));
    let closed = client
        .update_issue(
            &issue.uuid,
            &UpdateIssueRequest {
                status: Some(IssueStatus::Closed),
                ..UpdateIssueRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.status, Some(IssueStatus::Closed));
    assert_eq!(client.get_issues(&id).await.unwrap().len(), 1);
    client.delete_issue(&issue.uuid).await.unwrap();
    assert!(client.get_issues(&id).await.unwrap().is_empty());
}

#[tokio::test]
async fn workunits_list_with_every_parameter() {
    let (emu, client) = env().await;
    let id = emu.projects()[0].clone();
    client.add_sample(&id, &image("w.jpg")).await.unwrap();
    emu.control().advance(&id);
    let all: Vec<_> = client
        .get_workunits(&id, WorkunitsQuery::default())
        .try_collect()
        .await
        .unwrap();
    let windowed = client
        .get_workunits_page(
            &id,
            &WorkunitsQuery {
                descending: false,
                start: Some(
                    chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
                        .unwrap()
                        .and_hms_opt(0, 0, 0)
                        .unwrap(),
                ),
                end: Some(
                    chrono::NaiveDate::from_ymd_opt(2100, 1, 1)
                        .unwrap()
                        .and_hms_opt(0, 0, 0)
                        .unwrap(),
                ),
                include_session_time_metrics: true,
                per_page: 10,
                page: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), windowed.len());
    for w in &all {
        assert!(w.sample_uuid.is_some());
    }
}

#[tokio::test]
async fn assets_upload_through_the_presigned_post() {
    let (_emu, client) = env().await;
    let content = Bytes::from_static(b"\x89PNG fake image bytes");
    let asset = client
        .upload_asset("violet.png", content.clone())
        .await
        .unwrap();
    let url = asset.url.clone().unwrap();
    let got = reqwest::get(&url).await.unwrap();
    assert!(got.status().is_success(), "{}", got.status());
    assert_eq!(got.bytes().await.unwrap(), content);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let asset = client.upload_asset_file(&path, None).await.unwrap();
    assert_eq!(asset.filename.as_deref(), Some("big.bin"));
    let got = reqwest::get(asset.url.unwrap()).await.unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), data);
}

#[tokio::test]
async fn throttling_in_a_2xx_body_and_429s_are_waited_out() {
    let (emu, client) = env().await;
    let id = new_dataset(&client, "throttled").await;
    emu.control().set_faults(FaultConfig {
        soft_throttle_rate: 0.3,
        throttle_rate: 0.1,
        retry_after_secs: 0.01,
        seed: Some(7),
        ..FaultConfig::default()
    });
    let before = emu.control().request_count();
    // Bulk creation is retried (existing names come back unchanged), single reads too.
    let batch: Vec<_> = (0..5).map(|i| image(&format!("t{i}.jpg"))).collect();
    for _ in 0..3 {
        let created = client.add_samples(&id, &batch).await.unwrap();
        assert_eq!(created.len(), 5);
    }
    for _ in 0..6 {
        client.get_dataset(&id).await.unwrap();
    }
    assert!(
        emu.control().request_count() - before > 9,
        "no fault was injected"
    );
    emu.control().set_faults(FaultConfig::default());
    let all: Vec<_> = client
        .get_samples(&id, SamplesQuery::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 5, "a retried bulk create duplicated samples");
}

#[tokio::test]
async fn dropped_connections_never_duplicate_creations() {
    let (emu, client) = env().await;
    let id = new_dataset(&client, "drops").await;
    emu.control().set_faults(FaultConfig {
        drop_rate: 0.3,
        seed: Some(11),
        ..FaultConfig::default()
    });
    let mut ok = 0;
    for i in 0..12 {
        // Single creations are resent; a resend of a creation that went through is resolved
        // by name, never a second sample.
        if client
            .add_sample(&id, &image(&format!("d{i}.jpg")))
            .await
            .is_ok()
        {
            ok += 1;
        }
    }
    emu.control().set_faults(FaultConfig::default());
    let all: Vec<String> = client
        .get_samples(&id, SamplesQuery::default())
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(unique, all);
    assert!(all.len() >= ok, "{all:?}");
}

#[tokio::test]
async fn releases_are_built_listed_read_as_a_stream_and_deleted() {
    let (_emu, client) = env().await;
    let id = new_dataset(&client, "released").await;
    client.add_labelset(&id, "predictions", "").await.unwrap();
    let batch: Vec<_> = (0..5).map(|i| image(&format!("r{i}.jpg"))).collect();
    let created = client.add_samples(&id, &batch).await.unwrap();
    client
        .add_label(
            &created[0].uuid,
            "ground-truth",
            &bbox_label(LabelStatus::Reviewed),
        )
        .await
        .unwrap();
    let r = client.add_release(&id, "v1", "first").await.unwrap();
    assert_eq!(r.name, "v1");
    let e = client.add_release(&id, "v1", "").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Duplicate);
    let e = client.release_file(&r).map(|_| ()).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Validation,
        "a pending release has no file yet"
    );

    let ready = client
        .wait_for_release(
            &id,
            "v1",
            labelmux_core::poll::PollOptions::default()
                .with_interval(std::time::Duration::from_millis(20))
                .with_timeout(std::time::Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert_eq!(
        ready.status,
        Some(labelmux_segments::ReleaseStatus::Succeeded)
    );
    let e = client
        .wait_for_release(
            &id,
            "no-such-release",
            labelmux_core::poll::PollOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(ready.samples_count, Some(5));
    assert_eq!(client.get_releases(&id).await.unwrap().len(), 1);

    let mut reader = client.release_file(&ready).unwrap();
    let mut names = Vec::new();
    while let Some(s) = reader.next_sample().await.unwrap() {
        assert!(s.labels.contains_key("ground-truth") && s.labels.contains_key("predictions"));
        if s.uuid == created[0].uuid {
            let gt = s.label("ground-truth").unwrap();
            assert_eq!(gt.label_status, Some(LabelStatus::Reviewed));
            assert_eq!(gt.attributes.as_ref().unwrap().annotations().len(), 1);
        } else {
            assert!(s.label("ground-truth").is_none());
        }
        names.push(s.name);
    }
    names.sort();
    assert_eq!(names, ["r0.jpg", "r1.jpg", "r2.jpg", "r3.jpg", "r4.jpg"]);
    assert_eq!(reader.header().name(), Some("v1"));
    assert_eq!(reader.header().task_type(), Some(TaskType::Bboxes));
    assert_eq!(reader.header().labelsets(), ["ground-truth", "predictions"]);

    client.delete_release(&id, "v1").await.unwrap();
    assert_eq!(
        client.get_release(&id, "v1").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
