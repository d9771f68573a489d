//! Scale wire types → the core model, and the [`Provider`] implementation.
//!
//! A labelmux batch is a Scale batch; a core [`ProjectId`] is a Scale project *name*; a task's
//! external key is its `unique_id`. Scale has no delivery feed: a delivery is a completed task
//! with its `response`, and "since last call" is a client-side cursor kept in a
//! [`FileCursorStore`], committed by the caller (see [`ScaleProvider`]).

use crate::client::{ScaleClient, TasksQuery};
use crate::wire::{batch_status, task_status, CreateBatchRequest, ScaleBatch, ScaleTask};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use labelmux_core::cursor::FileCursorStore;
use labelmux_core::{
    report, unsupported, AlreadyExisted, Batch, BatchCounts, BatchId, BatchReceipt, BatchSpec,
    BatchStatus, Capabilities, Checkpoint, DeleteReport, Delivery, DeliveryQuery, DeliverySince,
    Error, ErrorKind, JsonMap, Progress, ProgressEvent, Project, ProjectId, ProjectStats, Provider,
    Result, Task, TaskCreationFailure, TaskFilter, TaskId, TaskSpec, TaskSpecStream, TaskState,
    Vendor,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

const VENDOR: Vendor = Vendor::Scale;

/// Where [`TaskSpec::pre_annotations`] go in a Scale task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreAnnotationTarget {
    /// As the task's `hypothesis` object (Scale's pre-labelling parameter of image, video,
    /// text and document task types): `{"<name>": <value>, ...}`, so pre-annotations named
    /// `annotations` give `{"hypothesis": {"annotations": [...]}}`.
    Hypothesis,
    /// Under this key of the task's `metadata`, for task types without `hypothesis`.
    Metadata(String),
}

/// How the adapter maps labelmux concepts onto Scale tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleOptions {
    /// Task type of created tasks (the `{type}` of `POST /task/{type}`); `None` uses the
    /// project's own type (one `GET /projects/{name}` per batch).
    pub task_type: Option<String>,
    /// Instruction for tasks whose inputs have no `instruction` (Scale also appends the
    /// project-level instruction itself).
    pub instruction: Option<String>,
    /// `callback_url` for tasks whose inputs have none.
    pub callback_url: Option<String>,
    /// Where pre-annotations go (default [`PreAnnotationTarget::Hypothesis`]).
    pub pre_annotations: PreAnnotationTarget,
    /// Whether `delete_tasks` frees the external keys of the tasks it cancels
    /// (`clear_unique_id=true`), so they can be submitted again (default `true`).
    pub clear_unique_id_on_delete: bool,
    /// Most completed tasks held in memory at once while ordering deliveries (default 5000).
    /// Larger completion windows are split by time until they fit.
    pub delivery_window: usize,
}

impl Default for ScaleOptions {
    fn default() -> Self {
        ScaleOptions {
            task_type: None,
            instruction: None,
            callback_url: None,
            pre_annotations: PreAnnotationTarget::Hypothesis,
            clear_unique_id_on_delete: true,
            delivery_window: 5000,
        }
    }
}

/// Scale behind the vendor-neutral [`Provider`] API.
///
/// Deliveries with [`DeliverySince::LastCall`] read the consumer's position from the cursor
/// store, list the tasks completed since then ordered by (`completed_at`, `task_id`), and give
/// each [`Delivery`] a [`Checkpoint`]; nothing moves until the caller passes a checkpoint to
/// [`Provider::commit_consumer`], so a crash before the commit delivers the same tasks again.
#[derive(Debug, Clone)]
pub struct ScaleProvider {
    client: ScaleClient,
    cursors: FileCursorStore,
    options: ScaleOptions,
}

impl ScaleProvider {
    /// A provider with the default [`ScaleOptions`].
    pub fn new(client: ScaleClient, cursors: FileCursorStore) -> Self {
        Self::with_options(client, cursors, ScaleOptions::default())
    }

    /// A provider with these options.
    pub fn with_options(
        client: ScaleClient,
        cursors: FileCursorStore,
        options: ScaleOptions,
    ) -> Self {
        ScaleProvider {
            client,
            cursors,
            options,
        }
    }

    /// The vendor-native client, for calls beyond the [`Provider`] API.
    pub fn client(&self) -> &ScaleClient {
        &self.client
    }

    /// The options in force.
    pub fn options(&self) -> &ScaleOptions {
        &self.options
    }

    /// Where consumer cursors are kept.
    pub fn cursors(&self) -> &FileCursorStore {
        &self.cursors
    }

    fn concurrency(&self) -> usize {
        self.client.transport().config().concurrency.max(1)
    }

    async fn task_type_for(&self, project: &ProjectId) -> Result<String> {
        if let Some(t) = &self.options.task_type {
            return Ok(t.clone());
        }
        let p = self.client.get_project(project.as_str()).await?;
        p.task_type.filter(|t| !t.is_empty()).ok_or_else(|| {
            op_err(
                Error::config(format!(
                    "Scale project {project:?} reports no task type; set the scale task_type option"
                )),
                "create_batch",
            )
        })
    }
}

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
        priority: _,
        metadata,
    } = spec;
    let mut body = inputs;
    let put = |body: &mut JsonMap, key: &str, value: Value, what: &str| -> Result<()> {
        labelmux_core::wire::insert_unless_conflict(body, key, value).map_err(|_| {
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
                Value::Object(pre_annotations),
                "the pre-annotations",
            )?,
            PreAnnotationTarget::Metadata(key) => {
                if meta.contains_key(key) {
                    return Err(invalid(format!(
                        "pre-annotations would overwrite metadata `{key}`"
                    )));
                }
                meta.insert(key.clone(), Value::Object(pre_annotations));
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
        TaskState::InProgress
        | TaskState::Approved
        | TaskState::Delivered
        | TaskState::Acknowledged => None,
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

fn is_rejected(t: &ScaleTask) -> bool {
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
        task_id: TaskId::new(t.task_id),
        external_key: t.unique_id,
        project_id: t
            .project
            .map(ProjectId::new)
            .unwrap_or_else(|| project.clone()),
        batch_id: t.batch.map(BatchId::new),
        delivered_at: t.completed_at,
        answers: t.response.unwrap_or(Value::Null),
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
        batch_status::IN_PROGRESS | batch_status::COMPLETED => BatchStatus::Completed,
        other => BatchStatus::parse(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer cursor
// ---------------------------------------------------------------------------------------------

/// A consumer position, a keyset cursor over (`completed_at`, `task_id`): every completed
/// task ordered at or before (`completed_at`, `task_id`) was delivered. Tasks completed at the
/// same instant are ordered by id, so ties are neither skipped nor repeated, and a checkpoint
/// stays small however many tasks share an instant. `scope` names the delivery filters (batch,
/// task) the position belongs to: differently filtered readers of one consumer name keep
/// separate positions, so a filtered read never skips unfiltered deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorPosition {
    /// Format version (1).
    pub v: u32,
    /// The filters of the reads, e.g. `batch=b1`; `None` for unfiltered reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Completion instant of the last task delivered.
    pub completed_at: DateTime<Utc>,
    /// Id of the last task delivered (the greatest among those completed at `completed_at`).
    pub task_id: String,
}

impl CursorPosition {
    /// Read a checkpoint back.
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<CursorPosition> {
        let pos: CursorPosition = serde_json::from_value(checkpoint.0.clone()).map_err(|e| {
            Error::validation(format!("not a Scale delivery checkpoint: {e}")).with_vendor(VENDOR)
        })?;
        if pos.v != 1 {
            return Err(Error::validation(format!(
                "Scale delivery checkpoint version {} is not supported",
                pos.v
            ))
            .with_vendor(VENDOR));
        }
        Ok(pos)
    }

    /// As a checkpoint.
    pub fn to_checkpoint(&self) -> Checkpoint {
        Checkpoint(serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// Whether the task completed at `t` with id `id` was delivered before this position.
    pub fn covers(&self, t: &DateTime<Utc>, id: &str) -> bool {
        (t, id) <= (&self.completed_at, self.task_id.as_str())
    }
}

/// The cursor-store key of a consumer reading with `scope`.
fn cursor_key(consumer: &str, scope: Option<&str>) -> String {
    match scope {
        None => consumer.to_owned(),
        Some(s) => format!("{consumer}#{s}"),
    }
}

/// Builds each delivery's checkpoint: the position just after it.
#[derive(Debug, Clone)]
struct CheckpointTracker {
    scope: Option<String>,
    at: Option<(DateTime<Utc>, String)>,
}

impl CheckpointTracker {
    fn new(scope: Option<String>, start: Option<&CursorPosition>) -> Self {
        CheckpointTracker {
            scope,
            at: start.map(|p| (p.completed_at, p.task_id.clone())),
        }
    }

    /// Record a delivery (deliveries arrive in (`completed_at`, `task_id`) order) and return
    /// the position after it; a task without a completion time cannot move the position.
    fn advance(&mut self, completed_at: Option<DateTime<Utc>>, id: &str) -> Option<Checkpoint> {
        if let Some(t) = completed_at {
            let newer = self
                .at
                .as_ref()
                .is_none_or(|(t0, id0)| (&t, id) > (t0, id0.as_str()));
            if newer {
                self.at = Some((t, id.to_owned()));
            }
        }
        let (t, id) = self.at.as_ref()?;
        Some(
            CursorPosition {
                v: 1,
                scope: self.scope.clone(),
                completed_at: *t,
                task_id: id.clone(),
            }
            .to_checkpoint(),
        )
    }
}

/// Sort completed tasks of one window for delivery: by completion time, then id; tasks without
/// a completion time first.
fn sort_for_delivery(tasks: &mut [ScaleTask]) {
    tasks.sort_by(|a, b| (a.completed_at, &a.task_id).cmp(&(b.completed_at, &b.task_id)));
}

/// Slack added around time filters sent to Scale: whether its bounds are inclusive is
/// undocumented, so windows are widened by one tick of its millisecond timestamps and cut
/// exactly on the client.
const FILTER_SLACK: ChronoDuration = ChronoDuration::milliseconds(1);

/// The smallest window worth splitting.
const MIN_WINDOW: ChronoDuration = ChronoDuration::milliseconds(1);

struct DeliveryWalk {
    client: ScaleClient,
    project: ProjectId,
    base: TasksQuery,
    cap: u64,
    /// Inclusive lower bound of the next window; `None` = the beginning.
    lo: Option<DateTime<Utc>>,
    /// Width of the last window that fitted, to size the next one.
    width: Option<ChronoDuration>,
    /// Where the consumer stood (tasks it covers are skipped).
    start: Option<CursorPosition>,
    tracker: Option<CheckpointTracker>,
    done: bool,
}

impl DeliveryWalk {
    fn query(&self, lo: Option<DateTime<Utc>>, hi: Option<DateTime<Utc>>) -> TasksQuery {
        TasksQuery {
            completed_after: lo.map(|t| t - FILTER_SLACK),
            completed_before: hi.map(|t| t + FILTER_SLACK),
            ..self.base.clone()
        }
    }

    /// The next window's deliveries (possibly none), or `None` when the walk is over.
    async fn next_window(&mut self) -> Result<Option<Vec<Delivery>>> {
        if self.done {
            return Ok(None);
        }
        // Find an upper bound whose window fits in memory: start from twice the last window
        // that fitted (or the open range), halve while too many tasks fall inside.
        let now = Utc::now();
        let mut hi: Option<DateTime<Utc>> = match (self.lo, self.width) {
            (Some(lo), Some(w)) => Some(lo + w * 2).filter(|h| *h < now),
            _ => None,
        };
        let count = loop {
            let count = self
                .client
                .get_tasks_count(&self.query(self.lo, hi))
                .await?;
            if count <= self.cap {
                break count;
            }
            let start = self.lo.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
            let end = hi.unwrap_or(now);
            if end - start <= MIN_WINDOW {
                break count; // cannot split one instant; take it whole
            }
            hi = Some(start + (end - start) / 2);
        };
        let lo = self.lo;
        match hi {
            Some(h) => {
                self.width = Some(h - lo.unwrap_or(DateTime::<Utc>::UNIX_EPOCH));
                self.lo = Some(h);
            }
            None => self.done = true,
        }
        if count == 0 {
            return Ok(Some(Vec::new()));
        }
        let mut tasks: Vec<ScaleTask> = self
            .client
            .get_tasks(self.query(lo, hi))
            .try_filter(|t| {
                // A task whose audit rejected it is back in rework: not a delivery until
                // it is completed again (with a new completion time).
                let keep = t.status_str() == task_status::COMPLETED
                    && !is_rejected(t)
                    && match (t.completed_at, lo) {
                        (None, lo) => lo.is_none() && hi.is_none(),
                        (Some(c), lo) => lo.is_none_or(|lo| c >= lo) && hi.is_none_or(|hi| c < hi),
                    };
                futures::future::ready(keep)
            })
            .try_collect()
            .await?;
        if let Some(pos) = &self.start {
            tasks.retain(|t| !t.completed_at.is_some_and(|c| pos.covers(&c, &t.task_id)));
        }
        sort_for_delivery(&mut tasks);
        let mut seen = HashSet::new();
        let deliveries = tasks
            .into_iter()
            // A task listed twice (it moved between pages) is delivered once.
            .filter(|t| seen.insert(t.task_id.clone()))
            .map(|t| {
                let checkpoint = self
                    .tracker
                    .as_mut()
                    .and_then(|tr| tr.advance(t.completed_at, &t.task_id));
                delivery_from_wire(t, &self.project, checkpoint)
            })
            .collect();
        Ok(Some(deliveries))
    }
}

// ---------------------------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------------------------

enum Outcome {
    Created {
        index: u64,
        task_id: String,
        existed: bool,
    },
    Failed(TaskCreationFailure),
    /// The external key belongs to a task of another batch: not duplicated, not in this one.
    Elsewhere(AlreadyExisted),
    StreamError(Error),
}

/// Key of the batch metadata where the adapter records tasks Scale refused to create.
pub const METADATA_KEY: &str = "labelmux";

/// Refusals kept in batch metadata (Scale limits metadata size; the receipt has them all).
const RECORDED_REFUSALS: usize = 20;

fn refusal_record(failures: &[TaskCreationFailure]) -> Value {
    let listed: Vec<Value> = failures
        .iter()
        .take(RECORDED_REFUSALS)
        .map(|f| {
            let mut error: String = f.errors.join("; ").chars().take(300).collect();
            if error.is_empty() {
                error = "refused".to_owned();
            }
            json!({"index": f.index, "external_key": f.external_key, "error": error})
        })
        .collect();
    json!({"refused": failures.len(), "refused_tasks": listed})
}

/// The refusals recorded in a batch's metadata: (count, listed ones).
fn recorded_refusals(metadata: &JsonMap) -> (u64, Vec<TaskCreationFailure>) {
    let Some(rec) = metadata.get(METADATA_KEY) else {
        return (0, Vec::new());
    };
    let listed: Vec<TaskCreationFailure> = rec
        .get("refused_tasks")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|r| TaskCreationFailure {
                    index: r.get("index").and_then(Value::as_u64),
                    external_key: r
                        .get("external_key")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    data: None,
                    errors: vec![r
                        .get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("refused")
                        .to_owned()],
                })
                .collect()
        })
        .unwrap_or_default();
    let count = rec
        .get("refused")
        .and_then(Value::as_u64)
        .unwrap_or(listed.len() as u64)
        .max(listed.len() as u64);
    (count, listed)
}

/// The error of a batch whose tasks were sent but which could not be finalized: it names the
/// batch (possibly a generated name the caller has never seen), what was created and refused,
/// and how to finish, so nothing done so far is lost with the receipt.
fn finalize_failed(
    e: Error,
    name: &str,
    created: usize,
    failures: &[TaskCreationFailure],
) -> Error {
    const SHOWN: usize = 5;
    let mut refused = String::new();
    if !failures.is_empty() {
        let listed: Vec<String> = failures
            .iter()
            .take(SHOWN)
            .map(|f| {
                let who = match (&f.external_key, f.index) {
                    (Some(k), _) => format!("key {k:?}"),
                    (None, Some(i)) => format!("task #{i}"),
                    (None, None) => "a task".to_owned(),
                };
                format!("{who}: {}", f.errors.join("; "))
            })
            .collect();
        let more = failures.len().saturating_sub(SHOWN);
        refused = format!(
            "; {} refused ({}{})",
            failures.len(),
            listed.join(" | "),
            if more > 0 {
                format!(" | {more} more")
            } else {
                String::new()
            }
        );
    }
    let msg = format!(
        "{created} tasks were created in Scale batch {name:?}{refused}, but finalizing the batch failed, so Scale will not start work on them: {}. Run the same batch again with the batch name {name:?} to finish it (external keys prevent duplicates), or finalize it with ScaleClient::finalize_batch",
        e.message()
    );
    let mut out = Error::new(e.kind(), msg)
        .with_vendor(VENDOR)
        .with_operation("create_batch");
    if let Some(status) = e.status() {
        out = out.with_status(status);
    }
    out.with_source(e)
}

fn generated_batch_name() -> String {
    format!(
        "labelmux-{}-{:08x}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        fastrand::u32(..)
    )
}

fn scope_of(query: &DeliveryQuery) -> Result<(Option<String>, Option<String>)> {
    // Scale's batch name is the client's own batch id, so both filters mean the same.
    let batch = match (&query.batch_id, &query.client_batch_id) {
        (Some(b), Some(c)) if b.as_str() != c => {
            return Err(op_err(
                Error::validation(format!(
                    "batch_id {b} and client_batch_id {c:?} differ; on Scale both name the batch"
                )),
                "deliveries",
            ))
        }
        (Some(b), _) => Some(b.as_str().to_owned()),
        (None, Some(c)) => Some(c.clone()),
        (None, None) => None,
    };
    let mut parts = Vec::new();
    if let Some(b) = &batch {
        parts.push(format!("batch={b}"));
    }
    if let Some(t) = &query.task_id {
        parts.push(format!("task={t}"));
    }
    Ok((batch, (!parts.is_empty()).then(|| parts.join("&"))))
}

fn error_stream<'a, T: Send + 'a>(e: Error) -> BoxStream<'a, Result<T>> {
    stream::once(async move { Err(e) }).boxed()
}

/// Cancel one task of `project`: `Ok(Ok(()))` when canceled, `Ok(Err(reason))` when refused,
/// `Err` for failures that concern every task alike (a bad key).
async fn delete_one(
    client: &ScaleClient,
    project: &str,
    id: &TaskId,
    clear_unique_id: bool,
) -> Result<std::result::Result<(), String>> {
    let fatal = |e: &Error| {
        matches!(
            e.kind(),
            ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::Config
        )
    };
    // Look first, so that a task of another project is never canceled.
    let task = match client.get_task(id.as_str()).await {
        Ok(t) => t,
        Err(e) if fatal(&e) => return Err(e),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Err(format!("not found: {}", e.message())))
        }
        Err(e) => return Ok(Err(e.to_string())),
    };
    if task.project.as_deref().is_some_and(|p| p != project) {
        return Ok(Err(format!(
            "belongs to project {:?}, not {project:?}",
            task.project.unwrap_or_default()
        )));
    }
    match task.status_str() {
        task_status::PENDING => {}
        task_status::CANCELED => return Ok(Err("already canceled (deleted)".to_owned())),
        other => {
            return Ok(Err(format!(
                "task is {other}; Scale cancels only tasks not yet worked on (pending)"
            )))
        }
    }
    match client.cancel_task(id.as_str(), clear_unique_id).await {
        Ok(_) => Ok(Ok(())),
        Err(e) if fatal(&e) => Err(e),
        Err(e) if e.kind() == ErrorKind::InvalidRequest => Ok(Err(format!(
            "not cancelable (Scale cancels only tasks not yet started): {}",
            e.message()
        ))),
        Err(e) => Ok(Err(e.to_string())),
    }
}

#[async_trait]
impl Provider for ScaleProvider {
    fn vendor(&self) -> Vendor {
        VENDOR
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            create_batch: true,
            cancel_batch: false,
            batch_status: true,
            get_task: true,
            list_tasks: true,
            deliveries_since: true,
            deliveries_since_last_call: true,
            server_side_consumer: false,
            reject_task: true,
            set_priority: false,
            delete_tasks: true,
            project_info: true,
            project_stats: true,
            task_schema: false,
            idempotent_create: true,
            pre_annotations: true,
        }
    }

    async fn create_batch(
        &self,
        project: &ProjectId,
        spec: BatchSpec,
        tasks: TaskSpecStream<'_>,
        progress: Progress,
    ) -> Result<BatchReceipt> {
        const OP: &str = "create_batch";
        let task_type = self.task_type_for(project).await?;
        let name = spec.name.clone().unwrap_or_else(generated_batch_name);
        report(&progress, ProgressEvent::Phase("creating batch"));
        let mut request = CreateBatchRequest::new(project.as_str(), name.clone());
        if let Some(email) = &spec.notification_email {
            request.callback = email.clone(); // Scale's batch callback takes a URL or an e-mail
        }
        let batch_metadata = match self.client.create_batch(&request).await {
            Ok(b) => b.metadata,
            Err(e) if e.kind() == ErrorKind::Duplicate => {
                // The name exists: resume it if it is ours (a re-run), refuse otherwise.
                let existing = self.client.get_batch(&name).await?;
                if existing
                    .project
                    .as_deref()
                    .is_some_and(|p| p != project.as_str())
                {
                    return Err(op_err(
                        Error::new(
                            ErrorKind::Duplicate,
                            format!(
                                "batch name {name:?} is already used in project {:?}; batch names are unique per Scale account",
                                existing.project.unwrap_or_default()
                            ),
                        )
                        .with_status(409),
                        OP,
                    ));
                }
                tracing::info!(batch = %name, "Scale batch exists already; adding to it");
                existing.metadata
            }
            Err(e) => return Err(e),
        };

        report(&progress, ProgressEvent::Phase("creating tasks"));
        // Stop reading the input after its first error; tasks already sent still finish.
        let source = tasks.enumerate().scan(false, |failed, (i, item)| {
            if *failed {
                return futures::future::ready(None);
            }
            *failed = item.is_err();
            futures::future::ready(Some((i as u64, item)))
        });
        let options = &self.options;
        let client = &self.client;
        let project_name = project.as_str();
        let mut outcomes = source
            .map(|(index, item)| {
                let task_type = task_type.as_str();
                let name = name.as_str();
                async move {
                    let spec = match item {
                        Ok(spec) => spec,
                        Err(e) => return Outcome::StreamError(e),
                    };
                    let external_key = spec.external_key.clone();
                    let body = match build_task_body(spec, project_name, name, options, index) {
                        Ok(b) => b,
                        Err(e) => {
                            return Outcome::Failed(TaskCreationFailure {
                                index: Some(index),
                                external_key,
                                data: None,
                                errors: vec![e.message().to_owned()],
                            })
                        }
                    };
                    let fail = |errors: Vec<String>, body: JsonMap| {
                        Outcome::Failed(TaskCreationFailure {
                            index: Some(index),
                            external_key: external_key.clone(),
                            data: Some(Value::Object(body)),
                            errors,
                        })
                    };
                    match client.create_task_idempotent(task_type, &body).await {
                        Ok(created) if created.existed => {
                            let t = &created.task;
                            if t.project.as_deref().is_some_and(|p| p != project_name) {
                                fail(vec![format!(
                                    "unique_id {:?} is already used by task {} of project {:?}",
                                    external_key.as_deref().unwrap_or_default(),
                                    t.task_id,
                                    t.project.as_deref().unwrap_or_default()
                                )], body)
                            } else if t.status_str() == task_status::CANCELED {
                                fail(vec![format!(
                                    "unique_id {:?} belongs to canceled task {}; cancel it with clear_unique_id (delete_tasks does) to submit it again",
                                    external_key.as_deref().unwrap_or_default(),
                                    t.task_id
                                )], body)
                            } else if t.batch.as_deref().is_some_and(|b| b != name) {
                                Outcome::Elsewhere(AlreadyExisted {
                                    index,
                                    external_key,
                                    task_id: TaskId::new(t.task_id.clone()),
                                    batch_id: t.batch.clone().map(BatchId::new),
                                })
                            } else {
                                Outcome::Created {
                                    index,
                                    task_id: created.task.task_id,
                                    existed: true,
                                }
                            }
                        }
                        Ok(created) => Outcome::Created {
                            index,
                            task_id: created.task.task_id,
                            existed: false,
                        },
                        Err(e) => fail(vec![e.to_string()], body),
                    }
                }
            })
            .buffer_unordered(self.concurrency());

        let mut submitted = 0u64;
        let mut failures = Vec::new();
        let mut created: Vec<(u64, String)> = Vec::new();
        let mut existing = 0u64;
        let mut elsewhere: Vec<AlreadyExisted> = Vec::new();
        let mut stream_error = None;
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Outcome::Created {
                    index,
                    task_id,
                    existed,
                } => {
                    submitted += 1;
                    existing += u64::from(existed);
                    created.push((index, task_id));
                    report(&progress, ProgressEvent::TasksSent(1));
                }
                Outcome::Failed(f) => {
                    submitted += 1;
                    failures.push(f);
                    report(&progress, ProgressEvent::TasksSent(1));
                }
                Outcome::Elsewhere(e) => {
                    submitted += 1;
                    elsewhere.push(e);
                    report(&progress, ProgressEvent::TasksSent(1));
                }
                Outcome::StreamError(e) => stream_error = Some(e),
            }
        }
        drop(outcomes);
        if let Some(e) = stream_error {
            let msg = format!(
                "reading the tasks failed after {} of them were sent to Scale batch {name:?}, which was left unfinalized (re-run with the same batch name to resume; external keys prevent duplicates): {}",
                submitted,
                e.message()
            );
            return Err(Error::new(e.kind(), msg)
                .with_vendor(VENDOR)
                .with_operation(OP)
                .with_source(e));
        }
        created.sort_by_key(|(i, _)| *i);
        failures.sort_by_key(|f| f.index);
        elsewhere.sort_by_key(|e| e.index);
        let mut seen = HashSet::new();
        let task_ids: Vec<TaskId> = created
            .into_iter()
            .filter(|(_, id)| seen.insert(id.clone()))
            .map(|(_, id)| TaskId::new(id))
            .collect();
        if existing > 0 {
            tracing::info!(batch = %name, existing, "tasks existed already (same external keys); not duplicated");
        }
        if !failures.is_empty() || batch_metadata.contains_key(METADATA_KEY) {
            // Scale never saw the refused tasks: record them on the batch, so that
            // `batch_status` can report them later (this run's refusals replace a previous
            // run's).
            let mut metadata = batch_metadata;
            metadata.insert(METADATA_KEY.to_owned(), refusal_record(&failures));
            if let Err(e) = self.client.set_batch_metadata(&name, &metadata).await {
                // Only a note for later `batch_status` calls: the receipt returned below lists
                // every refusal, so failing the whole batch here would lose more than it saves.
                tracing::warn!(batch = %name, error = %e, "could not record the refused tasks on the Scale batch; the receipt lists them");
            }
        }
        report(&progress, ProgressEvent::Phase("finalizing"));
        let finalized: ScaleBatch = match self.client.finalize_batch(&name).await {
            Ok(b) => b,
            Err(e) => return Err(finalize_failed(e, &name, task_ids.len(), &failures)),
        };
        Ok(BatchReceipt {
            batch_id: BatchId::new(name),
            project_id: project.clone(),
            submitted,
            created: task_ids.len() as u64,
            failures,
            task_ids,
            already_existed: elsewhere,
            raw: finalized.raw,
        })
    }

    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        const OP: &str = "batch_status";
        let info = self.client.get_batch(batch.as_str()).await?;
        if info
            .project
            .as_deref()
            .is_some_and(|p| p != project.as_str())
        {
            return Err(op_err(
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "batch {batch} belongs to project {:?}",
                        info.project.unwrap_or_default()
                    ),
                ),
                OP,
            ));
        }
        let counts = self.client.batch_status(batch.as_str()).await?;
        // Tasks Scale could not process are the batch's failures, listed with their errors.
        let (refused, mut failures) = recorded_refusals(&info.metadata);
        let mut messages = Vec::new();
        if refused > failures.len() as u64 {
            messages.push(format!(
                "{} more tasks were refused at creation; the create_batch receipt lists them all",
                refused - failures.len() as u64
            ));
        }
        let errored: Vec<TaskCreationFailure> = if counts.error > 0 {
            self.client
                .get_tasks(TasksQuery {
                    project: Some(project.as_str().to_owned()),
                    batch: Some(batch.as_str().to_owned()),
                    status: Some(task_status::ERROR.to_owned()),
                    ..TasksQuery::default()
                })
                .map_ok(|t| TaskCreationFailure {
                    index: None,
                    external_key: t.unique_id.clone(),
                    errors: vec![t
                        .response
                        .as_ref()
                        .and_then(|r| r.get("error"))
                        .map(|e| {
                            e.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| e.to_string())
                        })
                        .unwrap_or_else(|| format!("task {} is in error", t.task_id))],
                    data: Some(t.raw),
                })
                .try_collect()
                .await?
        } else {
            Vec::new()
        };
        failures.extend(errored);
        let vendor_status = counts
            .status
            .clone()
            .or(info.status.clone())
            .unwrap_or_default();
        let total = counts.pending + counts.completed + counts.error + counts.canceled + refused;
        Ok(Batch {
            id: batch.clone(),
            project_id: project.clone(),
            name: Some(info.name.clone()),
            status: map_batch_status(&vendor_status),
            vendor_status,
            counts: BatchCounts {
                submitted: Some(total),
                created: counts.pending + counts.completed + counts.canceled,
                failed: counts.error + refused,
                pending: 0,
                in_progress: Some(counts.pending),
                completed: Some(counts.completed),
                canceled: counts.canceled,
            },
            failures,
            messages,
            raw: json!({ "batch": info.raw, "status": counts.raw }),
        })
    }

    async fn cancel_batch(&self, _project: &ProjectId, _batch: &BatchId) -> Result<()> {
        // Scale v1 creates tasks synchronously and has no batch cancel; cancel tasks instead.
        unsupported(VENDOR, "cancel_batch")
    }

    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        let t = self.client.get_task(task.as_str()).await?;
        let not_found = |why: String| op_err(Error::new(ErrorKind::NotFound, why), "get_task");
        if t.project.as_deref().is_some_and(|p| p != project.as_str()) {
            return Err(not_found(format!(
                "task {task} belongs to project {:?}, not {project:?}",
                t.project.as_deref().unwrap_or_default()
            )));
        }
        if t.status_str() == task_status::CANCELED {
            // Scale keeps canceled tasks; canceling is how labelmux deletes on Scale.
            return Err(not_found(format!(
                "task {task} is canceled (deleted); list tasks in state `canceled` to see it"
            )));
        }
        Ok(task_from_wire(t, project))
    }

    fn list_tasks<'a>(
        &'a self,
        project: &'a ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'a, Result<Task>> {
        let batch = match (&filter.batch_id, &filter.client_batch_id) {
            (Some(b), Some(c)) if b.as_str() != c => {
                return error_stream(op_err(
                    Error::validation(format!(
                    "batch_id {b} and client_batch_id {c:?} differ; on Scale both name the batch"
                )),
                    "list_tasks",
                ))
            }
            (Some(b), _) => Some(b.as_str().to_owned()),
            (None, c) => c.clone(),
        };
        let (status, review) = match &filter.state {
            None => (None, None),
            Some(state) => match status_filter(state) {
                Some((s, r)) => (Some(s.to_owned()), r),
                // Scale never reports this state: nothing matches.
                None => return stream::empty().boxed(),
            },
        };
        let query = TasksQuery {
            project: Some(project.as_str().to_owned()),
            batch,
            status,
            customer_review_status: review.map(|r| vec![r.to_owned()]).unwrap_or_default(),
            created_after: filter.from,
            created_before: filter.to,
            ..TasksQuery::default()
        };
        let wanted = filter.state.clone();
        let include_answers = filter.include_answers;
        self.client
            .get_tasks(query)
            .map_ok(move |t| {
                let mut task = task_from_wire(t, project);
                if !include_answers {
                    task.answers = None;
                }
                task
            })
            // `completed` also lists tasks whose audit rejected them (mapped to Rejected), and
            // canceled tasks are deleted ones: listed only when asked for by state.
            .try_filter(move |t| {
                futures::future::ready(match &wanted {
                    None => t.state != TaskState::Canceled,
                    Some(w) => *w == t.state,
                })
            })
            .boxed()
    }

    fn deliveries<'a>(
        &'a self,
        project: &'a ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'a, Result<Delivery>> {
        let (batch, scope) = match scope_of(&query) {
            Ok(s) => s,
            Err(e) => return error_stream(e),
        };
        let (lo, start, tracker) = match &query.since {
            DeliverySince::Beginning => (None, None, None),
            DeliverySince::Timestamp(t) => (Some(*t), None, None),
            DeliverySince::LastCall { consumer } => {
                let key = cursor_key(consumer, scope.as_deref());
                let pos = match self.cursors.load(VENDOR, project.as_str(), &key) {
                    Ok(None) => None,
                    Ok(Some(v)) => match CursorPosition::from_checkpoint(&Checkpoint(v)) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            return error_stream(op_err(
                                Error::config(format!(
                                    "the stored cursor of consumer {consumer:?} is unreadable ({}); delete it to start over",
                                    e.message()
                                )),
                                "deliveries",
                            ))
                        }
                    },
                    Err(e) => return error_stream(op_err(e, "deliveries")),
                };
                let tracker = CheckpointTracker::new(scope.clone(), pos.as_ref());
                (pos.as_ref().map(|p| p.completed_at), pos, Some(tracker))
            }
        };
        if let Some(task_id) = query.task_id.clone() {
            // One task: deliver it if it is completed and not yet taken.
            let client = self.client.clone();
            let fut = async move {
                let t = client.get_task(task_id.as_str()).await?;
                let belongs = t.project.as_deref().is_none_or(|p| p == project.as_str())
                    && batch
                        .as_deref()
                        .is_none_or(|b| t.batch.as_deref() == Some(b));
                let fresh = match (t.completed_at, lo) {
                    (_, None) => true,
                    (Some(c), Some(lo)) => {
                        c >= lo && !start.as_ref().is_some_and(|p| p.covers(&c, &t.task_id))
                    }
                    (None, Some(_)) => false,
                };
                if !belongs || !fresh || t.status_str() != task_status::COMPLETED || is_rejected(&t)
                {
                    return Ok::<Vec<Delivery>, Error>(Vec::new());
                }
                let mut tracker = tracker;
                let checkpoint = tracker
                    .as_mut()
                    .and_then(|tr| tr.advance(t.completed_at, &t.task_id));
                Ok(vec![delivery_from_wire(t, project, checkpoint)])
            };
            return stream::once(fut)
                .map_ok(|v| stream::iter(v.into_iter().map(Ok)))
                .try_flatten()
                .boxed();
        }
        let walk = DeliveryWalk {
            client: self.client.clone(),
            project: project.clone(),
            base: TasksQuery {
                project: Some(project.as_str().to_owned()),
                batch,
                status: Some(task_status::COMPLETED.to_owned()),
                ..TasksQuery::default()
            },
            cap: self.options.delivery_window.max(1) as u64,
            lo,
            width: None,
            start,
            tracker,
            done: false,
        };
        stream::try_unfold(walk, |mut walk| async move {
            let window = walk.next_window().await?;
            Ok::<_, Error>(window.map(|w| (stream::iter(w.into_iter().map(Ok)), walk)))
        })
        .try_flatten()
        .boxed()
    }

    async fn commit_consumer(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        let pos = CursorPosition::from_checkpoint(checkpoint)
            .map_err(|e| e.with_operation("commit_consumer"))?;
        let key = cursor_key(consumer, pos.scope.as_deref());
        let value = serde_json::to_value(&pos)
            .map_err(|e| Error::validation(format!("cannot encode checkpoint: {e}")))?;
        self.cursors
            .store(VENDOR, project.as_str(), &key, &value)
            .map_err(|e| op_err(e, "commit_consumer"))
    }

    async fn reject_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
        reasons: &[String],
    ) -> Result<()> {
        let _ = project;
        let comments = (!reasons.is_empty()).then(|| reasons.join("\n"));
        self.client
            .audit_task(task.as_str(), false, comments.as_deref())
            .await
            .map(|_| ())
    }

    async fn set_priority(
        &self,
        _project: &ProjectId,
        _tasks: &[TaskId],
        _priority: i32,
    ) -> Result<()> {
        // Scale v1 has no task priority.
        unsupported(VENDOR, "set_priority")
    }

    async fn delete_tasks(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<DeleteReport> {
        let clear = self.options.clear_unique_id_on_delete;
        let client = self.client.clone();
        let project_name = project.as_str().to_owned();
        let mut results: Vec<(usize, TaskId, Result<std::result::Result<(), String>>)> =
            stream::iter(tasks.iter().cloned().enumerate())
                .map(move |(i, id)| {
                    let client = client.clone();
                    let project_name = project_name.clone();
                    async move {
                        let r = delete_one(&client, &project_name, &id, clear).await;
                        (i, id, r)
                    }
                })
                .buffer_unordered(self.concurrency())
                .collect()
                .await;
        results.sort_by_key(|(i, _, _)| *i);
        let mut report = DeleteReport::default();
        for (_, id, r) in results {
            match r? {
                Ok(()) => report.deleted.push(id),
                Err(why) => report.refused.push((id, why)),
            }
        }
        Ok(report)
    }

    async fn project(&self, project: &ProjectId) -> Result<Project> {
        let p = self.client.get_project(project.as_str()).await?;
        Ok(Project {
            id: ProjectId::new(p.name.clone()),
            name: Some(p.name.clone()),
            state: p
                .archived
                .map(|a| if a { "archived" } else { "active" }.to_owned()),
            kind: p.task_type.clone(),
            description: p.instruction().map(str::to_owned),
            raw: p.raw,
        })
    }

    async fn project_stats(
        &self,
        project: &ProjectId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<ProjectStats> {
        let base = TasksQuery {
            project: Some(project.as_str().to_owned()),
            created_after: from,
            created_before: to,
            ..TasksQuery::default()
        };
        let count = |status: &str, review: Option<&str>| {
            let q = TasksQuery {
                status: Some(status.to_owned()),
                customer_review_status: review.map(|r| vec![r.to_owned()]).unwrap_or_default(),
                ..base.clone()
            };
            let client = self.client.clone();
            async move { client.get_tasks_count(&q).await }
        };
        let (pending, completed, rejected, canceled, error) = futures::try_join!(
            count(task_status::PENDING, None),
            count(task_status::COMPLETED, None),
            count(task_status::COMPLETED, Some("rejected")),
            count(task_status::CANCELED, None),
            count(task_status::ERROR, None),
        )?;
        let rejected = rejected.min(completed);
        let mut by_state = BTreeMap::new();
        for (state, n) in [
            (TaskState::New, pending),
            (TaskState::Completed, completed - rejected),
            (TaskState::Rejected, rejected),
            (TaskState::Canceled, canceled),
            (TaskState::Failed, error),
        ] {
            by_state.insert(state.as_str().to_owned(), n);
        }
        Ok(ProjectStats {
            project_id: project.clone(),
            tasks_by_state: by_state,
            raw: json!({
                "pending": pending,
                "completed": completed,
                "completed_rejected_by_audit": rejected,
                "canceled": canceled,
                "error": error,
            }),
        })
    }

    async fn task_schema(&self, _project: &ProjectId) -> Result<Value> {
        // Scale validates task parameters per task type and publishes no schema of them; the
        // project's default parameters are in `project().raw` (`param_history`), and the
        // template of textcollection/chat projects is `ScaleClient::get_project_template`.
        unsupported(VENDOR, "task_schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode;

    fn task(id: &str, status: &str, completed_at: Option<&str>) -> ScaleTask {
        let mut v = json!({"task_id": id, "status": status, "project": "p", "batch": "b",
                           "response": {"label": id}});
        if let Some(c) = completed_at {
            v["completed_at"] = json!(c);
        }
        decode(v, "task").unwrap()
    }

    fn ts(s: &str) -> DateTime<Utc> {
        labelmux_core::wire::timestamp(s).unwrap()
    }

    #[test]
    fn task_bodies_carry_inputs_keys_metadata_and_pre_annotations() {
        let spec = TaskSpec {
            inputs: json!({"attachment": "https://x/1.jpg", "attachment_type": "image"})
                .as_object()
                .unwrap()
                .clone(),
            pre_annotations: json!({"annotations": [{"label": "cat"}]})
                .as_object()
                .unwrap()
                .clone(),
            external_key: Some("img-1".into()),
            priority: Some(3),
            metadata: json!({"source": "s3"}).as_object().unwrap().clone(),
        };
        let opts = ScaleOptions {
            instruction: Some("Box the cats".into()),
            ..ScaleOptions::default()
        };
        let body = build_task_body(spec.clone(), "p", "b", &opts, 0).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "attachment": "https://x/1.jpg", "attachment_type": "image",
                "project": "p", "batch": "b", "unique_id": "img-1",
                "metadata": {"source": "s3"},
                "hypothesis": {"annotations": [{"label": "cat"}]},
                "instruction": "Box the cats"
            })
        );
        let opts = ScaleOptions {
            pre_annotations: PreAnnotationTarget::Metadata("pre".into()),
            ..ScaleOptions::default()
        };
        let body = build_task_body(spec.clone(), "p", "b", &opts, 0).unwrap();
        assert_eq!(
            body["metadata"],
            json!({"source": "s3", "pre": {"annotations": [{"label": "cat"}]}})
        );
        assert!(!body.contains_key("hypothesis") && !body.contains_key("instruction"));

        // An input that contradicts what the adapter sets is refused, naming the task.
        let mut bad = spec.clone();
        bad.inputs.insert("project".into(), json!("other"));
        let err = build_task_body(bad, "p", "b", &ScaleOptions::default(), 7).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(err.to_string().contains("task 7") && err.to_string().contains("project"));
        let mut same = spec;
        same.inputs.insert("batch".into(), json!("b"));
        build_task_body(same, "p", "b", &ScaleOptions::default(), 0).unwrap();
    }

    #[test]
    fn states_map_from_status_and_audit() {
        let table = [
            ("pending", None, TaskState::New),
            ("completed", None, TaskState::Completed),
            ("completed", Some("accepted"), TaskState::Completed),
            ("completed", Some("rejected"), TaskState::Rejected),
            ("canceled", None, TaskState::Canceled),
            ("error", None, TaskState::Failed),
            ("on_hold", None, TaskState::Other("on_hold".into())),
        ];
        for (status, review, want) in table {
            assert_eq!(map_state(status, review), want, "{status} {review:?}");
        }
        for state in [
            TaskState::New,
            TaskState::Completed,
            TaskState::Rejected,
            TaskState::Canceled,
            TaskState::Failed,
        ] {
            let (s, r) = status_filter(&state).unwrap();
            assert_eq!(map_state(s, r), state);
        }
        assert_eq!(status_filter(&TaskState::InProgress), None);
        assert_eq!(map_batch_status("staging"), BatchStatus::Waiting);
        assert_eq!(map_batch_status("in_progress"), BatchStatus::Completed);
        assert_eq!(
            map_batch_status("paused"),
            BatchStatus::Other("paused".into())
        );
    }

    #[test]
    fn tasks_and_deliveries_map_from_wire() {
        let t: ScaleTask = decode(
            json!({"task_id": "t1", "status": "completed", "project": "p", "batch": "b1",
                   "instruction": "Do it", "params": {"attachment": "a.jpg"},
                   "unique_id": "k1", "completed_at": "2024-01-01T00:00:00.000Z",
                   "created_at": "2023-12-31T00:00:00.000Z", "response": {"x": 1}}),
            "task",
        )
        .unwrap();
        let core = task_from_wire(t.clone(), &ProjectId::new("p"));
        assert_eq!(core.id.as_str(), "t1");
        assert_eq!(core.external_key.as_deref(), Some("k1"));
        assert_eq!(core.batch_id.as_ref().map(BatchId::as_str), Some("b1"));
        assert_eq!(core.state, TaskState::Completed);
        assert_eq!(core.inputs["attachment"], json!("a.jpg"));
        assert_eq!(core.inputs["instruction"], json!("Do it"));
        assert_eq!(core.answers, Some(json!({"x": 1})));
        assert_eq!(core.delivered_at, core.completed_at);
        let d = delivery_from_wire(t, &ProjectId::new("p"), None);
        assert_eq!(d.answers, json!({"x": 1}));
        assert_eq!(d.external_key.as_deref(), Some("k1"));
    }

    #[test]
    fn checkpoints_cover_exactly_what_was_delivered_including_ties() {
        let t1 = ts("2024-01-01T00:00:01.000Z");
        let t2 = ts("2024-01-01T00:00:02.000Z");
        let mut tasks = vec![
            task("c", "completed", Some("2024-01-01T00:00:02.000Z")),
            task("b", "completed", Some("2024-01-01T00:00:01.000Z")),
            task("a", "completed", Some("2024-01-01T00:00:02.000Z")),
        ];
        sort_for_delivery(&mut tasks);
        let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);

        let mut tr = CheckpointTracker::new(None, None);
        let cps: Vec<CursorPosition> = tasks
            .iter()
            .map(|t| {
                CursorPosition::from_checkpoint(&tr.advance(t.completed_at, &t.task_id).unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!((cps[0].completed_at, cps[0].task_id.as_str()), (t1, "b"));
        assert_eq!((cps[1].completed_at, cps[1].task_id.as_str()), (t2, "a"));
        assert_eq!((cps[2].completed_at, cps[2].task_id.as_str()), (t2, "c"));

        // Committing after "a" only: "c", completed at the same instant, is not covered.
        let after_a = &cps[1];
        assert!(after_a.covers(&t1, "b"));
        assert!(after_a.covers(&t2, "a"));
        assert!(!after_a.covers(&t2, "c"));
        assert!(!after_a.covers(&ts("2024-01-01T00:00:03.000Z"), "d"));

        // Resuming from it moves on through the tie; an older task cannot move it back.
        let mut resumed = CheckpointTracker::new(None, Some(after_a));
        let cp = CursorPosition::from_checkpoint(&resumed.advance(Some(t2), "c").unwrap()).unwrap();
        assert_eq!((cp.completed_at, cp.task_id.as_str()), (t2, "c"));
        let cp = CursorPosition::from_checkpoint(&resumed.advance(Some(t1), "z").unwrap()).unwrap();
        assert_eq!((cp.completed_at, cp.task_id.as_str()), (t2, "c"));
        // Without a completion time and without a position there is nothing to commit.
        assert!(CheckpointTracker::new(None, None)
            .advance(None, "x")
            .is_none());
    }

    #[test]
    fn checkpoints_round_trip_and_bad_ones_are_refused() {
        let pos = CursorPosition {
            v: 1,
            scope: Some("batch=b".into()),
            completed_at: ts("2024-01-01T00:00:01.123456Z"),
            task_id: "x".into(),
        };
        let back = CursorPosition::from_checkpoint(&pos.to_checkpoint()).unwrap();
        assert_eq!(back, pos, "sub-millisecond precision must survive");
        assert!(CursorPosition::from_checkpoint(&Checkpoint(json!({"foo": 1}))).is_err());
        let mut v2 = pos.to_checkpoint();
        v2.0["v"] = json!(2);
        assert!(CursorPosition::from_checkpoint(&v2).is_err());
        assert_eq!(cursor_key("etl", None), "etl");
        assert_eq!(cursor_key("etl", Some("batch=b")), "etl#batch=b");
    }

    #[test]
    fn delivery_scopes_name_the_filters() {
        assert_eq!(scope_of(&DeliveryQuery::all()).unwrap(), (None, None));
        let q = DeliveryQuery::all().batch("b1");
        assert_eq!(
            scope_of(&q).unwrap(),
            (Some("b1".to_owned()), Some("batch=b1".to_owned()))
        );
        let mut q2 = q.clone();
        q2.client_batch_id = Some("other".into());
        assert!(scope_of(&q2).is_err());
    }

    #[test]
    fn capabilities_are_the_supported_operations() {
        let caps = Capabilities {
            create_batch: true,
            batch_status: true,
            get_task: true,
            list_tasks: true,
            deliveries_since: true,
            deliveries_since_last_call: true,
            reject_task: true,
            delete_tasks: true,
            project_info: true,
            project_stats: true,
            idempotent_create: true,
            pre_annotations: true,
            ..Capabilities::default()
        };
        let client = ScaleClient::new(
            "http://127.0.0.1:9/v1",
            labelmux_core::transport::SecretString::from("k"),
            labelmux_core::transport::TransportConfig::default(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = ScaleProvider::new(client, FileCursorStore::new(dir.path()));
        assert_eq!(p.capabilities(), caps);
    }
}
