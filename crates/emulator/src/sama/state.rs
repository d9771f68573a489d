//! The in-memory Sama store: projects, tasks, batches (creation jobs), the append-only
//! delivery log with its per-batch index, and the per-consumer cursors.
//!
//! Memory per task is kept modest: inputs are kept as the raw JSON text received, answers are
//! not stored but generated deterministically when rendered, client batch ids are interned.

use super::fixture::{Failure, NewTask};
use bytes::Bytes;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Timestamp sentinel for "not set" (saves the Option tag per field).
pub(crate) const NO_TS: i64 = i64::MIN;
/// Entry has no task.
pub(crate) const NO_TASK: u32 = u32::MAX;

pub(crate) use crate::framework::time::now_ms;

/// The seven Sama task states (§5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TaskState {
    New,
    InProgress,
    Completed,
    Approved,
    Delivered,
    Acknowledged,
    Rejected,
}

impl TaskState {
    pub(crate) const ALL: [TaskState; 7] = [
        TaskState::New,
        TaskState::InProgress,
        TaskState::Completed,
        TaskState::Approved,
        TaskState::Delivered,
        TaskState::Acknowledged,
        TaskState::Rejected,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            TaskState::New => "new",
            TaskState::InProgress => "in progress",
            TaskState::Completed => "completed",
            TaskState::Approved => "approved",
            TaskState::Delivered => "delivered",
            TaskState::Acknowledged => "acknowledged",
            TaskState::Rejected => "rejected",
        }
    }

    /// Parse a state name; `in_progress` is accepted as an alias of `in progress`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace('_', " ");
        TaskState::ALL.into_iter().find(|st| st.name() == s)
    }

    /// States whose answers are the completion answers rather than the defaults.
    pub(crate) fn has_work_answers(self) -> bool {
        matches!(
            self,
            TaskState::Completed
                | TaskState::Approved
                | TaskState::Delivered
                | TaskState::Acknowledged
        )
    }
}

/// One task.
pub(crate) struct Task {
    pub data: Box<RawValue>,
    pub client_batch_id: Option<Arc<str>>,
    pub reasons: Option<Box<[String]>>,
    pub created_at: i64,
    pub completed_at: i64,
    pub delivered_at: i64,
    pub batch_id: u64,
    pub priority: i32,
    pub state: TaskState,
    pub deleted: bool,
    pub has_output: bool,
    /// Completed with its default answers (`submit: true`) rather than by the workforce.
    pub submitted: bool,
}

/// One delivery (the log is append-only, ordered by `(at, task id)`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogEntry {
    pub task: u32,
    pub submitted: bool,
    pub at: i64,
}

/// Status of a batch creation job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchStatus {
    Waiting,
    Processing,
    Completed,
    Canceled,
    Failed,
}

impl BatchStatus {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BatchStatus::Waiting => "waiting",
            BatchStatus::Processing => "processing",
            BatchStatus::Completed => "completed",
            BatchStatus::Canceled => "canceled",
            BatchStatus::Failed => "failed",
        }
    }
}

/// Status of one record within a creation job (§4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryStatus {
    Queued,
    Created,
    Failed,
    Canceled,
}

impl EntryStatus {
    pub(crate) fn name(self) -> &'static str {
        match self {
            EntryStatus::Queued => "queued",
            EntryStatus::Created => "created",
            EntryStatus::Failed => "failed",
            EntryStatus::Canceled => "canceled",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub task: u32,
    pub status: EntryStatus,
}

/// A batch and its creation job.
pub(crate) struct Batch {
    pub id: u64,
    pub status: BatchStatus,
    pub tasks_file_name: String,
    pub notification_email: Option<String>,
    pub created_at: i64,
    pub upload_token: Option<String>,
    pub upload: Option<Bytes>,
    /// `continue.json` was accepted (or the batch was created inline).
    pub continued: bool,
    pub entries: Vec<Entry>,
    pub failures: HashMap<u32, Failure>,
    /// Created task indices, in creation order.
    pub tasks: Vec<u32>,
    pub deleted_tasks: usize,
    pub messages: Vec<String>,
    /// Batch-level `priority` / `submit` of step 1, for records without their own.
    pub defaults: (i32, bool),
    pub created: usize,
    pub failed: usize,
    pub canceled: usize,
}

impl Batch {
    pub(crate) fn new(
        id: u64,
        tasks_file_name: String,
        notification_email: Option<String>,
        now: i64,
    ) -> Self {
        Batch {
            id,
            status: BatchStatus::Waiting,
            tasks_file_name,
            notification_email,
            created_at: now,
            upload_token: None,
            upload: None,
            continued: false,
            entries: Vec::new(),
            failures: HashMap::new(),
            tasks: Vec::new(),
            deleted_tasks: 0,
            messages: Vec::new(),
            defaults: (0, false),
            created: 0,
            failed: 0,
            canceled: 0,
        }
    }

    /// Queue `n` records for creation (after a successful parse of the upload).
    pub(crate) fn queue(&mut self, n: usize) {
        let status = if self.status == BatchStatus::Processing {
            EntryStatus::Queued
        } else {
            EntryStatus::Canceled // canceled while the upload was being parsed
        };
        self.entries = vec![
            Entry {
                task: NO_TASK,
                status
            };
            n
        ];
        if status == EntryStatus::Canceled {
            self.canceled = n;
        }
    }

    /// Cancel every record not yet created; returns how many.
    pub(crate) fn cancel_queued(&mut self) -> usize {
        let mut n = 0;
        for e in &mut self.entries {
            if e.status == EntryStatus::Queued {
                e.status = EntryStatus::Canceled;
                n += 1;
            }
        }
        self.canceled += n;
        n
    }

    /// Mark the job finished (no-op unless still processing).
    pub(crate) fn finish(&mut self) {
        if self.status == BatchStatus::Processing {
            self.status = BatchStatus::Completed;
            self.messages.push(format!(
                "Batch creation finished: {} task(s) created, {} failed",
                self.created, self.failed
            ));
        }
    }
}

/// One project.
pub(crate) struct Project {
    pub id: String,
    /// The id as a JSON number when it is numeric (Sama ids are integers).
    pub numeric_id: Option<u64>,
    /// First 8 hex digits of this project's task ids.
    pub tag: u32,
    pub tasks: Vec<Task>,
    pub deleted: usize,
    pub batches: BTreeMap<u64, Batch>,
    pub log: Vec<LogEntry>,
    pub log_by_batch: HashMap<u64, Vec<u32>>,
    pub cursors: HashMap<Option<String>, usize>,
    cbids: HashSet<Arc<str>>,
    /// (delivered_at, task) of the last log entry, to keep the log ordered by (at, id).
    last_delivery: (i64, u32),
}

impl Project {
    pub(crate) fn new(id: String, tag: u32) -> Self {
        Project {
            numeric_id: id.parse().ok(),
            id,
            tag,
            tasks: Vec::new(),
            deleted: 0,
            batches: BTreeMap::new(),
            log: Vec::new(),
            log_by_batch: HashMap::new(),
            cursors: HashMap::new(),
            cbids: HashSet::new(),
            last_delivery: (i64::MIN, 0),
        }
    }

    /// 24 lowercase hex digits: the project tag then the task's index.
    pub(crate) fn task_id(&self, idx: u32) -> TaskIdOut {
        TaskIdOut { tag: self.tag, idx }
    }

    /// Resolve a task id of this project (deleted tasks included).
    pub(crate) fn task_index(&self, id: &str) -> Option<u32> {
        let id = id.trim();
        if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let tag = u32::from_str_radix(&id[..8], 16).ok()?;
        let idx = u64::from_str_radix(&id[8..], 16).ok()?;
        if tag != self.tag || idx >= self.tasks.len() as u64 {
            return None;
        }
        Some(idx as u32)
    }

    /// A live (not deleted) task by id.
    pub(crate) fn live_task(&self, id: &str) -> Option<u32> {
        self.task_index(id)
            .filter(|&i| !self.tasks[i as usize].deleted)
    }

    fn intern(&mut self, s: String) -> Arc<str> {
        if let Some(a) = self.cbids.get(s.as_str()) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.cbids.insert(a.clone());
        a
    }

    fn push_task(&mut self, nt: NewTask, batch_id: u64, now: i64) -> u32 {
        let idx = self.tasks.len() as u32;
        let client_batch_id = nt.client_batch_id.map(|s| self.intern(s));
        self.tasks.push(Task {
            data: nt.data,
            client_batch_id,
            reasons: None,
            created_at: now,
            completed_at: if nt.submit { now } else { NO_TS },
            delivered_at: NO_TS,
            batch_id,
            priority: nt.priority,
            state: if nt.submit {
                TaskState::Completed
            } else {
                TaskState::New
            },
            deleted: false,
            has_output: nt.has_output,
            submitted: nt.submit,
        });
        idx
    }

    /// Apply validated records `base..` of a processing batch. Returns false when the batch is
    /// gone or no longer processing (canceled), so the creator stops.
    pub(crate) fn create_in_batch(
        &mut self,
        batch_id: u64,
        base: usize,
        results: Vec<Result<NewTask, Failure>>,
        now: i64,
    ) -> bool {
        match self.batches.get(&batch_id) {
            Some(b) if b.status == BatchStatus::Processing => {}
            _ => return false,
        }
        let mut applied: Vec<(usize, Entry, Option<Failure>)> = Vec::with_capacity(results.len());
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(nt) => {
                    let idx = self.push_task(nt, batch_id, now);
                    applied.push((
                        base + i,
                        Entry {
                            task: idx,
                            status: EntryStatus::Created,
                        },
                        None,
                    ));
                }
                Err(f) => applied.push((
                    base + i,
                    Entry {
                        task: NO_TASK,
                        status: EntryStatus::Failed,
                    },
                    Some(f),
                )),
            }
        }
        let Some(batch) = self.batches.get_mut(&batch_id) else {
            return false;
        };
        for (ei, entry, failure) in applied {
            if let Some(slot) = batch.entries.get_mut(ei) {
                *slot = entry;
            }
            match failure {
                Some(f) => {
                    batch.failed += 1;
                    batch.failures.insert(ei as u32, f);
                }
                None => {
                    batch.created += 1;
                    batch.tasks.push(entry.task);
                }
            }
        }
        true
    }

    /// Append a delivery of task `idx` to the log, keeping the log ordered by (at, id).
    fn deliver(&mut self, idx: u32, now: i64) {
        let (last_at, last_idx) = self.last_delivery;
        let mut at = now.max(last_at);
        if at == last_at && idx <= last_idx {
            at += 1;
        }
        self.last_delivery = (at, idx);
        let pos = self.log.len() as u32;
        let task = &mut self.tasks[idx as usize];
        task.state = TaskState::Delivered;
        task.delivered_at = at;
        let entry = LogEntry {
            task: idx,
            submitted: task.submitted,
            at,
        };
        let batch_id = task.batch_id;
        self.log.push(entry);
        self.log_by_batch.entry(batch_id).or_default().push(pos);
    }

    fn complete(&mut self, idx: u32, now: i64) {
        let t = &mut self.tasks[idx as usize];
        t.state = TaskState::Completed;
        t.completed_at = now;
        t.submitted = false;
    }

    /// Every open task one step: new -> in progress -> completed -> approved (Sama's quality
    /// review) -> delivered; rejected -> in progress (rework).
    pub(crate) fn advance(&mut self) -> usize {
        let now = now_ms();
        let mut moved = 0;
        for idx in 0..self.tasks.len() as u32 {
            let t = &mut self.tasks[idx as usize];
            if t.deleted {
                continue;
            }
            match t.state {
                TaskState::New | TaskState::Rejected => t.state = TaskState::InProgress,
                TaskState::InProgress => self.complete(idx, now),
                TaskState::Completed => t.state = TaskState::Approved,
                TaskState::Approved => self.deliver(idx, now),
                TaskState::Delivered | TaskState::Acknowledged => continue,
            }
            moved += 1;
        }
        moved
    }

    pub(crate) fn complete_all(&mut self) -> usize {
        let now = now_ms();
        let mut moved = 0;
        for idx in 0..self.tasks.len() as u32 {
            let t = &self.tasks[idx as usize];
            if !t.deleted
                && matches!(
                    t.state,
                    TaskState::New | TaskState::InProgress | TaskState::Rejected
                )
            {
                self.complete(idx, now);
                moved += 1;
            }
        }
        moved
    }

    pub(crate) fn deliver_all(&mut self) -> usize {
        let now = now_ms();
        let mut moved = 0;
        for idx in 0..self.tasks.len() as u32 {
            let t = &self.tasks[idx as usize];
            if !t.deleted && matches!(t.state, TaskState::Completed | TaskState::Approved) {
                self.deliver(idx, now);
                moved += 1;
            }
        }
        moved
    }

    /// Reject a task (§8.5): allowed from completed/approved/delivered/acknowledged.
    /// Every completed or approved (answered, not yet delivered) task back to `rejected`, as
    /// Sama's reviewers would send it back; returns how many moved.
    pub(crate) fn reject_undelivered(&mut self, reasons: &[String]) -> usize {
        let mut moved = 0;
        for idx in 0..self.tasks.len() as u32 {
            let t = &self.tasks[idx as usize];
            if !t.deleted
                && matches!(t.state, TaskState::Completed | TaskState::Approved)
                && self.reject(idx, reasons.to_vec()).is_ok()
            {
                moved += 1;
            }
        }
        moved
    }

    pub(crate) fn reject(&mut self, idx: u32, reasons: Vec<String>) -> Result<(), String> {
        let t = &mut self.tasks[idx as usize];
        if !t.state.has_work_answers() {
            return Err(format!(
                "Task in state '{}' cannot be rejected; only completed, approved, delivered or acknowledged tasks can",
                t.state.name()
            ));
        }
        t.state = TaskState::Rejected;
        t.completed_at = NO_TS;
        t.submitted = false;
        t.reasons = Some(reasons.into_boxed_slice());
        Ok(())
    }

    /// Delete a task in state `new`; otherwise the reason it cannot be.
    pub(crate) fn delete(&mut self, idx: u32) -> Result<(), String> {
        let t = &mut self.tasks[idx as usize];
        if t.state != TaskState::New {
            return Err(format!(
                "Task is in state '{}'; only tasks in state 'new' can be deleted",
                t.state.name()
            ));
        }
        t.deleted = true;
        let batch_id = t.batch_id;
        self.deleted += 1;
        if let Some(b) = self.batches.get_mut(&batch_id) {
            b.deleted_tasks += 1;
        }
        Ok(())
    }

    pub(crate) fn live_count(&self) -> usize {
        self.tasks.len() - self.deleted
    }

    pub(crate) fn state_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = [0usize; 7];
        for t in self.tasks.iter().filter(|t| !t.deleted) {
            counts[t.state as usize] += 1;
        }
        TaskState::ALL
            .into_iter()
            .map(|s| (s.name().to_owned(), counts[s as usize]))
            .collect()
    }
}

/// Display form of a task id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskIdOut {
    pub tag: u32,
    pub idx: u32,
}

impl std::fmt::Display for TaskIdOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}{:016x}", self.tag, self.idx)
    }
}

/// The whole store.
pub(crate) struct Store {
    pub projects: Vec<Project>,
    pub index: HashMap<String, usize>,
    /// Upload token -> (project index, batch id).
    pub uploads: HashMap<String, (usize, u64)>,
    pub next_batch: u64,
    /// Bumped by `reset`, so background creators of a previous generation stop.
    pub generation: u64,
}

impl Store {
    pub(crate) fn new(projects: &[String]) -> Self {
        let mut s = Store {
            projects: Vec::new(),
            index: HashMap::new(),
            uploads: HashMap::new(),
            next_batch: 1,
            generation: 0,
        };
        s.seed(projects);
        s
    }

    fn seed(&mut self, projects: &[String]) {
        let mut rng = fastrand::Rng::new();
        let mut tags = HashSet::new();
        for id in projects {
            if self.index.contains_key(id) {
                continue;
            }
            // Tags look like the timestamp part of a Mongo ObjectId; unique per project.
            let base = (now_ms() / 1000) as u32;
            let mut tag = base.wrapping_sub(rng.u32(0..1 << 20));
            while !tags.insert(tag) {
                tag = tag.wrapping_add(1);
            }
            self.index.insert(id.clone(), self.projects.len());
            self.projects.push(Project::new(id.clone(), tag));
        }
    }

    pub(crate) fn reset(&mut self, projects: &[String]) {
        let generation = self.generation + 1;
        *self = Store {
            projects: Vec::new(),
            index: HashMap::new(),
            uploads: HashMap::new(),
            next_batch: 1,
            generation,
        };
        self.seed(projects);
    }

    pub(crate) fn project(&self, id: &str) -> Option<&Project> {
        self.index.get(id).map(|&i| &self.projects[i])
    }

    pub(crate) fn project_mut(&mut self, id: &str) -> Option<&mut Project> {
        self.index.get(id).map(|&i| &mut self.projects[i])
    }

    pub(crate) fn next_batch_id(&mut self) -> u64 {
        let id = self.next_batch;
        self.next_batch += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_task(project: &mut Project, batch: u64) -> u32 {
        let nt = NewTask {
            data: RawValue::from_string(r#"{"url":"u"}"#.into()).unwrap(),
            priority: 0,
            submit: false,
            client_batch_id: Some("cb".into()),
            has_output: false,
        };
        project.push_task(nt, batch, now_ms())
    }

    #[test]
    fn ids_round_trip_and_foreign_ids_do_not_resolve() {
        let mut p = Project::new("1001".into(), 0x6650_a1b2);
        let i = new_task(&mut p, 1);
        let id = p.task_id(i).to_string();
        assert_eq!(id, "6650a1b20000000000000000");
        assert_eq!(p.task_index(&id), Some(0));
        assert_eq!(p.task_index("6650a1b20000000000000001"), None);
        assert_eq!(p.task_index("7650a1b20000000000000000"), None);
        assert_eq!(p.task_index("xyz"), None);
    }

    #[test]
    fn log_stays_ordered_by_time_then_id_on_redelivery() {
        let mut p = Project::new("1".into(), 1);
        for _ in 0..3 {
            new_task(&mut p, 1);
        }
        p.complete_all();
        let now = 1_000;
        p.deliver(0, now);
        p.deliver(2, now);
        p.tasks[1].state = TaskState::Completed;
        p.deliver(1, now); // lower id in the same millisecond: must move later
        let keys: Vec<(i64, u32)> = p.log.iter().map(|e| (e.at, e.task)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(p.log_by_batch[&1], vec![0, 1, 2]);
    }

    #[test]
    fn reviewers_reject_only_answered_undelivered_tasks() {
        let mut p = Project::new("1".into(), 1);
        let ids: Vec<u32> = (0..5).map(|_| new_task(&mut p, 1)).collect();
        let states = [
            TaskState::New,
            TaskState::InProgress,
            TaskState::Completed,
            TaskState::Approved,
            TaskState::Delivered,
        ];
        for (&i, s) in ids.iter().zip(states) {
            p.tasks[i as usize].state = s;
        }
        assert_eq!(p.reject_undelivered(&["redo".to_owned()]), 2);
        let after: Vec<TaskState> = ids.iter().map(|&i| p.tasks[i as usize].state).collect();
        assert_eq!(
            after,
            [
                TaskState::New,
                TaskState::InProgress,
                TaskState::Rejected,
                TaskState::Rejected,
                TaskState::Delivered
            ]
        );
    }

    #[test]
    fn reject_and_delete_rules() {
        let mut p = Project::new("1".into(), 1);
        let a = new_task(&mut p, 1);
        let b = new_task(&mut p, 1);
        assert!(p.reject(a, vec![]).is_err());
        p.tasks[b as usize].state = TaskState::InProgress;
        assert!(p.delete(b).is_err());
        assert!(p.delete(a).is_ok());
        assert_eq!(p.live_count(), 1);
        p.tasks[b as usize].state = TaskState::Delivered;
        assert!(p.reject(b, vec!["blurry".into()]).is_ok());
        assert_eq!(p.tasks[b as usize].state, TaskState::Rejected);
        assert_eq!(p.advance(), 1);
        assert_eq!(p.tasks[b as usize].state, TaskState::InProgress);
    }
}
