//! Batches: how one is created ([`BatchSpec`]), its creation job ([`BatchStatus`]) and
//! labeling progress ([`LabelingProgress`]), what creation returns ([`BatchReceipt`]), and the
//! options of the operations on tasks of a batch.

use super::{string_enum_serde, Extensions, TaskState};
use crate::{BatchId, ProjectId, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A batch named by its vendor id or by the name it was created under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BatchRef {
    /// The vendor's batch id.
    Id(BatchId),
    /// The name given in [`BatchSpec::name`] (Sama's client batch id, Scale's batch name, …).
    Name(String),
}

/// How a batch is to be created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchSpec {
    /// A name for the batch. Required by vendors with named batches (Scale); recorded as the
    /// client batch id on Sama and on each sample on Segments.
    pub name: Option<String>,
    /// Priority applied to every task that has none.
    pub priority: Option<i32>,
    /// Vendor-specific options; each adapter documents the keys it reads (Sama:
    /// `notification_email`, `submit`).
    pub extensions: Extensions,
}

impl BatchSpec {
    /// Name the batch.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Priority for tasks that have none.
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = Some(priority);
        self
    }
    /// Set a vendor-specific option.
    pub fn with_extension(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extensions.insert(key, value);
        self
    }
}

/// The state of a batch's creation job: are its tasks created? (Labeling progress is separate:
/// [`Batch::labeling`].)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BatchStatus {
    /// Opened, waiting for tasks (Sama before `continue`, Scale before finalize).
    Waiting,
    /// Tasks are being created.
    Processing,
    /// Creation finished: every task is created or failed.
    Created,
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
            BatchStatus::Created => "created",
            BatchStatus::Canceled => "canceled",
            BatchStatus::Failed => "failed",
            BatchStatus::Other(s) => s,
        }
    }
    /// Parse a canonical or vendor name; unknown strings become [`BatchStatus::Other`].
    pub fn parse(s: &str) -> BatchStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "waiting" => BatchStatus::Waiting,
            "processing" | "in progress" | "in_progress" | "queued" | "creating" => {
                BatchStatus::Processing
            }
            "created" | "completed" | "complete" | "done" => BatchStatus::Created,
            "canceled" | "cancelled" => BatchStatus::Canceled,
            "failed" | "error" => BatchStatus::Failed,
            _ => BatchStatus::Other(s.to_owned()),
        }
    }
    /// Whether creation is over (created, canceled or failed).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            BatchStatus::Created | BatchStatus::Canceled | BatchStatus::Failed
        )
    }
}

string_enum_serde!(BatchStatus);

/// Task-creation counts of a batch.
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
    /// Tasks canceled before creation.
    pub canceled: u64,
}

/// Labeling progress of a batch's created tasks, where the vendor reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelingProgress {
    /// Created tasks per unified state (canonical names, see [`TaskState::as_str`]).
    pub by_state: BTreeMap<String, u64>,
}

impl LabelingProgress {
    /// Tasks counted.
    pub fn total(&self) -> u64 {
        self.by_state.values().sum()
    }
    /// Tasks in `state`.
    pub fn count(&self, state: &TaskState) -> u64 {
        self.by_state.get(state.as_str()).copied().unwrap_or(0)
    }
    /// Tasks that finished annotation (see [`TaskState::is_finished`]).
    pub fn finished(&self) -> u64 {
        self.by_state
            .iter()
            .filter(|(s, _)| TaskState::parse(s).is_finished())
            .map(|(_, n)| n)
            .sum()
    }
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

/// A batch: its creation job and, where the vendor reports it, its labeling progress.
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
    /// Creation counts.
    pub counts: BatchCounts,
    /// Labeling progress of the created tasks, where the vendor reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labeling: Option<LabelingProgress>,
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
    /// The batch created (the first, when the vendor's size limit split it into several:
    /// see [`BatchReceipt::more_batches`]).
    pub batch_id: BatchId,
    /// Further batches the tasks were split into, when the vendor limits batch size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_batches: Vec<BatchId>,
    /// The project.
    pub project_id: ProjectId,
    /// How many tasks were sent.
    pub submitted: u64,
    /// Tasks known to be created by the time the call returned (vendors that create
    /// asynchronously, like Sama, report 0 here; poll `batch_status`).
    pub created: u64,
    /// Tasks the vendor refused (it answered, and said no), with what was sent. Fix them and
    /// send them again.
    pub failures: Vec<TaskCreationFailure>,
    /// Tasks whose creation outcome is unknown: a temporary failure outlived every retry, or the
    /// vendor may have acted on the request but its answer was lost. Each may or may not exist
    /// at the vendor, so they are never counted as refused: resubmit one only where that cannot
    /// duplicate it (an external key on a vendor with [`Property::IdempotentCreate`]), else look
    /// it up first. `errors` says what happened.
    ///
    /// [`Property::IdempotentCreate`]: crate::Property::IdempotentCreate
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<TaskCreationFailure>,
    /// Ids of tasks created, where the vendor reports them synchronously.
    pub task_ids: Vec<TaskId>,
    /// Tasks not created because their external key already belongs to a task in another
    /// batch (vendors with idempotent creation): not duplicated, and not part of this batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub already_existed: Vec<AlreadyExisted>,
    /// External keys labelmux generated for tasks that had none (vendors that address tasks
    /// by key, like Labelbox): `(index in the stream, generated key)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated_keys: Vec<(u64, String)>,
    /// The vendor's final response.
    pub raw: Value,
}

impl BatchReceipt {
    /// Whether the vendor refused every task sent (nothing will be labeled): check it, the
    /// receipt is not an error by itself because vendors that create asynchronously (Sama)
    /// report refusals only through `batch_status`.
    pub fn refused_all(&self) -> bool {
        self.submitted > 0 && self.failures.len() as u64 >= self.submitted
    }
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

/// What [`crate::Provider::wait_batch`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitUntil {
    /// The creation job is over (created, canceled or failed).
    Created,
    /// The creation job is over and every created task finished annotation.
    Labeled,
}

/// Options of [`crate::Provider::wait_batch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WaitOptions {
    /// What to wait for; default [`WaitUntil::Created`].
    pub until: WaitUntil,
    /// Give up after this long (a `Timeout` error); default 10 minutes.
    pub timeout: Duration,
    /// First pause between polls; grows to `max_interval`. Default 1 s.
    pub interval: Duration,
    /// Longest pause between polls; default 15 s.
    pub max_interval: Duration,
    /// Called with every status polled (e.g. to move a progress bar); none by default.
    #[serde(skip)]
    pub progress: Option<WaitProgress>,
}

/// A callback of [`WaitOptions::with_progress`], shared by clones of the options.
#[derive(Clone)]
pub struct WaitProgress(std::sync::Arc<dyn Fn(&Batch) + Send + Sync>);

impl WaitProgress {
    /// Report one polled status.
    pub fn report(&self, batch: &Batch) {
        (self.0)(batch)
    }
}

impl std::fmt::Debug for WaitProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WaitProgress(..)")
    }
}

impl PartialEq for WaitProgress {
    /// The same callback (not merely an equal-looking one).
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            until: WaitUntil::Created,
            timeout: Duration::from_secs(600),
            interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(15),
            progress: None,
        }
    }
}

impl WaitOptions {
    /// Wait for `until`.
    pub fn until(mut self, until: WaitUntil) -> Self {
        self.until = until;
        self
    }
    /// Give up after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Poll every `interval` at first, growing to at most `max_interval`.
    pub fn with_interval(mut self, interval: Duration, max_interval: Duration) -> Self {
        self.interval = interval;
        self.max_interval = max_interval.max(interval);
        self
    }
    /// Wait as long as it takes (no `Timeout` error).
    pub fn without_timeout(mut self) -> Self {
        self.timeout = Duration::MAX;
        self
    }
    /// Call `progress` with every status polled, the last one included.
    pub fn with_progress(mut self, progress: impl Fn(&Batch) + Send + Sync + 'static) -> Self {
        self.progress = Some(WaitProgress(std::sync::Arc::new(progress)));
        self
    }
    /// Whether `batch` has reached what these options wait for.
    pub fn is_reached(&self, batch: &Batch) -> bool {
        if !batch.status.is_terminal() {
            return false;
        }
        match self.until {
            WaitUntil::Created => true,
            WaitUntil::Labeled => match &batch.labeling {
                Some(p) => p.finished() >= batch.counts.created,
                None => false,
            },
        }
    }
}

/// Options of [`crate::Provider::reject_tasks`]: why, and where the work goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Rework {
    /// Reasons shown to the labelers.
    pub reasons: Vec<String>,
    /// The queue or stage the work goes back to, where the vendor has several (Labelbox task
    /// queues); default: the vendor's rework queue.
    pub queue: Option<String>,
    /// Vendor-specific options; each adapter documents the keys it reads.
    pub extensions: Extensions,
}

impl Rework {
    /// Rework with these reasons.
    pub fn new<I, S>(reasons: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Rework {
            reasons: reasons.into_iter().map(Into::into).collect(),
            ..Rework::default()
        }
    }
    /// Send the work to this queue.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }
}

/// Outcome of a bulk operation on tasks: what was done and what the vendor refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkReport {
    /// Tasks the operation was applied to (verified where the vendor only acknowledges).
    pub done: Vec<TaskId>,
    /// Tasks it was not applied to, each with the reason.
    pub refused: Vec<(TaskId, String)>,
}

/// Result of deleting tasks: what was deleted and what the vendor refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeleteReport {
    /// Tasks deleted.
    pub deleted: Vec<TaskId>,
    /// Tasks not deleted, each with the reason.
    pub refused: Vec<(TaskId, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_status_parses_vendor_words() {
        assert_eq!(BatchStatus::parse("completed"), BatchStatus::Created);
        assert_eq!(BatchStatus::parse("cancelled"), BatchStatus::Canceled);
        assert_eq!(
            BatchStatus::parse("staging"),
            BatchStatus::Other("staging".into())
        );
        assert!(BatchStatus::Canceled.is_terminal());
        assert!(!BatchStatus::Waiting.is_terminal());
    }

    fn batch(status: BatchStatus, created: u64, labeling: Option<&[(&str, u64)]>) -> Batch {
        Batch {
            id: BatchId::new("b"),
            project_id: ProjectId::new("p"),
            name: None,
            status,
            vendor_status: String::new(),
            counts: BatchCounts {
                created,
                ..BatchCounts::default()
            },
            labeling: labeling.map(|l| LabelingProgress {
                by_state: l.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
            }),
            failures: vec![],
            messages: vec![],
            raw: Value::Null,
        }
    }

    #[test]
    fn waiting_separates_creation_from_labeling() {
        let created = WaitOptions::default();
        let labeled = WaitOptions::default().until(WaitUntil::Labeled);
        let b = batch(BatchStatus::Processing, 0, None);
        assert!(!created.is_reached(&b) && !labeled.is_reached(&b));
        let b = batch(
            BatchStatus::Created,
            3,
            Some(&[("new", 1), ("completed", 2)]),
        );
        assert!(created.is_reached(&b));
        assert!(!labeled.is_reached(&b));
        let b = batch(
            BatchStatus::Created,
            3,
            Some(&[("delivered", 1), ("completed", 2)]),
        );
        assert!(labeled.is_reached(&b));
    }
}

#[cfg(test)]
mod receipt_tests {
    use super::*;

    #[test]
    fn a_receipt_says_when_every_task_was_refused() {
        let failure = TaskCreationFailure {
            index: Some(0),
            external_key: None,
            data: None,
            errors: vec!["bad url".into()],
        };
        let mut r = BatchReceipt {
            batch_id: BatchId::new("b"),
            more_batches: vec![],
            project_id: ProjectId::new("p"),
            submitted: 2,
            created: 0,
            failures: vec![failure.clone()],
            unknown: vec![],
            task_ids: vec![],
            already_existed: vec![],
            generated_keys: vec![],
            raw: Value::Null,
        };
        assert!(!r.refused_all());
        r.failures.push(failure);
        assert!(r.refused_all());
        r.submitted = 0;
        assert!(!r.refused_all(), "an empty batch refused nothing");
    }
}
