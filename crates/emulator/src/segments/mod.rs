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
//! Emulator choices where Segments is undocumented (each marked [INF]/[EMU] in the spec):
//! duplicates are 400 field errors (`{"name": ["… already exists."]}`); a label PUT answers
//! 201 when it creates and 200 when it replaces; `samples_bulk` returns existing names
//! unchanged, in input order; sample lists filter `label_status` with OR against the
//! ground-truth labelset (or `labelset` when sent), `UNLABELED` matching samples without a
//! label; a release file is built when the release is requested and served once it is ready
//! ([`state::RELEASE_BUILD_TIME`] later, or at the next lifecycle step); `/api_status/` answers
//! 426 to a numeric `lib_version` below 1.0.

// Handlers return `Result<Response, Response>`: the error side is the ready-made HTTP error
// answer (a cold path), so its size does not matter.
#![allow(clippy::result_large_err)]

mod errors;
mod state;
mod wire;

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
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;
use wire::{
    credentials, fmt_ts, gunzip, is_uuid, mime_of, parse_multipart, parse_time, path_segments,
    Credentials, Query,
};

/// Largest request body accepted (after gzip decoding too).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// `per_page` when a list request sends none (the SDK always sends one; its default is 1000).
const DEFAULT_PER_PAGE: usize = 1000;

/// Most UUIDs one bulk sample deletion takes.
const MAX_BULK_DELETE: usize = 1000;

/// The Segments.ai vendor emulator.
pub(crate) struct SegmentsEmulator {
    ctx: VendorContext,
    store: RwLock<Store>,
}

impl SegmentsEmulator {
    pub(crate) fn new(ctx: VendorContext) -> Self {
        let store = RwLock::new(Store::new(&ctx.projects, &ctx.root_url));
        SegmentsEmulator { ctx, store }
    }

    // A panic elsewhere must not take the emulator down: poisoned locks are used anyway.
    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
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
        return storage(&emu, &method, &segs[1..], &parts.headers, body).await;
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
        ("GET", R::ApiStatus) => api_status(&q),
        ("GET", R::Me) => Ok(me(e)),
        ("GET", R::User(u)) => user(e, u),
        ("GET", R::MyDatasets) => list_datasets(e, None, &q),
        ("POST", R::MyDatasets) => create_dataset(e, CALLER, &body),
        ("GET", R::UserDatasets(u)) => list_datasets(e, Some(u), &q),
        ("POST", R::OrgDatasets(org)) => create_org_dataset(e, org, &body),
        ("GET", R::Dataset(o, n)) => get_dataset(e, o, n),
        ("PATCH", R::Dataset(o, n)) => update_dataset(e, o, n, &body),
        ("DELETE", R::Dataset(o, n)) => delete_dataset(e, o, n),
        ("POST", R::Clone(o, n)) => clone_dataset(e, o, n, &body),
        ("POST", R::Collaborators(o, n)) => add_collaborator(e, o, n, &body),
        ("GET", R::Collaborator(o, n, u)) => get_collaborator(e, o, n, u),
        ("PATCH", R::Collaborator(o, n, u)) => update_collaborator(e, o, n, u, &body),
        ("DELETE", R::Collaborator(o, n, u)) => delete_collaborator(e, o, n, u),
        ("GET", R::Samples(o, n)) => list_samples(e, o, n, &q),
        ("POST", R::Samples(o, n)) => create_sample(e, o, n, &body),
        ("POST", R::SamplesBulk(o, n)) => create_samples_bulk(e, o, n, &body),
        ("DELETE", R::SamplesBulk(o, n)) => delete_samples_bulk(e, o, n, &body),
        ("GET", R::Labelsets(o, n)) => list_labelsets(e, o, n),
        ("POST", R::Labelsets(o, n)) => create_labelset(e, o, n, &body),
        ("GET", R::Labelset(o, n, l)) => get_labelset(e, o, n, l),
        ("DELETE", R::Labelset(o, n, l)) => delete_labelset(e, o, n, l),
        ("GET", R::DatasetIssues(o, n)) => list_issues(e, o, n),
        ("GET", R::Releases(o, n)) => list_releases(e, o, n),
        ("POST", R::Releases(o, n)) => create_release(e, o, n, &body),
        ("GET", R::Release(o, n, r)) => get_release(e, o, n, r),
        ("DELETE", R::Release(o, n, r)) => delete_release(e, o, n, r),
        ("GET", R::Workunits(o, n)) => list_workunits(e, o, n, &q),
        ("GET", R::Sample(id)) => get_sample(e, id, &q),
        ("PATCH", R::Sample(id)) => update_sample(e, id, &body),
        ("DELETE", R::Sample(id)) => delete_sample(e, id),
        ("POST", R::SampleIssues(id)) => create_issue(e, id, &body),
        ("GET", R::Label(id, l)) => get_label(e, id, l),
        ("PUT", R::Label(id, l)) => put_label(e, id, l, &body),
        ("PATCH", R::Label(id, l)) => patch_label(e, id, l, &body),
        ("DELETE", R::Label(id, l)) => delete_label(e, id, l),
        ("PATCH", R::Issue(id)) => update_issue(e, id, &body),
        ("DELETE", R::Issue(id)) => delete_issue(e, id),
        ("POST", R::Assets) => create_asset(e, &body),
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
    let per_page = q
        .get("per_page")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PER_PAGE);
    let pages = items.len().div_ceil(per_page).max(1);
    let page = match q.get("page").map(str::trim) {
        None => 1,
        Some("last") => pages,
        Some(p) => p.parse::<usize>().map_err(|_| invalid_page())?,
    };
    if page == 0 || page > pages {
        return Err(invalid_page());
    }
    Ok(items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Status, users, datasets

fn api_status(q: &Query) -> HResult {
    // Python-SDK style versions below 1.0 are "too old" (§1.4: the SDK only warns on 426).
    let too_old = q.get("lib_version").is_some_and(|v| {
        let mut it = v.trim().split('.');
        let major = it.next().and_then(|m| m.parse::<u64>().ok());
        let minor_ok = it.next().is_some_and(|m| m.parse::<u64>().is_ok());
        major == Some(0) && minor_ok
    });
    if too_old {
        return Err(errors::detail(
            426,
            "Please upgrade: pip install --upgrade segments-ai",
        ));
    }
    Ok(ok(&json!({})))
}

fn me(emu: &SegmentsEmulator) -> Response {
    let st = emu.read();
    match st.user(CALLER) {
        Some(u) => ok(&u.render(&st, true)),
        None => not_found(),
    }
}

fn user(emu: &SegmentsEmulator, name: &str) -> HResult {
    let st = emu.read();
    let u = st.user(name).ok_or_else(not_found)?;
    Ok(ok(&u.render(&st, name == CALLER)))
}

fn list_datasets(emu: &SegmentsEmulator, owner: Option<&str>, q: &Query) -> HResult {
    let st = emu.read();
    if let Some(o) = owner {
        st.user(o).ok_or_else(not_found)?;
    }
    let visible: Vec<&DatasetRec> = st
        .datasets
        .iter()
        .filter(|d| owner.is_none_or(|o| d.owner == o) && st.visible(d, CALLER))
        .collect();
    let page = paginate(visible, q)?;
    Ok(ok(&Value::Array(
        page.into_iter()
            .map(|d| st.render_dataset(d, CALLER))
            .collect(),
    )))
}

fn get_dataset(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    Ok(ok(&st.render_dataset(&st.datasets[di], CALLER)))
}

/// String settings.
const STRING_SETTINGS: [&str; 2] = ["description", "readme"];
/// Boolean settings (§2.2.1, §2.2.2).
const BOOL_SETTINGS: [&str; 18] = [
    "public",
    "archived",
    "enable_skip_labeling",
    "enable_skip_reviewing",
    "enable_ratings",
    "enable_interpolation",
    "enable_same_dimensions_track_constraint",
    "enable_save_button",
    "enable_label_status_verified",
    "enable_3d_cuboid_rotation",
    "enable_3d_region_of_interest",
    "enable_confirm_on_submit",
    "use_timestamps_for_interpolation",
    "enable_object_linking",
    "enable_object_link_category_restrictions",
    "enable_extrapolation",
    "noncollaborator_can_label",
    "noncollaborator_can_review",
];

fn valid_task_type(v: &Value) -> Result<String, Response> {
    match v.as_str() {
        Some(t) if TASK_TYPES.contains(&t) => Ok(t.to_owned()),
        _ => Err(field_error(
            "task_type",
            format!("\"{}\" is not a valid choice.", v.as_str().unwrap_or("?")),
        )),
    }
}

fn valid_task_attributes(v: &Value) -> Result<Value, Response> {
    match v {
        Value::Object(o) => {
            if let Some(cats) = o.get("categories") {
                let ok = cats.as_array().is_some_and(|a| {
                    a.iter().all(|c| {
                        c.get("id").is_some_and(Value::is_i64)
                            && c.get("name").is_some_and(Value::is_string)
                    })
                });
                if !ok {
                    return Err(field_error(
                        "task_attributes",
                        "categories must be a list of objects with an integer `id` and a `name`.",
                    ));
                }
            }
            Ok(v.clone())
        }
        _ => Err(field_error(
            "task_attributes",
            "Expected a dictionary of task attributes.",
        )),
    }
}

/// Apply the settings a create or PATCH body sends (unknown keys are ignored, §1.7).
fn apply_settings(d: &mut DatasetRec, b: &Obj) -> Result<(), Response> {
    let mut fields = d.fields.clone();
    for k in STRING_SETTINGS {
        if let Some(v) = optional_str(b, k)? {
            fields.insert(k.to_owned(), json!(v));
        }
    }
    for k in BOOL_SETTINGS {
        if let Some(v) = optional_bool(b, k)? {
            fields.insert(k.to_owned(), json!(v));
        }
    }
    if let Some(c) = optional_str(b, "category")? {
        if !CATEGORIES.contains(&c.as_str()) && !c.starts_with("custom-") {
            return Err(field_error(
                "category",
                format!("\"{c}\" is not a valid choice."),
            ));
        }
        fields.insert("category".into(), json!(c));
    }
    match b.get("metadata") {
        None | Some(Value::Null) => {}
        Some(m @ Value::Object(_)) => {
            fields.insert("metadata".into(), m.clone());
        }
        Some(_) => return Err(field_error("metadata", "Expected a dictionary of items.")),
    }
    match b.get("labeling_inactivity_timeout_seconds") {
        None | Some(Value::Null) => {}
        Some(v) if v.is_u64() => {
            fields.insert("labeling_inactivity_timeout_seconds".into(), v.clone());
        }
        Some(_) => {
            return Err(field_error(
                "labeling_inactivity_timeout_seconds",
                "A valid integer is required.",
            ))
        }
    }
    if let Some(v) = b.get("region_of_interest") {
        fields.insert("region_of_interest".into(), v.clone());
    }
    if let Some(v) = b.get("task_type") {
        d.task_type = valid_task_type(v)?;
    }
    match b.get("task_attributes") {
        None | Some(Value::Null) => {}
        Some(v) => d.task_attributes = valid_task_attributes(v)?,
    }
    d.fields = fields;
    Ok(())
}

fn valid_dataset_name(b: &Obj) -> Result<String, Response> {
    let name = required_str(b, "name")?;
    if name.contains('/') || name.chars().any(char::is_whitespace) {
        return Err(field_error(
            "name",
            "Enter a valid name: letters, numbers, underscores, hyphens or dots, no spaces or slashes.",
        ));
    }
    Ok(name)
}

fn dataset_exists() -> Response {
    field_error("name", "Dataset with this name already exists.")
}

fn create_dataset(emu: &SegmentsEmulator, owner: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let name = valid_dataset_name(&b)?;
    let task_type = match b.get("task_type") {
        None | Some(Value::Null) => {
            return Err(field_error("task_type", "This field is required."))
        }
        Some(v) => valid_task_type(v)?,
    };
    let default_attributes =
        json!({"format_version": "0.1", "categories": [{"name": "object", "id": 1}]});
    let mut d = DatasetRec::new(owner, &name, &task_type, default_attributes);
    apply_settings(&mut d, &b)?;
    let mut st = emu.write();
    if st.dataset_idx(owner, &name).is_some() {
        return Err(dataset_exists());
    }
    let out = st.render_dataset(&d, CALLER);
    st.datasets.push(d);
    Ok(created(&out))
}

/// Whether the caller may create datasets for `owner` (itself, or an organization it manages).
fn may_own(st: &Store, owner: &str) -> Result<(), Response> {
    if owner == CALLER {
        return Ok(());
    }
    let org = st
        .user(owner)
        .filter(|u| u.is_organization)
        .ok_or_else(not_found)?;
    match org.members.iter().find(|(m, _)| m == CALLER) {
        Some((_, role)) if role_allows(role, Access::Manage) => Ok(()),
        Some(_) => Err(forbidden()),
        None => Err(not_found()),
    }
}

fn create_org_dataset(emu: &SegmentsEmulator, org: &str, body: &[u8]) -> HResult {
    may_own(&emu.read(), org)?;
    create_dataset(emu, org, body)
}

fn update_dataset(emu: &SegmentsEmulator, owner: &str, name: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    apply_settings(&mut st.datasets[di], &b)?;
    Ok(ok(&st.render_dataset(&st.datasets[di], CALLER)))
}

fn delete_dataset(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Admin)?;
    st.remove_dataset(di);
    Ok(no_content())
}

fn clone_dataset(emu: &SegmentsEmulator, owner: &str, name: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let new_name = match b.get("name") {
        None | Some(Value::Null) => format!("{name}-clone"),
        _ => valid_dataset_name(&b)?,
    };
    let new_owner = optional_str(&b, "owner")?.unwrap_or_else(|| CALLER.to_owned());
    may_own(&st, &new_owner)?;
    let clone_labels = optional_bool(&b, "clone_labels")?.unwrap_or(false);
    if st.dataset_idx(&new_owner, &new_name).is_some() {
        return Err(dataset_exists());
    }
    let src = &st.datasets[di];
    let mut d = DatasetRec::new(
        &new_owner,
        &new_name,
        &src.task_type,
        src.task_attributes.clone(),
    );
    d.fields = src.fields.clone();
    d.fields.insert("public".into(), json!(false));
    d.cloned_from = Some(src.full_name());
    d.labelsets = src
        .labelsets
        .iter()
        .map(|l| LabelsetRec {
            name: l.name.clone(),
            description: l.description.clone(),
            is_groundtruth: l.is_groundtruth,
            created_at: d.created_at.clone(),
        })
        .collect();
    if let Some(v) = b.get("task_type").filter(|v| !v.is_null()) {
        d.task_type = valid_task_type(v)?;
    }
    if let Some(p) = optional_bool(&b, "public")? {
        d.fields.insert("public".into(), json!(p));
    }
    let source_samples = src.samples.clone();
    let full = d.full_name();
    let now = fmt_ts(Utc::now());
    for u in source_samples {
        let Some(s) = st.samples.get(&u) else {
            continue;
        };
        let (name, attributes, metadata, readme, priority) = (
            s.name.clone(),
            s.attributes.clone(),
            s.metadata.clone(),
            s.readme.clone(),
            s.priority.clone(),
        );
        let labels: BTreeMap<String, LabelRec> = if clone_labels {
            s.labels
                .iter()
                .map(|(k, l)| {
                    (
                        k.clone(),
                        LabelRec {
                            label_status: l.label_status.clone(),
                            attributes: l.attributes.clone(),
                            score: l.score.clone(),
                            created_at: l.created_at.clone(),
                            created_by: l.created_by.clone(),
                            updated_at: l.updated_at.clone(),
                            updated_by: l.updated_by.clone(),
                            updated_seq: l.updated_seq,
                            reviewed_at: l.reviewed_at.clone(),
                            reviewed_by: l.reviewed_by.clone(),
                        },
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let seq = st.tick();
        let uuid = st.uuid();
        d.samples.push(uuid.clone());
        d.by_name.insert(name.clone(), uuid.clone());
        st.samples.insert(
            uuid.clone(),
            SampleRec {
                uuid,
                dataset: full.clone(),
                name,
                attributes,
                metadata,
                created_at: now.clone(),
                created_by: CALLER.to_owned(),
                created_seq: seq,
                updated_seq: seq,
                readme,
                assigned_labeler: None,
                assigned_reviewer: None,
                priority,
                labels,
            },
        );
    }
    let out = st.render_dataset(&d, CALLER);
    st.datasets.push(d);
    Ok(created(&out))
}

// ---------------------------------------------------------------------------------------------
// Collaborators

fn collaborator_json(st: &Store, username: &str, role: &str) -> Value {
    let user = st
        .user(username)
        .map_or_else(|| json!({"username": username}), |u| u.render(st, false));
    json!({"user": user, "role": role})
}

fn valid_role(b: &Obj, default: Option<&str>) -> Result<String, Response> {
    match (b.get("role"), default) {
        (None | Some(Value::Null), Some(d)) => Ok(d.to_owned()),
        (Some(Value::String(r)), _) if ROLES.contains(&r.as_str()) => Ok(r.clone()),
        (None | Some(Value::Null), None) => Err(field_error("role", "This field is required.")),
        (Some(v), _) => Err(field_error(
            "role",
            format!("\"{}\" is not a valid choice.", v.as_str().unwrap_or("?")),
        )),
    }
}

fn add_collaborator(emu: &SegmentsEmulator, owner: &str, name: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let username = required_str(&b, "user")?;
    let role = valid_role(&b, Some("labeler"))?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let u = st.user(&username).ok_or_else(not_found)?;
    if u.is_organization || username == st.datasets[di].owner {
        return Err(bad_request(format!(
            "{username} cannot be added as collaborator to this dataset."
        )));
    }
    let d = &mut st.datasets[di];
    if d.collaborators.iter().any(|(c, _)| c == &username) {
        return Err(bad_request(format!(
            "{username} is already a collaborator on this dataset."
        )));
    }
    d.collaborators.push((username.clone(), role.clone()));
    Ok(created(&collaborator_json(&st, &username, &role)))
}

fn collaborator_idx(st: &Store, di: usize, username: &str) -> Result<usize, Response> {
    st.datasets[di]
        .collaborators
        .iter()
        .position(|(c, _)| c == username)
        .ok_or_else(not_found)
}

fn get_collaborator(emu: &SegmentsEmulator, owner: &str, name: &str, username: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let ci = collaborator_idx(&st, di, username)?;
    let role = &st.datasets[di].collaborators[ci].1;
    Ok(ok(&collaborator_json(&st, username, role)))
}

fn update_collaborator(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    username: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let role = valid_role(&b, None)?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let ci = collaborator_idx(&st, di, username)?;
    st.datasets[di].collaborators[ci].1 = role.clone();
    Ok(ok(&collaborator_json(&st, username, &role)))
}

fn delete_collaborator(emu: &SegmentsEmulator, owner: &str, name: &str, username: &str) -> HResult {
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let ci = collaborator_idx(&st, di, username)?;
    st.datasets[di].collaborators.remove(ci);
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------------
// Samples

/// Loose check of sample `attributes` against the dataset's task type (§5.6).
fn check_sample_attributes(task_type: &str, a: &Value) -> Result<(), String> {
    let has_url = |v: &Value, k: &str| {
        v.get(k)
            .and_then(|x| x.get("url"))
            .is_some_and(Value::is_string)
    };
    let frames_ok = |key: &str| {
        a.get("frames")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().all(|fr| has_url(fr, key)))
    };
    let (ok, shape) = match task_type {
        "segmentation-bitmap"
        | "segmentation-bitmap-highres"
        | "bboxes"
        | "vector"
        | "keypoints" => (has_url(a, "image"), r#"{"image": {"url": "..."}}"#),
        "image-segmentation-sequence" | "image-vector-sequence" => (
            frames_ok("image"),
            r#"{"frames": [{"image": {"url": "..."}}, ...]}"#,
        ),
        "pointcloud-cuboid" | "pointcloud-segmentation" | "pointcloud-vector" => (
            has_url(a, "pcd") && a["pcd"].get("type").is_some_and(Value::is_string),
            r#"{"pcd": {"url": "...", "type": "pcd"}}"#,
        ),
        "pointcloud-cuboid-sequence"
        | "pointcloud-segmentation-sequence"
        | "pointcloud-vector-sequence" => (
            frames_ok("pcd"),
            r#"{"frames": [{"pcd": {"url": "...", "type": "pcd"}}, ...]}"#,
        ),
        "multisensor-sequence" => (
            a.get("sensors").is_some_and(Value::is_array),
            r#"{"sensors": [...]}"#,
        ),
        _ => (a.is_object(), "an object"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Invalid sample attributes for a {task_type} dataset: expected {shape}."
        ))
    }
}

/// A validated sample of a create request.
struct SampleInput {
    name: String,
    attributes: Value,
    metadata: Obj,
    priority: Value,
    readme: String,
    assigned_labeler: Option<String>,
    assigned_reviewer: Option<String>,
}

/// Validate one create body; the error is a DRF field-error object.
fn sample_input(task_type: &str, v: &Value) -> Result<SampleInput, Value> {
    let fe = |k: &str, m: &str| json!({ k: [m] });
    let b = v
        .as_object()
        .ok_or_else(|| json!({"non_field_errors": ["Invalid data. Expected a dictionary."]}))?;
    let name = match b.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(fe("name", "This field may not be blank.")),
        None | Some(Value::Null) => return Err(fe("name", "This field is required.")),
        Some(_) => return Err(fe("name", "Not a valid string.")),
    };
    let attributes = match b.get("attributes") {
        None | Some(Value::Null) => return Err(fe("attributes", "This field is required.")),
        Some(a) => {
            check_sample_attributes(task_type, a).map_err(|m| fe("attributes", &m))?;
            a.clone()
        }
    };
    let metadata = match b.get("metadata") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(fe("metadata", "Expected a dictionary of items.")),
    };
    let priority = match b.get("priority") {
        None | Some(Value::Null) => json!(0),
        Some(p) if p.is_number() => p.clone(),
        Some(_) => return Err(fe("priority", "A valid number is required.")),
    };
    let text = |k: &str| -> Result<Option<String>, Value> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(fe(k, "Not a valid string.")),
        }
    };
    Ok(SampleInput {
        name,
        attributes,
        metadata,
        priority,
        readme: text("readme")?.unwrap_or_default(),
        assigned_labeler: text("assigned_labeler")?,
        assigned_reviewer: text("assigned_reviewer")?,
    })
}

/// Insert a validated sample; returns its UUID.
fn insert_sample(st: &mut Store, di: usize, input: SampleInput) -> String {
    let seq = st.tick();
    let uuid = st.uuid();
    let full = st.datasets[di].full_name();
    st.samples.insert(
        uuid.clone(),
        SampleRec {
            uuid: uuid.clone(),
            dataset: full,
            name: input.name.clone(),
            attributes: input.attributes,
            metadata: input.metadata,
            created_at: fmt_ts(Utc::now()),
            created_by: CALLER.to_owned(),
            created_seq: seq,
            updated_seq: seq,
            readme: input.readme,
            assigned_labeler: input.assigned_labeler,
            assigned_reviewer: input.assigned_reviewer,
            priority: input.priority,
            labels: BTreeMap::new(),
        },
    );
    let d = &mut st.datasets[di];
    d.samples.push(uuid.clone());
    d.by_name.insert(input.name, uuid.clone());
    uuid
}

fn sample_exists() -> Response {
    field_error(
        "name",
        "Sample with this name already exists in this dataset.",
    )
}

fn create_sample(emu: &SegmentsEmulator, owner: &str, name: &str, body: &[u8]) -> HResult {
    let v = json_body(body)?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let input = sample_input(&st.datasets[di].task_type, &v).map_err(|e| json_response(400, &e))?;
    if st.datasets[di].by_name.contains_key(&input.name) {
        return Err(sample_exists());
    }
    let uuid = insert_sample(&mut st, di, input);
    Ok(created(&st.samples[&uuid].render()))
}

/// `samples_bulk`: all-or-nothing validation; an existing name (also one repeated within the
/// request) comes back as the existing sample, unchanged (§8.3).
fn create_samples_bulk(emu: &SegmentsEmulator, owner: &str, name: &str, body: &[u8]) -> HResult {
    let v = json_body(body)?;
    let Value::Array(items) = v else {
        return Err(json_response(
            400,
            &json!({"non_field_errors": [format!(
                "Expected a list of items but got type \"{}\".",
                json_type(&v)
            )]}),
        ));
    };
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let task_type = st.datasets[di].task_type.clone();
    let mut inputs = Vec::with_capacity(items.len());
    let mut errs = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in &items {
        match sample_input(&task_type, item) {
            Ok(i) => {
                inputs.push(i);
                errs.push(json!({}));
            }
            Err(e) => {
                failed = true;
                errs.push(e);
            }
        }
    }
    if failed {
        return Err(json_response(400, &Value::Array(errs)));
    }
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let uuid = match st.datasets[di].by_name.get(&input.name) {
            Some(existing) => existing.clone(),
            None => insert_sample(&mut st, di, input),
        };
        out.push(st.samples[&uuid].render());
    }
    Ok(created(&Value::Array(out)))
}

fn delete_samples_bulk(emu: &SegmentsEmulator, owner: &str, name: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let uuids: Vec<String> = match b.get("uuids") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|u| u.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| field_error("uuids", "Every item must be a string UUID."))?,
        None | Some(Value::Null) => return Err(field_error("uuids", "This field is required.")),
        Some(_) => return Err(field_error("uuids", "Expected a list of items.")),
    };
    if uuids.is_empty() {
        return Err(field_error("uuids", "This list may not be empty."));
    }
    if uuids.len() > MAX_BULK_DELETE {
        return Err(field_error(
            "uuids",
            format!("Ensure this field has no more than {MAX_BULK_DELETE} elements."),
        ));
    }
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let full = st.datasets[di].full_name();
    let mine: BTreeSet<String> = uuids
        .into_iter()
        .filter(|u| st.samples.get(u).is_some_and(|s| s.dataset == full))
        .collect();
    let deleted = mine.iter().filter(|u| st.remove_sample(u)).count();
    Ok(ok(&json!({"deleted_count": deleted})))
}

/// Copy `signed_url` next to every `url` inside sample attributes (`include_signed_urls=1`).
fn add_signed_urls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(u)) = o.get("url") {
                let signed = format!(
                    "{u}{}X-Amz-Signature=emulator",
                    if u.contains('?') { '&' } else { '?' }
                );
                o.insert("signed_url".into(), json!(signed));
            }
            for (k, x) in o.iter_mut() {
                if k != "signed_url" {
                    add_signed_urls(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(add_signed_urls),
        _ => {}
    }
}

fn metadata_matches(meta: &Obj, key: &str, want: &str) -> bool {
    match meta.get(key) {
        Some(Value::String(s)) => s == want,
        Some(Value::Bool(b)) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Some(Value::Null) => want == "null" || want == "None",
        Some(Value::Number(n)) => want.trim().parse::<f64>().ok() == n.as_f64(),
        Some(v) => serde_json::from_str::<Value>(want).ok().as_ref() == Some(v),
        None => false,
    }
}

fn cmp_numbers(a: &Value, b: &Value) -> std::cmp::Ordering {
    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
    x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
}

fn list_samples(emu: &SegmentsEmulator, owner: &str, name: &str, q: &Query) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let d = &st.datasets[di];
    let labelset = q.get("labelset");
    let status_labelset = labelset.unwrap_or_else(|| d.ground_truth());
    let statuses: Vec<&str> = q
        .get("label_status")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = statuses.iter().find(|s| !LABEL_STATUSES.contains(s)) {
        return Err(field_error(
            "label_status",
            format!("Select a valid choice. {bad} is not one of the available choices."),
        ));
    }
    let name_part = q.get("name__contains");
    let filters: Vec<(&str, &str)> = q
        .get("filters")
        .map(|f| f.split(',').filter_map(|p| p.split_once(':')).collect())
        .unwrap_or_default();
    let mut samples: Vec<&SampleRec> = d
        .samples
        .iter()
        .filter_map(|u| st.samples.get(u))
        .filter(|s| name_part.is_none_or(|n| s.name.contains(n)))
        .filter(|s| {
            filters
                .iter()
                .all(|(k, v)| metadata_matches(&s.metadata, k, v))
        })
        .filter(|s| statuses.is_empty() || statuses.contains(&s.status_in(status_labelset)))
        .collect();
    let sort = q.get("sort").unwrap_or("name");
    let (desc, key) = match sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort),
    };
    let gt = d.ground_truth();
    samples.sort_by(|a, b| {
        let o = match key {
            "created_at" | "created" => a.created_seq.cmp(&b.created_seq),
            "updated_at" => a.updated_seq.cmp(&b.updated_seq),
            "priority" => cmp_numbers(&a.priority, &b.priority),
            "gt_label__updated_at" => {
                // Samples without a label sort last ascending (NULLS LAST), first descending.
                let k = |s: &SampleRec| s.labels.get(gt).map_or(u64::MAX, |l| l.updated_seq);
                k(a).cmp(&k(b))
            }
            _ => a.name.cmp(&b.name),
        };
        let o = if desc { o.reverse() } else { o };
        o.then(a.created_seq.cmp(&b.created_seq))
    });
    let page = paginate(samples, q)?;
    let full = q.flag("include_full_label");
    let label_type = d.task_type.as_str();
    let out: Vec<Value> = page
        .into_iter()
        .map(|s| {
            let mut v = s.render();
            if let Some(ls) = labelset {
                v["label"] = s.labels.get(ls).map_or(Value::Null, |l| {
                    if full {
                        l.render(&s.uuid, ls, label_type)
                    } else {
                        l.summary()
                    }
                });
            }
            v
        })
        .collect();
    Ok(ok(&Value::Array(out)))
}

fn get_sample(emu: &SegmentsEmulator, uuid: &str, q: &Query) -> HResult {
    let st = emu.read();
    let di = sample_access(&st, uuid, Access::Read)?;
    let s = &st.samples[uuid];
    let mut v = s.render();
    if q.flag("include_signed_urls") {
        add_signed_urls(&mut v["attributes"]);
    }
    if let Some(ls) = q.get("labelset") {
        v["label"] = s.labels.get(ls).map_or(Value::Null, |l| {
            l.render(uuid, ls, &st.datasets[di].task_type)
        });
    }
    Ok(ok(&v))
}

fn update_sample(emu: &SegmentsEmulator, uuid: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = sample_access(&st, uuid, Access::Manage)?;
    let task_type = st.datasets[di].task_type.clone();
    let old_name = st.samples[uuid].name.clone();
    let new_name = match b.get("name") {
        None => None,
        Some(_) => Some(required_str(&b, "name")?).filter(|n| *n != old_name),
    };
    if let Some(n) = &new_name {
        if st.datasets[di].by_name.contains_key(n) {
            return Err(sample_exists());
        }
    }
    if let Some(a) = b.get("attributes") {
        check_sample_attributes(&task_type, a).map_err(|m| field_error("attributes", m))?;
    }
    let metadata = match b.get("metadata") {
        None => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(Value::Null) => Some(Obj::new()),
        Some(_) => return Err(field_error("metadata", "Expected a dictionary of items.")),
    };
    if let Some(p) = b.get("priority") {
        if !p.is_number() {
            return Err(field_error("priority", "A valid number is required."));
        }
    }
    let readme = optional_str(&b, "readme")?;
    let labeler = optional_str(&b, "assigned_labeler")?;
    let reviewer = optional_str(&b, "assigned_reviewer")?;
    let seq = st.tick();
    if let Some(n) = &new_name {
        let d = &mut st.datasets[di];
        d.by_name.remove(&old_name);
        d.by_name.insert(n.clone(), uuid.to_owned());
    }
    let Some(s) = st.samples.get_mut(uuid) else {
        return Err(not_found());
    };
    if let Some(n) = new_name {
        s.name = n;
    }
    if let Some(a) = b.get("attributes") {
        s.attributes = a.clone();
    }
    if let Some(m) = metadata {
        s.metadata = m;
    }
    if let Some(p) = b.get("priority") {
        s.priority = p.clone();
    }
    if let Some(r) = readme {
        s.readme = r;
    }
    // An explicit null un-assigns (§2.2.5).
    if b.contains_key("assigned_labeler") {
        s.assigned_labeler = labeler;
    }
    if b.contains_key("assigned_reviewer") {
        s.assigned_reviewer = reviewer;
    }
    s.updated_seq = seq;
    Ok(ok(&s.render()))
}

fn delete_sample(emu: &SegmentsEmulator, uuid: &str) -> HResult {
    let mut st = emu.write();
    sample_access(&st, uuid, Access::Manage)?;
    st.remove_sample(uuid);
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------------
// Labels

/// Loose check of label `attributes` against the task type (§5.7); stored verbatim after.
fn check_label_attributes(task_type: &str, a: &Value) -> Result<(), String> {
    let Some(o) = a.as_object() else {
        return Err("Label attributes must be an object.".to_owned());
    };
    let annotations = || o.get("annotations").and_then(Value::as_array);
    let ids_ok = |anns: &Vec<Value>| {
        anns.iter().all(|x| {
            x.get("id").is_some_and(Value::is_i64)
                && x.get("category_id").is_some_and(Value::is_i64)
        })
    };
    let problem = match task_type {
        "bboxes" | "vector" | "keypoints" => match annotations() {
            None => Some("expected `annotations`, a list"),
            Some(anns) if !ids_ok(anns) => {
                Some("every annotation needs an integer `id` and `category_id`")
            }
            Some(anns) => anns
                .iter()
                .find(|x| {
                    let ty_ok = x
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| matches!(t, "bbox" | "polygon" | "polyline" | "point"));
                    let points_ok = x.get("points").and_then(Value::as_array).is_some_and(|p| {
                        p.iter().all(|pt| {
                            pt.as_array()
                                .is_some_and(|c| c.len() >= 2 && c.iter().all(Value::is_number))
                        })
                    });
                    !(ty_ok && points_ok)
                })
                .map(|_| {
                    "every annotation needs a `type` (bbox, polygon, polyline, point) and `points` [[x, y], ...]"
                }),
        },
        "segmentation-bitmap" | "segmentation-bitmap-highres" => match annotations() {
            Some(anns) if ids_ok(anns) && o.get("segmentation_bitmap").is_some_and(Value::is_object) => None,
            _ => Some("expected `annotations` (id, category_id) and a `segmentation_bitmap` object"),
        },
        "pointcloud-cuboid" | "pointcloud-vector" => match annotations() {
            Some(anns) if ids_ok(anns) => None,
            _ => Some("expected `annotations` with an integer `id` and `category_id`"),
        },
        "pointcloud-segmentation" => match annotations() {
            Some(anns) if ids_ok(anns) && o.get("point_annotations").is_some_and(Value::is_array) => None,
            _ => Some("expected `annotations` and `point_annotations`"),
        },
        t if t.ends_with("-sequence") && t != "multisensor-sequence" => {
            (!o.get("frames").is_some_and(Value::is_array)).then_some("expected `frames`, a list")
        }
        "multisensor-sequence" => {
            (!o.get("sensors").is_some_and(Value::is_array)).then_some("expected `sensors`, a list")
        }
        _ => None,
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(format!(
            "Invalid label attributes for a {task_type} dataset: {p}."
        )),
    }
}

fn valid_label_status(d: &DatasetRec, v: &Value) -> Result<String, Response> {
    let s = v.as_str().unwrap_or("");
    let verified_ok = d
        .fields
        .get("enable_label_status_verified")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !LABEL_STATUSES.contains(&s) || s == "UNLABELED" || (s == "VERIFIED" && !verified_ok) {
        return Err(field_error(
            "label_status",
            format!("\"{s}\" is not a valid choice."),
        ));
    }
    Ok(s.to_owned())
}

fn valid_score(v: Option<&Value>) -> Result<Option<Value>, Response> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(s) if s.is_number() => Ok(Some(s.clone())),
        Some(_) => Err(field_error("score", "A valid number is required.")),
    }
}

/// The sample's dataset index after checking the labelset exists.
fn label_target(st: &Store, uuid: &str, labelset: &str, need: Access) -> Result<usize, Response> {
    let di = sample_access(st, uuid, need)?;
    st.datasets[di].labelset(labelset).ok_or_else(not_found)?;
    Ok(di)
}

fn get_label(emu: &SegmentsEmulator, uuid: &str, labelset: &str) -> HResult {
    let st = emu.read();
    let di = label_target(&st, uuid, labelset, Access::Read)?;
    let l = st.samples[uuid]
        .labels
        .get(labelset)
        .ok_or_else(not_found)?;
    Ok(ok(&l.render(uuid, labelset, &st.datasets[di].task_type)))
}

/// PUT: create the label, or replace its status, attributes and score (§8.4).
fn put_label(emu: &SegmentsEmulator, uuid: &str, labelset: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = label_target(&st, uuid, labelset, Access::Label)?;
    let d = &st.datasets[di];
    let status = match b.get("label_status") {
        None | Some(Value::Null) => "PRELABELED".to_owned(),
        Some(v) => valid_label_status(d, v)?,
    };
    let attributes = match b.get("attributes") {
        None | Some(Value::Null) => {
            return Err(field_error("attributes", "This field is required."))
        }
        Some(a) => {
            check_label_attributes(&d.task_type, a).map_err(|m| field_error("attributes", m))?;
            a.clone()
        }
    };
    let score = valid_score(b.get("score"))?;
    let task_type = d.task_type.clone();
    let seq = st.tick();
    let now = fmt_ts(Utc::now());
    let Some(s) = st.samples.get_mut(uuid) else {
        return Err(not_found());
    };
    let previous = s.labels.remove(labelset);
    let is_new = previous.is_none();
    let (created_at, created_by) = previous
        .map(|p| (p.created_at, p.created_by))
        .unwrap_or_else(|| (now.clone(), CALLER.to_owned()));
    let reviewed = matches!(status.as_str(), "REVIEWED" | "REJECTED" | "VERIFIED");
    let label = LabelRec {
        label_status: status,
        attributes,
        score,
        created_at,
        created_by,
        updated_at: now.clone(),
        updated_by: CALLER.to_owned(),
        updated_seq: seq,
        reviewed_at: reviewed.then(|| now.clone()),
        reviewed_by: reviewed.then(|| CALLER.to_owned()),
    };
    let out = label.render(uuid, labelset, &task_type);
    s.labels.insert(labelset.to_owned(), label);
    Ok(if is_new { created(&out) } else { ok(&out) })
}

fn patch_label(emu: &SegmentsEmulator, uuid: &str, labelset: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = label_target(&st, uuid, labelset, Access::Label)?;
    if !st.samples[uuid].labels.contains_key(labelset) {
        return Err(not_found());
    }
    let d = &st.datasets[di];
    let status = match b.get("label_status") {
        None | Some(Value::Null) => None,
        Some(v) => Some(valid_label_status(d, v)?),
    };
    if let Some(a) = b.get("attributes").filter(|a| !a.is_null()) {
        check_label_attributes(&d.task_type, a).map_err(|m| field_error("attributes", m))?;
    }
    let score = valid_score(b.get("score"))?;
    let task_type = d.task_type.clone();
    let seq = st.tick();
    let now = fmt_ts(Utc::now());
    let Some(l) = st
        .samples
        .get_mut(uuid)
        .and_then(|s| s.labels.get_mut(labelset))
    else {
        return Err(not_found());
    };
    if let Some(s) = status {
        if matches!(s.as_str(), "REVIEWED" | "REJECTED" | "VERIFIED") {
            l.reviewed_at = Some(now.clone());
            l.reviewed_by = Some(CALLER.to_owned());
        }
        l.label_status = s;
    }
    if let Some(a) = b.get("attributes").filter(|a| !a.is_null()) {
        l.attributes = a.clone();
    }
    if b.contains_key("score") {
        l.score = score;
    }
    l.updated_at = now;
    l.updated_by = CALLER.to_owned();
    l.updated_seq = seq;
    Ok(ok(&l.render(uuid, labelset, &task_type)))
}

fn delete_label(emu: &SegmentsEmulator, uuid: &str, labelset: &str) -> HResult {
    let mut st = emu.write();
    label_target(&st, uuid, labelset, Access::Label)?;
    let removed = st
        .samples
        .get_mut(uuid)
        .and_then(|s| s.labels.remove(labelset));
    match removed {
        Some(_) => Ok(no_content()),
        None => Err(not_found()),
    }
}

// ---------------------------------------------------------------------------------------------
// Labelsets

fn list_labelsets(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    Ok(ok(&Value::Array(
        st.datasets[di]
            .labelsets
            .iter()
            .map(LabelsetRec::render)
            .collect(),
    )))
}

fn get_labelset(emu: &SegmentsEmulator, owner: &str, name: &str, labelset: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let l = st.datasets[di].labelset(labelset).ok_or_else(not_found)?;
    Ok(ok(&l.render()))
}

fn create_labelset(emu: &SegmentsEmulator, owner: &str, name: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let ls = required_str(&b, "name")?;
    let description = optional_str(&b, "description")?.unwrap_or_default();
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let d = &mut st.datasets[di];
    if d.labelset(&ls).is_some() {
        return Err(field_error(
            "name",
            "Labelset with this name already exists in this dataset.",
        ));
    }
    let rec = LabelsetRec {
        name: ls,
        description,
        is_groundtruth: false,
        created_at: fmt_ts(Utc::now()),
    };
    let out = rec.render();
    d.labelsets.push(rec);
    Ok(created(&out))
}

fn delete_labelset(emu: &SegmentsEmulator, owner: &str, name: &str, labelset: &str) -> HResult {
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let d = &st.datasets[di];
    let l = d.labelset(labelset).ok_or_else(not_found)?;
    if l.is_groundtruth || labelset == GROUND_TRUTH {
        return Err(bad_request("The ground-truth labelset cannot be deleted."));
    }
    let uuids = d.samples.clone();
    st.datasets[di].labelsets.retain(|l| l.name != labelset);
    for u in uuids {
        if let Some(s) = st.samples.get_mut(&u) {
            s.labels.remove(labelset);
        }
    }
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------------
// Issues

fn render_issue(st: &Store, i: &IssueRec) -> Value {
    let sample_name = st
        .samples
        .get(&i.sample_uuid)
        .map_or("", |s| s.name.as_str());
    i.render(sample_name)
}

fn list_issues(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let full = st.datasets[di].full_name();
    let out: Vec<Value> = st
        .issue_order
        .iter()
        .filter_map(|u| st.issues.get(u))
        .filter(|i| i.dataset == full)
        .map(|i| render_issue(&st, i))
        .collect();
    Ok(ok(&Value::Array(out)))
}

fn valid_issue_status(v: &Value) -> Result<String, Response> {
    match v.as_str() {
        Some(s @ ("OPEN" | "CLOSED")) => Ok(s.to_owned()),
        _ => Err(field_error(
            "status",
            format!("\"{}\" is not a valid choice.", v.as_str().unwrap_or("?")),
        )),
    }
}

fn valid_anchor(v: Option<&Value>) -> Result<Option<Value>, Response> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Value::Null)),
        Some(a)
            if a.get("type").and_then(Value::as_str).is_some_and(|t| {
                matches!(t, "basic" | "track" | "sceneAttribute" | "location")
            }) =>
        {
            Ok(Some(a.clone()))
        }
        Some(_) => Err(field_error(
            "anchor",
            "Expected an anchor object with a `type` of basic, track, sceneAttribute or location.",
        )),
    }
}

fn create_issue(emu: &SegmentsEmulator, sample_uuid: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let description = match b.get("description") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(field_error("description", "This field is required."))
        }
        Some(_) => return Err(field_error("description", "Not a valid string.")),
    };
    let status = match b.get("status") {
        None | Some(Value::Null) => "OPEN".to_owned(),
        Some(v) => valid_issue_status(v)?,
    };
    let anchor = valid_anchor(b.get("anchor"))?.unwrap_or(Value::Null);
    let mut st = emu.write();
    let di = sample_access(&st, sample_uuid, Access::Label)?;
    let uuid = st.uuid();
    let now = fmt_ts(Utc::now());
    let rec = IssueRec {
        uuid: uuid.clone(),
        sample_uuid: sample_uuid.to_owned(),
        dataset: st.datasets[di].full_name(),
        description,
        status,
        anchor,
        created_at: now.clone(),
        updated_at: now,
        created_by: CALLER.to_owned(),
        updated_by: CALLER.to_owned(),
    };
    let out = render_issue(&st, &rec);
    st.issues.insert(uuid.clone(), rec);
    st.issue_order.push(uuid);
    Ok(created(&out))
}

fn issue_access(st: &Store, uuid: &str) -> Result<(), Response> {
    let i = st.issues.get(uuid).ok_or_else(not_found)?;
    let di = st.dataset_by_full_name(&i.dataset).ok_or_else(not_found)?;
    check_access(st, di, Access::Label)
}

fn update_issue(emu: &SegmentsEmulator, uuid: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let description = optional_str(&b, "description")?;
    let status = match b.get("status") {
        None | Some(Value::Null) => None,
        Some(v) => Some(valid_issue_status(v)?),
    };
    let anchor = valid_anchor(b.get("anchor"))?;
    let mut st = emu.write();
    issue_access(&st, uuid)?;
    let Some(i) = st.issues.get_mut(uuid) else {
        return Err(not_found());
    };
    if let Some(d) = description {
        i.description = d;
    }
    if let Some(s) = status {
        i.status = s;
    }
    if let Some(a) = anchor {
        i.anchor = a;
    }
    i.updated_at = fmt_ts(Utc::now());
    i.updated_by = CALLER.to_owned();
    let out = match st.issues.get(uuid) {
        Some(i) => render_issue(&st, i),
        None => return Err(not_found()),
    };
    Ok(ok(&out))
}

fn delete_issue(emu: &SegmentsEmulator, uuid: &str) -> HResult {
    let mut st = emu.write();
    issue_access(&st, uuid)?;
    st.issues.remove(uuid);
    st.issue_order.retain(|u| u != uuid);
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------------
// Releases, workunits

fn list_releases(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let root = &emu.ctx.root_url;
    Ok(ok(&Value::Array(
        st.datasets[di]
            .releases
            .iter()
            .map(|r| r.render(root))
            .collect(),
    )))
}

fn get_release(emu: &SegmentsEmulator, owner: &str, name: &str, release: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let r = st.datasets[di].release(release).ok_or_else(not_found)?;
    Ok(ok(&r.render(&emu.ctx.root_url)))
}

/// The release file is built from the state at request time; it is served at once, but the
/// release reads `PENDING` (no URL) until it is "built".
fn create_release(emu: &SegmentsEmulator, owner: &str, name: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let release = required_str(&b, "name")?;
    let description = optional_str(&b, "description")?.unwrap_or_default();
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    if st.datasets[di].release(&release).is_some() {
        return Err(field_error(
            "name",
            "Release with this name already exists in this dataset.",
        ));
    }
    let file = st.release_file(&st.datasets[di], &release, &description);
    let uuid = st.uuid();
    let file_key = format!("releases/{uuid}.json");
    st.files.insert(
        file_key.clone(),
        StoredFile {
            bytes: Bytes::from(serde_json::to_vec(&file).unwrap_or_default()),
            content_type: "application/json",
        },
    );
    let rec = ReleaseRec {
        uuid,
        name: release,
        description,
        created_at: fmt_ts(Utc::now()),
        samples_count: st.datasets[di].samples.len(),
        ready_at: Instant::now() + RELEASE_BUILD_TIME,
        file_key,
    };
    let out = rec.render(&emu.ctx.root_url);
    st.datasets[di].releases.push(rec);
    Ok(created(&out))
}

fn delete_release(emu: &SegmentsEmulator, owner: &str, name: &str, release: &str) -> HResult {
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let ri = st.datasets[di]
        .releases
        .iter()
        .position(|r| r.name == release)
        .ok_or_else(not_found)?;
    let r = st.datasets[di].releases.remove(ri);
    st.files.remove(&r.file_key);
    Ok(no_content())
}

fn list_workunits(emu: &SegmentsEmulator, owner: &str, name: &str, q: &Query) -> HResult {
    let bound = |k: &str| -> Result<Option<chrono::DateTime<Utc>>, Response> {
        match q.get(k) {
            None => Ok(None),
            Some(v) => parse_time(v)
                .map(Some)
                .ok_or_else(|| field_error(k, format!("Enter a valid date/time ({v:?})."))),
        }
    };
    let (start, end) = (bound("start")?, bound("end")?);
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let mut units: Vec<_> = st.datasets[di]
        .workunits
        .iter()
        .enumerate()
        .filter(|(_, w)| start.is_none_or(|s| w.created >= s) && end.is_none_or(|e| w.created <= e))
        .collect();
    // Default newest first (the SDK always sends `sort=-created_at`).
    if q.get("sort").unwrap_or("-created_at").starts_with('-') {
        units.reverse();
    }
    let page = paginate(units, q)?;
    let metrics = q.flag("include_session_time_metrics");
    Ok(ok(&Value::Array(
        page.into_iter().map(|(_, w)| w.render(metrics)).collect(),
    )))
}

// ---------------------------------------------------------------------------------------------
// Assets and storage

fn create_asset(emu: &SegmentsEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let filename = optional_str(&b, "filename")?
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| "label.png".to_owned());
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| format!(".{e}"))
        .unwrap_or_default();
    let mut st = emu.write();
    let uuid = st.uuid();
    let key = format!("assets/{CALLER}/{uuid}{ext}");
    st.pending_uploads.insert(key.clone());
    let now = Utc::now();
    let root = &emu.ctx.root_url;
    Ok(created(&json!({
        "uuid": uuid,
        "filename": filename,
        "url": format!("{root}/storage/{key}"),
        "created_at": fmt_ts(now),
        "presignedPostFields": {
            "url": format!("{root}/storage/upload/"),
            "fields": {
                "acl": "public-read",
                "Content-Type": mime_of(&filename),
                "key": key,
                "x-amz-algorithm": "AWS4-HMAC-SHA256",
                "x-amz-credential": format!("EMULATOR/{}/eu-west-2/s3/aws4_request", now.format("%Y%m%d")),
                "x-amz-date": now.format("%Y%m%dT%H%M%SZ").to_string(),
                "policy": "eyJlbXVsYXRvciI6IHRydWV9",
                "x-amz-signature": "0000000000000000000000000000000000000000000000000000000000000000",
            },
        },
    })))
}

/// S3-like plain-text answers of the storage routes.
fn storage_error(status: u16, message: &str) -> Response {
    let mut r = Response::new(Body::from(message.to_owned()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// `/storage/…`, no authentication: `POST /storage/upload/` (the presigned POST of §2.4:
/// form fields then `file`; 204, empty), `GET /storage/<key>` (assets, release files).
async fn storage(
    emu: &SegmentsEmulator,
    method: &str,
    rest: &[&str],
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match (method, rest) {
        ("POST", ["upload"]) => {
            let body = match read_body(body, headers).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let parts = match parse_multipart(ct, &body) {
                Ok(p) => p,
                Err(e) => return storage_error(400, &format!("MalformedPOSTRequest: {e}")),
            };
            let field = |n: &str| parts.iter().find(|p| p.name == n);
            let Some(key) = field("key").and_then(|p| String::from_utf8(p.data.clone()).ok())
            else {
                return storage_error(400, "InvalidArgument: the form has no `key` field");
            };
            let Some(file) = field("file") else {
                return storage_error(400, "InvalidArgument: the form has no `file` part");
            };
            let mut st = emu.write();
            if !st.pending_uploads.remove(&key) {
                return storage_error(403, "AccessDenied: no upload was granted for this key");
            }
            st.files.insert(
                key.clone(),
                StoredFile {
                    bytes: Bytes::from(file.data.clone()),
                    content_type: mime_of(&key),
                },
            );
            no_content()
        }
        ("GET", key) if !key.is_empty() => {
            let key = key.join("/");
            let st = emu.read();
            match st.files.get(&key) {
                Some(f) => {
                    let mut r = Response::new(Body::from(f.bytes.clone()));
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(f.content_type),
                    );
                    r
                }
                None => storage_error(404, "NoSuchKey: The specified key does not exist."),
            }
        }
        _ => storage_error(405, "MethodNotAllowed"),
    }
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
        assert!(check_sample_attributes("vector", &json!({"image": {"url": "u"}})).is_ok());
        assert!(check_sample_attributes("vector", &json!({"pcd": {"url": "u"}})).is_err());
        assert!(check_sample_attributes(
            "pointcloud-cuboid",
            &json!({"pcd": {"url": "u", "type": "pcd"}})
        )
        .is_ok());
        assert!(check_sample_attributes(
            "image-vector-sequence",
            &json!({"frames": [{"image": {"url": "u"}}]})
        )
        .is_ok());
        let good = json!({"annotations": [{"id": 1, "category_id": 1, "type": "bbox", "points": [[1.0, 2.0], [3, 4]]}]});
        assert!(check_label_attributes("bboxes", &good).is_ok());
        let bad = json!({"annotations": [{"id": 1, "category_id": 1, "type": "circle", "points": [[1, 2]]}]});
        assert!(check_label_attributes("bboxes", &bad).is_err());
        assert!(check_label_attributes("segmentation-bitmap", &good).is_err());
        assert!(check_label_attributes("image-vector-sequence", &json!({"frames": []})).is_ok());
        assert!(check_label_attributes("vector", &json!([])).is_err());
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
