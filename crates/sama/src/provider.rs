//! [`SamaProvider`]: Sama behind the vendor-neutral [`Provider`] API, and its [`SamaOptions`].
//!
//! "Since last call" does not use Sama's server-side cursor (`POST tasks/delivered.json` moves
//! it when a page is *read*, so an answer lost on the way loses that page for good): the
//! consumer's position is a keyset (`delivered_at`, task id) in the core's cursor service
//! ([`ConsumerCursors`]), read from the delivered-since feed (`GET tasks/delivered.json?from=`)
//! and committed by the caller once the deliveries are stored (see
//! `docs/decisions/0012-exactly-once-pulls.md`).

use crate::client::{
    decode_raw_task, raw_task_key, CreateBatchOptions, DecodedPage, DeliveredTasksQuery,
    MultiTaskStatusQuery, SamaClient, DEFAULT_TASKS_FILE_NAME,
};
use crate::mapping::{
    batch_from_job, build_record, delivery_from_value, task_from_wire, BATCH_EXTENSIONS,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use labelmux_core::cursor::{
    ConsumerCursors, CursorStore, KeysetPosition, KeysetTracker, OutputMark,
};
use labelmux_core::paginate::ProgressGuard;
use labelmux_core::transport::redact::redact_url;
use labelmux_core::RawJson;
use labelmux_core::{
    error_stream, Batch, BatchId, BatchReceipt, BatchRef, BatchSpec, BulkReport, Capabilities,
    Checkpoint, DeleteReport, Delivery, DeliveryQuery, DeliverySince, Error, ErrorKind, Operation,
    Progress, Project, ProjectId, ProjectStats, Property, Provider, Result, Rework, StatsOptions,
    Task, TaskFilter, TaskId, TaskSpecStream, TaskState, Vendor,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

const VENDOR: Vendor = Vendor::Sama;

/// Ids per bulk request (priority update, delete); Sama publishes no limit, smaller requests
/// are kinder to it.
const BULK_CHUNK: usize = 1000;

/// What the Sama adapter supports; needs no credentials.
pub fn capabilities() -> Capabilities {
    use Operation::*;
    Capabilities::new(
        [
            CreateBatch,
            BatchStatus,
            CancelBatch,
            GetTask,
            ListTasks,
            DeliveriesSince,
            DeliveriesSinceLastCall,
            RejectTasks,
            SetPriority,
            DeleteTasks,
            ProjectInfo,
            ProjectStats,
            TaskSchema,
        ],
        // Sama does not deduplicate on any input: resubmitting creates a second task. Its
        // server-side consumer cursor is not used (see the module docs): no ServerSideConsumer.
        [Property::PreAnnotations],
        TaskState::Delivered,
    )
}

fn op_err(e: Error, op: &str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

/// How the adapter maps labelmux concepts Sama has no field for onto task inputs.
///
/// Sama stores only task inputs. labelmux's [`TaskSpec::external_key`](labelmux_core::TaskSpec::external_key) and the batch name
/// ([`BatchSpec::name`], Sama's "client batch id") therefore travel as inputs, which **must
/// exist in the Sama project** (Sama rejects unknown inputs with `InvalidInputSchema`).
///
/// Configured under `[sama]` (an empty string means "do not send"); unknown keys are errors.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamaOptions {
    /// Input that carries the external key (default `external_id`); `None` drops the key.
    #[serde(deserialize_with = "empty_is_none")]
    pub external_key_input: Option<String>,
    /// Input that carries the batch name as client batch id (default `client_batch_id`);
    /// `None` drops the name.
    #[serde(deserialize_with = "empty_is_none")]
    pub client_batch_id_input: Option<String>,
    /// Directory of the temporary spool file of uploads (default: the system's temp dir).
    pub spool_dir: Option<PathBuf>,
    /// Most MiB of delivered pages a `deliveries` pull holds ahead of the consumer (see
    /// `SamaClient::with_read_ahead_bytes`); `None` keeps the client's (16 MiB by default).
    pub read_ahead_mib: Option<u32>,
}

/// An input name from the configuration; blank means none.
fn empty_is_none<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    let v: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(v.filter(|s| !s.trim().is_empty()))
}

impl Default for SamaOptions {
    fn default() -> Self {
        SamaOptions {
            external_key_input: Some("external_id".to_owned()),
            client_batch_id_input: Some("client_batch_id".to_owned()),
            spool_dir: None,
            read_ahead_mib: None,
        }
    }
}

/// Sama behind the vendor-neutral [`Provider`] API.
///
/// Deliveries with [`DeliverySince::LastCall`] read the consumer's position from the cursor
/// store, list the tasks delivered since then (`GET tasks/delivered.json?from=`, ordered by
/// (`delivered_at`, id)) and give each [`Delivery`] a [`Checkpoint`]; nothing moves until the
/// caller passes a checkpoint to [`Provider::commit_consumer`], so neither a crash nor a lost
/// answer loses a delivery, and what was committed is never delivered again.
#[derive(Debug, Clone)]
pub struct SamaProvider {
    client: SamaClient,
    options: SamaOptions,
    cursors: ConsumerCursors,
}

impl SamaProvider {
    /// A provider with the default [`SamaOptions`], keeping consumer cursors in `cursors`.
    pub fn new(client: SamaClient, cursors: impl CursorStore + 'static) -> Self {
        Self::with_options(client, cursors, SamaOptions::default())
    }

    /// A provider with these options (`read_ahead_mib`, when set, is applied to the client).
    pub fn with_options(
        client: SamaClient,
        cursors: impl CursorStore + 'static,
        options: SamaOptions,
    ) -> Self {
        let client = match options.read_ahead_mib {
            Some(mib) => client.with_read_ahead_bytes(mib as usize * 1024 * 1024),
            None => client,
        };
        // Cursors are keyed by the endpoint too, so the emulator's never serve production.
        let endpoint = redact_url(client.transport().base_url()).to_string();
        let cursors = ConsumerCursors::new(Arc::new(cursors), VENDOR, endpoint);
        SamaProvider {
            client,
            options,
            cursors,
        }
    }

    /// The consumer cursors of this endpoint.
    pub fn cursors(&self) -> &ConsumerCursors {
        &self.cursors
    }

    /// The vendor-native client, for calls beyond the [`Provider`] API.
    pub fn client(&self) -> &SamaClient {
        &self.client
    }

    /// The options in force.
    pub fn options(&self) -> &SamaOptions {
        &self.options
    }
}

fn no_content(what: &str, op: &str) -> Error {
    op_err(Error::decode(format!("Sama sent no {what}")), op)
}

/// What a status check says about a task after a delete.
enum AfterDelete {
    Gone,
    Remains(String),
    Unknown(String),
}

/// Sama's batch filters: an id, or a name (its client batch id).
fn split_batch_ref(batch: Option<BatchRef>) -> (Option<BatchId>, Option<String>) {
    match batch {
        Some(BatchRef::Id(id)) => (Some(id), None),
        Some(BatchRef::Name(name)) => (None, Some(name)),
        None | Some(_) => (None, None),
    }
}

impl SamaProvider {
    async fn reject_one(
        &self,
        project: &ProjectId,
        task: &TaskId,
        reasons: &[String],
    ) -> Result<()> {
        match self.client.reject_task(project, task, reasons).await {
            Ok(_) => Ok(()),
            // A retry was refused: the first attempt may have been applied with its answer lost.
            Err(e) if !e.is_retryable() && e.attempts() > 1 => {
                match self.client.get_task_status(project, task, false).await {
                    Ok(Some(t))
                        if t.state.as_deref().map(TaskState::parse)
                            == Some(TaskState::Rejected) =>
                    {
                        Ok(())
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn check_deleted(&self, project: &ProjectId, task: &TaskId) -> AfterDelete {
        match self.client.get_task_status(project, task, false).await {
            Err(e) if e.kind() == ErrorKind::NotFound => AfterDelete::Gone,
            Err(e) => AfterDelete::Unknown(format!("deletion could not be confirmed: {e}")),
            Ok(Some(t)) => AfterDelete::Remains(t.state.unwrap_or_default()),
            Ok(None) => AfterDelete::Unknown(
                "deletion could not be confirmed: Sama sent no content for the task".into(),
            ),
        }
    }

    async fn check_all(&self, project: &ProjectId, tasks: &[TaskId]) -> Vec<(TaskId, AfterDelete)> {
        let concurrency = self.client.transport().config().concurrency.max(1);
        stream::iter(tasks.iter().cloned())
            .map(|t| async move {
                let outcome = self.check_deleted(project, &t).await;
                (t, outcome)
            })
            .buffered(concurrency)
            .collect()
            .await
    }

    /// Send the delete in chunks. A refusal of a whole request (4xx) is remembered, not
    /// returned: the status checks decide per task. Other errors end the operation.
    async fn send_deletes(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<Option<String>> {
        let mut refusal = None;
        for chunk in tasks.chunks(BULK_CHUNK) {
            match self.client.delete_tasks(project, chunk).await {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::InvalidRequest | ErrorKind::Validation | ErrorKind::NotFound
                    ) =>
                {
                    refusal = Some(e.message().to_owned());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(refusal)
    }
}

/// The cursor scope of a consumer reading with these filters: differently filtered readers keep
/// separate positions.
fn consumer_scope(
    batch_id: Option<&BatchId>,
    client_batch_id: Option<&str>,
    task_id: Option<&TaskId>,
) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(b) = batch_id {
        parts.push(format!("batch={b}"));
    }
    if let Some(b) = client_batch_id {
        parts.push(format!("batch_name={b}"));
    }
    if let Some(t) = task_id {
        parts.push(format!("task={t}"));
    }
    (!parts.is_empty()).then(|| parts.join("&"))
}

/// A consumer's walk over the delivered-since feed, page by page, from its durable position.
///
/// Pages are anchored by time, not numbered from the consumer's start: each full page is
/// followed by a read `from` the last delivery time it held (page 1), so a task re-delivered
/// during the walk (it moves to the end of the feed) cannot shift a delivery past a page
/// boundary unseen. Deliveries the walk has passed (at or before the last key yielded, or
/// covered by the committed position) are skipped, so the overlap of those reads is delivered
/// once. Only a page filled by one instant is followed by its next numbered page.
struct ConsumerWalk {
    client: SamaClient,
    project: ProjectId,
    options: SamaOptions,
    feed: DeliveredTasksQuery,
    page: u64,
    /// The greatest (delivered_at, id) delivered: the committed position, then each yield.
    last: Option<(DateTime<Utc>, String)>,
    tracker: KeysetTracker,
    until: Option<DateTime<Utc>>,
    done: bool,
    /// Ends the walk when the server stops making progress (the same page again and again).
    guard: ProgressGuard,
    /// The next read is the first at a new `from` anchor: it re-reads the deliveries of that
    /// instant on purpose, so it is not held against the guard.
    anchored: bool,
}

impl ConsumerWalk {
    const OP: &'static str = "deliveries";

    /// The next page's new deliveries (possibly none), or `None` when the walk is over.
    async fn next_page(&mut self) -> Result<Option<Vec<Delivery>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .client
            .delivered_tasks_page(&self.project, &self.feed, self.page)
            .await?;
        let full = page.next.is_some();
        if !std::mem::take(&mut self.anchored) {
            self.guard
                .page(page.items.iter().map(|t| raw_task_key(t)), full)?;
        }
        let mut out = Vec::with_capacity(page.items.len());
        let mut previous: Option<(DateTime<Utc>, String)> = None;
        for raw in page.items {
            let value = decode_raw_task::<Value>(&raw, Self::OP)?;
            let mut d =
                delivery_from_value(&value, RawJson::from(raw), &self.project, &self.options)
                    .map_err(|e| op_err(e, Self::OP))?;
            if let Some(at) = d.delivered_at {
                let key = (at, d.id.as_str().to_owned());
                if let Some(p) = previous.as_ref().filter(|p| key < **p) {
                    return Err(op_err(
                        Error::decode(format!(
                            "Sama's delivered feed is not ordered by delivery time and id (task {} delivered at {} came after task {} delivered at {}), so a consumer's position cannot be kept without risking loss; pull by time (DeliverySince::Timestamp, `--since`) instead",
                            key.1, key.0, p.1, p.0
                        )),
                        Self::OP,
                    ));
                }
                previous = Some(key.clone());
                if self.until.is_some_and(|u| at >= u) {
                    // Ordered by time: nothing after this one is before `until`.
                    self.done = true;
                    return Ok(Some(out));
                }
                if self.last.as_ref().is_some_and(|l| key <= *l) {
                    continue; // delivered already: committed, or read twice at a page anchor
                }
                self.last = Some(key);
            }
            // A delivery without a time cannot move the position (Sama must set
            // `delivered_at` for a consumer to be exactly once; docs/errors.md).
            d.checkpoint = self.tracker.advance(d.delivered_at, d.id.as_str());
            out.push(d);
        }
        if !full {
            self.done = true;
        } else {
            match previous.map(|(at, _)| at) {
                Some(at) if self.feed.from != Some(at) => {
                    self.feed.from = Some(at);
                    self.page = 1;
                    self.anchored = true;
                }
                _ => self.page += 1,
            }
        }
        Ok(Some(out))
    }
}

impl SamaProvider {
    /// The deliveries of `consumer` since its committed position, as a stream that reads the
    /// position when first polled.
    fn consumer_walk(
        &self,
        project: ProjectId,
        consumer: String,
        feed: DeliveredTasksQuery,
        until: Option<DateTime<Utc>>,
    ) -> BoxStream<'static, Result<Delivery>> {
        let this = self.clone();
        stream::once(async move {
            let scope = consumer_scope(
                feed.batch_id.as_ref(),
                feed.client_batch_id.as_deref(),
                feed.task_id.as_ref(),
            );
            let start: Option<KeysetPosition> = this
                .cursors
                .position(project.as_str(), &consumer, scope.as_deref())
                .await
                .map_err(|e| op_err(e, "deliveries"))?;
            let walk = ConsumerWalk {
                client: this.client.clone(),
                project,
                options: this.options.clone(),
                feed: DeliveredTasksQuery {
                    from: start.as_ref().map(|p| p.at),
                    ..feed
                },
                page: 1,
                last: start.as_ref().map(|p| (p.at, p.id.clone())),
                tracker: KeysetTracker::new(scope, start.as_ref()),
                until,
                done: false,
                guard: ProgressGuard::new(VENDOR, "get_delivered_tasks"),
                anchored: start.is_some(),
            };
            Ok::<_, Error>(
                stream::try_unfold(walk, |mut walk| async move {
                    let page = walk.next_page().await?;
                    Ok::<_, Error>(page.map(|p| (stream::iter(p.into_iter().map(Ok)), walk)))
                })
                .try_flatten(),
            )
        })
        .try_flatten()
        .boxed()
    }
}

#[async_trait]
impl Provider for SamaProvider {
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
        spec.extensions
            .check_known(VENDOR, "create_batch", BATCH_EXTENSIONS)?;
        let notification_email = match spec.extensions.get("notification_email") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(op_err(
                    Error::validation(format!(
                        "option `notification_email` must be a string, not {other}"
                    )),
                    "create_batch",
                ))
            }
        };
        let options = CreateBatchOptions {
            notification_email,
            tasks_file_name: DEFAULT_TASKS_FILE_NAME.to_owned(),
            spool_dir: self.options.spool_dir.clone(),
        };
        let sama_options = &self.options;
        let batch_spec = &spec;
        let records = tasks
            .enumerate()
            .map(move |(i, item)| {
                item.and_then(|t| build_record(t, batch_spec, sama_options, i as u64))
            })
            .boxed();
        let created = self
            .client
            .create_task_batch_streaming(project, records, &options, &progress)
            .await?;
        Ok(BatchReceipt {
            batch_id: created.batch_id,
            more_batches: Vec::new(),
            generated_keys: Vec::new(),
            project_id: project.clone(),
            submitted: created.submitted,
            created: 0, // Sama creates asynchronously; see batch_status
            failures: Vec::new(),
            unknown: Vec::new(),
            task_ids: created
                .started
                .task_ids
                .into_iter()
                .map(TaskId::new)
                .collect(),
            already_existed: Vec::new(),
            raw: created.started.raw,
        })
    }

    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        let job = self
            .client
            .get_status_batch_creation_job(project, batch, false)
            .await?;
        Ok(batch_from_job(job, project, batch, &self.options))
    }

    async fn cancel_batch(&self, project: &ProjectId, batch: &BatchId) -> Result<()> {
        self.client
            .cancel_batch_creation_job(project, batch)
            .await?;
        // Sama's answer to a cancel is undocumented and it acknowledges a batch whose creation
        // had already finished: read the status back so only a real cancel reports success.
        let job = self
            .client
            .get_status_batch_creation_job(project, batch, true)
            .await?;
        let status = batch_from_job(job, project, batch, &self.options).status;
        match status {
            labelmux_core::BatchStatus::Canceled => Ok(()),
            other => Err(op_err(
                Error::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "batch {batch} was not canceled: its status stays `{}` (Sama cancels only batches still waiting or creating tasks)",
                        other.as_str()
                    ),
                ),
                "cancel_batch",
            )),
        }
    }

    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        match self.client.get_task_status(project, task, true).await? {
            Some(t) => Ok(task_from_wire(t, project, &self.options)),
            None => Err(op_err(
                Error::new(
                    ErrorKind::NotFound,
                    format!("task {task} not found (Sama sent no content)"),
                ),
                "get_task",
            )),
        }
    }

    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        if filter.labelset.is_some() {
            return error_stream(op_err(
                Error::validation("Sama has no labelsets; remove the labelset filter"),
                "list_tasks",
            ));
        }
        if let Err(e) = filter.extensions.check_known(VENDOR, "list_tasks", &[]) {
            return error_stream(e);
        }
        let (batch_id, client_batch_id) = split_batch_ref(filter.batch.clone());
        // One state is filtered by Sama; several are filtered here.
        let one_state = match filter.states.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        };
        let query = MultiTaskStatusQuery {
            batch_id,
            client_batch_id,
            from: filter.from,
            to: filter.to,
            state: one_state,
            omit_answers: !filter.include_answers,
            ..MultiTaskStatusQuery::default()
        };
        let project = project.clone();
        let options = self.options.clone();
        self.client
            .get_multi_task_status(&project, query)
            .map(move |r| r.map(|t| task_from_wire(t, &project, &options)))
            .filter(move |r| {
                let keep = match r {
                    Ok(t) => filter.accepts_state(&t.state),
                    Err(_) => true,
                };
                async move { keep }
            })
            .boxed()
    }

    fn deliveries(
        &self,
        project: &ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'static, Result<Delivery>> {
        if query.labelset.is_some() {
            return error_stream(op_err(
                Error::validation("Sama has no labelsets; remove the labelset filter"),
                "deliveries",
            ));
        }
        if let Err(e) = query.extensions.check_known(VENDOR, "deliveries", &[]) {
            return error_stream(e);
        }
        let until = query.until;
        let since = query.since;
        let task_id = query.task_id;
        let (batch_id, client_batch_id) = split_batch_ref(query.batch);
        // Each page is decoded into deliveries once, by the task that fetched it.
        let decode = {
            let project = project.clone();
            let options = self.options.clone();
            move |body: bytes::Bytes| {
                let page = crate::deliveries::decode_page(body, &project, &options)?;
                Ok(DecodedPage {
                    items: page.deliveries,
                    tasks: page.tasks,
                    bytes: page.bytes,
                })
            }
        };
        let deliveries = match since {
            DeliverySince::Beginning | DeliverySince::Timestamp(_) => {
                let from = match since {
                    DeliverySince::Timestamp(ts) => Some(ts),
                    _ => None,
                };
                self.client.delivered_pages(
                    project,
                    DeliveredTasksQuery {
                        batch_id,
                        client_batch_id,
                        from,
                        task_id,
                        ..DeliveredTasksQuery::default()
                    },
                    decode,
                )
            }
            DeliverySince::LastCall { consumer } => {
                if consumer.trim().is_empty() {
                    return error_stream(op_err(
                        Error::validation("the consumer name is empty"),
                        "deliveries",
                    ));
                }
                let feed = DeliveredTasksQuery {
                    batch_id,
                    client_batch_id,
                    task_id,
                    ..DeliveredTasksQuery::default()
                };
                let walk = self.consumer_walk(project.clone(), consumer.clone(), feed, until);
                // One pull per consumer: the lock is taken before the position is read.
                return self.cursors.exclusive(project.as_str(), &consumer, walk);
            }
            other => {
                return error_stream(op_err(
                    Error::validation(format!("Sama cannot start deliveries at {other:?}")),
                    "deliveries",
                ))
            }
        };
        deliveries
            .map(|r| r.map_err(|e| op_err(e, "deliveries")))
            // Sama has no upper bound on its delivery feeds: cut here.
            .filter(move |r| {
                let keep = match r {
                    Ok(d) => d.delivered_before(until),
                    Err(_) => true,
                };
                async move { keep }
            })
            .boxed()
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
        let (batch_id, client_batch_id) = split_batch_ref(query.batch.clone());
        let scope = consumer_scope(
            batch_id.as_ref(),
            client_batch_id.as_deref(),
            query.task_id.as_ref(),
        );
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
        if rework.queue.is_some() {
            return Err(op_err(
                Error::validation("Sama has one rework queue; remove the queue option"),
                "reject_tasks",
            ));
        }
        rework.extensions.check_known(VENDOR, "reject_tasks", &[])?;
        let mut report = BulkReport::default();
        for task in tasks {
            match self.reject_one(project, task, &rework.reasons).await {
                Ok(()) => report.done.push(task.clone()),
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

    async fn set_priority(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        priority: i32,
    ) -> Result<()> {
        for chunk in tasks.chunks(BULK_CHUNK) {
            self.client
                .update_task_priorities(project, chunk, priority)
                .await?;
        }
        // Sama's answer is undocumented and unknown ids are not an HTTP error: read each task
        // back so a priority is reported as set only where it was.
        let concurrency = self.client.transport().config().concurrency.max(1);
        let checks: Vec<(TaskId, Result<Option<i64>>)> = stream::iter(tasks.iter().cloned())
            .map(|t| async move {
                let got = self.client.get_task_status(project, &t, false).await;
                (t, got.map(|o| o.and_then(|w| w.priority)))
            })
            .buffered(concurrency)
            .collect()
            .await;
        let mut missing = Vec::new();
        let mut unchanged = Vec::new();
        for (task, got) in checks {
            match got {
                Ok(Some(p)) if p == i64::from(priority) => {}
                Ok(None) => {} // no priority in the answer: nothing to contradict
                Ok(Some(p)) => unchanged.push(format!("{task} (priority {p})")),
                Err(e) if e.kind() == ErrorKind::NotFound => missing.push(task.to_string()),
                Err(e) => return Err(op_err(e, "set_priority")),
            }
        }
        if missing.is_empty() && unchanged.is_empty() {
            return Ok(());
        }
        let done = tasks.len() - missing.len() - unchanged.len();
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("no such task(s): {}", missing.join(", ")));
        }
        if !unchanged.is_empty() {
            parts.push(format!("not changed by Sama: {}", unchanged.join(", ")));
        }
        let kind = if unchanged.is_empty() {
            ErrorKind::NotFound
        } else {
            ErrorKind::InvalidRequest
        };
        Err(op_err(
            Error::new(
                kind,
                format!(
                    "priority {priority} set on {done} of {} task(s); {}",
                    tasks.len(),
                    parts.join("; ")
                ),
            ),
            "set_priority",
        ))
    }

    async fn delete_tasks(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<DeleteReport> {
        let mut seen = HashSet::new();
        let tasks: Vec<TaskId> = tasks
            .iter()
            .filter(|t| seen.insert(t.as_str().to_owned()))
            .cloned()
            .collect();
        if tasks.is_empty() {
            return Ok(DeleteReport::default());
        }
        // Sama's answer to delete_tasks is undocumented, so each task's fate is read back —
        // and read first, so an id that never existed is not reported as deleted.
        let mut report = DeleteReport::default();
        let mut known = Vec::with_capacity(tasks.len());
        for (task, before) in self.check_all(project, &tasks).await {
            match before {
                AfterDelete::Gone => report
                    .refused
                    .push((task, "no such task in this project".to_owned())),
                _ => known.push(task),
            }
        }
        if known.is_empty() {
            return Ok(report);
        }
        let tasks = known;
        let mut refusal = self.send_deletes(project, &tasks).await?;
        let mut outcomes = self.check_all(project, &tasks).await;
        if refusal.is_some() {
            // A whole request may have been refused for one undeletable task: retry once with
            // only the tasks still `new`.
            let retry: Vec<TaskId> = outcomes
                .iter()
                .filter(|(_, o)| matches!(o, AfterDelete::Remains(s) if TaskState::parse(s) == TaskState::New))
                .map(|(t, _)| t.clone())
                .collect();
            if !retry.is_empty() {
                if let Some(second) = self.send_deletes(project, &retry).await? {
                    refusal = Some(second);
                }
                let rechecked: BTreeMap<TaskId, AfterDelete> =
                    self.check_all(project, &retry).await.into_iter().collect();
                let mut rechecked = rechecked;
                for (t, o) in outcomes.iter_mut() {
                    if let Some(new) = rechecked.remove(t) {
                        *o = new;
                    }
                }
            }
        }
        for (task, outcome) in outcomes {
            match outcome {
                AfterDelete::Gone => report.deleted.push(task),
                AfterDelete::Remains(state) => {
                    let reason = if TaskState::parse(&state) == TaskState::New {
                        match &refusal {
                            Some(msg) => format!("still `new` after delete; Sama said: {msg}"),
                            None => "still `new` after delete (Sama gave no reason)".to_owned(),
                        }
                    } else {
                        format!("task is `{state}`; Sama deletes only tasks in state `new`")
                    };
                    report.refused.push((task, reason));
                }
                AfterDelete::Unknown(reason) => report.refused.push((task, reason)),
            }
        }
        Ok(report)
    }

    async fn project(&self, project: &ProjectId) -> Result<Project> {
        let p = self
            .client
            .get_project_information(project)
            .await?
            .ok_or_else(|| no_content("project information", "project"))?;
        Ok(Project {
            id: p.id.map(ProjectId::new).unwrap_or_else(|| project.clone()),
            name: p.name,
            state: p.state,
            kind: p.project_type,
            description: p.description,
            raw: p.raw,
        })
    }

    async fn project_stats(
        &self,
        project: &ProjectId,
        options: StatsOptions,
    ) -> Result<ProjectStats> {
        let stats = self
            .client
            .get_project_stats(project, options.from, options.to)
            .await?
            .ok_or_else(|| no_content("project statistics", "project_stats"))?;
        let mut tasks_by_state = BTreeMap::new();
        for (state, n) in stats.state_counts() {
            *tasks_by_state
                .entry(TaskState::parse(&state).as_str().to_owned())
                .or_insert(0) += n;
        }
        Ok(ProjectStats {
            project_id: project.clone(),
            tasks_by_state,
            raw: stats.raw,
        })
    }

    async fn task_schema(&self, project: &ProjectId) -> Result<Value> {
        self.client
            .get_creation_task_schema(project)
            .await?
            .ok_or_else(|| no_content("task creation schema", "task_schema"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::cursor::MemoryCursorStore;
    use labelmux_core::transport::{SecretString, TransportConfig};

    #[test]
    fn the_read_ahead_budget_comes_from_the_options() {
        let client = SamaClient::new(
            "http://127.0.0.1:9/v2",
            SecretString::from("k"),
            TransportConfig::default(),
        )
        .unwrap();
        let default = SamaProvider::new(client.clone(), MemoryCursorStore::new());
        assert_eq!(
            default.client().read_ahead().bytes,
            crate::client::DEFAULT_READ_AHEAD_BYTES
        );
        let options: SamaOptions =
            serde_json::from_value(serde_json::json!({"read_ahead_mib": 3})).unwrap();
        let small = SamaProvider::with_options(client, MemoryCursorStore::new(), options);
        assert_eq!(small.client().read_ahead().bytes, 3 * 1024 * 1024);
        assert_eq!(
            small.client().read_ahead().pages,
            crate::client::DEFAULT_READ_AHEAD_PAGES
        );
    }
}
