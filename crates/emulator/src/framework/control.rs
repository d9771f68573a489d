//! The in-process [`Control`] handle and the same operations over HTTP under `/_emulator/`.

use super::faults::{FaultConfig, FaultInjector};
use super::VendorEmulator;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// State shared by the server, the lifecycle clock and every [`Control`].
pub(crate) struct Shared {
    pub vendor: Arc<dyn VendorEmulator>,
    pub vendor_name: labelmux_core::Vendor,
    pub faults: FaultInjector,
    pub requests: AtomicU64,
}

/// Most tasks one seed call creates (a guard against a typo filling the machine's memory).
pub const MAX_SEED: usize = 10_000_000;

/// In-process handle on a running emulator: drive the task lifecycle, inject faults, inspect
/// counters. Cheap to clone. The same operations exist over HTTP under `/_emulator/`.
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("vendor", &self.shared.vendor_name)
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Replace the fault configuration (restarts a seeded sequence and the 429 burst).
    pub fn set_faults(&self, faults: FaultConfig) {
        self.shared.faults.set(faults);
    }

    /// The current fault configuration (`burst_429` shows the requests left in the burst).
    pub fn faults(&self) -> FaultConfig {
        self.shared.faults.config()
    }

    /// Every open task one lifecycle step forward; returns how many moved.
    pub fn advance(&self, project: &str) -> usize {
        self.shared.vendor.advance(project)
    }

    /// Every not-yet-finished task (new / in progress / rejected) to completed, with answers;
    /// returns how many moved.
    pub fn complete_all(&self, project: &str) -> usize {
        self.shared.vendor.complete_all(project)
    }

    /// Every completed/approved task to delivered; returns how many moved.
    pub fn deliver_all(&self, project: &str) -> usize {
        self.shared.vendor.deliver_all(project)
    }

    /// `complete_all` then `deliver_all`; returns the number of tasks delivered.
    pub fn finish_all(&self, project: &str) -> usize {
        self.shared.vendor.finish_all(project)
    }

    /// Send work back for rework as the vendor's reviewers would: `task` alone, or with `None`
    /// every task that has answers but is not yet delivered. Returns how many moved, or why
    /// nothing could be (unknown task, a state that cannot be rejected, unsupported vendor).
    pub fn reject(
        &self,
        project: &str,
        task: Option<&str>,
        reasons: &[String],
    ) -> Result<usize, String> {
        self.shared.vendor.reject(project, task, reasons)
    }

    /// Create `count` new tasks named `{prefix}{index:08}` in the project straight in the
    /// store (a benchmark fixture; names already taken are skipped). Returns how many were
    /// created, or why none could be (see [`MAX_SEED`]).
    pub fn seed(&self, project: &str, count: usize, prefix: &str) -> Result<usize, String> {
        if count > MAX_SEED {
            return Err(format!(
                "count {count} is above the seed limit of {MAX_SEED} tasks per call"
            ));
        }
        self.shared.vendor.seed(project, count, prefix)
    }

    /// Empty every store, keep the seeded projects.
    pub fn reset(&self) {
        self.shared.vendor.reset();
    }

    /// Tasks existing (not deleted) in the project; 0 for an unknown project.
    pub fn task_count(&self, project: &str) -> usize {
        self.shared.vendor.task_count(project)
    }

    /// Vendor-API requests received, including faulted ones (control routes not counted).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Task counts per project and state, plus the request counter (what `GET /_emulator/state`
    /// answers).
    pub fn state(&self) -> serde_json::Value {
        let v = &self.shared.vendor;
        let projects: serde_json::Map<String, serde_json::Value> = v
            .projects()
            .into_iter()
            .map(|p| {
                let counts = v.state_counts(&p);
                let total = v.task_count(&p);
                (p, json!({"tasks": total, "states": counts}))
            })
            .collect();
        json!({
            "vendor": self.shared.vendor_name.name(),
            "requests": self.request_count(),
            "faults": self.faults(),
            "projects": projects,
        })
    }
}

#[derive(Deserialize)]
struct ProjectQuery {
    project: Option<String>,
}

fn control_error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

fn project_op(
    control: &Control,
    q: ProjectQuery,
    op: &str,
    f: impl FnOnce(&Control, &str) -> usize,
) -> Response {
    let Some(project) = q.project.filter(|p| !p.is_empty()) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "missing query parameter `project`".to_owned(),
        );
    };
    if !control.shared.vendor.has_project(&project) {
        return control_error(
            StatusCode::NOT_FOUND,
            format!("unknown project {project:?}"),
        );
    }
    let moved = f(control, &project);
    Json(json!({"project": project, "operation": op, "moved": moved})).into_response()
}

async fn advance(State(c): State<Control>, Query(q): Query<ProjectQuery>) -> Response {
    project_op(&c, q, "advance", |c, p| c.advance(p))
}
async fn complete(State(c): State<Control>, Query(q): Query<ProjectQuery>) -> Response {
    project_op(&c, q, "complete", |c, p| c.complete_all(p))
}
async fn deliver(State(c): State<Control>, Query(q): Query<ProjectQuery>) -> Response {
    project_op(&c, q, "deliver", |c, p| c.deliver_all(p))
}
async fn finish(State(c): State<Control>, Query(q): Query<ProjectQuery>) -> Response {
    project_op(&c, q, "finish", |c, p| c.finish_all(p))
}
#[derive(Deserialize)]
struct RejectQuery {
    project: Option<String>,
    task: Option<String>,
}

#[derive(Deserialize, Default)]
struct RejectBody {
    #[serde(default)]
    reasons: Vec<String>,
}

async fn reject(
    State(c): State<Control>,
    Query(q): Query<RejectQuery>,
    body: axum::body::Bytes,
) -> Response {
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        RejectBody::default()
    } else {
        match serde_json::from_slice::<RejectBody>(&body) {
            Ok(b) => b,
            Err(e) => {
                return control_error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid body (expected {{\"reasons\": [strings]}}): {e}"),
                )
            }
        }
    };
    let task = q.task.filter(|t| !t.is_empty());
    let mut outcome = Ok(0);
    let response = project_op(
        &c,
        ProjectQuery { project: q.project },
        "reject",
        |c, p| match c.reject(p, task.as_deref(), &input.reasons) {
            Ok(n) => n,
            Err(e) => {
                outcome = Err(e);
                0
            }
        },
    );
    match outcome {
        Ok(_) => response,
        Err(e) => control_error(StatusCode::CONFLICT, e),
    }
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBody {
    count: usize,
    #[serde(default = "default_seed_prefix")]
    prefix: String,
}

fn default_seed_prefix() -> String {
    "seed-".to_owned()
}

async fn seed(
    State(c): State<Control>,
    Query(q): Query<ProjectQuery>,
    body: axum::body::Bytes,
) -> Response {
    let input = match serde_json::from_slice::<SeedBody>(&body) {
        Ok(b) => b,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("invalid body (expected {{\"count\": N, \"prefix\": \"seed-\"}}): {e}"),
            )
        }
    };
    // Filling a store with a million tasks is CPU work under its lock: off the async workers.
    let seeded = tokio::task::spawn_blocking(move || {
        let mut outcome = Ok(0);
        let response = project_op(&c, q, "seed", |c, p| {
            match c.seed(p, input.count, &input.prefix) {
                Ok(n) => n,
                Err(e) => {
                    outcome = Err(e);
                    0
                }
            }
        });
        match outcome {
            Ok(_) => response,
            Err(e) => control_error(StatusCode::CONFLICT, e),
        }
    })
    .await;
    seeded.unwrap_or_else(|e| {
        control_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("seeding failed: {e}"),
        )
    })
}

async fn reset(State(c): State<Control>) -> Response {
    c.reset();
    Json(json!({"reset": true})).into_response()
}
async fn put_faults(State(c): State<Control>, body: axum::body::Bytes) -> Response {
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        &body[..]
    };
    match serde_json::from_slice::<FaultConfig>(text) {
        Ok(cfg) => {
            c.set_faults(cfg);
            Json(json!({"faults": c.faults()})).into_response()
        }
        Err(e) => control_error(
            StatusCode::BAD_REQUEST,
            format!("invalid fault configuration: {e}"),
        ),
    }
}
async fn get_faults(State(c): State<Control>) -> Response {
    Json(json!({"faults": c.faults()})).into_response()
}
async fn state(State(c): State<Control>) -> Response {
    Json(c.state()).into_response()
}
async fn not_found() -> Response {
    control_error(StatusCode::NOT_FOUND, "unknown control route".to_owned())
}

/// Router of the `/_emulator/` control API.
pub(crate) fn router(control: Control) -> Router {
    Router::new()
        .route("/_emulator/advance", post(advance))
        .route("/_emulator/complete", post(complete))
        .route("/_emulator/deliver", post(deliver))
        .route("/_emulator/finish", post(finish))
        .route("/_emulator/reject", post(reject))
        .route("/_emulator/seed", post(seed))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/faults", put(put_faults).get(get_faults))
        .route("/_emulator/state", get(state))
        .fallback(not_found)
        .with_state(control)
}
