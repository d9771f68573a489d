//! [`SegmentsProvider`]: the core [`Provider`] on top of [`SegmentsClient`].
//!
//! A project is a dataset (`owner/name`); a task is a sample (id = UUID, external key = sample
//! name); a labelmux batch is recorded in each sample's metadata under
//! [`BATCH_METADATA_KEY`]; a task's state is the status of its label in the configured
//! labelset; a delivery is that label once its status reached the configured delivery status,
//! once per revision (its update time). "Since last call" is a client-side keyset cursor over
//! (label update time, sample UUID) in [`ConsumerCursors`].

use crate::client::{split_dataset, SampleSort, SamplesQuery, SegmentsClient, MAX_BULK_DELETE};
use crate::mapping::{
    batch_of, delivery_of, sample_request, state_of, status_of, statuses_of, task_of,
    BATCH_METADATA_KEY,
};
use crate::wire::{
    CreateIssueRequest, CreateSampleRequest, LabelStatus, PutLabelRequest, Sample,
    UpdateLabelRequest, UpdateSampleRequest,
};
use async_trait::async_trait;
use chrono::Utc;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use labelmux_core::cursor::{ConsumerCursors, CursorStore, KeysetTracker, OutputMark};
use labelmux_core::transport::redact::redact_url;
use labelmux_core::{
    error_stream, report, AlreadyExisted, Batch, BatchCounts, BatchId, BatchReceipt, BatchRef,
    BatchSpec, BatchStatus, BulkReport, Capabilities, Checkpoint, DeleteReport, Delivery,
    DeliveryQuery, DeliverySince, Error, ErrorKind, LabelingProgress, Operation, Progress,
    ProgressEvent, Project, ProjectId, ProjectStats, Property, Provider, Result, Rework,
    StatsOptions, Task, TaskCreationFailure, TaskFilter, TaskId, TaskSpecStream, Vendor,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const VENDOR: Vendor = Vendor::Segments;

/// The ground-truth labelset every dataset has.
pub const GROUND_TRUTH: &str = "ground-truth";

/// Dataset metadata key under which `create_batch` records each batch's outcome (counts and up
/// to [`RECORDED_FAILURES`] refusals), so `batch_status` can report a batch whose samples all
/// existed already, and its refusals.
pub const BATCHES_METADATA_KEY: &str = "labelmux_batches";

/// Refusals recorded per batch in the dataset metadata.
pub const RECORDED_FAILURES: usize = 20;

/// Samples per bulk creation request (the SDK sets no limit; this keeps each gzip body small).
pub const DEFAULT_CHUNK_SIZE: usize = 500;

fn op_err(e: Error, op: &str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

/// What the adapter supports with the default options (computable without credentials).
pub fn capabilities() -> Capabilities {
    capabilities_with(&SegmentsOptions::default().delivery_status)
}

/// What the adapter supports when labels are delivered at `delivery_status`.
pub fn capabilities_with(delivery_status: &LabelStatus) -> Capabilities {
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
            SetPriority,
            DeleteTasks,
            ProjectInfo,
            ProjectStats,
            TaskSchema,
        ],
        [
            Property::IdempotentCreate,
            Property::PreAnnotations,
            Property::SeveralDeliveriesPerTask,
            Property::BatchLabelingProgress,
        ],
        state_of(delivery_status),
    )
}

/// A task read from the input: its index, external key, sample request and spec.
type Pending = (u64, String, CreateSampleRequest, labelmux_core::TaskSpec);

/// What became of a [`Pending`] task: the sample, or Segments' refusal.
type Outcome = (
    u64,
    String,
    labelmux_core::TaskSpec,
    std::result::Result<Sample, String>,
);

/// A delivery's place in keyset order: (label update time, sample UUID).
type DeliveryKey = (Option<chrono::DateTime<Utc>>, String);

/// Settings of [`SegmentsProvider`]. Configured under `[segments]`; unknown keys are errors.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SegmentsOptions {
    /// Labelset whose labels are the tasks' answers and deliveries (default `ground-truth`).
    pub labelset: String,
    /// Label status at which a label is delivered (default `REVIEWED`; `VERIFIED` labels count
    /// too when it is `REVIEWED`).
    pub delivery_status: LabelStatus,
    /// Samples per bulk creation request (default [`DEFAULT_CHUNK_SIZE`], 1 to 10000).
    pub chunk_size: usize,
    /// Most deliveries of one call whose full labels are fetched by one more listing and held
    /// in memory (default 5000, 1 to 1000000); beyond it each label is read on its own, in
    /// flat memory.
    pub delivery_window: usize,
}

/// Largest [`SegmentsOptions::chunk_size`].
const MAX_CHUNK_SIZE: usize = 10_000;
/// Largest [`SegmentsOptions::delivery_window`].
const MAX_DELIVERY_WINDOW: usize = 1_000_000;

impl Default for SegmentsOptions {
    fn default() -> Self {
        SegmentsOptions {
            labelset: GROUND_TRUTH.to_owned(),
            delivery_status: LabelStatus::Reviewed,
            chunk_size: DEFAULT_CHUNK_SIZE,
            delivery_window: 5000,
        }
    }
}

impl SegmentsOptions {
    /// Check the numeric options against their documented ranges (a `Config` error naming
    /// the key otherwise).
    pub fn validate(&self) -> Result<()> {
        for (key, value, max) in [
            ("chunk_size", self.chunk_size, MAX_CHUNK_SIZE),
            ("delivery_window", self.delivery_window, MAX_DELIVERY_WINDOW),
        ] {
            if !(1..=max).contains(&value) {
                return Err(Error::config(format!(
                    "[segments] {key} must be from 1 to {max}, got {value}"
                ))
                .with_vendor(VENDOR));
            }
        }
        Ok(())
    }

    /// Answers and deliveries from `labelset`.
    pub fn with_labelset(mut self, labelset: impl Into<String>) -> Self {
        self.labelset = labelset.into();
        self
    }

    /// Deliver labels once they reach `status`.
    pub fn with_delivery_status(mut self, status: LabelStatus) -> Self {
        self.delivery_status = status;
        self
    }

    /// Samples per bulk creation request.
    pub fn with_chunk_size(mut self, chunk_size: usize) -> Self {
        self.chunk_size = chunk_size.max(1);
        self
    }

    /// Deliveries whose full labels are fetched in one listing (see the field).
    pub fn with_delivery_window(mut self, window: usize) -> Self {
        self.delivery_window = window.max(1);
        self
    }

    fn delivered_statuses(&self) -> Vec<LabelStatus> {
        let mut v = vec![self.delivery_status.clone()];
        if self.delivery_status == LabelStatus::Reviewed {
            v.push(LabelStatus::Verified);
        }
        v
    }
}

/// The Segments.ai [`Provider`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SegmentsProvider {
    client: SegmentsClient,
    options: SegmentsOptions,
    cursors: ConsumerCursors,
}

fn dataset_of(project: &ProjectId, op: &str) -> Result<String> {
    match split_dataset(project.as_str()) {
        Ok(_) => Ok(project.as_str().to_owned()),
        // Not an `owner/name`: no dataset can have that id.
        Err(_) => Err(op_err(
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "there is no Segments.ai dataset {:?}: a project id is a dataset identifier `owner/name`",
                    project.as_str()
                ),
            ),
            op,
        )),
    }
}

/// The batch name a reference names (labelmux batches on Segments are names: id = name).
fn batch_name(b: &BatchRef) -> Result<String> {
    match b {
        BatchRef::Id(id) => Ok(id.as_str().to_owned()),
        BatchRef::Name(n) => Ok(n.clone()),
        other => Err(
            Error::validation(format!("unsupported batch reference {other:?}")).with_vendor(VENDOR),
        ),
    }
}

impl SegmentsProvider {
    /// A provider over `client` with default options; consumer cursors in `cursors`.
    pub fn new(client: SegmentsClient, cursors: impl CursorStore + 'static) -> Self {
        Self::with_options(client, cursors, SegmentsOptions::default())
    }

    /// A provider with `options`.
    pub fn with_options(
        client: SegmentsClient,
        cursors: impl CursorStore + 'static,
        options: SegmentsOptions,
    ) -> Self {
        let endpoint = redact_url(client.transport().base_url());
        let cursors = ConsumerCursors::new(Arc::new(cursors), VENDOR, endpoint);
        SegmentsProvider {
            client,
            options,
            cursors,
        }
    }

    /// The native client.
    pub fn client(&self) -> &SegmentsClient {
        &self.client
    }

    /// The options in force.
    pub fn options(&self) -> &SegmentsOptions {
        &self.options
    }

    /// A sample with its label in `labelset`, checked to belong to `dataset`.
    async fn sample_in(
        &self,
        dataset: &str,
        task: &TaskId,
        labelset: &str,
        op: &str,
    ) -> Result<Sample> {
        let s = self
            .client
            .get_sample(task.as_str(), Some(labelset), false)
            .await
            .map_err(|e| e.with_operation(op))?;
        match &s.dataset_full_name {
            Some(d) if d != dataset => Err(op_err(
                Error::new(
                    ErrorKind::NotFound,
                    format!("sample {task} is not in dataset {dataset} (it is in {d})"),
                ),
                op,
            )),
            _ => Ok(s),
        }
    }

    /// Record a batch's outcome in the dataset metadata (read, merge, write back).
    async fn record_batch(&self, dataset: &str, receipt: &BatchReceipt) -> Result<()> {
        let d = self.client.get_dataset(dataset).await?;
        let mut metadata = d.metadata.clone();
        let mut batches = metadata
            .get(BATCHES_METADATA_KEY)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let failures: Vec<Value> = receipt
            .failures
            .iter()
            .take(RECORDED_FAILURES)
            .map(|f| json!({"index": f.index, "external_key": f.external_key, "errors": f.errors}))
            .collect();
        batches.insert(
            receipt.batch_id.as_str().to_owned(),
            json!({
                "recorded_at": Utc::now().to_rfc3339(),
                "submitted": receipt.submitted,
                "created": receipt.created,
                "already_existed": receipt.already_existed.len(),
                "failed": receipt.failures.len(),
                "failures": failures,
            }),
        );
        metadata.insert(BATCHES_METADATA_KEY.to_owned(), Value::Object(batches));
        self.client
            .update_dataset(
                dataset,
                &crate::wire::UpdateDatasetRequest {
                    metadata: Some(metadata),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ())
    }

    fn samples_query(&self, labelset: &str, full: bool) -> SamplesQuery {
        SamplesQuery {
            labelset: Some(labelset.to_owned()),
            include_full_label: full,
            ..SamplesQuery::default()
        }
    }

    /// Create one chunk; returns (index, spec key, outcome) in input order.
    async fn create_chunk(&self, dataset: &str, chunk: Vec<Pending>) -> Result<Vec<Outcome>> {
        let requests: Vec<CreateSampleRequest> = chunk.iter().map(|c| c.2.clone()).collect();
        match self.client.add_samples(dataset, &requests).await {
            Ok(samples) => {
                let by_name: HashMap<String, Sample> =
                    samples.into_iter().map(|s| (s.name.clone(), s)).collect();
                Ok(chunk
                    .into_iter()
                    .map(|(i, key, _, spec)| {
                        // `get`, not `remove`: a key repeated in the stream names one sample.
                        let out = by_name.get(&key).cloned().ok_or_else(|| {
                            format!(
                                "Segments.ai did not return sample {key:?} from the bulk creation"
                            )
                        });
                        (i, key, spec, out)
                    })
                    .collect())
            }
            Err(e) if matches!(e.kind(), ErrorKind::Validation | ErrorKind::InvalidRequest) => {
                // The bulk request is all-or-nothing: find the refused samples one by one.
                let concurrency = self.client.transport().config().concurrency.max(1);
                stream::iter(chunk)
                    .map(|(i, key, req, spec)| async move {
                        let out = match self.client.add_sample_idempotent(dataset, &req).await {
                            Ok((s, _)) => Ok(s),
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::Validation
                                        | ErrorKind::InvalidRequest
                                        | ErrorKind::Duplicate
                                ) =>
                            {
                                Err(e.message().to_owned())
                            }
                            Err(e) => return Err(e),
                        };
                        Ok((i, key, spec, out))
                    })
                    .buffered(concurrency)
                    .try_collect()
                    .await
            }
            Err(e) => Err(e),
        }
    }

    /// The labelset and batch a delivery query reads, and the cursor scope they make.
    fn delivery_scope(
        &self,
        query: &DeliveryQuery,
        op: &'static str,
    ) -> Result<(String, Option<String>, Option<String>)> {
        let labelset = query
            .labelset
            .clone()
            .unwrap_or_else(|| self.options.labelset.clone());
        let batch = query
            .batch
            .as_ref()
            .map(batch_name)
            .transpose()
            .map_err(|e| e.with_operation(op))?;
        let scope = {
            let mut parts = Vec::new();
            if labelset != self.options.labelset {
                parts.push(format!("labelset={labelset}"));
            }
            if let Some(b) = &batch {
                parts.push(format!("batch={b}"));
            }
            if let Some(t) = &query.task_id {
                parts.push(format!("task={t}"));
            }
            (!parts.is_empty()).then(|| parts.join("&"))
        };
        Ok((labelset, batch, scope))
    }

    async fn deliveries_list(
        &self,
        project: ProjectId,
        query: DeliveryQuery,
    ) -> Result<BoxStream<'static, Result<Delivery>>> {
        const OP: &str = "deliveries";
        let dataset = dataset_of(&project, OP)?;
        let (labelset, batch, scope) = self.delivery_scope(&query, OP)?;
        let (since, start) = match &query.since {
            DeliverySince::Beginning => (None, None),
            DeliverySince::Timestamp(t) => (Some(*t), None),
            DeliverySince::LastCall { consumer } => {
                let pos = self
                    .cursors
                    .position(project.as_str(), consumer, scope.as_deref())
                    .await
                    .map_err(|e| op_err(e, OP))?;
                (None, pos)
            }
            other => {
                return Err(op_err(
                    Error::validation(format!("Segments.ai cannot start deliveries at {other:?}")),
                    OP,
                ))
            }
        };
        let tracker = matches!(query.since, DeliverySince::LastCall { .. })
            .then(|| KeysetTracker::new(scope.clone(), start.as_ref()));
        let wanted = self.options.delivered_statuses();
        let until = query.until;
        let batch_filter = batch.clone();
        let keep = move |s: &Sample| -> bool {
            let at = s.label.as_ref().and_then(|l| l.label().updated_at);
            wanted.contains(&status_of(s))
                && batch_filter
                    .as_deref()
                    .is_none_or(|b| batch_of(s).as_ref().map(BatchId::as_str) == Some(b))
                && match at {
                    Some(at) => {
                        since.is_none_or(|t| at >= t)
                            && until.is_none_or(|u| at < u)
                            && !start.as_ref().is_some_and(|p| p.covers(&at, &s.uuid))
                    }
                    // Without a time a label cannot be placed after a cursor: only full reads.
                    None => since.is_none() && start.is_none(),
                }
        };
        let label_time = |s: &Sample| s.label.as_ref().and_then(|l| l.label().updated_at);
        // (label update time, sample UUID) of each delivery, in keyset order, and a stream of
        // the samples with full labels in that order.
        let (keys, samples): (Vec<DeliveryKey>, BoxStream<'static, Result<Sample>>) =
            match &query.task_id {
                Some(t) => {
                    let found = match self.sample_in(&dataset, t, &labelset, OP).await {
                        Ok(s) => Some(s).filter(|s| keep(s)),
                        Err(e) if e.kind() == ErrorKind::NotFound => None,
                        Err(e) => return Err(e),
                    };
                    let keys = found
                        .iter()
                        .map(|s| (label_time(s), s.uuid.clone()))
                        .collect();
                    (keys, stream::iter(found.into_iter().map(Ok)).boxed())
                }
                None => {
                    let mut q = self.samples_query(&labelset, false);
                    q.label_status = self.options.delivered_statuses();
                    if let Some(b) = &batch {
                        q.metadata = vec![(BATCH_METADATA_KEY.to_owned(), b.clone())];
                    }
                    // Pass 1: label summaries only, keeping the keys of new deliveries.
                    let mut keys: Vec<DeliveryKey> = self
                        .client
                        .get_samples(&dataset, q.clone())
                        .map_err(|e| e.with_operation(OP))
                        .try_filter_map(|s| {
                            futures::future::ready(Ok(keep(&s).then(|| (label_time(&s), s.uuid))))
                        })
                        .try_collect()
                        .await?;
                    keys.sort();
                    let samples = self.full_labels(&dataset, &labelset, q, &keys).await?;
                    (keys, samples)
                }
            };
        let mut keys = keys.into_iter();
        let mut tracker = tracker;
        Ok(samples
            .try_filter(move |s| futures::future::ready(keep(s)))
            .map_ok(move |s| {
                // The checkpoint follows the keyset order of pass 1 (a label revised since then
                // is delivered with its new content now, and once more on the next call).
                let at = keys
                    .by_ref()
                    .find(|(_, uuid)| *uuid == s.uuid)
                    .and_then(|(at, _)| at)
                    .or_else(|| s.label.as_ref().and_then(|l| l.label().updated_at));
                let cp = tracker.as_mut().and_then(|t| t.advance(at, &s.uuid));
                delivery_of(&s, &project, &labelset, cp)
            })
            .boxed())
    }

    /// The samples of `keys` with their full labels in `labelset`, in the order of `keys`:
    /// up to [`SegmentsOptions::delivery_window`] of them from one more listing (held in
    /// memory), more one `GET /samples/{uuid}/` each (`transport.concurrency` at a time,
    /// memory flat).
    async fn full_labels(
        &self,
        dataset: &str,
        labelset: &str,
        mut query: SamplesQuery,
        keys: &[DeliveryKey],
    ) -> Result<BoxStream<'static, Result<Sample>>> {
        const OP: &str = "deliveries";
        if keys.is_empty() {
            return Ok(stream::empty().boxed());
        }
        if keys.len() <= self.options.delivery_window.max(1) {
            query.include_full_label = true;
            let wanted: std::collections::HashSet<&str> =
                keys.iter().map(|(_, u)| u.as_str()).collect();
            let mut by_uuid: HashMap<String, Sample> = self
                .client
                .get_samples(dataset, query)
                .map_err(|e| e.with_operation(OP))
                .try_filter(|s| futures::future::ready(wanted.contains(s.uuid.as_str())))
                .map_ok(|s| (s.uuid.clone(), s))
                .try_collect()
                .await?;
            let ordered: Vec<Result<Sample>> = keys
                .iter()
                .filter_map(|(_, u)| by_uuid.remove(u))
                .map(Ok)
                .collect();
            return Ok(stream::iter(ordered).boxed());
        }
        let client = self.client.clone();
        let labelset = labelset.to_owned();
        let concurrency = client.transport().config().concurrency.max(1);
        let uuids: Vec<String> = keys.iter().map(|(_, u)| u.clone()).collect();
        Ok(stream::iter(uuids)
            .map(move |u| {
                let client = client.clone();
                let labelset = labelset.clone();
                async move {
                    match client.get_sample(&u, Some(&labelset), false).await {
                        Ok(s) => Ok(Some(s)),
                        // Deleted since it was listed.
                        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(e.with_operation(OP)),
                    }
                }
            })
            .buffered(concurrency)
            .try_filter_map(|s| futures::future::ready(Ok(s)))
            .boxed())
    }

    async fn count_states(
        &self,
        dataset: &str,
        query: SamplesQuery,
        window: &StatsOptions,
        op: &'static str,
    ) -> Result<BTreeMap<String, u64>> {
        let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
        let mut s = self.client.get_samples(dataset, query);
        while let Some(sample) = s.try_next().await.map_err(|e| e.with_operation(op))? {
            let inside = match sample.created_at {
                Some(c) => window.from.is_none_or(|f| c >= f) && window.to.is_none_or(|t| c < t),
                None => window.from.is_none() && window.to.is_none(),
            };
            if inside {
                *by_state
                    .entry(state_of(&status_of(&sample)).as_str().to_owned())
                    .or_default() += 1;
            }
        }
        Ok(by_state)
    }
}

fn generated_batch_name() -> String {
    format!(
        "labelmux-{}-{:04x}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        fastrand::u16(..)
    )
}

#[async_trait]
impl Provider for SegmentsProvider {
    fn vendor(&self) -> Vendor {
        VENDOR
    }

    fn capabilities(&self) -> Capabilities {
        capabilities_with(&self.options.delivery_status)
    }

    async fn create_batch(
        &self,
        project: &ProjectId,
        spec: BatchSpec,
        mut tasks: TaskSpecStream<'_>,
        progress: Progress,
    ) -> Result<BatchReceipt> {
        const OP: &str = "create_batch";
        let dataset = dataset_of(project, OP)?;
        spec.extensions.check_known(VENDOR, OP, &[])?;
        let batch = spec.name.clone().unwrap_or_else(generated_batch_name);
        if batch.is_empty() || batch.contains(',') {
            return Err(op_err(
                Error::validation(format!(
                    "batch name {batch:?} cannot be recorded: it must be non-empty and without ',' (Segments' metadata filter has no escaping)"
                )),
                OP,
            ));
        }
        let batch_id = BatchId::new(batch.clone());
        report(&progress, ProgressEvent::BatchOpened(batch_id.clone()));
        let chunk_size = self.options.chunk_size.max(1);
        let mut receipt = BatchReceipt {
            batch_id: batch_id.clone(),
            more_batches: Vec::new(),
            project_id: project.clone(),
            submitted: 0,
            created: 0,
            failures: Vec::new(),
            unknown: Vec::new(),
            task_ids: Vec::new(),
            already_existed: Vec::new(),
            generated_keys: Vec::new(),
            raw: Value::Null,
        };
        let mut index: u64 = 0;
        let mut ended = false;
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        while !ended {
            let mut chunk = Vec::with_capacity(chunk_size);
            while chunk.len() < chunk_size {
                let Some(item) = tasks.next().await else {
                    ended = true;
                    break;
                };
                let task = match item {
                    Ok(t) => t,
                    Err(e) => {
                        let msg = format!(
                            "{} (batch {batch:?}: {} tasks created before the input failed; run again with the same batch name to continue, existing names are not created twice)",
                            e.message(),
                            receipt.created
                        );
                        return Err(Error::new(e.kind(), msg)
                            .with_vendor(VENDOR)
                            .with_operation(OP)
                            .with_source(e));
                    }
                };
                let i = index;
                index += 1;
                receipt.submitted += 1;
                let key = match task.external_key.clone().filter(|k| !k.is_empty()) {
                    Some(k) => k,
                    None => {
                        let k = format!("{batch}-{i:06}");
                        receipt.generated_keys.push((i, k.clone()));
                        k
                    }
                };
                match sample_request(&task, &key, &batch, spec.priority) {
                    Ok(req) => chunk.push((i, key, req, task)),
                    Err(e) => receipt.failures.push(TaskCreationFailure {
                        index: Some(i),
                        external_key: Some(key),
                        data: Some(Value::Object(task.inputs.clone())),
                        errors: vec![e.message().to_owned()],
                    }),
                }
            }
            if chunk.is_empty() {
                continue;
            }
            let sent = chunk.len() as u64;
            let outcomes = self
                .create_chunk(&dataset, chunk)
                .await
                .map_err(|e| {
                    let msg = format!(
                        "{} (batch {batch:?}: {} tasks created so far; run again with the same batch name to continue, existing names are not created twice)",
                        e.message(),
                        receipt.created
                    );
                    Error::new(e.kind(), msg)
                        .with_vendor(VENDOR)
                        .with_operation(OP)
                        .with_source(e)
                })?;
            report(&progress, ProgressEvent::TasksSent(sent));
            for (i, key, task, out) in outcomes {
                match out {
                    Ok(sample) => {
                        if !seen.insert(sample.uuid.clone()) {
                            // The same key again in this stream: one sample, counted once.
                            continue;
                        }
                        let existing_batch = batch_of(&sample);
                        let ours = existing_batch.as_ref() == Some(&batch_id);
                        receipt.created += 1;
                        receipt.task_ids.push(TaskId::new(sample.uuid.clone()));
                        if !ours {
                            receipt.already_existed.push(AlreadyExisted {
                                index: i,
                                external_key: Some(key.clone()),
                                task_id: TaskId::new(sample.uuid.clone()),
                                batch_id: existing_batch,
                            });
                            continue;
                        }
                        for pre in &task.pre_annotations {
                            let label = PutLabelRequest {
                                label_status: LabelStatus::Prelabeled,
                                attributes: pre.value.clone(),
                                score: None,
                            };
                            if let Err(e) = self
                                .client
                                .add_label(&sample.uuid, &pre.target, &label)
                                .await
                            {
                                receipt.failures.push(TaskCreationFailure {
                                    index: Some(i),
                                    external_key: Some(key.clone()),
                                    data: Some(pre.value.clone()),
                                    errors: vec![format!(
                                        "sample {} was created, but its pre-annotation in labelset {:?} was refused: {}",
                                        sample.uuid,
                                        pre.target,
                                        e.message()
                                    )],
                                });
                            }
                        }
                    }
                    Err(message) => receipt.failures.push(TaskCreationFailure {
                        index: Some(i),
                        external_key: Some(key),
                        data: Some(Value::Object(task.inputs.clone())),
                        errors: vec![message],
                    }),
                }
            }
        }
        let recorded = self.record_batch(&dataset, &receipt).await;
        receipt.raw = json!({
            "dataset": dataset,
            "batch": batch,
            "metadata_key": BATCH_METADATA_KEY,
            "recorded": recorded.is_ok(),
        });
        if let Err(e) = recorded {
            // The samples exist; only batch_status misses the counts and refusals.
            tracing::warn!(vendor = "segments", batch = %batch, error = %e, "could not record the batch in the dataset metadata");
        }
        Ok(receipt)
    }

    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        const OP: &str = "batch_status";
        let dataset = dataset_of(project, OP)?;
        let mut q = self.samples_query(&self.options.labelset, false);
        q.metadata = vec![(BATCH_METADATA_KEY.to_owned(), batch.as_str().to_owned())];
        let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
        let mut created = 0u64;
        let mut s = self.client.get_samples(&dataset, q);
        while let Some(sample) = s.try_next().await.map_err(|e| e.with_operation(OP))? {
            created += 1;
            *by_state
                .entry(state_of(&status_of(&sample)).as_str().to_owned())
                .or_default() += 1;
        }
        let record = {
            self.client
                .get_dataset(&dataset)
                .await
                .map_err(|e| e.with_operation(OP))?
                .metadata
                .get(BATCHES_METADATA_KEY)
                .and_then(|b| b.get(batch.as_str()))
                .cloned()
        };
        if created == 0 && record.is_none() {
            return Err(op_err(
                Error::new(
                    ErrorKind::NotFound,
                    format!("no sample of dataset {dataset} belongs to batch {batch} (metadata {BATCH_METADATA_KEY})"),
                ),
                OP,
            ));
        }
        let count = |k: &str| {
            record
                .as_ref()
                .and_then(|r| r.get(k))
                .and_then(Value::as_u64)
        };
        let failures: Vec<TaskCreationFailure> = record
            .as_ref()
            .and_then(|r| r.get("failures"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|f| TaskCreationFailure {
                        index: f.get("index").and_then(Value::as_u64),
                        external_key: f
                            .get("external_key")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        data: None,
                        errors: f
                            .get("errors")
                            .and_then(Value::as_array)
                            .map(|e| {
                                e.iter()
                                    .filter_map(|x| x.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut messages = Vec::new();
        if let Some(n) = count("already_existed").filter(|n| *n > 0) {
            messages.push(format!(
                "{n} tasks of this batch existed already (same external key) and stay in their first batch"
            ));
        }
        Ok(Batch {
            id: batch.clone(),
            project_id: project.clone(),
            name: Some(batch.as_str().to_owned()),
            // Bulk creation is synchronous: samples listed are created.
            status: BatchStatus::Created,
            vendor_status: "created".to_owned(),
            counts: BatchCounts {
                submitted: count("submitted"),
                created,
                failed: count("failed").unwrap_or(0),
                pending: 0,
                canceled: 0,
            },
            labeling: Some(LabelingProgress {
                by_state: by_state.clone(),
            }),
            failures,
            messages,
            raw: json!({ "labelset": self.options.labelset, "by_state": by_state, "record": record }),
        })
    }

    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        const OP: &str = "get_task";
        let dataset = dataset_of(project, OP)?;
        let s = self
            .sample_in(&dataset, task, &self.options.labelset, OP)
            .await?;
        Ok(task_of(&s, project, &self.options.delivery_status))
    }

    async fn find_task(&self, project: &ProjectId, external_key: &str) -> Result<Option<Task>> {
        const OP: &str = "find_task";
        let dataset = dataset_of(project, OP)?;
        match self
            .client
            .find_sample_by_name(&dataset, external_key)
            .await
            .map_err(|e| e.with_operation(OP))?
        {
            None => Ok(None),
            Some(s) => self
                .get_task(project, &TaskId::new(s.uuid))
                .await
                .map(Some)
                .map_err(|e| e.with_operation(OP)),
        }
    }

    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        const OP: &str = "list_tasks";
        let dataset = match dataset_of(project, OP) {
            Ok(d) => d,
            Err(e) => return error_stream(e),
        };
        let labelset = filter
            .labelset
            .clone()
            .unwrap_or_else(|| self.options.labelset.clone());
        let mut q = self.samples_query(&labelset, filter.include_answers);
        if let Some(b) = &filter.batch {
            match batch_name(b) {
                Ok(name) => q.metadata = vec![(BATCH_METADATA_KEY.to_owned(), name)],
                Err(e) => return error_stream(e.with_operation(OP)),
            }
        }
        if !filter.states.is_empty() {
            q.label_status = filter.states.iter().flat_map(statuses_of).collect();
            if q.label_status.is_empty() {
                // States Segments never reports (e.g. canceled): nothing matches.
                return stream::empty().boxed();
            }
        }
        // Names are unique per dataset: a total order, so numbered pages neither repeat nor skip
        // samples (creation times tie within a bulk creation).
        q.sort = SampleSort::Name;
        let project = project.clone();
        let delivery_status = self.options.delivery_status.clone();
        let (from, to) = (filter.from, filter.to);
        self.client
            .get_samples(&dataset, q)
            .map_err(|e| e.with_operation(OP))
            .try_filter_map(move |s| {
                let inside = match s.created_at {
                    Some(c) => from.is_none_or(|f| c >= f) && to.is_none_or(|t| c < t),
                    None => from.is_none() && to.is_none(),
                };
                let t = task_of(&s, &project, &delivery_status);
                futures::future::ready(Ok((inside && filter.accepts_state(&t.state)).then_some(t)))
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
        let s = stream::once(async move { this.deliveries_list(pid, query).await })
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
        let (_, _, scope) = self.delivery_scope(query, "consumer_output")?;
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
        const OP: &str = "reject_tasks";
        let dataset = dataset_of(project, OP)?;
        let labelset = self.options.labelset.clone();
        let description = if rework.reasons.is_empty() {
            "Rejected through labelmux".to_owned()
        } else {
            rework.reasons.join("\n")
        };
        let concurrency = self.client.transport().config().concurrency.max(1);
        let outcomes: Vec<(TaskId, std::result::Result<(), String>)> =
            stream::iter(tasks.iter().cloned())
                .map(|t| {
                    let dataset = dataset.clone();
                    let labelset = labelset.clone();
                    let description = description.clone();
                    async move {
                        let s = match self.sample_in(&dataset, &t, &labelset, OP).await {
                            Ok(s) => s,
                            Err(e) if e.kind() == ErrorKind::NotFound => {
                                return Ok((t, Err(format!("not found: {}", e.message()))))
                            }
                            Err(e) => return Err(e),
                        };
                        let status = status_of(&s);
                        if matches!(status, LabelStatus::Unlabeled) {
                            return Ok((
                                t,
                                Err(format!(
                                    "sample has no label in labelset {labelset:?} to reject"
                                )),
                            ));
                        }
                        self.client
                            .update_label(
                                &s.uuid,
                                &labelset,
                                &UpdateLabelRequest {
                                    label_status: Some(LabelStatus::Rejected),
                                    ..UpdateLabelRequest::default()
                                },
                            )
                            .await
                            .map_err(|e| e.with_operation(OP))?;
                        self.client
                            .add_issue(&s.uuid, &CreateIssueRequest::new(description.clone()))
                            .await
                            .map_err(|e| e.with_operation(OP))?;
                        Ok::<_, Error>((t, Ok(())))
                    }
                })
                .buffered(concurrency)
                .try_collect()
                .await?;
        let mut report = BulkReport::default();
        for (t, out) in outcomes {
            match out {
                Ok(()) => report.done.push(t),
                Err(why) => report.refused.push((t, why)),
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
        const OP: &str = "set_priority";
        let dataset = dataset_of(project, OP)?;
        let concurrency = self.client.transport().config().concurrency.max(1);
        stream::iter(tasks.iter().cloned())
            .map(|t| {
                let dataset = dataset.clone();
                async move {
                    // The sample must be in this dataset before it is changed.
                    self.sample_in(&dataset, &t, &self.options.labelset, OP)
                        .await?;
                    self.client
                        .update_sample(
                            t.as_str(),
                            &UpdateSampleRequest {
                                priority: Some(crate::mapping::segments_priority(priority)),
                                ..UpdateSampleRequest::default()
                            },
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| e.with_operation(OP))
                }
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    async fn delete_tasks(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<DeleteReport> {
        const OP: &str = "delete_tasks";
        let dataset = dataset_of(project, OP)?;
        let concurrency = self.client.transport().config().concurrency.max(1);
        let checked: Vec<(TaskId, std::result::Result<(), String>)> = stream::iter(tasks.iter().cloned())
            .map(|t| {
                let dataset = dataset.clone();
                async move {
                    match self.sample_in(&dataset, &t, &self.options.labelset, OP).await {
                        Ok(s) => {
                            let status = status_of(&s);
                            Ok((
                                t,
                                if matches!(status, LabelStatus::Unlabeled | LabelStatus::Prelabeled) {
                                    Ok(())
                                } else {
                                    Err(format!(
                                        "its label in {:?} is {status}: deleting the sample would delete the work on it",
                                        self.options.labelset
                                    ))
                                },
                            ))
                        }
                        Err(e) if e.kind() == ErrorKind::NotFound => {
                            Ok((t, Err(format!("not found: {}", e.message()))))
                        }
                        Err(e) => Err(e),
                    }
                }
            })
            .buffered(concurrency)
            .try_collect()
            .await?;
        let mut report = DeleteReport::default();
        let mut deletable: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (t, ok) in checked {
            if !seen.insert(t.clone()) {
                continue;
            }
            match ok {
                Ok(()) => deletable.push(t.as_str().to_owned()),
                Err(why) => report.refused.push((t, why)),
            }
        }
        for chunk in deletable.chunks(MAX_BULK_DELETE) {
            self.client
                .delete_samples(&dataset, chunk)
                .await
                .map_err(|e| e.with_operation(OP))?;
            report
                .deleted
                .extend(chunk.iter().map(|u| TaskId::new(u.clone())));
        }
        Ok(report)
    }

    async fn project(&self, project: &ProjectId) -> Result<Project> {
        const OP: &str = "project";
        let dataset = dataset_of(project, OP)?;
        let d = self
            .client
            .get_dataset(&dataset)
            .await
            .map_err(|e| e.with_operation(OP))?;
        Ok(Project {
            id: project.clone(),
            name: Some(d.name.clone()),
            state: d
                .archived
                .map(|a| if a { "archived" } else { "active" }.to_owned()),
            kind: d.task_type.as_ref().map(|t| t.as_str().to_owned()),
            description: d.description.clone().filter(|s| !s.is_empty()),
            raw: d.raw,
        })
    }

    async fn project_stats(
        &self,
        project: &ProjectId,
        options: StatsOptions,
    ) -> Result<ProjectStats> {
        const OP: &str = "project_stats";
        let dataset = dataset_of(project, OP)?;
        let windowed = options.from.is_some() || options.to.is_some();
        if !windowed && self.options.labelset == GROUND_TRUTH {
            // The dataset's label statistics count ground-truth labels by status.
            let d = self
                .client
                .get_dataset(&dataset)
                .await
                .map_err(|e| e.with_operation(OP))?;
            let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
            for (status, n) in &d.label_stats.by_status {
                if *n > 0 {
                    *by_state
                        .entry(state_of(status).as_str().to_owned())
                        .or_default() += n;
                }
            }
            return Ok(ProjectStats {
                project_id: project.clone(),
                tasks_by_state: by_state,
                raw: d.raw.get("label_stats").cloned().unwrap_or(Value::Null),
            });
        }
        let q = self.samples_query(&self.options.labelset, false);
        let by_state = self.count_states(&dataset, q, &options, OP).await?;
        Ok(ProjectStats {
            project_id: project.clone(),
            raw: json!({ "labelset": self.options.labelset, "by_state": by_state }),
            tasks_by_state: by_state,
        })
    }

    async fn task_schema(&self, project: &ProjectId) -> Result<Value> {
        const OP: &str = "task_schema";
        let dataset = dataset_of(project, OP)?;
        let d = self
            .client
            .get_dataset(&dataset)
            .await
            .map_err(|e| e.with_operation(OP))?;
        Ok(json!({
            "task_type": d.task_type.as_ref().map(|t| t.as_str()),
            "task_attributes": d.raw.get("task_attributes").cloned().unwrap_or(Value::Null),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use labelmux_core::TaskState;

    #[test]
    fn capabilities_leave_out_batch_cancel_and_listing() {
        let c = capabilities();
        assert!(!c.supports(Operation::CancelBatch));
        assert!(!c.supports(Operation::ListBatches));
        assert!(c.supports(Operation::DeliveriesSinceLastCall));
        assert!(!c.has(Property::ServerSideConsumer));
        assert_eq!(c.delivers_at, TaskState::Approved);
        assert_eq!(
            capabilities_with(&LabelStatus::Labeled).delivers_at,
            TaskState::Completed
        );
    }

    #[test]
    fn options_read_from_a_config_table_and_refuse_unknown_keys() {
        let o: SegmentsOptions = serde_json::from_value(
            json!({"labelset": "qa", "delivery_status": "LABELED", "chunk_size": 50}),
        )
        .unwrap();
        assert_eq!(o.labelset, "qa");
        assert_eq!(o.delivery_status, LabelStatus::Labeled);
        assert_eq!(o.chunk_size, 50);
        let d: SegmentsOptions = serde_json::from_value(json!({})).unwrap();
        assert_eq!(d, SegmentsOptions::default());
        let e = serde_json::from_value::<SegmentsOptions>(json!({"labelsett": "x"})).unwrap_err();
        assert!(e.to_string().contains("labelsett"), "{e}");
    }

    #[test]
    fn project_ids_must_be_dataset_identifiers() {
        let e = dataset_of(&ProjectId::new("424242424"), "project").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("owner/name"));
        assert_eq!(
            dataset_of(&ProjectId::new("jane/flowers"), "project").unwrap(),
            "jane/flowers"
        );
    }
}
