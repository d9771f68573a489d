//! The in-memory store of the Scale emulator: projects, batches, tasks (with the global
//! `unique_id` index), quality tasks, files, team and Studio objects, and the task lifecycle
//! (pending → completed with a `response`; audit-rejected → reworked; scale.md §4, §6, §8).

use super::wire::{fmt_ts, now_ms};
use crate::framework::drawing::Drawing;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A JSON object.
pub(crate) type Obj = Map<String, Value>;

/// Task statuses.
pub(crate) const PENDING: &str = "pending";
pub(crate) const COMPLETED: &str = "completed";
pub(crate) const CANCELED: &str = "canceled";
pub(crate) const ERROR: &str = "error";

/// Batch statuses.
pub(crate) const STAGING: &str = "staging";
pub(crate) const IN_PROGRESS: &str = "in_progress";

/// An attachment containing this marker makes the task fail processing (`status: error`), so
/// clients can exercise Scale's error tasks.
pub(crate) const ERROR_MARKER: &str = "scale-emulator-error";

pub(crate) struct ProjectRec {
    pub name: String,
    pub task_type: String,
    pub param_history: Vec<Obj>,
    pub created_at: i64,
    pub rapid: bool,
    pub studio: bool,
    pub dataset_id: Option<String>,
}

impl ProjectRec {
    pub(crate) fn new(name: &str, task_type: &str, params: Obj, rapid: bool, studio: bool) -> Self {
        let now = now_ms();
        let mut first = params;
        first.insert("version".into(), json!(0));
        first.insert("created_at".into(), json!(fmt_ts(now)));
        ProjectRec {
            name: name.to_owned(),
            task_type: task_type.to_owned(),
            param_history: vec![first],
            created_at: now,
            rapid,
            studio,
            dataset_id: None,
        }
    }

    pub(crate) fn current(&self) -> Obj {
        self.param_history.last().cloned().unwrap_or_default()
    }

    pub(crate) fn render(&self) -> Value {
        json!({
            "type": self.task_type,
            "name": self.name,
            "param_history": self.param_history,
            "created_at": fmt_ts(self.created_at),
            "rapid": self.rapid,
            "studio": self.studio,
            "datasetId": self.dataset_id,
        })
    }
}

pub(crate) struct BatchRec {
    pub id: String,
    pub name: String,
    pub project: String,
    pub callback: String,
    pub status: String,
    pub created_at: i64,
    pub completed_at: Option<i64>,
    pub metadata: Obj,
    pub calibration: bool,
    pub self_label: bool,
    pub finalized: bool,
    /// Created `staging` (Rapid / Studio project): closed to new tasks once finalized.
    pub staged: bool,
    pub groups: Vec<String>,
    pub tasks: Vec<usize>,
}

impl BatchRec {
    pub(crate) fn render(&self) -> Value {
        let mut v = json!({
            "project": self.project,
            "name": self.name,
            "callback": self.callback,
            "status": self.status,
            "created_at": fmt_ts(self.created_at),
            "metadata": self.metadata,
            "calibration_batch": self.calibration,
            "self_label_batch": self.self_label,
        });
        if let Some(c) = self.completed_at {
            v["completed_at"] = json!(fmt_ts(c));
        }
        v
    }
}

pub(crate) struct TaskRec {
    pub id: String,
    pub task_type: String,
    pub status: String,
    pub project: Option<String>,
    pub batch: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    pub callback_url: Option<String>,
    pub instruction: Option<String>,
    pub params: Obj,
    pub response: Option<Value>,
    pub metadata: Obj,
    pub unique_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub audits: Vec<Value>,
    pub review_status: Option<String>,
    pub review_comments: Vec<String>,
    pub prior_responses: Vec<Value>,
    pub callback_succeeded: Option<bool>,
    pub project_param_version: Option<i64>,
}

impl TaskRec {
    /// Audit-rejected and waiting for rework.
    pub(crate) fn awaiting_rework(&self) -> bool {
        self.status == COMPLETED && self.review_status.as_deref() == Some("rejected")
    }

    /// Not finished: pending, or rejected and waiting for rework.
    pub(crate) fn open(&self) -> bool {
        self.status == PENDING || self.awaiting_rework()
    }

    pub(crate) fn render(&self) -> Value {
        let mut v = json!({
            "task_id": self.id,
            "type": self.task_type,
            "status": self.status,
            "created_at": fmt_ts(self.created_at),
            "updated_at": fmt_ts(self.updated_at),
            "instruction": self.instruction,
            "params": self.params,
            "metadata": self.metadata,
            "is_test": false,
        });
        let o = v.as_object_mut().expect("object");
        let mut opt = |k: &str, val: Option<Value>| {
            if let Some(val) = val {
                o.insert(k.to_owned(), val);
            }
        };
        opt("project", self.project.clone().map(Value::String));
        opt("batch", self.batch.clone().map(Value::String));
        opt("completed_at", self.completed_at.map(|c| json!(fmt_ts(c))));
        opt("callback_url", self.callback_url.clone().map(Value::String));
        opt("response", self.response.clone());
        opt("unique_id", self.unique_id.clone().map(Value::String));
        opt("tags", self.tags.clone().map(|t| json!(t)));
        opt(
            "callback_succeeded",
            self.callback_succeeded.map(Value::Bool),
        );
        opt(
            "project_param_version",
            self.project_param_version.map(|n| json!(n)),
        );
        opt(
            "customer_review_status",
            self.review_status.clone().map(Value::String),
        );
        if !self.audits.is_empty() {
            o.insert("audits".into(), json!(self.audits));
        }
        if !self.review_comments.is_empty() {
            o.insert(
                "customer_review_comments".into(),
                json!(self.review_comments),
            );
        }
        if !self.prior_responses.is_empty() {
            o.insert("prior_responses".into(), json!(self.prior_responses));
        }
        v
    }

    /// `limited_response=true`: exactly these five keys (§2.2).
    pub(crate) fn render_limited(&self) -> Value {
        json!({
            "task_id": self.id,
            "status": self.status,
            "metadata": self.metadata,
            "project": self.project,
            "otherVersion": null,
        })
    }

    /// An `imageannotation` answer: one annotation per requested geometry (`box`, `polygon`,
    /// `line`, `point`; a box when none is requested), in Scale's response format, labeled
    /// with the geometry's first `objects_to_annotate` entry, drawn where the shared drawing of
    /// the attachment says.
    fn image_annotations(&self) -> Vec<Value> {
        let geometries = self.params.get("geometries").and_then(Value::as_object);
        let label = |g: &str| {
            geometries
                .and_then(|gs| gs.get(g))
                .and_then(|g| g.get("objects_to_annotate"))
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|v| {
                    v.as_str()
                        .or_else(|| v.get("choice").and_then(Value::as_str))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "object".into())
        };
        let requested: Vec<&str> = match geometries {
            Some(gs) if !gs.is_empty() => ["box", "polygon", "line", "point"]
                .into_iter()
                .filter(|g| gs.contains_key(*g))
                .collect(),
            _ => vec!["box"],
        };
        // The shared drawing of the attachment (the same on every vendor's emulator).
        let reference = self
            .params
            .get("attachment")
            .and_then(Value::as_str)
            .map_or_else(|| self.id.clone(), str::to_owned);
        let d = Drawing::of(&reference);
        let vertices = |points: &[(i64, i64)]| -> Vec<Value> {
            points
                .iter()
                .map(|&(x, y)| json!({"x": x, "y": y}))
                .collect()
        };
        requested
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                let uuid = format!("{}-{i}", self.id);
                match g {
                    "polygon" => json!({"type": "polygon", "label": label(g), "uuid": uuid,
                        "vertices": vertices(&d.polygon())}),
                    "line" => json!({"type": "line", "label": label(g), "uuid": uuid,
                        "vertices": vertices(&d.line())}),
                    "point" => {
                        let (x, y) = d.point();
                        json!({"type": "point", "label": label(g), "uuid": uuid, "x": x, "y": y})
                    }
                    _ => json!({"type": "box", "label": label(g), "uuid": uuid, "attributes": {},
                        "left": d.left, "top": d.top, "width": d.width, "height": d.height}),
                }
            })
            .collect()
    }

    /// The deterministic answer of the emulated workforce: the task's `hypothesis` if it has
    /// one, else a shape fitting the task type.
    fn generated_response(&self) -> Value {
        if let Some(h) = self.params.get("hypothesis").filter(|h| !h.is_null()) {
            return h.clone();
        }
        let first = |k: &str| {
            self.params
                .get(k)
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.get("choice").and_then(Value::as_str).map(str::to_owned))
                })
        };
        match self.task_type.as_str() {
            "categorization" => {
                json!({"category": first("categories").unwrap_or_else(|| "cat".into())})
            }
            "textcollection" | "datacollection" => json!({"fields": {"answer": "emulated"}}),
            "transcription" | "documenttranscription" => json!({"transcription": "emulated text"}),
            "imageannotation" => json!({"annotations": self.image_annotations()}),
            t if t.ends_with("annotation") || t.starts_with("lidar") => json!({
                "annotations": [{
                    "type": "box",
                    "label": first("objects_to_annotate").unwrap_or_else(|| "object".into()),
                    "left": 10, "top": 20, "width": 30, "height": 40
                }]
            }),
            _ => json!({"result": "emulated"}),
        }
    }
}

/// A callback to POST (scale.md §7).
#[derive(Debug, Clone)]
pub(crate) struct Callback {
    pub url: String,
    pub body: Value,
    /// The task whose `callback_succeeded` records the outcome.
    pub task: Option<usize>,
}

pub(crate) struct GroupRec {
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
}

impl GroupRec {
    pub(crate) fn render(&self) -> Value {
        let workers: Vec<Value> = self
            .emails
            .iter()
            .map(|e| json!({"id": format!("worker-{e}"), "email": e}))
            .collect();
        json!({"id": self.id, "name": self.name, "numWorkers": self.emails.len(),
               "isSingleton": false, "workers": workers})
    }
}

/// Everything the emulator knows.
pub(crate) struct Store {
    pub projects: Vec<ProjectRec>,
    pub batches: Vec<BatchRec>,
    pub batch_index: HashMap<String, usize>,
    pub tasks: Vec<TaskRec>,
    pub task_index: HashMap<String, usize>,
    pub unique_ids: HashMap<String, usize>,
    pub quality_tasks: Vec<Value>,
    pub quality_unique_ids: HashSet<String>,
    pub files: Vec<Value>,
    pub file_refs: HashSet<String>,
    pub team: Vec<Obj>,
    pub assignments: BTreeMap<String, Vec<String>>,
    pub groups: BTreeMap<String, Vec<GroupRec>>,
    /// Studio batch names in priority order.
    pub studio_order: Vec<String>,
    seq: u64,
}

impl Store {
    pub(crate) fn new(projects: &[String]) -> Self {
        let mut st = Store {
            projects: Vec::new(),
            batches: Vec::new(),
            batch_index: HashMap::new(),
            tasks: Vec::new(),
            task_index: HashMap::new(),
            unique_ids: HashMap::new(),
            quality_tasks: Vec::new(),
            quality_unique_ids: HashSet::new(),
            files: Vec::new(),
            file_refs: HashSet::new(),
            team: Vec::new(),
            assignments: BTreeMap::new(),
            groups: BTreeMap::new(),
            studio_order: Vec::new(),
            seq: 0,
        };
        st.reset(projects);
        st
    }

    /// Empty everything; seed `projects` (image annotation, with an instruction) and the
    /// account owner.
    pub(crate) fn reset(&mut self, projects: &[String]) {
        let seq = self.seq;
        *self = Store {
            projects: projects
                .iter()
                .map(|p| {
                    let mut params = Obj::new();
                    params.insert(
                        "instruction".into(),
                        json!("Draw a box around each object."),
                    );
                    ProjectRec::new(p, "imageannotation", params, false, false)
                })
                .collect(),
            batches: Vec::new(),
            batch_index: HashMap::new(),
            tasks: Vec::new(),
            task_index: HashMap::new(),
            unique_ids: HashMap::new(),
            quality_tasks: Vec::new(),
            quality_unique_ids: HashSet::new(),
            files: Vec::new(),
            file_refs: HashSet::new(),
            team: vec![json!({
                "email": "owner@emulator.invalid", "role": "admin", "company": "labelmux emulator",
                "firstName": "Emu", "lastName": "Owner", "isStudioLabeler": false
            })
            .as_object()
            .cloned()
            .unwrap_or_default()],
            assignments: BTreeMap::new(),
            groups: BTreeMap::new(),
            studio_order: Vec::new(),
            seq,
        };
    }

    /// A fresh id: 24 hex characters like Scale's (ObjectId style), increasing.
    pub(crate) fn new_id(&mut self) -> String {
        self.seq += 1;
        format!("{:08x}{:016x}", (now_ms() / 1000) as u32, self.seq)
    }

    pub(crate) fn project(&self, name: &str) -> Option<&ProjectRec> {
        self.projects.iter().find(|p| p.name == name)
    }

    pub(crate) fn project_mut(&mut self, name: &str) -> Option<&mut ProjectRec> {
        self.projects.iter_mut().find(|p| p.name == name)
    }

    pub(crate) fn batch(&self, name: &str) -> Option<&BatchRec> {
        self.batch_index.get(name).map(|&i| &self.batches[i])
    }

    pub(crate) fn batch_mut(&mut self, name: &str) -> Option<&mut BatchRec> {
        self.batch_index.get(name).map(|&i| &mut self.batches[i])
    }

    pub(crate) fn task_idx(&self, id: &str) -> Option<usize> {
        self.task_index.get(id).copied()
    }

    /// Per-status counts of a batch's tasks.
    pub(crate) fn batch_counts(&self, name: &str) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            [(PENDING, 0), (COMPLETED, 0), (ERROR, 0), (CANCELED, 0)]
                .into_iter()
                .collect();
        if let Some(b) = self.batch(name) {
            for &i in &b.tasks {
                let s = self.tasks[i].status.as_str();
                if let Some(n) = counts.get_mut(match s {
                    PENDING => PENDING,
                    COMPLETED => COMPLETED,
                    ERROR => ERROR,
                    _ => CANCELED,
                }) {
                    *n += 1;
                }
            }
        }
        counts
    }

    /// Recompute a (non-staging) batch's status: `completed` once it has tasks and none is
    /// open, else `in_progress`. Returns the batch callback to fire when it just completed.
    pub(crate) fn refresh_batch(&mut self, name: &str) -> Option<Callback> {
        let i = *self.batch_index.get(name)?;
        if self.batches[i].status == STAGING {
            return None;
        }
        let tasks = &self.batches[i].tasks;
        let done = !tasks.is_empty() && tasks.iter().all(|&t| !self.tasks[t].open());
        let b = &mut self.batches[i];
        let was = b.status.clone();
        if done {
            b.status = COMPLETED.to_owned();
            if was != COMPLETED {
                b.completed_at = Some(now_ms());
                if b.callback.starts_with("http://") || b.callback.starts_with("https://") {
                    return Some(Callback {
                        url: b.callback.clone(),
                        body: json!({"batch": b.render(), "status": COMPLETED}),
                        task: None,
                    });
                }
            }
        } else {
            b.status = IN_PROGRESS.to_owned();
            b.completed_at = None;
        }
        None
    }

    /// Complete task `i` if it is open (pending, or rejected and waiting for rework): a
    /// `response`, `completed_at` now (always later than a previous completion). Returns
    /// whether it moved, and the callback to fire.
    pub(crate) fn complete_task(&mut self, i: usize) -> (bool, Option<Callback>) {
        let now = now_ms();
        let t = &mut self.tasks[i];
        if t.status == PENDING {
            t.response = Some(t.generated_response());
        } else if t.awaiting_rework() {
            if let Some(prev) = t.response.take() {
                t.prior_responses.push(prev);
            }
            t.response = Some(t.generated_response());
            t.review_status = Some("fixed".to_owned());
        } else {
            return (false, None);
        }
        t.status = COMPLETED.to_owned();
        let at = t.completed_at.map_or(now, |prev| now.max(prev + 1));
        t.completed_at = Some(at);
        t.updated_at = at;
        (true, task_callback(t, i))
    }

    /// Complete every open task of a project; returns how many moved and the callbacks.
    pub(crate) fn complete_all(&mut self, project: &str) -> (usize, Vec<Callback>) {
        let mut moved = 0;
        let mut callbacks = Vec::new();
        let mut touched = HashSet::new();
        for i in 0..self.tasks.len() {
            if self.tasks[i].project.as_deref() != Some(project) || !self.tasks[i].open() {
                continue;
            }
            let (m, cb) = self.complete_task(i);
            if m {
                moved += 1;
                if let Some(b) = &self.tasks[i].batch {
                    touched.insert(b.clone());
                }
            }
            callbacks.extend(cb);
        }
        for b in touched {
            callbacks.extend(self.refresh_batch(&b));
        }
        (moved, callbacks)
    }
}

/// The completion callback of a task with an HTTP(S) `callback_url` (§7: all four members).
pub(crate) fn task_callback(t: &TaskRec, i: usize) -> Option<Callback> {
    let url = t.callback_url.as_deref()?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return None;
    }
    let task = t.render();
    Some(Callback {
        url: url.to_owned(),
        body: json!({
            "task": task,
            "response": t.response,
            "task_id": t.id,
            "status": t.status,
        }),
        task: Some(i),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(st: &mut Store, project: &str, batch: Option<&str>) -> usize {
        let id = st.new_id();
        let now = now_ms();
        st.tasks.push(TaskRec {
            id: id.clone(),
            task_type: "imageannotation".into(),
            status: PENDING.into(),
            project: Some(project.into()),
            batch: batch.map(str::to_owned),
            created_at: now,
            updated_at: now,
            completed_at: None,
            callback_url: None,
            instruction: None,
            params: Obj::new(),
            response: None,
            metadata: Obj::new(),
            unique_id: None,
            tags: None,
            audits: Vec::new(),
            review_status: None,
            review_comments: Vec::new(),
            prior_responses: Vec::new(),
            callback_succeeded: None,
            project_param_version: Some(0),
        });
        let i = st.tasks.len() - 1;
        st.task_index.insert(id, i);
        if let Some(b) = batch {
            if let Some(b) = st.batch_mut(b) {
                b.tasks.push(i);
            }
        }
        i
    }

    #[test]
    fn completion_moves_open_tasks_once_and_rework_moves_completed_at_forward() {
        let mut st = Store::new(&["demo".to_owned()]);
        let a = task(&mut st, "demo", None);
        let b = task(&mut st, "demo", None);
        assert_eq!(st.complete_all("demo").0, 2);
        assert_eq!(
            st.complete_all("demo").0,
            0,
            "completed tasks do not move again"
        );
        let first = st.tasks[a].completed_at.unwrap();
        assert!(st.tasks[a].response.is_some());
        st.tasks[a].review_status = Some("rejected".into());
        assert!(st.tasks[a].open() && !st.tasks[b].open());
        assert_eq!(
            st.complete_all("demo").0,
            1,
            "only the rejected task is reworked"
        );
        assert!(st.tasks[a].completed_at.unwrap() > first);
        assert_eq!(st.tasks[a].review_status.as_deref(), Some("fixed"));
        assert_eq!(st.tasks[a].prior_responses.len(), 1);
        let v = st.tasks[b].render();
        assert!(v.get("unique_id").is_none() && v.get("tags").is_none());
        assert_eq!(v["status"], "completed");
    }
}
