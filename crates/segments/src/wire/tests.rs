//! Decoding of the spec's examples (shared/vendors/segments.md, sections 2 and 5).

use super::*;
use serde_json::json;

#[test]
fn a_dataset_decodes_from_the_spec_example_and_keeps_its_raw_json() {
    let v = json!({
      "name": "flowers", "full_name": "jane/flowers", "cloned_from": null,
      "description": "A dataset containing flowers.", "category": "other", "public": false,
      "archived": false,
      "owner": {"username": "jane", "email": "jane@example.com", "created_at": "2020-05-11T14:00:53.763278Z"},
      "created_at": "2020-07-20T14:59:36.242218Z", "task_type": "segmentation-bitmap",
      "task_attributes": {"format_version": "0.1", "categories": [{"name": "flower", "id": 1}], "circle_radius": 3},
      "labelsets": [{"name": "ground-truth", "description": "", "is_groundtruth": true}],
      "label_stats": {"LABELED": 3, "UNLABELED": 91, "TOTAL": 94, "FUTURE_STATUS": 1},
      "samples_count": "94", "collaborators_count": 0, "role": "admin", "readme": "",
      "metadata": {}, "enable_label_status_verified": false, "insights_urls": {},
      "a_member_from_the_future": [1, 2]
    });
    let d: Dataset = decode(v.clone(), "dataset").unwrap();
    assert_eq!(d.identifier(), "jane/flowers");
    assert_eq!(d.owner.username.as_deref(), Some("jane"));
    assert_eq!(d.task_type, Some(TaskType::SegmentationBitmap));
    assert_eq!(
        d.task_attributes.categories[0].name.as_deref(),
        Some("flower")
    );
    assert_eq!(d.task_attributes.categories[0].id, Some(1));
    assert_eq!(d.labelsets[0].is_groundtruth, Some(true));
    assert_eq!(d.label_stats.count(&LabelStatus::Labeled), 3);
    assert_eq!(d.label_stats.count(&LabelStatus::Unlabeled), 91);
    assert_eq!(d.label_stats.count(&LabelStatus::Reviewed), 0);
    assert_eq!(
        d.label_stats
            .count(&LabelStatus::Other("FUTURE_STATUS".into())),
        1
    );
    assert_eq!(d.label_stats.total, Some(94));
    assert_eq!(d.samples_count, Some(94));
    assert_eq!(d.role, Some(Role::Admin));
    assert_eq!(d.raw, v);
    assert_eq!(d.raw["task_attributes"]["circle_radius"], 3);
}

#[test]
fn an_owner_given_as_a_bare_name_and_a_collaborator_with_a_bare_user_are_accepted() {
    let d: Dataset = decode(json!({"name": "f", "owner": "jane"}), "dataset").unwrap();
    assert_eq!(d.identifier(), "jane/f");
    let c: Collaborator =
        decode(json!({"user": "john", "role": "reviewer"}), "collaborator").unwrap();
    assert_eq!(c.user.username, "john");
    assert_eq!(c.role, Some(Role::Reviewer));
    let c: Collaborator = decode(
        json!({"user": {"username": "john", "created_at": "2020-01-01T00:00:00Z", "is_organization": false}, "role": "owner-of-all"}),
        "collaborator",
    )
    .unwrap();
    assert_eq!(c.role, Some(Role::Other("owner-of-all".into())));
    assert_eq!(c.user.is_organization, Some(false));
}

#[test]
fn the_nine_label_statuses_round_trip_and_unknown_ones_are_kept() {
    let all = [
        "REVIEWED",
        "REVIEWING_IN_PROGRESS",
        "LABELED",
        "LABELING_IN_PROGRESS",
        "REJECTED",
        "PRELABELED",
        "SKIPPED",
        "VERIFIED",
        "UNLABELED",
    ];
    assert_eq!(LabelStatus::KNOWN.len(), 9);
    for s in all {
        let st = LabelStatus::parse(s);
        assert!(!matches!(st, LabelStatus::Other(_)), "{s}");
        assert_eq!(serde_json::to_value(&st).unwrap(), json!(s));
        assert_eq!(serde_json::from_value::<LabelStatus>(json!(s)).unwrap(), st);
    }
    assert_eq!(
        LabelStatus::parse("ARCHIVED"),
        LabelStatus::Other("ARCHIVED".into())
    );
}

#[test]
fn a_sample_decodes_with_typed_image_attributes_and_a_full_label() {
    let v = json!({
      "uuid": "602a3eec-a61c-4a77-9fcc-3037ce5e9606", "name": "violet.jpg",
      "attributes": {"image": {"url": "https://example.com/violet.jpg", "signed_url": "https://s/x"}},
      "metadata": {"city": "London"}, "created_at": "2020-04-10T20:09:31Z", "created_by": "jane",
      "readme": "", "assigned_labeler": null, "assigned_reviewer": null, "priority": 0,
      "label": {
        "sample_uuid": "602a3eec-a61c-4a77-9fcc-3037ce5e9606", "label_type": "bboxes",
        "label_status": "PRELABELED", "labelset": "ground-truth",
        "attributes": {"format_version": "0.1", "annotations": [
          {"id": 1, "category_id": 1, "type": "bbox", "points": [[12.34, 56.78], [90.12, 34.56]]},
          {"id": 4, "category_id": 4, "type": "point", "points": [[1, 2]], "attributes": {"occluded": true}}
        ]},
        "created_at": "2020-04-10T20:09:31Z", "created_by": "jane", "updated_at": "2020-04-10T20:09:31Z",
        "score": 0.93
      },
      "issues": null, "dataset_full_name": "jane/flowers"
    });
    let s: Sample = decode(v.clone(), "sample").unwrap();
    assert_eq!(s.name, "violet.jpg");
    assert_eq!(s.metadata["city"], "London");
    assert_eq!(s.priority, Some(0.0));
    assert_eq!(s.assigned_labeler, None);
    assert_eq!(s.dataset_full_name.as_deref(), Some("jane/flowers"));
    match &s.attributes {
        SampleAttributes::Image { image } => {
            assert_eq!(image.url.as_deref(), Some("https://example.com/violet.jpg"));
            assert_eq!(image.signed_url.as_deref(), Some("https://s/x"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.attributes.asset_urls(),
        vec!["https://example.com/violet.jpg"]
    );
    let Some(SampleLabel::Full(label)) = &s.label else {
        panic!("{:?}", s.label)
    };
    assert_eq!(label.status(), LabelStatus::Prelabeled);
    assert_eq!(label.score, Some(0.93));
    let Some(LabelAttributes::Single(frame)) = &label.attributes else {
        panic!("{:?}", label.attributes)
    };
    assert_eq!(frame.annotations.len(), 2);
    assert_eq!(frame.annotations[0].shape.as_deref(), Some("bbox"));
    assert_eq!(frame.annotations[0].points[1], vec![90.12, 34.56]);
    assert_eq!(frame.annotations[1].attributes["occluded"], true);
    assert_eq!(s.label_status(), LabelStatus::Prelabeled);
    assert_eq!(s.raw, v);
}

#[test]
fn a_label_summary_in_a_list_is_told_apart_from_a_full_label() {
    let s: Sample = decode(
        json!({"uuid": "u", "name": "n", "metadata": {}, "priority": 1,
               "label": {"label_status": "LABELED", "score": 0.9, "updated_at": "2021-01-01T00:00:00Z", "created_by": "jane", "reviewed_by": null}}),
        "sample",
    )
    .unwrap();
    assert!(matches!(s.label, Some(SampleLabel::Summary(_))));
    assert_eq!(s.label_status(), LabelStatus::Labeled);
    let s: Sample = decode(
        json!({"uuid": "u", "name": "n", "label": null, "attributes": "weird"}),
        "sample",
    )
    .unwrap();
    assert_eq!(s.label_status(), LabelStatus::Unlabeled);
    assert_eq!(s.attributes, SampleAttributes::Other(json!("weird")));
}

#[test]
fn sample_attributes_are_typed_by_shape_for_every_family() {
    let table = [
        (json!({"image": {"url": "a"}}), "Image"),
        (
            json!({"frames": [{"image": {"url": "a"}, "timestamp": 3}]}),
            "ImageSequence",
        ),
        (
            json!({"pcd": {"url": "p", "type": "pcd"}, "images": [], "ego_pose": {"position": {"x": 0, "y": 0, "z": 0}}}),
            "PointCloud",
        ),
        (
            json!({"frames": [{"pcd": {"url": "p", "type": "kitti"}}]}),
            "PointCloudSequence",
        ),
        (
            json!({"sensors": [{"name": "Lidar", "task_type": "pointcloud-cuboid-sequence", "attributes": {"frames": []}}]}),
            "MultiSensor",
        ),
        (json!({"text": "hello"}), "Other"),
    ];
    for (v, want) in table {
        let got = SampleAttributes::from_value(&v);
        let name = match &got {
            SampleAttributes::Image { .. } => "Image",
            SampleAttributes::ImageSequence { .. } => "ImageSequence",
            SampleAttributes::PointCloud(_) => "PointCloud",
            SampleAttributes::PointCloudSequence { .. } => "PointCloudSequence",
            SampleAttributes::MultiSensor { .. } => "MultiSensor",
            SampleAttributes::Other(_) => "Other",
        };
        assert_eq!(name, want, "{v}");
        // What is typed serializes back to the same members it was read from.
        if want != "Other" {
            let back = serde_json::to_value(&got).unwrap();
            for k in v.as_object().unwrap().keys() {
                assert!(back.get(k).is_some(), "{k} lost from {v}");
            }
        }
    }
    let SampleAttributes::ImageSequence { frames } =
        SampleAttributes::from_value(&json!({"frames": [{"image": {"url": "a"}, "timestamp": 3}]}))
    else {
        panic!()
    };
    assert_eq!(frames[0].timestamp.as_deref(), Some("3"));
}

#[test]
fn label_attributes_are_typed_by_task_type() {
    let seg = json!({"format_version": "0.1",
        "annotations": [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 4, "attributes": {"is_crowd": "1"}}],
        "segmentation_bitmap": {"url": "https://x/label.png"}, "image_attributes": {"weather": "sunny"}});
    let LabelAttributes::Single(f) =
        LabelAttributes::from_value(Some(&TaskType::SegmentationBitmap), &seg)
    else {
        panic!()
    };
    assert_eq!(
        f.segmentation_bitmap.unwrap().url.as_deref(),
        Some("https://x/label.png")
    );
    assert_eq!(f.image_attributes["weather"], "sunny");
    assert_eq!(f.annotations[1].category_id, Some(4));

    let cuboid = json!({"format_version": "0.2", "annotations": [
        {"id": 1, "category_id": 1, "type": "cuboid", "position": {"x": 0.0, "y": 0.2, "z": 0.5},
         "dimensions": {"x": 1.2, "y": 1.0, "z": 1.0}, "yaw": 0.63, "rotation": {"qx": 0, "qy": 0.049, "qz": 0.31, "qw": 0.95}}],
        "links": [{"from_id": 1, "to_id": 2, "attributes": {}}]});
    let LabelAttributes::Single(f) =
        LabelAttributes::from_value(Some(&TaskType::PointcloudCuboid), &cuboid)
    else {
        panic!()
    };
    let a = &f.annotations[0];
    assert_eq!(a.position.unwrap().z, 0.5);
    assert_eq!(a.dimensions.unwrap().x, 1.2);
    assert_eq!(a.yaw, Some(0.63));
    assert_eq!(a.rotation.unwrap().qw, 0.95);
    assert_eq!(f.links[0].to_id, Some(2));

    let pcseg =
        json!({"annotations": [{"id": 1, "category_id": 2}], "point_annotations": [0, 1, 1, 0]});
    let LabelAttributes::Single(f) =
        LabelAttributes::from_value(Some(&TaskType::PointcloudSegmentation), &pcseg)
    else {
        panic!()
    };
    assert_eq!(f.point_annotations, vec![0, 1, 1, 0]);

    let seq = json!({"format_version": "0.2", "frames": [
        {"annotations": [{"id": 1, "category_id": 1, "type": "bbox", "points": [[0, 0], [1, 1]], "track_id": 7, "is_keyframe": true}]},
        {"annotations": []}]});
    let got = LabelAttributes::from_value(Some(&TaskType::ImageVectorSequence), &seq);
    let LabelAttributes::Sequence {
        frames,
        format_version,
        ..
    } = &got
    else {
        panic!("{got:?}")
    };
    assert_eq!(format_version.as_deref(), Some("0.2"));
    assert_eq!(frames.len(), 2);
    assert_eq!(got.annotations()[0].track_id, Some(7));
    assert_eq!(got.annotations()[0].is_keyframe, Some(true));

    let multi = json!({"sensors": [
        {"name": "Lidar", "task_type": "pointcloud-cuboid-sequence", "attributes": {"frames": []}},
        {"name": "Camera 1", "task_type": "image-vector-sequence", "attributes": []}]});
    let LabelAttributes::MultiSensor { sensors, .. } =
        LabelAttributes::from_value(Some(&TaskType::MultisensorSequence), &multi)
    else {
        panic!()
    };
    assert_eq!(sensors.len(), 2);
    assert_eq!(sensors[1].attributes, Some(json!([])));

    // Unknown task type: typed by shape; an unusable shape is kept.
    assert!(matches!(
        LabelAttributes::from_value(None, &seq),
        LabelAttributes::Sequence { .. }
    ));
    assert_eq!(
        LabelAttributes::from_value(Some(&TaskType::Vector), &json!([1])),
        LabelAttributes::Other(json!([1]))
    );
}

#[test]
fn every_task_type_has_its_attribute_family() {
    use AttributeFamily as F;
    let table = [
        ("segmentation-bitmap", Some(F::ImageSegmentation)),
        ("segmentation-bitmap-highres", Some(F::ImageSegmentation)),
        (
            "image-segmentation-sequence",
            Some(F::ImageSequenceSegmentation),
        ),
        ("bboxes", Some(F::ImageVector)),
        ("vector", Some(F::ImageVector)),
        ("image-vector-sequence", Some(F::ImageSequenceVector)),
        ("keypoints", Some(F::ImageVector)),
        ("pointcloud-cuboid", Some(F::PointcloudCuboid)),
        (
            "pointcloud-cuboid-sequence",
            Some(F::PointcloudSequenceCuboid),
        ),
        ("pointcloud-segmentation", Some(F::PointcloudSegmentation)),
        (
            "pointcloud-segmentation-sequence",
            Some(F::PointcloudSequenceSegmentation),
        ),
        ("pointcloud-vector", Some(F::PointcloudVector)),
        (
            "pointcloud-vector-sequence",
            Some(F::PointcloudSequenceVector),
        ),
        ("multisensor-sequence", Some(F::MultiSensor)),
        ("", None),
        ("text-named-entities", None),
    ];
    assert_eq!(TaskType::KNOWN.len(), 15);
    for (wire, fam) in table {
        assert_eq!(TaskType::parse(wire).family(), fam, "{wire}");
    }
}

#[test]
fn issues_releases_workunits_assets_and_bulk_deletes_decode() {
    let i: Issue = decode(
        json!({"uuid": "i1", "description": "You forgot to label the cars.", "created_at": "2021-01-01T00:00:00Z",
               "updated_at": "2021-01-01T00:00:00Z", "created_by": "jane", "updated_by": "jane", "status": "OPEN",
               "comments": [{"created_at": "2021-01-02T00:00:00Z", "created_by": "john", "text": "Fixed."}],
               "anchor": {"type": "track", "trackNumber": 3}, "sample_uuid": "s1", "sample_name": "violet.jpg"}),
        "issue",
    )
    .unwrap();
    assert_eq!(i.status, Some(IssueStatus::Open));
    assert_eq!(i.comments[0].text.as_deref(), Some("Fixed."));
    assert_eq!(i.anchor.unwrap()["trackNumber"], 3);

    let r: Release = decode(
        json!({"uuid": "r1", "name": "v0.1", "description": "", "release_type": "JSON",
               "attributes": {"url": "https://s3/releases/r1.json"}, "status": "SUCCEEDED",
               "created_at": "2020-07-20T14:59:36.242218Z", "samples_count": 94}),
        "release",
    )
    .unwrap();
    assert_eq!(r.status, Some(ReleaseStatus::Succeeded));
    assert_eq!(r.file_url(), Some("https://s3/releases/r1.json"));
    let pending: Release = decode(
        json!({"name": "v0.2", "attributes": {"url": null}, "status": "PENDING"}),
        "release",
    )
    .unwrap();
    assert_eq!(pending.file_url(), None);

    let w: Workunit = decode(
        json!({"created_at": "2021-01-01T00:00:00Z", "created_by": "jane", "work_type": "label", "time": 5300,
               "inactive_time": 10, "sample_uuid": "s", "sample_name": "n", "next_label_status": "LABELED"}),
        "workunit",
    )
    .unwrap();
    assert_eq!(w.time, Some(5300));
    assert_eq!(w.next_label_status, Some(LabelStatus::Labeled));

    let a = Asset::from_slice(
        br#"{"uuid": "a1", "filename": "violet.jpg", "url": "https://s3/assets/jane/a1.jpg",
               "created_at": "2024-04-19T10:00:00Z",
               "presignedPostFields": {"url": "https://s3/", "fields": {
                   "acl": "public-read", "Content-Type": "image/jpeg", "key": "assets/jane/a1.jpg",
                   "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "c", "x-amz-date": "d",
                   "policy": "p", "x-amz-signature": "s"}}}"#,
    )
    .unwrap();
    assert_eq!(a.url.as_deref(), Some("https://s3/assets/jane/a1.jpg"));
    assert!(Asset::from_slice(b"[]").is_err());
    assert_eq!(a.presigned_post.url.as_deref(), Some("https://s3/"));
    let keys: Vec<&str> = a
        .presigned_post
        .fields
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    // The storage's order is kept (the SDK sends the fields in the order received).
    assert_eq!(
        keys,
        [
            "acl",
            "Content-Type",
            "key",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "policy",
            "x-amz-signature"
        ]
    );

    let d: DeleteSamplesResponse = decode(json!({"deleted_count": 3}), "bulk delete").unwrap();
    assert_eq!(d.deleted_count, 3);
}

#[test]
fn lists_must_be_arrays_and_required_members_are_required() {
    let e = decode_list::<Sample>(json!({"results": []}), "sample").unwrap_err();
    assert_eq!(e.kind(), labelmux_core::ErrorKind::Decode);
    assert!(e.to_string().contains("Segments.ai"), "{e}");
    let e = decode::<Sample>(json!({"name": "no uuid"}), "sample").unwrap_err();
    assert!(e.to_string().contains("uuid"), "{e}");
    assert!(decode::<Sample>(json!("x"), "sample").is_err());
}

#[test]
fn request_bodies_carry_the_sdk_defaults_and_only_the_members_set() {
    let body = serde_json::to_value(CreateDatasetRequest::new("flowers")).unwrap();
    assert_eq!(body["task_type"], "segmentation-bitmap");
    assert_eq!(body["data_type"], "IMAGE");
    assert_eq!(body["labeling_inactivity_timeout_seconds"], 300);
    assert_eq!(body["enable_skip_labeling"], true);
    assert_eq!(body["task_attributes"]["categories"][0]["name"], "object");
    assert_eq!(body.as_object().unwrap().len(), 20);
    assert!(body.get("metadata").is_none());

    let upd = UpdateSampleRequest {
        assigned_labeler: Some(None),
        priority: Some(2.0),
        ..UpdateSampleRequest::default()
    };
    assert_eq!(
        serde_json::to_value(upd).unwrap(),
        json!({"assigned_labeler": null, "priority": 2.0})
    );

    let mut extra = JsonMap::new();
    extra.insert("use_timestamps_for_interpolation".into(), json!(true));
    let upd = UpdateDatasetRequest {
        public: Some(true),
        extra,
        ..UpdateDatasetRequest::default()
    };
    assert_eq!(
        serde_json::to_value(upd).unwrap(),
        json!({"public": true, "use_timestamps_for_interpolation": true})
    );

    let clone = CloneDatasetRequest::default();
    assert_eq!(
        serde_json::to_value(clone).unwrap(),
        json!({"clone_labels": false})
    );

    let s = CreateSampleRequest::new("a.jpg", json!({"image": {"url": "u"}}));
    assert_eq!(
        serde_json::to_value(s).unwrap(),
        json!({"name": "a.jpg", "attributes": {"image": {"url": "u"}}, "priority": 0.0, "readme": ""})
    );
    let l = PutLabelRequest {
        label_status: LabelStatus::Prelabeled,
        attributes: json!({"annotations": []}),
        score: None,
    };
    assert_eq!(
        serde_json::to_value(l).unwrap(),
        json!({"label_status": "PRELABELED", "attributes": {"annotations": []}})
    );
}
