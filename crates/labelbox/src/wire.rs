//! Serde types of Labelbox's GraphQL answers and export lines, lenient by design (through
//! [`labelmux_core::lenient`]): ids are strings (numbers accepted), explicit `null` means absent, a
//! member of an unexpected type becomes absent rather than an error, unknown members are
//! ignored, timestamps that do not parse become `None`, and every decoded object keeps its JSON
//! unchanged in `raw`. Only the members a caller cannot do without (an object's `id`, a label
//! version's ids) are required.

use chrono::{DateTime, SecondsFormat, Utc};
use labelmux_core::{lenient, Error, JsonMap, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Format an instant as Labelbox's `DateTime` scalar (`2024-05-06T07:08:09.123Z`).
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

use labelmux_core::impl_with_raw as with_raw;
pub use labelmux_core::lenient::WithRaw;

/// Decode `value` as `T` and keep `value` in it; `what` names the object in errors.
pub fn decode<T: DeserializeOwned + WithRaw>(value: Value, what: &str) -> Result<T> {
    labelmux_core::lenient::decode_with_raw("Labelbox", value, what)
}

/// Decode a JSON array of `T`s; `null` is an empty list, anything else a decode error.
pub fn decode_list<T: DeserializeOwned + WithRaw>(value: Value, what: &str) -> Result<Vec<T>> {
    labelmux_core::lenient::decode_list_with_raw("Labelbox", value, what, true)
}

/// Decode a plain (raw-less) value; `what` names it in errors.
pub fn decode_plain<T: DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    T::deserialize(&value)
        .map_err(|e| Error::decode(format!("unexpected {what} from Labelbox: {e}")))
}

/// A JSON value that may arrive encoded as a string (`"{\"a\":1}"`): the string is parsed when
/// it holds JSON, kept as a string otherwise. `null` is absent.
pub fn opt_json_or_json_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(serde_json::from_str(&s).unwrap_or(Value::String(s))),
        other => Some(other),
    })
}

/// A list of objects where `null` or a non-list is empty and elements of the wrong shape are
/// skipped (so one odd element never hides the others).
fn lenient_list<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> std::result::Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Enumerations kept open (unknown values are kept, never an error)
// ---------------------------------------------------------------------------------------------

macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)*
            /// A value this version of labelmux does not know, as sent.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$v => $s,)*
                    $name::Other(s) => s,
                }
            }

            /// Parse the wire spelling; unknown values are [`Self::Other`].
            pub fn parse(s: &str) -> Self {
                match s {
                    $($s => $name::$v,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let v = Value::deserialize(d)?;
                Ok($name::parse(&lenient::scalar_string(&v).unwrap_or_default()))
            }
        }
    };
}

open_enum! {
    /// A project's or ontology's media type (`allowedMediaType`, `mediaType`).
    MediaType {
        /// Audio.
        Audio = "AUDIO",
        /// Conversations.
        Conversational = "CONVERSATIONAL",
        /// HTML.
        Html = "HTML",
        /// Images.
        Image = "IMAGE",
        /// LLM data.
        Llm = "LLM",
        /// PDF documents.
        Pdf = "PDF",
        /// Point clouds.
        PointCloud = "POINT_CLOUD",
        /// Text.
        Text = "TEXT",
        /// Geospatial tiles.
        TmsGeo = "TMS_GEO",
        /// Simple tiles.
        TmsSimple = "TMS_SIMPLE",
        /// Unset.
        Unknown = "UNKNOWN",
        /// Video.
        Video = "VIDEO",
    }
}

open_enum! {
    /// Status of an asynchronous server job (a Labelbox "Task").
    TaskStatus {
        /// Still running.
        InProgress = "IN_PROGRESS",
        /// Finished successfully (per-row failures may still exist).
        Complete = "COMPLETE",
        /// The whole job failed.
        Failed = "FAILED",
        /// Being canceled.
        Cancelling = "CANCELLING",
        /// Canceled.
        Canceled = "CANCELED",
    }
}

impl TaskStatus {
    /// Anything but `IN_PROGRESS` is finished (as the official client decides).
    pub fn is_finished(&self) -> bool {
        *self != TaskStatus::InProgress
    }
}

open_enum! {
    /// Kind of a project's task queue.
    QueueType {
        /// The initial labeling queue (to label).
        InitialLabeling = "INITIAL_LABELING_QUEUE",
        /// A review queue.
        ManualReview = "MANUAL_REVIEW_QUEUE",
        /// The rework queue.
        ManualRework = "MANUAL_REWORK_QUEUE",
    }
}

open_enum! {
    /// A webhook topic.
    WebhookTopic {
        /// A label was created.
        LabelCreated = "LABEL_CREATED",
        /// A label was updated.
        LabelUpdated = "LABEL_UPDATED",
        /// A label was deleted.
        LabelDeleted = "LABEL_DELETED",
        /// A review was created (older documentation).
        ReviewCreated = "REVIEW_CREATED",
        /// A review was updated (older documentation).
        ReviewUpdated = "REVIEW_UPDATED",
        /// A data row was approved, rejected or moved between queues.
        WorkflowAction = "WORKFLOW_ACTION",
    }
}

open_enum! {
    /// A webhook's status. Deleting a webhook sets it `INACTIVE`.
    WebhookStatus {
        /// Delivering.
        Active = "ACTIVE",
        /// Deleted / paused.
        Inactive = "INACTIVE",
        /// Revoked by Labelbox.
        Revoked = "REVOKED",
    }
}

open_enum! {
    /// Workflow status of a data row in a project export (`project_details.workflow_status`).
    WorkflowStatus {
        /// In the labeling queue.
        ToLabel = "TO_LABEL",
        /// In a review queue.
        InReview = "IN_REVIEW",
        /// In the rework queue.
        InRework = "IN_REWORK",
        /// Done.
        Done = "DONE",
    }
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

/// The user an API key belongs to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// The user id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// E-mail address.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub email: Option<String>,
    /// Name (wire `name`; the official SDK swaps it with `nickname`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Nickname.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub nickname: Option<String>,
    /// IANA time zone; `None` means UTC for export date filters.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub timezone: Option<String>,
    /// Creation time.
    #[serde(default, rename = "createdAt", deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, rename = "updatedAt", deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// The organization of the API key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Organization {
    /// The organization id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Creation time.
    #[serde(default, rename = "createdAt", deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

// ---------------------------------------------------------------------------------------------
// Projects, ontologies, editors
// ---------------------------------------------------------------------------------------------

/// A project.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// The project id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Media type, fixed at creation.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub allowed_media_type: Option<MediaType>,
    /// Number of data rows in the project.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub data_row_count: Option<u64>,
    /// Whether consensus is on.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_consensus_enabled: Option<bool>,
    /// Whether benchmarks are on.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_benchmark_enabled: Option<bool>,
    /// Consensus: labels per data row.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub auto_audit_number_of_labels: Option<i64>,
    /// Consensus/benchmark: share of rows audited.
    #[serde(default)]
    pub auto_audit_percentage: Option<f64>,
    /// `AUTO`, `MANUAL` or absent; batches cannot be created in `AUTO` projects.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub upload_type: Option<String>,
    /// Set for evaluation projects only.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub editor_task_type: Option<String>,
    /// When set-up completed, if it has.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub setup_complete: Option<DateTime<Utc>>,
    /// Last activity.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub last_activity_time: Option<DateTime<Utc>>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// An ontology (the tools and classifications of the labeling editor).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ontology {
    /// The ontology id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Media type (`UNKNOWN` fits any project).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub media_type: Option<MediaType>,
    /// `{"tools": [...], "classifications": [...]}` with server-assigned schema ids.
    #[serde(default, deserialize_with = "opt_json_or_json_string")]
    pub normalized: Option<Value>,
    /// Number of tools.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub object_schema_count: Option<u64>,
    /// Number of classifications.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub classification_schema_count: Option<u64>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// A labeling editor ("labeling frontend").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelingFrontend {
    /// Its id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name (`Editor` for the standard one).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// A project's workflow definition (`config` holds `nodes` and `edges`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectWorkflow {
    /// The project.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub project_id: Option<String>,
    /// The workflow graph.
    #[serde(default, deserialize_with = "opt_json_or_json_string")]
    pub config: Option<Value>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// A label as listed by `project.labels` (legacy annotation document in `label`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    /// The label id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// The annotations (`{"objects", "classifications", "relationships"}`), parsed from the
    /// string Labelbox sends.
    #[serde(default, deserialize_with = "opt_json_or_json_string")]
    pub label: Option<Value>,
    /// Seconds spent labeling.
    #[serde(default)]
    pub seconds_to_label: Option<f64>,
    /// Consensus agreement.
    #[serde(default)]
    pub agreement: Option<f64>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

// ---------------------------------------------------------------------------------------------
// Datasets and data rows
// ---------------------------------------------------------------------------------------------

/// A dataset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// The dataset id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Number of data rows.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub row_count: Option<u64>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// A metadata value of a data row.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataValue {
    /// The metadata schema id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub schema_id: Option<String>,
    /// The schema's name, when Labelbox sends it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// The value.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub value: Option<Value>,
    /// The schema kind, when Labelbox sends it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
}

/// A data row.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRow {
    /// Labelbox's id (a CUID).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// The client-chosen key, unique per organization.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub global_key: Option<String>,
    /// Free-form id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_id: Option<String>,
    /// Asset URL, raw text, or JSON text.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub row_data: Option<String>,
    /// Media attributes (size, MIME type), once processed.
    #[serde(default, deserialize_with = "opt_json_or_json_string")]
    pub media_attributes: Option<Value>,
    /// Metadata (`customMetadata`).
    #[serde(default, deserialize_with = "lenient_list")]
    pub custom_metadata: Vec<MetadataValue>,
    /// Metadata with names and kinds (`metadataFields`).
    #[serde(default, deserialize_with = "lenient_list")]
    pub metadata_fields: Vec<MetadataValue>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// An option of an enum metadata schema.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetadataOption {
    /// Option schema id (the value to send for this option).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// `CustomMetadataEnumOption`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
}

/// A data-row metadata schema of the organization.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetadataSchema {
    /// Schema id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name (e.g. `tag`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// `CustomMetadataString`, `CustomMetadataNumber`, `CustomMetadataDateTime`,
    /// `CustomMetadataEnum` or `CustomMetadataEmbedding`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    /// `true` for Labelbox-defined fields.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub reserved: Option<bool>,
    /// Enum options.
    #[serde(default, deserialize_with = "lenient_list")]
    pub options: Vec<MetadataOption>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// A row an upsert job created or updated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportedDataRow {
    /// The data row id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its global key.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub global_key: Option<String>,
    /// Its external id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_id: Option<String>,
    /// Its row data.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub row_data: Option<String>,
}

/// The submitted spec of a row an upsert job refused, as echoed by Labelbox.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedSpec {
    /// Its global key.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub global_key: Option<String>,
    /// Its external id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_id: Option<String>,
    /// Its row data.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub row_data: Option<String>,
    /// Its metadata.
    #[serde(default, deserialize_with = "lenient_list")]
    pub metadata: Vec<MetadataValue>,
    /// Its attachments, as sent.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub attachments: Option<Value>,
}

/// A row an upsert job refused, and why (e.g. `Duplicate global key: 'gk-1'`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FailedDataRowImport {
    /// Labelbox's reason.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub message: Option<String>,
    /// The refused spec.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub spec: FailedSpec,
}

/// One page of `successesfulDataRowImports`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SuccessfulImportsPage {
    /// Rows of this page.
    #[serde(default, deserialize_with = "lenient_list")]
    pub nodes: Vec<ImportedDataRow>,
    /// Cursor of the next page.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub after: Option<String>,
    /// Total number of rows.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub total: Option<u64>,
}

/// One page of `failedDataRowImports`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FailedImportsPage {
    /// Failures of this page.
    #[serde(default, deserialize_with = "lenient_list")]
    pub results: Vec<FailedDataRowImport>,
    /// Cursor of the next page.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub after: Option<String>,
    /// Total number of failures.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub total: Option<u64>,
}

/// The answer of `dataRowsForGlobalKeysResult`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalKeyJobResult {
    /// `IN_PROGRESS`, `COMPLETE` or `FAILED`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub job_status: Option<String>,
    /// The result, once complete.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub data: Option<GlobalKeyLookupData>,
}

/// Data of a finished global-key look-up.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalKeyLookupData {
    /// One entry per requested key, in request order; `""` for an unresolved key.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub fetched_data_rows: Vec<IdOnly>,
    /// Keys no data row holds.
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub not_found_global_keys: Vec<String>,
    /// Keys of rows this key may not read.
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub access_denied_global_keys: Vec<String>,
}

/// An object reduced to its id.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IdOnly {
    /// The id (`""` when unresolved).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
}

/// Where global keys resolved to: one entry per requested key, in request order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GlobalKeyResolution {
    /// `(global key, data row id)`; the id is `None` when the key resolved to nothing.
    pub rows: Vec<(String, Option<String>)>,
    /// Keys no data row holds.
    pub not_found: Vec<String>,
    /// Keys of rows this key may not read.
    pub access_denied: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Asynchronous server jobs ("Tasks")
// ---------------------------------------------------------------------------------------------

/// An asynchronous server job (data-row upsert, export, batch add, queue move...).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LbTask {
    /// The Task id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Its status.
    #[serde(default = "unknown_status")]
    pub status: TaskStatus,
    /// e.g. `adv-upsert-data-rows`, `export-data-rows`, `add-data-rows-to-batch`,
    /// `send-to-task-queue`.
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub task_type: Option<String>,
    /// Progress, 0..1.
    #[serde(default)]
    pub completion_percentage: Option<f64>,
    /// A result URL, or for some types an inline JSON string describing the error.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub result: Option<String>,
    /// An error-file URL or message; `None` unless the job failed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub errors: Option<String>,
    /// Free-form metadata.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub metadata: Option<Value>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

fn unknown_status() -> TaskStatus {
    TaskStatus::Other(String::new())
}

impl LbTask {
    /// What the job said went wrong: `errors`, else `result` (inline JSON for batch and queue
    /// jobs), else a generic note.
    pub fn failure_text(&self) -> String {
        [self.errors.as_deref(), self.result.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| "no reason given".to_owned())
    }
}

/// `{ taskId }` answers of mutations that start a job.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRef {
    /// The Task id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub task_id: String,
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/// A batch of data rows queued in a project.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// The batch id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name, unique within the project.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Number of data rows.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub size: Option<u64>,
    /// Consensus settings (`{"numberOfLabels": 3, "coveragePercentage": 0.1}`), if any.
    #[serde(default, deserialize_with = "opt_json_or_json_string")]
    pub consensus_settings_json: Option<Value>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// What creating a batch gave: the batch and the rows it could not take.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedBatch {
    /// The batch.
    pub batch: Batch,
    /// Rows Labelbox refused (ids or global keys, as requested).
    pub failed_data_row_ids: Vec<String>,
}

/// Consensus settings of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsensusSettings {
    /// Labels per data row.
    pub number_of_labels: i64,
    /// Share of the rows labeled several times, 0..1.
    pub coverage_percentage: f64,
}

// ---------------------------------------------------------------------------------------------
// Task queues and overview
// ---------------------------------------------------------------------------------------------

/// A task queue (a step of the project's workflow).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskQueue {
    /// The queue id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Its kind.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub queue_type: Option<QueueType>,
    /// Data rows in it.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub data_row_count: Option<u64>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// Counts of a project (or of some of its batches) per workflow state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectOverview {
    /// `state` → count (`Unlabeled`, `InReview`, `InRework`, `Skipped`, `Done`, `Labeled`,
    /// `All`, `NotInTaskQueue`, and any other state Labelbox sends).
    pub states: BTreeMap<String, u64>,
    /// Queue name → data rows, with the queue type.
    pub queues: Vec<QueueCount>,
    /// Open issues (only for a whole-project overview).
    pub issues: Option<u64>,
    /// Data rows done.
    pub completed_data_row_count: Option<u64>,
    /// The JSON as received.
    pub raw: Value,
}

impl ProjectOverview {
    /// The count of a state (0 when Labelbox did not send it).
    pub fn count(&self, state: &str) -> u64 {
        self.states.get(state).copied().unwrap_or(0)
    }
}

/// Data rows in one task queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCount {
    /// Queue kind.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub queue_type: Option<QueueType>,
    /// Queue name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Data rows in it.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub data_row_count: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct StateCount {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub count: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------------

/// Answer of the export mutations.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportTaskCreated {
    /// The export Task.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub task_id: String,
    /// Whether the result is read through the streamable reader (always, today).
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_streamable: Option<bool>,
}

/// Size of an export stream. A missing header (`null`) means no such stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportHeader {
    /// Bytes of the stream (UInt64 as a number or a numeric string).
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub total_size: u64,
    /// Lines of the stream.
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub total_lines: u64,
}

/// An inclusive range (bytes or lines) of an export chunk.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct InclusiveRange {
    /// First.
    #[serde(deserialize_with = "u64_required")]
    pub start: u64,
    /// Last (inclusive).
    #[serde(deserialize_with = "u64_required")]
    pub end: u64,
}

fn u64_required<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    lenient::opt_u64(d)?.ok_or_else(|| serde::de::Error::custom("expected an unsigned integer"))
}

/// A chunk of an export stream: where its bytes are and which lines they hold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExportChunk {
    /// Byte range within the stream (inclusive).
    pub offsets: InclusiveRange,
    /// Line range within the stream (inclusive).
    pub lines: InclusiveRange,
    /// Pre-signed URL of exactly those bytes (GET without credentials).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub file: String,
}

impl ExportChunk {
    /// Bytes the chunk file must hold.
    pub fn len(&self) -> u64 {
        self.offsets
            .end
            .saturating_sub(self.offsets.start)
            .saturating_add(1)
    }

    /// Whether the chunk holds no byte (never, for a well-formed chunk).
    pub fn is_empty(&self) -> bool {
        self.offsets.end < self.offsets.start
    }
}

/// One line of a project export: a data row with its labels in each project.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExportLine {
    /// The data row.
    pub data_row: ExportDataRow,
    /// Media attributes.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub media_attributes: Option<Value>,
    /// Per project id: its labels and the row's state there.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub projects: BTreeMap<String, ExportProject>,
    /// The line as received.
    #[serde(skip)]
    pub raw: Value,
}
with_raw!(ExportLine);

/// `data_row` of an export line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExportDataRow {
    /// Data row id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Global key.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub global_key: Option<String>,
    /// External id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_id: Option<String>,
    /// Row data.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub row_data: Option<String>,
    /// Details (with `includeDataRowDetails`).
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub details: JsonMap,
}

/// A project's part of an export line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ExportProject {
    /// Project name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Labels of the data row in this project (several under consensus).
    #[serde(default, deserialize_with = "lenient_list")]
    pub labels: Vec<ExportLabel>,
    /// Batch, queue and workflow state (with `includeProjectDetails`).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub project_details: ExportProjectDetails,
}

/// `project_details` of an export line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ExportProjectDetails {
    /// Batch id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub batch_id: Option<String>,
    /// Batch name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub batch_name: Option<String>,
    /// Workflow status.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub workflow_status: Option<WorkflowStatus>,
    /// Queue (task) id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub task_id: Option<String>,
    /// Queue (task) name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub task_name: Option<String>,
    /// Priority in the queue.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub priority: Option<i64>,
    /// Labels expected under consensus.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub consensus_expected_label_count: Option<u64>,
    /// Workflow history entries, as sent.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub workflow_history: Option<Value>,
}

/// A label in an export line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExportLabel {
    /// The label id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// `Default`, ...
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub label_kind: Option<String>,
    /// Annotation format version.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
    /// Timestamps, author, reviews (with `includeLabelDetails`).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub label_details: ExportLabelDetails,
    /// Performance details, as sent.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub performance_details: Option<Value>,
    /// `{"objects", "classifications", "relationships"}`.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub annotations: Option<Value>,
}

/// `label_details` of an exported label.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ExportLabelDetails {
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update (any change, reviews included).
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Last change of the annotations themselves.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub content_last_updated_at: Option<DateTime<Utc>>,
    /// Author.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    /// Reviews, as sent.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub reviews: Option<Value>,
}

/// A recorded label version (hand-off: submit, approve, reject, rework...).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelVersion {
    /// Version id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Label id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub label_id: String,
    /// Data row id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub data_row_id: String,
    /// Project id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub project_id: Option<String>,
    /// `SUBMITTED`, `SAVED`, `APPROVED`, `REJECTED`, `REWORK_SUBMITTED`, `SENT_TO_REWORK`, ...
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub action: Option<String>,
    /// When recorded.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Who.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by_id: Option<String>,
    /// The queue the row was in (`None` in Done).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub stage: Option<LabelVersionStage>,
    /// Number of annotations.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub annotation_count: Option<u64>,
    /// Annotations (`labelJson`, or `label` parsed, whichever came).
    #[serde(default, deserialize_with = "opt_json_or_json_string")]
    pub label_json: Option<Value>,
    /// `label` as sent (a JSON string).
    #[serde(default, deserialize_with = "opt_json_or_json_string")]
    pub label: Option<Value>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// Queue of a label version.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelVersionStage {
    /// Queue id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub task_queue_id: Option<String>,
    /// Queue name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Queue kind.
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub stage_type: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// A webhook.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Its id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Target URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub url: Option<String>,
    /// Topics.
    #[serde(default, deserialize_with = "lenient_list")]
    pub topics: Vec<WebhookTopic>,
    /// Status.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub status: Option<WebhookStatus>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

with_raw!(
    User,
    Organization,
    Project,
    Ontology,
    LabelingFrontend,
    ProjectWorkflow,
    Label,
    Dataset,
    DataRow,
    MetadataSchema,
    LbTask,
    Batch,
    TaskQueue,
    LabelVersion,
    Webhook,
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_project_decodes_from_the_spec_fields_and_tolerates_odd_members() {
        let v = json!({
            "autoAuditNumberOfLabels": 3, "autoAuditPercentage": 0, "createdAt": "2024-05-06T07:08:09.123Z",
            "dataRowCount": "12", "description": null, "editorTaskType": null,
            "isBenchmarkEnabled": true, "isConsensusEnabled": "true", "lastActivityTime": "garbage",
            "allowedMediaType": "IMAGE", "modelSetupComplete": false, "name": "P",
            "setupComplete": null, "id": "clf9spzxq029m071nehy60a6v", "updatedAt": "2024-05-06T07:08:09.123Z",
            "uploadType": null, "someNewField": {"x": 1}
        });
        let p: Project = decode(v.clone(), "project").unwrap();
        assert_eq!(p.id, "clf9spzxq029m071nehy60a6v");
        assert_eq!(p.allowed_media_type, Some(MediaType::Image));
        assert_eq!(p.data_row_count, Some(12));
        assert_eq!(p.is_consensus_enabled, Some(true));
        assert_eq!(p.auto_audit_percentage, Some(0.0));
        assert_eq!(p.last_activity_time, None);
        assert!(p.created_at.is_some());
        assert_eq!(p.raw, v);
        // An unknown media type is kept, not refused.
        let p: Project =
            decode(json!({"id": 7, "allowedMediaType": "HOLOGRAM"}), "project").unwrap();
        assert_eq!(p.id, "7");
        assert_eq!(
            p.allowed_media_type,
            Some(MediaType::Other("HOLOGRAM".into()))
        );
        assert!(decode::<Project>(json!({"name": "no id"}), "project").is_err());
    }

    #[test]
    fn a_task_decodes_the_poll_answer_of_the_spec() {
        let v = json!({
            "completionPercentage": 1.0, "createdAt": "2024-05-06T07:08:09.123Z",
            "errors": null, "metadata": null, "name": "…", "result": null,
            "status": "COMPLETE", "type": "adv-upsert-data-rows",
            "id": "cltask", "updatedAt": "2024-05-06T07:08:11.456Z"});
        let t: LbTask = decode(v, "task").unwrap();
        assert_eq!(t.status, TaskStatus::Complete);
        assert!(t.status.is_finished());
        assert_eq!(t.task_type.as_deref(), Some("adv-upsert-data-rows"));
        let failed: LbTask = decode(
            json!({"id": "t", "status": "FAILED", "result": "{\"error\":\"no rows\"}", "errors": ""}),
            "task",
        )
        .unwrap();
        assert_eq!(failed.failure_text(), "{\"error\":\"no rows\"}");
        let odd: LbTask = decode(json!({"id": "t", "status": "PAUSED"}), "task").unwrap();
        assert!(odd.status.is_finished());
        assert!(!TaskStatus::InProgress.is_finished());
    }

    #[test]
    fn failed_imports_keep_the_reason_and_the_echoed_spec() {
        let page: FailedImportsPage = decode_plain(
            json!({"after": null, "total": 1, "results": [{
                "message": "Duplicate global key: 'gk-1'",
                "spec": {"externalId": "a.jpg", "globalKey": "gk-1", "rowData": "https://x/a.jpg",
                         "metadata": [{"schemaId": "cko8s9r5v0001h2dk9elqdidh", "value": "v", "name": "tag"}],
                         "attachments": []}}]}),
            "failed imports",
        )
        .unwrap();
        assert_eq!(page.total, Some(1));
        let f = &page.results[0];
        assert_eq!(f.message.as_deref(), Some("Duplicate global key: 'gk-1'"));
        assert_eq!(f.spec.global_key.as_deref(), Some("gk-1"));
        assert_eq!(f.spec.metadata[0].name.as_deref(), Some("tag"));
    }

    #[test]
    fn export_chunk_ranges_accept_numbers_and_numeric_strings() {
        let c: ExportChunk = decode_plain(
            json!({"offsets": {"start": "0", "end": 1233}, "lines": {"start": 0, "end": "9"}, "file": "https://f"}),
            "chunk",
        )
        .unwrap();
        assert_eq!(c.len(), 1234);
        assert_eq!(c.lines.end, 9);
        let h: ExportHeader =
            decode_plain(json!({"totalSize": "1048576", "totalLines": 3}), "header").unwrap();
        assert_eq!((h.total_size, h.total_lines), (1_048_576, 3));
        assert!(decode_plain::<ExportChunk>(json!({"offsets": {"start": -1, "end": 2}, "lines": {"start": 0, "end": 0}, "file": "u"}), "chunk").is_err());
    }

    #[test]
    fn an_export_line_of_the_spec_decodes_labels_and_details() {
        let v = json!({
          "data_row": {"id": "clf9spzxq029m071nehy60a6v", "global_key": "gk-1", "external_id": "a.jpg",
                       "row_data": "https://x/a.jpg",
                       "details": {"dataset_id": "cld", "last_activity_at": "2024-04-08T16:34:01.000+00:00"}},
          "media_attributes": {"height": 1707, "width": 2560, "mime_type": "image/jpeg"},
          "attachments": [], "metadata_fields": [],
          "projects": {"clp": {"name": "P", "labels": [{
              "label_kind": "Default", "version": "1.0.0", "id": "cll",
              "label_details": {"created_at": "2024-04-08T16:21:26.000+00:00", "updated_at": "2024-04-08T16:34:02.000+00:00",
                                "created_by": "labeler@example.com", "content_last_updated_at": "2024-04-08T16:34:00.513+00:00", "reviews": []},
              "performance_details": {"seconds_to_create": 12, "skipped": false},
              "annotations": {"objects": [], "classifications": [], "relationships": []}}],
            "project_details": {"batch_id": "clb", "batch_name": "b1", "workflow_status": "DONE",
                                "priority": 5, "consensus_expected_label_count": 1, "workflow_history": []}}}
        });
        let mut line: ExportLine = decode_plain(v.clone(), "export line").unwrap();
        line.set_raw(v);
        assert_eq!(line.data_row.global_key.as_deref(), Some("gk-1"));
        let p = &line.projects["clp"];
        assert_eq!(
            p.project_details.workflow_status,
            Some(WorkflowStatus::Done)
        );
        assert_eq!(p.labels[0].id, "cll");
        let d = &p.labels[0].label_details;
        assert_eq!(
            d.updated_at.map(|t| t.to_rfc3339()),
            Some("2024-04-08T16:34:02+00:00".into())
        );
        assert_eq!(d.created_by.as_deref(), Some("labeler@example.com"));
    }

    #[test]
    fn label_versions_accept_label_json_as_a_string() {
        let v: LabelVersion = decode(
            json!({"id": "v1", "labelId": "l1", "dataRowId": "d1", "projectId": "p", "action": "APPROVED",
                   "createdAt": "2024-01-01T00:00:00.000Z", "createdById": "u", "stage": null,
                   "annotationCount": 2, "label": "{\"objects\":[]}", "labelJson": "{\"objects\":[1]}"}),
            "label version",
        )
        .unwrap();
        assert_eq!(v.label_json, Some(json!({"objects": [1]})));
        assert_eq!(v.label, Some(json!({"objects": []})));
        assert_eq!(v.stage, None);
    }

    #[test]
    fn webhooks_and_batches_decode() {
        let w: Webhook = decode(
            json!({"createdAt": "…", "status": "ACTIVE", "topics": ["LABEL_CREATED", "NEW_TOPIC"],
                   "id": "clh", "updatedAt": "…", "url": "https://hooks"}),
            "webhook",
        )
        .unwrap();
        assert_eq!(w.status, Some(WebhookStatus::Active));
        assert_eq!(
            w.topics,
            vec![
                WebhookTopic::LabelCreated,
                WebhookTopic::Other("NEW_TOPIC".into())
            ]
        );
        let b: Batch = decode(
            json!({"consensusSettingsJson": "{\"numberOfLabels\":3,\"coveragePercentage\":0.1}",
                   "createdAt": "2024-05-06T07:08:09.123Z", "name": "b1", "size": 2, "id": "clb", "updatedAt": null}),
            "batch",
        )
        .unwrap();
        assert_eq!(b.size, Some(2));
        assert_eq!(b.consensus_settings_json.unwrap()["numberOfLabels"], 3);
    }
}
