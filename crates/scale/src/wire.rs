//! Serde types of Scale's v1 JSON, lenient by design (through [`labelmux_core::lenient`]): ids
//! may be numbers or strings, explicit `null` means absent, a member of an unexpected type
//! becomes absent rather than an error, unknown members are ignored, timestamps that do not
//! parse become `None`, and every decoded object keeps its JSON unchanged in `raw`. Only the members the official SDK itself cannot do
//! without (a task's `task_id`, a batch's `name`, ...) are required.

use chrono::{DateTime, SecondsFormat, Utc};
use labelmux_core::{lenient, Error, JsonMap, RawJson, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Scale-specific helpers (the shared lenient ones are in `labelmux_core::lenient`)
// ---------------------------------------------------------------------------------------------

/// Format an instant as Scale writes them (`2024-01-02T03:04:05.678Z`, milliseconds, UTC).
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

use labelmux_core::impl_with_raw as with_raw;
pub use labelmux_core::lenient::WithRaw;

/// Decode `value` as `T` and keep `value` in it; `what` names the object in errors.
pub fn decode<T: DeserializeOwned + WithRaw>(value: Value, what: &str) -> Result<T> {
    labelmux_core::lenient::decode_with_raw("Scale", value, what)
}

/// Decode a JSON array of `T`s (a non-array is a decode error).
pub fn decode_list<T: DeserializeOwned + WithRaw>(value: Value, what: &str) -> Result<Vec<T>> {
    labelmux_core::lenient::decode_list_with_raw("Scale", value, what, false)
}

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

/// Scale task statuses (the SDK's enum plus `error`).
pub mod task_status {
    /// Not finished yet (queued or being worked).
    pub const PENDING: &str = "pending";
    /// Finished; `response` holds the result.
    pub const COMPLETED: &str = "completed";
    /// Canceled before completion.
    pub const CANCELED: &str = "canceled";
    /// Scale could not process the task (e.g. its attachment could not be fetched).
    pub const ERROR: &str = "error";
}

/// A v1 task (`task_id`, `type`, `status`, `params`, `response`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleTask {
    /// The task id (24 hex characters on the real API).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub task_id: String,
    /// The task type (e.g. `imageannotation`).
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub task_type: Option<String>,
    /// `pending`, `completed`, `canceled` or `error` (see [`task_status`]).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    /// The project name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub project: Option<String>,
    /// The batch name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub batch: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time_or_epoch_millis")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time_or_epoch_millis")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Completion time (only once completed).
    #[serde(default, deserialize_with = "lenient::opt_time_or_epoch_millis")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Where Scale POSTs the task when it completes.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub callback_url: Option<String>,
    /// Instructions (markdown).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub instruction: Option<String>,
    /// Type-specific creation parameters (`attachment`, `geometries`, ...).
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub params: JsonMap,
    /// The result, once completed (for `error` tasks: what went wrong), as JSON text.
    #[serde(default)]
    pub response: Option<RawJson>,
    /// Free-form metadata.
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub metadata: JsonMap,
    /// The caller's idempotency key, absent when none.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub unique_id: Option<String>,
    /// Tags (absent when the task never had any).
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub tags: Vec<String>,
    /// Audits, vendor JSON.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub audits: Vec<Value>,
    /// Customer audit status: `accepted`, `rejected`, `fixed`, ...
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub customer_review_status: Option<String>,
    /// Comments of customer audits.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub customer_review_comments: Vec<Value>,
    /// Whether a callback delivery attempt got a 2xx.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub callback_succeeded: Option<bool>,
    /// The JSON as received (text; a slice of the page when the task came in a list).
    #[serde(skip)]
    pub raw: RawJson,
}

impl WithRaw for ScaleTask {
    fn set_raw(&mut self, raw: Value) {
        self.raw = RawJson::from(raw);
    }
}

impl ScaleTask {
    /// Decode a task from its JSON text, keeping the text as `raw` (no `Value` is built).
    pub fn from_text(text: &str) -> Result<ScaleTask> {
        let raw: &RawValue = serde_json::from_str(text)
            .map_err(|e| Error::decode(format!("unexpected task from Scale: {e}")))?;
        let mut task = Self::decode_object(raw.get())?;
        task.raw = RawJson::from_raw_value(raw);
        Ok(task)
    }

    /// A task of a page: decoded from its text, `raw` a slice of the page.
    fn from_page(page: &Arc<String>, doc: &RawValue) -> Result<ScaleTask> {
        let mut task = Self::decode_object(doc.get())?;
        task.raw = RawJson::in_page(page, doc);
        Ok(task)
    }

    fn decode_object(text: &str) -> Result<ScaleTask> {
        // (A derived struct would also read an array, positionally; a task is an object.)
        if !text.starts_with('{') {
            return Err(Error::decode("unexpected task from Scale: not an object"));
        }
        serde_json::from_str(text)
            .map_err(|e| Error::decode(format!("unexpected task from Scale: {e}")))
    }

    /// The status, empty when Scale sent none.
    pub fn status_str(&self) -> &str {
        self.status.as_deref().unwrap_or("")
    }
}

/// One page of `GET /tasks`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskPage {
    /// Tasks of this page.
    #[serde(default)]
    pub docs: Vec<Value>,
    /// Tasks matching the filters (not the page size).
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub total: Option<u64>,
    /// Page size in force.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub limit: Option<u64>,
    /// Offset (kept by Scale for compatibility).
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub offset: Option<u64>,
    /// Whether another page follows.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub has_more: Option<bool>,
    /// Token of the next page.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub next_token: Option<String>,
}

/// A decoded page of tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Tasklist {
    /// The tasks.
    pub docs: Vec<ScaleTask>,
    /// Tasks matching the filters (0 when Scale did not say).
    pub total: u64,
    /// Page size in force.
    pub limit: Option<u64>,
    /// Offset.
    pub offset: Option<u64>,
    /// Whether another page follows.
    pub has_more: bool,
    /// Token of the next page.
    pub next_token: Option<String>,
}

/// A `GET /tasks` page read from its text: the tasks stay slices of it.
#[derive(Deserialize)]
struct TextPage<'a> {
    #[serde(borrow)]
    docs: Vec<&'a RawValue>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    total: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    limit: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    offset: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    has_more: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    next_token: Option<String>,
}

impl Tasklist {
    /// Decode a `GET /tasks` body of the usual shape from its text, with no `Value` of the page
    /// or of its tasks: each task's `raw` is a slice of the page. `None` when the body is not of
    /// that shape or a task does not decode: then [`Tasklist::from_value`] (which accepts the
    /// same pages) decodes it, or says what is wrong.
    pub fn from_body(body: &[u8]) -> Option<Tasklist> {
        let page = Arc::new(std::str::from_utf8(body).ok()?.to_owned());
        let text: TextPage<'_> = serde_json::from_str(&page).ok()?;
        let docs = text
            .docs
            .iter()
            .map(|d| ScaleTask::from_page(&page, d))
            .collect::<Result<Vec<ScaleTask>>>()
            .ok()?;
        Some(Tasklist {
            total: text.total.unwrap_or(0),
            limit: text.limit,
            offset: text.offset,
            has_more: text.has_more.unwrap_or(false),
            next_token: text.next_token.filter(|t| !t.is_empty()),
            docs,
        })
    }

    /// Decode a `GET /tasks` answer.
    pub fn from_value(value: Value) -> Result<Tasklist> {
        if !value.is_object() {
            return Err(Error::decode(format!(
                "expected a task page object from Scale, got {}",
                lenient::json_kind(&value)
            )));
        }
        let page: TaskPage = serde_json::from_value(value)
            .map_err(|e| Error::decode(format!("unexpected task page from Scale: {e}")))?;
        let docs = page
            .docs
            .into_iter()
            .map(|d| decode(d, "task"))
            .collect::<Result<Vec<ScaleTask>>>()?;
        Ok(Tasklist {
            total: page.total.unwrap_or(0),
            limit: page.limit,
            offset: page.offset,
            has_more: page.has_more.unwrap_or(false),
            next_token: page.next_token.filter(|t| !t.is_empty()),
            docs,
        })
    }
}

/// An evaluation or training task (Scale Rapid quality tasks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityTask {
    /// The quality task id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// The expected response.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub expected_response: Option<Value>,
    /// The initial response (review-phase evaluation tasks).
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub initial_response: Option<Value>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/// Scale batch statuses.
pub mod batch_status {
    /// Created for a Rapid/Studio project, waiting to be finalized.
    pub const STAGING: &str = "staging";
    /// Accepting or working tasks.
    pub const IN_PROGRESS: &str = "in_progress";
    /// Every task of the batch is completed.
    pub const COMPLETED: &str = "completed";
}

/// A v1 batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleBatch {
    /// The batch name (unique per account).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub name: String,
    /// The project name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub project: Option<String>,
    /// `staging`, `in_progress` or `completed` (see [`batch_status`]).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    /// URL or e-mail notified when the batch completes.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub callback: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time_or_epoch_millis")]
    pub created_at: Option<DateTime<Utc>>,
    /// Free-form metadata.
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub metadata: JsonMap,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// `GET /batches/{name}/status`: the batch status and task counts per task status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleBatchStatus {
    /// The batch status.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    /// Tasks pending.
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub pending: u64,
    /// Tasks in error.
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub error: u64,
    /// Tasks completed.
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub completed: u64,
    /// Tasks canceled.
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub canceled: u64,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// One page of `GET /batches` (offset paging).
#[derive(Debug, Clone, PartialEq)]
pub struct Batchlist {
    /// The batches.
    pub docs: Vec<ScaleBatch>,
    /// Batches matching (`totalDocs`, or `total`).
    pub total: u64,
    /// Page size in force (the SDK advances the offset by it).
    pub limit: Option<u64>,
    /// Offset of this page.
    pub offset: Option<u64>,
    /// Whether another page follows.
    pub has_more: bool,
}

#[derive(Deserialize)]
struct BatchPage {
    #[serde(default)]
    docs: Vec<Value>,
    #[serde(default, rename = "totalDocs", deserialize_with = "lenient::opt_u64")]
    total_docs: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    total: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    limit: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    offset: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    has_more: Option<bool>,
}

impl Batchlist {
    /// Decode a `GET /batches` answer.
    pub fn from_value(value: Value) -> Result<Batchlist> {
        if !value.is_object() {
            return Err(Error::decode(format!(
                "expected a batch page object from Scale, got {}",
                lenient::json_kind(&value)
            )));
        }
        let page: BatchPage = serde_json::from_value(value)
            .map_err(|e| Error::decode(format!("unexpected batch page from Scale: {e}")))?;
        Ok(Batchlist {
            docs: page
                .docs
                .into_iter()
                .map(|d| decode(d, "batch"))
                .collect::<Result<_>>()?,
            total: page.total_docs.or(page.total).unwrap_or(0),
            limit: page.limit,
            offset: page.offset,
            has_more: page.has_more.unwrap_or(false),
        })
    }
}

/// Body of `POST /batches`: all six members are always sent, as the SDK does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateBatchRequest {
    /// The project name.
    pub project: String,
    /// The batch name.
    pub name: String,
    /// A calibration batch.
    pub calibration_batch: bool,
    /// A self-label batch.
    pub self_label_batch: bool,
    /// URL or e-mail notified when the batch completes (`""` for none).
    pub callback: String,
    /// Metadata (`{}` for none).
    pub metadata: JsonMap,
}

impl CreateBatchRequest {
    /// A plain batch of `project` named `name`.
    pub fn new(project: impl Into<String>, name: impl Into<String>) -> Self {
        CreateBatchRequest {
            project: project.into(),
            name: name.into(),
            calibration_batch: false,
            self_label_batch: false,
            callback: String::new(),
            metadata: JsonMap::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------------------------

/// A v1 project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleProject {
    /// The project name (unique per account; Scale's project key).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub name: String,
    /// The task type of the project.
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub task_type: Option<String>,
    /// Every version of the project parameters, oldest first (the last is current).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub param_history: Vec<JsonMap>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time_or_epoch_millis")]
    pub created_at: Option<DateTime<Utc>>,
    /// Whether the project is archived, where Scale says.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub archived: Option<bool>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

impl ScaleProject {
    /// The current parameters (the last `param_history` entry).
    pub fn current_params(&self) -> Option<&JsonMap> {
        self.param_history.last()
    }

    /// The current parameter version.
    pub fn version(&self) -> Option<i64> {
        self.current_params()?.get("version")?.as_i64()
    }

    /// The current project-level instruction.
    pub fn instruction(&self) -> Option<&str> {
        self.current_params()?.get("instruction")?.as_str()
    }
}

/// Body of `POST /projects`: all six members are always sent, as the SDK does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateProjectRequest {
    /// The task type.
    #[serde(rename = "type")]
    pub task_type: String,
    /// The project name.
    pub name: String,
    /// Default task parameters (`null` for none).
    pub params: Option<JsonMap>,
    /// A Scale Rapid project (batches start in `staging`).
    pub rapid: bool,
    /// A Scale Studio project (batches start in `staging`).
    pub studio: bool,
    /// A Nucleus dataset to link.
    #[serde(rename = "datasetId")]
    pub dataset_id: Option<String>,
}

impl CreateProjectRequest {
    /// A plain project.
    pub fn new(name: impl Into<String>, task_type: impl Into<String>) -> Self {
        CreateProjectRequest {
            task_type: task_type.into(),
            name: name.into(),
            params: None,
            rapid: false,
            studio: false,
            dataset_id: None,
        }
    }
}

/// The task template of a `textcollection` / `chat` project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTemplate {
    /// Template id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Template version.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub version: Option<i64>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time_or_epoch_millis")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time_or_epoch_millis")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Variables tasks fill in.
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub template_variables: JsonMap,
    /// JSON schema of responses, where enabled for the account.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub response_schema: Option<Value>,
    /// Whether the project is auto-onboardable.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub auto_onboard_enabled: bool,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

// ---------------------------------------------------------------------------------------------
// Files, teams, Studio
// ---------------------------------------------------------------------------------------------

/// An uploaded or imported file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleFile {
    /// File id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// `scaledata://...` URL usable as a task attachment.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub attachment_url: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time_or_epoch_millis")]
    pub created_at: Option<DateTime<Utc>>,
    /// MIME type.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mime_type: Option<String>,
    /// Projects the file is associated with.
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub project_names: Vec<String>,
    /// Size in bytes.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub size: Option<u64>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// Team roles (`team_role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeammateRole {
    /// Studio labeler.
    Labeler,
    /// Member.
    Member,
    /// Manager.
    Manager,
    /// Admin.
    Admin,
}

impl TeammateRole {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TeammateRole::Labeler => "labeler",
            TeammateRole::Member => "member",
            TeammateRole::Manager => "manager",
            TeammateRole::Admin => "admin",
        }
    }
}

/// A member of the team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Teammate {
    /// E-mail.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub email: String,
    /// Role, as Scale spells it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub role: Option<String>,
    /// Company.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub company: Option<String>,
    /// First name.
    #[serde(
        rename = "firstName",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(rename = "lastName", default, deserialize_with = "lenient::opt_string")]
    pub last_name: Option<String>,
    /// Whether the member is a Studio labeler.
    #[serde(
        rename = "isStudioLabeler",
        default,
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_studio_labeler: Option<bool>,
    /// When a pending invitation expires.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub expiry: Option<String>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// Body of `POST /teams/invite` and `POST /teams/set_role`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamRequest<'a> {
    /// Who.
    pub emails: &'a [String],
    /// Which role.
    pub team_role: &'static str,
}

/// A worker of a Studio project group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudioWorker {
    /// Worker id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// E-mail.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub email: Option<String>,
}

/// A Studio project group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectGroup {
    /// Group id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Group name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Number of workers.
    #[serde(rename = "numWorkers", default, deserialize_with = "lenient::opt_u64")]
    pub num_workers: Option<u64>,
    /// Whether the group is a singleton.
    #[serde(
        rename = "isSingleton",
        default,
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_singleton: Option<bool>,
    /// Workers.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub workers: Vec<StudioWorker>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// A Studio batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudioBatch {
    /// Batch id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Batch name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Project id.
    #[serde(
        rename = "projectId",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub project_id: Option<String>,
    /// Project name.
    #[serde(
        rename = "projectName",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub project_name: Option<String>,
    /// `Production` or `Calibration`.
    #[serde(
        rename = "batchType",
        default,
        deserialize_with = "lenient::opt_string"
    )]
    pub batch_type: Option<String>,
    /// Studio priority.
    #[serde(
        rename = "studioPriority",
        default,
        deserialize_with = "lenient::opt_i64"
    )]
    pub studio_priority: Option<i64>,
    /// Tasks in the batch.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub total: Option<u64>,
    /// Tasks completed.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub completed: Option<u64>,
    /// Groups assigned.
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub groups: Vec<String>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// Studio assignments: e-mail → assigned project names.
pub type StudioAssignments = BTreeMap<String, Vec<String>>;

/// Decode Studio assignments (`{"a@x.com": ["p1", ...]}`); values that are not lists are empty.
pub fn decode_assignments(value: Value) -> Result<StudioAssignments> {
    match value {
        Value::Object(map) => Ok(map
            .into_iter()
            .map(|(email, projects)| {
                let list = match projects {
                    Value::Array(items) => {
                        items.iter().filter_map(lenient::scalar_string).collect()
                    }
                    _ => Vec::new(),
                };
                (email, list)
            })
            .collect()),
        other => Err(Error::decode(format!(
            "expected an assignment map from Scale, got {}",
            lenient::json_kind(&other)
        ))),
    }
}

with_raw!(
    QualityTask,
    ScaleBatch,
    ScaleBatchStatus,
    ScaleProject,
    TaskTemplate,
    ScaleFile,
    Teammate,
    ProjectGroup,
    StudioBatch,
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_documented_task_and_keeps_raw() {
        let v = json!({
          "task_id": "576ba74eec471ff9b01557cc",
          "created_at": "2016-06-23T09:09:34.752Z",
          "updated_at": "2016-06-23T09:10:02.798Z",
          "completed_at": "2016-06-23T09:10:02.798Z",
          "callback_url": "http://www.example.com/callback",
          "type": "categorization",
          "status": "completed",
          "instruction": "Would you say this item is big or small?",
          "params": { "attachment_type": "text", "attachment": "car", "categories": ["big", "small"] },
          "callback_succeeded": true,
          "response": { "category": "big" },
          "metadata": {},
          "audits": [
            { "audited_by": "customer@example.com", "audited_at": "2016-06-24T15:32:03.585Z",
              "audit_time_secs": 120, "audit_result": "accepted", "audit_source": "customer" }
          ],
          "tags": ["experiment_1", "owner:david"],
          "unique_id": "product_experiment_dg3d9x83",
          "some_future_field": {"x": 1}
        });
        let t: ScaleTask = decode(v.clone(), "task").unwrap();
        assert_eq!(t.task_id, "576ba74eec471ff9b01557cc");
        assert_eq!(t.task_type.as_deref(), Some("categorization"));
        assert_eq!(t.status_str(), "completed");
        assert_eq!(
            t.completed_at.unwrap().timestamp_millis(),
            lenient::timestamp("2016-06-23T09:10:02.798Z")
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(t.params["attachment"], json!("car"));
        assert_eq!(
            t.response.map(Value::from),
            Some(json!({"category": "big"}))
        );
        assert_eq!(t.tags, vec!["experiment_1", "owner:david"]);
        assert_eq!(t.unique_id.as_deref(), Some("product_experiment_dg3d9x83"));
        assert_eq!(t.audits.len(), 1);
        assert_eq!(t.callback_succeeded, Some(true));
        assert_eq!(t.raw, v);
    }

    #[test]
    fn a_task_with_nulls_and_odd_types_still_decodes() {
        let v = json!({
            "task_id": 12345,
            "status": null,
            "params": "not an object",
            "metadata": null,
            "tags": null,
            "response": null,
            "completed_at": "yesterday",
            "created_at": "2024-05-01T12:00:00.123456",
            "audits": {"weird": true}
        });
        let t: ScaleTask = decode(v, "task").unwrap();
        assert_eq!(t.task_id, "12345");
        assert_eq!(t.status, None);
        assert!(t.params.is_empty() && t.metadata.is_empty() && t.tags.is_empty());
        assert_eq!(t.response, None);
        assert_eq!(t.completed_at, None);
        assert_eq!(
            t.created_at.map(|c| format_timestamp(&c)).as_deref(),
            Some("2024-05-01T12:00:00.123Z")
        );
        assert!(t.audits.is_empty());
        assert!(decode::<ScaleTask>(json!({"status": "pending"}), "task").is_err());
    }

    #[test]
    fn decodes_task_pages_with_and_without_a_next_token() {
        let page = Tasklist::from_value(json!({
            "docs": [{"task_id": "5c849c3fe95619006b071dd4", "status": "pending"}],
            "total": 3, "limit": 2, "offset": 0, "has_more": true, "next_token": "abc"
        }))
        .unwrap();
        assert_eq!(page.docs.len(), 1);
        assert_eq!(page.total, 3);
        assert!(page.has_more);
        assert_eq!(page.next_token.as_deref(), Some("abc"));
        let last = Tasklist::from_value(json!({
            "docs": [], "total": 0, "limit": 100, "offset": 0, "has_more": false, "next_token": ""
        }))
        .unwrap();
        assert!(!last.has_more);
        assert_eq!(last.next_token, None);
        assert!(Tasklist::from_value(json!([1, 2])).is_err());
    }

    #[test]
    fn task_pages_decode_the_same_from_text_and_from_values() {
        let task = json!({
            "task_id": "5c849c3fe95619006b071dd4", "type": "imageannotation",
            "status": "completed", "project": "demo", "batch": "b1",
            "created_at": "2024-05-01T12:00:00.123Z", "completed_at": 1714564800123i64,
            "params": {"attachment": "https://x/1.jpg", "geometries": {"box": {"objects_to_annotate": ["car"]}}},
            "response": {"annotations": [{"type": "box", "label": "car", "left": 1.5}]},
            "metadata": {"i": 7}, "unique_id": "u-1", "tags": ["t"],
            "customer_review_status": "accepted", "future": [1, {"x": null}]
        });
        // (body, whether the text decoder takes it)
        let pages: Vec<(String, bool)> = vec![
            (
                json!({"docs": [task, {"task_id": 12, "status": null, "params": "odd", "response": null}],
                       "total": "3", "limit": 100, "offset": 0, "has_more": true, "next_token": "nt_2"})
                .to_string(),
                true,
            ),
            (
                serde_json::to_string_pretty(&json!({"docs": [task], "has_more": false, "next_token": ""}))
                    .unwrap(),
                true,
            ),
            (r#"{"docs":[],"total":0}"#.into(), true),
            (r#"{"docs":[{"task_id":"a\u0062","response":"plain"}]}"#.into(), true),
            // Left to the Value decoder: no docs, docs not a list, a task that is not one.
            (r#"{"total":0}"#.into(), false),
            (r#"{"docs":null}"#.into(), false),
            (r#"{"docs":[{"status":"pending"}]}"#.into(), false),
            (r#"{"docs":[[1]]}"#.into(), false),
            (r#"[1,2]"#.into(), false),
            ("not json".into(), false),
        ];
        for (body, text) in pages {
            let from_text = Tasklist::from_body(body.as_bytes());
            assert_eq!(from_text.is_some(), text, "{body}");
            let from_value = serde_json::from_str::<Value>(&body)
                .map_err(|e| Error::decode(e.to_string()))
                .and_then(Tasklist::from_value);
            if let Some(page) = from_text {
                let general = from_value.unwrap();
                assert_eq!(page, general, "{body}");
                for (t, g) in page.docs.iter().zip(&general.docs) {
                    assert_eq!(t.raw, g.raw, "{body}");
                    assert_eq!(t.response, g.response, "{body}");
                    assert!(body.contains(t.raw.as_str()), "raw is the page's text");
                }
            } else if body.contains("docs\":[{") {
                assert!(from_value.is_err(), "{body}");
            }
        }
        // A single task from its text keeps the text.
        let text = task.to_string();
        let t = ScaleTask::from_text(&text).unwrap();
        assert_eq!(t.raw.as_str(), text);
        assert_eq!(t, decode::<ScaleTask>(task, "task").unwrap());
        assert!(ScaleTask::from_text("[1]").is_err());
    }

    #[test]
    fn decodes_batches_status_and_batch_pages_with_either_total_name() {
        let b: ScaleBatch = decode(
            json!({
              "project": "kitten_labeling",
              "name": "kitten_labeling_2020-07",
              "callback": "http://www.example.com/callback",
              "status": "in_progress",
              "created_at": "2020-07-01T17:51:45.315Z",
              "metadata": { "some_key": "some_value" }
            }),
            "batch",
        )
        .unwrap();
        assert_eq!(b.name, "kitten_labeling_2020-07");
        assert_eq!(b.project.as_deref(), Some("kitten_labeling"));
        assert_eq!(b.status.as_deref(), Some(batch_status::IN_PROGRESS));
        assert_eq!(b.metadata["some_key"], json!("some_value"));

        let s: ScaleBatchStatus = decode(
            json!({ "status": "in_progress", "pending": 12, "error": 0, "completed": 30, "canceled": 1 }),
            "batch status",
        )
        .unwrap();
        assert_eq!(
            (s.pending, s.error, s.completed, s.canceled),
            (12, 0, 30, 1)
        );
        let sparse: ScaleBatchStatus =
            decode(json!({"status": "staging", "pending": "4"}), "batch status").unwrap();
        assert_eq!((sparse.pending, sparse.completed), (4, 0));

        let p = Batchlist::from_value(json!({
            "docs": [{"name": "b1"}], "totalDocs": 57, "limit": 100, "offset": 0, "has_more": false
        }))
        .unwrap();
        assert_eq!((p.total, p.docs.len(), p.has_more), (57, 1, false));
        let p = Batchlist::from_value(
            json!({"docs": [], "total": 9, "limit": 10, "offset": 0, "has_more": true}),
        )
        .unwrap();
        assert_eq!((p.total, p.has_more), (9, true));
    }

    #[test]
    fn decodes_projects_templates_files_and_team_objects() {
        let p: ScaleProject = decode(
            json!({
              "type": "imageannotation",
              "name": "kitten_labeling",
              "param_history": [
                { "instruction": "Old", "version": 0, "created_at": "2021-04-25T07:38:32.368Z" },
                { "instruction": "Instructions", "version": 1, "created_at": "2021-04-26T07:38:32.368Z" }
              ],
              "created_at": "2021-04-25T07:38:32.368Z"
            }),
            "project",
        )
        .unwrap();
        assert_eq!(p.task_type.as_deref(), Some("imageannotation"));
        assert_eq!(p.version(), Some(1));
        assert_eq!(p.instruction(), Some("Instructions"));

        let t: TaskTemplate = decode(
            json!({"id": "tt1", "version": 2, "created_at": "2024-01-01T00:00:00Z",
                   "updated_at": "2024-01-02T00:00:00Z", "template_variables": {"a": 1}}),
            "task template",
        )
        .unwrap();
        assert_eq!((t.version, t.auto_onboard_enabled), (Some(2), false));

        let f: ScaleFile = decode(
            json!({
              "id": "8ac09d70-ca43-4354-9a4b-6c3591396d1f",
              "attachment_url": "scaledata://606e2a0a46102303a130949/8ac09a90",
              "created_at": "2021-06-17T21:56:53.825Z",
              "mime_type": "image/png",
              "project_names": ["test_project"],
              "size": 340714
            }),
            "file",
        )
        .unwrap();
        assert_eq!(f.size, Some(340714));
        assert_eq!(f.project_names, vec!["test_project"]);

        let team: Vec<Teammate> = decode_list(
            json!([{"email": "a@x.com", "role": "admin", "firstName": "A", "isStudioLabeler": false}]),
            "teammate",
        )
        .unwrap();
        assert_eq!(team[0].first_name.as_deref(), Some("A"));
        assert_eq!(team[0].is_studio_labeler, Some(false));

        let g: ProjectGroup = decode(
            json!({"id": "g1", "name": "G", "numWorkers": 2, "isSingleton": false,
                   "workers": [{"id": "w1", "email": "w@x.com"}]}),
            "project group",
        )
        .unwrap();
        assert_eq!(g.workers.len(), 1);
        let sb: StudioBatch = decode(
            json!({"id": "s1", "name": "b", "projectId": "p1", "projectName": "P",
                   "batchType": "Production", "total": 10, "completed": 3, "groups": ["g1"]}),
            "studio batch",
        )
        .unwrap();
        assert_eq!((sb.total, sb.completed), (Some(10), Some(3)));
        let a = decode_assignments(json!({"a@x.com": ["p1", "p2"], "b@x.com": null})).unwrap();
        assert_eq!(a["a@x.com"], vec!["p1", "p2"]);
        assert!(a["b@x.com"].is_empty());
    }

    #[test]
    fn requests_serialize_every_member_like_the_sdk() {
        let b = serde_json::to_value(CreateBatchRequest::new("p", "b")).unwrap();
        assert_eq!(
            b,
            json!({"project": "p", "name": "b", "calibration_batch": false,
                   "self_label_batch": false, "callback": "", "metadata": {}})
        );
        let p = serde_json::to_value(CreateProjectRequest::new("p", "imageannotation")).unwrap();
        assert_eq!(
            p,
            json!({"type": "imageannotation", "name": "p", "params": null,
                   "rapid": false, "studio": false, "datasetId": null})
        );
    }

    #[test]
    fn timestamps_parse_in_the_forms_scale_uses() {
        for s in [
            "2024-01-02T03:04:05.678Z",
            "2024-01-02T03:04:05.678+00:00",
            "2024-01-02T03:04:05.678",
            "2024-01-02 03:04:05.678",
        ] {
            assert_eq!(
                format_timestamp(&lenient::timestamp(s).unwrap()),
                "2024-01-02T03:04:05.678Z",
                "{s}"
            );
        }
        assert_eq!(
            format_timestamp(&lenient::timestamp("2024-01-02").unwrap()),
            "2024-01-02T00:00:00.000Z"
        );
        assert_eq!(lenient::timestamp("soon"), None);
    }
}
