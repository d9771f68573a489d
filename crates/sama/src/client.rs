//! The vendor-native Sama client: every call of the official Python SDK (`sama` 0.5.12), typed,
//! with every filter, on the shared [`Transport`].
//!
//! Encoding follows the SDK: `access_key` in the query string, `Content-Type: application/json`
//! on every POST and PUT (also bodiless ones), form-urlencoded query strings with unset
//! parameters omitted, lowercase booleans, RFC 3339 timestamps. An empty or non-JSON 2xx body
//! is "no content" (`None`), never an error.

use crate::errors::classify;
use crate::wire::{
    self, BatchJob, BatchStarted, BulkUpdateRequest, CreateBatchRequest, DeleteTasksRequest,
    RejectRequest, SamaProject, SamaStats, SamaTask, SinceLastCallRequest, TaskRecord,
    WaitingBatch,
};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use labelmux_core::paginate::{
    guarded, key_of, paginate, paginate_numbered_within, paginate_sequential, Page, ProgressGuard,
    ReadAhead, SizedPage,
};
use labelmux_core::spool::{self, SpoolOptions};
use labelmux_core::transport::{
    Auth, Method, RequestBuilder, RetryMode, SecretString, Transport, TransportConfig,
};
use labelmux_core::{
    report, BatchId, BatchStatus, Error, ErrorKind, Progress, ProgressEvent, ProjectId, Result,
    TaskId, TaskState, Vendor,
};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Sama's production API base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.sama.com/v2";
/// Largest `page_size` of multi-task status (documented maximum; also the SDK's value).
pub const MULTI_TASK_STATUS_MAX_PAGE_SIZE: u32 = 100;
/// Page size of the delivered-tasks and batch-status reads (the SDK's value).
pub const PAGE_SIZE: u32 = 1000;
/// Most pages of `GET tasks/delivered.json` in flight at once by default (see
/// [`SamaClient::with_read_ahead`]); the byte budget [`DEFAULT_READ_AHEAD_BYTES`] is what
/// normally binds. Requests in flight are further capped by `TransportConfig::concurrency`.
pub const DEFAULT_READ_AHEAD_PAGES: usize = 32;
/// Bytes of delivered pages the GET pull may hold ahead of the consumer by default (see
/// [`SamaClient::with_read_ahead_bytes`]): 16 MiB, about 12 pages of 1,000 deliveries (a page
/// costs its body, ~0.75 MB, plus its deliveries' own fields). Enough to keep 12 requests in
/// flight (50 ms of latency per request hidden as well as before), while a pull's peak RSS
/// stays under 30 MB whatever the page size. Pages in flight beyond 4 are only spent while the
/// consumer waits for the network, so a pull on a fast network holds far less; see
/// `docs/benchmarks.md`.
pub const DEFAULT_READ_AHEAD_BYTES: usize = 16 * 1024 * 1024;
/// `tasks_file_name` sent by labelmux unless told otherwise.
pub const DEFAULT_TASKS_FILE_NAME: &str = "labelmux";

/// How `client_batch_id` is matched (`exact` is Sama's default; other values are unconfirmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchType {
    /// Equal.
    Exact,
    /// Contains (named by the SDK's docs, unconfirmed by Sama).
    Contains,
    /// Any other value, sent as given.
    Other(String),
}

impl MatchType {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            MatchType::Exact => "exact",
            MatchType::Contains => "contains",
            MatchType::Other(s) => s,
        }
    }
}

/// Which date `from`/`to` filter on in multi-task status (values named by the SDK's docs,
/// unconfirmed by Sama).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateType {
    /// `creation_date`.
    CreationDate,
    /// `completion_date`.
    CompletionDate,
    /// Any other value, sent as given.
    Other(String),
}

impl DateType {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            DateType::CreationDate => "creation_date",
            DateType::CompletionDate => "completion_date",
            DateType::Other(s) => s,
        }
    }
}

/// Filters of `GET projects/{id}/tasks.json` (multi-task status).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTaskStatusQuery {
    /// Only this Sama batch.
    pub batch_id: Option<BatchId>,
    /// Only this client batch id.
    pub client_batch_id: Option<String>,
    /// How `client_batch_id` matches.
    pub client_batch_id_match_type: Option<MatchType>,
    /// Which date `from`/`to` apply to.
    pub date_type: Option<DateType>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Only tasks in this state (sent as Sama's string, e.g. `in progress`).
    pub state: Option<TaskState>,
    /// Leave answers out (default `true`, as the SDK).
    pub omit_answers: bool,
    /// Tasks per page, 1..=100 (default 100).
    pub page_size: u32,
}

impl Default for MultiTaskStatusQuery {
    fn default() -> Self {
        MultiTaskStatusQuery {
            batch_id: None,
            client_batch_id: None,
            client_batch_id_match_type: None,
            date_type: None,
            from: None,
            to: None,
            state: None,
            omit_answers: true,
            page_size: MULTI_TASK_STATUS_MAX_PAGE_SIZE,
        }
    }
}

/// Filters of `GET projects/{id}/tasks/delivered.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveredTasksQuery {
    /// Only this Sama batch.
    pub batch_id: Option<BatchId>,
    /// Only this client batch id.
    pub client_batch_id: Option<String>,
    /// How `client_batch_id` matches.
    pub client_batch_id_match_type: Option<MatchType>,
    /// Delivered at or after (none: every delivery Sama lists).
    pub from: Option<DateTime<Utc>>,
    /// Only this task.
    pub task_id: Option<TaskId>,
    /// Tasks per page (default 1000, as the SDK).
    pub page_size: u32,
}

impl Default for DeliveredTasksQuery {
    fn default() -> Self {
        DeliveredTasksQuery {
            batch_id: None,
            client_batch_id: None,
            client_batch_id_match_type: None,
            from: None,
            task_id: None,
            page_size: PAGE_SIZE,
        }
    }
}

/// Body of `POST projects/{id}/tasks/delivered.json`: deliveries since `consumer`'s last call.
#[derive(Debug, Clone, PartialEq)]
pub struct SinceLastCallQuery {
    /// The consumer token; consumers have independent server-side cursors. `None` is Sama's
    /// shared anonymous cursor.
    pub consumer: Option<String>,
    /// Only this Sama batch.
    pub batch_id: Option<BatchId>,
    /// Only this client batch id.
    pub client_batch_id: Option<String>,
    /// How `client_batch_id` matches.
    pub client_batch_id_match_type: Option<MatchType>,
    /// Most tasks per call (default 1000, as the SDK); a shorter page ends the stream.
    pub limit: u32,
}

impl Default for SinceLastCallQuery {
    fn default() -> Self {
        SinceLastCallQuery {
            consumer: None,
            batch_id: None,
            client_batch_id: None,
            client_batch_id_match_type: None,
            limit: PAGE_SIZE,
        }
    }
}

/// Batch-level settings of [`SamaClient::create_task_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct CreateBatchOptions {
    /// Where Sama e-mails when creation finishes.
    pub notification_email: Option<String>,
    /// Label of the upload (default [`DEFAULT_TASKS_FILE_NAME`]).
    pub tasks_file_name: String,
    /// Directory of the temporary spool file of streamed uploads (default: the system's).
    pub spool_dir: Option<PathBuf>,
}

impl Default for CreateBatchOptions {
    fn default() -> Self {
        CreateBatchOptions {
            notification_email: None,
            tasks_file_name: DEFAULT_TASKS_FILE_NAME.to_owned(),
            spool_dir: None,
        }
    }
}

/// What batch creation returns once Sama has started creating tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedBatch {
    /// The batch id.
    pub batch_id: BatchId,
    /// Records uploaded.
    pub submitted: u64,
    /// The `continue.json` answer (`raw` is `Null` when Sama sent no content, or when a
    /// retried `continue.json` was confirmed through the batch status instead).
    pub started: BatchStarted,
}

/// The Sama API client. Cheap to clone (the transport is shared).
#[derive(Clone, Debug)]
pub struct SamaClient {
    transport: Transport,
    read_ahead: ReadAhead,
}

const VENDOR: Vendor = Vendor::Sama;

impl SamaClient {
    /// A client of the API at `base_url` (use [`DEFAULT_BASE_URL`] for Sama's production API).
    pub fn new(base_url: &str, api_key: SecretString, transport: TransportConfig) -> Result<Self> {
        let auth = Auth::QueryParam {
            name: "access_key",
            key: api_key,
        };
        Ok(SamaClient {
            transport: Transport::new(VENDOR, base_url, auth, transport, classify)?,
            read_ahead: ReadAhead::bytes(DEFAULT_READ_AHEAD_BYTES, DEFAULT_READ_AHEAD_PAGES),
        })
    }

    /// Fetch at most `pages` pages of `GET tasks/delivered.json` concurrently (default
    /// [`DEFAULT_READ_AHEAD_PAGES`]; 0 counts as 1, i.e. one page ahead), within the byte
    /// budget of [`SamaClient::with_read_ahead_bytes`]. Those reads have no effect on Sama, so
    /// reading ahead only costs memory and hides network latency. Requests in flight are
    /// further capped by `TransportConfig::concurrency`. The since-last-call reads are never
    /// fetched ahead.
    pub fn with_read_ahead(mut self, pages: usize) -> Self {
        self.read_ahead.pages = pages.max(1);
        self
    }

    /// Hold at most about `bytes` bytes of delivered pages ahead of the consumer (default
    /// [`DEFAULT_READ_AHEAD_BYTES`]): a page weighs its body plus its decoded deliveries, and
    /// pages in flight count at the weight of the largest page seen. One page is always fetched
    /// ahead, so 0 means "one page ahead". This, not the page count, is what bounds memory when
    /// pages are large; configured as `[sama] read_ahead_mib`.
    pub fn with_read_ahead_bytes(mut self, bytes: usize) -> Self {
        self.read_ahead.bytes = bytes;
        self
    }

    /// The read-ahead of delivered-task pages: most pages in flight and the byte budget.
    pub fn read_ahead(&self) -> ReadAhead {
        self.read_ahead
    }

    /// The transport (base URL, settings).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    fn request(&self, method: Method, op: &'static str, path: &str) -> RequestBuilder {
        self.transport.request(method, op, path)
    }

    // -----------------------------------------------------------------------------------------
    // Batch creation
    // -----------------------------------------------------------------------------------------

    /// Step 1 of batch creation: open a batch waiting for its task file
    /// (`POST projects/{id}/batches.json`).
    ///
    /// Resent on any temporary failure, until the operation deadline, even when Sama may have
    /// acted on an attempt whose answer was lost: step 1 creates no task, and only the batch
    /// whose id arrives is ever uploaded to and started, so a resend can leave at most an empty
    /// waiting batch behind (Sama has no call to list batches, so a lost one cannot be looked
    /// up; it is never started and its upload URL expires after 4 hours). It can never
    /// duplicate a task. When every attempt fails, the error says that nothing was created.
    pub async fn open_batch(
        &self,
        project: &ProjectId,
        notification_email: Option<&str>,
        tasks_file_name: &str,
    ) -> Result<WaitingBatch> {
        const OP: &str = "create_task_batch";
        let body = CreateBatchRequest {
            notification_email: notification_email.map(str::to_owned),
            tasks_file_name: tasks_file_name.to_owned(),
        };
        let resp = self
            .request(
                Method::POST,
                OP,
                &format!(
                    "projects/{}/batches.json",
                    seg(project.as_str(), "project")?
                ),
            )
            .json(&body)
            .retry(RetryMode::Idempotent)
            .retry_until_deadline()
            .send()
            .await
            .map_err(|e| {
                if !e.is_retryable() {
                    return e;
                }
                let msg = format!(
                    "{}; no task was uploaded, so nothing was created (a waiting batch Sama may have opened for a lost answer holds no task and is never started): run the same command again later",
                    e.message()
                );
                rewrap(e, msg)
            })?;
        let value = resp.json_or_none().ok_or_else(|| {
            op_err(
                Error::decode("Sama opened no batch (empty answer to batches.json)"),
                OP,
            )
        })?;
        wire::decode(value, "answer to batches.json").map_err(|e| op_err(e, OP))
    }

    /// Step 2 from memory: PUT the task array to the pre-signed `tasks_put_url` (no
    /// `access_key`). A PUT is idempotent, so it is retried on any temporary failure.
    pub async fn upload_tasks(&self, tasks_put_url: &str, records: &[TaskRecord]) -> Result<()> {
        self.transport
            .request_absolute(Method::PUT, "create_task_batch", tasks_put_url)
            .json(records)
            .retry(RetryMode::Idempotent)
            .send()
            .await
            .map(|_| ())
    }

    /// Step 2 from a file holding the JSON task array, streamed (and re-read on every retry).
    /// The per-attempt timeout grows with the file size, and the deadline allows every attempt
    /// its full timeout, so a large upload is not cut short by the default `deadline_secs`.
    pub async fn upload_tasks_file(&self, tasks_put_url: &str, path: &Path) -> Result<()> {
        let bytes = tokio::fs::metadata(path).await?.len();
        let config = self.transport.config();
        let per_attempt = upload_timeout(config.timeout_secs, bytes);
        let deadline = (per_attempt * config.max_attempts)
            .max(std::time::Duration::from_secs_f64(config.deadline_secs));
        self.transport
            .request_absolute(Method::PUT, "create_task_batch", tasks_put_url)
            .file(path, "application/json")
            .retry(RetryMode::Idempotent)
            .retry_until_deadline()
            .timeout(per_attempt)
            .deadline(deadline)
            .send()
            .await
            .map(|_| ())
    }

    /// Step 3: start creating tasks from the uploaded file
    /// (`POST projects/{id}/batches/{bid}/continue.json`, empty JSON body).
    ///
    /// Retried on any temporary failure: starting a started batch changes nothing. If a retry
    /// is refused (the first attempt was acted on but its answer was lost), the batch status
    /// decides: a batch no longer `waiting` was started, and that is success.
    pub async fn continue_batch(
        &self,
        project: &ProjectId,
        batch: &BatchId,
    ) -> Result<BatchStarted> {
        const OP: &str = "create_task_batch";
        let path = format!(
            "projects/{}/batches/{}/continue.json",
            seg(project.as_str(), "project")?,
            seg(batch.as_str(), "batch")?
        );
        let sent = self
            .request(Method::POST, OP, &path)
            .empty_json()
            .retry(RetryMode::Idempotent)
            .retry_until_deadline()
            .send()
            .await;
        match sent {
            Ok(resp) => match resp.json_or_none() {
                Some(v) => wire::decode(v, "answer to continue.json").map_err(|e| op_err(e, OP)),
                None => Ok(BatchStarted {
                    batch_id: Some(batch.to_string()),
                    ..BatchStarted::default()
                }),
            },
            Err(e) if !e.is_retryable() && e.attempts() > 1 => {
                let job = self
                    .get_status_batch_creation_job_page(project, batch, true, 1, 0)
                    .await;
                match job {
                    Ok(job)
                        if job
                            .status
                            .as_deref()
                            .is_some_and(|s| BatchStatus::parse(s) != BatchStatus::Waiting) =>
                    {
                        Ok(BatchStarted {
                            batch_id: Some(batch.to_string()),
                            ..BatchStarted::default()
                        })
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `create_task_batch` of the SDK, from records in memory: open a waiting batch, PUT the
    /// records to its upload URL, start creation. For large or streamed inputs use
    /// [`SamaClient::create_task_batch_streaming`].
    pub async fn create_task_batch(
        &self,
        project: &ProjectId,
        records: &[TaskRecord],
        options: &CreateBatchOptions,
    ) -> Result<CreatedBatch> {
        let waiting = self
            .open_batch(
                project,
                options.notification_email.as_deref(),
                &options.tasks_file_name,
            )
            .await?;
        let batch = BatchId::new(waiting.batch_id.clone());
        if let Err(e) = self.upload_tasks(&waiting.tasks_put_url, records).await {
            self.cancel_orphan(project, &batch).await;
            return Err(e);
        }
        let started = self.continue_batch(project, &batch).await?;
        Ok(CreatedBatch {
            batch_id: batch,
            submitted: records.len() as u64,
            started,
        })
    }

    /// `create_task_batch` for any number of records, in flat memory: the records are written
    /// one by one to a temporary spool file as a JSON array *before* anything is sent, then the
    /// batch is opened, the file PUT (re-read on retries) and creation started. An `Err` item
    /// aborts before Sama is contacted at all, and is returned. Reports the phases `spooling`,
    /// `uploading`, `starting` and [`ProgressEvent::TasksSent`] as records are spooled.
    pub async fn create_task_batch_streaming(
        &self,
        project: &ProjectId,
        records: BoxStream<'_, Result<TaskRecord>>,
        options: &CreateBatchOptions,
        progress: &Progress,
    ) -> Result<CreatedBatch> {
        const OP: &str = "create_task_batch";
        report(progress, ProgressEvent::Phase("spooling"));
        let spool = spool_to_file(records, options.spool_dir.as_deref(), progress).await?;
        report(progress, ProgressEvent::Phase("uploading"));
        let waiting = self
            .open_batch(
                project,
                options.notification_email.as_deref(),
                &options.tasks_file_name,
            )
            .await?;
        let batch = BatchId::new(waiting.batch_id.clone());
        // Said at once, so a caller interrupted from here on can still name the batch.
        report(progress, ProgressEvent::BatchOpened(batch.clone()));
        if let Err(e) = self
            .upload_tasks_file(&waiting.tasks_put_url, &spool.path)
            .await
        {
            self.cancel_orphan(project, &batch).await;
            let msg = format!(
                "uploading the tasks of batch {batch} failed, so Sama never started it (it was canceled) and nothing was created: {}",
                e.message()
            );
            return Err(op_err(rewrap(e, msg), OP));
        }
        report(progress, ProgressEvent::Phase("starting"));
        let started = self.continue_batch(project, &batch).await.map_err(|e| {
            let msg = format!(
                "the tasks of batch {batch} were uploaded but starting it failed: {}; the batch status tells whether it started (not `waiting`: nothing to do) or not (cancel it and send the tasks again)",
                e.message()
            );
            rewrap(e, msg)
        })?;
        let submitted = spool.count;
        drop(spool); // deletes the file
        Ok(CreatedBatch {
            batch_id: batch,
            submitted,
            started,
        })
    }

    /// Best effort: cancel a waiting batch whose upload failed, so it does not linger. Its
    /// failure is ignored (the upload error is what the caller needs to see).
    async fn cancel_orphan(&self, project: &ProjectId, batch: &BatchId) {
        if let Err(e) = self.cancel_batch_creation_job(project, batch).await {
            tracing::debug!(batch = %batch, error = %e, "could not cancel the waiting batch after a failed upload");
        }
    }

    /// `POST projects/{id}/batches/{bid}/cancel.json`: tasks not yet created become canceled.
    /// Idempotent in effect (canceling a canceled batch changes nothing), so retried freely.
    pub async fn cancel_batch_creation_job(
        &self,
        project: &ProjectId,
        batch: &BatchId,
    ) -> Result<Option<Value>> {
        let path = format!(
            "projects/{}/batches/{}/cancel.json",
            seg(project.as_str(), "project")?,
            seg(batch.as_str(), "batch")?
        );
        let resp = self
            .request(Method::POST, "cancel_batch_creation_job", &path)
            .empty_json()
            .retry(RetryMode::Idempotent)
            .send()
            .await?;
        Ok(resp.json_or_none())
    }

    // -----------------------------------------------------------------------------------------
    // Task updates
    // -----------------------------------------------------------------------------------------

    /// `PUT projects/{id}/tasks/{tid}/reject.json` with `{"reasons": [...]}`: send a task back
    /// for rework. A PUT; the same rejection twice leaves the same state.
    pub async fn reject_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
        reasons: &[String],
    ) -> Result<Option<Value>> {
        let path = format!(
            "projects/{}/tasks/{}/reject.json",
            seg(project.as_str(), "project")?,
            seg(task.as_str(), "task")?
        );
        let resp = self
            .request(Method::PUT, "reject_task", &path)
            .json(&RejectRequest { reasons })
            .retry(RetryMode::Idempotent)
            .send()
            .await?;
        Ok(resp.json_or_none())
    }

    /// `POST projects/{id}/tasks/bulk_update.json` with `{"task_ids", "priority"}`. Setting a
    /// value is idempotent, so retried freely.
    pub async fn update_task_priorities(
        &self,
        project: &ProjectId,
        task_ids: &[TaskId],
        priority: i32,
    ) -> Result<Option<Value>> {
        let ids = id_strings(task_ids);
        let path = format!(
            "projects/{}/tasks/bulk_update.json",
            seg(project.as_str(), "project")?
        );
        let resp = self
            .request(Method::POST, "update_task_priorities", &path)
            .json(&BulkUpdateRequest {
                task_ids: &ids,
                priority,
            })
            .retry(RetryMode::Idempotent)
            .send()
            .await?;
        Ok(resp.json_or_none())
    }

    /// `POST projects/{id}/tasks/delete_tasks.json` with `{"task_ids"}`. Only tasks in state
    /// `new` can be deleted. Deleting twice leaves them deleted, so retried freely. Sama's
    /// answer is undocumented: it is returned as is.
    pub async fn delete_tasks(
        &self,
        project: &ProjectId,
        task_ids: &[TaskId],
    ) -> Result<Option<Value>> {
        let ids = id_strings(task_ids);
        let path = format!(
            "projects/{}/tasks/delete_tasks.json",
            seg(project.as_str(), "project")?
        );
        let resp = self
            .request(Method::POST, "delete_tasks", &path)
            .json(&DeleteTasksRequest { task_ids: &ids })
            .retry(RetryMode::Idempotent)
            .send()
            .await?;
        Ok(resp.json_or_none())
    }

    // -----------------------------------------------------------------------------------------
    // Task reads
    // -----------------------------------------------------------------------------------------

    /// `GET projects/{id}/tasks/{tid}.json?same_as_delivery=…`: one task (`None` if Sama sent
    /// no content). Accepts both the `{"task": …}` and `{"tasks": [...]}` envelopes.
    pub async fn get_task_status(
        &self,
        project: &ProjectId,
        task: &TaskId,
        same_as_delivery: bool,
    ) -> Result<Option<SamaTask>> {
        const OP: &str = "get_task_status";
        let path = format!(
            "projects/{}/tasks/{}.json",
            seg(project.as_str(), "project")?,
            seg(task.as_str(), "task")?
        );
        let resp = self
            .request(Method::GET, OP, &path)
            .query("same_as_delivery", same_as_delivery)
            .send()
            .await?;
        match resp.json_or_none() {
            Some(v) => wire::single_task(v).map_err(|e| op_err(e, OP)),
            None => Ok(None),
        }
    }

    /// `GET projects/{id}/tasks.json` (multi-task status) with every filter, page by page
    /// (prefetching one page ahead), as a stream. Sama allows one call per second here; a 429
    /// is retried by the transport after `Retry-After` / backoff.
    pub fn get_multi_task_status(
        &self,
        project: &ProjectId,
        query: MultiTaskStatusQuery,
    ) -> BoxStream<'static, Result<SamaTask>> {
        const OP: &str = "get_multi_task_status";
        if query.page_size == 0 || query.page_size > MULTI_TASK_STATUS_MAX_PAGE_SIZE {
            return error_stream(op_err(
                Error::validation(format!(
                    "page_size must be 1..={MULTI_TASK_STATUS_MAX_PAGE_SIZE}, got {}",
                    query.page_size
                )),
                OP,
            ));
        }
        let client = self.clone();
        let project = project.clone();
        let id = |t: &SamaTask| key_of(&t.id);
        paginate(
            1u64,
            guarded(VENDOR, OP, id, move |page| {
                let (client, project, query) = (client.clone(), project.clone(), query.clone());
                async move {
                    let path = format!(
                        "projects/{}/tasks.json",
                        seg(project.as_str(), "project").map_err(|e| op_err(e, OP))?
                    );
                    let rb = client
                        .request(Method::GET, OP, &path)
                        .query_opt("batch_id", query.batch_id.as_ref())
                        .query_opt("client_batch_id", query.client_batch_id.as_deref())
                        .query_opt(
                            "client_batch_id_match_type",
                            query
                                .client_batch_id_match_type
                                .as_ref()
                                .map(MatchType::as_str),
                        )
                        .query_opt("date_type", query.date_type.as_ref().map(DateType::as_str))
                        .query_opt("from", query.from.as_ref().map(rfc3339))
                        .query_opt("to", query.to.as_ref().map(rfc3339))
                        .query_opt("state", query.state.as_ref().map(TaskState::as_str))
                        .query("omit_answers", query.omit_answers);
                    task_page::<SamaTask>(rb, OP, page, query.page_size).await
                }
            }),
        )
    }

    /// `GET projects/{id}/tasks/delivered.json` with every filter, page by page, as a stream.
    /// Pages are fetched ahead within [`SamaClient::read_ahead`] (items still come in order; the
    /// first short page ends the stream). Reading never moves a consumer cursor.
    /// Sama's delivered tasks may read `state: completed` and `delivered_at: null`; nothing is
    /// filtered here. Waiting pages are kept as raw task JSON; each task is decoded into a
    /// `SamaTask` when the consumer takes it.
    pub fn get_delivered_tasks(
        &self,
        project: &ProjectId,
        query: DeliveredTasksQuery,
    ) -> BoxStream<'static, Result<SamaTask>> {
        self.delivered_pages(project, query, raw_tasks)
            .map(|r| r.and_then(|t| decode_raw_task(&t, "get_delivered_tasks")))
            .boxed()
    }

    /// [`SamaClient::get_delivered_tasks`] with each page turned into items by `decode`, on the
    /// task that fetched it (in parallel with the consumer and with further fetches).
    pub(crate) fn delivered_pages<T, D>(
        &self,
        project: &ProjectId,
        query: DeliveredTasksQuery,
        decode: D,
    ) -> BoxStream<'static, Result<T>>
    where
        T: Send + 'static,
        D: Fn(Bytes) -> Result<DecodedPage<T>> + Send + Sync + 'static,
    {
        const OP: &str = "get_delivered_tasks";
        if query.page_size == 0 {
            return error_stream(op_err(
                Error::validation("page_size must be at least 1"),
                OP,
            ));
        }
        let client = self.clone();
        let project = project.clone();
        let decode = std::sync::Arc::new(decode);
        let guard = PageGuard::new(OP);
        paginate_numbered_within(1, self.read_ahead, move |page| {
            let (client, project, query) = (client.clone(), project.clone(), query.clone());
            let (decode, guard) = (decode.clone(), guard.clone());
            async move {
                let path = format!(
                    "projects/{}/tasks/delivered.json",
                    seg(project.as_str(), "project").map_err(|e| op_err(e, OP))?
                );
                let rb = client
                    .request(Method::GET, OP, &path)
                    .query_opt("batch_id", query.batch_id.as_ref())
                    .query_opt("client_batch_id", query.client_batch_id.as_deref())
                    .query_opt(
                        "client_batch_id_match_type",
                        query
                            .client_batch_id_match_type
                            .as_ref()
                            .map(MatchType::as_str),
                    )
                    .query_opt("from", query.from.as_ref().map(rfc3339))
                    .query_opt("task_id", query.task_id.as_ref());
                decoded_page(rb, OP, page, query.page_size, &*decode, &guard).await
            }
        })
    }

    /// One page (from 1) of `GET projects/{id}/tasks/delivered.json`, tasks as raw JSON; the
    /// next page is named when this one is full.
    pub(crate) async fn delivered_tasks_page(
        &self,
        project: &ProjectId,
        query: &DeliveredTasksQuery,
        page: u64,
    ) -> Result<Page<Box<RawValue>, u64>> {
        const OP: &str = "get_delivered_tasks";
        if query.page_size == 0 {
            return Err(op_err(
                Error::validation("page_size must be at least 1"),
                OP,
            ));
        }
        let path = format!(
            "projects/{}/tasks/delivered.json",
            seg(project.as_str(), "project").map_err(|e| op_err(e, OP))?
        );
        let rb = self
            .request(Method::GET, OP, &path)
            .query_opt("batch_id", query.batch_id.as_ref())
            .query_opt("client_batch_id", query.client_batch_id.as_deref())
            .query_opt(
                "client_batch_id_match_type",
                query
                    .client_batch_id_match_type
                    .as_ref()
                    .map(MatchType::as_str),
            )
            .query_opt("from", query.from.as_ref().map(rfc3339))
            .query_opt("task_id", query.task_id.as_ref());
        task_page(rb, OP, page, query.page_size).await
    }

    /// `POST projects/{id}/tasks/delivered.json`: deliveries since the consumer's last call,
    /// as a stream. Every page read advances Sama's server-side cursor, so pages are fetched
    /// strictly one after the other, only when the previous one is used up (dropping the
    /// stream never consumes a page nobody saw). A page shorter than `limit` ends the stream.
    ///
    /// Calls are retried on any temporary failure (`RetryMode::Idempotent`), as the SDK does.
    /// That never loses more than not retrying: if Sama acted on a call whose answer was lost,
    /// that page is gone either way (the cursor moved), and the retry returns the next page;
    /// if Sama did not act, the retry returns the page itself.
    pub fn get_delivered_tasks_since_last_call(
        &self,
        project: &ProjectId,
        query: SinceLastCallQuery,
    ) -> BoxStream<'static, Result<SamaTask>> {
        self.delivered_since_last_call_pages(project, query, raw_tasks)
            .map(|r| r.and_then(|t| decode_raw_task(&t, "get_delivered_tasks_since_last_call")))
            .boxed()
    }

    /// [`SamaClient::get_delivered_tasks_since_last_call`] with each page turned into items by
    /// `decode` as soon as it arrives.
    pub(crate) fn delivered_since_last_call_pages<T, D>(
        &self,
        project: &ProjectId,
        query: SinceLastCallQuery,
        decode: D,
    ) -> BoxStream<'static, Result<T>>
    where
        T: Send + 'static,
        D: Fn(Bytes) -> Result<DecodedPage<T>> + Send + Sync + 'static,
    {
        const OP: &str = "get_delivered_tasks_since_last_call";
        if query.limit == 0 {
            return error_stream(op_err(Error::validation("limit must be at least 1"), OP));
        }
        let client = self.clone();
        let project = project.clone();
        let decode = std::sync::Arc::new(decode);
        let guard = PageGuard::new(OP);
        paginate_sequential(1u64, move |page| {
            let (client, project, query) = (client.clone(), project.clone(), query.clone());
            let (decode, guard) = (decode.clone(), guard.clone());
            async move {
                let path = format!(
                    "projects/{}/tasks/delivered.json",
                    seg(project.as_str(), "project").map_err(|e| op_err(e, OP))?
                );
                let body = SinceLastCallRequest {
                    batch_id: query.batch_id.as_ref().map(BatchId::as_str),
                    client_batch_id: query.client_batch_id.as_deref(),
                    client_batch_id_match_type: query
                        .client_batch_id_match_type
                        .as_ref()
                        .map(MatchType::as_str),
                    consumer: query.consumer.as_deref(),
                    limit: query.limit,
                };
                // `page`/`page_size` mirror the SDK; Sama's cursor is what moves.
                let rb = client
                    .request(Method::POST, OP, &path)
                    .json(&body)
                    .retry(RetryMode::Idempotent);
                decoded_page(rb, OP, page, query.limit, &*decode, &guard)
                    .await
                    .map(|sized| sized.page)
            }
        })
    }

    // -----------------------------------------------------------------------------------------
    // Batch status
    // -----------------------------------------------------------------------------------------

    /// One page of `GET projects/{id}/batches/{bid}.json`. `page` starts at 1; `page_size` is
    /// at most 1000, and 0 asks for the job-level fields only (cheap polling).
    pub async fn get_status_batch_creation_job_page(
        &self,
        project: &ProjectId,
        batch: &BatchId,
        omit_failed_task_data: bool,
        page: u32,
        page_size: u32,
    ) -> Result<BatchJob> {
        const OP: &str = "get_status_batch_creation_job";
        if page_size > PAGE_SIZE {
            return Err(op_err(
                Error::validation(format!("page_size must be at most {PAGE_SIZE}")),
                OP,
            ));
        }
        let path = format!(
            "projects/{}/batches/{}.json",
            seg(project.as_str(), "project")?,
            seg(batch.as_str(), "batch")?
        );
        let resp = self
            .request(Method::GET, OP, &path)
            .query("batch_id", batch)
            .query("omit_failed_task_data", omit_failed_task_data)
            .query("page", page)
            .query("page_size", page_size)
            .send()
            .await?;
        match resp.json_or_none() {
            Some(v) => wire::decode(v, "batch status").map_err(|e| op_err(e, OP)),
            None => Ok(BatchJob::default()),
        }
    }

    /// The whole batch-creation job: status, `tasks_created`, messages and every per-task
    /// entry across all pages (the official SDK yields only the entries). The job-level fields
    /// and `raw` come from the first page.
    pub async fn get_status_batch_creation_job(
        &self,
        project: &ProjectId,
        batch: &BatchId,
        omit_failed_task_data: bool,
    ) -> Result<BatchJob> {
        const OP: &str = "get_status_batch_creation_job";
        let mut job = self
            .get_status_batch_creation_job_page(project, batch, omit_failed_task_data, 1, PAGE_SIZE)
            .await?;
        let mut last_len = job.tasks.len();
        let mut page = 1u32;
        let mut previous_first = job.tasks.first().map(|t| t.raw.clone());
        while last_len >= PAGE_SIZE as usize {
            page += 1;
            let next = self
                .get_status_batch_creation_job_page(
                    project,
                    batch,
                    omit_failed_task_data,
                    page,
                    PAGE_SIZE,
                )
                .await?;
            let first = next.tasks.first().map(|t| t.raw.clone());
            if first.is_some() && first == previous_first {
                // A server ignoring `page` would make this loop forever.
                return Err(op_err(
                    Error::decode(format!(
                        "Sama returned the same batch status page again for page {page}"
                    )),
                    OP,
                ));
            }
            previous_first = first;
            last_len = next.tasks.len();
            job.tasks.extend(next.tasks);
        }
        Ok(job)
    }

    // -----------------------------------------------------------------------------------------
    // Project reads
    // -----------------------------------------------------------------------------------------

    /// `GET projects/{id}/schemas/create_task.json`: the JSON Schema of task `data`.
    pub async fn get_creation_task_schema(&self, project: &ProjectId) -> Result<Option<Value>> {
        self.get_json(
            "get_creation_task_schema",
            format!(
                "projects/{}/schemas/create_task.json",
                seg(project.as_str(), "project")?
            ),
        )
        .await
    }

    /// `GET projects/{id}/schemas/deliver_task.json`: the JSON Schema of delivered answers.
    pub async fn get_delivery_task_schema(&self, project: &ProjectId) -> Result<Option<Value>> {
        self.get_json(
            "get_delivery_task_schema",
            format!(
                "projects/{}/schemas/deliver_task.json",
                seg(project.as_str(), "project")?
            ),
        )
        .await
    }

    /// `GET projects/{id}.json`: project information.
    pub async fn get_project_information(
        &self,
        project: &ProjectId,
    ) -> Result<Option<SamaProject>> {
        const OP: &str = "get_project_information";
        let v = self
            .get_json(
                OP,
                format!("projects/{}.json", seg(project.as_str(), "project")?),
            )
            .await?;
        v.map(|v| wire::decode(v, "project information").map_err(|e| op_err(e, OP)))
            .transpose()
    }

    /// `GET projects/{id}/stats.json?from=&to=`: task statistics (shape unpublished; kept raw).
    pub async fn get_project_stats(
        &self,
        project: &ProjectId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Option<SamaStats>> {
        let path = format!("projects/{}/stats.json", seg(project.as_str(), "project")?);
        let resp = self
            .request(Method::GET, "get_project_stats", &path)
            .query_opt("from", from.as_ref().map(rfc3339))
            .query_opt("to", to.as_ref().map(rfc3339))
            .send()
            .await?;
        Ok(resp.json_or_none().map(|raw| SamaStats { raw }))
    }

    async fn get_json(&self, op: &'static str, path: String) -> Result<Option<Value>> {
        let resp = self.request(Method::GET, op, &path).send().await?;
        Ok(resp.json_or_none())
    }
}

/// Fetch one page of a task list, decode it straight from the body (each task once, as `T`),
/// and say whether another page may follow (a full page).
async fn task_page<T: DeserializeOwned>(
    rb: RequestBuilder,
    op: &'static str,
    page: u64,
    page_size: u32,
) -> Result<Page<T, u64>> {
    let resp = rb
        .query("page", page)
        .query("page_size", page_size)
        .send()
        .await?;
    let items: Vec<T> = wire::task_list_from_slice(&resp.body).map_err(|e| op_err(e, op))?;
    let next = (items.len() >= page_size as usize).then_some(page + 1);
    Ok(Page { items, next })
}

/// The id of a task kept as raw JSON, hashed for the progress guard of a listing (the whole
/// text when it has no readable id).
pub(crate) fn raw_task_key(raw: &RawValue) -> u64 {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(deserialize_with = "labelmux_core::lenient::string_or_number")]
        id: String,
    }
    match serde_json::from_str::<IdOnly>(raw.get()) {
        Ok(t) => key_of(&t.id),
        Err(_) => key_of(raw.get()),
    }
}

/// A delivered page turned into items, with what the page held and weighs.
pub(crate) struct DecodedPage<T> {
    /// The items, in page order.
    pub items: Vec<T>,
    /// Tasks on the page (a full page means another may follow).
    pub tasks: usize,
    /// What the page costs in memory while it waits (see `ReadAhead`).
    pub bytes: usize,
}

/// Fetch one delivered page and decode it with `decode` (on the calling task: for the GET
/// pull, a spawned fetch task).
async fn decoded_page<T>(
    rb: RequestBuilder,
    op: &'static str,
    page: u64,
    page_size: u32,
    decode: &(dyn Fn(Bytes) -> Result<DecodedPage<T>> + Send + Sync),
    guard: &PageGuard,
) -> Result<SizedPage<T>> {
    let resp = rb
        .query("page", page)
        .query("page_size", page_size)
        .send()
        .await?;
    let fingerprint = page_fingerprint(&resp.body);
    // The body is handed over (not copied): a decoder may keep it as the page's text.
    let decoded = decode(resp.body).map_err(|e| op_err(e, op))?;
    let next = (decoded.tasks >= page_size as usize).then_some(page + 1);
    guard.check(fingerprint, decoded.tasks, next.is_some())?;
    Ok(SizedPage {
        page: Page {
            items: decoded.items,
            next,
        },
        bytes: decoded.bytes,
    })
}

/// A page's tasks as raw JSON, each decoded later by the consumer (native streams).
fn raw_tasks(body: Bytes) -> Result<DecodedPage<Box<RawValue>>> {
    let items: Vec<Box<RawValue>> = wire::task_list_from_slice(&body)?;
    Ok(DecodedPage {
        tasks: items.len(),
        bytes: body.len() + items.len() * std::mem::size_of::<Box<RawValue>>(),
        items,
    })
}

/// The progress guard of a delivered-pages listing decoded on the fetch workers: the items are
/// not at hand as ids there, so a page is known by a fingerprint of its text (a page sent again
/// is the same text), checked with the core's [`ProgressGuard`].
#[derive(Clone)]
pub(crate) struct PageGuard(std::sync::Arc<std::sync::Mutex<ProgressGuard>>);

impl PageGuard {
    fn new(op: &'static str) -> Self {
        PageGuard(std::sync::Arc::new(std::sync::Mutex::new(
            ProgressGuard::new(VENDOR, op),
        )))
    }

    fn check(&self, fingerprint: u64, tasks: usize, more: bool) -> Result<()> {
        let mut g = self.0.lock().map_err(|_| {
            Error::new(
                labelmux_core::ErrorKind::Internal,
                "progress guard poisoned",
            )
        })?;
        let ids = (tasks > 0).then_some(fingerprint);
        g.page(ids, more)
    }
}

/// A cheap fingerprint of a page's text: its length and its first and last 4 KiB (hashing all
/// of a 0.5 MB page would cost a noticeable share of the read path).
fn page_fingerprint(body: &[u8]) -> u64 {
    const EDGE: usize = 4096;
    let head = &body[..body.len().min(EDGE)];
    let tail = &body[body.len().saturating_sub(EDGE)..];
    key_of(&(body.len(), head, tail))
}

/// Decode one task kept as raw JSON.
pub(crate) fn decode_raw_task<T: DeserializeOwned>(raw: &RawValue, op: &'static str) -> Result<T> {
    serde_json::from_str(raw.get())
        .map_err(|e| op_err(Error::decode(format!("unexpected task from Sama: {e}")), op))
}

fn error_stream<T: Send + 'static>(e: Error) -> BoxStream<'static, Result<T>> {
    stream::once(async move { Err(e) }).boxed()
}

/// `e` with a new message, keeping its kind, vendor, operation, status, retry state and cause.
fn rewrap(e: Error, message: String) -> Error {
    let mut out = Error::new(e.kind(), message);
    if let Some(v) = e.vendor() {
        out = out.with_vendor(v);
    }
    if let Some(op) = e.operation() {
        out = out.with_operation(op.to_owned());
    }
    if let Some(status) = e.status() {
        out = out.with_status(status);
    }
    if e.is_persistent() {
        out = out.exhausted(e.attempts());
    }
    out.with_source(e)
}

fn op_err(e: Error, op: &'static str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

fn id_strings(ids: &[TaskId]) -> Vec<String> {
    ids.iter().map(|t| t.as_str().to_owned()).collect()
}

/// RFC 3339 with `Z`, and as many fraction digits as needed (Sama's examples use both
/// milliseconds and nanoseconds).
pub(crate) fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An id as one path segment: percent-encoded, so an id can never change the path.
pub(crate) fn seg(id: &str, what: &str) -> Result<String> {
    if id.is_empty() {
        return Err(Error::validation(format!("the {what} id is empty")).with_vendor(VENDOR));
    }
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out == "." || out == ".." {
        return Err(
            Error::validation(format!("{id:?} is not a valid {what} id")).with_vendor(VENDOR),
        );
    }
    Ok(out)
}

/// Per-attempt timeout of an upload of `bytes`: the configured timeout plus one second per
/// 256 KiB (a slow 2 Mbit/s uplink), so large files are not cut off mid-way.
fn upload_timeout(timeout_secs: f64, bytes: u64) -> Duration {
    Duration::from_secs_f64(timeout_secs) + Duration::from_secs(bytes / (256 * 1024))
}

// ---------------------------------------------------------------------------------------------
// Spooling
// ---------------------------------------------------------------------------------------------

/// The task array written to a temporary file, deleted on drop.
pub(crate) struct Spool {
    pub(crate) path: tempfile::TempPath,
    pub(crate) count: u64,
}

/// Write `records` as one JSON array to a temporary file in `dir` (memory does not grow with
/// the number of records), with the core spooler. An `Err` item is returned as is, and no file
/// is left behind.
pub(crate) async fn spool_to_file(
    records: BoxStream<'_, Result<TaskRecord>>,
    dir: Option<&Path>,
    progress: &Progress,
) -> Result<Spool> {
    let options = SpoolOptions::default()
        .in_dir(dir)
        .named("labelmux-sama-", ".json")
        .for_operation(VENDOR, "create_task_batch");
    let chunks = spool::spool_json_arrays(records, &options, |n| {
        report(progress, ProgressEvent::TasksSent(n))
    })
    .await?;
    // Without chunk limits the spooler writes exactly one file.
    let Some(chunk) = chunks.into_iter().next() else {
        return Err(Error::new(ErrorKind::Io, "the spooler wrote no file")
            .with_vendor(VENDOR)
            .with_operation("create_task_batch"));
    };
    let count = chunk.items();
    Ok(Spool {
        path: chunk.into_temp_path(),
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use labelmux_core::ProgressObserver;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Events(Mutex<Vec<ProgressEvent>>);
    impl ProgressObserver for Events {
        fn on_progress(&self, event: ProgressEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    fn records(n: usize) -> Vec<Result<TaskRecord>> {
        (0..n)
            .map(|i| {
                let mut data = labelmux_core::JsonMap::new();
                data.insert("url".into(), json!(format!("https://x/{i}.jpg")));
                data.insert("quote".into(), json!("a \"b\"\n,]"));
                Ok(TaskRecord {
                    data,
                    priority: Some(0),
                    submit: Some(false),
                    extra: Default::default(),
                })
            })
            .collect()
    }

    #[tokio::test]
    async fn spool_writer_produces_a_valid_json_array_for_0_1_and_many() {
        let dir = tempfile::tempdir().unwrap();
        for n in [0usize, 1, 2, 1000] {
            let events = Arc::new(Events::default());
            let progress: Progress = Some(events.clone());
            let spool = spool_to_file(
                stream::iter(records(n)).boxed(),
                Some(dir.path()),
                &progress,
            )
            .await
            .unwrap();
            assert_eq!(spool.count, n as u64);
            let out = std::fs::read(&spool.path).unwrap();
            let parsed: Vec<TaskRecord> = serde_json::from_slice(&out).unwrap();
            let want: Vec<TaskRecord> = records(n).into_iter().map(|r| r.unwrap()).collect();
            assert_eq!(parsed, want, "n = {n}");
            let sent: u64 = events
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|e| match e {
                    ProgressEvent::TasksSent(k) => *k,
                    _ => 0,
                })
                .sum();
            assert_eq!(sent, n as u64);
        }
    }

    #[tokio::test]
    async fn spool_writer_returns_the_stream_error_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let mut items = records(3);
        items.insert(2, Err(Error::new(ErrorKind::Validation, "row 3: bad JSON")));
        let err = spool_to_file(stream::iter(items).boxed(), Some(dir.path()), &None)
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert_eq!(err.message(), "row 3: bad JSON");
        assert_eq!(err.vendor(), None, "the caller's error is not relabelled");
    }

    #[tokio::test]
    async fn spool_file_holds_the_array_and_is_deleted_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool_to_file(stream::iter(records(5)).boxed(), Some(dir.path()), &None)
            .await
            .unwrap();
        assert_eq!(spool.count, 5);
        let text = std::fs::read(&spool.path).unwrap();
        let parsed: Vec<Value> = serde_json::from_slice(&text).unwrap();
        assert_eq!(parsed.len(), 5);
        let path = spool.path.to_path_buf();
        drop(spool);
        assert!(!path.exists());
        // A failing stream leaves no file behind.
        let mut bad = records(2);
        bad.push(Err(Error::validation("nope")));
        assert!(
            spool_to_file(stream::iter(bad).boxed(), Some(dir.path()), &None)
                .await
                .is_err()
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn path_segments_are_encoded_and_empty_ids_refused() {
        assert_eq!(
            seg("63f7d35730412f0057220a64", "task").unwrap(),
            "63f7d35730412f0057220a64"
        );
        assert_eq!(seg("a/b?c d", "task").unwrap(), "a%2Fb%3Fc%20d");
        assert_eq!(seg("..", "task").unwrap_err().kind(), ErrorKind::Validation);
        assert_eq!(
            seg("", "project").unwrap_err().kind(),
            ErrorKind::Validation
        );
    }

    #[test]
    fn timestamps_are_rfc3339_with_z() {
        let t = Utc.with_ymd_and_hms(2023, 9, 13, 0, 0, 0).unwrap();
        assert_eq!(rfc3339(&t), "2023-09-13T00:00:00Z");
        let t = t + chrono::Duration::nanoseconds(536_167_366);
        assert_eq!(rfc3339(&t), "2023-09-13T00:00:00.536167366Z");
    }

    #[test]
    fn upload_timeout_grows_with_size() {
        assert_eq!(upload_timeout(60.0, 0), Duration::from_secs(60));
        assert_eq!(
            upload_timeout(60.0, 1024 * 1024 * 1024),
            Duration::from_secs(60 + 4096)
        );
    }
}
