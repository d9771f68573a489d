//! The Labelbox emulator (labelbox.md §15): GraphQL at `/graphql` and `/_gql` (same schema), the
//! GraphQL multipart upload, REST under `/api/v1`, unauthenticated file and export-chunk URLs,
//! async Tasks, and a labeling workflow (to label → in review → done, rework) driven by the
//! framework's lifecycle hooks. Emulator-only controls live under `/_labelbox/` (consensus per
//! project, Task and processing delays, injected GraphQL errors).

// Handlers return `Result<Response, Response>`: the error side is a ready-made HTTP answer.
#![allow(clippy::result_large_err)]

mod export;
mod graphql;
mod resolve;
mod state;

use crate::framework::multipart::form_parts;
use crate::framework::outbound::post_with_retries;
use crate::framework::{VendorContext, VendorEmulator};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use graphql::{GqlError, Obj};
use hmac::{Hmac, Mac};
use resolve::{Exec, EXPORT_PATH, FILES_PATH};
use serde_json::{json, Value};
use state::{Delivery, Settings, Store, TaskOutput, WorkState};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Largest request body (upload chunks are at most 10 MB, §9.2).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Requests per minute per key when rate limits are enforced (Starter plan, §3.4).
const RATE_LIMIT_PER_MIN: u32 = 5_000;

/// GraphQL errors injected into the next requests (`PUT /_labelbox/graphql-faults`).
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
struct GraphqlFault {
    /// `extensions.code`, e.g. `AUTHORIZATION_ERROR`, `RESOURCE_CONFLICT`,
    /// `INTERNAL_SERVER_ERROR`.
    code: String,
    /// `extensions.exception.status` (400, 422, 426, 500...), optional.
    status: Option<u16>,
    message: String,
    /// How many GraphQL requests get it.
    count: u32,
}

struct RateWindow {
    started: Instant,
    used: u32,
}

/// The Labelbox vendor emulator.
pub(crate) struct LabelboxEmulator {
    ctx: VendorContext,
    store: Arc<Mutex<Store>>,
    faults: Mutex<GraphqlFault>,
    rate: Mutex<RateWindow>,
    webhooks: Option<mpsc::UnboundedSender<Delivery>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the emulator down: use a poisoned lock anyway.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LabelboxEmulator {
    pub(crate) fn new(ctx: VendorContext) -> Self {
        let store = Arc::new(Mutex::new(Store::new(&ctx.projects)));
        // Webhooks go out from a background task of the runtime the emulator starts in.
        let webhooks = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Delivery>();
            rt.spawn(async move {
                while let Some(d) = rx.recv().await {
                    tokio::spawn(deliver_webhook(d));
                }
            });
            tx
        });
        LabelboxEmulator {
            ctx,
            store,
            faults: Mutex::new(GraphqlFault::default()),
            rate: Mutex::new(RateWindow {
                started: Instant::now(),
                used: 0,
            }),
            webhooks,
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Send the webhook deliveries the store queued.
    fn flush_webhooks(&self, st: &mut Store) {
        let pending = std::mem::take(&mut st.deliveries);
        if let Some(tx) = &self.webhooks {
            for d in pending {
                let _ = tx.send(d);
            }
        }
    }

    fn with_project<R>(&self, project: &str, f: impl FnOnce(&mut Store, usize) -> R) -> Option<R> {
        let mut st = self.store();
        let p = st.project(project)?;
        let r = f(&mut st, p);
        self.flush_webhooks(&mut st);
        Some(r)
    }

    fn over_rate_limit(&self) -> bool {
        if !self.ctx.enforce_rate_limits {
            return false;
        }
        let mut w = lock(&self.rate);
        if w.started.elapsed() >= Duration::from_secs(60) {
            w.started = Instant::now();
            w.used = 0;
        }
        w.used += 1;
        w.used > RATE_LIMIT_PER_MIN
    }
}

impl VendorEmulator for LabelboxEmulator {
    fn api_prefix(&self) -> &'static str {
        ""
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(dispatch).with_state(self)
    }

    fn error_response(&self, status: u16, message: &str) -> Response {
        if status == 429 {
            return json_response(
                429,
                &json!({"message": format!("You have exceeded the rate limit: {message}")}),
            );
        }
        json_response(status, &json!({"message": message}))
    }

    fn has_project(&self, project: &str) -> bool {
        self.store().project(project).is_some()
    }

    fn projects(&self) -> Vec<String> {
        self.store()
            .projects
            .iter()
            .filter(|p| !p.deleted)
            .map(|p| p.id.clone())
            .collect()
    }

    fn advance(&self, project: &str) -> usize {
        self.with_project(project, |st, p| st.advance(p))
            .unwrap_or(0)
    }

    fn complete_all(&self, project: &str) -> usize {
        self.with_project(project, |st, p| st.complete_all(p))
            .unwrap_or(0)
    }

    fn deliver_all(&self, project: &str) -> usize {
        self.with_project(project, |st, p| st.deliver_all(p))
            .unwrap_or(0)
    }

    /// Reviewers reject: `task` is a data row id or global key (a row in review or done);
    /// without it every row in review (labeled, not yet done) goes to the rework queue.
    fn reject(
        &self,
        project: &str,
        task: Option<&str>,
        _reasons: &[String],
    ) -> Result<usize, String> {
        self.with_project(project, |st, p| st.reject(p, task))
            .unwrap_or_else(|| Err(format!("no project {project}")))
    }

    /// Data rows with global keys `{prefix}{index:08}` in dataset `seed <project>`, batched
    /// into the project (to label).
    fn seed(&self, project: &str, count: usize, prefix: &str) -> Result<usize, String> {
        self.with_project(project, |st, p| st.seed_rows(p, count, prefix))
            .ok_or_else(|| format!("no project {project}"))
    }

    fn reset(&self) {
        let settings = self.store().settings.clone();
        let mut fresh = Store::new(&self.ctx.projects);
        fresh.settings = settings;
        *self.store() = fresh;
        *lock(&self.faults) = GraphqlFault::default();
    }

    /// Data rows in the project (batched).
    fn task_count(&self, project: &str) -> usize {
        let st = self.store();
        st.project(project)
            .map_or(0, |p| st.projects[p].members.len())
    }

    fn state_counts(&self, project: &str) -> BTreeMap<String, usize> {
        let st = self.store();
        let counts = st
            .project(project)
            .map_or([0; 4], |p| st.state_counts(p, None));
        WorkState::ALL
            .iter()
            .zip(counts)
            .map(|(s, n)| (s.wire().to_owned(), n))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn json_response(status: u16, value: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn gql_errors(status: u16, errors: &[GqlError]) -> Response {
    json_response(
        status,
        &json!({"errors": errors.iter().map(GqlError::to_json).collect::<Vec<_>>()}),
    )
}

fn bytes_response(data: Vec<u8>, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(data));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn rest_error(status: u16, message: impl Into<String>) -> Response {
    json_response(status, &json!({"message": message.into()}))
}

fn authorized(emu: &LabelboxEmulator, req: &Request) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .is_some_and(|k| k.trim() == emu.ctx.api_key)
}

async fn dispatch(State(emu): State<Arc<LabelboxEmulator>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if let Some(token) = path.strip_prefix(FILES_PATH) {
        return match emu.store().files.get(token) {
            Some(b) => bytes_response(b.clone(), "application/octet-stream"),
            None => rest_error(404, "No such file"),
        };
    }
    if let Some(rest) = path.strip_prefix(EXPORT_PATH) {
        return export_file(&emu, rest);
    }
    if let Some(op) = path.strip_prefix("/_labelbox/") {
        return emulator_control(&emu, op, req).await;
    }
    if emu.over_rate_limit() {
        return json_response(
            429,
            &json!({"message": "You have exceeded the rate limit of the emulated plan"}),
        );
    }
    let is_graphql = path == "/graphql" || path == "/_gql";
    if !authorized(&emu, &req) {
        return if is_graphql || !path.starts_with("/api/v1") {
            gql_errors(
                401,
                &[GqlError::new("AUTHENTICATION_ERROR", "Invalid API key")],
            )
        } else {
            rest_error(401, "Invalid API key")
        };
    }
    if is_graphql {
        if method != Method::POST {
            return gql_errors(
                405,
                &[GqlError::new(
                    "BAD_REQUEST",
                    "GraphQL requests must be POST",
                )],
            );
        }
        return graphql_request(&emu, req).await;
    }
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        return rest_request(&emu, &method, rest);
    }
    rest_error(404, format!("No route {method} {path}"))
}

/// Parse the JSON or multipart body and execute it.
async fn graphql_request(emu: &LabelboxEmulator, req: Request) -> Response {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("multipart/form-data"));
    let (body, upload) = if is_multipart {
        match read_multipart(req).await {
            Ok(x) => x,
            Err(r) => return r,
        }
    } else {
        match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(v) => (v, None),
                Err(e) => {
                    return gql_errors(
                        400,
                        &[GqlError::new(
                            "BAD_REQUEST",
                            format!("The body is not JSON: {e}"),
                        )],
                    )
                }
            },
            Err(e) => {
                return gql_errors(
                    400,
                    &[GqlError::new(
                        "BAD_REQUEST",
                        format!("Could not read the body: {e}"),
                    )],
                )
            }
        }
    };
    {
        let mut f = lock(&emu.faults);
        if f.count > 0 {
            f.count -= 1;
            let code: &'static str = match f.code.as_str() {
                "AUTHENTICATION_ERROR" => "AUTHENTICATION_ERROR",
                "AUTHORIZATION_ERROR" => "AUTHORIZATION_ERROR",
                "RESOURCE_CONFLICT" => "RESOURCE_CONFLICT",
                "RESOURCE_NOT_FOUND" => "RESOURCE_NOT_FOUND",
                "MALFORMED_REQUEST" => "MALFORMED_REQUEST",
                "OPERATION_NOT_ALLOWED" => "OPERATION_NOT_ALLOWED",
                "GRAPHQL_VALIDATION_FAILED" => "GRAPHQL_VALIDATION_FAILED",
                _ => "INTERNAL_SERVER_ERROR",
            };
            let mut e = GqlError::new(
                code,
                if f.message.is_empty() {
                    "Injected error"
                } else {
                    f.message.as_str()
                },
            );
            e.status = f.status;
            return gql_errors(200, &[e]);
        }
    }
    let query = body.get("query").and_then(Value::as_str).unwrap_or("");
    let variables: Obj = body
        .get("variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let op_name = body.get("operationName").and_then(Value::as_str);
    let mut st = emu.store();
    let outcome = {
        let mut exec = Exec {
            st: &mut st,
            root_url: &emu.ctx.root_url,
            upload,
        };
        graphql::execute(&mut exec, query, &variables, op_name)
    };
    emu.flush_webhooks(&mut st);
    drop(st);
    json_response(outcome.status, &outcome.body)
}

/// The GraphQL multipart request (§2.2): `operations`, `map`, and the file part named in
/// `map`. The part's file name and content type are ignored.
async fn read_multipart(req: Request) -> Result<(Value, Option<Vec<u8>>), Response> {
    let bad = |m: String| gql_errors(400, &[GqlError::new("BAD_REQUEST", m)]);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|e| bad(format!("Could not read the body: {e}")))?;
    let mut operations: Option<Value> = None;
    let mut map: Option<Value> = None;
    let mut parts: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for part in form_parts(&content_type, body)
        .await
        .map_err(|e| bad(format!("Invalid multipart request: {e}")))?
    {
        match part.name.as_str() {
            "operations" => {
                operations = Some(
                    serde_json::from_slice(&part.data)
                        .map_err(|e| bad(format!("`operations` is not JSON: {e}")))?,
                )
            }
            "map" => {
                map = Some(
                    serde_json::from_slice(&part.data)
                        .map_err(|e| bad(format!("`map` is not JSON: {e}")))?,
                )
            }
            _ => {
                parts.insert(part.name, part.data.to_vec());
            }
        }
    }
    let operations =
        operations.ok_or_else(|| bad("Missing multipart field `operations`".to_owned()))?;
    let map = map.ok_or_else(|| bad("Missing multipart field `map`".to_owned()))?;
    let mut operations = operations;
    let mut upload = None;
    if let Some(m) = map.as_object() {
        for (part, targets) in m {
            for target in targets.as_array().into_iter().flatten() {
                let Some(var) = target.as_str().and_then(|t| t.strip_prefix("variables.")) else {
                    continue;
                };
                upload = Some(
                    parts
                        .remove(part)
                        .ok_or_else(|| bad(format!("Missing multipart file part {part}")))?,
                );
                // The `Upload!` variable now stands for the part (it was sent as null).
                if let Some(vars) = operations
                    .get_mut("variables")
                    .and_then(Value::as_object_mut)
                {
                    vars.insert(var.to_owned(), json!(format!("multipart part {part}")));
                }
            }
        }
    }
    Ok((operations, upload))
}

/// `GET /lb-export/<task>/<stream>/<start>/<end>`: exactly the bytes of the chunk, no auth.
fn export_file(emu: &LabelboxEmulator, rest: &str) -> Response {
    let parts: Vec<&str> = rest.split('/').collect();
    let [task, stream, start, end] = parts.as_slice() else {
        return rest_error(404, "No such export file");
    };
    let (Ok(start), Ok(end)) = (start.parse::<usize>(), end.parse::<usize>()) else {
        return rest_error(404, "No such export file");
    };
    let st = emu.store();
    let Some(&t) = st.task_idx.get(*task) else {
        return rest_error(404, "No such export file");
    };
    match (&st.tasks[t].output, *stream) {
        (TaskOutput::Export { result, .. }, "RESULT") if start <= end && end < result.len() => {
            bytes_response(result[start..=end].to_vec(), "application/x-ndjson")
        }
        _ => rest_error(404, "No such export file"),
    }
}

/// REST routes of §14.
fn rest_request(emu: &LabelboxEmulator, method: &Method, rest: &str) -> Response {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let mut st = emu.store();
    match (method.as_str(), segs.as_slice()) {
        ("DELETE", ["ontologies", id]) => {
            let Some(&o) = st.ontology_idx.get(*id) else {
                return rest_error(404, format!("Ontology {id} not found"));
            };
            if st
                .projects
                .iter()
                .any(|p| !p.deleted && p.ontology == Some(o))
            {
                return rest_error(409, format!("Ontology {id} is used by a project"));
            }
            st.ontologies[o].deleted = true;
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        ("DELETE", ["feature-schemas", _id]) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        ("GET", ["ontologies", "unused"]) => {
            let used: Vec<usize> = st.projects.iter().filter_map(|p| p.ontology).collect();
            let ids: Vec<&str> = st
                .ontologies
                .iter()
                .enumerate()
                .filter(|(i, o)| !o.deleted && !used.contains(i))
                .map(|(_, o)| o.id.as_str())
                .collect();
            json_response(200, &json!(ids))
        }
        ("GET", ["export-results", task, _org]) => match st.task_idx.get(*task) {
            Some(&t) => match &st.tasks[t].output {
                TaskOutput::Export { result, .. } => {
                    bytes_response(result.clone(), "application/x-ndjson")
                }
                _ => rest_error(404, "Task has no export result"),
            },
            None => rest_error(404, format!("Task {task} not found")),
        },
        ("GET", ["export-errors", task, _org]) => match st.task_idx.get(*task) {
            Some(_) => bytes_response(Vec::new(), "application/x-ndjson"),
            None => rest_error(404, format!("Task {task} not found")),
        },
        _ => rest_error(404, format!("No route {method} /api/v1/{rest}")),
    }
}

#[derive(serde::Deserialize)]
struct ConsensusBody {
    /// Labels per data row; 1 or 0 switches consensus off (batch settings apply again).
    labels: u32,
}

/// Emulator-only controls (no key, not part of the Labelbox API):
/// `POST /_labelbox/consensus?project=P` `{"labels": N}`, `GET|PUT /_labelbox/settings`,
/// `PUT /_labelbox/graphql-faults`.
async fn emulator_control(emu: &LabelboxEmulator, op: &str, req: Request) -> Response {
    let query = req.uri().query().unwrap_or("").to_owned();
    let method = req.method().clone();
    let body = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => b,
        Err(e) => return rest_error(400, format!("Could not read the body: {e}")),
    };
    let parse = |b: &[u8]| -> Result<Value, Response> {
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(b).map_err(|e| rest_error(400, format!("The body is not JSON: {e}")))
    };
    match (method.as_str(), op) {
        ("POST", "consensus") => {
            let project = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "project")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let body = match parse(&body).and_then(|v| {
                serde_json::from_value::<ConsensusBody>(v)
                    .map_err(|e| rest_error(400, format!("Expected {{\"labels\": N}}: {e}")))
            }) {
                Ok(b) => b,
                Err(r) => return r,
            };
            let set = emu.with_project(&project, |st, p| {
                st.projects[p].consensus_labels = (body.labels > 1).then_some(body.labels.min(100));
            });
            match set {
                Some(()) => json_response(
                    200,
                    &json!({"project": project, "labels": body.labels.max(1)}),
                ),
                None => rest_error(404, format!("unknown project {project:?}")),
            }
        }
        ("GET", "settings") => json_response(200, &json!(emu.store().settings)),
        ("PUT", "settings") => match parse(&body).and_then(|v| {
            serde_json::from_value::<Settings>(v)
                .map_err(|e| rest_error(400, format!("Invalid settings: {e}")))
        }) {
            Ok(s) => {
                emu.store().settings = s.clone();
                json_response(200, &json!(s))
            }
            Err(r) => r,
        },
        ("PUT", "graphql-faults") => match parse(&body).and_then(|v| {
            serde_json::from_value::<GraphqlFault>(v)
                .map_err(|e| rest_error(400, format!("Invalid fault: {e}")))
        }) {
            Ok(f) => {
                *lock(&emu.faults) = f.clone();
                json_response(200, &json!(f))
            }
            Err(r) => r,
        },
        _ => rest_error(
            404,
            format!("unknown emulator control {method} /_labelbox/{op}"),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks (§13.3)

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(X-Hub-Signature, X-Hub-Signature-256)` of a body.
fn signatures(secret: &str, body: &[u8]) -> (String, String) {
    let sha1 = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).map(|mut m| {
        m.update(body);
        hex(&m.finalize().into_bytes())
    });
    let sha256 = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).map(|mut m| {
        m.update(body);
        hex(&m.finalize().into_bytes())
    });
    (
        format!("sha1={}", sha1.unwrap_or_default()),
        format!("sha256={}", sha256.unwrap_or_default()),
    )
}

async fn deliver_webhook(d: Delivery) {
    let body = serde_json::to_vec(&d.body).unwrap_or_default();
    let (sig1, sig256) = signatures(&d.secret, &body);
    let headers = [
        ("Content-Type", "application/json".to_owned()),
        ("X-Hub-Signature", sig1),
        ("X-Hub-Signature-256", sig256),
        ("X-Labelbox-Id", d.id.clone()),
        ("X-Labelbox-Event", d.topic.clone()),
    ];
    if !post_with_retries(&d.url, &headers, body, Duration::from_millis(200)).await {
        tracing::debug!(url = %d.url, "labelbox emulator: webhook not delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_hex() {
        // RFC 2202 / 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let (s1, s256) = signatures("Jefe", b"what do ya want for nothing?");
        assert_eq!(s1, "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        assert_eq!(
            s256,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
