//! The contract: public async test functions every adapter runs through [`crate::contract_tests!`].
//!
//! Each function takes a fresh [`Fixture`], asserts exact counts, and panics on a breach.
//! A function whose operations the adapter's capabilities rule out prints a `SKIPPED` line to
//! stderr and returns.

use crate::support::*;
use crate::{has, requires, skip_note, FaultConfig, Fixture};
use chrono::{Duration as Span, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use labelmux_core::{
    BatchId, Delivery, DeliveryQuery, Error, ErrorKind, Operation as Op, ProjectId,
    Property as Prop, StatsOptions, TaskFilter, TaskId, TaskSpec, TaskState,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Tasks of the large batches (plain and under faults).
pub const LARGE_BATCH: usize = 2500;

/// Create [`LARGE_BATCH`] tasks from a lazily generated stream; the batch completes with
/// exactly that many created and none failed; listing the batch returns every task once with
/// every external key.
pub async fn create_batch_from_stream_creates_every_task_once(f: &dyn Fixture) {
    const T: &str = "create_batch_from_stream_creates_every_task_once";
    if !requires(f, T, &[Op::CreateBatch.into()]) {
        return;
    }
    let c = create(f, "large", 0..LARGE_BATCH).await;
    assert_all_created(&c, LARGE_BATCH as u64);
    let tasks = tasks_of(f, &c).await;
    assert_eq!(tasks.len(), LARGE_BATCH, "tasks listed for the batch");
    let ids: HashSet<&TaskId> = tasks.iter().map(|t| &t.id).collect();
    assert_eq!(ids.len(), LARGE_BATCH, "listed task ids are unique");
    let keys: BTreeSet<String> = tasks
        .iter()
        .filter_map(|t| t.external_key.clone())
        .collect();
    let want: BTreeSet<String> = c.keys.iter().cloned().collect();
    assert_eq!(
        keys.len(),
        LARGE_BATCH,
        "every listed task keeps its external key"
    );
    assert_eq!(keys, want, "external keys of the listed tasks");
    for t in &tasks {
        assert_eq!(t.project_id, f.project(), "task {} project", t.id);
        if let Some(b) = &t.batch_id {
            assert_eq!(b, &c.batch_id, "task {} batch", t.id);
        }
    }
}

/// Submitting the same external keys again creates no second task (idempotent vendors only).
pub async fn resubmitted_external_keys_create_no_duplicates(f: &dyn Fixture) {
    const T: &str = "resubmitted_external_keys_create_no_duplicates";
    if !requires(
        f,
        T,
        &[
            Op::CreateBatch.into(),
            Op::ListTasks.into(),
            Prop::IdempotentCreate.into(),
        ],
    ) {
        return;
    }
    let first = create(f, "idem", 0..20).await;
    assert_all_created(&first, 20);
    // Same keys, same inputs, a second batch. Its creation may report the duplicates as
    // failures or as no-ops; what matters is what exists afterwards.
    let p = "idem".to_owned();
    let again = stream::iter(0..20usize)
        .map(move |i| Ok::<_, Error>(f.valid_task(i).with_external_key(key(&p, i))))
        .boxed();
    let receipt = f
        .provider()
        .create_batch(&f.project(), batch_spec("idem-again"), again, None)
        .await;
    if let Ok(r) = &receipt {
        wait_batch(f, &r.batch_id).await;
    }
    let project = f.project();
    let all = ok(
        "list_tasks",
        f.provider()
            .list_tasks(&project, TaskFilter::default())
            .try_collect::<Vec<_>>()
            .await,
    );
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for t in &all {
        if let Some(k) = &t.external_key {
            *per_key.entry(k.clone()).or_default() += 1;
        }
    }
    for k in &first.keys {
        assert_eq!(per_key.get(k), Some(&1), "tasks with external key {k}");
    }
    assert_eq!(
        all.len(),
        20,
        "tasks in the project after resubmitting 20 keys"
    );
}

/// After the workforce finishes, deliveries since a timestamp taken before creation return
/// each task exactly once with answers; a timestamp after everything returns nothing.
pub async fn deliveries_since_timestamp_deliver_each_task_once(f: &dyn Fixture) {
    const T: &str = "deliveries_since_timestamp_deliver_each_task_once";
    if !requires(f, T, &[Op::CreateBatch.into(), Op::DeliveriesSince.into()]) {
        return;
    }
    let before = Utc::now() - Span::seconds(1);
    let c = create(f, "since", 0..40).await;
    assert_all_created(&c, 40);
    let ids = ids_by_key(f, &c).await;
    assert_eq!(
        deliveries(f, DeliveryQuery::since(before)).await.len(),
        0,
        "nothing is delivered before the workforce finishes"
    );
    let delivered = f.finish_all().await;
    assert_eq!(delivered, 40, "tasks the emulator delivered");
    let ds = deliveries(f, DeliveryQuery::since(before)).await;
    assert_exactly("deliveries since before creation", &ds, &ids);
    for d in &ds {
        if let Some(at) = d.delivered_at {
            assert!(
                at >= before,
                "delivery {} at {at} precedes {before}",
                d.task_id
            );
        }
    }
    let batch = deliveries(f, DeliveryQuery::since(before).batch(c.batch_id.clone())).await;
    assert_exactly("deliveries of the batch", &batch, &ids);
    // `until` is an exclusive upper bound on the delivery's revision time.
    let revision = |d: &Delivery| d.updated_at.or(d.delivered_at);
    if let Some(last) = ds.iter().filter_map(revision).max() {
        let bounded = deliveries(f, DeliveryQuery::since(before).with_until(last)).await;
        let expected = ds
            .iter()
            .filter(|d| revision(d).is_none_or(|r| r < last))
            .count();
        assert_eq!(
            bounded.len(),
            expected,
            "deliveries until {last} (exclusive) of {} delivered",
            ds.len()
        );
        assert!(
            bounded.iter().all(|d| revision(d).is_none_or(|r| r < last)),
            "a delivery at or after the until bound {last} was returned"
        );
        let everything = deliveries(f, DeliveryQuery::since(before).with_until(after_all())).await;
        assert_eq!(
            everything.len(),
            ds.len(),
            "deliveries until a time after everything"
        );
    }
    let none = deliveries(f, DeliveryQuery::since(after_all())).await;
    assert!(
        none.is_empty(),
        "deliveries since a time after everything: {:?}",
        none.iter().map(|d| &d.task_id).collect::<Vec<_>>()
    );
}

/// Far enough ahead to be after every delivery whatever precision timestamps travel with.
fn after_all() -> chrono::DateTime<Utc> {
    Utc::now() + Span::seconds(2)
}

/// Two since-last-call consumers are independent and each call returns only what is new.
pub async fn since_last_call_consumers_are_independent(f: &dyn Fixture) {
    const T: &str = "since_last_call_consumers_are_independent";
    if !requires(
        f,
        T,
        &[Op::CreateBatch.into(), Op::DeliveriesSinceLastCall.into()],
    ) {
        return;
    }
    let first = create(f, "slc1", 0..12).await;
    assert_all_created(&first, 12);
    let first_ids = ids_by_key(f, &first).await;
    f.finish_all().await;
    let a1 = pull(f, "contract-a", true).await;
    assert_exactly("consumer A, first call", &a1, &first_ids);
    let b1 = pull(f, "contract-b", true).await;
    assert_exactly("consumer B, first call (independent of A)", &b1, &first_ids);

    let second = create(f, "slc2", 100..107).await;
    assert_all_created(&second, 7);
    let second_ids = ids_by_key(f, &second).await;
    f.finish_all().await;
    let a2 = pull(f, "contract-a", true).await;
    assert_exactly("consumer A, second call (only the new)", &a2, &second_ids);
    let a3 = pull(f, "contract-a", true).await;
    assert!(
        a3.is_empty(),
        "consumer A, third call with nothing new: {:?}",
        a3.iter().map(|d| &d.task_id).collect::<Vec<_>>()
    );
    let b2 = pull(f, "contract-b", true).await;
    assert_exactly("consumer B, second call", &b2, &second_ids);
    let c1 = pull(f, "contract-c", true).await;
    let mut all = first_ids.clone();
    all.extend(second_ids);
    assert_exactly("a new consumer starts at the beginning", &c1, &all);
}

/// With a client-side cursor, deliveries not committed are delivered again; committed ones are
/// not. (Server-side cursors move on read: there is nothing to commit.)
pub async fn uncommitted_consumer_is_redelivered(f: &dyn Fixture) {
    const T: &str = "uncommitted_consumer_is_redelivered";
    if !requires(
        f,
        T,
        &[Op::CreateBatch.into(), Op::DeliveriesSinceLastCall.into()],
    ) {
        return;
    }
    if f.provider().capabilities().has(Prop::ServerSideConsumer) {
        skip_note(&format!(
            "SKIPPED {T}: {} keeps consumer cursors server-side (no commit step to test)",
            f.provider().vendor()
        ));
        return;
    }
    let c = create(f, "commit", 0..9).await;
    assert_all_created(&c, 9);
    let ids = ids_by_key(f, &c).await;
    f.finish_all().await;
    let first = pull(f, "contract-uncommitted", false).await;
    assert_exactly("first pull, not committed", &first, &ids);
    let again = pull(f, "contract-uncommitted", true).await;
    assert_exactly(
        "second pull re-delivers what was not committed",
        &again,
        &ids,
    );
    let after = pull(f, "contract-uncommitted", true).await;
    assert!(
        after.is_empty(),
        "after committing, nothing is new: {after:?}"
    );
}

/// Rejecting a delivered task sends it back for rework; once the workforce finishes again it
/// is delivered again.
pub async fn reject_sends_task_back_for_rework(f: &dyn Fixture) {
    const T: &str = "reject_sends_task_back_for_rework";
    if !requires(
        f,
        T,
        &[
            Op::CreateBatch.into(),
            Op::RejectTasks.into(),
            Op::GetTask.into(),
        ],
    ) {
        return;
    }
    let c = create(f, "reject", 0..3).await;
    assert_all_created(&c, 3);
    let ids = ids_by_key(f, &c).await;
    f.finish_all().await;
    let caps = f.provider().capabilities();
    let slc = has(&caps, Op::DeliveriesSinceLastCall.into());
    if slc {
        let seen = pull(f, "contract-reject", true).await;
        assert_exactly("deliveries before the rejection", &seen, &ids);
    }
    let project = f.project();
    let target = ids.values().next().cloned().expect("three tasks");
    let before = ok("get_task", f.provider().get_task(&project, &target).await);
    assert!(
        before.state.is_finished(),
        "task {target} should be finished before rejection, is {:?}",
        before.state
    );
    let reject_time = Utc::now();
    ok(
        "reject_task",
        f.provider()
            .reject_task(&project, &target, &["contract: wrong label".to_owned()])
            .await,
    );
    let rejected = ok("get_task", f.provider().get_task(&project, &target).await);
    assert!(
        matches!(
            rejected.state,
            TaskState::Rejected | TaskState::InRework | TaskState::New | TaskState::InProgress
        ),
        "a rejected task is back in rework; state {:?} (vendor {:?})",
        rejected.state,
        rejected.vendor_state
    );
    let others: Vec<&TaskId> = ids.values().filter(|id| **id != target).collect();
    for id in &others {
        let t = ok("get_task", f.provider().get_task(&project, id).await);
        assert!(
            t.state.is_finished(),
            "untouched task {id} stays {:?}",
            t.state
        );
    }
    let redelivered = f.finish_all().await;
    assert_eq!(redelivered, 1, "only the rejected task is delivered again");
    let after = ok("get_task", f.provider().get_task(&project, &target).await);
    assert!(
        after.state.is_finished(),
        "reworked task is finished again, is {:?}",
        after.state
    );
    if let (Some(old), Some(new)) = (before.delivered_at, after.delivered_at) {
        assert!(new > old, "re-delivery moves delivered_at ({old} -> {new})");
    }
    if has(&caps, Op::DeliveriesSince.into()) {
        let since = deliveries(f, DeliveryQuery::since(reject_time)).await;
        let by_id = once_each("deliveries since the rejection", &since);
        assert!(
            by_id.contains_key(&target),
            "the reworked task {target} is delivered again"
        );
    }
    if slc {
        let again = pull(f, "contract-reject", true).await;
        let want: BTreeMap<String, TaskId> = ids
            .iter()
            .filter(|(_, id)| **id == target)
            .map(|(k, id)| (k.clone(), id.clone()))
            .collect();
        assert_exactly("consumer after rework: only the re-delivery", &again, &want);
    }
}

/// A priority set with `set_priority` is what `get_task` reports; other tasks are unchanged.
pub async fn priority_updates_are_visible(f: &dyn Fixture) {
    const T: &str = "priority_updates_are_visible";
    if !requires(
        f,
        T,
        &[
            Op::CreateBatch.into(),
            Op::SetPriority.into(),
            Op::GetTask.into(),
        ],
    ) {
        return;
    }
    let c = create(f, "prio", 0..5).await;
    assert_all_created(&c, 5);
    let ids: Vec<TaskId> = ids_by_key(f, &c).await.into_values().collect();
    let project = f.project();
    let before = ok("get_task", f.provider().get_task(&project, &ids[4]).await);
    ok(
        "set_priority",
        f.provider().set_priority(&project, &ids[..2], 7).await,
    );
    for id in &ids[..2] {
        let t = ok("get_task", f.provider().get_task(&project, id).await);
        assert_eq!(t.priority, Some(7), "priority of updated task {id}");
    }
    ok(
        "set_priority",
        f.provider().set_priority(&project, &ids[1..2], -3).await,
    );
    let t = ok("get_task", f.provider().get_task(&project, &ids[1]).await);
    assert_eq!(t.priority, Some(-3), "a second update wins");
    let untouched = ok("get_task", f.provider().get_task(&project, &ids[4]).await);
    assert_eq!(
        untouched.priority, before.priority,
        "a task not in the update keeps its priority"
    );
}

/// Deleting a mix of new and delivered tasks deletes exactly the deletable ones and reports
/// each refused one with a reason; refused tasks still exist, deleted ones are NotFound.
pub async fn delete_removes_only_deletable_tasks(f: &dyn Fixture) {
    const T: &str = "delete_removes_only_deletable_tasks";
    if !requires(
        f,
        T,
        &[
            Op::CreateBatch.into(),
            Op::DeleteTasks.into(),
            Op::GetTask.into(),
        ],
    ) {
        return;
    }
    let done = create(f, "del-done", 0..3).await;
    assert_all_created(&done, 3);
    let done_ids: BTreeSet<TaskId> = ids_by_key(f, &done).await.into_values().collect();
    f.finish_all().await;
    let fresh = create(f, "del-new", 10..14).await;
    assert_all_created(&fresh, 4);
    let new_ids: BTreeSet<TaskId> = ids_by_key(f, &fresh).await.into_values().collect();
    let mut request: Vec<TaskId> = Vec::new();
    // Interleave so a vendor refusing the whole request for one bad id is caught.
    let mut d = done_ids.iter();
    let mut n = new_ids.iter();
    loop {
        match (n.next(), d.next()) {
            (None, None) => break,
            (a, b) => request.extend(a.into_iter().chain(b).cloned()),
        }
    }
    let project = f.project();
    let report = ok(
        "delete_tasks",
        f.provider().delete_tasks(&project, &request).await,
    );
    let deleted: BTreeSet<TaskId> = report.deleted.iter().cloned().collect();
    let refused: BTreeSet<TaskId> = report.refused.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(
        deleted.len(),
        report.deleted.len(),
        "no task reported deleted twice"
    );
    assert_eq!(
        refused.len(),
        report.refused.len(),
        "no task reported refused twice"
    );
    assert_eq!(deleted, new_ids, "deleted tasks are exactly the new ones");
    assert_eq!(
        refused, done_ids,
        "refused tasks are exactly the delivered ones"
    );
    for (t, reason) in &report.refused {
        assert!(!reason.trim().is_empty(), "refusal of {t} gives a reason");
    }
    for id in &new_ids {
        match f.provider().get_task(&project, id).await {
            Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "deleted task {id}: {e}"),
            Ok(t) => panic!("deleted task {id} is still there: {:?}", t.state),
        }
    }
    for id in &done_ids {
        let t = ok("get_task", f.provider().get_task(&project, id).await);
        assert!(
            t.state.is_finished(),
            "refused task {id} is unchanged: {:?}",
            t.state
        );
    }
    if has(&f.provider().capabilities(), Op::ListTasks.into()) {
        // Vendors that delete by canceling (Scale) may still list the task as canceled.
        let left: Vec<_> = tasks_of(f, &fresh)
            .await
            .into_iter()
            .filter(|t| t.state != TaskState::Canceled)
            .map(|t| (t.id, t.state))
            .collect();
        assert!(
            left.is_empty(),
            "deleted tasks are gone from listings (or listed as canceled): {left:?}"
        );
    }
}

/// An unknown task is `NotFound`, naming vendor and operation.
pub async fn unknown_task_is_not_found(f: &dyn Fixture) {
    const T: &str = "unknown_task_is_not_found";
    if !requires(f, T, &[Op::GetTask.into()]) {
        return;
    }
    let project = f.project();
    let e = f
        .provider()
        .get_task(&project, &f.unknown_task_id())
        .await
        .expect_err("get_task of an unknown task must fail");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_names(f, &e, "get_task");
    assert!(!e.is_retryable(), "NotFound is not worth retrying: {e}");
}

/// A wrong API key is `Unauthorized`, and no key shows in the error.
pub async fn wrong_key_is_unauthorized(f: &dyn Fixture) {
    const T: &str = "wrong_key_is_unauthorized";
    let caps = f.provider().capabilities();
    let bad = f.unauthorized_provider();
    let project = f.project();
    let (e, op) = if caps.supports(Op::ProjectInfo) {
        (bad.project(&project).await.map(|_| ()), "project")
    } else if caps.supports(Op::GetTask) {
        (
            bad.get_task(&project, &f.unknown_task_id())
                .await
                .map(|_| ()),
            "get_task",
        )
    } else if caps.supports(Op::ListTasks) {
        let first = bad.list_tasks(&project, TaskFilter::default()).next().await;
        (first.map_or(Ok(()), |r| r.map(|_| ())), "list_tasks")
    } else {
        skip_note(&format!(
            "SKIPPED {T}: {} lacks project_info, get_task and list_tasks",
            f.provider().vendor()
        ));
        return;
    };
    let e = e.expect_err("a wrong API key must be refused");
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{op}: {e}");
    assert_names(f, &e, op);
    assert!(!e.is_retryable(), "Unauthorized is not worth retrying: {e}");
}

/// A task the vendor refuses is reported with the vendor's message, never dropped; the valid
/// tasks around it are created.
pub async fn invalid_task_failure_is_not_lost(f: &dyn Fixture) {
    const T: &str = "invalid_task_failure_is_not_lost";
    if !requires(f, T, &[Op::CreateBatch.into()]) {
        return;
    }
    let invalid = f.invalid_task();
    let bad_key = key("invalid", 1);
    let specs: Vec<TaskSpec> = vec![
        f.valid_task(0).with_external_key(key("invalid", 0)),
        invalid.spec.clone().with_external_key(bad_key.clone()),
        f.valid_task(2).with_external_key(key("invalid", 2)),
    ];
    let tasks = stream::iter(specs.into_iter().map(Ok)).boxed();
    let project = f.project();
    let receipt = match f
        .provider()
        .create_batch(&project, batch_spec("invalid"), tasks, None)
        .await
    {
        Err(e) => {
            // Refusing the whole call is fine, as long as the vendor's reason reaches the caller.
            assert!(
                matches!(e.kind(), ErrorKind::Validation | ErrorKind::InvalidRequest),
                "a refused batch fails with Validation/InvalidRequest: {e}"
            );
            assert!(
                e.to_string().contains(&invalid.message_contains),
                "the error carries the vendor's message {:?}: {e}",
                invalid.message_contains
            );
            assert_names(f, &e, "create_batch");
            return;
        }
        Ok(r) => r,
    };
    let status = wait_batch(f, &receipt.batch_id).await;
    // A vendor refuses a task either synchronously (the receipt lists it; the vendor's batch
    // may never have seen it) or while creating (the batch status lists it).
    let synchronous = !receipt.failures.is_empty();
    let failures = match (&status, synchronous) {
        (Some(b), false) => b.failures.clone(),
        _ => receipt.failures.clone(),
    };
    assert_eq!(
        failures.len(),
        1,
        "creation failures reported (receipt, else batch status): {failures:?}"
    );
    match &status {
        Some(b) => {
            if synchronous {
                assert!(b.counts.failed <= 1, "batch counts: {:?}", b.counts);
            } else {
                assert_eq!(b.counts.failed, 1, "batch counts: {:?}", b.counts);
            }
            assert_eq!(b.counts.created, 2, "batch counts: {:?}", b.counts);
        }
        None => assert_eq!(receipt.created, 2, "receipt: {receipt:?}"),
    }
    let failure = &failures[0];
    let text = failure.errors.join("; ");
    assert!(
        text.contains(&invalid.message_contains),
        "the failure carries the vendor's message {:?}: {text:?}",
        invalid.message_contains
    );
    if let Some(i) = failure.index {
        assert_eq!(i, 1, "the failure points at the second task");
    }
    if let Some(k) = &failure.external_key {
        assert_eq!(k, &bad_key, "the failure names the refused task's key");
    }
    assert!(
        failure.index.is_some() || failure.external_key.is_some() || failure.data.is_some(),
        "the failure identifies the task: {failure:?}"
    );
}

/// Errors of every kind of operation name the vendor and the operation, and hide the key.
pub async fn errors_name_vendor_and_operation(f: &dyn Fixture) {
    let caps = f.provider().capabilities();
    let project = f.project();
    let p = f.provider();
    let unknown = f.unknown_task_id();
    let unknown_batch = BatchId::new("999999999");
    let mut checked = Vec::new();
    if caps.supports(Op::GetTask) {
        let e = p
            .get_task(&project, &unknown)
            .await
            .expect_err("unknown task");
        checked.push(("get_task", e));
    }
    if caps.supports(Op::BatchStatus) {
        let e = p
            .batch_status(&project, &unknown_batch)
            .await
            .expect_err("unknown batch");
        checked.push(("batch_status", e));
    }
    if caps.supports(Op::RejectTasks) {
        let e = p
            .reject_task(&project, &unknown, &["x".to_owned()])
            .await
            .expect_err("reject of an unknown task");
        checked.push(("reject_task", e));
    }
    if caps.supports(Op::ProjectInfo) {
        let e = p
            .project(&ProjectId::new("424242424"))
            .await
            .expect_err("unknown project");
        assert_eq!(e.kind(), ErrorKind::NotFound, "unknown project: {e}");
        checked.push(("project", e));
    }
    if caps.supports(Op::DeliveriesSince) {
        let e = f
            .unauthorized_provider()
            .deliveries(&project, DeliveryQuery::all())
            .next()
            .await
            .expect("a wrong key yields an error item")
            .expect_err("wrong key");
        checked.push(("deliveries", e));
    }
    assert!(
        !checked.is_empty(),
        "{} supports none of the operations this test checks",
        p.vendor()
    );
    for (op, e) in &checked {
        assert_names(f, e, op);
    }
}

/// Under injected faults (10% 503, a burst of 429 with Retry-After, 3% dropped connections) a
/// [`LARGE_BATCH`]-task batch and full delivery pulls lose nothing and duplicate nothing. The
/// since-last-call pulls then run again while answers are lost after the vendor acted (5% of
/// responses dropped, 5% cut short, after the vendor answered): a consumer that commits what it
/// takes and pulls again after a failure ends with every delivery exactly once.
pub async fn faults_lose_nothing_and_duplicate_nothing(f: &dyn Fixture) {
    const T: &str = "faults_lose_nothing_and_duplicate_nothing";
    if !requires(f, T, &[Op::CreateBatch.into()]) {
        return;
    }
    f.set_faults(FaultConfig {
        unavailable_rate: 0.10,
        burst_429: 6,
        retry_after_secs: 0.05,
        drop_rate: 0.03,
        seed: Some(0x1abe1),
        ..FaultConfig::default()
    })
    .await;
    let before = Utc::now() - Span::seconds(1);
    let c = create(f, "faulty", 0..LARGE_BATCH).await;
    assert_all_created(&c, LARGE_BATCH as u64);
    let ids = ids_by_key(f, &c).await;
    assert_eq!(ids.len(), LARGE_BATCH);
    let delivered = f.finish_all().await;
    assert_eq!(delivered, LARGE_BATCH, "tasks the emulator delivered");
    let caps = f.provider().capabilities();
    if caps.supports(Op::DeliveriesSince) {
        let ds = deliveries(f, DeliveryQuery::since(before)).await;
        assert_exactly("deliveries since, under faults", &ds, &ids);
    }
    if caps.supports(Op::DeliveriesSinceLastCall) {
        let ds = pull(f, "contract-faults", true).await;
        assert_exactly("since-last-call, under faults", &ds, &ids);
        let again = pull(f, "contract-faults", true).await;
        assert!(
            again.is_empty(),
            "second pull under faults: {} items",
            again.len()
        );
    }
    if !caps.supports(Op::DeliveriesSince) && !caps.supports(Op::DeliveriesSinceLastCall) {
        skip_note(&format!(
            "SKIPPED {T} (delivery part): {} lacks deliveries_since and deliveries_since_last_call",
            f.provider().vendor()
        ));
    }
    // Answers lost after the vendor acted: the case a server-side cursor loses deliveries in.
    f.set_faults(FaultConfig {
        drop_after_rate: 0.05,
        truncate_after_rate: 0.05,
        seed: Some(0x1abe2),
        ..FaultConfig::default()
    })
    .await;
    if caps.supports(Op::DeliveriesSinceLastCall) {
        let ds = pull_resuming(f, "contract-lost-answers", 20).await;
        assert_exactly("since-last-call, answers lost after acting", &ds, &ids);
        let again = pull_resuming(f, "contract-lost-answers", 20).await;
        assert!(
            again.is_empty(),
            "second pull with answers lost after acting: {} items",
            again.len()
        );
    }
    f.set_faults(FaultConfig::default()).await;
}

/// Project information, statistics and schema agree with what the suite created.
pub async fn project_reads_agree_with_created_tasks(f: &dyn Fixture) {
    const T: &str = "project_reads_agree_with_created_tasks";
    if !requires(f, T, &[Op::CreateBatch.into()]) {
        return;
    }
    let caps = f.provider().capabilities();
    let project = f.project();
    let c = create(f, "stats", 0..6).await;
    assert_all_created(&c, 6);
    if caps.supports(Op::ProjectInfo) {
        let p = ok("project", f.provider().project(&project).await);
        assert_eq!(p.id, project, "project id");
    } else {
        skip_note(&format!(
            "SKIPPED {T} (project): {} lacks project_info",
            f.provider().vendor()
        ));
    }
    if caps.supports(Op::ProjectStats) {
        let s = ok(
            "project_stats",
            f.provider()
                .project_stats(&project, StatsOptions::default())
                .await,
        );
        assert_eq!(
            s.total(),
            6,
            "tasks counted by project_stats: {:?}",
            s.tasks_by_state
        );
        f.finish_all().await;
        let s = ok(
            "project_stats",
            f.provider()
                .project_stats(&project, StatsOptions::default())
                .await,
        );
        assert_eq!(s.total(), 6, "tasks after delivery: {:?}", s.tasks_by_state);
        let finished: u64 = s
            .tasks_by_state
            .iter()
            .filter(|(k, _)| TaskState::parse(k).is_finished())
            .map(|(_, n)| n)
            .sum();
        assert_eq!(finished, 6, "all six are finished: {:?}", s.tasks_by_state);
    } else {
        skip_note(&format!(
            "SKIPPED {T} (project_stats): {} lacks project_stats",
            f.provider().vendor()
        ));
    }
    if caps.supports(Op::TaskSchema) {
        let schema = ok("task_schema", f.provider().task_schema(&project).await);
        assert!(
            schema.is_object(),
            "the task schema is a JSON object: {schema}"
        );
    } else {
        skip_note(&format!(
            "SKIPPED {T} (task_schema): {} lacks task_schema",
            f.provider().vendor()
        ));
    }
}

/// Every operation the adapter claims unsupported returns `Unsupported`; every operation it
/// claims supported does not.
pub async fn capabilities_match_behaviour(f: &dyn Fixture) {
    let caps = f.provider().capabilities();
    let project = f.project();
    let p = f.provider();
    let task = f.unknown_task_id();
    let batch = BatchId::new("999999999");
    let mut unsupported = Vec::new();
    for &op in Op::ALL {
        let claimed = caps.supports(op);
        let name = op.as_str();
        let outcome: Option<Result<(), Error>> = match op {
            Op::CreateBatch if !claimed => Some(
                p.create_batch(
                    &project,
                    batch_spec("unsupported"),
                    stream::iter(vec![Ok(f.valid_task(0))]).boxed(),
                    None,
                )
                .await
                .map(|_| ()),
            ),
            // Creating a batch just to prove support is left to the other tests.
            Op::CreateBatch => None,
            Op::CancelBatch => Some(p.cancel_batch(&project, &batch).await),
            Op::BatchStatus => Some(p.batch_status(&project, &batch).await.map(|_| ())),
            Op::GetTask => Some(p.get_task(&project, &task).await.map(|_| ())),
            Op::ListTasks => Some(
                p.list_tasks(&project, TaskFilter::default())
                    .next()
                    .await
                    .map_or(Ok(()), |r| r.map(|_| ())),
            ),
            Op::DeliveriesSince => Some(
                p.deliveries(&project, DeliveryQuery::all())
                    .next()
                    .await
                    .map_or(Ok(()), |r| r.map(|_| ())),
            ),
            Op::DeliveriesSinceLastCall => Some(
                p.deliveries(&project, DeliveryQuery::since_last_call("contract-caps"))
                    .next()
                    .await
                    .map_or(Ok(()), |r| r.map(|_| ())),
            ),
            Op::RejectTasks => Some(p.reject_task(&project, &task, &["x".to_owned()]).await),
            Op::SetPriority => Some(
                p.set_priority(&project, std::slice::from_ref(&task), 1)
                    .await,
            ),
            Op::DeleteTasks => Some(
                p.delete_tasks(&project, std::slice::from_ref(&task))
                    .await
                    .map(|_| ()),
            ),
            Op::ProjectInfo => Some(p.project(&project).await.map(|_| ())),
            Op::ProjectStats => Some(
                p.project_stats(&project, StatsOptions::default())
                    .await
                    .map(|_| ()),
            ),
            Op::TaskSchema => Some(p.task_schema(&project).await.map(|_| ())),
            Op::ListBatches => Some(
                p.list_batches(&project)
                    .next()
                    .await
                    .map_or(Ok(()), |r| r.map(|_| ())),
            ),
            Op::FindTask => Some(
                p.find_task(&project, "contract-no-such-key")
                    .await
                    .map(|_| ()),
            ),
            // An operation added to the enum after this suite: nothing to call yet.
            _ => None,
        };
        let Some(outcome) = outcome else { continue };
        let got_unsupported = matches!(&outcome, Err(e) if e.kind() == ErrorKind::Unsupported);
        if claimed {
            assert!(
                !got_unsupported,
                "{name} is claimed supported but answered Unsupported: {:?}",
                outcome.err()
            );
        } else {
            let e = outcome.expect_err(&format!("{name} is claimed unsupported but succeeded"));
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{name}: {e}");
            assert_eq!(e.vendor(), Some(p.vendor()), "{name}: {e}");
            unsupported.push(name);
        }
    }
    if unsupported.is_empty() {
        skip_note(&format!(
            "NOTE capabilities_match_behaviour: {} claims every operation; checked that none answers Unsupported",
            p.vendor()
        ));
    }
}

/// Assert an error names the vendor and an operation, shows both in its message, and hides
/// every secret.
fn assert_names(f: &dyn Fixture, e: &Error, provider_op: &str) {
    let vendor = f.provider().vendor();
    assert_eq!(
        e.vendor(),
        Some(vendor),
        "{provider_op}: error names the vendor: {e:?}"
    );
    let op = e
        .operation()
        .unwrap_or_else(|| panic!("{provider_op}: error names no operation: {e:?}"));
    assert!(
        !op.trim().is_empty(),
        "{provider_op}: empty operation: {e:?}"
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{vendor}: {op}: ")),
        "{provider_op}: message names vendor and operation: {shown}"
    );
    assert_no_secret(f, e);
}
