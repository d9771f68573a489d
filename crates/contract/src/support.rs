//! Helpers shared by the suite: creating batches, waiting for creation, pulling deliveries.

use crate::{has, Fixture};
use futures::stream::{self, StreamExt, TryStreamExt};
use labelmux_core::{
    Batch, BatchId, BatchReceipt, BatchSpec, BatchStatus, Delivery, DeliveryQuery, Error,
    Operation as Op, Property as Prop, Task, TaskFilter, TaskId, TaskSpec, WaitOptions,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How long a batch may take to be created: far more than an in-process emulator needs even
/// under faults.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The external key the suite gives task `i` of a test.
pub fn key(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:05}")
}

/// A batch name unique to the test and round.
pub fn batch_spec(prefix: &str) -> BatchSpec {
    BatchSpec::default().with_name(format!("{prefix}-batch"))
}

/// Panic with the full error (the suite's errors carry vendor, operation and message).
pub fn ok<T>(what: &str, r: Result<T, Error>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e} ({e:?})"),
    }
}

/// A created batch: its receipt, its final status (where the vendor has one) and the keys sent.
pub struct Created {
    pub batch_id: BatchId,
    pub receipt: BatchReceipt,
    pub status: Option<Batch>,
    pub keys: Vec<String>,
}

/// Create one batch of tasks `range` (keys `prefix-i`), generated lazily from a stream, and
/// wait until its creation is over.
pub async fn create(f: &dyn Fixture, prefix: &str, range: std::ops::Range<usize>) -> Created {
    let keys: Vec<String> = range.clone().map(|i| key(prefix, i)).collect();
    let p = prefix.to_owned();
    let tasks = stream::iter(range)
        .map(move |i| Ok::<TaskSpec, Error>(f.valid_task(i).with_external_key(key(&p, i))))
        .boxed();
    let receipt = ok(
        "create_batch",
        f.provider()
            .create_batch(&f.project(), batch_spec(prefix), tasks, None)
            .await,
    );
    assert_eq!(
        receipt.submitted,
        keys.len() as u64,
        "create_batch receipt: every task of the stream counts as submitted"
    );
    let status = wait_batch(f, &receipt.batch_id).await;
    Created {
        batch_id: receipt.batch_id.clone(),
        receipt,
        status,
        keys,
    }
}

/// Wait (the provider's own `wait_batch`) until the batch's creation is over; `None` if the
/// vendor has no batch status.
pub async fn wait_batch(f: &dyn Fixture, batch: &BatchId) -> Option<Batch> {
    if !has(&f.provider().capabilities(), Op::BatchStatus.into()) {
        return None;
    }
    let options = WaitOptions::default()
        .with_interval(POLL_INTERVAL, POLL_INTERVAL * 5)
        .with_timeout(WAIT_TIMEOUT);
    Some(ok(
        "wait_batch",
        f.provider().wait_batch(&f.project(), batch, options).await,
    ))
}

/// Assert a batch created exactly `n` tasks and failed none.
pub fn assert_all_created(c: &Created, n: u64) {
    match &c.status {
        Some(b) => {
            assert_eq!(
                b.status,
                BatchStatus::Created,
                "batch status (vendor: {:?}, messages: {:?})",
                b.vendor_status,
                b.messages
            );
            assert_eq!(b.counts.created, n, "batch counts: {:?}", b.counts);
            assert_eq!(
                b.counts.failed,
                0,
                "batch failures: {:?}",
                b.failures.iter().take(5).collect::<Vec<_>>()
            );
            assert!(b.failures.is_empty(), "failures: {:?}", b.failures);
            assert_eq!(b.counts.pending, 0, "batch counts: {:?}", b.counts);
        }
        None => {
            assert_eq!(c.receipt.created, n, "receipt: {:?}", c.receipt.failures);
        }
    }
    assert!(
        c.receipt.failures.is_empty(),
        "receipt failures: {:?}",
        c.receipt.failures
    );
}

/// Every task of a batch, via `list_tasks` (or the receipt's ids where the vendor cannot list).
pub async fn tasks_of(f: &dyn Fixture, c: &Created) -> Vec<Task> {
    if has(&f.provider().capabilities(), Op::ListTasks.into()) {
        let filter = TaskFilter::default().with_batch(c.batch_id.clone());
        let project = f.project();
        ok(
            "list_tasks",
            f.provider()
                .list_tasks(&project, filter)
                .try_collect::<Vec<_>>()
                .await,
        )
    } else {
        let project = f.project();
        let mut out = Vec::new();
        for id in &c.receipt.task_ids {
            out.push(ok("get_task", f.provider().get_task(&project, id).await));
        }
        out
    }
}

/// Task id by external key for the tasks of a batch; asserts every key maps to one task.
pub async fn ids_by_key(f: &dyn Fixture, c: &Created) -> BTreeMap<String, TaskId> {
    let tasks = tasks_of(f, c).await;
    let mut map = BTreeMap::new();
    for t in tasks {
        let k = t
            .external_key
            .clone()
            .unwrap_or_else(|| panic!("task {} lost its external key: {t:?}", t.id));
        assert!(
            map.insert(k.clone(), t.id.clone()).is_none(),
            "external key {k} appears on two tasks"
        );
    }
    assert_eq!(
        map.keys().cloned().collect::<Vec<_>>(),
        {
            let mut k = c.keys.clone();
            k.sort();
            k
        },
        "listed tasks' external keys"
    );
    map
}

/// Drain a delivery query.
pub async fn deliveries(f: &dyn Fixture, query: DeliveryQuery) -> Vec<Delivery> {
    let project = f.project();
    ok(
        "deliveries",
        f.provider()
            .deliveries(&project, query)
            .try_collect::<Vec<_>>()
            .await,
    )
}

/// Pull everything new for `consumer`. For client-side cursors, commit each delivery's
/// checkpoint right after it is consumed when `commit` is set.
pub async fn pull(f: &dyn Fixture, consumer: &str, commit: bool) -> Vec<Delivery> {
    let server_side = f.provider().capabilities().has(Prop::ServerSideConsumer);
    let project = f.project();
    let mut s = f
        .provider()
        .deliveries(&project, DeliveryQuery::since_last_call(consumer));
    let mut out = Vec::new();
    while let Some(d) = s.next().await {
        let d = ok("deliveries (since last call)", d);
        if !server_side {
            let cp = d.checkpoint.clone().unwrap_or_else(|| {
                panic!("a client-side consumer cursor must give every delivery a checkpoint: {d:?}")
            });
            if commit {
                ok(
                    "commit_consumer",
                    f.provider().commit_consumer(&project, consumer, &cp).await,
                );
            }
        }
        out.push(d);
    }
    out
}

/// Pull everything new for `consumer` as a careful program does when answers can be lost: keep
/// what it takes, commit the last checkpoint taken when the pull ends or fails, and when a pull
/// fails part-way (a temporary failure that outlived the transport's retries, e.g. a stream
/// cut short), pull again from that commit, up to `pulls` times. Returns every delivery taken,
/// across pulls.
pub async fn pull_resuming(f: &dyn Fixture, consumer: &str, pulls: usize) -> Vec<Delivery> {
    let server_side = f.provider().capabilities().has(Prop::ServerSideConsumer);
    let project = f.project();
    let mut out = Vec::new();
    for attempt in 1..=pulls {
        let mut s = f
            .provider()
            .deliveries(&project, DeliveryQuery::since_last_call(consumer));
        let mut failed = None;
        let mut last = None;
        while let Some(d) = s.next().await {
            match d {
                Ok(d) => {
                    if !server_side {
                        last = Some(d.checkpoint.clone().unwrap_or_else(|| {
                            panic!("a client-side consumer cursor must give every delivery a checkpoint: {d:?}")
                        }));
                    }
                    out.push(d);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(cp) = last {
            ok(
                "commit_consumer",
                f.provider().commit_consumer(&project, consumer, &cp).await,
            );
        }
        drop(s);
        match failed {
            None => return out,
            Some(e) if e.kind().is_temporary() || e.kind() == labelmux_core::ErrorKind::Decode => {
                assert!(
                    attempt < pulls,
                    "deliveries (since last call) still failing after {pulls} pulls: {e}"
                );
            }
            Some(e) => panic!("deliveries (since last call) failed: {e} ({e:?})"),
        }
    }
    out
}

/// Deliveries per task id; asserts each task is delivered at most once and with answers.
pub fn once_each<'a>(what: &str, ds: &'a [Delivery]) -> HashMap<TaskId, &'a Delivery> {
    let mut map = HashMap::new();
    for d in ds {
        assert!(
            map.insert(d.task_id.clone(), d).is_none(),
            "{what}: task {} delivered twice",
            d.task_id
        );
        assert!(
            !d.answers.is_null(),
            "{what}: delivery of task {} has null answers: {d:?}",
            d.task_id
        );
    }
    map
}

/// Assert `ds` holds exactly the tasks `expected` (keys), each once, with answers.
pub fn assert_exactly(what: &str, ds: &[Delivery], expected: &BTreeMap<String, TaskId>) {
    let by_id = once_each(what, ds);
    assert_eq!(
        ds.len(),
        expected.len(),
        "{what}: expected {} deliveries, got {}",
        expected.len(),
        ds.len()
    );
    for (k, id) in expected {
        let d = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{what}: task {id} (key {k}) was not delivered"));
        if let Some(dk) = &d.external_key {
            assert_eq!(dk, k, "{what}: delivery of task {id} carries the wrong key");
        }
    }
}

/// Assert no secret shows in an error's Display or Debug.
pub fn assert_no_secret(f: &dyn Fixture, e: &Error) {
    let shown = format!("{e} {e:?}");
    for s in f.secrets() {
        if !s.is_empty() {
            assert!(!shown.contains(&s), "an API key leaked into an error: {e}");
        }
    }
}
