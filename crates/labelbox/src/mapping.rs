//! Pure mapping between Labelbox's wire types and the core model (spec §0): a task is a data
//! row in the project (through a batch), addressed by its global key; a delivery is a label
//! (several per data row under consensus).

use crate::upload::DataRowSpec;
use crate::wire::{ExportLabel, ExportLine, ProjectOverview, WorkflowStatus};
use chrono::{DateTime, Utc};
use labelmux_core::{
    BatchId, Delivery, DeliveryId, Error, JsonMap, ProjectId, RawJson, Result, ReviewState, Task,
    TaskId, TaskSpec, TaskState,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// Payload keys a task's inputs may carry: Labelbox's own data-row keys.
pub const INPUT_KEYS: &[&str] = &[
    "row_data",
    "external_id",
    "metadata_fields",
    "attachments",
    "media_type",
    "embeddings",
];

/// The state of a data row from its export `workflow_status`.
pub fn task_state(status: Option<&WorkflowStatus>) -> TaskState {
    match status {
        None | Some(WorkflowStatus::ToLabel) => TaskState::New,
        Some(WorkflowStatus::InReview) => TaskState::InReview,
        // Sent back by a reviewer or by `reject_tasks`: Sama's `rejected`, the state every vendor
        // reports for a task sent back for rework (docs/states.md).
        Some(WorkflowStatus::InRework) => TaskState::Rejected,
        Some(WorkflowStatus::Done) => TaskState::Approved,
        Some(WorkflowStatus::Other(s)) => TaskState::Other(s.clone()),
    }
}

/// Counts per core state from an overview (`Labeled`, `All` and `NotInTaskQueue` are totals
/// or overlaps, not states, and are left out).
pub fn stats_from_overview(overview: &ProjectOverview) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (state, n) in &overview.states {
        let core = match state.as_str() {
            "Unlabeled" => TaskState::New,
            "InReview" => TaskState::InReview,
            "InRework" => TaskState::Rejected,
            "Skipped" => TaskState::Skipped,
            "Done" => TaskState::Approved,
            _ => continue,
        };
        *out.entry(core.as_str().to_owned()).or_insert(0) += n;
    }
    out
}

/// The data-row spec of a task: create-or-update by global key `key`, with the task's
/// Labelbox payload keys. `row_data` is required (a task is an asset to label).
pub fn data_row_spec(task: &TaskSpec, key: &str) -> Result<DataRowSpec> {
    if !task.pre_annotations.is_empty() {
        return Err(Error::validation(
            "pre-annotations are not supported by the Labelbox adapter (import them with Labelbox's model-assisted labeling)",
        ));
    }
    let mut payload = JsonMap::new();
    for (k, v) in &task.inputs {
        if INPUT_KEYS.contains(&k.as_str()) {
            payload.insert(k.clone(), v.clone());
        } else {
            return Err(Error::validation(format!(
                "task input {k:?} is not a Labelbox data-row field (use {})",
                INPUT_KEYS.join(", ")
            )));
        }
    }
    match payload.get("row_data") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::Object(_)) => {}
        _ => {
            return Err(Error::validation(format!(
                "task {key:?} has no row_data (the asset URL or text to label)"
            )))
        }
    }
    Ok(DataRowSpec::upsert_by_global_key(key, payload))
}

/// When a label last changed (its revision): `updated_at`, else its content time, else its
/// creation.
pub fn label_revision(label: &ExportLabel) -> Option<DateTime<Utc>> {
    let d = &label.label_details;
    d.updated_at.or(d.content_last_updated_at).or(d.created_at)
}

/// The task of an export line, in `project`.
pub fn task_from_line(line: &ExportLine, project: &ProjectId) -> Task {
    let p = line
        .projects
        .get(project.as_str())
        .cloned()
        .unwrap_or_default();
    let key = line
        .data_row
        .global_key
        .clone()
        .unwrap_or_else(|| line.data_row.id.clone());
    let state = task_state(p.project_details.workflow_status.as_ref());
    let latest = p
        .labels
        .iter()
        .max_by_key(|l| (label_revision(l), l.id.clone()));
    let finished_at = latest.and_then(label_revision);
    let mut inputs = JsonMap::new();
    if let Some(r) = &line.data_row.row_data {
        inputs.insert("row_data".into(), Value::String(r.clone()));
    }
    if let Some(e) = &line.data_row.external_id {
        inputs.insert("external_id".into(), Value::String(e.clone()));
    }
    Task {
        id: TaskId::new(key.clone()),
        external_key: line.data_row.global_key.clone(),
        project_id: project.clone(),
        batch_id: p.project_details.batch_id.clone().map(BatchId::new),
        vendor_state: p
            .project_details
            .workflow_status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        delivered_at: (state == TaskState::Approved)
            .then_some(finished_at)
            .flatten(),
        completed_at: finished_at,
        state,
        priority: p
            .project_details
            .priority
            .and_then(|n| i32::try_from(n).ok()),
        created_at: line
            .data_row
            .details
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(labelmux_core::lenient::timestamp),
        inputs,
        answers: latest.and_then(|l| l.annotations.as_ref().map(RawJson::from_value)),
        raw: RawJson::from_value(&line.raw),
    }
}

/// The deliveries (one per label) of an export line, in `project`.
pub fn deliveries_from_line(line: &ExportLine, project: &ProjectId) -> Vec<Delivery> {
    let Some(p) = line.projects.get(project.as_str()) else {
        return Vec::new();
    };
    let key = line
        .data_row
        .global_key
        .clone()
        .unwrap_or_else(|| line.data_row.id.clone());
    let review = match p.project_details.workflow_status {
        Some(WorkflowStatus::Done) => Some(ReviewState::Approved),
        Some(WorkflowStatus::InRework) => Some(ReviewState::Rejected),
        _ => Some(ReviewState::Unreviewed),
    };
    let labels_pointer = format!("/projects/{}/labels", escape_pointer(project.as_str()));
    // A delivery's raw JSON is its export line narrowed to its own label: the data row and its
    // `media_attributes` (the image and its size) stay beside the label.
    let raw_for = |label_id: &str| -> Value {
        let mut narrowed = line.raw.clone();
        if let Some(Value::Array(labels)) = narrowed.pointer_mut(&labels_pointer) {
            labels.retain(|r| r.get("id").and_then(Value::as_str) == Some(label_id));
        }
        narrowed
    };
    p.labels
        .iter()
        .map(|l| Delivery {
            id: DeliveryId::new(l.id.clone()),
            task_id: TaskId::new(key.clone()),
            external_key: line.data_row.global_key.clone(),
            project_id: project.clone(),
            batch_id: p.project_details.batch_id.clone().map(BatchId::new),
            labelset: None,
            review: review.clone(),
            delivered_at: l.label_details.created_at,
            updated_at: label_revision(l),
            answers: l
                .annotations
                .as_ref()
                .map(RawJson::from_value)
                .unwrap_or_default(),
            raw: RawJson::from_value(&raw_for(&l.id)),
            checkpoint: None,
        })
        .collect()
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_plain, WithRaw};
    use serde_json::json;

    fn line() -> ExportLine {
        let v = json!({
          "data_row": {"id": "cldr", "global_key": "gk-1", "row_data": "https://x/a.jpg",
                       "details": {"created_at": "2024-04-08T16:00:00.000+00:00"}},
          "projects": {"clp": {"labels": [
              {"id": "l1", "label_details": {"created_at": "2024-04-08T16:21:26.000+00:00", "updated_at": "2024-04-08T16:34:02.000+00:00"},
               "annotations": {"objects": [1]}},
              {"id": "l2", "label_details": {"created_at": "2024-04-08T16:22:00.000+00:00", "updated_at": "2024-04-08T16:40:00.000+00:00"},
               "annotations": {"objects": [2]}}],
            "project_details": {"batch_id": "clb", "workflow_status": "DONE", "priority": 3}}}
        });
        let mut l: ExportLine = decode_plain(v.clone(), "line").unwrap();
        l.set_raw(v);
        l
    }

    #[test]
    fn a_done_row_is_an_approved_task_with_its_latest_label() {
        let t = task_from_line(&line(), &ProjectId::new("clp"));
        assert_eq!(t.id.as_str(), "gk-1");
        assert_eq!(t.state, TaskState::Approved);
        assert_eq!(t.batch_id.as_ref().map(|b| b.as_str()), Some("clb"));
        assert_eq!(t.priority, Some(3));
        assert_eq!(t.answers.map(Value::from), Some(json!({"objects": [2]})));
        assert!(t.delivered_at.is_some() && t.created_at.is_some());
        assert_eq!(t.inputs["row_data"], "https://x/a.jpg");
        // Another project's view of the row: no labels, to label.
        let other = task_from_line(&line(), &ProjectId::new("elsewhere"));
        assert_eq!(other.state, TaskState::New);
        assert_eq!(other.answers, None);
    }

    #[test]
    fn every_consensus_label_is_a_delivery() {
        let d = deliveries_from_line(&line(), &ProjectId::new("clp"));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].id.as_str(), "l1");
        assert_eq!(d[1].answers, json!({"objects": [2]}));
        let raw = d[1].raw.to_value();
        let own = raw.pointer("/projects/clp/labels").unwrap();
        assert_eq!(own.as_array().unwrap().len(), 1);
        assert_eq!(own[0]["id"], "l2");
        assert_eq!(raw["data_row"]["row_data"], "https://x/a.jpg");
        assert_eq!(d[0].review, Some(ReviewState::Approved));
        assert!(d[0].updated_at > d[0].delivered_at);
    }

    #[test]
    fn task_specs_become_global_key_upserts_and_bad_ones_are_refused() {
        let ok = TaskSpec::from_json(json!({"row_data": "https://x/a.jpg", "external_id": "a"}))
            .unwrap();
        let spec = data_row_spec(&ok, "k1").unwrap();
        assert_eq!(spec.global_key(), Some("k1"));
        assert_eq!(spec.payload["external_id"], "a");
        let none = TaskSpec::from_json(json!({"external_id": "a"})).unwrap();
        assert!(data_row_spec(&none, "k")
            .unwrap_err()
            .to_string()
            .contains("no row_data"));
        let odd = TaskSpec::from_json(json!({"row_data": "u", "attachment": "v"})).unwrap();
        assert!(data_row_spec(&odd, "k").is_err());
        let pre = ok.clone().with_pre_annotation("boxes", json!([]));
        assert!(data_row_spec(&pre, "k").is_err());
    }

    #[test]
    fn overview_states_map_onto_core_states() {
        let o = ProjectOverview {
            states: [
                ("Unlabeled", 2),
                ("InReview", 1),
                ("Done", 3),
                ("Labeled", 4),
                ("All", 6),
                ("NotInTaskQueue", 0),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            ..ProjectOverview::default()
        };
        let s = stats_from_overview(&o);
        assert_eq!(s.values().sum::<u64>(), 6);
        assert_eq!(s["approved"], 3);
        assert_eq!(s["new"], 2);
    }
}
