//! The Sama (SamaHub REST API v2) emulator: routes and handlers (sama.md §2, §8).
//!
//! One dispatcher resolves every path itself, so that 401 / 404 / 405 answers carry Sama's
//! `errors` body consistently. Handlers hold the store lock only for in-memory work; bodies are
//! read and uploads parsed outside of it, and batch creation runs on a blocking thread in
//! chunks so reads interleave with a large creation.

// Handlers return `Result<Response, Response>`: the error side is the ready-made HTTP error
// answer (a cold path), so its size does not matter.
#![allow(clippy::result_large_err)]

mod errors;
mod fixture;
mod state;
mod wire;

use crate::framework::{VendorContext, VendorEmulator};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use bytes::{Bytes, BytesMut};
use errors::{bad_request, error, json_response, method_not_allowed, not_authorized, not_found};
use fixture::{validate, Failure, NewTask};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use state::{now_ms, Batch, BatchStatus, LogEntry, Project, Store, TaskState};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use wire::{parse_bool, parse_time, BatchRender, ProjectIdOut, TaskRender, Ts};

/// Path prefix of the pre-signed upload URL (an emulator route standing in for S3).
const UPLOAD_PREFIX: &str = "/sama-upload/";
/// Maximum size of a JSON request body on API routes.
const JSON_LIMIT: usize = 64 * 1024 * 1024;
/// Maximum size of an uploaded task file.
const UPLOAD_LIMIT: usize = 1024 * 1024 * 1024;
/// Validity of an upload URL (§2.2: 4 hours).
const UPLOAD_VALIDITY_MS: i64 = 4 * 3600 * 1000;
/// Inline `tasks` limit of `batches.json` (§2.2).
const INLINE_LIMIT: usize = 1000;
/// Records created per store-lock acquisition.
const CHUNK: usize = 4096;

/// The Sama vendor emulator.
pub(crate) struct SamaEmulator {
    ctx: VendorContext,
    store: RwLock<Store>,
    last_multi_call: Mutex<Option<Instant>>,
}

impl SamaEmulator {
    pub(crate) fn new(ctx: VendorContext) -> Self {
        SamaEmulator {
            store: RwLock::new(Store::new(&ctx.projects)),
            ctx,
            last_multi_call: Mutex::new(None),
        }
    }

    // A panic elsewhere must not take the emulator down: poisoned locks are used anyway.
    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    fn with_project<R: Default>(&self, project: &str, f: impl FnOnce(&mut Project) -> R) -> R {
        let mut st = self.write();
        st.project_mut(project).map(f).unwrap_or_default()
    }

    /// The documented 1 call/s limit of multi-task status, when enforced.
    fn check_rate(&self) -> Option<Response> {
        if !self.ctx.enforce_rate_limits {
            return None;
        }
        let mut last = self
            .last_multi_call
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(prev) = *last {
            let since = now.duration_since(prev);
            if since < Duration::from_secs(1) {
                let wait = (Duration::from_secs(1) - since)
                    .as_secs_f64()
                    .ceil()
                    .max(1.0);
                return Some(errors::rate_limited(wait as u64));
            }
        }
        *last = Some(now);
        None
    }
}

impl VendorEmulator for SamaEmulator {
    fn api_prefix(&self) -> &'static str {
        "/v2"
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(dispatch).with_state(self)
    }

    fn error_response(&self, status: u16, message: &str) -> Response {
        error(status, message)
    }

    fn has_project(&self, project: &str) -> bool {
        self.read().project(project).is_some()
    }

    fn projects(&self) -> Vec<String> {
        self.read().projects.iter().map(|p| p.id.clone()).collect()
    }

    fn advance(&self, project: &str) -> usize {
        self.with_project(project, |p| p.advance())
    }

    fn complete_all(&self, project: &str) -> usize {
        self.with_project(project, |p| p.complete_all())
    }

    fn deliver_all(&self, project: &str) -> usize {
        self.with_project(project, |p| p.deliver_all())
    }

    fn finish_all(&self, project: &str) -> usize {
        // One lock for both steps, so no reader sees the intermediate state.
        self.with_project(project, |p| {
            p.complete_all();
            p.deliver_all()
        })
    }

    fn reject(
        &self,
        project: &str,
        task: Option<&str>,
        reasons: &[String],
    ) -> Result<usize, String> {
        let mut st = self.write();
        let pr = st
            .project_mut(project)
            .ok_or_else(|| format!("unknown project {project:?}"))?;
        match task {
            Some(t) => {
                let idx = pr
                    .live_task(t)
                    .ok_or_else(|| format!("unknown task {t:?}"))?;
                pr.reject(idx, reasons.to_vec()).map(|()| 1)
            }
            None => Ok(pr.reject_undelivered(reasons)),
        }
    }

    fn reset(&self) {
        self.write().reset(&self.ctx.projects);
        *self
            .last_multi_call
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn task_count(&self, project: &str) -> usize {
        self.read().project(project).map_or(0, |p| p.live_count())
    }

    fn state_counts(&self, project: &str) -> BTreeMap<String, usize> {
        self.read()
            .project(project)
            .map(|p| p.state_counts())
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

/// A resolved API path.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Route<'a> {
    Project(&'a str),
    Batches(&'a str),
    Batch(&'a str, &'a str),
    Continue(&'a str, &'a str),
    Cancel(&'a str, &'a str),
    Tasks(&'a str),
    Delivered(&'a str),
    BulkUpdate(&'a str),
    DeleteTasks(&'a str),
    Task(&'a str, &'a str),
    Reject(&'a str, &'a str),
    Stats(&'a str),
    CreateSchema(&'a str),
    DeliverSchema(&'a str),
}

impl Route<'_> {
    fn allowed(&self) -> &'static [&'static str] {
        match self {
            Route::Project(_)
            | Route::Batch(..)
            | Route::Tasks(_)
            | Route::Task(..)
            | Route::Stats(_)
            | Route::CreateSchema(_)
            | Route::DeliverSchema(_) => &["GET"],
            Route::Batches(_)
            | Route::Continue(..)
            | Route::Cancel(..)
            | Route::BulkUpdate(_)
            | Route::DeleteTasks(_) => &["POST"],
            Route::Delivered(_) => &["GET", "POST"],
            Route::Reject(..) => &["PUT"],
        }
    }
}

fn json_seg(s: &str) -> Option<&str> {
    s.strip_suffix(".json").filter(|x| !x.is_empty())
}

/// Resolve a path below `/v2/`.
fn resolve(rest: &str) -> Option<Route<'_>> {
    let segs: Vec<&str> = rest.split('/').collect();
    let route = match segs.as_slice() {
        ["projects", p] => Route::Project(json_seg(p)?),
        ["projects", p, "batches.json"] => Route::Batches(p),
        ["projects", p, "batches", b] => Route::Batch(p, json_seg(b)?),
        ["projects", p, "batches", b, "continue.json"] => Route::Continue(p, b),
        ["projects", p, "batches", b, "cancel.json"] => Route::Cancel(p, b),
        ["projects", p, "tasks.json"] => Route::Tasks(p),
        ["projects", p, "tasks", "delivered.json"] => Route::Delivered(p),
        ["projects", p, "tasks", "bulk_update.json"] => Route::BulkUpdate(p),
        ["projects", p, "tasks", "delete_tasks.json"] => Route::DeleteTasks(p),
        ["projects", p, "tasks", t] => Route::Task(p, json_seg(t)?),
        ["projects", p, "tasks", t, "reject.json"] => Route::Reject(p, t),
        ["projects", p, "stats.json"] => Route::Stats(p),
        ["projects", p, "schemas", "create_task.json"] => Route::CreateSchema(p),
        ["projects", p, "schemas", "deliver_task.json"] => Route::DeliverSchema(p),
        _ => return None,
    };
    Some(route)
}

async fn dispatch(State(emu): State<Arc<SamaEmulator>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let q = Query::parse(parts.uri.query());
    if let Some(token) = path.strip_prefix(UPLOAD_PREFIX) {
        return upload(&emu, &parts.method, token, &parts.headers, body).await;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return not_found("Not found");
    };
    if q.raw("access_key") != Some(emu.ctx.api_key.as_str()) {
        return not_authorized();
    }
    let Some(route) = resolve(rest) else {
        return not_found("Not found");
    };
    let method = parts.method.as_str();
    if !route.allowed().contains(&method) {
        return method_not_allowed(route.allowed());
    }
    let result = match route {
        Route::Project(p) => project_info(&emu, p),
        Route::Batches(p) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => create_batch(&emu, p, &b),
            Err(r) => Err(r),
        },
        Route::Batch(p, b) => batch_status(&emu, p, b, &q),
        Route::Continue(p, b) => continue_batch(&emu, p, b).await,
        Route::Cancel(p, b) => cancel_batch(&emu, p, b),
        Route::Tasks(p) => multi_task_status(&emu, p, &q),
        Route::Delivered(p) if parts.method == Method::GET => delivered(&emu, p, &q),
        Route::Delivered(p) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => delivered_since_last_call(&emu, p, &b),
            Err(r) => Err(r),
        },
        Route::BulkUpdate(p) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => bulk_update(&emu, p, &b),
            Err(r) => Err(r),
        },
        Route::DeleteTasks(p) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => delete_tasks(&emu, p, &b),
            Err(r) => Err(r),
        },
        Route::Task(p, t) => task_status(&emu, p, t),
        Route::Reject(p, t) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => reject(&emu, p, t, &b),
            Err(r) => Err(r),
        },
        Route::Stats(p) => stats(&emu, p, &q),
        Route::CreateSchema(p) => schema(&emu, p, true),
        Route::DeliverSchema(p) => schema(&emu, p, false),
    };
    result.unwrap_or_else(|r| r)
}

type HResult = Result<Response, Response>;

fn ok_json(v: &Value) -> Response {
    json_response(StatusCode::OK, serde_json::to_vec(v).unwrap_or_default())
}

fn project_not_found(p: &str) -> Response {
    not_found(format!("Project {p} not found"))
}

fn batch_not_found(b: &str) -> Response {
    not_found(format!("Batch {b} not found"))
}

fn task_not_found(t: &str) -> Response {
    not_found(format!("Task {t} not found"))
}

// ---------------------------------------------------------------------------------------------
// Request parsing helpers

/// Decoded query parameters (last occurrence wins; empty values count as absent).
struct Query(HashMap<String, String>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn raw(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.raw(k).map(str::trim).filter(|s| !s.is_empty())
    }

    fn bool(&self, k: &str, default: bool) -> Result<bool, Response> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => parse_bool(v)
                .ok_or_else(|| bad_request(format!("`{k}` must be true or false, got {v:?}"))),
        }
    }

    fn page(&self) -> Result<usize, Response> {
        match self.get("page") {
            None => Ok(1),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(bad_request(format!(
                    "`page` must be an integer >= 1, got {v:?}"
                ))),
            },
        }
    }

    /// `page_size`, capped at `max`; 0 only when `allow_zero`.
    fn page_size(&self, default: usize, max: usize, allow_zero: bool) -> Result<usize, Response> {
        match self.get("page_size") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(0) if allow_zero => Ok(0),
                Ok(n) if n >= 1 => Ok(n.min(max)),
                _ => Err(bad_request(format!(
                    "`page_size` must be an integer between {} and {max}, got {v:?}",
                    if allow_zero { 0 } else { 1 }
                ))),
            },
        }
    }

    fn time(&self, k: &str) -> Result<Option<i64>, Response> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                bad_request(format!("`{k}` must be an RFC 3339 timestamp, got {v:?}"))
            }),
        }
    }

    /// A comma-separated list (`None` when absent).
    fn list(&self, k: &str) -> Option<Vec<String>> {
        self.get(k).map(split_list)
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_batch_ids(list: Vec<String>) -> Result<Vec<u64>, Response> {
    list.iter()
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| bad_request(format!("`batch_id` must be an integer, got {s:?}")))
        })
        .collect()
}

/// Read a request body into one buffer (a single copy, sized from Content-Length).
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, Response> {
    let hint = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if hint > limit {
        return Err(error(
            413,
            format!("Request body larger than {limit} bytes"),
        ));
    }
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::with_capacity(hint);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("Could not read request body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(error(
                413,
                format!("Request body larger than {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Parse a JSON body; an empty body or `null` is the default (all fields absent).
fn parse_body<'a, T: Deserialize<'a> + Default>(body: &'a [u8]) -> Result<T, Response> {
    let text = std::str::from_utf8(body).map_err(|_| bad_request("Request body is not UTF-8"))?;
    let t = text.trim();
    if t.is_empty() || t == "null" {
        return Ok(T::default());
    }
    serde_json::from_str(t).map_err(|e| bad_request(format!("Invalid JSON body: {e}")))
}

/// Task ids of a body list: strings required.
fn id_list(v: Option<Vec<Value>>, what: &str) -> Result<Vec<String>, Response> {
    let Some(v) = v else {
        return Err(bad_request(format!("`{what}` is required")));
    };
    v.into_iter()
        .map(|x| match x {
            Value::String(s) => Ok(s),
            other => Err(bad_request(format!(
                "`{what}` must be a list of strings, got {other}"
            ))),
        })
        .collect()
}

/// An id given as a JSON number, a numeric string or a comma list of those.
fn value_batch_ids(v: Option<Value>) -> Result<Option<Vec<u64>>, Response> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| Some(vec![n]))
            .ok_or_else(|| bad_request("`batch_id` must be a positive integer")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => parse_batch_ids(split_list(&s)).map(Some),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| value_batch_ids(Some(i)))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Some(v.into_iter().flatten().flatten().collect())),
        Some(other) => Err(bad_request(format!("Invalid `batch_id`: {other}"))),
    }
}

fn value_string_list(v: Option<Value>, what: &str) -> Result<Option<Vec<String>>, Response> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(split_list(&s))),
        Some(Value::Number(n)) => Ok(Some(vec![n.to_string()])),
        Some(Value::Array(items)) => Ok(Some(
            items
                .into_iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
        )),
        Some(other) => Err(bad_request(format!("Invalid `{what}`: {other}"))),
    }
}

fn random_hex(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Task filters

#[derive(Clone, Copy, PartialEq, Debug)]
enum DateField {
    Created,
    Completed,
    Delivered,
}

#[derive(Default)]
struct Filter {
    batch_ids: Option<Vec<u64>>,
    client_batch_ids: Option<Vec<String>>,
    contains: bool,
    /// Sorted task indices; `Some(empty)` matches nothing.
    tasks: Option<Vec<u32>>,
    state: Option<TaskState>,
    date: Option<(DateField, i64, i64)>,
}

impl Filter {
    fn is_trivial(&self) -> bool {
        self.batch_ids.is_none()
            && self.client_batch_ids.is_none()
            && self.tasks.is_none()
            && self.state.is_none()
            && self.date.is_none()
    }

    /// The single batch id when that is the only filter (indexed fast path).
    fn only_batch(&self) -> Option<u64> {
        match &self.batch_ids {
            Some(b)
                if b.len() == 1
                    && self.client_batch_ids.is_none()
                    && self.tasks.is_none()
                    && self.state.is_none()
                    && self.date.is_none() =>
            {
                Some(b[0])
            }
            _ => None,
        }
    }

    fn matches(&self, p: &Project, idx: u32) -> bool {
        let t = &p.tasks[idx as usize];
        if t.deleted {
            return false;
        }
        if let Some(b) = &self.batch_ids {
            if !b.contains(&t.batch_id) {
                return false;
            }
        }
        if let Some(list) = &self.client_batch_ids {
            let Some(cb) = &t.client_batch_id else {
                return false;
            };
            let hit = if self.contains {
                list.iter().any(|x| cb.contains(x.as_str()))
            } else {
                list.iter().any(|x| **cb == **x)
            };
            if !hit {
                return false;
            }
        }
        if let Some(ids) = &self.tasks {
            if ids.binary_search(&idx).is_err() {
                return false;
            }
        }
        if let Some(s) = self.state {
            if t.state != s {
                return false;
            }
        }
        if let Some((field, from, to)) = self.date {
            let v = match field {
                DateField::Created => t.created_at,
                DateField::Completed => t.completed_at,
                DateField::Delivered => t.delivered_at,
            };
            if v == state::NO_TS || v < from || v > to {
                return false;
            }
        }
        true
    }
}

fn match_type(s: Option<&str>) -> Result<bool, Response> {
    match s.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(s) if s.is_empty() || s == "exact" => Ok(false),
        Some(s) if s == "contains" => Ok(true),
        Some(s) => Err(bad_request(format!(
            "`client_batch_id_match_type` must be exact or contains, got {s:?}"
        ))),
    }
}

fn resolve_tasks(p: &Project, ids: Vec<String>) -> Vec<u32> {
    let mut v: Vec<u32> = ids.iter().filter_map(|id| p.task_index(id)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

// ---------------------------------------------------------------------------------------------
// Handlers: project-level reads

fn project_info(emu: &SamaEmulator, p: &str) -> HResult {
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let inputs: Vec<Value> = fixture::INPUTS
        .iter()
        .map(|i| {
            let kind = match i.kind {
                fixture::InputKind::String => "string",
                fixture::InputKind::Integer => "integer",
                fixture::InputKind::Date => "date",
            };
            json!({"name": i.name, "type": kind, "required": i.required})
        })
        .collect();
    let outputs: Vec<Value> = fixture::OUTPUTS
        .iter()
        .map(|o| {
            let kind = match o.kind {
                fixture::OutputKind::String => "string",
                fixture::OutputKind::Workspace => "workspace",
            };
            json!({"name": o.name, "type": kind})
        })
        .collect();
    Ok(ok_json(&json!({
        "id": ProjectIdOut(pr),
        "name": format!("labelmux emulator project {p}"),
        "state": "active",
        "type": "image_annotation",
        "asset_country_code": "US",
        "project_group": "labelmux-emulator",
        "description": "Emulated Sama project (labelmux-emulator default fixture)",
        "client": "labelmux",
        "client_batch_id_input": fixture::CLIENT_BATCH_INPUT,
        "inputs": inputs,
        "outputs": outputs,
    })))
}

fn schema(emu: &SamaEmulator, p: &str, creation: bool) -> HResult {
    if !emu.has_project(p) {
        return Err(project_not_found(p));
    }
    Ok(ok_json(&if creation {
        fixture::creation_schema(p)
    } else {
        fixture::delivery_schema(p)
    }))
}

fn stats(emu: &SamaEmulator, p: &str, q: &Query) -> HResult {
    let from = q.time("from")?;
    let to = q.time("to")?;
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let mut counts = [0usize; 7];
    let (lo, hi) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
    for t in pr.tasks.iter().filter(|t| !t.deleted) {
        if t.created_at >= lo && t.created_at <= hi {
            counts[t.state as usize] += 1;
        }
    }
    let by_state: serde_json::Map<String, Value> = TaskState::ALL
        .iter()
        .map(|s| (s.name().to_owned(), json!(counts[*s as usize])))
        .collect();
    let deliveries = pr.log.iter().filter(|e| e.at >= lo && e.at <= hi).count();
    Ok(ok_json(&json!({
        "project_id": ProjectIdOut(pr),
        "from": from.map(Ts),
        "to": to.map(Ts),
        "total_tasks": counts.iter().sum::<usize>(),
        "tasks": by_state,
        "deliveries": deliveries,
        "batches": pr.batches.len(),
    })))
}

// ---------------------------------------------------------------------------------------------
// Handlers: batch creation

#[derive(Deserialize, Default)]
struct CreateBatchIn<'a> {
    #[serde(default)]
    notification_email: Option<String>,
    #[serde(default)]
    tasks_file_name: Option<String>,
    #[serde(borrow, default)]
    tasks: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    submit: Option<bool>,
}

fn create_batch(emu: &SamaEmulator, p: &str, body: &[u8]) -> HResult {
    if !emu.has_project(p) {
        return Err(project_not_found(p));
    }
    let input: CreateBatchIn<'_> = parse_body(body)?;
    let priority = match input.priority {
        None => 0,
        Some(n) => i32::try_from(n)
            .map_err(|_| bad_request("`priority` must be in the signed 32-bit range"))?,
    };
    let defaults = (priority, input.submit.unwrap_or(false));
    let file_name = input
        .tasks_file_name
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "from_api".to_owned());
    let now = now_ms();
    match input.tasks {
        None => {
            let mut rng = fastrand::Rng::new();
            let token = random_hex(&mut rng, 32);
            let signature = random_hex(&mut rng, 64);
            let mut st = emu.write();
            let pidx = *st.index.get(p).ok_or_else(|| project_not_found(p))?;
            let bid = st.next_batch_id();
            let mut batch = Batch::new(bid, file_name, input.notification_email, now);
            batch.upload_token = Some(token.clone());
            batch.defaults = defaults;
            st.projects[pidx].batches.insert(bid, batch);
            st.uploads.insert(token.clone(), (pidx, bid));
            let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            let url = format!(
                "{}{UPLOAD_PREFIX}{token}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&X-Amz-Expires=14400&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}",
                emu.ctx.root_url
            );
            Ok(ok_json(&json!({"batch_id": bid, "tasks_put_url": url})))
        }
        Some(records) => {
            if records.len() > INLINE_LIMIT {
                return Err(bad_request(format!(
                    "At most {INLINE_LIMIT} tasks can be created inline per batch ({} given); upload a task file instead",
                    records.len()
                )));
            }
            let results: Vec<Result<NewTask, Failure>> =
                records.iter().map(|r| validate(r, defaults)).collect();
            let mut st = emu.write();
            let pidx = *st.index.get(p).ok_or_else(|| project_not_found(p))?;
            let bid = st.next_batch_id();
            let mut batch = Batch::new(bid, file_name, input.notification_email, now);
            batch.status = BatchStatus::Processing;
            batch.continued = true;
            batch.defaults = defaults;
            batch.queue(records.len());
            let project = &mut st.projects[pidx];
            project.batches.insert(bid, batch);
            project.create_in_batch(bid, 0, results, now);
            if let Some(batch) = project.batches.get_mut(&bid) {
                batch.finish();
            }
            let batch = project
                .batches
                .get(&bid)
                .ok_or_else(|| error(500, "batch vanished"))?;
            let ids: Vec<String> = batch
                .tasks
                .iter()
                .map(|&i| project.task_id(i).to_string())
                .collect();
            Ok(ok_json(&json!({
                "batch_id": bid,
                "status": batch.status.name(),
                "task_ids": ids,
                "tasks_created": batch.created,
                "tasks_failed": batch.failed,
            })))
        }
    }
}

/// The S3 stand-in: `PUT` of the task file, no `access_key`, 200 with an empty body.
async fn upload(
    emu: &SamaEmulator,
    method: &Method,
    token: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    if method != Method::PUT {
        return method_not_allowed(&["PUT"]);
    }
    let check = |st: &Store| -> Result<(usize, u64), Response> {
        let &(pidx, bid) = st
            .uploads
            .get(token)
            .ok_or_else(|| error(403, "Upload URL is invalid or no longer valid"))?;
        let batch = st.projects[pidx]
            .batches
            .get(&bid)
            .ok_or_else(|| error(403, "Upload URL is invalid or no longer valid"))?;
        if batch.status != BatchStatus::Waiting {
            return Err(error(403, "Upload URL is no longer valid"));
        }
        if now_ms() - batch.created_at > UPLOAD_VALIDITY_MS {
            return Err(error(403, "Request has expired"));
        }
        Ok((pidx, bid))
    };
    if let Err(r) = check(&emu.read()) {
        return r;
    }
    let bytes = match read_body(body, headers, UPLOAD_LIMIT).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut st = emu.write();
    match check(&st) {
        Ok((pidx, bid)) => {
            if let Some(b) = st.projects[pidx].batches.get_mut(&bid) {
                b.upload = Some(bytes);
            }
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::OK;
            r
        }
        Err(r) => r,
    }
}

fn parse_batch_id(b: &str) -> Result<u64, Response> {
    b.parse::<u64>().map_err(|_| batch_not_found(b))
}

async fn continue_batch(emu: &Arc<SamaEmulator>, p: &str, b: &str) -> HResult {
    let bid = parse_batch_id(b)?;
    let (bytes, generation, pidx, defaults) = {
        let mut guard = emu.write();
        let st = &mut *guard;
        let pidx = *st.index.get(p).ok_or_else(|| project_not_found(p))?;
        let batch = st.projects[pidx]
            .batches
            .get_mut(&bid)
            .ok_or_else(|| batch_not_found(b))?;
        if batch.continued {
            // Idempotent: a repeated (e.g. retried) continue gets the same answer.
            return Ok(ok_json(&json!({"batch_id": bid})));
        }
        if batch.status == BatchStatus::Canceled {
            return Err(bad_request(format!("Batch {bid} was canceled")));
        }
        let Some(bytes) = batch.upload.take() else {
            return Err(bad_request(format!(
                "No task file was uploaded for batch {bid}"
            )));
        };
        batch.status = BatchStatus::Processing;
        batch.continued = true;
        let defaults = batch.defaults;
        if let Some(t) = batch.upload_token.take() {
            st.uploads.remove(&t);
        }
        (bytes, st.generation, pidx, defaults)
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let emu2 = emu.clone();
    tokio::task::spawn_blocking(move || {
        run_creation(&emu2, pidx, bid, generation, defaults, bytes, tx)
    });
    match rx.await {
        Ok(Ok(_)) => Ok(ok_json(&json!({"batch_id": bid}))),
        Ok(Err(msg)) => Err(errors::error_items(
            400,
            &[errors::ErrorItem::invalid_input(msg)],
        )),
        Err(_) => Err(error(500, "Batch creation was interrupted")),
    }
}

/// Parse the uploaded file, report the outcome of the parse through `tx`, then create the
/// tasks chunk by chunk (each chunk validated outside the lock).
fn run_creation(
    emu: &SamaEmulator,
    pidx: usize,
    bid: u64,
    generation: u64,
    defaults: (i32, bool),
    bytes: Bytes,
    tx: tokio::sync::oneshot::Sender<Result<usize, String>>,
) {
    let fail = |msg: String| -> String {
        let mut st = emu.write();
        if st.generation == generation {
            if let Some(b) = st.projects[pidx].batches.get_mut(&bid) {
                b.status = BatchStatus::Failed;
                b.messages.push(msg.clone());
            }
        }
        msg
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(_) => {
            let _ = tx.send(Err(fail("The uploaded task file is not UTF-8 text".into())));
            return;
        }
    };
    let records: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(fail(format!(
                "The uploaded task file is not a JSON array of task records: {e}"
            ))));
            return;
        }
    };
    {
        let mut st = emu.write();
        if st.generation != generation {
            let _ = tx.send(Err("The emulator was reset".into()));
            return;
        }
        match st.projects[pidx].batches.get_mut(&bid) {
            Some(b) => b.queue(records.len()),
            None => return,
        }
    }
    let _ = tx.send(Ok(records.len()));
    for (ci, chunk) in records.chunks(CHUNK).enumerate() {
        let results: Vec<Result<NewTask, Failure>> =
            chunk.iter().map(|r| validate(r, defaults)).collect();
        let mut st = emu.write();
        if st.generation != generation
            || !st.projects[pidx].create_in_batch(bid, ci * CHUNK, results, now_ms())
        {
            return;
        }
    }
    let mut st = emu.write();
    if st.generation == generation {
        if let Some(b) = st.projects[pidx].batches.get_mut(&bid) {
            b.finish();
        }
    }
}

fn cancel_batch(emu: &SamaEmulator, p: &str, b: &str) -> HResult {
    let bid = parse_batch_id(b)?;
    let mut guard = emu.write();
    let st = &mut *guard;
    let pidx = *st.index.get(p).ok_or_else(|| project_not_found(p))?;
    let batch = st.projects[pidx]
        .batches
        .get_mut(&bid)
        .ok_or_else(|| batch_not_found(b))?;
    match batch.status {
        BatchStatus::Waiting => {
            batch.status = BatchStatus::Canceled;
            batch.upload = None;
            batch
                .messages
                .push("Batch canceled before task creation".into());
            if let Some(t) = batch.upload_token.take() {
                st.uploads.remove(&t);
            }
        }
        BatchStatus::Processing => {
            let n = batch.cancel_queued();
            batch.status = BatchStatus::Canceled;
            batch
                .messages
                .push(format!("Batch creation canceled; {n} task(s) not created"));
        }
        // Nothing left to cancel: harmless, the status is unchanged.
        BatchStatus::Completed | BatchStatus::Canceled | BatchStatus::Failed => {}
    }
    Ok(ok_json(&json!({
        "batch_id": bid,
        "status": batch.status.name(),
        "tasks_created": batch.created,
        "tasks_canceled": batch.canceled,
    })))
}

fn batch_status(emu: &SamaEmulator, p: &str, b: &str, q: &Query) -> HResult {
    let bid = parse_batch_id(b)?;
    let omit = q.bool("omit_failed_task_data", false)?;
    let page = q.page()?;
    let size = q.page_size(1000, 1000, true)?;
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let batch = pr.batches.get(&bid).ok_or_else(|| batch_not_found(b))?;
    let range = (size > 0).then(|| {
        let n = batch.entries.len();
        let start = (page - 1).saturating_mul(size).min(n);
        start..start.saturating_add(size).min(n)
    });
    let render = BatchRender {
        project: pr,
        batch,
        page: range,
        omit_failed_task_data: omit,
    };
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&render).unwrap_or_default(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Handlers: task reads

fn task_status(emu: &SamaEmulator, p: &str, t: &str) -> HResult {
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let idx = pr.live_task(t).ok_or_else(|| task_not_found(t))?;
    let mut out = b"{\"task\":".to_vec();
    serde_json::to_writer(
        &mut out,
        &TaskRender {
            project: pr,
            idx,
            omit_answers: false,
            delivery: None,
        },
    )
    .map_err(|e| error(500, e.to_string()))?;
    out.push(b'}');
    Ok(json_response(StatusCode::OK, out))
}

fn multi_task_status(emu: &SamaEmulator, p: &str, q: &Query) -> HResult {
    if let Some(r) = emu.check_rate() {
        return Err(r);
    }
    let page = q.page()?;
    let size = q.page_size(100, 100, false)?;
    let omit_answers = q.bool("omit_answers", false)?;
    let mut f = Filter {
        batch_ids: q.list("batch_id").map(parse_batch_ids).transpose()?,
        client_batch_ids: q.get("client_batch_id").map(|s| vec![s.to_owned()]),
        contains: match_type(q.get("client_batch_id_match_type"))?,
        ..Filter::default()
    };
    if let Some(s) = q.get("state") {
        f.state = Some(TaskState::parse(s).ok_or_else(|| {
            bad_request(format!(
                "`state` must be one of new, in progress, completed, approved, delivered, acknowledged, rejected; got {s:?}"
            ))
        })?);
    }
    let from = q.time("from")?;
    let to = q.time("to")?;
    if from.is_some() || to.is_some() {
        let field = match q.get("date_type").map(|s| s.to_ascii_lowercase()) {
            None => DateField::Created,
            Some(s) => match s.as_str() {
                "creation_date" | "created_at" | "creation" | "created" => DateField::Created,
                "completion_date" | "completed_at" | "completion" | "completed" => {
                    DateField::Completed
                }
                "delivery_date" | "delivered_at" | "delivery" | "delivered" => {
                    DateField::Delivered
                }
                _ => {
                    return Err(bad_request(format!(
                        "`date_type` must be creation_date, completion_date or delivery_date, got {s:?}"
                    )))
                }
            },
        };
        f.date = Some((field, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)));
    }
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let ids = q.list("task_ids").or_else(|| q.list("task_id"));
    if let Some(ids) = ids {
        f.tasks = Some(resolve_tasks(pr, ids));
    }
    let offset = (page - 1).saturating_mul(size);
    let picked: Vec<u32> = if f.is_trivial() && pr.deleted == 0 {
        let n = pr.tasks.len();
        (offset.min(n)..offset.saturating_add(size).min(n))
            .map(|i| i as u32)
            .collect()
    } else if let Some(batch) = f
        .only_batch()
        .and_then(|b| pr.batches.get(&b))
        .filter(|b| b.deleted_tasks == 0)
    {
        batch
            .tasks
            .iter()
            .skip(offset)
            .take(size)
            .copied()
            .collect()
    } else {
        (0..pr.tasks.len() as u32)
            .filter(|&i| f.matches(pr, i))
            .skip(offset)
            .take(size)
            .collect()
    };
    let body = wire::tasks_body(picked.into_iter().map(|idx| TaskRender {
        project: pr,
        idx,
        omit_answers,
        delivery: None,
    }));
    Ok(json_response(StatusCode::OK, body))
}

/// Entries of the delivery log matching `f`, starting at log position `start` (and, on the
/// indexed path, at or after time `from`), skipping `skip` matches, at most `take`.
/// Returns the entries and the log position after the last one returned.
fn scan_log(
    pr: &Project,
    f: &Filter,
    start: usize,
    from: Option<i64>,
    skip: usize,
    take: usize,
) -> (Vec<LogEntry>, Option<usize>) {
    let log = &pr.log;
    let from = from.unwrap_or(i64::MIN);
    if let Some(b) = f.only_batch() {
        let Some(positions) = pr.log_by_batch.get(&b) else {
            return (Vec::new(), None);
        };
        let s =
            positions.partition_point(|&pos| (pos as usize) < start || log[pos as usize].at < from);
        let picked: Vec<u32> = positions[s..]
            .iter()
            .skip(skip)
            .take(take)
            .copied()
            .collect();
        let last = picked.last().map(|&p| p as usize + 1);
        return (picked.into_iter().map(|p| log[p as usize]).collect(), last);
    }
    let s = start.max(log.partition_point(|e| e.at < from));
    if f.is_trivial() {
        let lo = s.saturating_add(skip).min(log.len());
        let hi = lo.saturating_add(take).min(log.len());
        let last = (hi > lo).then_some(hi);
        return (log[lo..hi].to_vec(), last);
    }
    let mut out = Vec::new();
    let mut last = None;
    let mut skipped = 0;
    for (pos, e) in log.iter().enumerate().skip(s) {
        if out.len() >= take {
            break;
        }
        if f.matches(pr, e.task) {
            if skipped < skip {
                skipped += 1;
                continue;
            }
            out.push(*e);
            last = Some(pos + 1);
        }
    }
    (out, last)
}

fn delivered(emu: &SamaEmulator, p: &str, q: &Query) -> HResult {
    let page = q.page()?;
    let size = q.page_size(1000, 1000, false)?;
    let from = q.time("from")?;
    let mut f = Filter {
        batch_ids: q.list("batch_id").map(parse_batch_ids).transpose()?,
        client_batch_ids: q.list("client_batch_id"),
        contains: match_type(q.get("client_batch_id_match_type"))?,
        ..Filter::default()
    };
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    if let Some(ids) = q.list("task_id").or_else(|| q.list("task_ids")) {
        f.tasks = Some(resolve_tasks(pr, ids));
    }
    let skip = (page - 1).saturating_mul(size);
    let (entries, _) = scan_log(pr, &f, 0, from, skip, size);
    let body = wire::tasks_body(entries.into_iter().map(|e| TaskRender {
        project: pr,
        idx: e.task,
        omit_answers: false,
        delivery: Some(e),
    }));
    Ok(json_response(StatusCode::OK, body))
}

#[derive(Deserialize, Default)]
struct SinceIn {
    #[serde(default)]
    batch_id: Option<Value>,
    #[serde(default)]
    client_batch_id: Option<Value>,
    #[serde(default)]
    client_batch_id_match_type: Option<String>,
    #[serde(default)]
    consumer: Option<Value>,
    #[serde(default)]
    limit: Option<Value>,
}

/// Delivered since last call (§8.3): per-(project, consumer) cursor over the delivery log,
/// moved immediately; `page`/`page_size` are ignored.
fn delivered_since_last_call(emu: &SamaEmulator, p: &str, body: &[u8]) -> HResult {
    let input: SinceIn = parse_body(body)?;
    let limit = match input.limit {
        None | Some(Value::Null) => 1000,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(l) if l >= 1 => l.min(1000) as usize,
            _ => return Err(bad_request("`limit` must be an integer between 1 and 1000")),
        },
        Some(Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(l) if l >= 1 => l.min(1000) as usize,
            _ => return Err(bad_request("`limit` must be an integer between 1 and 1000")),
        },
        Some(_) => return Err(bad_request("`limit` must be an integer between 1 and 1000")),
    };
    let consumer = match input.consumer {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(bad_request(format!("Invalid `consumer`: {other}"))),
    };
    let mut f = Filter {
        batch_ids: value_batch_ids(input.batch_id)?,
        client_batch_ids: value_string_list(input.client_batch_id, "client_batch_id")?,
        contains: match_type(input.client_batch_id_match_type.as_deref())?,
        ..Filter::default()
    };
    if f.batch_ids.as_ref().is_some_and(Vec::is_empty) {
        f.batch_ids = None;
    }
    let mut st = emu.write();
    let pr = st.project_mut(p).ok_or_else(|| project_not_found(p))?;
    let cursor = pr.cursors.get(&consumer).copied().unwrap_or(0);
    let (entries, last) = scan_log(pr, &f, cursor, None, 0, limit);
    // A full page stops right after its last entry; otherwise everything up to the end of the
    // log has been seen (filtered-out entries are skipped for this consumer).
    let next = if entries.len() == limit {
        last.unwrap_or(cursor)
    } else {
        pr.log.len()
    };
    pr.cursors.insert(consumer, next.max(cursor));
    let pr = &*pr;
    let body = wire::tasks_body(entries.into_iter().map(|e| TaskRender {
        project: pr,
        idx: e.task,
        omit_answers: false,
        delivery: Some(e),
    }));
    Ok(json_response(StatusCode::OK, body))
}

// ---------------------------------------------------------------------------------------------
// Handlers: task writes

#[derive(Deserialize, Default)]
struct RejectIn {
    #[serde(default)]
    reasons: Option<Vec<Value>>,
}

fn reject(emu: &SamaEmulator, p: &str, t: &str, body: &[u8]) -> HResult {
    let input: RejectIn = parse_body(body)?;
    let reasons: Vec<String> = input
        .reasons
        .unwrap_or_default()
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            other => Err(bad_request(format!(
                "`reasons` must be a list of strings, got {other}"
            ))),
        })
        .collect::<Result<_, _>>()?;
    let mut st = emu.write();
    let pr = st.project_mut(p).ok_or_else(|| project_not_found(p))?;
    let idx = pr.live_task(t).ok_or_else(|| task_not_found(t))?;
    pr.reject(idx, reasons.clone()).map_err(bad_request)?;
    Ok(ok_json(&json!({
        "success": true,
        "task_id": pr.task_id(idx).to_string(),
        "state": "rejected",
        "reasons": reasons,
    })))
}

#[derive(Deserialize, Default)]
struct BulkUpdateIn {
    #[serde(default)]
    task_ids: Option<Vec<Value>>,
    #[serde(default)]
    priority: Option<Value>,
}

fn bulk_update(emu: &SamaEmulator, p: &str, body: &[u8]) -> HResult {
    let input: BulkUpdateIn = parse_body(body)?;
    let ids = id_list(input.task_ids, "task_ids")?;
    let priority = match input.priority {
        None | Some(Value::Null) => return Err(bad_request("`priority` is required")),
        Some(Value::Number(n)) => {
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| {
                    bad_request("`priority` must be an integer in the signed 32-bit range")
                })?
        }
        Some(other) => {
            return Err(bad_request(format!(
                "`priority` must be an integer in the signed 32-bit range, got {other}"
            )))
        }
    };
    let mut st = emu.write();
    let pr = st.project_mut(p).ok_or_else(|| project_not_found(p))?;
    let mut updated = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match pr.live_task(&id) {
            Some(idx) => {
                pr.tasks[idx as usize].priority = priority;
                updated.push(id);
            }
            None => failed.push(json!({"id": id, "reason": "Task not found"})),
        }
    }
    Ok(ok_json(&json!({
        "success": failed.is_empty(),
        "priority": priority,
        "updated": updated,
        "failed": failed,
    })))
}

#[derive(Deserialize, Default)]
struct DeleteIn {
    #[serde(default)]
    task_ids: Option<Vec<Value>>,
}

fn delete_tasks(emu: &SamaEmulator, p: &str, body: &[u8]) -> HResult {
    let input: DeleteIn = parse_body(body)?;
    let ids = id_list(input.task_ids, "task_ids")?;
    let mut st = emu.write();
    let pr = st.project_mut(p).ok_or_else(|| project_not_found(p))?;
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match pr.live_task(&id) {
            None => failed.push(json!({"id": id, "reason": "Task not found"})),
            Some(idx) => match pr.delete(idx) {
                Ok(()) => deleted.push(id),
                Err(reason) => failed.push(json!({"id": id, "reason": reason})),
            },
        }
    }
    Ok(ok_json(&json!({
        "success": failed.is_empty(),
        "deleted": deleted,
        "failed": failed,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn control_api_rejects_tasks_for_rework() {
        let emu = crate::start(crate::EmulatorConfig::new(labelmux_core::Vendor::Sama))
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let root = emu.root_url();
        let post = |q: &str| http.post(format!("{root}/_emulator/reject{q}")).send();
        // Nothing answered yet: the route exists and moves nothing.
        let r = post("?project=1001").await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["operation"], "reject");
        assert_eq!(v["moved"], 0);
        // An unknown task is refused with a reason; an unknown project is a 404.
        let r = post("?project=1001&task=nope").await.unwrap();
        assert_eq!(r.status(), 409);
        assert!(r.text().await.unwrap().contains("unknown task"));
        assert_eq!(post("?project=9").await.unwrap().status(), 404);
        assert_eq!(
            emu.control()
                .reject("1001", None, &["blurry".to_owned()])
                .unwrap(),
            0
        );
        emu.shutdown().await;
    }

    #[test]
    fn routes_resolve() {
        assert_eq!(resolve("projects/1001.json"), Some(Route::Project("1001")));
        assert_eq!(
            resolve("projects/1001/batches/7.json"),
            Some(Route::Batch("1001", "7"))
        );
        assert_eq!(
            resolve("projects/1001/tasks/delivered.json"),
            Some(Route::Delivered("1001"))
        );
        assert_eq!(
            resolve("projects/1001/tasks/abc.json"),
            Some(Route::Task("1001", "abc"))
        );
        assert_eq!(
            resolve("projects/1001/tasks/abc/reject.json"),
            Some(Route::Reject("1001", "abc"))
        );
        assert_eq!(resolve("projects/1001"), None);
        assert_eq!(resolve("projects/1001/tasks/abc"), None);
        assert_eq!(resolve("projects/1001/unknown.json"), None);
    }
}
