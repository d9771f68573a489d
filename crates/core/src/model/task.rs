//! Tasks: what is sent ([`TaskSpec`]), what the vendor reports ([`Task`]), their
//! [`TaskState`], and how to list them ([`TaskFilter`]).

use super::{string_enum_serde, BatchRef, Extensions, JsonMap, RawJson};
use crate::{BatchId, Error, ProjectId, Result, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A pre-annotation: a proposed answer sent with a task, for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PreAnnotation {
    /// Where it goes, in the vendor's terms: a Sama output name, a Scale hypothesis field, a
    /// Labelbox model run or ontology feature, a Segments labelset.
    pub target: String,
    /// The proposed answer, vendor-native JSON.
    pub value: Value,
}

impl PreAnnotation {
    /// A pre-annotation of `value` for `target`.
    pub fn new(target: impl Into<String>, value: Value) -> Self {
        PreAnnotation {
            target: target.into(),
            value,
        }
    }
}

/// What to create: one task of a batch.
///
/// ```
/// use labelmux_core::TaskSpec;
/// use serde_json::json;
/// let spec = TaskSpec::default()
///     .with_input("url", json!("https://cdn.example/1.jpg"))
///     .with_external_key("img-1")
///     .with_priority(2);
/// assert_eq!(spec.inputs["url"], json!("https://cdn.example/1.jpg"));
/// let same = TaskSpec::from_json(json!({"url": "https://cdn.example/1.jpg"}))
///     .unwrap()
///     .with_external_key("img-1")
///     .with_priority(2);
/// assert_eq!(spec, same);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskSpec {
    /// Task inputs keyed by the project's input names.
    #[serde(default)]
    pub inputs: JsonMap,
    /// Proposed answers, each for one target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_annotations: Vec<PreAnnotation>,
    /// The caller's own key for this task, used for idempotency (Scale `unique_id`,
    /// Labelbox `global_key`, Segments sample name, a Sama input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_key: Option<String>,
    /// Priority; lower is worked first (Sama's convention, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Free-form metadata the vendor stores with the task, where it can.
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
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

    /// A task whose inputs are the members of a JSON object; anything else is a validation
    /// error.
    pub fn from_json(inputs: Value) -> Result<Self> {
        match inputs {
            Value::Object(map) => Ok(TaskSpec::new(map)),
            other => Err(Error::validation(format!(
                "task inputs must be a JSON object, found {}",
                json_kind(&other)
            ))),
        }
    }

    /// Add (or replace) one input.
    pub fn with_input(mut self, name: impl Into<String>, value: Value) -> Self {
        self.inputs.insert(name.into(), value);
        self
    }

    /// Set the external key.
    pub fn with_external_key(mut self, key: impl Into<String>) -> Self {
        self.external_key = Some(key.into());
        self
    }

    /// Set the priority (lower is worked first).
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Add a pre-annotation for `target`.
    pub fn with_pre_annotation(mut self, target: impl Into<String>, value: Value) -> Self {
        self.pre_annotations.push(PreAnnotation::new(target, value));
        self
    }

    /// Add one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// The pre-annotations as one object keyed by target (a later duplicate target wins), for
    /// vendors that take them as one JSON object.
    pub fn pre_annotations_by_target(&self) -> JsonMap {
        self.pre_annotations
            .iter()
            .map(|p| (p.target.clone(), p.value.clone()))
            .collect()
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A task's place in the lifecycle, in Sama's vocabulary widened for review and rework.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Created, not yet worked on (the only state Sama lets you delete).
    New,
    /// Created with proposed answers that a labeler has not yet touched (Segments `PRELABELED`).
    PreLabeled,
    /// Being annotated.
    InProgress,
    /// A labeler skipped it (Segments `SKIPPED`, Labelbox skipped labels).
    Skipped,
    /// Annotation finished.
    Completed,
    /// Waiting for or under review (Labelbox review queues, Segments `LABELED` awaiting review).
    InReview,
    /// Passed the vendor's quality review.
    Approved,
    /// Sent back by a reviewer and being reworked (Labelbox rework queue, Segments `REJECTED`).
    InRework,
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
    /// Every named state, in lifecycle order.
    pub const KNOWN: [TaskState; 13] = [
        TaskState::New,
        TaskState::PreLabeled,
        TaskState::InProgress,
        TaskState::Skipped,
        TaskState::Completed,
        TaskState::InReview,
        TaskState::Approved,
        TaskState::InRework,
        TaskState::Delivered,
        TaskState::Acknowledged,
        TaskState::Rejected,
        TaskState::Canceled,
        TaskState::Failed,
    ];

    /// The canonical name (Sama's strings where Sama has the state; note the spaces).
    pub fn as_str(&self) -> &str {
        match self {
            TaskState::New => "new",
            TaskState::PreLabeled => "pre-labeled",
            TaskState::InProgress => "in progress",
            TaskState::Skipped => "skipped",
            TaskState::Completed => "completed",
            TaskState::InReview => "in review",
            TaskState::Approved => "approved",
            TaskState::InRework => "in rework",
            TaskState::Delivered => "delivered",
            TaskState::Acknowledged => "acknowledged",
            TaskState::Rejected => "rejected",
            TaskState::Canceled => "canceled",
            TaskState::Failed => "failed",
            TaskState::Other(s) => s,
        }
    }

    /// Parse a canonical name; `_`, `-` and spaces are interchangeable and case is ignored, and
    /// `cancelled` and `prelabeled` are accepted. Anything else becomes [`TaskState::Other`].
    pub fn parse(s: &str) -> TaskState {
        let norm = s.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        match norm.as_str() {
            "cancelled" => TaskState::Canceled,
            "prelabeled" | "pre labeled" => TaskState::PreLabeled,
            _ => TaskState::KNOWN
                .iter()
                .find(|k| k.as_str().replace('-', " ") == norm)
                .cloned()
                .unwrap_or_else(|| TaskState::Other(s.to_owned())),
        }
    }

    /// Whether the task has finished annotation (completed or later, not sent back).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            TaskState::Completed
                | TaskState::InReview
                | TaskState::Approved
                | TaskState::Delivered
                | TaskState::Acknowledged
        )
    }
}

string_enum_serde!(TaskState);

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
    pub answers: Option<RawJson>,
    /// The vendor's JSON for this task, unchanged (as text; see [`RawJson`]).
    pub raw: RawJson,
}

/// Filters for listing tasks. Every filter is optional; a vendor that cannot apply one refuses
/// the listing with a validation error rather than ignoring it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskFilter {
    /// Only this batch (by id, or by the name given at creation).
    pub batch: Option<BatchRef>,
    /// Only tasks in one of these states (empty: any state).
    pub states: Vec<TaskState>,
    /// Only labels of this labelset / stage (Segments labelsets).
    pub labelset: Option<String>,
    /// Created (or, per vendor, updated) at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created (or, per vendor, updated) before.
    pub to: Option<DateTime<Utc>>,
    /// Include answers (costs bandwidth; off by default, as Sama's `omit_answers`).
    pub include_answers: bool,
    /// Vendor-specific options; each adapter documents the keys it reads.
    pub extensions: Extensions,
}

impl TaskFilter {
    /// Only this batch id.
    pub fn with_batch(mut self, batch: impl Into<BatchId>) -> Self {
        self.batch = Some(BatchRef::Id(batch.into()));
        self
    }
    /// Only the batch created under this name.
    pub fn with_batch_name(mut self, name: impl Into<String>) -> Self {
        self.batch = Some(BatchRef::Name(name.into()));
        self
    }
    /// Add a state to the accepted set.
    pub fn with_state(mut self, state: TaskState) -> Self {
        self.states.push(state);
        self
    }
    /// Only this labelset.
    pub fn with_labelset(mut self, labelset: impl Into<String>) -> Self {
        self.labelset = Some(labelset.into());
        self
    }
    /// Created at or after `from`, before `to`.
    pub fn with_window(mut self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        self.from = from;
        self.to = to;
        self
    }
    /// Include answers.
    pub fn with_answers(mut self, include: bool) -> Self {
        self.include_answers = include;
        self
    }
    /// Set a vendor-specific option.
    pub fn with_extension(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extensions.insert(key, value);
        self
    }
    /// Whether `state` passes the state filter.
    pub fn accepts_state(&self, state: &TaskState) -> bool {
        self.states.is_empty() || self.states.contains(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn task_states_round_trip_and_keep_unknowns() {
        for s in TaskState::KNOWN {
            assert_eq!(TaskState::parse(s.as_str()), s, "{s}");
        }
        assert_eq!(TaskState::parse("in_progress"), TaskState::InProgress);
        assert_eq!(TaskState::parse("IN PROGRESS"), TaskState::InProgress);
        assert_eq!(TaskState::parse("cancelled"), TaskState::Canceled);
        assert_eq!(TaskState::parse("PRELABELED"), TaskState::PreLabeled);
        assert_eq!(TaskState::parse("in_review"), TaskState::InReview);
        assert_eq!(
            TaskState::parse("on_hold"),
            TaskState::Other("on_hold".into())
        );
        let st: TaskState = serde_json::from_value(json!("in progress")).unwrap();
        assert_eq!(serde_json::to_value(&st).unwrap(), json!("in progress"));
    }

    #[test]
    fn from_json_takes_objects_only() {
        let spec = TaskSpec::from_json(json!({"url": "u"})).unwrap();
        assert_eq!(spec.inputs["url"], json!("u"));
        let err = TaskSpec::from_json(json!(["u"])).unwrap_err();
        assert!(err.to_string().contains("an array"), "{err}");
    }

    #[test]
    fn pre_annotations_keep_their_targets() {
        let spec = TaskSpec::default()
            .with_pre_annotation("weather", json!({"rain": "0"}))
            .with_pre_annotation("ground-truth", json!([1]));
        let by_target = spec.pre_annotations_by_target();
        assert_eq!(by_target["weather"], json!({"rain": "0"}));
        assert_eq!(by_target["ground-truth"], json!([1]));
    }

    #[test]
    fn filter_state_set() {
        let any = TaskFilter::default();
        assert!(any.accepts_state(&TaskState::New));
        let f = TaskFilter::default()
            .with_state(TaskState::Completed)
            .with_state(TaskState::Approved);
        assert!(f.accepts_state(&TaskState::Approved));
        assert!(!f.accepts_state(&TaskState::New));
    }
}
