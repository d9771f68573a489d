//! The `Provider` trait every vendor adapter implements, and [`ProviderLayer`], the forwarding
//! base for cross-cutting behaviour wrapped around any provider.

use crate::cursor::OutputMark;
use crate::model::*;
use crate::{BatchId, Error, ErrorKind, ProjectId, Result, TaskId, Vendor};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// A stream of tasks to create. Items may fail (e.g. a bad row in a file); an adapter that meets
/// an `Err` aborts the batch before the vendor starts creating anything where it can, and
/// returns that error.
pub type TaskSpecStream<'a> = BoxStream<'a, Result<TaskSpec>>;

/// Progress of a long operation, for progress bars.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A named phase started (e.g. `"uploading"`, `"finalizing"`).
    Phase(&'static str),
    /// `count` more tasks were handed to the vendor.
    TasksSent(u64),
    /// `count` more items (tasks, deliveries) were received.
    ItemsReceived(u64),
    /// The vendor created the batch with this id (printed and journaled at once, so a failure
    /// afterwards still says which batch to follow).
    BatchOpened(BatchId),
}

/// Receives progress events. Implementations must be cheap: events arrive on the hot path.
pub trait ProgressObserver: Send + Sync {
    /// Called for every event.
    fn on_progress(&self, event: ProgressEvent);
}

/// A shareable observer, or none.
pub type Progress = Option<Arc<dyn ProgressObserver>>;

/// Send `event` to `progress`, if there is an observer.
pub fn report(progress: &Progress, event: ProgressEvent) {
    if let Some(p) = progress {
        p.on_progress(event);
    }
}

/// A stream of one error, for list operations that fail before their first request.
pub fn error_stream<T: Send + 'static>(error: Error) -> BoxStream<'static, Result<T>> {
    stream::once(async move { Err(error) }).boxed()
}

/// One vendor behind the vendor-neutral API. Every method names the project it works on, so one
/// provider serves many projects.
///
/// Every operation but [`Provider::vendor`] and [`Provider::capabilities`] has a default that
/// returns [`ErrorKind::Unsupported`] (or is built on other operations), so an adapter or a test
/// double implements only what it has; `capabilities()` says which up front. Streams are
/// `'static`: they own what they need, so a caller can spawn a delivery pump.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Which vendor this is.
    fn vendor(&self) -> Vendor;

    /// What this adapter supports.
    fn capabilities(&self) -> Capabilities;

    /// Create one batch from a stream of tasks. Memory must not grow with the number of tasks.
    /// Returns once every task has been handed to the vendor.
    async fn create_batch(
        &self,
        project: &ProjectId,
        spec: BatchSpec,
        tasks: TaskSpecStream<'_>,
        progress: Progress,
    ) -> Result<BatchReceipt> {
        let _ = (project, spec, tasks, progress);
        unsupported(self.vendor(), "create_batch")
    }

    /// The state of a batch: its creation job and, where reported, its labeling progress.
    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        let _ = (project, batch);
        unsupported(self.vendor(), "batch_status")
    }

    /// The project's batches, newest first where the vendor orders them.
    fn list_batches(&self, project: &ProjectId) -> BoxStream<'static, Result<Batch>> {
        let _ = project;
        error_stream(Error::unsupported(self.vendor(), "list_batches"))
    }

    /// Poll [`Provider::batch_status`] until the batch reaches what `options` waits for; a
    /// `Timeout` error (naming the batch and its last status) after `options.timeout`.
    async fn wait_batch(
        &self,
        project: &ProjectId,
        batch: &BatchId,
        options: WaitOptions,
    ) -> Result<Batch> {
        let started = Instant::now();
        let mut pause = options.interval;
        loop {
            let status = self.batch_status(project, batch).await?;
            if let Some(progress) = &options.progress {
                progress.report(&status);
            }
            if options.is_reached(&status) {
                return Ok(status);
            }
            let left = options.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "batch {batch} did not reach {:?} within {:?} (last status: {}, {} created); wait longer or check `batch_status` later: the batch goes on",
                        options.until, options.timeout, status.status, status.counts.created
                    ),
                )
                .with_vendor(self.vendor())
                .with_operation("wait_batch"));
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause.mul_f64(1.5)).min(options.max_interval.max(options.interval));
        }
    }

    /// Cancel a batch's creation; tasks not yet created become canceled.
    async fn cancel_batch(&self, project: &ProjectId, batch: &BatchId) -> Result<()> {
        let _ = (project, batch);
        unsupported(self.vendor(), "cancel_batch")
    }

    /// One task.
    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        let _ = (project, task);
        unsupported(self.vendor(), "get_task")
    }

    /// The task created with this external key, if any.
    async fn find_task(&self, project: &ProjectId, external_key: &str) -> Result<Option<Task>> {
        let _ = (project, external_key);
        unsupported(self.vendor(), "find_task")
    }

    /// Tasks matching `filter`, page by page, as a stream.
    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        let _ = (project, filter);
        error_stream(Error::unsupported(self.vendor(), "list_tasks"))
    }

    /// Deliveries matching `query`, page by page, as a stream. With
    /// [`DeliverySince::LastCall`] on a vendor without a server-side cursor, each delivery
    /// carries a [`Checkpoint`] to pass to [`Provider::commit_consumer`] once it is stored.
    fn deliveries(
        &self,
        project: &ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'static, Result<Delivery>> {
        let _ = (project, query);
        error_stream(Error::unsupported(self.vendor(), "deliveries"))
    }

    /// Record that `consumer` has safely stored everything up to `checkpoint`. Nothing to do
    /// for vendors that keep the cursor server-side (their cursor moves when deliveries are read).
    async fn commit_consumer(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        let _ = (project, consumer, checkpoint);
        Ok(())
    }

    /// [`Provider::commit_consumer`], also recording the output the checkpoint covers (a file
    /// and its durable length) atomically with the position, so that a writer resuming after a
    /// crash can cut what no commit covers ([`Provider::consumer_output`]). The default commits
    /// without the mark (vendors whose cursor is not kept by labelmux).
    async fn commit_consumer_output(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
        output: &OutputMark,
    ) -> Result<()> {
        let _ = output;
        self.commit_consumer(project, consumer, checkpoint).await
    }

    /// The output mark recorded by the last [`Provider::commit_consumer_output`] of the
    /// consumer reading `query` (a [`DeliverySince::LastCall`] query; its filters pick the
    /// cursor), or `None` (no such commit, another kind of query, or a vendor whose cursor is
    /// not kept by labelmux).
    async fn consumer_output(
        &self,
        project: &ProjectId,
        query: &DeliveryQuery,
    ) -> Result<Option<OutputMark>> {
        let _ = (project, query);
        Ok(None)
    }

    /// Send tasks back for rework, with reasons and (where the vendor has several) a queue.
    async fn reject_tasks(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        rework: Rework,
    ) -> Result<BulkReport> {
        let _ = (project, tasks, rework);
        unsupported(self.vendor(), "reject_tasks")
    }

    /// Send one task back for rework: [`Provider::reject_tasks`] for one task, its refusal
    /// turned into an error.
    async fn reject_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
        reasons: &[String],
    ) -> Result<()> {
        let report = self
            .reject_tasks(
                project,
                std::slice::from_ref(task),
                Rework::new(reasons.iter().cloned()),
            )
            .await?;
        match report.refused.into_iter().next() {
            None => Ok(()),
            Some((_, why)) => Err(Error::validation(format!(
                "task {task} was not rejected: {why}"
            ))
            .with_vendor(self.vendor())
            .with_operation("reject_task")),
        }
    }

    /// Set the priority of tasks (lower is worked first).
    async fn set_priority(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        priority: i32,
    ) -> Result<()> {
        let _ = (project, tasks, priority);
        unsupported(self.vendor(), "set_priority")
    }

    /// Delete tasks that may be deleted; report the others.
    async fn delete_tasks(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<DeleteReport> {
        let _ = (project, tasks);
        unsupported(self.vendor(), "delete_tasks")
    }

    /// Project information.
    async fn project(&self, project: &ProjectId) -> Result<Project> {
        let _ = project;
        unsupported(self.vendor(), "project")
    }

    /// Task counts by state, optionally over a time window.
    async fn project_stats(
        &self,
        project: &ProjectId,
        options: StatsOptions,
    ) -> Result<ProjectStats> {
        let _ = (project, options);
        unsupported(self.vendor(), "project_stats")
    }

    /// The JSON Schema (or vendor equivalent) that created tasks must match.
    async fn task_schema(&self, project: &ProjectId) -> Result<Value> {
        let _ = project;
        unsupported(self.vendor(), "task_schema")
    }
}

/// Shorthand for an adapter's `Unsupported` error.
pub fn unsupported<T>(vendor: Vendor, operation: &str) -> Result<T> {
    Err(Error::unsupported(vendor, operation))
}

/// The forwarding base of a layer: cross-cutting behaviour (input mapping, test mutants,
/// metrics) wrapped around any provider. Implement [`ProviderLayer::inner`] and override only
/// the operations the layer changes; every other operation forwards to the inner provider, and
/// the layer is itself a [`Provider`]. `wait_batch` is the exception: a layer waits by polling
/// its own `batch_status` (the trait's default), so what it changes there is what waiting sees.
#[async_trait]
pub trait ProviderLayer: Send + Sync {
    /// The wrapped provider.
    fn inner(&self) -> &dyn Provider;

    /// See [`Provider::capabilities`].
    fn capabilities(&self) -> Capabilities {
        self.inner().capabilities()
    }
    /// See [`Provider::create_batch`].
    async fn create_batch(
        &self,
        project: &ProjectId,
        spec: BatchSpec,
        tasks: TaskSpecStream<'_>,
        progress: Progress,
    ) -> Result<BatchReceipt> {
        self.inner()
            .create_batch(project, spec, tasks, progress)
            .await
    }
    /// See [`Provider::batch_status`].
    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        self.inner().batch_status(project, batch).await
    }
    /// See [`Provider::list_batches`].
    fn list_batches(&self, project: &ProjectId) -> BoxStream<'static, Result<Batch>> {
        self.inner().list_batches(project)
    }
    /// See [`Provider::cancel_batch`].
    async fn cancel_batch(&self, project: &ProjectId, batch: &BatchId) -> Result<()> {
        self.inner().cancel_batch(project, batch).await
    }
    /// See [`Provider::get_task`].
    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        self.inner().get_task(project, task).await
    }
    /// See [`Provider::find_task`].
    async fn find_task(&self, project: &ProjectId, external_key: &str) -> Result<Option<Task>> {
        self.inner().find_task(project, external_key).await
    }
    /// See [`Provider::list_tasks`].
    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        self.inner().list_tasks(project, filter)
    }
    /// See [`Provider::deliveries`].
    fn deliveries(
        &self,
        project: &ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'static, Result<Delivery>> {
        self.inner().deliveries(project, query)
    }
    /// See [`Provider::commit_consumer`].
    async fn commit_consumer(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        self.inner()
            .commit_consumer(project, consumer, checkpoint)
            .await
    }
    /// See [`Provider::commit_consumer_output`].
    async fn commit_consumer_output(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
        output: &OutputMark,
    ) -> Result<()> {
        self.inner()
            .commit_consumer_output(project, consumer, checkpoint, output)
            .await
    }
    /// See [`Provider::consumer_output`].
    async fn consumer_output(
        &self,
        project: &ProjectId,
        query: &DeliveryQuery,
    ) -> Result<Option<OutputMark>> {
        self.inner().consumer_output(project, query).await
    }
    /// See [`Provider::reject_tasks`].
    async fn reject_tasks(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        rework: Rework,
    ) -> Result<BulkReport> {
        self.inner().reject_tasks(project, tasks, rework).await
    }
    /// See [`Provider::set_priority`].
    async fn set_priority(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        priority: i32,
    ) -> Result<()> {
        self.inner().set_priority(project, tasks, priority).await
    }
    /// See [`Provider::delete_tasks`].
    async fn delete_tasks(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<DeleteReport> {
        self.inner().delete_tasks(project, tasks).await
    }
    /// See [`Provider::project`].
    async fn project(&self, project: &ProjectId) -> Result<Project> {
        self.inner().project(project).await
    }
    /// See [`Provider::project_stats`].
    async fn project_stats(
        &self,
        project: &ProjectId,
        options: StatsOptions,
    ) -> Result<ProjectStats> {
        self.inner().project_stats(project, options).await
    }
    /// See [`Provider::task_schema`].
    async fn task_schema(&self, project: &ProjectId) -> Result<Value> {
        self.inner().task_schema(project).await
    }
}

#[async_trait]
impl<L: ProviderLayer> Provider for L {
    fn vendor(&self) -> Vendor {
        self.inner().vendor()
    }
    fn capabilities(&self) -> Capabilities {
        ProviderLayer::capabilities(self)
    }
    async fn create_batch(
        &self,
        project: &ProjectId,
        spec: BatchSpec,
        tasks: TaskSpecStream<'_>,
        progress: Progress,
    ) -> Result<BatchReceipt> {
        ProviderLayer::create_batch(self, project, spec, tasks, progress).await
    }
    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        ProviderLayer::batch_status(self, project, batch).await
    }
    fn list_batches(&self, project: &ProjectId) -> BoxStream<'static, Result<Batch>> {
        ProviderLayer::list_batches(self, project)
    }
    // `wait_batch` is not forwarded: the default polls the layer's own `batch_status`, so a
    // layer that changes batch status changes what waiting sees.
    async fn cancel_batch(&self, project: &ProjectId, batch: &BatchId) -> Result<()> {
        ProviderLayer::cancel_batch(self, project, batch).await
    }
    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        ProviderLayer::get_task(self, project, task).await
    }
    async fn find_task(&self, project: &ProjectId, external_key: &str) -> Result<Option<Task>> {
        ProviderLayer::find_task(self, project, external_key).await
    }
    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        ProviderLayer::list_tasks(self, project, filter)
    }
    fn deliveries(
        &self,
        project: &ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'static, Result<Delivery>> {
        ProviderLayer::deliveries(self, project, query)
    }
    async fn commit_consumer(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        ProviderLayer::commit_consumer(self, project, consumer, checkpoint).await
    }
    async fn commit_consumer_output(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
        output: &OutputMark,
    ) -> Result<()> {
        ProviderLayer::commit_consumer_output(self, project, consumer, checkpoint, output).await
    }
    async fn consumer_output(
        &self,
        project: &ProjectId,
        query: &DeliveryQuery,
    ) -> Result<Option<OutputMark>> {
        ProviderLayer::consumer_output(self, project, query).await
    }
    async fn reject_tasks(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        rework: Rework,
    ) -> Result<BulkReport> {
        ProviderLayer::reject_tasks(self, project, tasks, rework).await
    }
    async fn set_priority(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        priority: i32,
    ) -> Result<()> {
        ProviderLayer::set_priority(self, project, tasks, priority).await
    }
    async fn delete_tasks(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<DeleteReport> {
        ProviderLayer::delete_tasks(self, project, tasks).await
    }
    async fn project(&self, project: &ProjectId) -> Result<Project> {
        ProviderLayer::project(self, project).await
    }
    async fn project_stats(
        &self,
        project: &ProjectId,
        options: StatsOptions,
    ) -> Result<ProjectStats> {
        ProviderLayer::project_stats(self, project, options).await
    }
    async fn task_schema(&self, project: &ProjectId) -> Result<Value> {
        ProviderLayer::task_schema(self, project).await
    }
}

/// A layer that applies an [`InputMapping`] to every task before it reaches the provider.
pub struct MapInputs<P> {
    inner: P,
    inputs: InputMapping,
}

impl<P: Provider> MapInputs<P> {
    /// Wrap `inner` so that `inputs` is applied to every task it creates.
    pub fn new(inner: P, inputs: InputMapping) -> Self {
        MapInputs { inner, inputs }
    }
    /// The wrapped provider.
    pub fn get_ref(&self) -> &P {
        &self.inner
    }
    /// Unwrap the provider.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

#[async_trait]
impl<P: Provider> ProviderLayer for MapInputs<P> {
    fn inner(&self) -> &dyn Provider {
        &self.inner
    }

    async fn create_batch(
        &self,
        project: &ProjectId,
        spec: BatchSpec,
        tasks: TaskSpecStream<'_>,
        progress: Progress,
    ) -> Result<BatchReceipt> {
        let tasks = if self.inputs.is_empty() {
            tasks
        } else {
            let inputs = &self.inputs;
            tasks
                .map(move |item| item.and_then(|t| inputs.apply(t).map_err(Error::validation)))
                .boxed()
        };
        self.inner
            .create_batch(project, spec, tasks, progress)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use serde_json::json;
    use std::sync::Mutex;

    /// A double that implements only what these tests use.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<TaskSpec>>,
        statuses: Mutex<Vec<BatchStatus>>,
    }

    #[async_trait]
    impl Provider for Recorder {
        fn vendor(&self) -> Vendor {
            Vendor::Sama
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::new([Operation::CreateBatch], [], TaskState::Delivered)
        }
        async fn create_batch(
            &self,
            project: &ProjectId,
            _spec: BatchSpec,
            tasks: TaskSpecStream<'_>,
            _progress: Progress,
        ) -> Result<BatchReceipt> {
            let tasks: Vec<TaskSpec> = tasks.try_collect().await?;
            let n = tasks.len() as u64;
            self.seen.lock().unwrap().extend(tasks);
            Ok(BatchReceipt {
                batch_id: BatchId::new("1"),
                more_batches: vec![],
                project_id: project.clone(),
                submitted: n,
                created: n,
                failures: vec![],
                unknown: Vec::new(),
                task_ids: vec![],
                already_existed: vec![],
                generated_keys: vec![],
                raw: Value::Null,
            })
        }
        async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
            let status = self
                .statuses
                .lock()
                .unwrap()
                .pop()
                .unwrap_or(BatchStatus::Created);
            Ok(Batch {
                id: batch.clone(),
                project_id: project.clone(),
                name: None,
                status,
                vendor_status: String::new(),
                counts: BatchCounts::default(),
                labeling: None,
                failures: vec![],
                messages: vec![],
                raw: Value::Null,
            })
        }
    }

    #[tokio::test]
    async fn unimplemented_operations_are_unsupported_and_name_the_operation() {
        let p = Recorder::default();
        let project = ProjectId::new("p");
        let err = p.get_task(&project, &TaskId::new("t")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert_eq!(err.operation(), Some("get_task"));
        let err = p
            .list_tasks(&project, TaskFilter::default())
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert_eq!(err.operation(), Some("list_tasks"));
        // reject_task is built on reject_tasks, so it is unsupported too, not a loop.
        let err = p
            .reject_task(&project, &TaskId::new("t"), &["x".into()])
            .await
            .unwrap_err();
        assert_eq!(err.operation(), Some("reject_tasks"));
    }

    #[tokio::test]
    async fn wait_batch_polls_until_created_and_times_out_with_the_last_status() {
        let p = Recorder::default();
        p.statuses.lock().unwrap().extend([
            BatchStatus::Created,
            BatchStatus::Processing,
            BatchStatus::Waiting,
        ]);
        let fast = WaitOptions::default().with_interval(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(2),
        );
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let watched = fast
            .clone()
            .with_progress(move |b: &Batch| log.lock().unwrap().push(b.status.clone()));
        let b = p
            .wait_batch(&ProjectId::new("p"), &BatchId::new("1"), watched)
            .await
            .unwrap();
        assert_eq!(b.status, BatchStatus::Created);
        assert!(p.statuses.lock().unwrap().is_empty());
        // Every polled status reaches the progress callback, the final one included.
        assert_eq!(
            *seen.lock().unwrap(),
            [
                BatchStatus::Waiting,
                BatchStatus::Processing,
                BatchStatus::Created
            ]
        );
        // Labeled is never reached without labeling progress: a timeout naming the batch.
        let err = p
            .wait_batch(
                &ProjectId::new("p"),
                &BatchId::new("7"),
                fast.until(WaitUntil::Labeled)
                    .with_timeout(std::time::Duration::from_millis(20)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.to_string().contains("batch 7"), "{err}");
    }

    #[tokio::test]
    async fn the_input_mapping_layer_renames_and_forwards_the_rest() {
        let inputs = InputMapping {
            rename: [("url".to_owned(), "attachment".to_owned())].into(),
            ..InputMapping::default()
        };
        let layered = MapInputs::new(Recorder::default(), inputs);
        let tasks = stream::iter([Ok(TaskSpec::default().with_input("url", json!("u")))]).boxed();
        let project = ProjectId::new("p");
        // Both traits are in scope here, so calls name the one meant, as users of a layer do.
        Provider::create_batch(&layered, &project, BatchSpec::default(), tasks, None)
            .await
            .unwrap();
        let seen = layered.get_ref().seen.lock().unwrap().clone();
        assert_eq!(seen[0].inputs["attachment"], json!("u"));
        assert_eq!(layered.vendor(), Vendor::Sama);
        assert!(Provider::capabilities(&layered).supports(Operation::CreateBatch));
        let b = Provider::batch_status(&layered, &project, &BatchId::new("9"))
            .await
            .unwrap();
        assert_eq!(b.id, BatchId::new("9"));
    }
}
