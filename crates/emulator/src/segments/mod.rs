//! The Segments.ai (REST API) emulator: routes and handlers (segments.md §1–§3, §8).
//!
//! Every route sits at the host root (the SDK drops any path of its base URL), with or without
//! a trailing slash, never redirected. One dispatcher splits the raw path first and
//! percent-decodes each segment after (so `%2F` stays inside its segment), recognises the
//! route, then authenticates (`Authorization: APIKey <key>`), then runs the handler: an unknown
//! path answers DRF's 404 `{"detail": "Not found."}` even without a key, as Django resolves URLs
//! before DRF authenticates. The storage routes under `/storage/` (presigned asset upload,
//! assets, release files) need no key, like S3.
//!
//! Emulator choices where Segments is undocumented (each marked \[INF\]/\[EMU\] in the spec):
//! duplicates are 400 field errors (`{"name": ["… already exists."]}`); a label PUT answers
//! 201 when it creates and 200 when it replaces; `samples_bulk` returns existing names
//! unchanged, in input order; sample lists filter `label_status` with OR against the
//! ground-truth labelset (or `labelset` when sent), `UNLABELED` matching samples without a
//! label; a release file is built from the state when the release is requested, and the
//! release shows its URL once "built" ([`state::RELEASE_BUILD_TIME`] later, or at the next
//! lifecycle step); `/api_status/` answers
//! 426 to a numeric `lib_version` below 1.0; with `enforce_rate_limits`, more than
//! [`RATE_LIMIT`] API requests per second answer DRF's 429 with `Retry-After`.

// Handlers return `Result<Response, Response>`: the error side is the ready-made HTTP error
// answer (a cold path), so its size does not matter.
#![allow(clippy::result_large_err)]

mod datasets;
mod errors;
mod labels;
mod releases;
mod samples;
mod state;
mod wire;
mod workforce;

use crate::framework::compact::CompactJson;
use crate::framework::multipart::form_parts;
use crate::framework::{VendorContext, VendorEmulator};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use chrono::Utc;
use errors::{
    bad_request, created, field_error, forbidden, invalid_page, invalid_token, json_response,
    method_not_allowed, no_content, no_credentials, not_found, ok,
};
use serde_json::{json, Value};
use state::{
    role_allows, Access, DatasetRec, IssueRec, LabelRec, LabelsetRec, Obj, ReleaseRec, SampleRec,
    Store, StoredFile, CALLER, CATEGORIES, GROUND_TRUTH, LABEL_STATUSES, RELEASE_BUILD_TIME, ROLES,
    TASK_TYPES,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use wire::{
    credentials, fmt_ts, gunzip, is_uuid, mime_of, parse_time, path_segments, Credentials, Query,
};

/// Largest request body accepted (after gzip decoding too).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// `per_page` when a list request sends none (the SDK always sends one; its default is 1000).
const DEFAULT_PER_PAGE: usize = 1000;

/// Most UUIDs one bulk sample deletion takes.
const MAX_BULK_DELETE: usize = 1000;

/// API requests allowed per [`RATE_WINDOW`] when rate limits are enforced (Segments publishes
/// none: an emulator choice, low enough for tests to reach).
pub(crate) const RATE_LIMIT: usize = 20;
/// The sliding window of [`RATE_LIMIT`].
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// DRF's `SimpleRateThrottle`: a sliding window of request times; over the limit, the wait
/// until the oldest request leaves the window.
struct RateLimiter {
    history: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// `None` when the request may pass (and is recorded), else the seconds to wait.
    fn check(&self) -> Option<f64> {
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while h
            .front()
            .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
        {
            h.pop_front();
        }
        if h.len() >= RATE_LIMIT {
            let oldest = h.front().copied().unwrap_or(now);
            return Some((RATE_WINDOW - now.duration_since(oldest)).as_secs_f64());
        }
        h.push_back(now);
        None
    }
}

/// The order of one sample listing (dataset, filters, sort), kept while the store is unchanged:
/// paging through N samples would otherwise filter and sort all N for every page (quadratic;
/// a million samples took minutes), which Segments' indexed database does not do.
struct Listing {
    key: String,
    generation: u64,
    uuids: Arc<Vec<String>>,
}

/// The Segments.ai vendor emulator.
pub(crate) struct SegmentsEmulator {
    ctx: VendorContext,
    store: RwLock<Store>,
    limiter: RateLimiter,
    /// Bumped by every write lock on the store: a cached [`Listing`] of an older generation is
    /// stale.
    generation: AtomicU64,
    listing: Mutex<Option<Listing>>,
}

impl SegmentsEmulator {
    pub(crate) fn new(ctx: VendorContext) -> Self {
        let store = RwLock::new(Store::new(&ctx.projects, &ctx.root_url));
        SegmentsEmulator {
            ctx,
            store,
            limiter: RateLimiter {
                history: Mutex::new(VecDeque::new()),
            },
            generation: AtomicU64::new(0),
            listing: Mutex::new(None),
        }
    }

    // A panic elsewhere must not take the emulator down: poisoned locks are used anyway.
    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        let guard = self.store.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::Relaxed);
        guard
    }

    /// The sample UUIDs of listing `key` in order: from the cache while no write happened since
    /// it was computed (call with the store's read lock held), else `compute`d and cached.
    fn listing(&self, key: String, compute: impl FnOnce() -> Vec<String>) -> Arc<Vec<String>> {
        let generation = self.generation.load(Ordering::Relaxed);
        let mut cache = self.listing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = cache.as_ref() {
            if l.generation == generation && l.key == key {
                return l.uuids.clone();
            }
        }
        let uuids = Arc::new(compute());
        *cache = Some(Listing {
            key,
            generation,
            uuids: uuids.clone(),
        });
        uuids
    }

    fn step(&self, project: &str, label: bool, review: bool) -> usize {
        let mut st = self.write();
        match st.project_idx(project) {
            Some(di) => st.step(di, label, review),
            None => 0,
        }
    }
}

impl VendorEmulator for SegmentsEmulator {
    fn api_prefix(&self) -> &'static str {
        ""
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(dispatch).with_state(self)
    }

    fn error_response(&self, status: u16, message: &str) -> Response {
        errors::detail(status, message)
    }

    fn throttle_response(&self, status: u16, retry_after_secs: f64) -> Response {
        errors::throttled(status, retry_after_secs)
    }

    fn has_project(&self, project: &str) -> bool {
        self.read().project_idx(project).is_some()
    }

    /// Every dataset (`owner/name`), seeded ones first.
    fn projects(&self) -> Vec<String> {
        self.read()
            .datasets
            .iter()
            .map(DatasetRec::full_name)
            .collect()
    }

    /// Unlabeled, prelabeled and rejected samples get labeled; labeled ones get reviewed.
    fn advance(&self, project: &str) -> usize {
        self.step(project, true, true)
    }

    fn complete_all(&self, project: &str) -> usize {
        self.step(project, true, false)
    }

    fn deliver_all(&self, project: &str) -> usize {
        self.step(project, false, true)
    }

    /// Reviewers reject labels (`task` = sample UUID or name); reasons become an open issue.
    fn reject(
        &self,
        project: &str,
        task: Option<&str>,
        reasons: &[String],
    ) -> Result<usize, String> {
        let mut st = self.write();
        let di = st
            .project_idx(project)
            .ok_or_else(|| format!("no dataset {project}"))?;
        st.reject(di, task, reasons)
    }

    /// Unlabeled samples named `{prefix}{index:08}` (attributes of the dataset's task type).
    fn seed(&self, project: &str, count: usize, prefix: &str) -> Result<usize, String> {
        let mut st = self.write();
        let di = st
            .project_idx(project)
            .ok_or_else(|| format!("no dataset {project}"))?;
        samples::seed_samples(&mut st, di, count, prefix)
    }

    fn reset(&self) {
        *self.write() = Store::new(&self.ctx.projects, &self.ctx.root_url);
    }

    fn task_count(&self, project: &str) -> usize {
        let st = self.read();
        st.project_idx(project)
            .map_or(0, |di| st.datasets[di].samples.len())
    }

    /// Ground-truth label statuses of the dataset's samples.
    fn state_counts(&self, project: &str) -> BTreeMap<String, usize> {
        let st = self.read();
        let mut counts: BTreeMap<String, usize> = LABEL_STATUSES
            .iter()
            .map(|s| ((*s).to_owned(), 0))
            .collect();
        if let Some(di) = st.project_idx(project) {
            if let Value::Object(o) = st.label_stats(&st.datasets[di]) {
                for (k, v) in o {
                    if k != "TOTAL" {
                        counts.insert(k, v.as_u64().unwrap_or(0) as usize);
                    }
                }
            }
        }
        counts
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

type HResult = Result<Response, Response>;

/// The API routes (§2.1), recognised before authentication.
#[derive(Clone, Copy)]
enum Route<'a> {
    ApiStatus,
    Me,
    User(&'a str),
    MyDatasets,
    UserDatasets(&'a str),
    OrgDatasets(&'a str),
    Dataset(&'a str, &'a str),
    Clone(&'a str, &'a str),
    Collaborators(&'a str, &'a str),
    Collaborator(&'a str, &'a str, &'a str),
    Samples(&'a str, &'a str),
    SamplesBulk(&'a str, &'a str),
    Labelsets(&'a str, &'a str),
    Labelset(&'a str, &'a str, &'a str),
    DatasetIssues(&'a str, &'a str),
    Releases(&'a str, &'a str),
    Release(&'a str, &'a str, &'a str),
    Workunits(&'a str, &'a str),
    Sample(&'a str),
    SampleIssues(&'a str),
    Label(&'a str, &'a str),
    Issue(&'a str),
    Assets,
}

impl<'a> Route<'a> {
    fn of(segs: &[&'a str]) -> Option<Self> {
        use Route as R;
        Some(match *segs {
            ["api_status"] => R::ApiStatus,
            ["user"] => R::Me,
            ["users", u] => R::User(u),
            ["user", "datasets"] => R::MyDatasets,
            ["users", u, "datasets"] => R::UserDatasets(u),
            ["organizations", org, "datasets"] => R::OrgDatasets(org),
            ["datasets", o, n] => R::Dataset(o, n),
            ["datasets", o, n, "clone"] => R::Clone(o, n),
            ["datasets", o, n, "collaborators"] => R::Collaborators(o, n),
            ["datasets", o, n, "collaborators", u] => R::Collaborator(o, n, u),
            ["datasets", o, n, "samples"] => R::Samples(o, n),
            ["datasets", o, n, "samples_bulk"] => R::SamplesBulk(o, n),
            ["datasets", o, n, "labelsets"] => R::Labelsets(o, n),
            ["datasets", o, n, "labelsets", l] => R::Labelset(o, n, l),
            ["datasets", o, n, "issues"] => R::DatasetIssues(o, n),
            ["datasets", o, n, "releases"] => R::Releases(o, n),
            ["datasets", o, n, "releases", r] => R::Release(o, n, r),
            ["datasets", o, n, "workunits"] => R::Workunits(o, n),
            ["samples", id] if is_uuid(id) => R::Sample(id),
            ["samples", id, "issues"] if is_uuid(id) => R::SampleIssues(id),
            ["labels", id, l] if is_uuid(id) => R::Label(id, l),
            ["issues", id] if is_uuid(id) => R::Issue(id),
            ["assets"] => R::Assets,
            _ => return None,
        })
    }
}

async fn read_body(body: Body, headers: &HeaderMap) -> Result<Bytes, Response> {
    let raw = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        errors::detail(
            413,
            format!("Request body unreadable or larger than {BODY_LIMIT} bytes: {e}"),
        )
    })?;
    let gzipped = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if gzipped && !raw.is_empty() {
        gunzip(&raw, BODY_LIMIT)
            .map(Bytes::from)
            .map_err(bad_request)
    } else {
        Ok(raw)
    }
}

async fn dispatch(State(emu): State<Arc<SegmentsEmulator>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(segs) = path_segments(parts.uri.path()) else {
        return not_found();
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = parts.method.as_str().to_owned();
    if segs.first() == Some(&"storage") {
        return releases::storage(&emu, &method, &segs[1..], &parts.headers, body).await;
    }
    let Some(route) = Route::of(&segs) else {
        return not_found();
    };
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match credentials(auth) {
        Credentials::Missing => return no_credentials(),
        Credentials::Key(k) if k != emu.ctx.api_key => return invalid_token(),
        Credentials::Key(_) => {}
    }
    // DRF throttles after authentication and permissions.
    if emu.ctx.enforce_rate_limits {
        if let Some(wait) = emu.limiter.check() {
            let secs = wait.ceil().max(1.0);
            let mut r = errors::throttled(429, secs);
            if let Ok(v) = HeaderValue::from_str(&format!("{}", secs as u64)) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
    }
    let body = if method == "GET" {
        Bytes::new()
    } else {
        match read_body(body, &parts.headers).await {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    let q = Query::parse(parts.uri.query());
    let e = &emu;
    use Route as R;
    let result = match (method.as_str(), route) {
        ("GET", R::ApiStatus) => datasets::api_status(&q),
        ("GET", R::Me) => Ok(datasets::me(e)),
        ("GET", R::User(u)) => datasets::user(e, u),
        ("GET", R::MyDatasets) => datasets::list_datasets(e, None, &q),
        ("POST", R::MyDatasets) => datasets::create_dataset(e, CALLER, &body),
        ("GET", R::UserDatasets(u)) => datasets::list_datasets(e, Some(u), &q),
        ("POST", R::OrgDatasets(org)) => datasets::create_org_dataset(e, org, &body),
        ("GET", R::Dataset(o, n)) => datasets::get_dataset(e, o, n),
        ("PATCH", R::Dataset(o, n)) => datasets::update_dataset(e, o, n, &body),
        ("DELETE", R::Dataset(o, n)) => datasets::delete_dataset(e, o, n),
        ("POST", R::Clone(o, n)) => datasets::clone_dataset(e, o, n, &body),
        ("POST", R::Collaborators(o, n)) => datasets::add_collaborator(e, o, n, &body),
        ("GET", R::Collaborator(o, n, u)) => datasets::get_collaborator(e, o, n, u),
        ("PATCH", R::Collaborator(o, n, u)) => datasets::update_collaborator(e, o, n, u, &body),
        ("DELETE", R::Collaborator(o, n, u)) => datasets::delete_collaborator(e, o, n, u),
        ("GET", R::Samples(o, n)) => samples::list_samples(e, o, n, &q),
        ("POST", R::Samples(o, n)) => samples::create_sample(e, o, n, &body),
        ("POST", R::SamplesBulk(o, n)) => samples::create_samples_bulk(e, o, n, &body),
        ("DELETE", R::SamplesBulk(o, n)) => samples::delete_samples_bulk(e, o, n, &body),
        ("GET", R::Labelsets(o, n)) => datasets::list_labelsets(e, o, n),
        ("POST", R::Labelsets(o, n)) => datasets::create_labelset(e, o, n, &body),
        ("GET", R::Labelset(o, n, l)) => datasets::get_labelset(e, o, n, l),
        ("DELETE", R::Labelset(o, n, l)) => datasets::delete_labelset(e, o, n, l),
        ("GET", R::DatasetIssues(o, n)) => labels::list_issues(e, o, n),
        ("GET", R::Releases(o, n)) => releases::list_releases(e, o, n),
        ("POST", R::Releases(o, n)) => releases::create_release(e, o, n, &body),
        ("GET", R::Release(o, n, r)) => releases::get_release(e, o, n, r),
        ("DELETE", R::Release(o, n, r)) => releases::delete_release(e, o, n, r),
        ("GET", R::Workunits(o, n)) => releases::list_workunits(e, o, n, &q),
        ("GET", R::Sample(id)) => samples::get_sample(e, id, &q),
        ("PATCH", R::Sample(id)) => samples::update_sample(e, id, &body),
        ("DELETE", R::Sample(id)) => samples::delete_sample(e, id),
        ("POST", R::SampleIssues(id)) => labels::create_issue(e, id, &body),
        ("GET", R::Label(id, l)) => labels::get_label(e, id, l),
        ("PUT", R::Label(id, l)) => labels::put_label(e, id, l, &body),
        ("PATCH", R::Label(id, l)) => labels::patch_label(e, id, l, &body),
        ("DELETE", R::Label(id, l)) => labels::delete_label(e, id, l),
        ("PATCH", R::Issue(id)) => labels::update_issue(e, id, &body),
        ("DELETE", R::Issue(id)) => labels::delete_issue(e, id),
        ("POST", R::Assets) => releases::create_asset(e, &body),
        (m, _) => Err(method_not_allowed(m)),
    };
    result.unwrap_or_else(|r| r)
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// The JSON body; an empty body reads as `{}`.
fn json_body(body: &[u8]) -> Result<Value, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Obj::new()));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("JSON parse error - {e}")))
}

fn object_body(body: &[u8]) -> Result<Obj, Response> {
    match json_body(body)? {
        Value::Object(o) => Ok(o),
        other => Err(json_response(
            400,
            &json!({"non_field_errors": [format!(
                "Invalid data. Expected a dictionary, but got {}.",
                json_type(&other)
            )]}),
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A required non-blank string field.
fn required_str(b: &Obj, key: &str) -> Result<String, Response> {
    match b.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(field_error(key, "This field may not be blank.")),
        None | Some(Value::Null) => Err(field_error(key, "This field is required.")),
        Some(_) => Err(field_error(key, "Not a valid string.")),
    }
}

/// An optional string field (`null` → `None`).
fn optional_str(b: &Obj, key: &str) -> Result<Option<String>, Response> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field_error(key, "Not a valid string.")),
    }
}

fn optional_bool(b: &Obj, key: &str) -> Result<Option<bool>, Response> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(v)) => Ok(Some(*v)),
        Some(_) => Err(field_error(key, "Must be a valid boolean.")),
    }
}

// ---------------------------------------------------------------------------------------------
// Access

/// The dataset for an operation needing `need`: invisible → 404, visible but not allowed → 403.
fn dataset_access(st: &Store, owner: &str, name: &str, need: Access) -> Result<usize, Response> {
    let di = st.dataset_idx(owner, name).ok_or_else(not_found)?;
    check_access(st, di, need)?;
    Ok(di)
}

fn check_access(st: &Store, di: usize, need: Access) -> Result<(), Response> {
    let d = &st.datasets[di];
    if !st.visible(d, CALLER) {
        return Err(not_found());
    }
    if need == Access::Read {
        return Ok(());
    }
    match st.role_of(d, CALLER) {
        Some(role) if role_allows(&role, need) => Ok(()),
        _ => Err(forbidden()),
    }
}

/// The sample and its dataset for an operation needing `need`.
fn sample_access(st: &Store, uuid: &str, need: Access) -> Result<usize, Response> {
    let s = st.samples.get(uuid).ok_or_else(not_found)?;
    let di = st.dataset_by_full_name(&s.dataset).ok_or_else(not_found)?;
    check_access(st, di, need)?;
    Ok(di)
}

/// One page of `items` (§3.1): 1-based `page`, `per_page` (invalid → default); page 1 of an
/// empty list is `[]`, any page past the end (or not a positive number) is "Invalid page.".
fn paginate<T>(items: Vec<T>, q: &Query) -> Result<Vec<T>, Response> {
    let range = page_range(items.len(), q)?;
    Ok(items
        .into_iter()
        .skip(range.start)
        .take(range.len())
        .collect())
}

/// The index range of the page `q` asks for in a list of `len` items (`per_page`, `page` from 1
/// or `last`); a page past the end is "Invalid page.", except page 1 of an empty list.
fn page_range(len: usize, q: &Query) -> Result<std::ops::Range<usize>, Response> {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PER_PAGE);
    let pages = len.div_ceil(per_page).max(1);
    let page = match q.get("page").map(str::trim) {
        None => 1,
        Some("last") => pages,
        Some(p) => p.parse::<usize>().map_err(|_| invalid_page())?,
    };
    if page == 0 || page > pages {
        return Err(invalid_page());
    }
    let start = (page - 1).saturating_mul(per_page).min(len);
    Ok(start..start.saturating_add(per_page).min(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_need_two_segment_datasets_and_uuid_ids() {
        let id = "602a3eec-a61c-4a77-9fcc-3037ce5e9606";
        assert!(matches!(
            Route::of(&["datasets", "jane", "flowers"]),
            Some(Route::Dataset("jane", "flowers"))
        ));
        assert!(Route::of(&["datasets", "abcde"]).is_none());
        assert!(matches!(
            Route::of(&["datasets", "abcde", "clone"]),
            Some(Route::Dataset("abcde", "clone"))
        ));
        assert!(Route::of(&["samples", "12345"]).is_none());
        assert!(Route::of(&["samples", "12345", "issues"]).is_none());
        assert!(matches!(
            Route::of(&["samples", id]),
            Some(Route::Sample(_))
        ));
        assert!(matches!(
            Route::of(&["labels", id, "ground-truth"]),
            Some(Route::Label(_, "ground-truth"))
        ));
        assert!(Route::of(&["issues", "12345"]).is_none());
    }

    #[test]
    fn sample_and_label_attributes_are_checked_loosely_per_task_type() {
        assert!(
            samples::check_sample_attributes("vector", &json!({"image": {"url": "u"}})).is_ok()
        );
        assert!(samples::check_sample_attributes("vector", &json!({"pcd": {"url": "u"}})).is_err());
        assert!(samples::check_sample_attributes(
            "pointcloud-cuboid",
            &json!({"pcd": {"url": "u", "type": "pcd"}})
        )
        .is_ok());
        assert!(samples::check_sample_attributes(
            "image-vector-sequence",
            &json!({"frames": [{"image": {"url": "u"}}]})
        )
        .is_ok());
        let good = json!({"annotations": [{"id": 1, "category_id": 1, "type": "bbox", "points": [[1.0, 2.0], [3, 4]]}]});
        assert!(labels::check_label_attributes("bboxes", &good).is_ok());
        let bad = json!({"annotations": [{"id": 1, "category_id": 1, "type": "circle", "points": [[1, 2]]}]});
        assert!(labels::check_label_attributes("bboxes", &bad).is_err());
        assert!(labels::check_label_attributes("segmentation-bitmap", &good).is_err());
        assert!(
            labels::check_label_attributes("image-vector-sequence", &json!({"frames": []})).is_ok()
        );
        assert!(labels::check_label_attributes("vector", &json!([])).is_err());
    }

    #[test]
    fn generated_labels_pass_the_label_check_of_their_task_type() {
        let cats = vec![(1, "car".to_owned())];
        let sample = json!({"frames": [{}, {}], "sensors": [
            {"name": "L", "task_type": "pointcloud-cuboid-sequence", "attributes": {"frames": [{}]}}]});
        for t in TASK_TYPES {
            let label = workforce::generate_label(t, &cats, &sample, 1, "http://e/x.png");
            assert!(
                labels::check_label_attributes(t, &label).is_ok(),
                "{t}: {label}"
            );
        }
    }

    #[test]
    fn pages_are_one_based_and_past_the_end_is_invalid() {
        let q = |s: &str| Query::parse(Some(s));
        assert_eq!(
            paginate((0..5).collect(), &q("per_page=2&page=3")).unwrap(),
            [4]
        );
        assert!(paginate((0..5).collect::<Vec<_>>(), &q("per_page=2&page=4")).is_err());
        assert!(paginate(Vec::<u8>::new(), &q("per_page=2&page=1"))
            .unwrap()
            .is_empty());
        assert!(paginate(Vec::<u8>::new(), &q("page=2")).is_err());
        assert!(paginate((0..5).collect::<Vec<_>>(), &q("page=0")).is_err());
        assert!(paginate((0..5).collect::<Vec<_>>(), &q("page=x")).is_err());
        assert_eq!(
            paginate((0..5).collect(), &q("per_page=2&page=last")).unwrap(),
            [4]
        );
    }
}
