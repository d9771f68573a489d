//! The Scale (REST API v1) emulator: routes and handlers (scale.md §2, §8).
//!
//! One dispatcher resolves every path itself (segments percent-decoded after splitting, so
//! names may contain `/`), so 401 / 404 answers carry Scale's `{"status_code", "error"}` body
//! consistently. Every success is HTTP 200, creations included. Emulator choices where Scale is
//! undocumented: time filters are inclusive; `/tasks` lists in creation order with an opaque
//! `next_token`; an unknown task type or project in a task creation is a 400; auditing a task
//! that is not completed is a 400; the audit answer is the task; an audit rejection sends the
//! task back for rework (the lifecycle completes it again, `customer_review_status: fixed`);
//! batch callbacks carry `{"batch", "status"}`; callbacks are POSTed (`http://` or `https://`),
//! up to 3 attempts, with header `scale-callback-auth:` [`CALLBACK_AUTH_KEY`].

// Handlers return `Result<Response, Response>`: the error side is the ready-made HTTP error
// answer (a cold path), so its size does not matter.
#![allow(clippy::result_large_err)]

mod errors;
mod state;
mod wire;

use crate::framework::multipart::form_parts;
use crate::framework::outbound::post_with_retries;
use crate::framework::{VendorContext, VendorEmulator};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::Response;
use axum::Router;
use bytes::{Bytes, BytesMut};
use errors::{bad_request, conflict, not_found, ok, task_not_found, unauthorized};
use futures::StreamExt;
use serde_json::{json, Value};
use state::{
    task_callback, BatchRec, Callback, GroupRec, Obj, ProjectRec, Store, TaskRec, CANCELED,
    COMPLETED, ERROR, ERROR_MARKER, IN_PROGRESS, PENDING, STAGING,
};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use wire::{
    api_key_of, decode_segment, fmt_ts, mime_of, needs_attachment, now_ms, Query, TASK_TYPES,
};

/// The `scale-callback-auth` header value the emulator sends with every callback (Scale's
/// "Live Callback Auth Key").
pub(crate) const CALLBACK_AUTH_KEY: &str = "emulator-callback-auth";

/// Maximum size of a request body (Scale's file limit is 80 MB).
const BODY_LIMIT: usize = 96 * 1024 * 1024;

/// Largest page of `/tasks` and `/batches`.
const MAX_LIMIT: u64 = 100;

/// Top-level members of a task creation body that are not type-specific `params`.
const TASK_FIELDS: [&str; 7] = [
    "project",
    "batch",
    "instruction",
    "callback_url",
    "unique_id",
    "metadata",
    "tags",
];

/// The Scale vendor emulator.
pub(crate) struct ScaleEmulator {
    ctx: VendorContext,
    store: Arc<RwLock<Store>>,
    callbacks: Option<mpsc::UnboundedSender<Callback>>,
}

impl ScaleEmulator {
    pub(crate) fn new(ctx: VendorContext) -> Self {
        let store = Arc::new(RwLock::new(Store::new(&ctx.projects)));
        // Callbacks go out from a background task of the runtime the emulator starts in.
        let callbacks = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Callback>();
            let store = store.clone();
            rt.spawn(async move {
                while let Some(cb) = rx.recv().await {
                    tokio::spawn(deliver_callback(cb, store.clone()));
                }
            });
            tx
        });
        ScaleEmulator {
            ctx,
            store,
            callbacks,
        }
    }

    // A panic elsewhere must not take the emulator down: poisoned locks are used anyway.
    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    fn fire(&self, callbacks: impl IntoIterator<Item = Callback>) {
        if let Some(tx) = &self.callbacks {
            for cb in callbacks {
                let _ = tx.send(cb);
            }
        }
    }

    /// Test-mode keys (`test_…`): tasks complete right after creation (§1.2).
    fn test_mode(&self) -> bool {
        self.ctx.api_key.starts_with("test_")
    }

    fn complete_all(&self, project: &str) -> usize {
        let (moved, callbacks) = self.write().complete_all(project);
        self.fire(callbacks);
        moved
    }
}

impl VendorEmulator for ScaleEmulator {
    fn api_prefix(&self) -> &'static str {
        "/v1"
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(dispatch).with_state(self)
    }

    fn error_response(&self, status: u16, message: &str) -> Response {
        errors::error(status, message)
    }

    fn has_project(&self, project: &str) -> bool {
        self.read().project(project).is_some()
    }

    fn projects(&self) -> Vec<String> {
        self.read()
            .projects
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    // Scale's workforce has one step: pending → completed with a response (completing is
    // delivering), so every lifecycle hook completes the open tasks.
    fn advance(&self, project: &str) -> usize {
        self.complete_all(project)
    }

    fn complete_all(&self, project: &str) -> usize {
        ScaleEmulator::complete_all(self, project)
    }

    fn deliver_all(&self, project: &str) -> usize {
        ScaleEmulator::complete_all(self, project)
    }

    fn finish_all(&self, project: &str) -> usize {
        ScaleEmulator::complete_all(self, project)
    }

    /// Scale's own reviewers send completed work back: the task is marked audit-rejected (an
    /// audit from source `scale`) and the next completion reworks it, as after a customer audit.
    fn reject(
        &self,
        project: &str,
        task: Option<&str>,
        reasons: &[String],
    ) -> Result<usize, String> {
        let mut st = self.write();
        let targets: Vec<usize> = match task {
            Some(id) => {
                let i = st
                    .task_idx(id)
                    .filter(|&i| st.tasks[i].project.as_deref() == Some(project))
                    .ok_or_else(|| format!("no task {id} in project {project}"))?;
                if st.tasks[i].status != COMPLETED || st.tasks[i].awaiting_rework() {
                    return Err(format!(
                        "task {id} is {}; only completed tasks not already sent back can be rejected",
                        st.tasks[i].status
                    ));
                }
                vec![i]
            }
            None => (0..st.tasks.len())
                .filter(|&i| {
                    let t = &st.tasks[i];
                    t.project.as_deref() == Some(project)
                        && t.status == COMPLETED
                        && !t.awaiting_rework()
                })
                .collect(),
        };
        let now = now_ms();
        for &i in &targets {
            let t = &mut st.tasks[i];
            t.audits.push(json!({
                "audited_by": "reviewer@emulator.invalid",
                "audited_at": fmt_ts(now),
                "audit_time_secs": 0,
                "audit_result": "rejected",
                "audit_source": "scale",
            }));
            t.review_status = Some("rejected".to_owned());
            t.review_comments.extend(reasons.iter().cloned());
            t.updated_at = now;
        }
        Ok(targets.len())
    }

    fn reset(&self) {
        self.write().reset(&self.ctx.projects);
    }

    /// Tasks not canceled (canceling is how a Scale task is deleted).
    fn task_count(&self, project: &str) -> usize {
        self.read()
            .tasks
            .iter()
            .filter(|t| t.project.as_deref() == Some(project) && t.status != CANCELED)
            .count()
    }

    fn state_counts(&self, project: &str) -> BTreeMap<String, usize> {
        let st = self.read();
        let mut counts: BTreeMap<String, usize> = [PENDING, COMPLETED, CANCELED, ERROR]
            .iter()
            .map(|s| ((*s).to_owned(), 0))
            .collect();
        for t in st
            .tasks
            .iter()
            .filter(|t| t.project.as_deref() == Some(project))
        {
            *counts.entry(t.status.clone()).or_default() += 1;
        }
        counts
    }
}

// ---------------------------------------------------------------------------------------------
// Callbacks

async fn deliver_callback(cb: Callback, store: Arc<RwLock<Store>>) {
    let body = serde_json::to_vec(&cb.body).unwrap_or_default();
    let headers = [
        ("Content-Type", "application/json".to_owned()),
        ("scale-callback-auth", CALLBACK_AUTH_KEY.to_owned()),
    ];
    let delivered = post_with_retries(&cb.url, &headers, body, Duration::from_millis(100)).await;
    if let Some(i) = cb.task {
        let mut st = store.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = st.tasks.get_mut(i) {
            t.callback_succeeded = Some(t.callback_succeeded.unwrap_or(false) || delivered);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

type HResult = Result<Response, Response>;

async fn read_body(body: Body, headers: &HeaderMap) -> Result<Bytes, Response> {
    let hint = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let too_big = || errors::error(413, format!("Request body larger than {BODY_LIMIT} bytes"));
    if hint > BODY_LIMIT {
        return Err(too_big());
    }
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::with_capacity(hint);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("Could not read request body: {e}")))?;
        if buf.len() + chunk.len() > BODY_LIMIT {
            return Err(too_big());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The JSON body; `None` for an empty body (body-less POST/DELETE with a JSON content type).
fn json_body(body: &[u8]) -> Result<Option<Value>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| bad_request(format!("Request body is not valid JSON: {e}")))
}

/// A required, non-empty string parameter of a request body; Scale's 400 message otherwise.
fn required_str(b: &Obj, key: &str) -> Result<String, Response> {
    b.get(key)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            bad_request(format!(
                "Parameter is invalid, reason: \"{key}\" is required"
            ))
        })
}

fn object_body(body: &[u8]) -> Result<Obj, Response> {
    match json_body(body)? {
        Some(Value::Object(o)) => Ok(o),
        None => Ok(Obj::new()),
        Some(_) => Err(bad_request("Request body must be a JSON object")),
    }
}

fn string_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, Response> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_owned).ok_or_else(|| {
                    bad_request(format!(
                        "Parameter is invalid, reason: \"{what}\" must be an array of strings"
                    ))
                })
            })
            .collect(),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err(bad_request(format!(
            "Parameter is invalid, reason: \"{what}\" must be an array of strings"
        ))),
    }
}

async fn dispatch(State(emu): State<Arc<ScaleEmulator>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(rest) = parts.uri.path().strip_prefix("/v1/") else {
        return not_found("Not found");
    };
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if api_key_of(auth).as_deref() != Some(emu.ctx.api_key.as_str()) {
        return unauthorized();
    }
    let segs: Option<Vec<String>> = rest.split('/').map(decode_segment).collect();
    let Some(segs) = segs else {
        return bad_request("Path is not valid UTF-8");
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = Query::parse(parts.uri.query());
    let body = if parts.method == Method::GET {
        Bytes::new()
    } else {
        match read_body(body, &parts.headers).await {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let e = &emu;
    let result = match (parts.method.as_str(), segs.as_slice()) {
        ("POST", ["task", ty]) => create_task(e, ty, &body),
        ("GET", ["task", id]) => get_task(e, id),
        ("POST", ["task", id, "cancel"]) => cancel_task(e, id, &q),
        ("POST", ["task", id, "audit"]) => audit_task(e, id, &body),
        ("POST", ["task", id, "unique_id"]) => set_unique_id(e, id, &body),
        ("DELETE", ["task", id, "unique_id"]) => clear_unique_id(e, id),
        ("POST", ["task", id, "setMetadata"]) => set_task_metadata(e, id, &body),
        (m @ ("POST" | "PUT" | "DELETE"), ["task", id, "tags"]) => task_tags(e, id, m, &body),
        ("GET", ["tasks"]) => list_tasks(e, &q),
        ("POST", [kind @ ("evaluation_tasks" | "training_tasks"), ty]) => {
            create_quality_task(e, kind, ty, &body)
        }
        ("POST", ["batches"]) => create_batch(e, &body),
        ("GET", ["batches"]) => list_batches(e, &q),
        ("GET", ["batches", name]) => get_batch(e, name),
        ("POST", ["batches", name, "finalize"]) => finalize_batch(e, name),
        ("GET", ["batches", name, "status"]) => batch_status(e, name),
        ("POST", ["batches", name, "setMetadata"]) => set_batch_metadata(e, name, &body),
        ("POST", ["projects"]) => create_project(e, &body),
        ("GET", ["projects"]) => list_projects(e),
        ("GET", ["projects", name]) => get_project(e, name),
        ("POST", ["projects", name, "setParams"]) => set_params(e, name, &body),
        ("GET", ["projects", name, "taskTemplates"]) => task_template(e, name),
        ("POST", ["files", "upload"]) => upload_file(e, &content_type, body.clone()).await,
        ("POST", ["files", "import"]) => import_file(e, &body),
        ("GET", ["teams"]) => Ok(team(e)),
        ("POST", ["teams", op @ ("invite" | "set_role")]) => team_update(e, op, &body),
        ("GET", ["studio", "assignments"]) => Ok(assignments(&e.read())),
        ("POST", ["studio", "assignments", op @ ("add" | "remove")]) => {
            assignments_update(e, op, &body)
        }
        ("GET", ["studio", "projects", p, "groups"]) => list_groups(e, p),
        ("POST", ["studio", "projects", p, "groups"]) => create_group(e, p, &body),
        ("PUT", ["studio", "projects", p, "groups", g]) => update_group(e, p, g, &body),
        ("GET", ["studio", "batches"]) => Ok(studio_batches(&e.read())),
        ("POST", ["studio", "batches", "set_priorities"]) => set_priorities(e, &body),
        ("POST", ["studio", "batches", "reset_priorities"]) => reset_priorities(e),
        ("PUT", ["studio", "batches", name]) => assign_studio_batch(e, name, &body),
        _ => Err(not_found("Not found")),
    };
    result.unwrap_or_else(|r| r)
}

// ---------------------------------------------------------------------------------------------
// Tasks

fn create_task(emu: &ScaleEmulator, ty: &str, body: &[u8]) -> HResult {
    if !TASK_TYPES.contains(&ty) {
        return Err(bad_request(format!(
            "Parameter is invalid, reason: task type \"{ty}\" is not supported"
        )));
    }
    let mut body = match json_body(body)? {
        Some(Value::Object(o)) => o,
        _ => return Err(bad_request("Request body must be a JSON object")),
    };
    if needs_attachment(ty) && !body.contains_key("attachment") && !body.contains_key("attachments")
    {
        return Err(bad_request(
            "Please include an attachment or attachments parameter.",
        ));
    }
    let text = |body: &mut Obj, k: &str| -> Result<Option<String>, Response> {
        match body.remove(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad_request(format!(
                "Parameter is invalid, reason: \"{k}\" must be a string"
            ))),
        }
    };
    let project = text(&mut body, "project")?;
    let batch = text(&mut body, "batch")?;
    let instruction = text(&mut body, "instruction")?;
    let callback_url = text(&mut body, "callback_url")?;
    let unique_id = text(&mut body, "unique_id")?.filter(|u| !u.is_empty());
    let metadata = match body.remove("metadata") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"metadata\" must be an object",
            ))
        }
    };
    let tags = match body.remove("tags") {
        None | Some(Value::Null) => None,
        v => Some(string_list(v.as_ref(), "tags")?),
    };
    for k in TASK_FIELDS {
        body.remove(k);
    }
    let failed = body
        .get("attachment")
        .and_then(Value::as_str)
        .is_some_and(|a| a.contains(ERROR_MARKER));

    let mut st = emu.write();
    let mut params = Obj::new();
    let mut instruction = instruction;
    let mut version = None;
    if let Some(p) = &project {
        let Some(proj) = st.project(p) else {
            return Err(bad_request(format!(
                "Parameter is invalid, reason: project \"{p}\" does not exist"
            )));
        };
        // Project parameters are defaults for tasks (§2.1 Projects).
        let current = proj.current();
        version = current.get("version").and_then(Value::as_i64);
        for (k, v) in current {
            match k.as_str() {
                "version" | "created_at" | "patch" => {}
                "instruction" => {
                    if instruction.is_none() {
                        instruction = v.as_str().map(str::to_owned);
                    }
                }
                _ => {
                    params.insert(k, v);
                }
            }
        }
    }
    params.extend(body);
    if let Some(b) = &batch {
        let Some(rec) = st.batch(b) else {
            return Err(bad_request(format!(
                "Parameter is invalid, reason: batch \"{b}\" does not exist"
            )));
        };
        if project.as_deref().is_some_and(|p| p != rec.project) {
            return Err(bad_request(format!(
                "Batch \"{b}\" belongs to project \"{}\"",
                rec.project
            )));
        }
        if rec.finalized && rec.staged {
            return Err(bad_request(format!(
                "Batch \"{b}\" is finalized; no tasks may be added to it"
            )));
        }
    }
    if let Some(u) = &unique_id {
        if let Some(&other) = st.unique_ids.get(u) {
            return Err(conflict(format!(
                "The unique_id (\"{u}\") is already used for a different task ({}).",
                st.tasks[other].id
            )));
        }
    }
    let id = st.new_id();
    let now = now_ms();
    let mut task = TaskRec {
        id: id.clone(),
        task_type: ty.to_owned(),
        status: if failed { ERROR } else { PENDING }.to_owned(),
        project,
        batch: batch.clone(),
        created_at: now,
        updated_at: now,
        completed_at: None,
        callback_url,
        instruction,
        params,
        response: None,
        metadata,
        unique_id: unique_id.clone(),
        tags,
        audits: Vec::new(),
        review_status: None,
        review_comments: Vec::new(),
        prior_responses: Vec::new(),
        callback_succeeded: None,
        project_param_version: version,
    };
    if failed {
        let url = task
            .params
            .get("attachment")
            .cloned()
            .unwrap_or(Value::Null);
        task.response = Some(json!({
            "error": "One or more attachments could not be downloaded.",
            "attachments": [{"statusCode": 404, "url": url}]
        }));
    }
    let i = st.tasks.len();
    st.tasks.push(task);
    st.task_index.insert(id, i);
    if let Some(u) = unique_id {
        st.unique_ids.insert(u, i);
    }
    let mut callbacks = Vec::new();
    if failed {
        callbacks.extend(task_callback(&st.tasks[i], i));
    }
    if emu.test_mode() && !failed {
        let (_, cb) = st.complete_task(i);
        callbacks.extend(cb);
    }
    if let Some(b) = &batch {
        if let Some(rec) = st.batch_mut(b) {
            rec.tasks.push(i);
        }
        callbacks.extend(st.refresh_batch(b));
    }
    let out = st.tasks[i].render();
    drop(st);
    emu.fire(callbacks);
    Ok(ok(&out))
}

fn with_task<R>(
    emu: &ScaleEmulator,
    id: &str,
    f: impl FnOnce(&mut Store, usize) -> Result<R, Response>,
) -> Result<R, Response> {
    let mut st = emu.write();
    let i = st.task_idx(id).ok_or_else(task_not_found)?;
    f(&mut st, i)
}

fn get_task(emu: &ScaleEmulator, id: &str) -> HResult {
    let st = emu.read();
    let i = st.task_idx(id).ok_or_else(task_not_found)?;
    Ok(ok(&st.tasks[i].render()))
}

fn cancel_task(emu: &ScaleEmulator, id: &str, q: &Query) -> HResult {
    let clear = q
        .bool("clear_unique_id")
        .map_err(bad_request)?
        .unwrap_or(false);
    let (out, callbacks) = with_task(emu, id, |st, i| {
        let t = &mut st.tasks[i];
        match t.status.as_str() {
            PENDING => {}
            CANCELED => return Err(bad_request("Task has already been canceled.")),
            other => {
                return Err(bad_request(format!(
                "Task cannot be canceled: only tasks not yet started can be, this one is {other}."
            )))
            }
        }
        t.status = CANCELED.to_owned();
        t.updated_at = now_ms();
        if clear {
            if let Some(u) = t.unique_id.take() {
                st.unique_ids.remove(&u);
            }
        }
        let out = st.tasks[i].render();
        let cb = st.tasks[i].batch.clone().and_then(|b| st.refresh_batch(&b));
        Ok((out, cb))
    })?;
    emu.fire(callbacks);
    Ok(ok(&out))
}

fn audit_task(emu: &ScaleEmulator, id: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let accepted = b
        .get("accepted")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad_request("Parameter is invalid, reason: \"accepted\" is required"))?;
    let comments = match b.get("comments") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"comments\" must be a string",
            ))
        }
    };
    let (out, callbacks) = with_task(emu, id, |st, i| {
        let now = now_ms();
        let t = &mut st.tasks[i];
        if t.status != COMPLETED {
            return Err(bad_request(format!(
                "Only completed tasks can be audited; this task is {}.",
                t.status
            )));
        }
        let result = if accepted { "accepted" } else { "rejected" };
        t.audits.push(json!({
            "audited_by": "customer@emulator.invalid",
            "audited_at": fmt_ts(now),
            "audit_time_secs": 0,
            "audit_result": result,
            "audit_source": "customer",
        }));
        t.review_status = Some(result.to_owned());
        if let Some(c) = comments {
            t.review_comments.push(c);
        }
        t.updated_at = now;
        let out = t.render();
        let mut cbs: Vec<Callback> = task_callback(t, i).into_iter().collect();
        if let Some(b) = st.tasks[i].batch.clone() {
            cbs.extend(st.refresh_batch(&b));
        }
        Ok((out, cbs))
    })?;
    emu.fire(callbacks);
    Ok(ok(&out))
}

fn set_unique_id(emu: &ScaleEmulator, id: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let uid = required_str(&b, "unique_id")?;
    with_task(emu, id, |st, i| {
        if let Some(&other) = st.unique_ids.get(&uid) {
            if other != i {
                return Err(conflict(format!(
                    "The unique_id (\"{uid}\") is already used for a different task ({}).",
                    st.tasks[other].id
                )));
            }
        }
        if let Some(old) = st.tasks[i].unique_id.replace(uid.clone()) {
            st.unique_ids.remove(&old);
        }
        st.unique_ids.insert(uid, i);
        st.tasks[i].updated_at = now_ms();
        Ok(ok(&st.tasks[i].render()))
    })
}

fn clear_unique_id(emu: &ScaleEmulator, id: &str) -> HResult {
    with_task(emu, id, |st, i| {
        if let Some(old) = st.tasks[i].unique_id.take() {
            st.unique_ids.remove(&old);
        }
        st.tasks[i].updated_at = now_ms();
        Ok(ok(&st.tasks[i].render()))
    })
}

fn set_task_metadata(emu: &ScaleEmulator, id: &str, body: &[u8]) -> HResult {
    let metadata = match json_body(body)? {
        Some(Value::Object(m)) => m,
        _ => return Err(bad_request("The metadata must be a JSON object")),
    };
    with_task(emu, id, |st, i| {
        let t = &mut st.tasks[i];
        t.metadata = metadata;
        t.updated_at = now_ms();
        Ok(ok(&t.render()))
    })
}

fn task_tags(emu: &ScaleEmulator, id: &str, method: &str, body: &[u8]) -> HResult {
    let v = json_body(body)?;
    if !matches!(v, Some(Value::Array(_))) {
        return Err(bad_request("The tags must be a JSON array of strings"));
    }
    let tags = string_list(v.as_ref(), "tags")?;
    with_task(emu, id, |st, i| {
        let t = &mut st.tasks[i];
        let current = t.tags.get_or_insert_with(Vec::new);
        match method {
            "POST" => {
                current.clear();
                for tag in tags {
                    if !current.contains(&tag) {
                        current.push(tag);
                    }
                }
            }
            "PUT" => {
                for tag in tags {
                    if !current.contains(&tag) {
                        current.push(tag);
                    }
                }
            }
            _ => current.retain(|x| !tags.contains(x)),
        }
        t.updated_at = now_ms();
        Ok(ok(&t.render()))
    })
}

/// Filters of `GET /tasks`, parsed once.
struct TaskFilter {
    project: Option<String>,
    batch: Option<String>,
    task_type: Option<String>,
    status: Option<String>,
    review: Vec<String>,
    unique_ids: Vec<String>,
    tags: Vec<String>,
    created: (Option<i64>, Option<i64>),
    completed: (Option<i64>, Option<i64>),
    updated: (Option<i64>, Option<i64>),
}

fn in_range(t: Option<i64>, (lo, hi): (Option<i64>, Option<i64>)) -> bool {
    if lo.is_none() && hi.is_none() {
        return true;
    }
    let Some(t) = t else { return false };
    lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi)
}

impl TaskFilter {
    fn parse(q: &Query) -> Result<Self, String> {
        Ok(TaskFilter {
            project: q.get("project").map(str::to_owned),
            batch: q.get("batch").map(str::to_owned),
            task_type: q.get("type").map(str::to_owned),
            status: q.get("status").map(str::to_owned),
            review: q.all("customer_review_status", true),
            unique_ids: q.all("unique_id", false),
            tags: q.all("tags", false),
            created: (q.time("start_time")?, q.time("end_time")?),
            completed: (q.time("completed_after")?, q.time("completed_before")?),
            updated: (q.time("updated_after")?, q.time("updated_before")?),
        })
    }

    fn matches(&self, t: &TaskRec) -> bool {
        self.project
            .as_ref()
            .is_none_or(|p| t.project.as_ref() == Some(p))
            && self
                .batch
                .as_ref()
                .is_none_or(|b| t.batch.as_ref() == Some(b))
            && self.task_type.as_ref().is_none_or(|ty| &t.task_type == ty)
            && self.status.as_ref().is_none_or(|s| &t.status == s)
            && (self.review.is_empty()
                || self
                    .review
                    .iter()
                    .any(|r| t.review_status.as_deref().unwrap_or("pending") == r.as_str()))
            && (self.unique_ids.is_empty()
                || t.unique_id
                    .as_ref()
                    .is_some_and(|u| self.unique_ids.contains(u)))
            && (self.tags.is_empty()
                || t.tags
                    .as_ref()
                    .is_some_and(|have| self.tags.iter().all(|x| have.contains(x))))
            && in_range(Some(t.created_at), self.created)
            && in_range(t.completed_at, self.completed)
            && in_range(Some(t.updated_at), self.updated)
    }
}

fn list_tasks(emu: &ScaleEmulator, q: &Query) -> HResult {
    let filter = TaskFilter::parse(q).map_err(bad_request)?;
    let limit = q
        .int("limit", 1, MAX_LIMIT)
        .map_err(bad_request)?
        .unwrap_or(MAX_LIMIT) as usize;
    let limited = q
        .bool("limited_response")
        .map_err(bad_request)?
        .unwrap_or(false);
    q.bool("include_attachment_url").map_err(bad_request)?;
    let start = match q.get("next_token") {
        None => 0,
        Some(tok) => tok
            .strip_prefix("nt_")
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or_else(|| {
                bad_request("Parameter is invalid, reason: \"next_token\" is invalid")
            })?,
    };
    let st = emu.read();
    // With a batch filter only that batch's tasks are scanned.
    let candidates: Box<dyn Iterator<Item = usize> + '_> = match &filter.batch {
        Some(b) => match st.batch(b) {
            Some(rec) => Box::new(rec.tasks.iter().copied()),
            None => Box::new(std::iter::empty()),
        },
        None => Box::new(0..st.tasks.len()),
    };
    let mut total = 0usize;
    let mut docs = Vec::new();
    let mut next = None;
    for i in candidates {
        if !filter.matches(&st.tasks[i]) {
            continue;
        }
        total += 1;
        if i < start {
            continue;
        }
        if docs.len() < limit {
            let t = &st.tasks[i];
            docs.push(if limited {
                t.render_limited()
            } else {
                t.render()
            });
        } else if next.is_none() {
            next = Some(i);
        }
    }
    let mut page = json!({
        "docs": docs,
        "total": total,
        "limit": limit,
        "offset": 0,
        "has_more": next.is_some(),
    });
    if let Some(n) = next {
        page["next_token"] = json!(format!("nt_{n:x}"));
    }
    Ok(ok(&page))
}

fn create_quality_task(emu: &ScaleEmulator, kind: &str, ty: &str, body: &[u8]) -> HResult {
    const QUALITY_TYPES: [&str; 6] = [
        "documenttranscription",
        "segmentannotation",
        "videoplaybackannotation",
        "imageannotation",
        "textcollection",
        "namedentityrecognition",
    ];
    if !QUALITY_TYPES.contains(&ty) {
        return Err(bad_request(format!(
            "Parameter is invalid, reason: {kind} are not supported for task type \"{ty}\""
        )));
    }
    let b = match json_body(body)? {
        Some(Value::Object(o)) => o,
        _ => return Err(bad_request("Request body must be a JSON object")),
    };
    if b.get("expected_response").is_none_or(Value::is_null) {
        return Err(bad_request(
            "Parameter is invalid, reason: \"expected_response\" is required",
        ));
    }
    let mut st = emu.write();
    if let Some(p) = b.get("project").and_then(Value::as_str) {
        if st.project(p).is_none() {
            return Err(bad_request(format!(
                "Parameter is invalid, reason: project \"{p}\" does not exist"
            )));
        }
    }
    if let Some(u) = b
        .get("unique_id")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        if !st.quality_unique_ids.insert(u.to_owned()) {
            return Err(conflict(format!(
                "The unique_id (\"{u}\") is already used for a different {kind} task."
            )));
        }
    }
    let id = st.new_id();
    let mut out = b;
    out.insert("id".into(), json!(id));
    out.insert("type".into(), json!(ty));
    out.insert("created_at".into(), json!(fmt_ts(now_ms())));
    out.insert("kind".into(), json!(kind.trim_end_matches("_tasks")));
    let v = Value::Object(out);
    st.quality_tasks.push(v.clone());
    Ok(ok(&v))
}

// ---------------------------------------------------------------------------------------------
// Batches

fn batch_not_found(name: &str) -> Response {
    not_found(format!("Batch \"{name}\" not found."))
}

fn create_batch(emu: &ScaleEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let name = required_str(&b, "name")?;
    let project = required_str(&b, "project")?;
    let metadata = match b.get("metadata") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"metadata\" must be an object",
            ))
        }
    };
    let flag = |k: &str| b.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut st = emu.write();
    let Some(proj) = st.project(&project) else {
        return Err(not_found(format!("Project \"{project}\" not found.")));
    };
    let staged = proj.rapid || proj.studio;
    let studio = proj.studio;
    if st.batch_index.contains_key(&name) {
        return Err(conflict(format!(
            "A batch named \"{name}\" already exists."
        )));
    }
    let id = st.new_id();
    let rec = BatchRec {
        id,
        name: name.clone(),
        project,
        callback: b
            .get("callback")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        status: if staged { STAGING } else { IN_PROGRESS }.to_owned(),
        created_at: now_ms(),
        completed_at: None,
        metadata,
        calibration: flag("calibration_batch"),
        self_label: flag("self_label_batch"),
        finalized: false,
        staged,
        groups: Vec::new(),
        tasks: Vec::new(),
    };
    let out = rec.render();
    let index = st.batches.len();
    st.batch_index.insert(name.clone(), index);
    st.batches.push(rec);
    if studio {
        st.studio_order.push(name);
    }
    Ok(ok(&out))
}

fn get_batch(emu: &ScaleEmulator, name: &str) -> HResult {
    let st = emu.read();
    let b = st.batch(name).ok_or_else(|| batch_not_found(name))?;
    Ok(ok(&b.render()))
}

fn finalize_batch(emu: &ScaleEmulator, name: &str) -> HResult {
    let mut st = emu.write();
    let b = st.batch_mut(name).ok_or_else(|| batch_not_found(name))?;
    b.finalized = true;
    let mut callbacks = Vec::new();
    if b.status == STAGING {
        b.status = IN_PROGRESS.to_owned();
        callbacks.extend(st.refresh_batch(name));
    }
    let out = st.batch(name).map(BatchRec::render).unwrap_or_default();
    drop(st);
    emu.fire(callbacks);
    Ok(ok(&out))
}

fn batch_status(emu: &ScaleEmulator, name: &str) -> HResult {
    let st = emu.read();
    let b = st.batch(name).ok_or_else(|| batch_not_found(name))?;
    let counts = st.batch_counts(name);
    let mut v = json!({"status": b.status});
    for (k, n) in counts {
        v[k] = json!(n);
    }
    Ok(ok(&v))
}

fn set_batch_metadata(emu: &ScaleEmulator, name: &str, body: &[u8]) -> HResult {
    let metadata = match json_body(body)? {
        Some(Value::Object(m)) => m,
        _ => return Err(bad_request("The metadata must be a JSON object")),
    };
    let mut st = emu.write();
    let b = st.batch_mut(name).ok_or_else(|| batch_not_found(name))?;
    b.metadata = metadata;
    Ok(ok(&b.render()))
}

fn list_batches(emu: &ScaleEmulator, q: &Query) -> HResult {
    let limit = q
        .int("limit", 1, MAX_LIMIT)
        .map_err(bad_request)?
        .unwrap_or(MAX_LIMIT) as usize;
    let offset = q
        .int("offset", 0, u64::MAX)
        .map_err(bad_request)?
        .unwrap_or(0) as usize;
    q.bool("exclude_archived").map_err(bad_request)?;
    let created = (
        q.time("start_time").map_err(bad_request)?,
        q.time("end_time").map_err(bad_request)?,
    );
    let completed = (
        q.time("completed_after").map_err(bad_request)?,
        q.time("completed_before").map_err(bad_request)?,
    );
    let st = emu.read();
    let matching: Vec<&BatchRec> = st
        .batches
        .iter()
        .filter(|b| q.get("project").is_none_or(|p| b.project == p))
        .filter(|b| q.get("status").is_none_or(|s| b.status == s))
        .filter(|b| in_range(Some(b.created_at), created))
        .filter(|b| in_range(b.completed_at, completed))
        .collect();
    let total = matching.len();
    let docs: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|b| b.render())
        .collect();
    Ok(ok(&json!({
        "docs": docs,
        "totalDocs": total,
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + limit < total,
    })))
}

// ---------------------------------------------------------------------------------------------
// Projects

fn project_not_found(name: &str) -> Response {
    not_found(format!("Project \"{name}\" not found."))
}

fn create_project(emu: &ScaleEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let name = required_str(&b, "name")?;
    let ty = b.get("type").and_then(Value::as_str).unwrap_or("");
    if !TASK_TYPES.contains(&ty) {
        return Err(bad_request(format!(
            "Parameter is invalid, reason: \"type\" must be a task type, got \"{ty}\""
        )));
    }
    let params = match b.get("params") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"params\" must be an object",
            ))
        }
    };
    let flag = |k: &str| b.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut st = emu.write();
    if st.project(&name).is_some() {
        return Err(conflict(format!(
            "A project named \"{name}\" already exists."
        )));
    }
    let mut p = ProjectRec::new(&name, ty, params, flag("rapid"), flag("studio"));
    p.dataset_id = b
        .get("datasetId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let out = p.render();
    st.projects.push(p);
    Ok(ok(&out))
}

fn list_projects(emu: &ScaleEmulator) -> HResult {
    let st = emu.read();
    Ok(ok(&Value::Array(
        st.projects.iter().map(ProjectRec::render).collect(),
    )))
}

fn get_project(emu: &ScaleEmulator, name: &str) -> HResult {
    let st = emu.read();
    let p = st.project(name).ok_or_else(|| project_not_found(name))?;
    Ok(ok(&p.render()))
}

fn set_params(emu: &ScaleEmulator, name: &str, body: &[u8]) -> HResult {
    let mut b = object_body(body)?;
    let patch = b.remove("patch").and_then(|v| v.as_bool()).unwrap_or(false);
    let mut st = emu.write();
    let p = st
        .project_mut(name)
        .ok_or_else(|| project_not_found(name))?;
    let prev = p.current();
    let version = prev.get("version").and_then(Value::as_i64).unwrap_or(-1) + 1;
    let mut next = if patch {
        prev.into_iter()
            .filter(|(k, _)| k != "version" && k != "created_at")
            .collect()
    } else {
        Obj::new()
    };
    next.extend(b);
    next.insert("version".into(), json!(version));
    next.insert("created_at".into(), json!(fmt_ts(now_ms())));
    p.param_history.push(next);
    Ok(ok(&p.render()))
}

fn task_template(emu: &ScaleEmulator, name: &str) -> HResult {
    let st = emu.read();
    let p = st.project(name).ok_or_else(|| project_not_found(name))?;
    if !matches!(p.task_type.as_str(), "textcollection" | "chat") {
        return Err(bad_request(format!(
            "Task templates exist only for textcollection and chat projects; \"{name}\" is {}.",
            p.task_type
        )));
    }
    let current = p.current();
    let mut v = json!({
        "id": format!("template-{}", p.name),
        "version": current.get("version").cloned().unwrap_or(json!(0)),
        "created_at": fmt_ts(p.created_at),
        "updated_at": current.get("created_at").cloned().unwrap_or(json!(fmt_ts(p.created_at))),
        "template_variables": current.get("template_variables").cloned().unwrap_or(json!({})),
        "auto_onboard_enabled": false,
    });
    if let Some(schema) = current.get("response_schema") {
        v["response_schema"] = schema.clone();
    }
    Ok(ok(&v))
}

// ---------------------------------------------------------------------------------------------
// Files

fn file_record(st: &mut Store, name: &str, size: usize, fields: &Obj) -> Result<Value, Response> {
    let project = fields
        .get("project_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(p) = &project {
        if st.project(p).is_none() {
            return Err(project_not_found(p));
        }
    }
    if let Some(r) = fields
        .get("reference_id")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        if !st.file_refs.insert(r.to_owned()) {
            return Err(conflict(format!(
                "A file with reference_id \"{r}\" already exists."
            )));
        }
    }
    let id = st.new_id();
    let now = fmt_ts(now_ms());
    let mut v = json!({
        "id": id,
        "attachment_url": format!("scaledata://emulator/{id}"),
        "created_at": now,
        "updated_at": now,
        "mime_type": mime_of(name),
        "project_names": project.into_iter().collect::<Vec<_>>(),
        "size": size,
    });
    for k in ["display_name", "reference_id", "metadata"] {
        if let Some(x) = fields.get(k) {
            v[k] = x.clone();
        }
    }
    st.files.push(v.clone());
    Ok(v)
}

async fn upload_file(emu: &ScaleEmulator, content_type: &str, body: Bytes) -> HResult {
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(bad_request("files/upload takes a multipart/form-data body"));
    }
    let parts = form_parts(content_type, body).await.map_err(bad_request)?;
    let mut fields = Obj::new();
    let mut file = None;
    for p in parts {
        if p.name == "file" {
            file = Some((p.filename.unwrap_or_else(|| "file".into()), p.data.len()));
        } else {
            let text = String::from_utf8_lossy(&p.data).into_owned();
            let value = if p.name == "metadata" {
                serde_json::from_str(&text).map_err(|_| {
                    bad_request(
                        "Parameter is invalid, reason: \"metadata\" must be a JSON object string",
                    )
                })?
            } else {
                Value::String(text)
            };
            fields.insert(p.name, value);
        }
    }
    let (name, size) =
        file.ok_or_else(|| bad_request("Parameter is invalid, reason: \"file\" is required"))?;
    let v = file_record(&mut emu.write(), &name, size, &fields)?;
    Ok(ok(&v))
}

fn import_file(emu: &ScaleEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let url = required_str(&b, "file_url")?;
    let name = url.rsplit('/').next().unwrap_or("file").to_owned();
    let v = file_record(&mut emu.write(), &name, 0, &b)?;
    Ok(ok(&v))
}

// ---------------------------------------------------------------------------------------------
// Teams and Studio

fn team(emu: &ScaleEmulator) -> Response {
    let st = emu.read();
    ok(&json!(st.team))
}

fn team_update(emu: &ScaleEmulator, op: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let emails = string_list(b.get("emails"), "emails")?;
    let role = b.get("team_role").and_then(Value::as_str).unwrap_or("");
    if !["labeler", "member", "manager", "admin"].contains(&role) {
        return Err(bad_request(format!(
            "Parameter is invalid, reason: \"team_role\" must be labeler, member, manager or admin, got \"{role}\""
        )));
    }
    let mut st = emu.write();
    for email in emails {
        let pos = st
            .team
            .iter()
            .position(|m| m.get("email").and_then(Value::as_str) == Some(&email));
        match (op, pos) {
            (_, Some(i)) => {
                st.team[i].insert("role".into(), json!(role));
            }
            ("invite", None) => {
                let expiry = fmt_ts(now_ms() + 7 * 24 * 3600 * 1000);
                let m = json!({"email": email, "role": role, "isStudioLabeler": role == "labeler", "expiry": expiry});
                st.team.push(m.as_object().cloned().unwrap_or_default());
            }
            (_, None) => return Err(not_found(format!("No teammate with e-mail \"{email}\"."))),
        }
    }
    Ok(ok(&json!(st.team)))
}

fn assignments(st: &Store) -> Response {
    ok(&json!(st.assignments))
}

fn assignments_update(emu: &ScaleEmulator, op: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let emails = string_list(b.get("emails"), "emails")?;
    let projects = string_list(b.get("projects"), "projects")?;
    let mut st = emu.write();
    if let Some(p) = projects.iter().find(|p| st.project(p).is_none()) {
        return Err(project_not_found(p));
    }
    for email in emails {
        let list = st.assignments.entry(email.clone()).or_default();
        for p in &projects {
            if op == "add" {
                if !list.contains(p) {
                    list.push(p.clone());
                }
            } else {
                list.retain(|x| x != p);
            }
        }
        if list.is_empty() {
            st.assignments.remove(&email);
        }
    }
    Ok(assignments(&st))
}

fn list_groups(emu: &ScaleEmulator, project: &str) -> HResult {
    let st = emu.read();
    st.project(project)
        .ok_or_else(|| project_not_found(project))?;
    let groups: Vec<Value> = st
        .groups
        .get(project)
        .map(|g| g.iter().map(GroupRec::render).collect())
        .unwrap_or_default();
    Ok(ok(&Value::Array(groups)))
}

fn check_assigned(st: &Store, project: &str, emails: &[String]) -> Result<(), Response> {
    match emails.iter().find(|e| {
        !st.assignments
            .get(*e)
            .is_some_and(|ps| ps.iter().any(|p| p == project))
    }) {
        Some(e) => Err(bad_request(format!(
            "{e} is not assigned to project \"{project}\"; assign it first"
        ))),
        None => Ok(()),
    }
}

fn create_group(emu: &ScaleEmulator, project: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let emails = string_list(b.get("emails"), "emails")?;
    let name = required_str(&b, "name")?;
    let mut st = emu.write();
    st.project(project)
        .ok_or_else(|| project_not_found(project))?;
    check_assigned(&st, project, &emails)?;
    if st
        .groups
        .get(project)
        .is_some_and(|g| g.iter().any(|x| x.name == name))
    {
        return Err(conflict(format!(
            "A group named \"{name}\" already exists."
        )));
    }
    let id = st.new_id();
    let g = GroupRec { id, name, emails };
    let out = g.render();
    st.groups.entry(project.to_owned()).or_default().push(g);
    Ok(ok(&out))
}

fn update_group(emu: &ScaleEmulator, project: &str, group: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let add = string_list(b.get("add_emails"), "add_emails")?;
    let remove = string_list(b.get("remove_emails"), "remove_emails")?;
    let mut st = emu.write();
    st.project(project)
        .ok_or_else(|| project_not_found(project))?;
    check_assigned(&st, project, &add)?;
    let g = st
        .groups
        .get_mut(project)
        .and_then(|gs| gs.iter_mut().find(|g| g.name == group))
        .ok_or_else(|| not_found(format!("Group \"{group}\" not found.")))?;
    for e in add {
        if !g.emails.contains(&e) {
            g.emails.push(e);
        }
    }
    g.emails.retain(|e| !remove.contains(e));
    Ok(ok(&g.render()))
}

fn studio_batch(st: &Store, b: &BatchRec, priority: Option<usize>) -> Value {
    let counts = st.batch_counts(&b.name);
    json!({
        "id": b.id,
        "name": b.name,
        "projectId": format!("project-{}", b.project),
        "projectName": b.project,
        "batchType": if b.calibration { "Calibration" } else { "Production" },
        "studioPriority": priority,
        "total": b.tasks.len(),
        "completed": counts.get(COMPLETED).copied().unwrap_or(0),
        "groups": b.groups,
    })
}

/// Pending Studio batches (not completed), in priority order.
fn pending_studio(st: &Store) -> Vec<&BatchRec> {
    st.studio_order
        .iter()
        .filter_map(|n| st.batch(n))
        .filter(|b| b.status != COMPLETED)
        .collect()
}

fn studio_batches(st: &Store) -> Response {
    let list: Vec<Value> = pending_studio(st)
        .iter()
        .enumerate()
        .map(|(i, b)| studio_batch(st, b, Some(i + 1)))
        .collect();
    ok(&Value::Array(list))
}

fn assign_studio_batch(emu: &ScaleEmulator, name: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let groups = string_list(b.get("groups"), "groups")?;
    let mut st = emu.write();
    let project = st
        .batch(name)
        .ok_or_else(|| batch_not_found(name))?
        .project
        .clone();
    let known: Vec<String> = st
        .groups
        .get(&project)
        .map(|g| g.iter().map(|x| x.name.clone()).collect())
        .unwrap_or_default();
    if let Some(g) = groups.iter().find(|g| !known.contains(g)) {
        return Err(not_found(format!(
            "Group \"{g}\" not found in project \"{project}\"."
        )));
    }
    if let Some(rec) = st.batch_mut(name) {
        rec.groups = groups;
    }
    let pos = st
        .studio_order
        .iter()
        .position(|n| n == name)
        .map(|i| i + 1);
    let out = st
        .batch(name)
        .map(|rec| studio_batch(&st, rec, pos))
        .unwrap_or_default();
    Ok(ok(&out))
}

fn set_priorities(emu: &ScaleEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let names: Vec<String> = match b.get("batches") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad_request("Parameter is invalid, reason: each batch needs a \"name\"")
            })?,
        _ => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"batches\" is required",
            ))
        }
    };
    let mut st = emu.write();
    let mut pending: Vec<String> = pending_studio(&st).iter().map(|b| b.name.clone()).collect();
    let mut given = names.clone();
    pending.sort();
    given.sort();
    if pending != given {
        return Err(bad_request(
            "The list must name every pending Studio batch exactly once",
        ));
    }
    let done: Vec<String> = st
        .studio_order
        .iter()
        .filter(|n| !names.contains(n))
        .cloned()
        .collect();
    st.studio_order = names.into_iter().chain(done).collect();
    Ok(studio_batches(&st))
}

fn reset_priorities(emu: &ScaleEmulator) -> HResult {
    let mut st = emu.write();
    let mut order = std::mem::take(&mut st.studio_order);
    order.sort_by_key(|n| st.batch(n).map_or(i64::MAX, |b| b.created_at));
    st.studio_order = order;
    Ok(studio_batches(&st))
}
