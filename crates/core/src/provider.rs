//! The `Provider` trait every vendor adapter implements.

use crate::model::*;
use crate::{BatchId, Error, ProjectId, Result, TaskId, Vendor};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde_json::Value;
use std::sync::Arc;

/// A stream of tasks to create. Items may fail (e.g. a bad row in a file); an adapter that meets
/// an `Err` aborts the batch before the vendor starts creating anything where it can, and
/// returns that error.
pub type TaskSpecStream<'a> = BoxStream<'a, Result<TaskSpec>>;

/// Progress of a long operation, for progress bars.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// A named phase started (e.g. `"uploading"`, `"finalizing"`).
    Phase(&'static str),
    /// `count` more tasks were handed to the vendor.
    TasksSent(u64),
    /// `count` more items (tasks, deliveries) were received.
    ItemsReceived(u64),
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

/// One vendor behind the vendor-neutral API. Every method names the project it works on, so one
/// provider serves many projects.
///
/// Operations a vendor lacks return [`crate::ErrorKind::Unsupported`]; [`Provider::capabilities`]
/// says which up front.
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
    ) -> Result<BatchReceipt>;

    /// The state of a batch and of the creation of its tasks.
    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch>;

    /// Cancel a batch's creation; tasks not yet created become canceled.
    async fn cancel_batch(&self, project: &ProjectId, batch: &BatchId) -> Result<()>;

    /// One task.
    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task>;

    /// Tasks matching `filter`, page by page, as a stream.
    fn list_tasks<'a>(
        &'a self,
        project: &'a ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'a, Result<Task>>;

    /// Deliveries matching `query`, page by page, as a stream. With
    /// [`DeliverySince::LastCall`] on a vendor without a server-side cursor, each delivery
    /// carries a [`Checkpoint`] to pass to [`Provider::commit_consumer`] once it is stored.
    fn deliveries<'a>(
        &'a self,
        project: &'a ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'a, Result<Delivery>>;

    /// Record that `consumer` has safely stored everything up to `checkpoint`. A no-op for
    /// vendors that keep the cursor server-side (their cursor moves when deliveries are read).
    async fn commit_consumer(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        let _ = (project, consumer, checkpoint);
        Ok(())
    }

    /// Send a task back for rework, with reasons.
    async fn reject_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
        reasons: &[String],
    ) -> Result<()>;

    /// Set the priority of tasks (lower is worked first).
    async fn set_priority(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        priority: i32,
    ) -> Result<()>;

    /// Delete tasks that may be deleted; report the others.
    async fn delete_tasks(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<DeleteReport>;

    /// Project information.
    async fn project(&self, project: &ProjectId) -> Result<Project>;

    /// Task counts by state, optionally over a time window.
    async fn project_stats(
        &self,
        project: &ProjectId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<ProjectStats>;

    /// The JSON Schema (or vendor equivalent) that created tasks must match.
    async fn task_schema(&self, project: &ProjectId) -> Result<Value>;
}

/// Shorthand for an adapter's `Unsupported` error.
pub fn unsupported<T>(vendor: Vendor, operation: &str) -> Result<T> {
    Err(Error::unsupported(vendor, operation))
}
