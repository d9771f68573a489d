//! Sama wire types → the core model, and the [`Provider`] implementation.
//!
//! Sama is the reference backend: the core model uses its vocabulary, so task states map one to
//! one and `output_` pre-annotations are Sama's own convention.

use crate::client::{
    decode_raw_task, CreateBatchOptions, DeliveredTasksQuery, MultiTaskStatusQuery, SamaClient,
    SinceLastCallQuery, DEFAULT_TASKS_FILE_NAME, PAGE_SIZE,
};
use crate::wire::{BatchJob, SamaTask, TaskRecord};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use labelmux_core::{
    Batch, BatchCounts, BatchId, BatchReceipt, BatchSpec, BatchStatus, Capabilities, DeleteReport,
    Delivery, DeliveryQuery, DeliverySince, Error, ErrorKind, JsonMap, Progress, Project,
    ProjectId, ProjectStats, Provider, Result, Task, TaskCreationFailure, TaskFilter, TaskId,
    TaskSpec, TaskSpecStream, TaskState, Vendor, PRE_ANNOTATION_PREFIX,
};
// The shared lenient decoding helpers (not this crate's `wire` module of Sama types).
use labelmux_core::wire;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

const VENDOR: Vendor = Vendor::Sama;

/// Ids per bulk request (priority update, delete); Sama publishes no limit, smaller requests
/// are kinder to it.
const BULK_CHUNK: usize = 1000;

/// How the adapter maps labelmux concepts Sama has no field for onto task inputs.
///
/// Sama stores only task inputs. labelmux's [`TaskSpec::external_key`] and the batch name
/// ([`BatchSpec::name`], Sama's "client batch id") therefore travel as inputs, which **must
/// exist in the Sama project** (Sama rejects unknown inputs with `InvalidInputSchema`).
#[derive(Debug, Clone, PartialEq)]
pub struct SamaOptions {
    /// Input that carries the external key (default `external_id`); `None` drops the key.
    pub external_key_input: Option<String>,
    /// Input that carries the batch name as client batch id (default `client_batch_id`);
    /// `None` drops the name.
    pub client_batch_id_input: Option<String>,
    /// Directory of the temporary spool file of uploads (default: the system's temp dir).
    pub spool_dir: Option<PathBuf>,
}

impl Default for SamaOptions {
    fn default() -> Self {
        SamaOptions {
            external_key_input: Some("external_id".to_owned()),
            client_batch_id_input: Some("client_batch_id".to_owned()),
            spool_dir: None,
        }
    }
}

/// Sama behind the vendor-neutral [`Provider`] API.
#[derive(Debug, Clone)]
pub struct SamaProvider {
    client: SamaClient,
    options: SamaOptions,
}

impl SamaProvider {
    /// A provider with the default [`SamaOptions`].
    pub fn new(client: SamaClient) -> Self {
        Self::with_options(client, SamaOptions::default())
    }

    /// A provider with these options.
    pub fn with_options(client: SamaClient, options: SamaOptions) -> Self {
        SamaProvider { client, options }
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

fn op_err(e: Error, op: &str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

// ---------------------------------------------------------------------------------------------
// Model → wire
// ---------------------------------------------------------------------------------------------

/// The creation record of task number `index` (0-based, for messages):
/// `{"data": inputs ∪ {"output_<name>": pre-annotation} ∪ {external key input} ∪ {client batch
/// id input}, "priority": task's or batch's or 0, "submit": batch's}`. A value that would
/// overwrite a different one already in the inputs is a validation error.
pub fn build_record(
    spec: TaskSpec,
    batch: &BatchSpec,
    options: &SamaOptions,
    index: u64,
) -> Result<TaskRecord> {
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
        priority,
        metadata: _, // Sama stores no free-form metadata
    } = spec;
    let mut data = inputs;
    let mut put = |key: String, value: Value, what: &str| -> Result<()> {
        wire::insert_unless_conflict(&mut data, &key, value).map_err(|_| {
            invalid(format!(
                "{what} would overwrite input `{key}` which holds a different value"
            ))
        })
    };
    for (name, value) in pre_annotations {
        put(
            format!("{PRE_ANNOTATION_PREFIX}{name}"),
            value,
            &format!("pre-annotation `{name}`"),
        )?;
    }
    if let (Some(input), Some(key)) = (&options.external_key_input, external_key) {
        put(input.clone(), Value::String(key), "the external key")?;
    }
    if let (Some(input), Some(name)) = (&options.client_batch_id_input, &batch.name) {
        put(input.clone(), Value::String(name.clone()), "the batch name")?;
    }
    Ok(TaskRecord {
        data,
        priority: Some(priority.or(batch.priority).unwrap_or(0)),
        submit: Some(batch.submit),
        extra: JsonMap::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Wire → model
// ---------------------------------------------------------------------------------------------

fn external_key_of(data: Option<&Value>, options: &SamaOptions) -> Option<String> {
    let input = options.external_key_input.as_deref()?;
    data?.get(input).and_then(wire::key_string)
}

/// A Sama task as a core [`Task`]. `inputs` are `data` without `output_` keys; the state maps
/// one to one; `project` fills in a missing `project_id`.
pub fn task_from_wire(t: SamaTask, project: &ProjectId, options: &SamaOptions) -> Task {
    let external_key = options
        .external_key_input
        .as_deref()
        .and_then(|i| t.data.get(i))
        .and_then(wire::key_string);
    let inputs: JsonMap = t
        .data
        .into_iter()
        .filter(|(k, _)| !k.starts_with(PRE_ANNOTATION_PREFIX))
        .collect();
    let vendor_state = t.state.unwrap_or_default();
    Task {
        id: TaskId::new(t.id),
        external_key,
        project_id: t
            .project_id
            .map(ProjectId::new)
            .unwrap_or_else(|| project.clone()),
        batch_id: t.batch_id.map(BatchId::new),
        state: TaskState::parse(&vendor_state),
        vendor_state,
        priority: t.priority.and_then(|p| i32::try_from(p).ok()),
        created_at: t.created_at,
        delivered_at: t.delivered_at,
        completed_at: t.completed_at,
        inputs,
        answers: t.answers,
        raw: t.raw,
    }
}

/// A delivered Sama task as a core [`Delivery`]. Its state is not looked at: Sama delivers
/// tasks whose state may read `completed`. No checkpoint: Sama keeps consumer cursors.
pub fn delivery_from_wire(t: SamaTask, project: &ProjectId, options: &SamaOptions) -> Delivery {
    let external_key = options
        .external_key_input
        .as_deref()
        .and_then(|i| t.data.get(i))
        .and_then(wire::key_string);
    Delivery {
        task_id: TaskId::new(t.id),
        external_key,
        project_id: t
            .project_id
            .map(ProjectId::new)
            .unwrap_or_else(|| project.clone()),
        batch_id: t.batch_id.map(BatchId::new),
        delivered_at: t.delivered_at,
        answers: t.answers.unwrap_or(Value::Null),
        raw: t.raw,
        checkpoint: None,
    }
}

/// A delivered task's JSON as a core [`Delivery`], exactly as [`delivery_from_wire`] maps the
/// [`SamaTask`] decoded from it, but without building the `SamaTask`: the few fields needed are
/// read by reference and the JSON itself becomes `raw` (moved, not copied). Only `answers` is
/// copied: `Delivery` holds it beside `raw`, and `raw` keeps the vendor's JSON unchanged.
pub fn delivery_from_value(
    raw: Value,
    project: &ProjectId,
    options: &SamaOptions,
) -> Result<Delivery> {
    let Value::Object(task) = &raw else {
        return Err(Error::decode(format!(
            "unexpected delivered task from Sama: got {}",
            wire::json_kind(&raw)
        )));
    };
    let task_id = match task.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => wire::string_or_number(v).map_err(|e| {
            Error::decode(format!("unexpected delivered task from Sama: `id`: {e}"))
        })?,
        None => {
            return Err(Error::decode(
                "unexpected delivered task from Sama: missing field `id`",
            ))
        }
    };
    let lenient = |name: &str| task.get(name).and_then(wire::scalar_string);
    let external_key = options
        .external_key_input
        .as_deref()
        .and_then(|i| task.get("data")?.as_object()?.get(i))
        .and_then(wire::key_string);
    let answers = match task.get("answers") {
        None | Some(Value::Null) => Value::Null,
        Some(a) => a.clone(),
    };
    Ok(Delivery {
        task_id: TaskId::new(task_id),
        external_key,
        project_id: lenient("project_id")
            .map(ProjectId::new)
            .unwrap_or_else(|| project.clone()),
        batch_id: lenient("batch_id").map(BatchId::new),
        delivered_at: task
            .get("delivered_at")
            .and_then(Value::as_str)
            .and_then(wire::timestamp),
        answers,
        raw,
        checkpoint: None,
    })
}

/// A batch-creation job as a core [`Batch`]: counts of created, failed, pending (`queued`,
/// `preprocessing`, `ready`, or any unknown entry status) and canceled entries, and every
/// failure with its index, data and errors.
pub fn batch_from_job(
    job: BatchJob,
    project: &ProjectId,
    batch: &BatchId,
    options: &SamaOptions,
) -> Batch {
    let mut counts = BatchCounts::default();
    let mut failures = Vec::new();
    let total = job.tasks.len() as u64;
    for (position, entry) in job.tasks.into_iter().enumerate() {
        let status = entry
            .status
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match status.as_str() {
            "created" => counts.created += 1,
            "canceled" | "cancelled" => counts.canceled += 1,
            "failed" | "error" => {
                counts.failed += 1;
                failures.push(TaskCreationFailure {
                    index: Some(entry.index.unwrap_or(position as u64)),
                    external_key: external_key_of(entry.data.as_ref(), options),
                    data: entry.data,
                    errors: entry.errors,
                });
            }
            _ => counts.pending += 1,
        }
    }
    // Entries may be paged out or absent; Sama's own count is then the better figure.
    counts.created = counts.created.max(job.tasks_created.unwrap_or(0));
    counts.submitted = (total > 0).then_some(total);
    let vendor_status = job.status.unwrap_or_default();
    Batch {
        id: job
            .batch_id
            .map(BatchId::new)
            .unwrap_or_else(|| batch.clone()),
        project_id: project.clone(),
        name: None,
        status: BatchStatus::parse(&vendor_status),
        vendor_status,
        counts,
        failures,
        messages: job.messages,
        raw: job.raw,
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

impl SamaProvider {
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

#[async_trait]
impl Provider for SamaProvider {
    fn vendor(&self) -> Vendor {
        VENDOR
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            create_batch: true,
            cancel_batch: true,
            batch_status: true,
            get_task: true,
            list_tasks: true,
            deliveries_since: true,
            deliveries_since_last_call: true,
            server_side_consumer: true,
            reject_task: true,
            set_priority: true,
            delete_tasks: true,
            project_info: true,
            project_stats: true,
            task_schema: true,
            // Sama does not deduplicate on any input: resubmitting creates a second task.
            idempotent_create: false,
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
        let options = CreateBatchOptions {
            notification_email: spec.notification_email.clone(),
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
            project_id: project.clone(),
            submitted: created.submitted,
            created: 0, // Sama creates asynchronously; see batch_status
            failures: Vec::new(),
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
            .await
            .map(|_| ())
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

    fn list_tasks<'a>(
        &'a self,
        project: &'a ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'a, Result<Task>> {
        let query = MultiTaskStatusQuery {
            batch_id: filter.batch_id,
            client_batch_id: filter.client_batch_id,
            from: filter.from,
            to: filter.to,
            state: filter.state,
            omit_answers: !filter.include_answers,
            ..MultiTaskStatusQuery::default()
        };
        self.client
            .get_multi_task_status(project, query)
            .map(move |r| r.map(|t| task_from_wire(t, project, &self.options)))
            .boxed()
    }

    fn deliveries<'a>(
        &'a self,
        project: &'a ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'a, Result<Delivery>> {
        let DeliveryQuery {
            since,
            batch_id,
            client_batch_id,
            task_id,
        } = query;
        let tasks = match since {
            DeliverySince::Beginning | DeliverySince::Timestamp(_) => {
                let from = match since {
                    DeliverySince::Timestamp(ts) => Some(ts),
                    _ => None,
                };
                self.client.delivered_tasks_raw(
                    project,
                    DeliveredTasksQuery {
                        batch_id,
                        client_batch_id,
                        from,
                        task_id,
                        ..DeliveredTasksQuery::default()
                    },
                )
            }
            DeliverySince::LastCall { consumer } => {
                let invalid = |msg: &str| {
                    let e = op_err(Error::validation(msg), "deliveries");
                    stream::once(async move { Err(e) }).boxed()
                };
                if consumer.trim().is_empty() {
                    invalid("the consumer name is empty")
                } else if task_id.is_some() {
                    // Filtering client-side would advance the cursor past other deliveries.
                    invalid("Sama's since-last-call endpoint has no task_id filter; use DeliverySince::Beginning with task_id")
                } else {
                    self.client.delivered_tasks_since_last_call_raw(
                        project,
                        SinceLastCallQuery {
                            consumer: Some(consumer),
                            batch_id,
                            client_batch_id,
                            client_batch_id_match_type: None,
                            limit: PAGE_SIZE,
                        },
                    )
                }
            }
        };
        // Pages wait as raw JSON; each task becomes a `Value` (once) when it is taken.
        tasks
            .map(move |r| {
                r.and_then(|raw| {
                    let value = decode_raw_task::<Value>(&raw, "deliveries")?;
                    drop(raw);
                    delivery_from_value(value, project, &self.options)
                        .map_err(|e| op_err(e, "deliveries"))
                })
            })
            .boxed()
    }

    async fn reject_task(
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
        Ok(())
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
        // Sama's answer to delete_tasks is undocumented, so each task's fate is read back.
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
        let mut report = DeleteReport::default();
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
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<ProjectStats> {
        let stats = self
            .client
            .get_project_stats(project, from, to)
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
    use crate::wire::BatchJob;
    use serde_json::json;

    fn obj(v: Value) -> JsonMap {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn record_carries_inputs_prefixed_pre_annotations_key_and_batch_name() {
        let spec = TaskSpec::new(obj(json!({"url": "https://x/1.jpg", "name": "one"})))
            .with_pre_annotation("label", json!("cat"))
            .with_pre_annotation("boxes", json!({"layers": {}}))
            .with_external_key("img-1");
        let batch = BatchSpec {
            name: Some("speed_racer".into()),
            priority: Some(-3),
            submit: true,
            ..BatchSpec::default()
        };
        let r = build_record(spec, &batch, &SamaOptions::default(), 0).unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({
                "data": {
                    "url": "https://x/1.jpg", "name": "one",
                    "output_label": "cat", "output_boxes": {"layers": {}},
                    "external_id": "img-1", "client_batch_id": "speed_racer"
                },
                "priority": -3,
                "submit": true
            })
        );
    }

    #[test]
    fn record_priority_task_over_batch_over_zero_and_configurable_inputs() {
        let mut spec = TaskSpec::new(obj(json!({"url": "u"}))).with_external_key("k");
        spec.priority = Some(7);
        let batch = BatchSpec {
            priority: Some(-1),
            name: Some("b".into()),
            ..BatchSpec::default()
        };
        let opts = SamaOptions {
            external_key_input: Some("my key".into()),
            client_batch_id_input: None,
            spool_dir: None,
        };
        let r = build_record(spec, &batch, &opts, 0).unwrap();
        assert_eq!(r.priority, Some(7));
        assert_eq!(r.submit, Some(false));
        assert_eq!(r.data.get("my key"), Some(&json!("k")));
        assert!(!r.data.contains_key("external_id"));
        assert!(
            !r.data.contains_key("client_batch_id"),
            "batch name dropped"
        );
        let plain = build_record(
            TaskSpec::new(obj(json!({"url": "u"}))),
            &BatchSpec::default(),
            &opts,
            0,
        )
        .unwrap();
        assert_eq!(plain.priority, Some(0));
        assert_eq!(plain.data.len(), 1);
    }

    #[test]
    fn record_conflicts_are_validation_errors_naming_the_task() {
        let spec = TaskSpec::new(obj(json!({"output_label": "dog"})))
            .with_pre_annotation("label", json!("cat"));
        let err =
            build_record(spec, &BatchSpec::default(), &SamaOptions::default(), 4).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(err.message().contains("task 4") && err.message().contains("output_label"));
        let clash = TaskSpec::new(obj(json!({"external_id": "a"}))).with_external_key("b");
        assert!(build_record(clash, &BatchSpec::default(), &SamaOptions::default(), 0).is_err());
        // The same value twice is no conflict.
        let same = TaskSpec::new(obj(json!({"external_id": "a"}))).with_external_key("a");
        assert!(build_record(same, &BatchSpec::default(), &SamaOptions::default(), 0).is_ok());
    }

    fn sama_task(v: Value) -> SamaTask {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn task_maps_states_one_to_one_and_strips_output_inputs() {
        let project = ProjectId::new("1001");
        for state in TaskState::KNOWN.iter().take(7) {
            let t = sama_task(json!({"id": "t", "state": state.as_str()}));
            let task = task_from_wire(t, &project, &SamaOptions::default());
            assert_eq!(&task.state, state);
            assert_eq!(task.vendor_state, state.as_str());
        }
        let raw = json!({
            "id": "63f7d35730412f0057220a64", "project_id": 13470, "batch_id": 9,
            "state": "in progress", "priority": -2, "created_at": "2023-02-23T20:59:35.210Z",
            "data": {"url": "u", "external_id": "img-1", "output_label": "cat"},
            "answers": {"label": "dog"}
        });
        let task = task_from_wire(sama_task(raw.clone()), &project, &SamaOptions::default());
        assert_eq!(task.id.as_str(), "63f7d35730412f0057220a64");
        assert_eq!(task.project_id.as_str(), "13470");
        assert_eq!(task.batch_id.as_ref().map(BatchId::as_str), Some("9"));
        assert_eq!(task.state, TaskState::InProgress);
        assert_eq!(task.priority, Some(-2));
        assert_eq!(task.external_key.as_deref(), Some("img-1"));
        assert_eq!(
            task.inputs,
            obj(json!({"url": "u", "external_id": "img-1"}))
        );
        assert_eq!(task.answers, Some(json!({"label": "dog"})));
        assert_eq!(task.raw, raw);
        let odd = task_from_wire(
            sama_task(json!({"id": 1, "state": "on hold", "priority": 99999999999i64})),
            &project,
            &SamaOptions::default(),
        );
        assert_eq!(odd.state, TaskState::Other("on hold".into()));
        assert_eq!(odd.project_id, project, "missing project id is filled in");
        assert_eq!(
            odd.priority, None,
            "out-of-range priority is dropped, not wrapped"
        );
    }

    #[test]
    fn deliveries_are_not_filtered_on_state() {
        let d = delivery_from_wire(
            sama_task(
                json!({"id": "a", "state": "completed", "delivered_at": null,
                             "answers": {"x": 1}, "data": {"external_id": 5}}),
            ),
            &ProjectId::new("p"),
            &SamaOptions::default(),
        );
        assert_eq!(d.task_id.as_str(), "a");
        assert_eq!(d.delivered_at, None);
        assert_eq!(d.answers, json!({"x": 1}));
        assert_eq!(d.external_key.as_deref(), Some("5"));
        assert_eq!(d.checkpoint, None);
        let no_answers = delivery_from_wire(
            sama_task(json!({"id": "b"})),
            &ProjectId::new("p"),
            &SamaOptions {
                external_key_input: None,
                ..SamaOptions::default()
            },
        );
        assert_eq!(no_answers.answers, Value::Null);
        assert_eq!(no_answers.external_key, None);
    }

    #[test]
    fn deliveries_from_json_match_deliveries_from_sama_tasks() {
        let project = ProjectId::new("p");
        let cases = [
            json!({"id": "a", "state": "completed", "delivered_at": null,
                   "answers": {"x": 1, "y": [{"z": "w"}]}, "data": {"external_id": 5}}),
            json!({"id": 42, "project_id": 13470, "batch_id": "9",
                   "delivered_at": "2023-09-02T10:23:36.536Z", "answers": null,
                   "data": {"external_id": "", "url": "u"}, "extra": {"k": [1]}}),
            json!({"id": "b", "project_id": null, "batch_id": 1.5, "delivered_at": 17,
                   "data": [1, 2], "answers": "plain"}),
            json!({"id": "c", "delivered_at": "20130715T04:45:57", "data": {"my key": 3}}),
        ];
        for options in [
            SamaOptions::default(),
            SamaOptions {
                external_key_input: Some("my key".into()),
                ..SamaOptions::default()
            },
            SamaOptions {
                external_key_input: None,
                ..SamaOptions::default()
            },
        ] {
            for v in &cases {
                let via_task = delivery_from_wire(sama_task(v.clone()), &project, &options);
                let direct = delivery_from_value(v.clone(), &project, &options).unwrap();
                assert_eq!(direct, via_task, "{v}");
                assert_eq!(&direct.raw, v, "raw is the JSON unchanged");
            }
        }
        for bad in [
            json!({"state": "new"}),
            json!([1]),
            json!({"id": null}),
            json!({"id": [1]}),
        ] {
            let err =
                delivery_from_value(bad.clone(), &project, &SamaOptions::default()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{bad}");
            if bad.is_object() {
                // (A derived struct would read an array positionally; a task is an object.)
                assert!(serde_json::from_value::<SamaTask>(bad).is_err());
            }
        }
    }

    #[test]
    fn batch_job_maps_counts_and_keeps_every_failure() {
        let job: BatchJob = serde_json::from_value(json!({
            "batch_id": 77, "status": "processing", "tasks_created": 1,
            "messages": ["m1"],
            "tasks": [
                {"id": "a", "status": "created"},
                {"status": "failed", "data": {"url": 1, "external_id": "k2"},
                 "errors": [{"type": "InvalidInputSchema", "message": "url must be a string"}]},
                {"status": "queued"}, {"status": "preprocessing"}, {"status": "ready"},
                {"status": "canceled"},
                {"status": "failed", "index": 41, "errors": ["Invalid seeded output name(s): x"]}
            ]
        }))
        .unwrap();
        let b = batch_from_job(
            job,
            &ProjectId::new("p"),
            &BatchId::new("77"),
            &SamaOptions::default(),
        );
        assert_eq!(b.id.as_str(), "77");
        assert_eq!(b.status, BatchStatus::Processing);
        assert_eq!(b.vendor_status, "processing");
        assert_eq!(
            b.counts,
            BatchCounts {
                submitted: Some(7),
                created: 1,
                failed: 2,
                pending: 3,
                in_progress: None,
                completed: None,
                canceled: 1,
            }
        );
        assert_eq!(b.failures.len(), 2);
        assert_eq!(b.failures[0].index, Some(1));
        assert_eq!(b.failures[0].external_key.as_deref(), Some("k2"));
        assert_eq!(
            b.failures[0].errors,
            ["InvalidInputSchema: url must be a string"]
        );
        assert_eq!(b.failures[1].index, Some(41));
        assert_eq!(b.messages, ["m1"]);
        assert!(b.raw.get("tasks").is_none());
        // Sama's own created count wins when entries are missing.
        let summary: BatchJob =
            serde_json::from_value(json!({"status": "completed", "tasks_created": 1000})).unwrap();
        let b = batch_from_job(
            summary,
            &ProjectId::new("p"),
            &BatchId::new("9"),
            &SamaOptions::default(),
        );
        assert_eq!(b.counts.created, 1000);
        assert_eq!(b.counts.submitted, None);
        assert_eq!(b.status, BatchStatus::Completed);
        assert_eq!(b.id.as_str(), "9");
    }

    #[test]
    fn capabilities_are_all_but_idempotent_create() {
        let client = SamaClient::new(
            "https://api.sama.com/v2",
            labelmux_core::transport::SecretString::from("k"),
            Default::default(),
        )
        .unwrap();
        let caps = SamaProvider::new(client).capabilities();
        for (name, supported) in caps.entries() {
            assert_eq!(supported, name != "idempotent_create", "{name}");
        }
    }
}
