//! The Scale (REST API v1) emulator (scale.md §2, §8): the emulator type, request helpers;
//! the route table is in `routes`, the handlers in `handlers`.
//!
//! One dispatcher resolves every path itself (segments percent-decoded after splitting, so
//! names may contain `/`), so 401 / 404 answers carry Scale's `{"status_code", "error"}` body
//! consistently. Every success is HTTP 200, creations included. Emulator choices where Scale is
//! undocumented: time filters are inclusive; `/tasks` lists in creation order with an opaque
//! `next_token` (it carries where the next page starts and the `total` counted on the first
//! page, so a listing costs O(N) in all); an unknown task type or project in a task creation is a 400; auditing a task
//! that is not completed is a 400; the audit answer is the task; an audit rejection sends the
//! task back for rework (the lifecycle completes it again, `customer_review_status: fixed`);
//! batch callbacks carry `{"batch", "status"}`; callbacks are POSTed (`http://` or `https://`),
//! up to 3 attempts, with header `scale-callback-auth:` [`CALLBACK_AUTH_KEY`].

// Handlers return `Result<Response, Response>`: the error side is the ready-made HTTP error
// answer (a cold path), so its size does not matter.
#![allow(clippy::result_large_err)]

mod errors;
mod handlers;
mod routes;
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
        Router::new().fallback(routes::dispatch).with_state(self)
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
// Request helpers, shared by the routes and the handlers

type HResult = Result<Response, Response>;

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
