//! Scale wire types ↔ the core model: pure conversions, no I/O.
//!
//! A labelmux batch is a Scale batch; a core [`ProjectId`] is a Scale project *name*; a task's
//! external key is its `unique_id`; a delivery is a completed task with its `response`.

use crate::provider::{PreAnnotationTarget, ScaleOptions};
use crate::wire::{batch_status, task_status, ScaleTask};
use labelmux_core::{
    BatchId, BatchStatus, Checkpoint, Delivery, DeliveryId, Error, JsonMap, ProjectId, Result,
    Task, TaskId, TaskSpec, TaskState, Vendor,
};
use serde_json::Value;

const VENDOR: Vendor = Vendor::Scale;

fn op_err(e: Error, op: &str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

// ---------------------------------------------------------------------------------------------
// Model → wire
// ---------------------------------------------------------------------------------------------

/// The body of `POST /task/{type}` for task number `index` (0-based, for messages): the
/// inputs as top-level parameters, plus `project`, `batch`, `unique_id` (the external key),
/// `metadata`, the pre-annotations (per [`ScaleOptions::pre_annotations`]) and the default
/// `instruction` / `callback_url`. A value that would overwrite a different one already in
/// the inputs is a validation error. The priority is not sent: Scale v1 has no task priority.
pub fn build_task_body(
    spec: TaskSpec,
    project: &str,
    batch: &str,
    options: &ScaleOptions,
    index: u64,
) -> Result<JsonMap> {
    let invalid = |msg: String| {
        op_err(
            Error::validation(format!("task {index}: {msg}")),
            "create_batch",
        )
    };
    let TaskSpec {
        inputs,
        pre_annotations,
        external_key,
        metadata,
        ..
    } = spec;
    // Scale takes pre-annotations as one object keyed by target (`{"annotations": [...]}`).
    let pre_annotations: JsonMap = pre_annotations
        .into_iter()
        .map(|p| (p.target, p.value))
        .collect();
    let mut body = inputs;
    let put = |body: &mut JsonMap, key: &str, value: Value, what: &str| -> Result<()> {
        labelmux_core::lenient::insert_unless_conflict(body, key, value).map_err(|_| {
            invalid(format!(
                "{what} would overwrite input `{key}` which holds a different value"
            ))
        })
    };
    put(
        &mut body,
        "project",
        Value::String(project.to_owned()),
        "the project",
    )?;
    put(
        &mut body,
        "batch",
        Value::String(batch.to_owned()),
        "the batch name",
    )?;
    if let Some(key) = external_key {
        put(
            &mut body,
            "unique_id",
            Value::String(key),
            "the external key",
        )?;
    }
    let mut meta = match body.remove("metadata") {
        None | Some(Value::Null) => JsonMap::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid("input `metadata` must be an object".into())),
    };
    for (k, v) in metadata {
        match meta.get(&k) {
            Some(existing) if *existing != v => {
                return Err(invalid(format!(
                    "metadata `{k}` is given twice with different values"
                )))
            }
            _ => {
                meta.insert(k, v);
            }
        }
    }
    if !pre_annotations.is_empty() {
        match &options.pre_annotations {
            PreAnnotationTarget::Hypothesis => put(
                &mut body,
                "hypothesis",
                Value::Object(pre_annotations.clone()),
                "the pre-annotations",
            )?,
            PreAnnotationTarget::Metadata(key) => {
                if meta.contains_key(key) {
                    return Err(invalid(format!(
                        "pre-annotations would overwrite metadata `{key}`"
                    )));
                }
                meta.insert(key.clone(), Value::Object(pre_annotations.clone()));
            }
        }
    }
    if !meta.is_empty() {
        body.insert("metadata".into(), Value::Object(meta));
    }
    if let Some(instruction) = &options.instruction {
        body.entry("instruction")
            .or_insert_with(|| Value::String(instruction.clone()));
    }
    if let Some(url) = &options.callback_url {
        body.entry("callback_url")
            .or_insert_with(|| Value::String(url.clone()));
    }
    Ok(body)
}

/// The Scale `status` (and audit status) a core state corresponds to, for list filters:
/// `(status, customer_review_status)`. `None` for states Scale never reports.
pub fn status_filter(state: &TaskState) -> Option<(&str, Option<&'static str>)> {
    match state {
        TaskState::New => Some((task_status::PENDING, None)),
        TaskState::Completed => Some((task_status::COMPLETED, None)),
        TaskState::Rejected => Some((task_status::COMPLETED, Some("rejected"))),
        TaskState::Canceled => Some((task_status::CANCELED, None)),
        TaskState::Failed => Some((task_status::ERROR, None)),
        TaskState::Other(s) => Some((s.as_str(), None)),
        // Every other state (in progress, review, delivered, …) Scale never reports.
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Wire → model
// ---------------------------------------------------------------------------------------------

/// The core state of a Scale task: `pending` → new, `completed` → completed (rejected when the
/// customer's audit rejected it), `canceled` → canceled, `error` → failed, anything else kept.
pub fn map_state(status: &str, customer_review_status: Option<&str>) -> TaskState {
    match status {
        task_status::PENDING => TaskState::New,
        task_status::COMPLETED => match customer_review_status {
            Some(r) if r.eq_ignore_ascii_case("rejected") => TaskState::Rejected,
            _ => TaskState::Completed,
        },
        task_status::CANCELED | "cancelled" => TaskState::Canceled,
        task_status::ERROR => TaskState::Failed,
        other => TaskState::Other(other.to_owned()),
    }
}

/// Whether a completed task was sent back by a rejected customer audit (it is in rework).
pub fn is_rejected(t: &ScaleTask) -> bool {
    t.customer_review_status
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("rejected"))
}

/// A Scale task as a core [`Task`]: inputs are `params` plus the top-level `instruction`,
/// answers the `response`, `delivered_at` the completion time (completing is delivering on
/// Scale); `project` fills in a missing project.
pub fn task_from_wire(t: ScaleTask, project: &ProjectId) -> Task {
    let vendor_state = t.status.clone().unwrap_or_default();
    let state = map_state(&vendor_state, t.customer_review_status.as_deref());
    let mut inputs = t.params;
    if let Some(instruction) = t.instruction {
        inputs
            .entry("instruction")
            .or_insert(Value::String(instruction));
    }
    Task {
        id: TaskId::new(t.task_id),
        external_key: t.unique_id,
        project_id: t
            .project
            .map(ProjectId::new)
            .unwrap_or_else(|| project.clone()),
        batch_id: t.batch.map(BatchId::new),
        state,
        vendor_state,
        priority: None,
        created_at: t.created_at,
        delivered_at: t.completed_at,
        completed_at: t.completed_at,
        inputs,
        answers: t.response,
        raw: t.raw,
    }
}

/// A completed Scale task as a core [`Delivery`] (answers: its `response`).
pub fn delivery_from_wire(
    t: ScaleTask,
    project: &ProjectId,
    checkpoint: Option<Checkpoint>,
) -> Delivery {
    Delivery {
        id: DeliveryId::new(t.task_id.clone()),
        labelset: None,
        review: None,
        updated_at: None,
        task_id: TaskId::new(t.task_id),
        external_key: t.unique_id,
        project_id: t
            .project
            .map(ProjectId::new)
            .unwrap_or_else(|| project.clone()),
        batch_id: t.batch.map(BatchId::new),
        delivered_at: t.completed_at,
        answers: t.response.unwrap_or_default(),
        raw: t.raw,
        checkpoint,
    }
}

/// The creation-job state of a Scale batch: `staging` (not finalized) → waiting; `in_progress`
/// and `completed` → completed (Scale creates tasks synchronously, so once a batch is past
/// staging every task of it exists).
pub fn map_batch_status(status: &str) -> BatchStatus {
    match status {
        batch_status::STAGING => BatchStatus::Waiting,
        batch_status::IN_PROGRESS | batch_status::COMPLETED => BatchStatus::Created,
        other => BatchStatus::parse(other),
    }
}
