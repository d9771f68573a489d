//! The vendor-native Scale client: every v1 call of the official Python SDK (`scaleapi`),
//! typed, on the shared [`Transport`].
//!
//! Wire behaviour follows the SDK: HTTP Basic auth with the key as user name, project / batch /
//! group names percent-encoded as single path segments (task ids too, which the SDK does not
//! do, harmlessly: Scale's ids are hex), lists as repeated query keys, booleans as `True` /
//! `False`, and **only HTTP 200 is success** — any other 2xx is reported as an error, as the
//! SDK does. Retries are the transport's: reads and requests that are idempotent by nature
//! (replacements, and task creations carrying a `unique_id`) are resent on any temporary
//! failure, other writes only when Scale surely did not act. Task creations are resent until the
//! operation deadline (`deadline_secs`), however many attempts that takes.

use crate::errors::{classify, conflicting_task_id};
use crate::wire::{
    self, decode, decode_list, format_timestamp, Batchlist, CreateBatchRequest,
    CreateProjectRequest, ProjectGroup, QualityTask, ScaleBatch, ScaleBatchStatus, ScaleFile,
    ScaleProject, ScaleTask, StudioAssignments, StudioBatch, TaskTemplate, Tasklist, TeamRequest,
    Teammate, TeammateRole,
};
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use labelmux_core::paginate::{guarded_with_total, key_of, paginate, Page};
use labelmux_core::transport::{
    Auth, Bytes, ExposeSecret, Method, Multipart, RequestBuilder, Response, RetryMode,
    SecretString, Transport, TransportConfig,
};
use labelmux_core::{Error, ErrorKind, JsonMap, Result, Vendor};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Scale's production v1 API.
pub const DEFAULT_BASE_URL: &str = "https://api.scale.com/v1";

/// Largest page of `GET /tasks` and `GET /batches` (Scale's limit).
pub const MAX_PAGE_SIZE: u32 = 100;

/// Every task type of the v1 API (the path segment of `POST /task/{type}`).
pub const TASK_TYPES: [&str; 31] = [
    "annotation",
    "categorization",
    "comparison",
    "cuboidannotation",
    "datacollection",
    "documentmodel",
    "documenttranscription",
    "imageannotation",
    "laneannotation",
    "lidarannotation",
    "lidarlinking",
    "lidarsegmentation",
    "lidartopdown",
    "lineannotation",
    "namedentityrecognition",
    "pointannotation",
    "polygonannotation",
    "segmentannotation",
    "transcription",
    "textcollection",
    "videoannotation",
    "videoboxannotation",
    "videoplaybackannotation",
    "videocuboidannotation",
    "sensorfusion",
    "chat",
    "chatexperimental",
    "chatlite",
    "multichat",
    "multistage",
    "federal2dvideoannotation",
];

const VENDOR: Vendor = Vendor::Scale;

fn op_err(e: Error, op: &str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

/// Percent-encode one path segment like Python's `quote(text, safe="")`; a segment of dots
/// only is encoded fully so that URL resolution cannot read it as `.`/`..`.
pub fn encode_segment(text: &str) -> String {
    let all_dots = !text.is_empty() && text.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'~')
            || (b == b'.' && !all_dots);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn seg(text: &str, what: &str, op: &str) -> Result<String> {
    if text.is_empty() {
        return Err(op_err(
            Error::validation(format!("the {what} must not be empty")),
            op,
        ));
    }
    Ok(encode_segment(text))
}

fn py_bool(b: bool) -> &'static str {
    // The SDK sends Python literals; Scale's documented examples use them too.
    if b {
        "True"
    } else {
        "False"
    }
}

/// A task that [`ScaleClient::create_task_idempotent`] made sure exists.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedTask {
    /// The task.
    pub task: ScaleTask,
    /// `true` when the task existed already (a 409 on its `unique_id` was resolved by looking
    /// it up), `false` when this call created it.
    pub existed: bool,
}

/// Filters of `GET /tasks` — every parameter the SDK accepts. Unset filters are not sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TasksQuery {
    /// Project name.
    pub project: Option<String>,
    /// Batch name.
    pub batch: Option<String>,
    /// Task type (`type`).
    pub task_type: Option<String>,
    /// `pending`, `completed`, `canceled`, `error`.
    pub status: Option<String>,
    /// Audit statuses (`accepted`, `fixed`, `commented`, `rejected`, `pending`), comma-joined.
    pub customer_review_status: Vec<String>,
    /// Unique ids (repeated key).
    pub unique_id: Vec<String>,
    /// Tags (repeated key).
    pub tags: Vec<String>,
    /// Minimum `created_at` (`start_time`).
    pub created_after: Option<DateTime<Utc>>,
    /// Maximum `created_at` (`end_time`).
    pub created_before: Option<DateTime<Utc>>,
    /// Minimum `completed_at`.
    pub completed_after: Option<DateTime<Utc>>,
    /// Maximum `completed_at`.
    pub completed_before: Option<DateTime<Utc>>,
    /// Minimum `updated_at`.
    pub updated_after: Option<DateTime<Utc>>,
    /// Maximum `updated_at`.
    pub updated_before: Option<DateTime<Utc>>,
    /// Page size, 1–100 (Scale's default 100).
    pub limit: Option<u32>,
    /// Continuation token (set by the paging stream).
    pub next_token: Option<String>,
    /// Add a pre-signed URL of each task's attachment.
    pub include_attachment_url: Option<bool>,
    /// Trim each task to `task_id`, `status`, `metadata`, `project`, `otherVersion`.
    pub limited_response: Option<bool>,
}

impl TasksQuery {
    /// Tasks of one project.
    pub fn project(project: impl Into<String>) -> Self {
        TasksQuery {
            project: Some(project.into()),
            ..TasksQuery::default()
        }
    }

    fn apply(&self, mut rb: RequestBuilder) -> RequestBuilder {
        let t = |v: &Option<DateTime<Utc>>| v.as_ref().map(format_timestamp);
        rb = rb
            .query_opt("start_time", t(&self.created_after))
            .query_opt("end_time", t(&self.created_before))
            .query_opt("project", self.project.as_deref())
            .query_opt("batch", self.batch.as_deref())
            .query_opt("completed_before", t(&self.completed_before))
            .query_opt("completed_after", t(&self.completed_after))
            .query_opt("updated_before", t(&self.updated_before))
            .query_opt("updated_after", t(&self.updated_after));
        for tag in &self.tags {
            rb = rb.query("tags", tag);
        }
        for uid in &self.unique_id {
            rb = rb.query("unique_id", uid);
        }
        if !self.customer_review_status.is_empty() {
            rb = rb.query(
                "customer_review_status",
                self.customer_review_status.join(","),
            );
        }
        rb.query_opt(
            "include_attachment_url",
            self.include_attachment_url.map(py_bool),
        )
        .query_opt("status", self.status.as_deref())
        .query_opt("type", self.task_type.as_deref())
        .query_opt("limited_response", self.limited_response.map(py_bool))
        .query_opt("limit", self.limit)
        .query_opt("next_token", self.next_token.as_deref())
    }

    fn validate(&self, op: &str) -> Result<()> {
        match self.limit {
            Some(l) if l == 0 || l > MAX_PAGE_SIZE => Err(op_err(
                Error::validation(format!("limit must be 1..={MAX_PAGE_SIZE}, got {l}")),
                op,
            )),
            _ => Ok(()),
        }
    }
}

/// Filters of `GET /batches` — every parameter the SDK accepts, plus the documented
/// completion / audit windows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchesQuery {
    /// Project name.
    pub project: Option<String>,
    /// Batch status (`staging`, `in_progress`, `completed`).
    pub status: Option<String>,
    /// Minimum `created_at` (`start_time`).
    pub created_after: Option<DateTime<Utc>>,
    /// Maximum `created_at` (`end_time`).
    pub created_before: Option<DateTime<Utc>>,
    /// Minimum completion time (documented, unused by the SDK).
    pub completed_after: Option<DateTime<Utc>>,
    /// Maximum completion time (documented, unused by the SDK).
    pub completed_before: Option<DateTime<Utc>>,
    /// Leave out archived batches (the SDK always sends it, `False` by default).
    pub exclude_archived: bool,
    /// Page size, 1–100 (the SDK never sends it).
    pub limit: Option<u32>,
    /// Offset of the page (set by the paging stream).
    pub offset: Option<u64>,
}

impl BatchesQuery {
    fn apply(&self, rb: RequestBuilder) -> RequestBuilder {
        let t = |v: &Option<DateTime<Utc>>| v.as_ref().map(format_timestamp);
        rb.query_opt("start_time", t(&self.created_after))
            .query_opt("end_time", t(&self.created_before))
            .query_opt("completed_after", t(&self.completed_after))
            .query_opt("completed_before", t(&self.completed_before))
            .query_opt("project", self.project.as_deref())
            .query_opt("offset", self.offset)
            .query("exclude_archived", py_bool(self.exclude_archived))
            .query_opt("status", self.status.as_deref())
            .query_opt("limit", self.limit)
    }
}

/// The `multipart/form-data` form of `POST /files/upload`: one text part per field, then the
/// file part (`name="file"`, no per-part Content-Type, as the SDK sends it).
fn upload_form(fields: &[(String, String)], file_name: &str, file: FilePart) -> Multipart {
    let mut form = Multipart::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    match file {
        FilePart::Bytes(data) => form.bytes("file", file_name, "", data),
        FilePart::Path(path) => form.file("file", file_name, "", path),
    }
}

/// Where the uploaded content comes from.
enum FilePart {
    Bytes(Bytes),
    /// Streamed from disk on every attempt.
    Path(PathBuf),
}

/// The Scale v1 API client. Cheap to clone (the transport is shared).
#[derive(Clone, Debug)]
pub struct ScaleClient {
    transport: Transport,
}

impl ScaleClient {
    /// A client of the v1 API at `base_url` ([`DEFAULT_BASE_URL`] for Scale's production API;
    /// the SDK's `api_instance_url`). An empty key is refused before any call, as the SDK does.
    pub fn new(base_url: &str, api_key: SecretString, transport: TransportConfig) -> Result<Self> {
        if api_key.expose_secret().trim().is_empty() {
            return Err(Error::config(format!(
                "Scale API key is empty; set {} or the api_key of [scale] in the config",
                VENDOR.api_key_env()
            ))
            .with_vendor(VENDOR));
        }
        Ok(ScaleClient {
            transport: Transport::new(
                VENDOR,
                base_url,
                Auth::BasicUser(api_key),
                transport,
                classify,
            )?,
        })
    }

    /// The transport (base URL, settings).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    fn request(&self, method: Method, op: &'static str, path: &str) -> RequestBuilder {
        self.transport.request(method, op, path)
    }

    /// Send and insist on HTTP 200, Scale v1's only success status.
    async fn send(rb: RequestBuilder, op: &'static str) -> Result<Response> {
        let resp = rb.send().await?;
        if resp.status != 200 {
            return Err(op_err(
                Error::new(
                    ErrorKind::Decode,
                    format!(
                        "Scale answered HTTP {} where its v1 API answers 200 on success (the official SDK treats it as an error); body: {}",
                        resp.status,
                        labelmux_core::transport::body_snippet(&resp.body)
                    ),
                )
                .with_status(resp.status),
                op,
            ));
        }
        Ok(resp)
    }

    async fn send_value(rb: RequestBuilder, op: &'static str) -> Result<Value> {
        let resp = Self::send(rb, op).await?;
        resp.json::<Value>().map_err(|e| op_err(e, op))
    }

    async fn send_as<T: serde::de::DeserializeOwned + wire::WithRaw>(
        rb: RequestBuilder,
        op: &'static str,
        what: &str,
    ) -> Result<T> {
        let v = Self::send_value(rb, op).await?;
        decode(v, what).map_err(|e| op_err(e, op))
    }

    /// Send and decode a task straight from the body text (its `raw` is that text); a body
    /// that is not a task object goes through the `Value` decoder, which says what is wrong.
    async fn send_task(rb: RequestBuilder, op: &'static str) -> Result<ScaleTask> {
        let resp = Self::send(rb, op).await?;
        if let Some(task) = std::str::from_utf8(&resp.body)
            .ok()
            .and_then(|text| ScaleTask::from_text(text).ok())
        {
            return Ok(task);
        }
        let v = resp.json::<Value>().map_err(|e| op_err(e, op))?;
        decode(v, "task").map_err(|e| op_err(e, op))
    }

    async fn send_list<T: serde::de::DeserializeOwned + wire::WithRaw>(
        rb: RequestBuilder,
        op: &'static str,
        what: &str,
    ) -> Result<Vec<T>> {
        let v = Self::send_value(rb, op).await?;
        decode_list(v, what).map_err(|e| op_err(e, op))
    }

    // -----------------------------------------------------------------------------------------
    // Tasks
    // -----------------------------------------------------------------------------------------

    fn unique_id_of(body: &JsonMap) -> Option<String> {
        body.get("unique_id")
            .and_then(labelmux_core::lenient::key_string)
    }

    fn create_request(&self, op: &'static str, path: String, body: &JsonMap) -> RequestBuilder {
        // A transient fault must not cost a task: creates are resent until the operation
        // deadline, not just `max_attempts` times.
        let rb = self
            .request(Method::POST, op, &path)
            .json(body)
            .retry_until_deadline();
        if Self::unique_id_of(body).is_some() {
            // A resent create cannot duplicate: Scale answers 409 on the unique_id, which is
            // then resolved by looking the task up.
            rb.retry(RetryMode::Idempotent)
        } else {
            // Without a unique_id only a request Scale surely did not act on is resent (429,
            // a connection never made).
            rb.retry(RetryMode::OnlyIfNotProcessed)
        }
    }

    /// `POST /task/{type}`: create a task of any type from an arbitrary body (`project`,
    /// `batch`, `instruction`, `attachment`, `unique_id`, `metadata`, type-specific
    /// parameters, ...). Like the SDK, a 409 met only after a retry (the first attempt most
    /// likely created the task) is resolved by looking the task up by its `unique_id`; a 409 on
    /// the first attempt is an [`ErrorKind::Duplicate`] error. Use
    /// [`ScaleClient::create_task_idempotent`] to resolve every 409.
    pub async fn create_task(&self, task_type: &str, body: &JsonMap) -> Result<ScaleTask> {
        const OP: &str = "create_task";
        let path = format!("task/{}", seg(task_type, "task type", OP)?);
        let rb = self.create_request(OP, path, body);
        match Self::send_task(rb, OP).await {
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                match Self::unique_id_of(body) {
                    Some(uid) => self.recover(&uid, e, OP).await,
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// `POST /task/{type}` that never duplicates and never fails on a task that exists: any
    /// 409 on the body's `unique_id` is resolved by looking the task up (by `unique_id`, else
    /// by the task id Scale names in its message). The caller decides what an existing task
    /// means (it may belong to another project: `unique_id` is unique per account).
    pub async fn create_task_idempotent(
        &self,
        task_type: &str,
        body: &JsonMap,
    ) -> Result<CreatedTask> {
        const OP: &str = "create_task";
        let path = format!("task/{}", seg(task_type, "task type", OP)?);
        let rb = self.create_request(OP, path, body);
        match Self::send_task(rb, OP).await {
            Ok(task) => Ok(CreatedTask {
                task,
                existed: false,
            }),
            Err(e) if e.kind() == ErrorKind::Duplicate => match Self::unique_id_of(body) {
                Some(uid) => self.recover(&uid, e, OP).await.map(|task| CreatedTask {
                    task,
                    existed: true,
                }),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Resolve a 409 on `unique_id`: the task holding it, or the original error when none is
    /// found (then the 409 was about something else).
    async fn recover(
        &self,
        unique_id: &str,
        conflict: Error,
        op: &'static str,
    ) -> Result<ScaleTask> {
        if let Some(task) = self.find_task_by_unique_id(unique_id).await? {
            return Ok(task);
        }
        if let Some(id) = conflicting_task_id(conflict.message()) {
            match self.get_task(&id).await {
                Ok(task) if task.unique_id.as_deref() == Some(unique_id) => return Ok(task),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e.with_operation(op)),
            }
        }
        Err(conflict)
    }

    /// The task holding `unique_id` (`GET /tasks?unique_id=...`), if any. Only an exact match
    /// is returned, so a server that ignored the filter cannot hand back another task.
    pub async fn find_task_by_unique_id(&self, unique_id: &str) -> Result<Option<ScaleTask>> {
        let page = self
            .tasks(&TasksQuery {
                unique_id: vec![unique_id.to_owned()],
                ..TasksQuery::default()
            })
            .await?;
        Ok(page
            .docs
            .into_iter()
            .find(|t| t.unique_id.as_deref() == Some(unique_id)))
    }

    /// `GET /task/{id}`.
    pub async fn get_task(&self, task_id: &str) -> Result<ScaleTask> {
        const OP: &str = "get_task";
        let path = format!("task/{}", seg(task_id, "task id", OP)?);
        Self::send_task(self.request(Method::GET, OP, &path), OP).await
    }

    /// `POST /task/{id}/cancel` (with `clear_unique_id=true` when asked, freeing the key for
    /// reuse). Only tasks not yet started can be canceled; others answer 400. A cancel is
    /// resent on temporary failures; a resent cancel whose first attempt went through answers
    /// 400, which is resolved by reading the task back.
    pub async fn cancel_task(&self, task_id: &str, clear_unique_id: bool) -> Result<ScaleTask> {
        const OP: &str = "cancel_task";
        let path = format!("task/{}/cancel", seg(task_id, "task id", OP)?);
        let mut rb = self
            .request(Method::POST, OP, &path)
            .empty_json()
            .retry(RetryMode::Idempotent);
        if clear_unique_id {
            rb = rb.query("clear_unique_id", "true");
        }
        match Self::send_task(rb, OP).await {
            Err(e) if e.kind() == ErrorKind::InvalidRequest && e.attempts() > 1 => {
                match self.get_task(task_id).await {
                    Ok(t) if t.status_str() == wire::task_status::CANCELED => Ok(t),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// `POST /task/{id}/audit`: accept or reject a completed task, with comments. Returns the
    /// answer's JSON if it was JSON (the SDK ignores it; Scale may answer plain text).
    pub async fn audit_task(
        &self,
        task_id: &str,
        accepted: bool,
        comments: Option<&str>,
    ) -> Result<Option<Value>> {
        const OP: &str = "audit_task";
        let path = format!("task/{}/audit", seg(task_id, "task id", OP)?);
        let body = json!({ "accepted": accepted, "comments": comments });
        // Resending an audit records the same verdict again: harmless.
        let rb = self
            .request(Method::POST, OP, &path)
            .json(&body)
            .retry(RetryMode::Idempotent);
        let resp = Self::send(rb, OP).await?;
        Ok(resp.json_or_none())
    }

    /// `POST /task/{id}/unique_id`: set a new `unique_id` (409 if another task holds it). A
    /// 409 met after a retry whose first attempt set it is resolved by looking the key up.
    pub async fn update_task_unique_id(&self, task_id: &str, unique_id: &str) -> Result<ScaleTask> {
        const OP: &str = "update_task_unique_id";
        let path = format!("task/{}/unique_id", seg(task_id, "task id", OP)?);
        let rb = self
            .request(Method::POST, OP, &path)
            .json(&json!({ "unique_id": unique_id }))
            .retry(RetryMode::Idempotent);
        match Self::send_task(rb, OP).await {
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                match self.find_task_by_unique_id(unique_id).await? {
                    Some(t) if t.task_id == task_id => Ok(t),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// `DELETE /task/{id}/unique_id`: remove the task's `unique_id`.
    pub async fn clear_task_unique_id(&self, task_id: &str) -> Result<ScaleTask> {
        const OP: &str = "clear_task_unique_id";
        let path = format!("task/{}/unique_id", seg(task_id, "task id", OP)?);
        Self::send_task(self.request(Method::DELETE, OP, &path).empty_json(), OP).await
    }

    /// `POST /task/{id}/setMetadata`: replace the task's metadata.
    pub async fn set_task_metadata(&self, task_id: &str, metadata: &JsonMap) -> Result<ScaleTask> {
        const OP: &str = "set_task_metadata";
        let path = format!("task/{}/setMetadata", seg(task_id, "task id", OP)?);
        let rb = self
            .request(Method::POST, OP, &path)
            .json(metadata)
            .retry(RetryMode::Idempotent);
        Self::send_task(rb, OP).await
    }

    /// `POST /task/{id}/tags`: replace every tag.
    pub async fn set_task_tags(&self, task_id: &str, tags: &[String]) -> Result<ScaleTask> {
        self.tags_call(Method::POST, "set_task_tags", task_id, tags)
            .await
    }

    /// `PUT /task/{id}/tags`: add tags (present ones are ignored).
    pub async fn add_task_tags(&self, task_id: &str, tags: &[String]) -> Result<ScaleTask> {
        self.tags_call(Method::PUT, "add_task_tags", task_id, tags)
            .await
    }

    /// `DELETE /task/{id}/tags` with a JSON body: remove tags (absent ones are ignored).
    pub async fn delete_task_tags(&self, task_id: &str, tags: &[String]) -> Result<ScaleTask> {
        self.tags_call(Method::DELETE, "delete_task_tags", task_id, tags)
            .await
    }

    async fn tags_call(
        &self,
        method: Method,
        op: &'static str,
        task_id: &str,
        tags: &[String],
    ) -> Result<ScaleTask> {
        let path = format!("task/{}/tags", seg(task_id, "task id", op)?);
        // Replacing, adding and removing the same tags twice gives the same result.
        let rb = self
            .request(method, op, &path)
            .json(tags)
            .retry(RetryMode::Idempotent);
        Self::send_task(rb, op).await
    }

    /// `GET /tasks`: one page (the SDK's `tasks(**kwargs)`).
    pub async fn tasks(&self, query: &TasksQuery) -> Result<Tasklist> {
        const OP: &str = "tasks";
        query.validate(OP)?;
        let rb = query.apply(self.request(Method::GET, OP, "tasks"));
        let resp = Self::send(rb, OP).await?;
        // The usual page decodes from its text (tasks keep slices of it); anything else goes
        // through the `Value` decoder, which accepts the same pages and names what is wrong.
        if let Some(page) = Tasklist::from_body(&resp.body) {
            return Ok(page);
        }
        let v = resp.json::<Value>().map_err(|e| op_err(e, OP))?;
        Tasklist::from_value(v).map_err(|e| op_err(e, OP))
    }

    /// Every task matching `query`, following `next_token` while `has_more` (the SDK's
    /// `get_tasks`), prefetching one page ahead. A page that says `has_more` without a new
    /// token, a token given before, the same tasks again or tasks past the reported `total`
    /// end the stream with a decode error instead of looping.
    pub fn get_tasks(&self, query: TasksQuery) -> BoxStream<'static, Result<ScaleTask>> {
        const OP: &str = "get_tasks";
        if let Err(e) = query.validate(OP) {
            return stream::once(async { Err(e) }).boxed();
        }
        let client = self.clone();
        let first = query.next_token.clone();
        let id = |t: &ScaleTask| key_of(&t.task_id);
        paginate(
            first,
            guarded_with_total(VENDOR, OP, id, move |token: Option<String>| {
                let client = client.clone();
                let mut q = query.clone();
                async move {
                    q.next_token = token.clone();
                    let page = client.tasks(&q).await?;
                    let next =
                        if page.has_more {
                            match page.next_token {
                                Some(t) if Some(&t) != token.as_ref() => Some(Some(t)),
                                _ => return Err(op_err(
                                    Error::decode(
                                        "Scale said more tasks follow but gave no new next_token",
                                    ),
                                    OP,
                                )),
                            }
                        } else {
                            None
                        };
                    // 0 is also what an answer without a total decodes to: no bound then.
                    let total = Some(page.total).filter(|t| *t > 0);
                    Ok((
                        Page {
                            items: page.docs,
                            next,
                        },
                        total,
                    ))
                }
            }),
        )
    }

    /// How many tasks match `query` (its `limit` and token are ignored): the page `total` of a
    /// `limit=1` request, as the SDK's `get_tasks_count`.
    pub async fn get_tasks_count(&self, query: &TasksQuery) -> Result<u64> {
        let q = TasksQuery {
            limit: Some(1),
            next_token: None,
            ..query.clone()
        };
        Ok(self.tasks(&q).await?.total)
    }

    // -----------------------------------------------------------------------------------------
    // Quality tasks
    // -----------------------------------------------------------------------------------------

    /// `POST /evaluation_tasks/{type}` (Scale Rapid): the body carries `expected_response` and
    /// optionally `initial_response`. A 409 is an error here: Scale cannot look quality tasks
    /// up by `unique_id`.
    pub async fn create_evaluation_task(
        &self,
        task_type: &str,
        body: &JsonMap,
    ) -> Result<QualityTask> {
        const OP: &str = "create_evaluation_task";
        let path = format!("evaluation_tasks/{}", seg(task_type, "task type", OP)?);
        Self::send_as(self.create_request(OP, path, body), OP, "evaluation task").await
    }

    /// `POST /training_tasks/{type}` (Scale Rapid): the body carries `expected_response`.
    pub async fn create_training_task(
        &self,
        task_type: &str,
        body: &JsonMap,
    ) -> Result<QualityTask> {
        const OP: &str = "create_training_task";
        let path = format!("training_tasks/{}", seg(task_type, "task type", OP)?);
        Self::send_as(self.create_request(OP, path, body), OP, "training task").await
    }

    // -----------------------------------------------------------------------------------------
    // Batches
    // -----------------------------------------------------------------------------------------

    /// `POST /batches` (409 if the name is taken: batch names are unique per account).
    pub async fn create_batch(&self, request: &CreateBatchRequest) -> Result<ScaleBatch> {
        const OP: &str = "create_batch";
        seg(&request.name, "batch name", OP)?;
        seg(&request.project, "project name", OP)?;
        // Resending cannot create a second batch (names are unique: Scale answers 409).
        let rb = self
            .request(Method::POST, OP, "batches")
            .json(request)
            .retry(RetryMode::Idempotent);
        match Self::send_as::<ScaleBatch>(rb, OP, "batch").await {
            // A 409 after a retry: the first attempt most likely created it.
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                match self.get_batch(&request.name).await {
                    Ok(b) if b.project.as_deref() == Some(request.project.as_str()) => Ok(b),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// `POST /batches/{name}/finalize`: start work on a Rapid/Studio batch (a no-op for other
    /// projects). Finalizing twice is harmless, so it is retried freely.
    pub async fn finalize_batch(&self, batch_name: &str) -> Result<ScaleBatch> {
        const OP: &str = "finalize_batch";
        let path = format!("batches/{}/finalize", seg(batch_name, "batch name", OP)?);
        let rb = self
            .request(Method::POST, OP, &path)
            .empty_json()
            .retry(RetryMode::Idempotent);
        Self::send_as(rb, OP, "batch").await
    }

    /// `GET /batches/{name}/status`: the batch status and task counts per status.
    pub async fn batch_status(&self, batch_name: &str) -> Result<ScaleBatchStatus> {
        const OP: &str = "batch_status";
        let path = format!("batches/{}/status", seg(batch_name, "batch name", OP)?);
        Self::send_as(self.request(Method::GET, OP, &path), OP, "batch status").await
    }

    /// `GET /batches/{name}`.
    pub async fn get_batch(&self, batch_name: &str) -> Result<ScaleBatch> {
        const OP: &str = "get_batch";
        let path = format!("batches/{}", seg(batch_name, "batch name", OP)?);
        Self::send_as(self.request(Method::GET, OP, &path), OP, "batch").await
    }

    /// `GET /batches`: one page (the SDK's `batches(**kwargs)`).
    pub async fn batches(&self, query: &BatchesQuery) -> Result<Batchlist> {
        const OP: &str = "batches";
        if let Some(l) = query.limit {
            if l == 0 || l > MAX_PAGE_SIZE {
                return Err(op_err(
                    Error::validation(format!("limit must be 1..={MAX_PAGE_SIZE}, got {l}")),
                    OP,
                ));
            }
        }
        let rb = query.apply(self.request(Method::GET, OP, "batches"));
        let v = Self::send_value(rb, OP).await?;
        Batchlist::from_value(v).map_err(|e| op_err(e, OP))
    }

    /// Every batch matching `query`, offset-paged as the SDK's `get_batches` (the offset
    /// advances by the page `limit` Scale echoes, or by the page length when it echoes none).
    /// The same batches again or batches past the reported total end it with a decode error.
    pub fn get_batches(&self, query: BatchesQuery) -> BoxStream<'static, Result<ScaleBatch>> {
        const OP: &str = "get_batches";
        let client = self.clone();
        let first = query.offset.unwrap_or(0);
        let id = |b: &ScaleBatch| key_of(&b.name);
        paginate(
            first,
            guarded_with_total(VENDOR, OP, id, move |offset: u64| {
                let client = client.clone();
                let mut q = query.clone();
                async move {
                    q.offset = Some(offset);
                    let page = client.batches(&q).await?;
                    let step = page
                        .limit
                        .filter(|l| *l > 0)
                        .unwrap_or(page.docs.len() as u64);
                    let next = match (page.has_more, step) {
                        (false, _) => None,
                        (true, 0) => {
                            return Err(op_err(
                                Error::decode("Scale said more batches follow on an empty page"),
                                OP,
                            ))
                        }
                        (true, step) => Some(offset.saturating_add(step)),
                    };
                    let total = Some(page.total).filter(|t| *t > 0);
                    Ok((
                        Page {
                            items: page.docs,
                            next,
                        },
                        total,
                    ))
                }
            }),
        )
    }

    /// `POST /batches/{name}/setMetadata`: replace the batch metadata.
    pub async fn set_batch_metadata(
        &self,
        batch_name: &str,
        metadata: &JsonMap,
    ) -> Result<ScaleBatch> {
        const OP: &str = "set_batch_metadata";
        let path = format!("batches/{}/setMetadata", seg(batch_name, "batch name", OP)?);
        let rb = self
            .request(Method::POST, OP, &path)
            .json(metadata)
            .retry(RetryMode::Idempotent);
        Self::send_as(rb, OP, "batch").await
    }

    // -----------------------------------------------------------------------------------------
    // Projects
    // -----------------------------------------------------------------------------------------

    /// `POST /projects` (409 if the name is taken).
    pub async fn create_project(&self, request: &CreateProjectRequest) -> Result<ScaleProject> {
        const OP: &str = "create_project";
        seg(&request.name, "project name", OP)?;
        seg(&request.task_type, "task type", OP)?;
        let rb = self.request(Method::POST, OP, "projects").json(request);
        Self::send_as(rb, OP, "project").await
    }

    /// `GET /projects/{name}`.
    pub async fn get_project(&self, project_name: &str) -> Result<ScaleProject> {
        const OP: &str = "get_project";
        let path = format!("projects/{}", seg(project_name, "project name", OP)?);
        Self::send_as(self.request(Method::GET, OP, &path), OP, "project").await
    }

    /// `GET /projects`: every project (a bare JSON array; a `docs` envelope is accepted too).
    pub async fn projects(&self) -> Result<Vec<ScaleProject>> {
        const OP: &str = "projects";
        let v = Self::send_value(self.request(Method::GET, OP, "projects"), OP).await?;
        let list = match v {
            Value::Object(mut m) if m.contains_key("docs") => m.remove("docs").unwrap_or_default(),
            other => other,
        };
        decode_list(list, "project").map_err(|e| op_err(e, OP))
    }

    /// `POST /projects/{name}/setParams`: new project parameters (e.g. `instruction`, `patch`),
    /// appended to `param_history` as the next version.
    pub async fn update_project(
        &self,
        project_name: &str,
        params: &JsonMap,
    ) -> Result<ScaleProject> {
        const OP: &str = "update_project";
        let path = format!(
            "projects/{}/setParams",
            seg(project_name, "project name", OP)?
        );
        Self::send_as(
            self.request(Method::POST, OP, &path).json(params),
            OP,
            "project",
        )
        .await
    }

    /// `GET /projects/{name}/taskTemplates` (only `textcollection` and `chat` projects).
    pub async fn get_project_template(&self, project_name: &str) -> Result<TaskTemplate> {
        const OP: &str = "get_project_template";
        let path = format!(
            "projects/{}/taskTemplates",
            seg(project_name, "project name", OP)?
        );
        Self::send_as(self.request(Method::GET, OP, &path), OP, "task template").await
    }

    // -----------------------------------------------------------------------------------------
    // Files
    // -----------------------------------------------------------------------------------------

    /// `POST /files/upload` of the file at `path` (streamed from disk, again on a retry; Scale
    /// accepts up to 80 MB) with text form fields (`display_name`, `project_name`,
    /// `reference_id`, and `metadata` as JSON text).
    pub async fn upload_file(&self, path: &Path, fields: &[(String, String)]) -> Result<ScaleFile> {
        const OP: &str = "upload_file";
        // A file that cannot be read is the caller's mistake: say so before contacting Scale.
        match tokio::fs::metadata(path).await {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(op_err(
                    Error::validation(format!("cannot read {}: not a file", path.display())),
                    OP,
                ))
            }
            Err(e) => {
                return Err(op_err(
                    Error::validation(format!("cannot read {}: {e}", path.display())),
                    OP,
                ))
            }
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        self.send_upload(
            upload_form(fields, &name, FilePart::Path(path.to_owned())),
            fields,
        )
        .await
    }

    /// `POST /files/upload` of in-memory content named `file_name`.
    pub async fn upload_file_bytes(
        &self,
        file_name: &str,
        content: Vec<u8>,
        fields: &[(String, String)],
    ) -> Result<ScaleFile> {
        let form = upload_form(fields, file_name, FilePart::Bytes(Bytes::from(content)));
        self.send_upload(form, fields).await
    }

    async fn send_upload(&self, form: Multipart, fields: &[(String, String)]) -> Result<ScaleFile> {
        const OP: &str = "upload_file";
        // With a reference_id a resent upload cannot duplicate (Scale answers 409).
        let retry = if fields
            .iter()
            .any(|(k, v)| k == "reference_id" && !v.is_empty())
        {
            RetryMode::Idempotent
        } else {
            RetryMode::OnlyIfNotProcessed
        };
        let rb = self
            .request(Method::POST, OP, "files/upload")
            .multipart(form)
            .retry(retry);
        Self::send_as(rb, OP, "file").await
    }

    /// `POST /files/import`: Scale fetches `file_url`; `fields` are sent alongside (e.g.
    /// `project_name`, `reference_id`, `display_name`, `metadata`).
    pub async fn import_file(&self, file_url: &str, fields: &JsonMap) -> Result<ScaleFile> {
        const OP: &str = "import_file";
        let mut body = JsonMap::new();
        body.insert("file_url".into(), Value::String(file_url.to_owned()));
        for (k, v) in fields {
            body.insert(k.clone(), v.clone());
        }
        let rb = self.request(Method::POST, OP, "files/import").json(&body);
        Self::send_as(rb, OP, "file").await
    }

    // -----------------------------------------------------------------------------------------
    // Teams
    // -----------------------------------------------------------------------------------------

    /// `GET /teams`.
    pub async fn list_teammates(&self) -> Result<Vec<Teammate>> {
        const OP: &str = "list_teammates";
        Self::send_list(self.request(Method::GET, OP, "teams"), OP, "teammate").await
    }

    /// `POST /teams/invite`: invite `emails` with `role`; answers the whole team.
    pub async fn invite_teammates(
        &self,
        emails: &[String],
        role: TeammateRole,
    ) -> Result<Vec<Teammate>> {
        self.team_call("invite_teammates", "teams/invite", emails, role)
            .await
    }

    /// `POST /teams/set_role`: change the role of `emails`; answers the whole team.
    pub async fn update_teammates_role(
        &self,
        emails: &[String],
        role: TeammateRole,
    ) -> Result<Vec<Teammate>> {
        self.team_call("update_teammates_role", "teams/set_role", emails, role)
            .await
    }

    async fn team_call(
        &self,
        op: &'static str,
        path: &str,
        emails: &[String],
        role: TeammateRole,
    ) -> Result<Vec<Teammate>> {
        let body = TeamRequest {
            emails,
            team_role: role.as_str(),
        };
        Self::send_list(
            self.request(Method::POST, op, path).json(&body),
            op,
            "teammate",
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Studio
    // -----------------------------------------------------------------------------------------

    /// `GET /studio/assignments`: e-mail → assigned project names.
    pub async fn list_studio_assignments(&self) -> Result<StudioAssignments> {
        const OP: &str = "list_studio_assignments";
        let v = Self::send_value(self.request(Method::GET, OP, "studio/assignments"), OP).await?;
        wire::decode_assignments(v).map_err(|e| op_err(e, OP))
    }

    /// `POST /studio/assignments/add`: answers every assignment.
    pub async fn add_studio_assignments(
        &self,
        emails: &[String],
        projects: &[String],
    ) -> Result<StudioAssignments> {
        self.assignments_call(
            "add_studio_assignments",
            "studio/assignments/add",
            emails,
            projects,
        )
        .await
    }

    /// `POST /studio/assignments/remove`: answers every assignment.
    pub async fn remove_studio_assignments(
        &self,
        emails: &[String],
        projects: &[String],
    ) -> Result<StudioAssignments> {
        self.assignments_call(
            "remove_studio_assignments",
            "studio/assignments/remove",
            emails,
            projects,
        )
        .await
    }

    async fn assignments_call(
        &self,
        op: &'static str,
        path: &str,
        emails: &[String],
        projects: &[String],
    ) -> Result<StudioAssignments> {
        let body = json!({ "emails": emails, "projects": projects });
        let rb = self
            .request(Method::POST, op, path)
            .json(&body)
            .retry(RetryMode::Idempotent);
        let v = Self::send_value(rb, op).await?;
        wire::decode_assignments(v).map_err(|e| op_err(e, op))
    }

    /// `GET /studio/projects/{project}/groups`.
    pub async fn list_project_groups(&self, project_name: &str) -> Result<Vec<ProjectGroup>> {
        const OP: &str = "list_project_groups";
        let path = format!(
            "studio/projects/{}/groups",
            seg(project_name, "project name", OP)?
        );
        Self::send_list(self.request(Method::GET, OP, &path), OP, "project group").await
    }

    /// `POST /studio/projects/{project}/groups`: a group named `group` of `emails`.
    pub async fn create_project_group(
        &self,
        project_name: &str,
        emails: &[String],
        group: &str,
    ) -> Result<ProjectGroup> {
        const OP: &str = "create_project_group";
        let path = format!(
            "studio/projects/{}/groups",
            seg(project_name, "project name", OP)?
        );
        let body = json!({ "emails": emails, "name": group });
        Self::send_as(
            self.request(Method::POST, OP, &path).json(&body),
            OP,
            "project group",
        )
        .await
    }

    /// `PUT /studio/projects/{project}/groups/{group}`: add and remove members.
    pub async fn update_project_group(
        &self,
        project_name: &str,
        group: &str,
        add_emails: &[String],
        remove_emails: &[String],
    ) -> Result<ProjectGroup> {
        const OP: &str = "update_project_group";
        let path = format!(
            "studio/projects/{}/groups/{}",
            seg(project_name, "project name", OP)?,
            seg(group, "group name", OP)?
        );
        let body = json!({ "add_emails": add_emails, "remove_emails": remove_emails });
        Self::send_as(
            self.request(Method::PUT, OP, &path).json(&body),
            OP,
            "project group",
        )
        .await
    }

    /// `GET /studio/batches`: pending Studio batches in priority order.
    pub async fn list_studio_batches(&self) -> Result<Vec<StudioBatch>> {
        const OP: &str = "list_studio_batches";
        Self::send_list(
            self.request(Method::GET, OP, "studio/batches"),
            OP,
            "studio batch",
        )
        .await
    }

    /// `PUT /studio/batches/{name}`: assign the batch to project groups.
    pub async fn assign_studio_batches(
        &self,
        batch_name: &str,
        groups: &[String],
    ) -> Result<StudioBatch> {
        const OP: &str = "assign_studio_batches";
        let path = format!("studio/batches/{}", seg(batch_name, "batch name", OP)?);
        let body = json!({ "groups": groups });
        Self::send_as(
            self.request(Method::PUT, OP, &path).json(&body),
            OP,
            "studio batch",
        )
        .await
    }

    /// `POST /studio/batches/set_priorities`: `batch_names` must list every pending Studio
    /// batch, in the new priority order.
    pub async fn set_studio_batches_priorities(
        &self,
        batch_names: &[String],
    ) -> Result<Vec<StudioBatch>> {
        const OP: &str = "set_studio_batches_priorities";
        #[derive(Serialize)]
        struct Name<'a> {
            name: &'a str,
        }
        let batches: Vec<Name<'_>> = batch_names.iter().map(|n| Name { name: n }).collect();
        let rb = self
            .request(Method::POST, OP, "studio/batches/set_priorities")
            .json(&json!({ "batches": batches }))
            .retry(RetryMode::Idempotent);
        Self::send_list(rb, OP, "studio batch").await
    }

    /// `POST /studio/batches/reset_priorities`: back to the default order (oldest first).
    pub async fn reset_studio_batches_priorities(&self) -> Result<Vec<StudioBatch>> {
        const OP: &str = "reset_studio_batches_priorities";
        let rb = self
            .request(Method::POST, OP, "studio/batches/reset_priorities")
            .empty_json()
            .retry(RetryMode::Idempotent);
        Self::send_list(rb, OP, "studio batch").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_like_python_quote_with_no_safe_characters() {
        let table = [
            ("b b/x", "b%20b%2Fx"),
            ("a&b+c#d?e", "a%26b%2Bc%23d%3Fe"),
            ("kitten_labeling-2020.07~x", "kitten_labeling-2020.07~x"),
            ("..", "%2E%2E"),
            (".", "%2E"),
            ("a..b", "a..b"),
            ("é", "%C3%A9"),
        ];
        for (raw, want) in table {
            assert_eq!(encode_segment(raw), want, "{raw}");
        }
        assert_eq!(
            seg("", "batch name", "x").unwrap_err().kind(),
            ErrorKind::Validation
        );
    }

    #[test]
    fn an_empty_key_is_refused_before_any_call() {
        let err = ScaleClient::new(
            DEFAULT_BASE_URL,
            SecretString::from(""),
            TransportConfig::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("SCALE_API_KEY"));
    }

    #[test]
    fn page_size_is_checked_before_sending() {
        let q = TasksQuery {
            limit: Some(101),
            ..TasksQuery::default()
        };
        assert_eq!(
            q.validate("tasks").unwrap_err().kind(),
            ErrorKind::Validation
        );
        let ok = TasksQuery {
            limit: Some(100),
            ..TasksQuery::default()
        };
        ok.validate("tasks").unwrap();
    }
}
