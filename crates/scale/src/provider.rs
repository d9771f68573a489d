//! [`ScaleProvider`]: Scale behind the vendor-neutral [`Provider`] API, and its [`ScaleOptions`].
//!
//! Scale has no delivery feed: "since last call" is the core's client-side cursor service
//! ([`ConsumerCursors`]), committed by the caller.

use crate::client::{ScaleClient, TasksQuery};
use crate::mapping::{
    build_task_body, delivery_from_wire, is_rejected, map_batch_status, status_filter,
    task_from_wire,
};
use crate::wire::{task_status, CreateBatchRequest, ScaleTask};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use labelmux_core::cursor::{
    ConsumerCursors, CursorStore, KeysetPosition, KeysetTracker, OutputMark,
};
use labelmux_core::transport::redact::redact_url;
use labelmux_core::{
    error_stream, report, AlreadyExisted, Batch, BatchCounts, BatchId, BatchReceipt, BatchRef,
    BatchSpec, BulkReport, Capabilities, Checkpoint, DeleteReport, Delivery, DeliveryQuery,
    DeliverySince, Error, ErrorKind, JsonMap, LabelingProgress, Operation, Progress, ProgressEvent,
    Project, ProjectId, ProjectStats, Property, Provider, RawJson, Result, Rework, StatsOptions,
    Task, TaskCreationFailure, TaskFilter, TaskId, TaskSpecStream, TaskState, Vendor,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

const VENDOR: Vendor = Vendor::Scale;

/// Keys of [`BatchSpec::extensions`] Scale reads: `callback` (the batch's callback URL or
/// e-mail).
pub const BATCH_EXTENSIONS: &[&str] = &["callback"];

/// What the Scale adapter supports; needs no credentials.
pub fn capabilities() -> Capabilities {
    use Operation::*;
    Capabilities::new(
        [
            CreateBatch,
            BatchStatus,
            GetTask,
            FindTask,
            ListTasks,
            DeliveriesSince,
            DeliveriesSinceLastCall,
            RejectTasks,
            DeleteTasks,
            ProjectInfo,
            ProjectStats,
        ],
        [
            Property::IdempotentCreate,
            Property::PreAnnotations,
            Property::BatchLabelingProgress,
            Property::ResumableBatches,
        ],
        TaskState::Completed,
    )
}

/// Where [`labelmux_core::TaskSpec::pre_annotations`] go in a Scale task. In the
/// configuration: `pre_annotations = "hypothesis"` or `pre_annotations = { metadata = "key" }`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreAnnotationTarget {
    /// As the task's `hypothesis` object (Scale's pre-labelling parameter of image, video,
    /// text and document task types): `{"<name>": <value>, ...}`, so pre-annotations named
    /// `annotations` give `{"hypothesis": {"annotations": [...]}}`.
    Hypothesis,
    /// Under this key of the task's `metadata`, for task types without `hypothesis`.
    Metadata(String),
}

/// How the adapter maps labelmux concepts onto Scale tasks. Configured under `[scale]`;
/// unknown keys are errors.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
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
    /// Most completed tasks held in memory at once while ordering deliveries (default 5000,
    /// 1 to 1000000). Larger completion windows are split by time until they fit.
    pub delivery_window: usize,
}

/// Largest [`ScaleOptions::delivery_window`]: tasks held in memory at once.
const MAX_DELIVERY_WINDOW: usize = 1_000_000;

impl ScaleOptions {
    /// Check the numeric options against their documented ranges (a `Config` error naming
    /// the key otherwise).
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_DELIVERY_WINDOW).contains(&self.delivery_window) {
            return Err(Error::config(format!(
                "[scale] delivery_window must be from 1 to {MAX_DELIVERY_WINDOW}, got {}",
                self.delivery_window
            ))
            .with_vendor(VENDOR));
        }
        Ok(())
    }
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
    cursors: ConsumerCursors,
    options: ScaleOptions,
}

impl ScaleProvider {
    /// A provider with the default [`ScaleOptions`].
    pub fn new(client: ScaleClient, cursors: impl CursorStore + 'static) -> Self {
        Self::with_options(client, cursors, ScaleOptions::default())
    }

    /// A provider with these options.
    pub fn with_options(
        client: ScaleClient,
        cursors: impl CursorStore + 'static,
        options: ScaleOptions,
    ) -> Self {
        // Cursors are keyed by the endpoint too, so the emulator's never serve production.
        let endpoint = redact_url(client.transport().base_url()).to_string();
        let cursors = ConsumerCursors::new(Arc::new(cursors), VENDOR, endpoint);
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

    /// The consumer cursors of this endpoint.
    pub fn cursors(&self) -> &ConsumerCursors {
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
// Deliveries
// ---------------------------------------------------------------------------------------------

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
    start: Option<KeysetPosition>,
    tracker: Option<KeysetTracker>,
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
    /// Scale may or may not have created the task (its answer was lost, or retries ran out).
    Unknown(TaskCreationFailure),
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

/// Whether a failed create was refused by Scale (it answered with an error status that sending
/// again would not change), as opposed to an outcome labelmux cannot know: a temporary failure
/// that outlived its retries, a lost or unreadable answer.
fn is_refusal(e: &Error) -> bool {
    e.status().is_some_and(|s| s >= 400) && !e.kind().is_temporary()
}

/// The error text of a task whose creation outcome is unknown: what happened, and what is safe.
fn unknown_outcome(e: &Error, external_key: Option<&str>, batch: &str) -> String {
    let next = match external_key {
        Some(k) => format!(
            "sending it again with its external key {k:?} cannot duplicate it (re-run with --resume, or create_batch with batch name {batch:?})"
        ),
        None => format!(
            "it has no external key, so sending it again could duplicate it: look for it in batch {batch:?} first"
        ),
    };
    format!("outcome unknown, Scale may have created this task: {e}; {next}")
}

fn generated_batch_name() -> String {
    format!(
        "labelmux-{}-{:08x}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        fastrand::u32(..)
    )
}

/// Scale's batch name is the client's own batch id, so a batch by id or by name is the same.
fn batch_name(batch: &Option<BatchRef>) -> Option<String> {
    match batch {
        Some(BatchRef::Id(id)) => Some(id.as_str().to_owned()),
        Some(BatchRef::Name(name)) => Some(name.clone()),
        _ => None,
    }
}

fn scope_of(query: &DeliveryQuery) -> Result<(Option<String>, Option<String>)> {
    if query.labelset.is_some() {
        return Err(op_err(
            Error::validation("Scale has no labelsets; remove the labelset filter"),
            "deliveries",
        ));
    }
    query.extensions.check_known(VENDOR, "deliveries", &[])?;
    let batch = batch_name(&query.batch);
    let mut parts = Vec::new();
    if let Some(b) = &batch {
        parts.push(format!("batch={b}"));
    }
    if let Some(t) = &query.task_id {
        parts.push(format!("task={t}"));
    }
    Ok((batch, (!parts.is_empty()).then(|| parts.join("&"))))
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

impl ScaleProvider {
    /// The deliveries of `query`, once the consumer's position is known.
    async fn delivery_stream(
        &self,
        project: ProjectId,
        query: DeliveryQuery,
    ) -> Result<BoxStream<'static, Result<Delivery>>> {
        let (batch, scope) = scope_of(&query)?;
        let until = query.until;
        let (lo, start, tracker) = match &query.since {
            DeliverySince::Beginning => (None, None, None),
            DeliverySince::Timestamp(t) => (Some(*t), None, None),
            DeliverySince::LastCall { consumer } => {
                let pos = self
                    .cursors
                    .position(project.as_str(), consumer, scope.as_deref())
                    .await
                    .map_err(|e| op_err(e, "deliveries"))?;
                let tracker = KeysetTracker::new(scope.clone(), pos.as_ref());
                (pos.as_ref().map(|p| p.at), pos, Some(tracker))
            }
            other => {
                return Err(op_err(
                    Error::validation(format!("Scale cannot start deliveries at {other:?}")),
                    "deliveries",
                ))
            }
        };
        if let Some(task_id) = query.task_id.clone() {
            // One task: deliver it if it is completed and not yet taken.
            let client = self.client.clone();
            let fut = async move {
                let t = client.get_task(task_id.as_str()).await?;
                let project = &project;
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
            return Ok(stream::once(fut)
                .map_ok(|v| stream::iter(v.into_iter().map(Ok)))
                .try_flatten()
                .boxed());
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
        Ok(stream::try_unfold(walk, |mut walk| async move {
            let window = walk.next_window().await?;
            Ok::<_, Error>(window.map(|w| (stream::iter(w.into_iter().map(Ok)), walk)))
        })
        .try_flatten()
        // Scale's windows have no upper bound unless asked: cut here.
        .try_filter(move |d| futures::future::ready(d.delivered_before(until)))
        .boxed())
    }
}

#[async_trait]
impl Provider for ScaleProvider {
    fn vendor(&self) -> Vendor {
        VENDOR
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
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
        spec.extensions.check_known(VENDOR, OP, BATCH_EXTENSIONS)?;
        if let Some(callback) = spec.extensions.get_str("callback") {
            request.callback = callback.to_owned(); // Scale's batch callback: a URL or an e-mail
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

        // The batch exists (new, or ours resumed): name it at once, so an interrupt or a failure
        // afterwards still says which batch to follow.
        report(
            &progress,
            ProgressEvent::BatchOpened(BatchId::new(name.clone())),
        );
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
                        Err(e) if is_refusal(&e) => fail(vec![e.to_string()], body),
                        Err(e) => Outcome::Unknown(TaskCreationFailure {
                            index: Some(index),
                            errors: vec![unknown_outcome(&e, external_key.as_deref(), name)],
                            external_key,
                            data: Some(Value::Object(body)),
                        }),
                    }
                }
            })
            .buffer_unordered(self.concurrency());

        let mut submitted = 0u64;
        let mut failures = Vec::new();
        let mut unknown: Vec<TaskCreationFailure> = Vec::new();
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
                Outcome::Unknown(f) => {
                    submitted += 1;
                    unknown.push(f);
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
        unknown.sort_by_key(|f| f.index);
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
        let resumable = unknown.iter().filter(|f| f.external_key.is_some()).count();
        let raw = if resumable > 0 {
            // A finalized Rapid/Studio batch takes no more tasks: leave it open, so that the
            // re-run settling these tasks (their keys make it safe) can add any still missing,
            // and finalize it then.
            tracing::warn!(batch = %name, unknown = resumable, "Scale batch left unfinalized: the outcome of some keyed tasks is unknown; create the batch again under the same name to settle them and finalize it");
            for f in unknown.iter_mut().filter(|f| f.external_key.is_some()) {
                f.errors.push(format!(
                    "batch {name:?} was left unfinalized so that the re-run can add this task if it is missing; the re-run finalizes it"
                ));
            }
            Value::Null
        } else {
            report(&progress, ProgressEvent::Phase("finalizing"));
            match self.client.finalize_batch(&name).await {
                Ok(b) => b.raw,
                Err(e) => return Err(finalize_failed(e, &name, task_ids.len(), &failures)),
            }
        };
        Ok(BatchReceipt {
            batch_id: BatchId::new(name),
            more_batches: Vec::new(),
            generated_keys: Vec::new(),
            project_id: project.clone(),
            submitted,
            created: task_ids.len() as u64,
            failures,
            unknown,
            task_ids,
            already_existed: elsewhere,
            raw,
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
                        .map(RawJson::to_value)
                        .as_ref()
                        .and_then(|r| r.get("error"))
                        .map(|e| {
                            e.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| e.to_string())
                        })
                        .unwrap_or_else(|| format!("task {} is in error", t.task_id))],
                    data: Some(t.raw.to_value()),
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
                canceled: counts.canceled,
            },
            // Scale creates tasks synchronously: past staging, the batch's tasks are labeled.
            labeling: Some(LabelingProgress {
                by_state: [
                    (TaskState::New.as_str().to_owned(), counts.pending),
                    (TaskState::Completed.as_str().to_owned(), counts.completed),
                ]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect(),
            }),
            failures,
            messages,
            raw: json!({ "batch": info.raw, "status": counts.raw }),
        })
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

    async fn find_task(&self, project: &ProjectId, external_key: &str) -> Result<Option<Task>> {
        // `unique_id` is unique per Scale account: a match in another project is not this one's.
        let query = TasksQuery {
            project: Some(project.as_str().to_owned()),
            unique_id: vec![external_key.to_owned()],
            ..TasksQuery::default()
        };
        let found: Vec<ScaleTask> = self.client.get_tasks(query).take(1).try_collect().await?;
        Ok(found.into_iter().next().map(|t| task_from_wire(t, project)))
    }

    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        if filter.labelset.is_some() {
            return error_stream(op_err(
                Error::validation("Scale has no labelsets; remove the labelset filter"),
                "list_tasks",
            ));
        }
        if let Err(e) = filter.extensions.check_known(VENDOR, "list_tasks", &[]) {
            return error_stream(e);
        }
        let batch = batch_name(&filter.batch);
        // One state is filtered by Scale; several are filtered here.
        let one_state = match filter.states.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        };
        let (status, review) = match &one_state {
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
        let include_answers = filter.include_answers;
        let project = project.clone();
        self.client
            .get_tasks(query)
            .map_ok(move |t| {
                let mut task = task_from_wire(t, &project);
                if !include_answers {
                    task.answers = None;
                }
                task
            })
            // `completed` also lists tasks whose audit rejected them (mapped to Rejected), and
            // canceled tasks are deleted ones: listed only when asked for by state.
            .try_filter(move |t| {
                futures::future::ready(if filter.states.is_empty() {
                    t.state != TaskState::Canceled
                } else {
                    filter.accepts_state(&t.state)
                })
            })
            .boxed()
    }

    fn deliveries(
        &self,
        project: &ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'static, Result<Delivery>> {
        let this = self.clone();
        let consumer = query.consumer().map(str::to_owned);
        let pid = project.clone();
        // The consumer's position is read (off the async threads) when the stream is first
        // polled; the stream owns everything it needs.
        let s = stream::once(async move { this.delivery_stream(pid, query).await })
            .try_flatten()
            .boxed();
        match consumer {
            // One pull per consumer: the lock is taken before the position is read.
            Some(c) => self.cursors.exclusive(project.as_str(), &c, s),
            None => s,
        }
    }

    async fn commit_consumer(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        self.cursors
            .commit(project.as_str(), consumer, checkpoint, None)
            .await
    }

    async fn commit_consumer_output(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
        output: &OutputMark,
    ) -> Result<()> {
        self.cursors
            .commit(project.as_str(), consumer, checkpoint, Some(output))
            .await
    }

    async fn consumer_output(
        &self,
        project: &ProjectId,
        query: &DeliveryQuery,
    ) -> Result<Option<OutputMark>> {
        let Some(consumer) = query.consumer() else {
            return Ok(None);
        };
        let (_, scope) = scope_of(query)?;
        self.cursors
            .output(project.as_str(), consumer, scope.as_deref())
            .await
            .map_err(|e| op_err(e, "consumer_output"))
    }

    async fn reject_tasks(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        rework: Rework,
    ) -> Result<BulkReport> {
        let _ = project;
        if rework.queue.is_some() {
            return Err(op_err(
                Error::validation(
                    "Scale has one rework path (a rejected audit); remove the queue option",
                ),
                "reject_tasks",
            ));
        }
        rework.extensions.check_known(VENDOR, "reject_tasks", &[])?;
        let comments = (!rework.reasons.is_empty()).then(|| rework.reasons.join("\n"));
        let mut report = BulkReport::default();
        for task in tasks {
            match self
                .client
                .audit_task(task.as_str(), false, comments.as_deref())
                .await
            {
                Ok(_) => report.done.push(task.clone()),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::NotFound | ErrorKind::InvalidRequest | ErrorKind::Validation
                    ) =>
                {
                    report.refused.push((task.clone(), e.message().to_owned()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
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
        options: StatsOptions,
    ) -> Result<ProjectStats> {
        let base = TasksQuery {
            project: Some(project.as_str().to_owned()),
            created_after: options.from,
            created_before: options.to,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::map_state;
    use crate::wire::decode;
    use labelmux_core::{BatchStatus, TaskSpec};

    #[test]
    fn task_bodies_carry_inputs_keys_metadata_and_pre_annotations() {
        let spec = TaskSpec::from_json(
            json!({"attachment": "https://x/1.jpg", "attachment_type": "image"}),
        )
        .unwrap()
        .with_pre_annotation("annotations", json!([{"label": "cat"}]))
        .with_external_key("img-1")
        .with_priority(3)
        .with_metadata("source", json!("s3"));
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
        assert_eq!(map_batch_status("in_progress"), BatchStatus::Created);
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
        assert_eq!(core.answers.map(Value::from), Some(json!({"x": 1})));
        assert_eq!(core.delivered_at, core.completed_at);
        let d = delivery_from_wire(t, &ProjectId::new("p"), None);
        assert_eq!(d.answers, json!({"x": 1}));
        assert_eq!(d.external_key.as_deref(), Some("k1"));
    }

    #[test]
    fn delivery_scopes_name_the_filters() {
        assert_eq!(scope_of(&DeliveryQuery::all()).unwrap(), (None, None));
        let q = DeliveryQuery::all().batch("b1");
        assert_eq!(
            scope_of(&q).unwrap(),
            (Some("b1".to_owned()), Some("batch=b1".to_owned()))
        );
        // A batch by name is the same Scale batch as by id.
        let q2 = DeliveryQuery::all().with_batch_name("b1");
        assert_eq!(scope_of(&q2).unwrap(), scope_of(&q).unwrap());
        assert!(scope_of(&DeliveryQuery::all().with_labelset("x")).is_err());
    }

    #[test]
    fn capabilities_are_the_supported_operations() {
        let caps = capabilities();
        for op in [
            Operation::CancelBatch,
            Operation::SetPriority,
            Operation::TaskSchema,
            Operation::ListBatches,
        ] {
            assert!(!caps.supports(op), "{op}");
        }
        assert!(caps.supports(Operation::FindTask));
        assert!(caps.has(Property::IdempotentCreate));
        assert!(!caps.has(Property::ServerSideConsumer));
        let client = ScaleClient::new(
            "http://127.0.0.1:9/v1",
            labelmux_core::transport::SecretString::from("k"),
            labelmux_core::transport::TransportConfig::default(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = ScaleProvider::new(
            client,
            labelmux_core::cursor::FileCursorStore::new(dir.path()),
        );
        assert_eq!(p.capabilities(), caps);
    }
}
