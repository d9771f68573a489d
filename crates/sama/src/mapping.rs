//! Sama wire types ↔ the core model: pure conversions, no I/O.
//!
//! Sama is the reference backend: the core model uses its vocabulary, so task states map one to
//! one; pre-annotations travel as `output_<target>` inputs, Sama's own convention.

use crate::provider::SamaOptions;
use crate::wire::{BatchJob, SamaTask, TaskRecord};
use labelmux_core::{
    Batch, BatchCounts, BatchId, BatchSpec, BatchStatus, Delivery, DeliveryId, Error, JsonMap,
    ProjectId, RawJson, Result, Task, TaskCreationFailure, TaskId, TaskSpec, TaskState, Vendor,
};
// The shared lenient decoding helpers (not this crate's `wire` module of Sama types).
use labelmux_core::lenient;
use serde_json::Value;

const VENDOR: Vendor = Vendor::Sama;

/// The prefix of pre-annotation inputs (`output_<name>`), Sama's convention.
pub const OUTPUT_PREFIX: &str = "output_";

/// Keys of [`BatchSpec::extensions`] Sama reads: `notification_email` (string), `submit`
/// (boolean: submit tasks with their pre-annotations at once).
pub const BATCH_EXTENSIONS: &[&str] = &["notification_email", "submit"];

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
    batch
        .extensions
        .check_known(VENDOR, "create_batch", BATCH_EXTENSIONS)?;
    let submit = match batch.extensions.get("submit") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(op_err(
                Error::validation(format!(
                    "option `submit` must be true or false, not {other}"
                )),
                "create_batch",
            ))
        }
    };
    // Sama stores no free-form metadata: `spec.metadata` is not sent.
    let TaskSpec {
        inputs,
        pre_annotations,
        external_key,
        priority,
        ..
    } = spec;
    let mut data = inputs;
    let mut put = |key: String, value: Value, what: &str| -> Result<()> {
        lenient::insert_unless_conflict(&mut data, &key, value).map_err(|_| {
            invalid(format!(
                "{what} would overwrite input `{key}` which holds a different value"
            ))
        })
    };
    for pre in pre_annotations {
        put(
            format!("{OUTPUT_PREFIX}{}", pre.target),
            pre.value,
            &format!("pre-annotation `{}`", pre.target),
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
        submit: Some(submit),
        extra: JsonMap::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Wire → model
// ---------------------------------------------------------------------------------------------

fn external_key_of(data: Option<&Value>, options: &SamaOptions) -> Option<String> {
    let input = options.external_key_input.as_deref()?;
    data?.get(input).and_then(lenient::key_string)
}

/// A Sama task as a core [`Task`]. `inputs` are `data` without `output_` keys; the state maps
/// one to one; `project` fills in a missing `project_id`.
pub fn task_from_wire(t: SamaTask, project: &ProjectId, options: &SamaOptions) -> Task {
    let external_key = options
        .external_key_input
        .as_deref()
        .and_then(|i| t.data.get(i))
        .and_then(lenient::key_string);
    let inputs: JsonMap = t
        .data
        .into_iter()
        .filter(|(k, _)| !k.starts_with(OUTPUT_PREFIX))
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
        answers: t.answers.map(RawJson::from),
        raw: RawJson::from(t.raw),
    }
}

/// A delivered Sama task as a core [`Delivery`]. Its state is not looked at: Sama delivers
/// tasks whose state may read `completed`. No checkpoint: Sama keeps consumer cursors.
pub fn delivery_from_wire(t: SamaTask, project: &ProjectId, options: &SamaOptions) -> Delivery {
    let external_key = options
        .external_key_input
        .as_deref()
        .and_then(|i| t.data.get(i))
        .and_then(lenient::key_string);
    Delivery {
        id: DeliveryId::new(t.id.clone()),
        labelset: None,
        review: None,
        updated_at: None,
        task_id: TaskId::new(t.id),
        external_key,
        project_id: t
            .project_id
            .map(ProjectId::new)
            .unwrap_or_else(|| project.clone()),
        batch_id: t.batch_id.map(BatchId::new),
        delivered_at: t.delivered_at,
        answers: t.answers.map(RawJson::from).unwrap_or_default(),
        raw: RawJson::from(t.raw),
        checkpoint: None,
    }
}

/// A delivered task's JSON (`task`, parsed from `raw`, its text) as a core [`Delivery`],
/// exactly as [`delivery_from_wire`] maps the [`SamaTask`] decoded from it, but without building
/// the `SamaTask`: the few fields needed are read by reference and `raw` is kept as it is. This
/// is the general decoder of delivered tasks; pages of the usual shape take a faster path that
/// builds no `Value` (and gives the same deliveries).
pub fn delivery_from_value(
    task: &Value,
    raw: RawJson,
    project: &ProjectId,
    options: &SamaOptions,
) -> Result<Delivery> {
    let Value::Object(task) = task else {
        return Err(Error::decode(format!(
            "unexpected delivered task from Sama: got {}",
            lenient::json_kind(task)
        )));
    };
    let task_id = match task.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => lenient::string_or_number(v).map_err(|e| {
            Error::decode(format!("unexpected delivered task from Sama: `id`: {e}"))
        })?,
        None => {
            return Err(Error::decode(
                "unexpected delivered task from Sama: missing field `id`",
            ))
        }
    };
    let lenient = |name: &str| task.get(name).and_then(lenient::scalar_string);
    let external_key = options
        .external_key_input
        .as_deref()
        .and_then(|i| task.get("data")?.as_object()?.get(i))
        .and_then(lenient::key_string);
    let answers = match task.get("answers") {
        None | Some(Value::Null) => RawJson::null(),
        Some(a) => RawJson::from_value(a),
    };
    Ok(Delivery {
        id: DeliveryId::new(task_id.clone()),
        labelset: None,
        review: None,
        updated_at: None,
        task_id: TaskId::new(task_id),
        external_key,
        project_id: lenient("project_id")
            .map(ProjectId::new)
            .unwrap_or_else(|| project.clone()),
        batch_id: lenient("batch_id").map(BatchId::new),
        delivered_at: task
            .get("delivered_at")
            .and_then(Value::as_str)
            .and_then(lenient::timestamp),
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
        // Sama's batch status is the creation job only; progress comes from project stats.
        labeling: None,
        failures,
        messages: job.messages,
        raw: job.raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::BatchJob;
    use labelmux_core::ErrorKind;
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
        let batch = BatchSpec::default()
            .with_name("speed_racer")
            .with_priority(-3)
            .with_extension("submit", json!(true));
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
        let batch = BatchSpec::default().with_priority(-1).with_name("b");
        let opts = SamaOptions {
            external_key_input: Some("my key".into()),
            client_batch_id_input: None,
            ..SamaOptions::default()
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
        assert_eq!(task.answers.map(Value::from), Some(json!({"label": "dog"})));
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
                let direct =
                    delivery_from_value(v, RawJson::from_value(v), &project, &options).unwrap();
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
            let err = delivery_from_value(
                &bad,
                RawJson::from_value(&bad),
                &project,
                &SamaOptions::default(),
            )
            .unwrap_err();
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
        assert_eq!(b.status, BatchStatus::Created);
        assert_eq!(b.id.as_str(), "9");
    }

    #[test]
    fn capabilities_are_all_but_idempotent_create_and_the_batch_listing() {
        let caps = crate::capabilities();
        for (name, supported) in caps.entries() {
            let expected = !matches!(
                name,
                "idempotent_create"
                    // Consumer cursors are kept by labelmux (decision 0012).
                    | "server_side_consumer"
                    | "list_batches"
                    | "find_task"
                    | "several_deliveries_per_task"
                    | "batch_labeling_progress"
                    // A started Sama batch takes no more tasks.
                    | "resumable_batches"
            );
            assert_eq!(supported, expected, "{name}");
        }
    }

    #[test]
    fn unknown_batch_options_are_refused() {
        let batch = BatchSpec::default().with_extension("sumbit", json!(true));
        let err =
            build_record(TaskSpec::default(), &batch, &SamaOptions::default(), 0).unwrap_err();
        assert!(err.to_string().contains("sumbit"), "{err}");
        let batch = BatchSpec::default().with_extension("submit", json!("yes"));
        assert!(build_record(TaskSpec::default(), &batch, &SamaOptions::default(), 0).is_err());
    }
}
