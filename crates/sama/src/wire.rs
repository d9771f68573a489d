//! Serde types of Sama's JSON, lenient by design (through [`labelmux_core::lenient`]): ids may be
//! numbers or strings, explicit `null` means absent, unknown members are ignored, timestamps
//! that do not parse (the legacy `20130715T04:45:57` form does parse; anything stranger does
//! not) become `None` rather than an error, and every decoded response keeps its JSON unchanged
//! in `raw`.

use chrono::{DateTime, Utc};
use labelmux_core::{lenient, JsonMap};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// One element of the uploaded task array: what Sama creates one task from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Inputs keyed by project input name, plus `output_<name>` pre-annotations.
    pub data: JsonMap,
    /// Priority (lower is worked first; Sama's default is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Submit right after creation with the pre-annotations as answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit: Option<bool>,
    /// Other documented record members (`reserve_for`, `duration`), sent as given.
    #[serde(flatten, default, skip_serializing_if = "JsonMap::is_empty")]
    pub extra: JsonMap,
}

/// Body of step 1 of batch creation, `POST batches.json`. Unset members go out as explicit
/// `null`, as the official SDK sends them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateBatchRequest {
    /// Where Sama e-mails when creation finishes.
    pub notification_email: Option<String>,
    /// Label of the upload.
    pub tasks_file_name: String,
}

/// Body of `PUT tasks/{id}/reject.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectRequest<'a> {
    /// Why the task is rejected.
    pub reasons: &'a [String],
}

/// Body of `POST tasks/bulk_update.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkUpdateRequest<'a> {
    /// Tasks to update.
    pub task_ids: &'a [String],
    /// The new priority.
    pub priority: i32,
}

/// Body of `POST tasks/delete_tasks.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeleteTasksRequest<'a> {
    /// Tasks to delete.
    pub task_ids: &'a [String],
}

/// Body of `POST tasks/delivered.json` (deliveries since the consumer's last call). Unset
/// members go out as explicit `null`, as the official SDK sends them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinceLastCallRequest<'a> {
    /// Only this batch.
    pub batch_id: Option<&'a str>,
    /// Only this client batch id.
    pub client_batch_id: Option<&'a str>,
    /// How `client_batch_id` matches.
    pub client_batch_id_match_type: Option<&'a str>,
    /// The consumer token whose cursor is read and advanced.
    pub consumer: Option<&'a str>,
    /// Most tasks per call.
    pub limit: u32,
}

// ---------------------------------------------------------------------------------------------
// Sama-specific lenient field helpers (the shared ones are in `labelmux_core::lenient`)
// ---------------------------------------------------------------------------------------------

/// Messages from a string, an array of strings, or objects with a `message` (and `type`).
fn message_list(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().flat_map(message_list).collect(),
        Value::Object(o) => {
            let msg = o.get("message").and_then(lenient::scalar_string);
            let ty = o.get("type").and_then(lenient::scalar_string);
            vec![match (ty, msg) {
                (Some(t), Some(m)) => format!("{t}: {m}"),
                (None, Some(m)) => m,
                _ => Value::Object(o.clone()).to_string(),
            }]
        }
        other => lenient::scalar_string(other).into_iter().collect(),
    }
}

fn lenient_messages<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(message_list(&Value::deserialize(d)?))
}

/// Implements `Deserialize` for a type whose derived (remote = "Self") deserializer reads the
/// fields, then keeps the JSON it was read from in `raw`.
macro_rules! keep_raw {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = Value::deserialize(d)?;
                let mut value = <$ty>::deserialize(&raw).map_err(D::Error::custom)?;
                value.raw = raw;
                Ok(value)
            }
        }
    };
}

/// Decode a JSON value into a wire type, with a message naming what was expected.
pub(crate) fn decode<T: DeserializeOwned>(value: Value, what: &str) -> labelmux_core::Result<T> {
    serde_json::from_value(value)
        .map_err(|e| labelmux_core::Error::decode(format!("unexpected {what} from Sama: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

/// A task as the status and delivery endpoints return it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self")]
pub struct SamaTask {
    /// Task id (24 hex characters on Sama).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub id: String,
    /// Project id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub project_id: Option<String>,
    /// Sama batch id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub batch_id: Option<String>,
    /// The client batch id (value of the input configured as such).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub client_batch_id: Option<String>,
    /// Task state, as sent (e.g. `in progress`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub state: Option<String>,
    /// Creation time (`None` if absent or unparseable; the string stays in `raw`).
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Delivery time; `null` until delivered (and sometimes even in deliveries).
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Completion time, where Sama sends one.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Priority, where sent.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub priority: Option<i64>,
    /// Inputs (and `output_` pre-annotations, and image metadata inputs).
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub data: JsonMap,
    /// Answers keyed by output name; absent with `omit_answers`.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub answers: Option<Value>,
    /// Workflow step name → agent id.
    #[serde(default, deserialize_with = "lenient::opt_map")]
    pub submitter_ids_by_step: Option<JsonMap>,
    /// Project-specific extras (`_extras`).
    #[serde(default, rename = "_extras", deserialize_with = "lenient::opt_map")]
    pub extras: Option<JsonMap>,
    /// The task's JSON, unchanged.
    #[serde(skip)]
    pub raw: Value,
}
keep_raw!(SamaTask);

/// The tasks of a list response: `{"tasks": [...]}`, also accepting the single-task envelope
/// `{"task": {...}}` and "no content" (`null`, `{}`, `[]`) as an empty page.
pub fn task_list(value: Value) -> labelmux_core::Result<Vec<SamaTask>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => decode(Value::Array(items), "task list"),
        Value::Object(mut o) => match (o.remove("tasks"), o.remove("task")) {
            (Some(Value::Array(items)), _) => decode(Value::Array(items), "task list"),
            (Some(Value::Null) | None, Some(t @ Value::Object(_))) => Ok(vec![decode(t, "task")?]),
            (Some(Value::Null) | None, _) => Ok(Vec::new()),
            (Some(other), _) => Err(labelmux_core::Error::decode(format!(
                "unexpected task list from Sama: `tasks` is {}",
                lenient::json_kind(&other)
            ))),
        },
        other => Err(labelmux_core::Error::decode(format!(
            "unexpected task list from Sama: got {}",
            lenient::json_kind(&other)
        ))),
    }
}

/// The task of a single-task response: `{"task": {...}}` or `{"tasks": [{...}]}` (the
/// envelope the SDK's first version read), or a bare task object. `None` for no content.
pub fn single_task(value: Value) -> labelmux_core::Result<Option<SamaTask>> {
    match value {
        Value::Object(mut o) => {
            if let Some(t @ Value::Object(_)) = o.remove("task") {
                return decode(t, "task").map(Some);
            }
            if o.contains_key("id") {
                return decode(Value::Object(o), "task").map(Some);
            }
            match o.remove("tasks") {
                Some(list) => Ok(task_list(serde_json::json!({ "tasks": list }))?
                    .into_iter()
                    .next()),
                None => Ok(None),
            }
        }
        Value::Array(_) => Ok(task_list(value)?.into_iter().next()),
        _ => Ok(None),
    }
}

/// The tasks of a list response body, decoded in one pass from the bytes (no intermediate
/// `Value` of the page; each task decoded once, as `T`). Same envelopes as [`task_list`]:
/// `{"tasks": [...]}`, `{"task": {...}}`, a bare array, and "no content" (an empty or
/// non-JSON body, `null`, `{}`, `{"tasks": null}`) as an empty page. A body that is JSON but
/// not a task list, or a task that does not decode, is an error.
pub fn task_list_from_slice<T: DeserializeOwned>(body: &[u8]) -> labelmux_core::Result<Vec<T>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    match serde_json::from_slice::<TaskListBody<T>>(body) {
        Ok(list) => Ok(list.0),
        // Not JSON at all: Sama's SDK treats such 2xx bodies as no content.
        Err(e)
            if matches!(
                e.classify(),
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof
            ) =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(labelmux_core::Error::decode(format!(
            "unexpected task list from Sama: {e}"
        ))),
    }
}

/// A task-list body as a list of `T` (see [`task_list_from_slice`]).
struct TaskListBody<T>(Vec<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for TaskListBody<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TaskListVisitor(std::marker::PhantomData))
    }
}

struct TaskListVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: DeserializeOwned> serde::de::Visitor<'de> for TaskListVisitor<T> {
    type Value = TaskListBody<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a task list (`{\"tasks\": [...]}`, `{\"task\": {...}}` or an array)")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(TaskListBody(Vec::new()))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(TaskListBody(Vec::new()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<T>()? {
            items.push(item);
        }
        Ok(TaskListBody(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tasks: Option<Vec<T>> = None;
        let mut task: Option<Box<serde_json::value::RawValue>> = None;
        while let Some(key) = map.next_key::<EnvelopeKey>()? {
            match key {
                EnvelopeKey::Tasks => tasks = map.next_value::<TasksMember<T>>()?.0,
                EnvelopeKey::Task => task = Some(map.next_value()?),
                EnvelopeKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        match (tasks, task) {
            (Some(items), _) => Ok(TaskListBody(items)),
            // Kept raw until the end: `tasks`, if present, wins whatever the member order.
            (None, Some(t)) if t.get().starts_with('{') => serde_json::from_str(t.get())
                .map(|t| TaskListBody(vec![t]))
                .map_err(A::Error::custom),
            (None, _) => Ok(TaskListBody(Vec::new())),
        }
    }
}

/// A member name of the task-list envelope, read without allocating.
enum EnvelopeKey {
    Tasks,
    Task,
    Other,
}

impl<'de> Deserialize<'de> for EnvelopeKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = EnvelopeKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnvelopeKey, E> {
                Ok(match v {
                    "tasks" => EnvelopeKey::Tasks,
                    "task" => EnvelopeKey::Task,
                    _ => EnvelopeKey::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// The `tasks` member: an array of `T`, or `null` (absent); anything else is an error.
struct TasksMember<T>(Option<Vec<T>>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for TasksMember<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MemberVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: DeserializeOwned> serde::de::Visitor<'de> for MemberVisitor<T> {
            type Value = TasksMember<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`tasks` to be an array")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(TasksMember(None))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(TasksMember(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                TaskListVisitor::<T>(std::marker::PhantomData)
                    .visit_seq(seq)
                    .map(|l| TasksMember(Some(l.0)))
            }
        }
        d.deserialize_any(MemberVisitor(std::marker::PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/// Answer to step 1 of batch creation: a batch waiting for its task file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self")]
pub struct WaitingBatch {
    /// The new batch's id.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub batch_id: String,
    /// Pre-signed URL to PUT the task array to (no `access_key`; valid 4 hours).
    pub tasks_put_url: String,
    /// The response JSON, unchanged (it holds a pre-signed URL: do not log it).
    #[serde(skip)]
    pub raw: Value,
}
keep_raw!(WaitingBatch);

/// Answer to `continue.json` (step 3): at least the batch id, maybe the ids of tasks to be
/// created.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(remote = "Self")]
pub struct BatchStarted {
    /// The batch id, if echoed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub batch_id: Option<String>,
    /// Task ids, if listed (`task_ids`, or `tasks` as ids or objects with an `id`).
    #[serde(default, alias = "tasks", deserialize_with = "lenient_ids")]
    pub task_ids: Vec<String>,
    /// The response JSON (`Null` if Sama sent no content).
    #[serde(skip)]
    pub raw: Value,
}
keep_raw!(BatchStarted);

fn lenient_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| match v {
                Value::Object(o) => o.get("id").and_then(lenient::scalar_string),
                other => lenient::scalar_string(other),
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// One task entry of a batch-creation job.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(remote = "Self")]
pub struct BatchTaskEntry {
    /// The created task's id (absent for failed entries).
    #[serde(default, alias = "task_id", deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// `queued`, `preprocessing`, `ready`, `failed`, `created` or `canceled`.
    #[serde(default, alias = "state", deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    /// Position in the uploaded array, where Sama reports it.
    #[serde(
        default,
        alias = "row",
        alias = "position",
        deserialize_with = "lenient::opt_u64"
    )]
    pub index: Option<u64>,
    /// The submitted data (failed entries only, unless `omit_failed_task_data`).
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub data: Option<Value>,
    /// Error messages (`type: message`), for failed entries.
    #[serde(default, alias = "error", deserialize_with = "lenient_messages")]
    pub errors: Vec<String>,
    /// The entry's JSON, unchanged.
    #[serde(skip)]
    pub raw: Value,
}
keep_raw!(BatchTaskEntry);

/// The whole batch-creation job: job-level fields plus every task entry (across pages, when
/// read with `SamaClient::get_status_batch_creation_job`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(remote = "Self")]
pub struct BatchJob {
    /// The batch id.
    #[serde(default, alias = "id", deserialize_with = "lenient::opt_string")]
    pub batch_id: Option<String>,
    /// Job status (`waiting`, `processing`, `completed`, `canceled`, `failed`, …).
    #[serde(default, alias = "state", deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    /// Count of tasks created.
    #[serde(
        default,
        alias = "created_count",
        deserialize_with = "lenient::opt_u64"
    )]
    pub tasks_created: Option<u64>,
    /// Messages logged during creation.
    #[serde(default, deserialize_with = "lenient_messages")]
    pub messages: Vec<String>,
    /// Task entries.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub tasks: Vec<BatchTaskEntry>,
    /// The (first page's) JSON without its `tasks` array.
    #[serde(skip)]
    pub raw: Value,
}

impl<'de> Deserialize<'de> for BatchJob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut raw = Value::deserialize(d)?;
        let mut job = BatchJob::deserialize(&raw).map_err(D::Error::custom)?;
        if let Value::Object(o) = &mut raw {
            o.remove("tasks");
        }
        job.raw = raw;
        Ok(job)
    }
}

// ---------------------------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------------------------

/// Project information (`GET projects/{id}.json`), bare or inside `{"project": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(remote = "Self")]
pub struct SamaProject {
    /// Project id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// Name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// State (e.g. `active`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub state: Option<String>,
    /// Type (e.g. `image_annotation`).
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub project_type: Option<String>,
    /// Description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Country code of asset storage.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub asset_country_code: Option<String>,
    /// Project group.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub project_group: Option<String>,
    /// Client name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub client: Option<String>,
    /// The response JSON, unchanged (envelope included).
    #[serde(skip)]
    pub raw: Value,
}

impl<'de> Deserialize<'de> for SamaProject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        let inner = match raw.get("project") {
            Some(p @ Value::Object(_)) => p,
            _ => &raw,
        };
        let mut p = SamaProject::deserialize(inner).map_err(D::Error::custom)?;
        p.raw = raw;
        Ok(p)
    }
}

/// Project statistics (`GET projects/{id}/stats.json`). Sama does not publish the shape, so
/// only the raw JSON is kept, with a lenient reader of per-state counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamaStats {
    /// The response JSON, unchanged.
    pub raw: Value,
}

impl SamaStats {
    /// Task counts keyed by the state names Sama used, read from the first place that holds
    /// any: `tasks`, `tasks_by_state`, `states`, `counts`, `task_counts`, or the top level.
    /// A key counts if it names a task state (`new`, `in progress`/`in_progress`, …) and its
    /// value is a non-negative integer (or a numeric string, or an object with a `count`).
    pub fn state_counts(&self) -> BTreeMap<String, u64> {
        let candidates = ["tasks", "tasks_by_state", "states", "counts", "task_counts"];
        let mut places: Vec<&JsonMap> = candidates
            .iter()
            .filter_map(|k| self.raw.get(*k).and_then(Value::as_object))
            .collect();
        if let Some(top) = self.raw.as_object() {
            places.push(top);
        }
        for place in places {
            let counts: BTreeMap<String, u64> = place
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        labelmux_core::TaskState::parse(k),
                        labelmux_core::TaskState::Other(_)
                    )
                })
                .filter_map(|(k, v)| count_of(v).map(|n| (k.clone(), n)))
                .collect();
            if !counts.is_empty() {
                return counts;
            }
        }
        BTreeMap::new()
    }
}

fn count_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(o) => o.get("count").and_then(count_of),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn delivered_task_example_from_the_spec_decodes() {
        let v = json!({
          "id": "63f7d35730412f0057220a64",
          "project_id": 13470,
          "created_at": "2023-02-23T20:59:35.210Z",
          "delivered_at": null,
          "state": "completed",
          "data": {"url": "https://assets.example/teddy-bear.jpg", "image Width": "6000"},
          "answers": {"image quality": "clear", "image light": {"dark": "0", "bright": "1"}},
          "submitter_ids_by_step": {"Step A": 13204},
          "_extras": {},
          "brand_new_field": [1, 2]
        });
        let t: SamaTask = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(t.id, "63f7d35730412f0057220a64");
        assert_eq!(t.project_id.as_deref(), Some("13470"));
        assert_eq!(t.state.as_deref(), Some("completed"));
        assert_eq!(
            t.created_at,
            Some(
                Utc.with_ymd_and_hms(2023, 2, 23, 20, 59, 35).unwrap()
                    + chrono::Duration::milliseconds(210)
            )
        );
        assert_eq!(t.delivered_at, None);
        assert_eq!(t.data["image Width"], json!("6000"));
        assert_eq!(t.answers.unwrap()["image quality"], json!("clear"));
        assert_eq!(t.submitter_ids_by_step.unwrap()["Step A"], json!(13204));
        assert_eq!(t.extras, Some(JsonMap::new()));
        assert_eq!(t.raw, v, "raw keeps unknown members");
    }

    #[test]
    fn ids_as_strings_nulls_and_legacy_timestamps_are_tolerated() {
        let v = json!({
            "id": 42, "project_id": "117", "batch_id": 58555, "client_batch_id": null,
            "state": null, "created_at": "20130715T04:45:57", "delivered_at": "not a date",
            "completed_at": 12, "priority": "-5", "data": null, "answers": null,
            "_extras": null
        });
        let t: SamaTask = serde_json::from_value(v).unwrap();
        assert_eq!(t.id, "42");
        assert_eq!(t.project_id.as_deref(), Some("117"));
        assert_eq!(t.batch_id.as_deref(), Some("58555"));
        assert_eq!(t.client_batch_id, None);
        assert_eq!(t.state, None);
        assert_eq!(
            t.created_at,
            Some(Utc.with_ymd_and_hms(2013, 7, 15, 4, 45, 57).unwrap())
        );
        assert_eq!(t.delivered_at, None);
        assert_eq!(t.completed_at, None);
        assert_eq!(t.priority, Some(-5));
        assert!(t.data.is_empty());
        assert_eq!(t.answers, None);
        assert_eq!(t.extras, None);
    }

    #[test]
    fn a_task_without_an_id_is_a_decode_error() {
        assert!(serde_json::from_value::<SamaTask>(json!({"state": "new"})).is_err());
    }

    #[test]
    fn both_single_task_envelopes_and_bare_objects() {
        let task = json!({"id": "a1", "state": "new"});
        for v in [
            json!({"task": task}),
            json!({"tasks": [task]}),
            task.clone(),
            json!([task]),
        ] {
            let t = single_task(v.clone())
                .unwrap()
                .unwrap_or_else(|| panic!("{v}"));
            assert_eq!(t.id, "a1");
            assert_eq!(t.state.as_deref(), Some("new"));
        }
        for empty in [json!(null), json!({}), json!({"tasks": []}), json!("x")] {
            assert_eq!(single_task(empty).unwrap(), None);
        }
    }

    #[test]
    fn task_lists_accept_no_content_and_reject_garbage() {
        assert!(task_list(json!(null)).unwrap().is_empty());
        assert!(task_list(json!({})).unwrap().is_empty());
        assert!(task_list(json!({"tasks": null})).unwrap().is_empty());
        assert!(task_list(json!([])).unwrap().is_empty());
        let two = task_list(json!({"tasks": [{"id": 1}, {"id": "2"}], "page": 1})).unwrap();
        assert_eq!(
            two.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        let one = task_list(json!({"task": {"id": "x"}})).unwrap();
        assert_eq!(one[0].id, "x");
        let err = task_list(json!({"tasks": "oops"})).unwrap_err();
        assert_eq!(err.kind(), labelmux_core::ErrorKind::Decode);
        assert!(task_list(json!({"tasks": [{"no_id": 1}]})).is_err());
        assert!(task_list(json!(7)).is_err());
    }

    #[test]
    fn task_lists_from_bytes_decode_like_task_list_from_values() {
        let cases = [
            json!(null),
            json!({}),
            json!({"tasks": null}),
            json!([]),
            json!({"tasks": [{"id": 1}, {"id": "2", "answers": {"a": [1, {"b": null}]}}], "page": 1}),
            json!({"page": 1, "task": {"id": "x", "data": {"url": "u"}}}),
            json!({"task": {"id": "x"}, "tasks": [{"id": "y"}]}),
            json!({"task": "not an object"}),
            json!([{"id": "a1", "state": "new", "brand_new": [1, 2]}]),
        ];
        for v in cases {
            let bytes = serde_json::to_vec(&v).unwrap();
            let from_bytes: Vec<SamaTask> = task_list_from_slice(&bytes).unwrap();
            assert_eq!(from_bytes, task_list(v.clone()).unwrap(), "{v}");
            // Tasks as plain JSON: each is the task's JSON, unchanged.
            let raws: Vec<Value> = task_list_from_slice(&bytes).unwrap();
            assert_eq!(
                raws,
                from_bytes.iter().map(|t| t.raw.clone()).collect::<Vec<_>>()
            );
        }
        for garbage in [
            json!({"tasks": "oops"}),
            json!({"tasks": {"id": 1}}),
            json!({"tasks": [{"no_id": 1}]}),
            json!(7),
            json!("text"),
        ] {
            let bytes = serde_json::to_vec(&garbage).unwrap();
            let err = task_list_from_slice::<SamaTask>(&bytes).unwrap_err();
            assert_eq!(err.kind(), labelmux_core::ErrorKind::Decode, "{garbage}");
            assert!(task_list(garbage).is_err());
        }
    }

    #[test]
    fn empty_or_non_json_task_list_bodies_are_no_content() {
        for body in [
            &b""[..],
            b"  \n",
            b"<html>oops</html>",
            b"{\"tasks\": [",
            b"OK",
        ] {
            let tasks: Vec<SamaTask> = task_list_from_slice(body).unwrap();
            assert!(tasks.is_empty(), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn batch_job_keeps_job_fields_and_every_entry() {
        let v = json!({
            "batch_id": 123456, "status": "completed", "tasks_created": "2",
            "messages": ["started", {"type": "warn", "message": "slow asset"}],
            "tasks": [
                {"id": "63f7d35730412f0057220a64", "status": "created"},
                {"status": "failed", "data": {"url": "x"},
                 "errors": [{"type": "InvalidInputSchema", "message": "bad input"}]},
                {"status": "queued", "index": 2, "errors": null}
            ],
            "future": true
        });
        let job: BatchJob = serde_json::from_value(v).unwrap();
        assert_eq!(job.batch_id.as_deref(), Some("123456"));
        assert_eq!(job.status.as_deref(), Some("completed"));
        assert_eq!(job.tasks_created, Some(2));
        assert_eq!(job.messages, ["started", "warn: slow asset"]);
        assert_eq!(job.tasks.len(), 3);
        assert_eq!(job.tasks[0].id.as_deref(), Some("63f7d35730412f0057220a64"));
        assert_eq!(job.tasks[1].errors, ["InvalidInputSchema: bad input"]);
        assert_eq!(job.tasks[1].data, Some(json!({"url": "x"})));
        assert_eq!(job.tasks[2].index, Some(2));
        assert!(job.tasks[2].errors.is_empty());
        assert!(
            job.raw.get("tasks").is_none(),
            "raw is the job without entries"
        );
        assert_eq!(job.raw["future"], json!(true));
        let empty: BatchJob = serde_json::from_value(json!({"status": "waiting"})).unwrap();
        assert!(empty.tasks.is_empty());
        let single_error: BatchJob =
            serde_json::from_value(json!({"tasks": [{"status": "failed", "error": "boom"}]}))
                .unwrap();
        assert_eq!(single_error.tasks[0].errors, ["boom"]);
    }

    #[test]
    fn waiting_batch_and_started_batch() {
        let w: WaitingBatch = serde_json::from_value(
            json!({"batch_id": 58555, "tasks_put_url": "https://b.s3/x?X-Amz-Signature=s", "x": 1}),
        )
        .unwrap();
        assert_eq!(w.batch_id, "58555");
        assert!(w.tasks_put_url.starts_with("https://b.s3/"));
        assert!(serde_json::from_value::<WaitingBatch>(json!({"batch_id": 1})).is_err());
        let s: BatchStarted =
            serde_json::from_value(json!({"batch_id": 123456, "tasks": [{"id": "a"}, "b", 3]}))
                .unwrap();
        assert_eq!(s.batch_id.as_deref(), Some("123456"));
        assert_eq!(s.task_ids, ["a", "b", "3"]);
    }

    #[test]
    fn project_bare_or_enveloped() {
        let bare = json!({"id": 13470, "name": "Vehicles", "state": "active",
                          "type": "image_annotation", "client": null, "x": 1});
        let p: SamaProject = serde_json::from_value(bare.clone()).unwrap();
        assert_eq!(p.id.as_deref(), Some("13470"));
        assert_eq!(p.project_type.as_deref(), Some("image_annotation"));
        assert_eq!(p.client, None);
        assert_eq!(p.raw, bare);
        let wrapped: SamaProject =
            serde_json::from_value(json!({"project": {"id": "7", "name": "N"}})).unwrap();
        assert_eq!(wrapped.id.as_deref(), Some("7"));
        assert_eq!(wrapped.name.as_deref(), Some("N"));
    }

    #[test]
    fn stats_counts_are_found_where_they_are() {
        let s = SamaStats {
            raw: json!({"from": null, "tasks": {"new": 3, "in progress": 1, "delivered": "2",
                        "total": 6, "rejected": -1}}),
        };
        let c = s.state_counts();
        assert_eq!(c.get("new"), Some(&3));
        assert_eq!(c.get("in progress"), Some(&1));
        assert_eq!(c.get("delivered"), Some(&2));
        assert!(!c.contains_key("total") && !c.contains_key("rejected"));
        let top = SamaStats {
            raw: json!({"in_progress": {"count": 4}, "completed": 1}),
        };
        assert_eq!(top.state_counts().get("in_progress"), Some(&4));
        assert!(SamaStats { raw: json!("?") }.state_counts().is_empty());
    }

    #[test]
    fn records_serialize_like_the_sdk() {
        let mut data = JsonMap::new();
        data.insert("url".into(), json!("u"));
        let r = TaskRecord {
            data,
            priority: Some(0),
            submit: Some(false),
            extra: JsonMap::new(),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"data": {"url": "u"}, "priority": 0, "submit": false})
        );
        let req = CreateBatchRequest {
            notification_email: None,
            tasks_file_name: "labelmux".into(),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"notification_email": null, "tasks_file_name": "labelmux"})
        );
    }
}
