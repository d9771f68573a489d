//! Vendor-independent machinery: the HTTP server, fault injection, the lifecycle clock and the
//! `/_emulator/` control API. A vendor plugs in through [`VendorEmulator`].

pub(crate) mod compact;
pub(crate) mod control;
pub(crate) mod drawing;
pub(crate) mod faults;
pub(crate) mod lifecycle;
pub(crate) mod multipart;
pub(crate) mod outbound;
pub(crate) mod server;
pub(crate) mod time;

use axum::response::Response;
use axum::Router;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the framework tells a vendor emulator when it is built.
#[derive(Clone, Debug)]
pub(crate) struct VendorContext {
    /// `http://127.0.0.1:PORT`, to build absolute URLs that point back at the emulator (e.g.
    /// Sama's pre-signed upload URL).
    pub root_url: String,
    /// The one API key the emulator accepts.
    pub api_key: String,
    /// Seeded project ids (kept across `reset`).
    pub projects: Vec<String>,
    /// Enforce documented per-endpoint rate limits (e.g. Sama multi-task status 1 call/s).
    pub enforce_rate_limits: bool,
}

/// The plug-in point of one vendor emulator. The framework owns transport, faults, counting,
/// the lifecycle clock and the control API; the vendor owns its routes, store and lifecycle.
///
/// Every method that takes a project returns 0 / does nothing for an unknown project.
pub(crate) trait VendorEmulator: Send + Sync + 'static {
    /// Path prefix of the vendor API, appended to the root URL to form `base_url` ("/v2").
    fn api_prefix(&self) -> &'static str;
    /// Every vendor route (API and any auxiliary route such as an upload URL). Faults are
    /// applied by the framework before this router sees a request.
    fn router(self: Arc<Self>) -> Router;
    /// A vendor-shaped error response, used for injected faults.
    fn error_response(&self, status: u16, message: &str) -> Response;
    /// The vendor's answer to an injected throttle: `status` 429, or a 2xx for a
    /// `soft_throttle_rate` fault (a success status whose body reports throttling, e.g.
    /// Segments' DRF `detail`); the framework adds `Retry-After`. Default: `error_response`.
    fn throttle_response(&self, status: u16, retry_after_secs: f64) -> Response {
        let _ = retry_after_secs;
        self.error_response(status, "Too many requests (injected fault)")
    }
    /// Whether the project exists.
    fn has_project(&self, project: &str) -> bool;
    /// Existing project ids, seeded ones first.
    fn projects(&self) -> Vec<String>;
    /// Every open task one lifecycle step forward; returns how many moved.
    fn advance(&self, project: &str) -> usize;
    /// Every unfinished task to its completed state, with answers; returns how many moved.
    fn complete_all(&self, project: &str) -> usize;
    /// Every completed task to its delivered state; returns how many moved.
    fn deliver_all(&self, project: &str) -> usize;
    /// `complete_all` then `deliver_all`; returns how many were delivered.
    fn finish_all(&self, project: &str) -> usize {
        self.complete_all(project);
        self.deliver_all(project)
    }
    /// The vendor's reviewers send work back for rework: `task` alone, or (`None`) every task
    /// with answers not yet delivered. Returns how many moved, or why it cannot (an unknown
    /// task, a state that cannot be rejected, or a vendor emulator without this control).
    fn reject(
        &self,
        project: &str,
        task: Option<&str>,
        reasons: &[String],
    ) -> Result<usize, String> {
        let _ = (project, task, reasons);
        Err("this emulator has no reject control".to_owned())
    }
    /// Create `count` new tasks in the project straight in the store, named
    /// `{prefix}{index:08}` (index 0..count), as if they had been uploaded through the vendor
    /// API: a fixture for benchmarks, which need 100,000–1,000,000 tasks in seconds (the
    /// lifecycle controls then label and deliver them). A name already taken is skipped.
    /// Returns how many were created, or why nothing could be (no such project, a project
    /// this control cannot fill, or a vendor emulator without it).
    fn seed(&self, project: &str, count: usize, prefix: &str) -> Result<usize, String> {
        let _ = (project, count, prefix);
        Err("this emulator has no seed control: create tasks through its API".to_owned())
    }
    /// Empty every store; keep seeded projects.
    fn reset(&self);
    /// Tasks existing (not deleted) in the project.
    fn task_count(&self, project: &str) -> usize;
    /// Task counts per state name for the project (states with zero tasks included).
    fn state_counts(&self, project: &str) -> BTreeMap<String, usize>;
}
