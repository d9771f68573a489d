//! Deliberately broken adapters, to prove the suite catches breaches.
//!
//! [`Mutant`] wraps a working [`Fixture`] and injects one [`Bug`] into its provider;
//! [`crate::contract_self_tests!`] runs suite functions against such mutants and expects them
//! to fail. A suite that passed a mutant would be asserting nothing.

use crate::{FaultConfig, Fixture, InvalidTask};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use labelmux_core::{
    Batch, BatchId, BatchReceipt, BatchSpec, Capabilities, Delivery, DeliveryQuery, Error,
    ErrorKind, Operation, Progress, ProjectId, Provider, ProviderLayer, Result, Task, TaskFilter,
    TaskId, TaskSpec, TaskSpecStream,
};

/// One bug a broken adapter could have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// `deliveries` yields its first delivery twice.
    DuplicateFirstDelivery,
    /// `deliveries` loses its last delivery.
    DropLastDelivery,
    /// `list_tasks` loses its last task.
    DropLastListedTask,
    /// `create_batch` and `batch_status` drop creation failures.
    SwallowCreationFailures,
    /// `get_task` reports a missing task as an internal error.
    NotFoundAsInternal,
    /// `get_task` errors lose the operation name.
    ErrorsWithoutOperation,
    /// `capabilities` claims `reject_task` is unsupported though it works.
    ClaimRejectUnsupported,
}

/// A fixture whose provider has one [`Bug`].
pub struct Mutant<F> {
    inner: F,
    bug: Bug,
}

impl<F: Fixture> Mutant<F> {
    /// Wrap `inner`, breaking its provider with `bug`.
    pub fn new(inner: F, bug: Bug) -> Self {
        Mutant { inner, bug }
    }

    fn p(&self) -> &dyn Provider {
        self.inner.provider()
    }
}

#[async_trait]
impl<F: Fixture> Fixture for Mutant<F> {
    fn provider(&self) -> &dyn Provider {
        self
    }
    fn project(&self) -> ProjectId {
        self.inner.project()
    }
    fn unauthorized_provider(&self) -> &dyn Provider {
        self.inner.unauthorized_provider()
    }
    async fn finish_all(&self) -> usize {
        self.inner.finish_all().await
    }
    async fn set_faults(&self, faults: FaultConfig) {
        self.inner.set_faults(faults).await
    }
    fn valid_task(&self, i: usize) -> TaskSpec {
        self.inner.valid_task(i)
    }
    fn invalid_task(&self) -> InvalidTask {
        self.inner.invalid_task()
    }
    fn unknown_task_id(&self) -> TaskId {
        self.inner.unknown_task_id()
    }
    fn secrets(&self) -> Vec<String> {
        self.inner.secrets()
    }
}

/// Collect a stream, edit the items, stream them again (fine for tests' sizes).
fn edited<'a, T: Send + 'a>(
    s: BoxStream<'a, Result<T>>,
    edit: impl FnOnce(&mut Vec<Result<T>>) + Send + 'a,
) -> BoxStream<'a, Result<T>> {
    stream::once(async move {
        let mut items: Vec<Result<T>> = s.collect().await;
        edit(&mut items);
        stream::iter(items)
    })
    .flatten()
    .boxed()
}

/// A mutant is a layer over the fixture's provider: only the operations a bug touches are
/// overridden; the rest forward.
#[async_trait]
impl<F: Fixture> ProviderLayer for Mutant<F> {
    fn inner(&self) -> &dyn Provider {
        self.p()
    }

    fn capabilities(&self) -> Capabilities {
        let caps = self.p().capabilities();
        if self.bug == Bug::ClaimRejectUnsupported {
            caps.without(Operation::RejectTasks)
        } else {
            caps
        }
    }

    async fn create_batch(
        &self,
        project: &ProjectId,
        spec: BatchSpec,
        tasks: TaskSpecStream<'_>,
        progress: Progress,
    ) -> Result<BatchReceipt> {
        let mut r = self
            .p()
            .create_batch(project, spec, tasks, progress)
            .await?;
        if self.bug == Bug::SwallowCreationFailures {
            r.failures.clear();
        }
        Ok(r)
    }

    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        let mut b = self.p().batch_status(project, batch).await?;
        if self.bug == Bug::SwallowCreationFailures {
            b.failures.clear();
            b.counts.failed = 0;
        }
        Ok(b)
    }

    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        self.p()
            .get_task(project, task)
            .await
            .map_err(|e| match self.bug {
                Bug::NotFoundAsInternal if e.kind() == ErrorKind::NotFound => {
                    let op = e.operation().unwrap_or("get_task").to_owned();
                    Error::new(ErrorKind::Internal, e.message())
                        .with_vendor(self.vendor())
                        .with_operation(op)
                }
                Bug::ErrorsWithoutOperation => {
                    Error::new(e.kind(), e.message()).with_vendor(self.vendor())
                }
                _ => e,
            })
    }

    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        let s = self.p().list_tasks(project, filter);
        if self.bug == Bug::DropLastListedTask {
            edited(s, |v| {
                v.pop();
            })
        } else {
            s
        }
    }

    fn deliveries(
        &self,
        project: &ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'static, Result<Delivery>> {
        let s = self.p().deliveries(project, query);
        match self.bug {
            Bug::DropLastDelivery => edited(s, |v| {
                v.pop();
            }),
            Bug::DuplicateFirstDelivery => edited(s, |v| {
                if let Some(Ok(first)) = v.first() {
                    let again = first.clone();
                    v.push(Ok(again));
                }
            }),
            _ => s,
        }
    }
}

/// Run `test`; the panic message if it panicked, `None` if it passed.
pub async fn panic_message<Fut: std::future::Future<Output = ()>>(test: Fut) -> Option<String> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(test).catch_unwind().await {
        Ok(()) => None,
        Err(p) => Some(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default(),
        ),
    }
}

/// Assert the suite function `test` failed on a mutant with `bug`, for the expected reason.
pub fn assert_caught(test: &str, bug: Bug, message: Option<String>, expected: &str) {
    match message {
        None => panic!("the contract's `{test}` passed an adapter with bug {bug:?}"),
        Some(m) => assert!(
            m.contains(expected),
            "the contract's `{test}` failed on bug {bug:?}, but not for the expected reason \
             (want {expected:?}): {m}"
        ),
    }
}
