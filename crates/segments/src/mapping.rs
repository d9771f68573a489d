//! Segments.ai wire types ↔ the core model, pure (no I/O).
//!
//! A project is a dataset (`owner/name`), a task is a sample (task id = UUID, external key =
//! sample name), a labelmux batch is a value in each sample's metadata (under
//! [`BATCH_METADATA_KEY`], so lists can filter on it), and a task's state is the status of its
//! label in the configured labelset.

use crate::wire::{CreateSampleRequest, LabelStatus, Sample, SampleLabel};
use chrono::{DateTime, Utc};
use labelmux_core::{
    BatchId, Delivery, DeliveryId, Error, JsonMap, ProjectId, RawJson, Result, ReviewState, Task,
    TaskId, TaskSpec, TaskState, Vendor,
};
use serde_json::Value;

/// Metadata key holding the labelmux batch name of a sample.
pub const BATCH_METADATA_KEY: &str = "labelmux_batch";

/// The core state of a label status.
pub fn state_of(status: &LabelStatus) -> TaskState {
    match status {
        LabelStatus::Unlabeled => TaskState::New,
        LabelStatus::Prelabeled => TaskState::PreLabeled,
        LabelStatus::LabelingInProgress => TaskState::InProgress,
        LabelStatus::Skipped => TaskState::Skipped,
        LabelStatus::Labeled => TaskState::Completed,
        LabelStatus::ReviewingInProgress => TaskState::InReview,
        LabelStatus::Reviewed | LabelStatus::Verified => TaskState::Approved,
        LabelStatus::Rejected => TaskState::Rejected,
        LabelStatus::Other(s) => TaskState::Other(s.clone()),
    }
}

/// The label statuses a core state stands for (none for states Segments never reports).
pub fn statuses_of(state: &TaskState) -> Vec<LabelStatus> {
    LabelStatus::KNOWN
        .iter()
        .filter(|s| &state_of(s) == state)
        .cloned()
        .chain(match state {
            TaskState::Other(s) => Some(LabelStatus::parse(s)),
            _ => None,
        })
        .collect()
}

/// The review verdict a label status carries.
pub fn review_of(status: &LabelStatus) -> ReviewState {
    match status {
        LabelStatus::Reviewed | LabelStatus::Verified => ReviewState::Approved,
        LabelStatus::Rejected => ReviewState::Rejected,
        _ => ReviewState::Unreviewed,
    }
}

/// The labelmux batch a sample belongs to, from its metadata.
pub fn batch_of(sample: &Sample) -> Option<BatchId> {
    sample
        .metadata
        .get(BATCH_METADATA_KEY)
        .and_then(labelmux_core::lenient::key_string)
        .map(BatchId::new)
}

/// The sample attributes of a task: its inputs' `attributes` object when that is the only
/// input, else the inputs themselves (e.g. `{"image": {"url": ...}}`).
pub fn attributes_of(spec: &TaskSpec) -> Value {
    match spec.inputs.get("attributes") {
        Some(a @ Value::Object(_)) if spec.inputs.len() == 1 => a.clone(),
        _ => Value::Object(spec.inputs.clone()),
    }
}

/// The sample to create for `spec` in `batch`, named `name`.
pub fn sample_request(
    spec: &TaskSpec,
    name: &str,
    batch: &str,
    batch_priority: Option<i32>,
) -> Result<CreateSampleRequest> {
    let mut metadata = spec.metadata.clone();
    if let Err(other) = labelmux_core::lenient::insert_unless_conflict(
        &mut metadata,
        BATCH_METADATA_KEY,
        Value::String(batch.to_owned()),
    ) {
        return Err(Error::validation(format!(
            "the task's metadata holds {BATCH_METADATA_KEY} = {other}, but labelmux records the batch ({batch:?}) there"
        ))
        .with_vendor(Vendor::Segments));
    }
    let mut req = CreateSampleRequest::new(name, attributes_of(spec));
    req.metadata = metadata;
    if let Some(p) = spec.priority.or(batch_priority) {
        req.priority = segments_priority(p);
    }
    Ok(req)
}

/// Segments' priority for a core priority. Core priorities are worked lowest first; Segments
/// labels the highest first: the sign flips (0 stays 0, Segments' default).
pub fn segments_priority(priority: i32) -> f64 {
    -f64::from(priority)
}

/// The core priority of a sample (see [`segments_priority`]).
pub fn priority_of(sample: &Sample) -> Option<i32> {
    sample
        .priority
        .filter(|p| p.is_finite())
        .map(|p| (-p).round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32)
}

/// The status of the sample's label (from a list's summary or a full label); `UNLABELED`
/// without one.
pub fn status_of(sample: &Sample) -> LabelStatus {
    sample.label_status()
}

fn label_times(sample: &Sample) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    match &sample.label {
        Some(l) => {
            let l = l.label();
            (l.updated_at, l.reviewed_at.or(l.updated_at))
        }
        None => (None, None),
    }
}

/// The task of a sample listed or read with its label in the configured labelset.
/// `delivery_status` decides when the label counts as delivered (its `delivered_at`).
pub fn task_of(sample: &Sample, project: &ProjectId, delivery_status: &LabelStatus) -> Task {
    let status = status_of(sample);
    let (updated, _) = label_times(sample);
    let finished = state_of(&status).is_finished();
    let answers = match &sample.label {
        Some(SampleLabel::Full(l)) => l.raw.get("attributes").cloned().filter(|v| !v.is_null()),
        _ => None,
    };
    Task {
        id: TaskId::new(sample.uuid.clone()),
        external_key: Some(sample.name.clone()),
        project_id: project.clone(),
        batch_id: batch_of(sample),
        state: state_of(&status),
        vendor_state: status.as_str().to_owned(),
        priority: priority_of(sample),
        created_at: sample.created_at,
        delivered_at: if &status == delivery_status {
            updated
        } else {
            None
        },
        completed_at: if finished { updated } else { None },
        inputs: sample
            .raw
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        answers: answers.map(RawJson::from),
        raw: RawJson::from_value(&sample.raw),
    }
}

/// The delivery of a sample's full label in `labelset` (its revision is the label's update
/// time).
pub fn delivery_of(
    sample: &Sample,
    project: &ProjectId,
    labelset: &str,
    checkpoint: Option<labelmux_core::Checkpoint>,
) -> Delivery {
    let status = status_of(sample);
    let (updated, _) = label_times(sample);
    let answers = match &sample.label {
        Some(l) => l
            .label()
            .raw
            .get("attributes")
            .cloned()
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| Value::Object(JsonMap::new())),
        None => Value::Object(JsonMap::new()),
    };
    Delivery {
        id: DeliveryId::new(format!("{}/{labelset}", sample.uuid)),
        task_id: TaskId::new(sample.uuid.clone()),
        external_key: Some(sample.name.clone()),
        project_id: project.clone(),
        batch_id: batch_of(sample),
        labelset: Some(labelset.to_owned()),
        review: Some(review_of(&status)),
        delivered_at: updated,
        updated_at: updated,
        answers: RawJson::from(answers),
        raw: RawJson::from_value(&sample.raw),
        checkpoint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode;
    use serde_json::json;

    #[test]
    fn every_label_status_has_a_state_and_back() {
        for s in LabelStatus::KNOWN {
            let state = state_of(s);
            assert!(statuses_of(&state).contains(s), "{s}");
        }
        assert_eq!(state_of(&LabelStatus::Reviewed), TaskState::Approved);
        assert!(state_of(&LabelStatus::Labeled).is_finished());
        assert!(!state_of(&LabelStatus::Rejected).is_finished());
        assert_eq!(
            statuses_of(&TaskState::Approved),
            [LabelStatus::Reviewed, LabelStatus::Verified]
        );
        assert!(statuses_of(&TaskState::Canceled).is_empty());
        assert_eq!(review_of(&LabelStatus::Rejected), ReviewState::Rejected);
    }

    #[test]
    fn a_task_spec_becomes_a_sample_with_its_batch_in_the_metadata() {
        let spec = TaskSpec::from_json(json!({"image": {"url": "u"}}))
            .unwrap()
            .with_metadata("city", json!("Paris"));
        let req = sample_request(&spec, "k1", "b1", Some(3)).unwrap();
        assert_eq!(req.attributes, json!({"image": {"url": "u"}}));
        assert_eq!(req.metadata[BATCH_METADATA_KEY], "b1");
        assert_eq!(req.metadata["city"], "Paris");
        assert_eq!(
            req.priority, -3.0,
            "core: lowest first; Segments: highest first"
        );
        let wrapped = TaskSpec::from_json(json!({"attributes": {"image": {"url": "u"}}})).unwrap();
        assert_eq!(attributes_of(&wrapped), json!({"image": {"url": "u"}}));
        let clash = spec.with_metadata(BATCH_METADATA_KEY, json!("other"));
        assert!(sample_request(&clash, "k", "b1", None).is_err());
    }

    #[test]
    fn samples_map_to_tasks_and_deliveries() {
        let s: Sample = decode(
            json!({"uuid": "u1", "name": "k1", "metadata": {BATCH_METADATA_KEY: "b1"}, "priority": -2.6,
                   "attributes": {"image": {"url": "x"}}, "created_at": "2026-01-01T00:00:00Z",
                   "label": {"sample_uuid": "u1", "label_status": "REVIEWED", "attributes": {"annotations": []},
                             "updated_at": "2026-01-02T00:00:00Z", "reviewed_at": "2026-01-02T00:00:00Z"}}),
            "sample",
        )
        .unwrap();
        let p = ProjectId::new("jane/flowers");
        let t = task_of(&s, &p, &LabelStatus::Reviewed);
        assert_eq!(t.id.as_str(), "u1");
        assert_eq!(t.external_key.as_deref(), Some("k1"));
        assert_eq!(t.batch_id, Some(BatchId::new("b1")));
        assert_eq!(t.state, TaskState::Approved);
        assert_eq!(t.priority, Some(3));
        assert_eq!(t.inputs["image"]["url"], "x");
        assert_eq!(t.answers.map(Value::from), Some(json!({"annotations": []})));
        assert!(t.delivered_at.is_some());
        let d = delivery_of(&s, &p, "ground-truth", None);
        assert_eq!(d.id.as_str(), "u1/ground-truth");
        assert_eq!(d.review, Some(ReviewState::Approved));
        assert_eq!(d.answers, json!({"annotations": []}));
    }
}
