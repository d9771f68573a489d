//! The vendor-neutral model. Its vocabulary is Sama's: a batch is a batch-creation job, tasks
//! carry inputs plus `output_` pre-annotations, and a task moves through
//! new → in progress → completed → approved → delivered → acknowledged / rejected.

use crate::{BatchId, ProjectId, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON object, as task inputs, pre-annotations and metadata are.
pub type JsonMap = Map<String, Value>;

/// The prefix that marks a pre-annotation column or input (Sama's convention).
pub const PRE_ANNOTATION_PREFIX: &str = "output_";

/// What to create: one task of a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Task inputs keyed by the project's input names.
    #[serde(default)]
    pub inputs: JsonMap,
    /// Pre-annotations (default answers) keyed by output name, *without* the `output_` prefix.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub pre_annotations: JsonMap,
    /// The caller's own key for this task, used for idempotency (Scale `unique_id`,
    /// Labelbox `global_key`, Segments sample name, a Sama input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_key: Option<String>,
    /// Priority; lower is worked first (Sama's convention, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Free-form metadata the vendor stores with the task, where it can.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: JsonMap,
}

impl TaskSpec {
    /// A task with these inputs and nothing else.
    pub fn new(inputs: JsonMap) -> Self {
        TaskSpec {
            inputs,
            ..TaskSpec::default()
        }
    }

    /// Set the external key.
    pub fn with_external_key(mut self, key: impl Into<String>) -> Self {
        self.external_key = Some(key.into());
        self
    }

    /// Add a pre-annotation for output `name` (without the `output_` prefix).
    pub fn with_pre_annotation(mut self, name: impl Into<String>, value: Value) -> Self {
        self.pre_annotations.insert(name.into(), value);
        self
    }

    /// Build a spec from one flat record (a JSONL object or CSV row) using the Sama Databricks
    /// connector's conventions: `output_<name>` columns are pre-annotations (a JSON string is
    /// parsed, and must parse), `external_id` is the external key, `priority` the priority;
    /// every other column is an input.
    pub fn from_record(record: JsonMap) -> Result<TaskSpec, String> {
        let mut spec = TaskSpec::default();
        for (key, value) in record {
            if let Some(output) = key.strip_prefix(PRE_ANNOTATION_PREFIX) {
                let value = match value {
                    Value::String(text) => serde_json::from_str(&text).map_err(|e| {
                        format!("column `{key}`: pre-annotation is not valid JSON: {e}")
                    })?,
                    other => other,
                };
                spec.pre_annotations.insert(output.to_owned(), value);
            } else if key == "external_id" {
                spec.external_key = match value {
                    Value::Null => None,
                    Value::String(s) if s.is_empty() => None,
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    other => {
                        return Err(format!(
                            "column `external_id`: expected a string, found {other}"
                        ))
                    }
                };
            } else if key == "priority" {
                spec.priority =
                    match &value {
                        Value::Null => None,
                        Value::String(s) if s.trim().is_empty() => None,
                        Value::Number(n) => {
                            Some(n.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(
                                || format!("column `priority`: {n} is not a 32-bit integer"),
                            )?)
                        }
                        Value::String(s) => Some(s.trim().parse::<i32>().map_err(|_| {
                            format!("column `priority`: {s:?} is not a 32-bit integer")
                        })?),
                        other => {
                            return Err(format!(
                                "column `priority`: expected an integer, found {other}"
                            ))
                        }
                    };
            } else {
                spec.inputs.insert(key, value);
            }
        }
        Ok(spec)
    }
}

/// A task's place in the lifecycle, in Sama's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Created, not yet worked on (the only state Sama lets you delete).
    New,
    /// Being annotated.
    InProgress,
    /// Annotation finished.
    Completed,
    /// Passed the vendor's quality review.
    Approved,
    /// Made available to the client.
    Delivered,
    /// Delivery acknowledged by the client.
    Acknowledged,
    /// Rejected by the client and sent back for rework.
    Rejected,
    /// Canceled before completion.
    Canceled,
    /// The vendor failed to process the task.
    Failed,
    /// A vendor state labelmux does not know; the string is kept as sent.
    Other(String),
}

impl TaskState {
    /// The seven Sama states plus canceled and failed, in lifecycle order.
    pub const KNOWN: [TaskState; 9] = [
        TaskState::New,
        TaskState::InProgress,
        TaskState::Completed,
        TaskState::Approved,
        TaskState::Delivered,
        TaskState::Acknowledged,
        TaskState::Rejected,
        TaskState::Canceled,
        TaskState::Failed,
    ];

    /// The canonical name (Sama's strings; note the space in `in progress`).
    pub fn as_str(&self) -> &str {
        match self {
            TaskState::New => "new",
            TaskState::InProgress => "in progress",
            TaskState::Completed => "completed",
            TaskState::Approved => "approved",
            TaskState::Delivered => "delivered",
            TaskState::Acknowledged => "acknowledged",
            TaskState::Rejected => "rejected",
            TaskState::Canceled => "canceled",
            TaskState::Failed => "failed",
            TaskState::Other(s) => s,
        }
    }

    /// Parse a canonical name; accepts `in_progress`/`in-progress` and `cancelled` too.
    /// Anything else becomes [`TaskState::Other`].
    pub fn parse(s: &str) -> TaskState {
        let norm = s.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        match norm.as_str() {
            "cancelled" => TaskState::Canceled,
            _ => TaskState::KNOWN
                .iter()
                .find(|k| k.as_str() == norm)
                .cloned()
                .unwrap_or_else(|| TaskState::Other(s.to_owned())),
        }
    }

    /// Whether the task has finished annotation (completed or later, not rejected).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            TaskState::Completed
                | TaskState::Approved
                | TaskState::Delivered
                | TaskState::Acknowledged
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TaskState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TaskState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(TaskState::parse(&String::deserialize(d)?))
    }
}

/// A task as the vendor reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The vendor's task id.
    pub id: TaskId,
    /// The caller's external key, if the vendor kept one.
    pub external_key: Option<String>,
    /// The project the task belongs to.
    pub project_id: ProjectId,
    /// The batch the task was created in, if known.
    pub batch_id: Option<BatchId>,
    /// The unified state.
    pub state: TaskState,
    /// The vendor's own state string, unchanged.
    pub vendor_state: String,
    /// Priority, where the vendor reports it.
    pub priority: Option<i32>,
    /// When the task was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the task was last delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When annotation finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// Task inputs.
    pub inputs: JsonMap,
    /// The answers (vendor-native JSON), when present.
    pub answers: Option<Value>,
    /// The vendor's JSON for this task, unchanged.
    pub raw: Value,
}

/// A finished label, ready to be taken by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The task delivered.
    pub task_id: TaskId,
    /// The caller's external key, if the vendor kept one.
    pub external_key: Option<String>,
    /// The project.
    pub project_id: ProjectId,
    /// The batch, if known.
    pub batch_id: Option<BatchId>,
    /// When it was delivered (vendors may omit it: Sama's own examples carry `null`).
    pub delivered_at: Option<DateTime<Utc>>,
    /// The answers, vendor-native JSON.
    pub answers: Value,
    /// The vendor's JSON, unchanged.
    pub raw: Value,
    /// For client-side consumer cursors: the position to commit once this delivery is safely
    /// stored (see `Provider::commit_consumer`). `None` where the vendor keeps the cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// An opaque consumer-cursor position; pass it back to `Provider::commit_consumer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(pub Value);

/// Where a delivery query starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliverySince {
    /// Every delivery the vendor still lists.
    Beginning,
    /// Deliveries at or after this instant.
    Timestamp(DateTime<Utc>),
    /// Deliveries since this named consumer's last call. Two consumers are independent.
    LastCall {
        /// The consumer's name.
        consumer: String,
    },
}

/// Which deliveries to pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryQuery {
    /// Where to start.
    pub since: DeliverySince,
    /// Only this batch.
    pub batch_id: Option<BatchId>,
    /// Only this client batch id (Sama's client-defined batch input).
    pub client_batch_id: Option<String>,
    /// Only this task.
    pub task_id: Option<TaskId>,
}

impl DeliveryQuery {
    /// Deliveries at or after `ts`.
    pub fn since(ts: DateTime<Utc>) -> Self {
        Self::with_since(DeliverySince::Timestamp(ts))
    }
    /// Every delivery.
    pub fn all() -> Self {
        Self::with_since(DeliverySince::Beginning)
    }
    /// Deliveries since `consumer`'s last call.
    pub fn since_last_call(consumer: impl Into<String>) -> Self {
        Self::with_since(DeliverySince::LastCall {
            consumer: consumer.into(),
        })
    }
    fn with_since(since: DeliverySince) -> Self {
        DeliveryQuery {
            since,
            batch_id: None,
            client_batch_id: None,
            task_id: None,
        }
    }
    /// Restrict to one batch.
    pub fn batch(mut self, batch: impl Into<BatchId>) -> Self {
        self.batch_id = Some(batch.into());
        self
    }
}

/// Filters for listing tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskFilter {
    /// Only this batch.
    pub batch_id: Option<BatchId>,
    /// Only this client batch id.
    pub client_batch_id: Option<String>,
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Created (or, per vendor, updated) at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created (or, per vendor, updated) before.
    pub to: Option<DateTime<Utc>>,
    /// Include answers (costs bandwidth; off by default, as Sama's `omit_answers`).
    pub include_answers: bool,
}

/// How a batch is to be created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchSpec {
    /// A name / client batch id for the batch. Required by vendors with named batches (Scale).
    pub name: Option<String>,
    /// Priority applied to every task that has none.
    pub priority: Option<i32>,
    /// E-mail the vendor notifies when creation finishes (Sama).
    pub notification_email: Option<String>,
    /// Submit tasks with their pre-annotations right away (Sama's `submit`).
    pub submit: bool,
}

/// The state of a batch-creation job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BatchStatus {
    /// Opened, waiting for tasks (Sama before `continue`, Scale before finalize).
    Waiting,
    /// Tasks are being created.
    Processing,
    /// Creation finished: every task is created or failed.
    Completed,
    /// Canceled before all tasks were created.
    Canceled,
    /// The job failed as a whole.
    Failed,
    /// A vendor status labelmux does not know; kept as sent.
    Other(String),
}

impl BatchStatus {
    /// Canonical lower-case name.
    pub fn as_str(&self) -> &str {
        match self {
            BatchStatus::Waiting => "waiting",
            BatchStatus::Processing => "processing",
            BatchStatus::Completed => "completed",
            BatchStatus::Canceled => "canceled",
            BatchStatus::Failed => "failed",
            BatchStatus::Other(s) => s,
        }
    }
    /// Parse a canonical name; unknown strings become [`BatchStatus::Other`].
    pub fn parse(s: &str) -> BatchStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "waiting" => BatchStatus::Waiting,
            "processing" | "in progress" | "in_progress" | "queued" | "creating" => {
                BatchStatus::Processing
            }
            "completed" | "complete" | "created" | "done" => BatchStatus::Completed,
            "canceled" | "cancelled" => BatchStatus::Canceled,
            "failed" | "error" => BatchStatus::Failed,
            _ => BatchStatus::Other(s.to_owned()),
        }
    }
    /// Whether creation is over (completed, canceled or failed).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            BatchStatus::Completed | BatchStatus::Canceled | BatchStatus::Failed
        )
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BatchStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BatchStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BatchStatus::parse(&String::deserialize(d)?))
    }
}

/// Task counts of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCounts {
    /// Tasks sent to the vendor.
    pub submitted: Option<u64>,
    /// Tasks created successfully.
    pub created: u64,
    /// Tasks whose creation failed.
    pub failed: u64,
    /// Tasks still waiting to be created.
    pub pending: u64,
    /// Created tasks being worked on, where the vendor reports it.
    pub in_progress: Option<u64>,
    /// Created tasks finished, where the vendor reports it.
    pub completed: Option<u64>,
    /// Tasks canceled before creation.
    pub canceled: u64,
}

/// One task whose creation failed, with what was sent so nothing is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCreationFailure {
    /// Position of the task in the submitted stream (0-based), where known.
    pub index: Option<u64>,
    /// The external key, where known.
    pub external_key: Option<String>,
    /// The data submitted, as the vendor echoed it.
    pub data: Option<Value>,
    /// Why it failed (the vendor's messages).
    pub errors: Vec<String>,
}

/// A batch and the state of its creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The batch id.
    pub id: BatchId,
    /// The project.
    pub project_id: ProjectId,
    /// The batch name / client batch id, where known.
    pub name: Option<String>,
    /// Creation-job state.
    pub status: BatchStatus,
    /// The vendor's own status string.
    pub vendor_status: String,
    /// Counts.
    pub counts: BatchCounts,
    /// Every task whose creation failed, never dropped.
    pub failures: Vec<TaskCreationFailure>,
    /// Messages the vendor logged during creation.
    pub messages: Vec<String>,
    /// The vendor's JSON (for paged responses, the first page without its task list).
    pub raw: Value,
}

/// What `create_batch` returns once every task has been handed to the vendor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReceipt {
    /// The batch created.
    pub batch_id: BatchId,
    /// The project.
    pub project_id: ProjectId,
    /// How many tasks were sent.
    pub submitted: u64,
    /// Tasks known to be created by the time the call returned (vendors that create
    /// asynchronously, like Sama, report 0 here; poll `batch_status`).
    pub created: u64,
    /// Tasks known to have failed, with what was sent.
    pub failures: Vec<TaskCreationFailure>,
    /// Ids of tasks created, where the vendor reports them synchronously.
    pub task_ids: Vec<TaskId>,
    /// Tasks not created because their external key already belongs to a task in another
    /// batch (vendors with idempotent creation): not duplicated, and not part of this batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub already_existed: Vec<AlreadyExisted>,
    /// The vendor's final response.
    pub raw: Value,
}

/// A submitted task whose external key matched a task that already existed elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlreadyExisted {
    /// Position of the task in the submitted stream (0-based).
    pub index: u64,
    /// The external key that matched.
    pub external_key: Option<String>,
    /// The existing task.
    pub task_id: TaskId,
    /// The batch the existing task belongs to, where known.
    pub batch_id: Option<BatchId>,
}

/// Result of deleting tasks: what was deleted and what the vendor refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteReport {
    /// Tasks deleted.
    pub deleted: Vec<TaskId>,
    /// Tasks not deleted, each with the reason.
    pub refused: Vec<(TaskId, String)>,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The project id.
    pub id: ProjectId,
    /// Its name.
    pub name: Option<String>,
    /// Its state (e.g. `active`), as the vendor says.
    pub state: Option<String>,
    /// Its type (e.g. `image_annotation`).
    pub kind: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// The vendor's JSON, unchanged.
    pub raw: Value,
}

/// Task counts of a project, by state, over an optional window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectStats {
    /// The project.
    pub project_id: ProjectId,
    /// Count per unified state (canonical names).
    pub tasks_by_state: std::collections::BTreeMap<String, u64>,
    /// The vendor's JSON, unchanged.
    pub raw: Value,
}

impl ProjectStats {
    /// Total tasks over all states.
    pub fn total(&self) -> u64 {
        self.tasks_by_state.values().sum()
    }
}

/// Which operations an adapter supports. Behaviour tests are gated on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `create_batch`.
    pub create_batch: bool,
    /// `cancel_batch`.
    pub cancel_batch: bool,
    /// `batch_status`.
    pub batch_status: bool,
    /// `get_task`.
    pub get_task: bool,
    /// `list_tasks`.
    pub list_tasks: bool,
    /// `deliveries` with [`DeliverySince::Beginning`] / [`DeliverySince::Timestamp`].
    pub deliveries_since: bool,
    /// `deliveries` with [`DeliverySince::LastCall`].
    pub deliveries_since_last_call: bool,
    /// The vendor keeps the consumer cursor itself (Sama); otherwise labelmux keeps it locally
    /// and callers commit [`Delivery::checkpoint`] with `commit_consumer`.
    pub server_side_consumer: bool,
    /// `reject_task`.
    pub reject_task: bool,
    /// `set_priority`.
    pub set_priority: bool,
    /// `delete_tasks`.
    pub delete_tasks: bool,
    /// `project`.
    pub project_info: bool,
    /// `project_stats`.
    pub project_stats: bool,
    /// `task_schema`.
    pub task_schema: bool,
    /// Re-submitting a task with the same external key does not create a duplicate.
    pub idempotent_create: bool,
    /// Pre-annotations are sent to the vendor.
    pub pre_annotations: bool,
}

impl Capabilities {
    /// `(name, supported)` for every operation, for tables and docs.
    pub fn entries(&self) -> [(&'static str, bool); 16] {
        [
            ("create_batch", self.create_batch),
            ("cancel_batch", self.cancel_batch),
            ("batch_status", self.batch_status),
            ("get_task", self.get_task),
            ("list_tasks", self.list_tasks),
            ("deliveries_since", self.deliveries_since),
            (
                "deliveries_since_last_call",
                self.deliveries_since_last_call,
            ),
            ("server_side_consumer", self.server_side_consumer),
            ("reject_task", self.reject_task),
            ("set_priority", self.set_priority),
            ("delete_tasks", self.delete_tasks),
            ("project_info", self.project_info),
            ("project_stats", self.project_stats),
            ("task_schema", self.task_schema),
            ("idempotent_create", self.idempotent_create),
            ("pre_annotations", self.pre_annotations),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn task_states_round_trip_and_keep_unknowns() {
        for s in TaskState::KNOWN {
            assert_eq!(TaskState::parse(s.as_str()), s);
        }
        assert_eq!(TaskState::parse("in_progress"), TaskState::InProgress);
        assert_eq!(TaskState::parse("IN PROGRESS"), TaskState::InProgress);
        assert_eq!(TaskState::parse("cancelled"), TaskState::Canceled);
        assert_eq!(
            TaskState::parse("on_hold"),
            TaskState::Other("on_hold".into())
        );
        let st: TaskState = serde_json::from_value(json!("in progress")).unwrap();
        assert_eq!(serde_json::to_value(&st).unwrap(), json!("in progress"));
    }

    #[test]
    fn record_columns_split_into_inputs_pre_annotations_key_and_priority() {
        let rec = json!({
            "url": "https://x/1.jpg",
            "output_weather": "{\"rain\":\"0\"}",
            "output_raw": {"a": 1},
            "external_id": "img-1",
            "priority": "-5"
        });
        let spec = TaskSpec::from_record(rec.as_object().unwrap().clone()).unwrap();
        assert_eq!(spec.inputs.get("url"), Some(&json!("https://x/1.jpg")));
        assert_eq!(spec.inputs.len(), 1);
        assert_eq!(spec.pre_annotations["weather"], json!({"rain": "0"}));
        assert_eq!(spec.pre_annotations["raw"], json!({"a": 1}));
        assert_eq!(spec.external_key.as_deref(), Some("img-1"));
        assert_eq!(spec.priority, Some(-5));
    }

    #[test]
    fn bad_record_columns_are_reported_by_name() {
        let bad_json = json!({"output_x": "{not json"});
        let err = TaskSpec::from_record(bad_json.as_object().unwrap().clone()).unwrap_err();
        assert!(err.contains("output_x"), "{err}");
        let bad_priority = json!({"priority": "high"});
        let err = TaskSpec::from_record(bad_priority.as_object().unwrap().clone()).unwrap_err();
        assert!(err.contains("priority"), "{err}");
        let too_big = json!({"priority": 3_000_000_000_i64});
        assert!(TaskSpec::from_record(too_big.as_object().unwrap().clone()).is_err());
    }

    #[test]
    fn batch_status_parses_vendor_words() {
        assert_eq!(BatchStatus::parse("completed"), BatchStatus::Completed);
        assert_eq!(BatchStatus::parse("cancelled"), BatchStatus::Canceled);
        assert_eq!(
            BatchStatus::parse("staging"),
            BatchStatus::Other("staging".into())
        );
        assert!(BatchStatus::Canceled.is_terminal());
        assert!(!BatchStatus::Waiting.is_terminal());
    }
}

/// Renames and defaults applied to every task's inputs before it goes to a vendor, so one task
/// file with neutral column names feeds every vendor (e.g. Sama's `url` input is Scale's
/// `attachment`). Configured per vendor; see `docs/configuration.md`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputMapping {
    /// Input name in the task file → input name the vendor expects.
    pub rename: std::collections::BTreeMap<String, String>,
    /// Inputs added to every task that lacks them (after renaming).
    pub defaults: JsonMap,
}

impl InputMapping {
    /// Whether applying this mapping changes nothing.
    pub fn is_empty(&self) -> bool {
        self.rename.is_empty() && self.defaults.is_empty()
    }

    /// Apply the renames, then the defaults, to one task. A rename whose target already exists
    /// is an error rather than a silent overwrite.
    pub fn apply(&self, mut task: TaskSpec) -> Result<TaskSpec, String> {
        for (from, to) in &self.rename {
            if let Some(value) = task.inputs.remove(from) {
                if task.inputs.contains_key(to) {
                    return Err(format!(
                        "input `{from}` is renamed to `{to}`, but the task already has `{to}`"
                    ));
                }
                task.inputs.insert(to.clone(), value);
            }
        }
        for (name, value) in &self.defaults {
            task.inputs
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        Ok(task)
    }
}

#[cfg(test)]
mod input_mapping_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renames_then_fills_defaults_without_overwriting() {
        let mapping = InputMapping {
            rename: [("url".to_owned(), "attachment".to_owned())].into(),
            defaults: json!({"attachment_type": "image", "instruction": "Box every cat"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let spec = TaskSpec::new(
            json!({"url": "u", "instruction": "mine"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let out = mapping.apply(spec).unwrap();
        assert_eq!(
            Value::Object(out.inputs),
            json!({"attachment": "u", "attachment_type": "image", "instruction": "mine"})
        );
        let clash = TaskSpec::new(
            json!({"url": "u", "attachment": "a"})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert!(mapping
            .apply(clash)
            .unwrap_err()
            .contains("already has `attachment`"));
        assert!(InputMapping::default().is_empty());
    }
}
