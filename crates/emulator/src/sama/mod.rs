//! The Sama (SamaHub REST API v2) emulator (sama.md §2, §8): the emulator type, shared request
//! helpers and task filters; the route table is in `routes`, the handlers in `handlers`.
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
mod handlers;
mod routes;
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
        Router::new().fallback(routes::dispatch).with_state(self)
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
// Responses shared by the routes and the handlers

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
}
