//! [`LabelboxProvider`]: Labelbox behind the vendor-neutral [`Provider`] API (spec §0, §0.1),
//! and its [`LabelboxOptions`].
//!
//! A task is a data row added to the project through a batch, addressed by its global key
//! (the task's external key, or one generated from the batch name). `create_batch` uploads the
//! rows to the project's dataset, waits for the upsert Task and for processing, then creates
//! the batch (or batches, over 100,000 rows) by global key; the receipt lists every refused row
//! with Labelbox's reason. Deliveries are the labels of rows that reached Done, read from the
//! project export filtered by last activity since the watermark minus an overlap, then kept if
//! newer than the watermark and de-duplicated on (label id, revision). Rejecting moves rows to
//! the rework queue. "Since last call" is the core's client-side cursor service.

use crate::client::{BatchRows, CreateBatchOptions, DataRowIdentifiers, OverviewScope};
use crate::export::{ExportFilters, ExportParams, ExportWorkflowStatus, TimeRange};
use crate::mapping::{data_row_spec, deliveries_from_line, stats_from_overview, task_from_line};
use crate::upload::UploadLimits;
use crate::wire::{self, QueueType};
use crate::LabelboxClient;
use async_trait::async_trait;
use chrono::Utc;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use labelmux_core::cursor::{ConsumerCursors, CursorStore, KeysetTracker, OutputMark};
use labelmux_core::transport::redact::redact_url;
use labelmux_core::transport::TransportConfig;
use labelmux_core::{
    report, Batch, BatchCounts, BatchId, BatchReceipt, BatchRef, BatchSpec, BatchStatus,
    BulkReport, Capabilities, Checkpoint, Delivery, DeliveryQuery, DeliverySince, Error, ErrorKind,
    LabelingProgress, Operation, Progress, ProgressEvent, Project, ProjectId, ProjectStats,
    Property, Provider, Result, Rework, StatsOptions, Task, TaskCreationFailure, TaskFilter,
    TaskId, TaskSpecStream, TaskState, Vendor,
};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const VENDOR: Vendor = Vendor::Labelbox;

fn op_err(e: Error, op: &str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

/// What the Labelbox adapter supports; needs no credentials.
pub fn capabilities() -> Capabilities {
    use Operation::*;
    Capabilities::new(
        [
            CreateBatch,
            BatchStatus,
            ListBatches,
            CancelBatch,
            GetTask,
            FindTask,
            ListTasks,
            DeliveriesSince,
            DeliveriesSinceLastCall,
            RejectTasks,
            SetPriority,
            ProjectInfo,
            ProjectStats,
        ],
        [
            Property::IdempotentCreate,
            Property::SeveralDeliveriesPerTask,
            Property::BatchLabelingProgress,
        ],
        TaskState::Approved,
    )
}

/// How the adapter maps labelmux concepts onto Labelbox.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelboxOptions {
    /// The dataset new data rows go to; `None`: one dataset per project, named
    /// `labelmux <project id>`, found or created on first use.
    pub dataset_id: Option<String>,
    /// How far before the watermark the delivery export reaches (Labelbox filters by whole
    /// seconds and by data-row activity, not label time); default 5 minutes, at most a day.
    pub delivery_overlap: Duration,
    /// Limits of the data-row upload.
    pub upload: UploadLimits,
}

/// Largest [`LabelboxOptions::delivery_overlap`].
const MAX_DELIVERY_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// The `[labelbox]` table of the configuration: the adapter's options, and the account's plan
/// (which sets the client-side rate limit). Unknown keys are errors.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelboxSettings {
    /// See [`LabelboxOptions::dataset_id`].
    pub dataset_id: Option<String>,
    /// See [`LabelboxOptions::delivery_overlap`], as a duration string (`"5m"`).
    pub delivery_overlap: Option<String>,
    /// The account's plan (`free`, `starter`, `education`, `enterprise`): its rate limit is
    /// applied unless `[labelbox.transport]` sets one.
    pub plan: Option<crate::Plan>,
}

impl LabelboxSettings {
    /// The adapter options these settings describe.
    pub fn options(&self) -> Result<LabelboxOptions> {
        let mut options = LabelboxOptions {
            dataset_id: self.dataset_id.clone(),
            ..LabelboxOptions::default()
        };
        if let Some(text) = &self.delivery_overlap {
            options.delivery_overlap =
                labelmux_core::transport::parse_duration(text).map_err(|e| {
                    Error::config(format!("[labelbox] delivery_overlap: {e}")).with_vendor(VENDOR)
                })?;
        }
        // A longer overlap would not fit the time arithmetic of the watermark (it would
        // silently become none) and re-reads a day of activity on every pull anyway.
        if options.delivery_overlap > MAX_DELIVERY_OVERLAP {
            return Err(Error::config(format!(
                "[labelbox] delivery_overlap must be at most 24h, got {} s",
                options.delivery_overlap.as_secs()
            ))
            .with_vendor(VENDOR));
        }
        Ok(options)
    }

    /// `transport` with the plan's rate limit, where a plan is set and no limit is.
    pub fn transport(&self, transport: TransportConfig) -> TransportConfig {
        match self.plan {
            Some(plan) if transport.rate_limit_per_second.is_none() => {
                plan.transport_config(transport)
            }
            _ => transport,
        }
    }
}

impl Default for LabelboxOptions {
    fn default() -> Self {
        LabelboxOptions {
            dataset_id: None,
            delivery_overlap: Duration::from_secs(300),
            upload: UploadLimits::default(),
        }
    }
}

impl LabelboxOptions {
    /// Put new data rows in this dataset.
    pub fn with_dataset(mut self, dataset_id: impl Into<String>) -> Self {
        self.dataset_id = Some(dataset_id.into());
        self
    }

    /// Reach this far before the delivery watermark.
    pub fn with_delivery_overlap(mut self, overlap: Duration) -> Self {
        self.delivery_overlap = overlap;
        self
    }

    /// Use these upload limits.
    pub fn with_upload_limits(mut self, limits: UploadLimits) -> Self {
        self.upload = limits;
        self
    }
}

/// Labelbox behind the vendor-neutral [`Provider`] API.
#[derive(Debug, Clone)]
pub struct LabelboxProvider {
    client: LabelboxClient,
    cursors: ConsumerCursors,
    options: LabelboxOptions,
    /// Project id → dataset id, once found or created.
    datasets: Arc<Mutex<HashMap<String, String>>>,
}

impl LabelboxProvider {
    /// A provider with the default [`LabelboxOptions`].
    pub fn new(client: LabelboxClient, cursors: impl CursorStore + 'static) -> Self {
        Self::with_options(client, cursors, LabelboxOptions::default())
    }

    /// A provider with these options.
    pub fn with_options(
        client: LabelboxClient,
        cursors: impl CursorStore + 'static,
        options: LabelboxOptions,
    ) -> Self {
        let endpoint = redact_url(client.transport().base_url()).to_string();
        LabelboxProvider {
            cursors: ConsumerCursors::new(Arc::new(cursors), VENDOR, endpoint),
            client,
            options,
            datasets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The vendor-native client, for calls beyond the [`Provider`] API.
    pub fn client(&self) -> &LabelboxClient {
        &self.client
    }

    /// The options in force.
    pub fn options(&self) -> &LabelboxOptions {
        &self.options
    }

    /// The dataset of a project's rows: the configured one, or `labelmux <project>`.
    async fn dataset_for(&self, project: &ProjectId) -> Result<String> {
        if let Some(d) = &self.options.dataset_id {
            return Ok(d.clone());
        }
        if let Some(d) = self
            .datasets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(project.as_str())
        {
            return Ok(d.clone());
        }
        let name = format!("labelmux {project}");
        let found = self
            .client
            .list_datasets()
            .try_filter(|d| futures::future::ready(d.name.as_deref() == Some(name.as_str())))
            .try_next()
            .await?;
        let id = match found {
            Some(d) => d.id,
            None => {
                self.client
                    .create_dataset(&name, Some("data rows of labelmux batches"))
                    .await?
                    .id
            }
        };
        self.datasets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(project.as_str().to_owned(), id.clone());
        Ok(id)
    }

    async fn batch_id_by_name(&self, project: &ProjectId, name: &str) -> Result<String> {
        self.client
            .list_batches(project.as_str())
            .try_filter(|b| futures::future::ready(b.name.as_deref() == Some(name)))
            .try_next()
            .await?
            .map(|b| b.id)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("project {project} has no batch named {name:?}"),
                )
                .with_vendor(VENDOR)
            })
    }

    /// Export lines of a project for these filters (labels included only when asked).
    fn lines(
        &self,
        project: &ProjectId,
        filters: ExportFilters,
        labels: bool,
    ) -> BoxStream<'static, Result<wire::ExportLine>> {
        let params = ExportParams {
            label_details: labels,
            performance_details: labels,
            ..ExportParams::default()
        };
        self.client
            .export_project(project.as_str(), filters, params)
    }

    async fn task_by_key(&self, project: &ProjectId, key: &str) -> Result<Option<Task>> {
        let filters = ExportFilters {
            global_keys: vec![key.to_owned()],
            ..ExportFilters::default()
        };
        let line = self.lines(project, filters, true).try_next().await?;
        Ok(line
            .map(|l| task_from_line(&l, project))
            .filter(|t| t.batch_id.is_some() || t.state != TaskState::New))
    }

    async fn export_filters_for(
        &self,
        project: &ProjectId,
        batch: &Option<BatchRef>,
    ) -> Result<Vec<String>> {
        Ok(match batch {
            None => Vec::new(),
            Some(BatchRef::Id(id)) => vec![id.as_str().to_owned()],
            Some(BatchRef::Name(name)) => vec![self.batch_id_by_name(project, name).await?],
            Some(other) => {
                return Err(Error::validation(format!(
                    "unsupported batch reference {other:?}"
                )))
            }
        })
    }

    /// Every delivery of `query` in (revision, label id) order, after the consumer's position.
    async fn collect_deliveries(
        &self,
        project: ProjectId,
        query: DeliveryQuery,
    ) -> Result<Vec<Delivery>> {
        let batch_ids = self.export_filters_for(&project, &query.batch).await?;
        let scope = batch_ids.first().map(|b| format!("batch={b}"));
        let (since, start) = match &query.since {
            DeliverySince::Beginning => (None, None),
            DeliverySince::Timestamp(t) => (Some(*t), None),
            DeliverySince::LastCall { consumer } => {
                let pos = self
                    .cursors
                    .position(project.as_str(), consumer, scope.as_deref())
                    .await?;
                (pos.as_ref().map(|p| p.at), pos)
            }
            other => {
                return Err(Error::validation(format!(
                    "Labelbox cannot start deliveries at {other:?}"
                )))
            }
        };
        let overlap =
            chrono::TimeDelta::from_std(self.options.delivery_overlap).unwrap_or_default();
        let filters = ExportFilters {
            last_activity_at: since.map(|t| TimeRange::since(t - overlap)),
            batch_ids,
            global_keys: query
                .task_id
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            workflow_status: Some(ExportWorkflowStatus::Done),
            ..ExportFilters::default()
        };
        let mut seen = HashSet::new();
        let mut out: Vec<Delivery> = Vec::new();
        let mut lines = self.lines(&project, filters, true);
        while let Some(line) = lines.try_next().await? {
            for d in deliveries_from_line(&line, &project) {
                let rev = d.updated_at.or(d.delivered_at);
                let fresh = match (&start, since, rev) {
                    (Some(p), _, Some(r)) => !p.covers(&r, d.id.as_str()),
                    (None, Some(s), Some(r)) => r >= s,
                    (_, Some(_), None) => false,
                    (_, None, _) => true,
                };
                let before_until = query.until.is_none_or(|u| rev.is_none_or(|r| r < u));
                if fresh && before_until && seen.insert((d.id.clone(), rev)) {
                    out.push(d);
                }
            }
        }
        out.sort_by(|a, b| {
            (a.updated_at.or(a.delivered_at), a.id.as_str())
                .cmp(&(b.updated_at.or(b.delivered_at), b.id.as_str()))
        });
        if let DeliverySince::LastCall { .. } = query.since {
            let mut tracker = KeysetTracker::new(scope, start.as_ref());
            for d in &mut out {
                d.checkpoint = tracker.advance(d.updated_at.or(d.delivered_at), d.id.as_str());
            }
        }
        Ok(out)
    }
}

/// A batch name when the caller gave none.
fn default_batch_name() -> String {
    format!("labelmux-{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"))
}

fn batch_from_wire(
    project: &ProjectId,
    b: wire::Batch,
    labeling: Option<LabelingProgress>,
) -> Batch {
    let size = b.size.unwrap_or(0);
    Batch {
        id: BatchId::new(b.id.clone()),
        project_id: project.clone(),
        name: b.name.clone(),
        status: BatchStatus::Created,
        vendor_status: "created".to_owned(),
        counts: BatchCounts {
            submitted: Some(size),
            created: size,
            failed: 0,
            pending: 0,
            canceled: 0,
        },
        labeling,
        failures: Vec::new(),
        messages: Vec::new(),
        raw: b.raw,
    }
}

#[async_trait]
impl Provider for LabelboxProvider {
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
        let priority = spec.priority.unwrap_or(5);
        if !(1..=5).contains(&priority) {
            return Err(op_err(
                Error::validation(format!(
                    "Labelbox batch priority is 1 (first) to 5, got {priority}"
                )),
                OP,
            ));
        }
        let name = spec.name.clone().unwrap_or_else(default_batch_name);
        let dataset = self.dataset_for(project).await.map_err(|e| op_err(e, OP))?;
        report(&progress, ProgressEvent::Phase("uploading"));
        // Keys of the specs uploaded with their task's index in the stream, and the keys
        // generated for tasks without one.
        let keys: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
        let generated: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
        let (k2, g2, batch_name, prog) = (
            keys.clone(),
            generated.clone(),
            name.clone(),
            progress.clone(),
        );
        let mut index = 0u64;
        let refused_early: Arc<Mutex<Vec<TaskCreationFailure>>> = Arc::default();
        let r2 = refused_early.clone();
        let mut seen_keys: HashSet<String> = HashSet::new();
        let submitted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let s2 = submitted.clone();
        let specs = tasks.filter_map(move |t| {
            let i = index;
            index += 1;
            let out = match t {
                Err(e) => Some(Err(e)),
                Ok(t) => {
                    let key = match &t.external_key {
                        Some(k) => k.clone(),
                        None => {
                            let k = format!("{batch_name}-{i}");
                            g2.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((i, k.clone()));
                            k
                        }
                    };
                    report(&prog, ProgressEvent::TasksSent(1));
                    s2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let spec = if seen_keys.insert(key.clone()) {
                        data_row_spec(&t, &key)
                    } else {
                        // One data row per key: a second task with it would overwrite the first.
                        Err(Error::validation(format!(
                            "external key {key:?} is given to more than one task of this batch"
                        )))
                    };
                    match spec {
                        Ok(spec) => {
                            k2.lock().unwrap_or_else(|e| e.into_inner()).push((key, i));
                            Some(Ok(spec))
                        }
                        // A task Labelbox cannot take is reported, the others go on.
                        Err(e) => {
                            r2.lock().unwrap_or_else(|e| e.into_inner()).push(
                                TaskCreationFailure {
                                    index: Some(i),
                                    external_key: Some(key),
                                    data: Some(Value::Object(t.inputs.clone())),
                                    errors: vec![e.message().to_owned()],
                                },
                            );
                            None
                        }
                    }
                }
            };
            futures::future::ready(out)
        });
        let upload = self
            .client
            .upsert_data_rows(&dataset, specs, self.options.upload)
            .await
            .map_err(|e| op_err(e, OP))?;
        let keys = std::mem::take(&mut *keys.lock().unwrap_or_else(|e| e.into_inner()));
        let generated = std::mem::take(&mut *generated.lock().unwrap_or_else(|e| e.into_inner()));
        let index_of: HashMap<&str, u64> = keys.iter().map(|(k, i)| (k.as_str(), *i)).collect();
        // Rows the upload refused; tasks refused before it never reached `keys`.
        let refused: HashSet<String> = upload
            .failed
            .iter()
            .filter_map(|f| f.spec.global_key.clone())
            .collect();
        let mut failures: Vec<TaskCreationFailure> =
            std::mem::take(&mut *refused_early.lock().unwrap_or_else(|e| e.into_inner()));
        failures.extend(upload.failed.iter().map(|f| {
            TaskCreationFailure {
                index: f
                    .spec
                    .global_key
                    .as_deref()
                    .and_then(|k| index_of.get(k).copied()),
                external_key: f.spec.global_key.clone(),
                data: f.spec.row_data.clone().map(Value::String),
                errors: vec![f
                    .message
                    .clone()
                    .unwrap_or_else(|| "refused by Labelbox".into())],
            }
        }));
        let batch_keys: Vec<String> = keys
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !refused.contains(*k))
            .cloned()
            .collect();
        if batch_keys.is_empty() {
            return Err(op_err(
                Error::new(ErrorKind::InvalidRequest, {
                    // Distinct reasons only, and a few: a thousand rows refused for the
                    // same reason make one line, not a thousand.
                    let mut reasons: Vec<String> = Vec::new();
                    for e in failures.iter().flat_map(|f| f.errors.iter()) {
                        if !reasons.contains(e) {
                            reasons.push(e.clone());
                        }
                    }
                    let shown = reasons.len().min(5);
                    let more = reasons.len() - shown;
                    format!(
                        "Labelbox refused every data row ({} rows), no batch was created: {}{}",
                        failures.len(),
                        reasons[..shown].join("; "),
                        if more > 0 {
                            format!("; and {more} other reasons")
                        } else {
                            String::new()
                        }
                    )
                }),
                OP,
            ));
        }
        report(&progress, ProgressEvent::Phase("creating batch"));
        let key_of_id: HashMap<String, String> = upload
            .created
            .iter()
            .filter_map(|r| Some((r.id.clone(), r.global_key.clone()?)))
            .collect();
        let created = self
            .client
            .create_batches(
                project.as_str(),
                &name,
                &BatchRows::GlobalKeys(batch_keys.clone()),
                &CreateBatchOptions {
                    priority: i64::from(priority),
                    ..CreateBatchOptions::default()
                },
            )
            .await
            .map_err(|e| op_err(e, OP))?;
        let mut not_added = HashSet::new();
        for b in &created {
            for id in &b.failed_data_row_ids {
                let key = key_of_id.get(id).cloned().unwrap_or_else(|| id.clone());
                not_added.insert(key.clone());
                failures.push(TaskCreationFailure {
                    index: index_of.get(key.as_str()).copied(),
                    external_key: Some(key),
                    data: None,
                    errors: vec!["Labelbox did not add the data row to the batch (already in the project, or its asset could not be read)".into()],
                });
            }
        }
        let mut ids = created.iter().map(|b| BatchId::new(b.batch.id.clone()));
        let batch_id = ids
            .next()
            .ok_or_else(|| op_err(Error::decode("Labelbox created no batch"), OP))?;
        report(&progress, ProgressEvent::BatchOpened(batch_id.clone()));
        let task_ids: Vec<TaskId> = batch_keys
            .iter()
            .filter(|k| !not_added.contains(*k))
            .map(|k| TaskId::new(k.clone()))
            .collect();
        Ok(BatchReceipt {
            batch_id,
            more_batches: ids.collect(),
            project_id: project.clone(),
            submitted: submitted.load(std::sync::atomic::Ordering::Relaxed),
            created: task_ids.len() as u64,
            failures,
            unknown: Vec::new(),
            task_ids,
            already_existed: Vec::new(),
            generated_keys: generated,
            raw: json!({
                "upsert_tasks": upload.tasks.iter().map(|t| t.raw.clone()).collect::<Vec<_>>(),
                "batches": created.iter().map(|b| b.batch.raw.clone()).collect::<Vec<_>>(),
            }),
        })
    }

    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        let b = self
            .client
            .get_batch(project.as_str(), batch.as_str())
            .await?;
        let overview = self
            .client
            .project_overview(
                project.as_str(),
                &OverviewScope::Batches(vec![batch.as_str().to_owned()]),
            )
            .await?;
        Ok(batch_from_wire(
            project,
            b,
            Some(LabelingProgress {
                by_state: stats_from_overview(&overview),
            }),
        ))
    }

    fn list_batches(&self, project: &ProjectId) -> BoxStream<'static, Result<Batch>> {
        let project = project.clone();
        self.client
            .list_batches(project.as_str())
            .map_ok(move |b| batch_from_wire(&project, b, None))
            .boxed()
    }

    async fn cancel_batch(&self, project: &ProjectId, batch: &BatchId) -> Result<()> {
        self.client
            .archive_batch(project.as_str(), batch.as_str())
            .await
    }

    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        self.task_by_key(project, task.as_str())
            .await?
            .ok_or_else(|| {
                op_err(
                    Error::new(
                        ErrorKind::NotFound,
                        format!("no data row with global key {task} in project {project}"),
                    ),
                    "get_task",
                )
            })
    }

    async fn find_task(&self, project: &ProjectId, external_key: &str) -> Result<Option<Task>> {
        self.task_by_key(project, external_key).await
    }

    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        let this = self.clone();
        let project = project.clone();
        stream::once(async move {
            let batch_ids = this.export_filters_for(&project, &filter.batch).await?;
            let window = (filter.from.is_some() || filter.to.is_some()).then_some(TimeRange {
                start: filter.from,
                end: filter.to,
            });
            let filters = ExportFilters {
                batch_ids,
                last_activity_at: window,
                ..ExportFilters::default()
            };
            let states = filter.states.clone();
            let include_answers = filter.include_answers;
            let p2 = project.clone();
            Ok::<_, Error>(
                this.lines(&project, filters, include_answers)
                    .map_ok(move |l| {
                        let mut t = task_from_line(&l, &p2);
                        if !include_answers {
                            t.answers = None;
                        }
                        t
                    })
                    .try_filter(move |t| {
                        futures::future::ready(
                            t.batch_id.is_some()
                                && (states.is_empty() || states.contains(&t.state)),
                        )
                    }),
            )
        })
        .try_flatten()
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
        let s = stream::once(async move {
            let all = this
                .collect_deliveries(pid, query)
                .await
                .map_err(|e| op_err(e, "deliveries"))?;
            Ok::<_, Error>(stream::iter(all.into_iter().map(Ok)))
        })
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
        // The scope names the batch by id, as `collect_deliveries` does.
        let batch_ids = self
            .export_filters_for(project, &query.batch)
            .await
            .map_err(|e| op_err(e, "consumer_output"))?;
        let scope = batch_ids.first().map(|b| format!("batch={b}"));
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
        if tasks.is_empty() {
            return Ok(BulkReport::default());
        }
        let queues = self.client.task_queues(project.as_str()).await?;
        let queue = match &rework.queue {
            Some(q) => queues
                .iter()
                .find(|x| &x.id == q || x.name.as_deref() == Some(q.as_str())),
            None => queues
                .iter()
                .find(|x| x.queue_type == Some(QueueType::ManualRework)),
        }
        .ok_or_else(|| {
            op_err(
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "project {project} has no such rework queue ({:?})",
                        rework.queue
                    ),
                ),
                OP,
            )
        })?;
        if !rework.reasons.is_empty() {
            // Labelbox's queue move takes no reason; it stays in the logs.
            tracing::info!(project = project.as_str(), reasons = ?rework.reasons, "rework reasons are not sent to Labelbox");
        }
        let keys: Vec<String> = tasks.iter().map(|t| t.as_str().to_owned()).collect();
        self.client
            .move_data_rows_to_queue(
                project.as_str(),
                Some(&queue.id),
                &DataRowIdentifiers::GlobalKeys(keys),
            )
            .await?;
        Ok(BulkReport {
            done: tasks.to_vec(),
            refused: Vec::new(),
        })
    }

    async fn set_priority(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        priority: i32,
    ) -> Result<()> {
        if tasks.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = tasks.iter().map(|t| t.as_str().to_owned()).collect();
        self.client
            .update_queue_priority(
                project.as_str(),
                priority,
                Some(&DataRowIdentifiers::GlobalKeys(keys)),
            )
            .await
            .map(drop)
    }

    async fn project(&self, project: &ProjectId) -> Result<Project> {
        let p = self.client.get_project(project.as_str()).await?;
        Ok(Project {
            id: ProjectId::new(p.id.clone()),
            name: p.name.clone(),
            state: p.setup_complete.map(|_| "setup complete".to_owned()),
            kind: p.allowed_media_type.as_ref().map(|m| m.as_str().to_owned()),
            description: p.description.clone(),
            raw: p.raw,
        })
    }

    async fn project_stats(
        &self,
        project: &ProjectId,
        options: StatsOptions,
    ) -> Result<ProjectStats> {
        if options.from.is_some() || options.to.is_some() {
            return Err(op_err(
                Error::new(
                    ErrorKind::Unsupported,
                    "Labelbox counts per state only for the whole project (no time window)",
                ),
                "project_stats",
            ));
        }
        let overview = self
            .client
            .project_overview(project.as_str(), &OverviewScope::Project)
            .await?;
        Ok(ProjectStats {
            project_id: project.clone(),
            tasks_by_state: stats_from_overview(&overview),
            raw: overview.raw,
        })
    }
}
