//! # labelmux-emulator
//!
//! Local emulators of annotation-vendor HTTP APIs, for tests, benchmarks and demos of labelmux.
//! An emulator runs in-process on an ephemeral loopback port ([`start`]) or standalone (the
//! `labelmux-emulator` binary), keeps everything in memory, simulates the vendor's workforce
//! with a lifecycle clock ([`Lifecycle`]) and injects faults ([`FaultConfig`]) into vendor-API
//! requests: error statuses, bursts of 429 with `Retry-After`, dropped connections and latency.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use labelmux_emulator::{start, EmulatorConfig, Vendor};
//! let emu = start(EmulatorConfig::new(Vendor::Sama)).await?;
//! let base = emu.base_url(); // "http://127.0.0.1:PORT/v2"
//! // ... create tasks through the Sama API at `base` with key `emu.api_key()` ...
//! emu.control().finish_all("1001"); // complete and deliver every task of project 1001
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Control API over HTTP
//!
//! Outside every vendor path, JSON answers: `POST /_emulator/advance?project=P`,
//! `POST /_emulator/complete?project=P`, `POST /_emulator/deliver?project=P`,
//! `POST /_emulator/finish?project=P`, `POST /_emulator/reject?project=P[&task=T]` (optional
//! body `{"reasons": [...]}`; without `task`, every answered task not yet delivered goes back
//! for rework) (each answers `{"project", "operation", "moved"}`),
//! `POST /_emulator/seed?project=P` (body `{"count": N, "prefix": "seed-"}`: N new tasks named
//! `<prefix><index:08>` created straight in the store, for benchmarks; Labelbox and Segments.ai
//! only, see [`Control::seed`]),
//! `POST /_emulator/reset`, `PUT /_emulator/faults` (a [`FaultConfig`] JSON body; `GET` reads it),
//! `GET /_emulator/state` (request count, faults, task counts per project and state).
//! Faults never apply to these routes.
//!
//! ## Sama
//!
//! Base `http://127.0.0.1:PORT/v2`, key in the `access_key` query parameter, every endpoint of
//! the SDK (batches with the 3-step upload flow, batch status, task status, multi-task status,
//! delivered GET, delivered-since-last-call POST with per-consumer cursors, reject, bulk update,
//! delete, schemas, project information, stats). The pre-signed upload URL is
//! `http://127.0.0.1:PORT/sama-upload/<token>?X-Amz-...` (a vendor route: faults apply; no key).
//! Emulator choices where Sama is undocumented: batch-status entries carry `index` (position
//! in the uploaded file); `delete_tasks.json` answers `{"deleted": [...], "failed": [{"id",
//! "reason"}]}`; `bulk_update.json` answers `{"updated": [...], "failed": [...]}`; cancel of
//! a finished batch is harmless and answers the unchanged status; a delivery-feed entry shows
//! the answers delivered at that time and its own `delivered_at`.
//!
//! ## Scale
//!
//! Base `http://127.0.0.1:PORT/v1`, HTTP Basic auth with the key as user name (Bearer accepted
//! too), every v1 endpoint of the SDK (tasks of every type, quality tasks, batches, projects,
//! files, teams, Studio), 200 on every success, `{"status_code", "error"}` errors, global
//! `unique_id` uniqueness (409), token paging of `/tasks` (`next_token`/`has_more`, limit
//! 1–100), offset paging of `/batches`. Seeded project `demo` (`imageannotation`). Every
//! lifecycle step (`advance`, `complete_all`, `deliver_all`, `finish_all`) completes the open
//! tasks — pending ones and audit-rejected ones (rework) — with a generated `response` (the
//! task's `hypothesis` if it has one); completion POSTs the task to its `callback_url`
//! with header `scale-callback-auth: emulator-callback-auth`. An attachment
//! containing `scale-emulator-error` makes a task fail processing (`status: error`). A `test_…`
//! key completes tasks on creation. `task_count` counts tasks not canceled. The reject control
//! plays Scale's own reviewers: a completed task gets a rejected audit (source `scale`) and the
//! next lifecycle step reworks it (for Scale, completed is delivered, so without `task` every
//! completed task not already sent back is rejected).
//!
//! ## Labelbox
//!
//! Base `http://127.0.0.1:PORT` (the root; `base_url()` = `root_url()`): GraphQL at `/graphql`
//! and `/_gql` (one schema, the specification's partial SDL; documents parsed and validated,
//! graphql-js error wording, Apollo-shaped errors), REST at `/api/v1` (ontology delete, unused
//! ontologies, legacy export files), key as `Authorization: Bearer <key>` (else
//! `AUTHENTICATION_ERROR`, HTTP 401). Uploaded files (`/lb-files/...`) and export chunks
//! (`/lb-export/...`) are served without a key, like pre-signed URLs. Seeded project
//! `clemudemoproject000000001` (IMAGE, with an ontology of a box, a polygon, a point, a radio and a
//! text question). Every project has the three task queues; data rows are processed at once;
//! upserts report a taken global key as `Duplicate global key: '<key>'`; Tasks stay
//! `IN_PROGRESS` 300 ms. A task of the framework is a data row batched into the project; states
//! `TO_LABEL`, `IN_REVIEW`, `IN_REWORK`, `DONE`. `advance` labels rows to label or in rework
//! (one label per row, or several with consensus; after rework the labels are updated, new
//! `updatedAt`) and approves rows in review; `complete_all` labels, `deliver_all` approves,
//! `reject` sends a row to rework (task = data row id or global key, a row in review or done;
//! without it, every row in review). Labels answer every
//! tool (rectangle, polygon, point, line) and classification (radio, checklist, text) of the
//! project's ontology; webhooks fire (`LABEL_CREATED`, `LABEL_UPDATED`, `WORKFLOW_ACTION`, HMAC
//! signatures, up to 3 attempts). Injected 429s carry `{"message": "You have exceeded
//! ..."}`; `enforce_rate_limits` allows 5,000 requests a minute. Labelbox-only controls (no key):
//! `POST /_labelbox/consensus?project=P` `{"labels": N}` (N labels per row; 1 = off),
//! `GET|PUT /_labelbox/settings` `{"task_delay_ms", "processing_delay_ms"}`,
//! `PUT /_labelbox/graphql-faults` `{"code", "status", "message", "count"}` (the next `count`
//! GraphQL requests answer that error). Choices: docs/decisions/0005-labelbox-emulator-graphql.md.
//!
//! ## Segments.ai
//!
//! Base `http://127.0.0.1:PORT` (every route at the host root, as the SDK requires; with or
//! without a trailing slash, never redirected), header `Authorization: APIKey <key>` (none →
//! 401 "Authentication credentials were not provided.", another key → 401 "Invalid token."),
//! every endpoint of the `segments-ai` SDK: `/api_status/` (426 for a numeric `lib_version`
//! below 1.0), user, datasets keyed by `owner/name` (create, organization create, PATCH,
//! clone, delete, collaborators, labelsets), samples (single and `samples_bulk` create — an
//! existing name comes back unchanged —, list with `name__contains`, `filters`,
//! `label_status` (OR), `sort`, `labelset` / `include_full_label`, page-number paging with
//! "Invalid page." past the end; PATCH, delete, bulk delete), labels (PUT upsert: 201 created,
//! 200 replaced; PATCH, delete), label stats, issues, releases, workunits and assets.
//! `Content-Encoding: gzip` request bodies are decoded. Errors are DRF bodies worded as the
//! SDK classifies them (`{"detail": "Not found."}` for unknown objects, invisible datasets and
//! unroutable paths; 403 "You do not have permission…" for a visible dataset the caller's role
//! does not allow; 400 `{"name": ["… already exists…"]}` for duplicates). Injected 429s carry
//! `Retry-After` and "Request was throttled. Expected available in N seconds.";
//! `soft_throttle_rate` answers the same body with 200 (the SDK's `APILimitError`). Unauthenticated
//! storage under `/storage/`: the presigned asset upload `POST /storage/upload/` (multipart,
//! 204), assets and release files at `GET /storage/<key>`. A release reads `PENDING` for
//! 300 ms (or until the next lifecycle step), then `SUCCEEDED` with the URL of its file (every
//! labelset a key of every sample's `labels`, `null` where unlabeled).
//!
//! Fixture: the key belongs to user `labelmux`, admin of organization `labelmux-org`; seeded
//! project `labelmux/demo` (a `vector` dataset, categories car 1 and pedestrian 2; a project
//! `name` without owner means `labelmux/name`, an unknown owner becomes an organization the
//! caller administers); `other-user/private-dataset` is invisible to the caller (404),
//! `other-user/shared-dataset` has it as a `labeler` (managing it answers 403). Projects of
//! the control API are datasets (`owner/name`), tasks are samples, states are ground-truth
//! label statuses: `advance` labels unlabeled, prelabeled and rejected samples (annotations
//! from the dataset's categories, shaped for its task type: bounding boxes and polygons for
//! `vector`) and reviews labeled ones; `complete` labels, `deliver` reviews; `reject` (task =
//! sample UUID or name) rejects a label and files the reasons as an open issue. Every step is
//! a workunit (`label` / `review`).
//!
//! ## Adding a vendor
//!
//! A vendor emulator is one module (e.g. `src/scale/`) with a type implementing the crate-private
//! trait `framework::VendorEmulator`: `api_prefix()` ("/v1"), `router()` (all of its routes as an
//! axum `Router`; the framework applies counting and faults before it), `error_response()`
//! (vendor-shaped error body for injected faults; optionally `throttle_response()` for injected
//! throttles), the project queries and the lifecycle hooks
//! `advance` / `complete_all` / `deliver_all` / `finish_all` / `reset` / `task_count` /
//! `state_counts`, and optionally `seed` (the `/_emulator/seed` fixture; without it the route
//! answers 409). Then add one line to `registered()` in this file (its constructor and
//! default project). Server, faults, control API, lifecycle clock and the
//! binary need no change.
#![deny(missing_docs)]

pub mod cli;
mod framework;
mod labelbox;
mod sama;
mod scale;
mod segments;

pub use framework::control::{Control, MAX_SEED};
pub use framework::faults::FaultConfig;
pub use framework::lifecycle::Lifecycle;
pub use labelmux_core::Vendor;

use framework::control::Shared;
use framework::faults::FaultInjector;
use framework::server::{spawn_server, App};
use framework::VendorContext;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::watch;

/// Configuration of one emulator instance.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Which vendor API to emulate.
    pub vendor: Vendor,
    /// Address to bind; default `127.0.0.1:0` (ephemeral port).
    pub addr: SocketAddr,
    /// The one accepted API key; default `"emulator-key"`.
    pub api_key: String,
    /// Seeded project ids (kept by `reset`); default per vendor (Sama `["1001"]`, Scale
    /// `["demo"]`, Segments `["labelmux/demo"]`); an empty list also means the default.
    pub projects: Vec<String>,
    /// How tasks move through their lifecycle; default [`Lifecycle::Manual`].
    pub lifecycle: Lifecycle,
    /// Faults injected into vendor-API requests; default none.
    pub faults: FaultConfig,
    /// Enforce documented rate limits (Sama multi-task status: 1 call/s, else 429); default false.
    pub enforce_rate_limits: bool,
}

impl EmulatorConfig {
    /// The defaults for a vendor.
    pub fn new(vendor: Vendor) -> Self {
        EmulatorConfig {
            vendor,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: "emulator-key".to_owned(),
            projects: default_projects(vendor),
            lifecycle: Lifecycle::Manual,
            faults: FaultConfig::default(),
            enforce_rate_limits: false,
        }
    }
}

/// A running emulator. Shuts down on [`RunningEmulator::shutdown`] or when dropped.
pub struct RunningEmulator {
    addr: SocketAddr,
    api_key: String,
    api_prefix: &'static str,
    control: Control,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningEmulator {
    // The API key is deliberately left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .field("vendor", &self.control.shared.vendor_name)
            .finish_non_exhaustive()
    }
}

/// Start an emulator: bind, seed the projects, serve in the background of the current tokio
/// runtime. Fails if the address cannot be bound or the vendor has no emulator.
pub async fn start(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let root_url = format!("http://{addr}");
    let projects = if config.projects.is_empty() {
        default_projects(config.vendor)
    } else {
        config.projects.clone()
    };
    let vendor = build_vendor(
        config.vendor,
        VendorContext {
            root_url,
            api_key: config.api_key.clone(),
            projects,
            enforce_rate_limits: config.enforce_rate_limits,
        },
    )?;
    let api_prefix = vendor.api_prefix();
    let shared = Arc::new(Shared {
        vendor: vendor.clone(),
        vendor_name: config.vendor,
        faults: FaultInjector::new(config.faults.clone()),
        requests: AtomicU64::new(0),
    });
    let control = Control {
        shared: shared.clone(),
    };
    let app = App {
        shared,
        vendor: vendor.router(),
        control: framework::control::router(control.clone()),
    };
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = vec![spawn_server(listener, app, stop_rx.clone())];
    if let Lifecycle::Auto { step } = config.lifecycle {
        tasks.push(framework::lifecycle::spawn_auto(
            control.clone(),
            step,
            stop_rx,
        ));
    }
    Ok(RunningEmulator {
        addr,
        api_key: config.api_key,
        api_prefix,
        control,
        stop,
        tasks,
    })
}

impl RunningEmulator {
    /// Vendor API base to give a client, e.g. `http://127.0.0.1:PORT/v2` (Sama).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.root_url(), self.api_prefix)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The accepted API key.
    pub fn api_key(&self) -> String {
        self.api_key.clone()
    }

    /// Existing project ids (seeded ones).
    pub fn projects(&self) -> Vec<String> {
        self.control.shared.vendor.projects()
    }

    /// An in-process control handle.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stop serving and wait for the background tasks to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// How to build one vendor's emulator, and the project it seeds.
struct Registered {
    build: fn(VendorContext) -> Arc<dyn framework::VendorEmulator>,
    default_project: &'static str,
}

/// The one list of emulated vendors: adding a vendor adds one line here (the framework knows
/// no vendor).
fn registered(vendor: Vendor) -> Option<Registered> {
    fn entry(
        build: fn(VendorContext) -> Arc<dyn framework::VendorEmulator>,
        default_project: &'static str,
    ) -> Option<Registered> {
        Some(Registered {
            build,
            default_project,
        })
    }
    match vendor {
        Vendor::Sama => entry(|c| Arc::new(sama::SamaEmulator::new(c)), "1001"),
        Vendor::Scale => entry(|c| Arc::new(scale::ScaleEmulator::new(c)), "demo"),
        // Labelbox ids are 25-character CUIDs.
        Vendor::Labelbox => entry(
            |c| Arc::new(labelbox::LabelboxEmulator::new(c)),
            "clemudemoproject000000001",
        ),
        Vendor::Segments => entry(
            |c| Arc::new(segments::SegmentsEmulator::new(c)),
            "labelmux/demo",
        ),
        _ => None,
    }
}

/// The vendors this build emulates.
pub fn emulated_vendors() -> Vec<Vendor> {
    Vendor::ALL
        .into_iter()
        .filter(|v| registered(*v).is_some())
        .collect()
}

fn default_projects(vendor: Vendor) -> Vec<String> {
    registered(vendor)
        .map(|r| vec![r.default_project.to_owned()])
        .unwrap_or_default()
}

fn build_vendor(
    vendor: Vendor,
    ctx: VendorContext,
) -> std::io::Result<Arc<dyn framework::VendorEmulator>> {
    match registered(vendor) {
        Some(r) => Ok((r.build)(ctx)),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("no emulator for vendor {vendor}"),
        )),
    }
}
