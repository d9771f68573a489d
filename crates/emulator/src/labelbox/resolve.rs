//! The resolvers of the Labelbox emulator: every root field of `labelbox-schema.graphql` and
//! the computed fields of its object types, against the [`Store`].

use super::export;
use super::graphql::{FieldResult, GqlError, OpKind, Resolver};
use super::state::{
    fmt_ts, now_ms, parse_time, Obj, Store, TaskOutput, WebhookRec, WorkState, QUEUES,
    TAG_SCHEMA_ID,
};
use serde_json::{json, Value};

/// Path of uploaded files (served without auth, like pre-signed URLs).
pub(crate) const FILES_PATH: &str = "/lb-files/";
/// Path of export chunks (served without auth).
pub(crate) const EXPORT_PATH: &str = "/lb-export/";

/// Largest batch (§3.4).
const MAX_BATCH_ROWS: usize = 100_000;

/// Request-scoped resolver: the store (locked for the whole request) and the upload part.
pub(crate) struct Exec<'a> {
    pub st: &'a mut Store,
    pub root_url: &'a str,
    /// The file part of a multipart `uploadFile` request.
    pub upload: Option<Vec<u8>>,
}

fn not_found(what: &str, id: &str) -> GqlError {
    GqlError::new("RESOURCE_NOT_FOUND", format!("{what} not found: {id}"))
}

/// A client error the way Labelbox labels many: `INTERNAL_SERVER_ERROR` with status 400.
fn bad_request(message: impl Into<String>) -> GqlError {
    let mut e = GqlError::new("INTERNAL_SERVER_ERROR", message);
    e.status = Some(400);
    e
}

fn malformed(message: impl Into<String>) -> GqlError {
    GqlError::new("MALFORMED_REQUEST", message)
}

fn s<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn where_id(args: &Obj) -> &str {
    args.get("where")
        .and_then(|w| w.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn skip_first(args: &Obj, default_first: usize) -> (usize, usize) {
    let n = |k: &str| {
        args.get(k)
            .and_then(Value::as_u64)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    (n("skip").unwrap_or(0), n("first").unwrap_or(default_first))
}

/// Prisma-style `where` on a rendered object: equality of every plain key, `AND` lists,
/// `deleted` against the record's flag.
fn where_matches(w: Option<&Value>, obj: &Value, deleted: bool) -> bool {
    let Some(Value::Object(w)) = w else {
        return true;
    };
    w.iter().all(|(k, v)| match k.as_str() {
        "AND" => v
            .as_array()
            .is_none_or(|items| items.iter().all(|i| where_matches(Some(i), obj, deleted))),
        "deleted" => v.as_bool().is_none_or(|d| d == deleted),
        _ if v.is_null() => true,
        _ => obj.get(k) == Some(v),
    })
}

fn page<T: Clone>(items: Vec<T>, skip: usize, first: usize) -> Vec<T> {
    items.into_iter().skip(skip).take(first).collect()
}

impl Exec<'_> {
    fn project_idx(&self, id: &str) -> Result<usize, GqlError> {
        self.st.project(id).ok_or_else(|| not_found("Project", id))
    }

    fn file_url(&self, token: &str) -> String {
        format!("{}{FILES_PATH}{token}", self.root_url)
    }

    /// The bytes behind a URL this emulator handed out.
    fn read_file(&self, url: &str) -> Option<&Vec<u8>> {
        let token = url.split(FILES_PATH).nth(1)?;
        let token = token.split('?').next().unwrap_or(token);
        self.st.files.get(token)
    }

    fn task_json(&self, t: usize) -> Value {
        self.st.tasks[t].render(now_ms())
    }

    /// Rows named by ids or global keys: (resolved rows in order, names not found).
    fn resolve_rows(&self, ids: &[String], gkeys: &[String]) -> (Vec<usize>, Vec<String>) {
        let mut rows = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.st.row(id) {
                Some(r) => rows.push(r),
                None => missing.push(id.clone()),
            }
        }
        for k in gkeys {
            match self.st.gkeys.get(k) {
                Some(&r) => rows.push(r),
                None => missing.push(k.clone()),
            }
        }
        (rows, missing)
    }

    fn check_batch_name(&self, p: usize, name: &str) -> Result<(), GqlError> {
        if name.trim().is_empty() {
            return Err(bad_request("Batch name must not be empty"));
        }
        if self
            .st
            .batches
            .iter()
            .any(|b| b.project == p && !b.deleted && b.name == name)
        {
            return Err(GqlError::new(
                "RESOURCE_CONFLICT",
                format!("Batch with name {name} already exists in this project"),
            ));
        }
        Ok(())
    }

    fn priority(v: Option<&Value>) -> Result<i64, GqlError> {
        match v.and_then(Value::as_i64) {
            Some(p) if (1..=5).contains(&p) => Ok(p),
            Some(p) => Err(bad_request(format!(
                "Priority must be an integer between 1 and 5, got {p}"
            ))),
            None => Ok(5),
        }
    }

    fn consensus(v: Option<&Value>) -> Option<Value> {
        v.filter(|c| !c.is_null()).map(|c| {
            json!({"numberOfLabels": c.get("numberOfLabels"), "coveragePercentage": c.get("coveragePercentage")})
        })
    }

    // -----------------------------------------------------------------------------------------
    // Query roots

    fn query(&mut self, field: &str, args: &Obj) -> FieldResult {
        let st = &mut *self.st;
        match field {
            "user" => {
                let id = where_id(args);
                if !id.is_empty() && id != st.user_id {
                    return Ok(Value::Null);
                }
                Ok(json!({
                    "id": st.user_id, "email": "emulator@emulator.invalid", "name": "Emulator User",
                    "nickname": "emulator", "picture": null, "isViewer": false, "isExternalUser": false,
                    "timezone": null, "createdAt": fmt_ts(st.user_created),
                    "updatedAt": fmt_ts(st.user_created), "lastLoginAt": fmt_ts(st.user_created),
                }))
            }
            "organization" => Ok(json!({
                "id": st.org_id, "name": "Emulator organization",
                "createdAt": fmt_ts(st.user_created), "updatedAt": fmt_ts(st.user_created),
            })),
            "project" => Ok(st
                .project(where_id(args))
                .map_or(Value::Null, |p| st.projects[p].render())),
            "projects" => {
                let (skip, first) = skip_first(args, 100);
                let items: Vec<Value> = st
                    .projects
                    .iter()
                    .map(|p| (p.render(), p.deleted))
                    .filter(|(v, d)| where_matches(args.get("where"), v, *d))
                    .map(|(v, _)| v)
                    .collect();
                Ok(Value::Array(page(items, skip, first)))
            }
            "dataset" => Ok(st
                .dataset(where_id(args))
                .map_or(Value::Null, |d| st.render_dataset(d))),
            "datasets" => {
                let (skip, first) = skip_first(args, 100);
                let items: Vec<Value> = (0..st.datasets.len())
                    .map(|d| (st.render_dataset(d), st.datasets[d].deleted))
                    .filter(|(v, d)| where_matches(args.get("where"), v, *d))
                    .map(|(v, _)| v)
                    .collect();
                Ok(Value::Array(page(items, skip, first)))
            }
            "dataRow" => Ok(st
                .row(where_id(args))
                .map_or(Value::Null, |r| st.rows[r].render())),
            "datasetDataRows" => self.dataset_data_rows(args),
            "dataRowsForGlobalKeys" => {
                let keys = strings(args.get("where").and_then(|w| w.get("ids")));
                let id = st.new_id();
                st.gk_jobs.insert(id.clone(), keys);
                Ok(json!({"jobId": id}))
            }
            "dataRowsForGlobalKeysResult" => {
                let job = s(args.get("jobId").unwrap_or(&Value::Null), "id").unwrap_or("");
                let keys = st
                    .gk_jobs
                    .get(job)
                    .cloned()
                    .ok_or_else(|| not_found("Job", job))?;
                let mut fetched = Vec::new();
                let mut missing = Vec::new();
                for k in &keys {
                    match st.gkeys.get(k) {
                        Some(&r) => fetched.push(json!({"id": st.rows[r].id})),
                        None => {
                            fetched.push(json!({"id": ""}));
                            missing.push(k.clone());
                        }
                    }
                }
                Ok(json!({"jobStatus": "COMPLETE", "data": {
                    "fetchedDataRows": fetched, "notFoundGlobalKeys": missing, "accessDeniedGlobalKeys": []}}))
            }
            "queryAllDataRowsHaveBeenProcessed" => {
                let ids = strings(args.get("dataRowIds"));
                let keys = strings(args.get("globalKeys"));
                let (rows, _) = self.resolve_rows(&ids, &keys);
                let delay = i64::try_from(self.st.settings.processing_delay_ms).unwrap_or(0);
                let now = now_ms();
                let done = rows
                    .iter()
                    .all(|&r| self.st.rows[r].created_at + delay <= now);
                Ok(json!({"allDataRowsHaveBeenProcessed": done}))
            }
            "successesfulDataRowImports" | "failedDataRowImports" => {
                let data = args.get("data").cloned().unwrap_or(Value::Null);
                let task_id = s(&data, "taskId").unwrap_or("");
                let t = *st
                    .task_idx
                    .get(task_id)
                    .ok_or_else(|| not_found("Task", task_id))?;
                let first = data
                    .get("first")
                    .and_then(Value::as_u64)
                    .unwrap_or(5000)
                    .max(1) as usize;
                let from = s(&data, "from")
                    .and_then(|f| f.parse::<usize>().ok())
                    .unwrap_or(0);
                let (items, key): (Vec<Value>, &str) = match &st.tasks[t].output {
                    TaskOutput::Upsert { created, failed } => {
                        if field == "failedDataRowImports" {
                            (failed.clone(), "results")
                        } else {
                            (
                                created
                                    .iter()
                                    .map(|&r| {
                                        let row = &st.rows[r];
                                        json!({"id": row.id, "externalId": row.external_id,
                                               "globalKey": row.global_key, "rowData": row.row_data})
                                    })
                                    .collect(),
                                "nodes",
                            )
                        }
                    }
                    _ => (
                        Vec::new(),
                        if field == "failedDataRowImports" {
                            "results"
                        } else {
                            "nodes"
                        },
                    ),
                };
                let total = items.len();
                let next = from + first;
                let slice: Vec<Value> = items.into_iter().skip(from).take(first).collect();
                Ok(json!({key: slice, "total": total,
                          "after": if next < total { Some(next.to_string()) } else { None }}))
            }
            "task" => {
                let id = where_id(args);
                Ok(st
                    .task_idx
                    .get(id)
                    .map_or(Value::Null, |&t| st.tasks[t].render(now_ms())))
            }
            "labelVersions" => self.label_versions(args),
            "labelVersion" => {
                let id = where_id(args);
                Ok(st
                    .versions
                    .iter()
                    .position(|v| v.id == id)
                    .map_or(Value::Null, |v| self.render_version(v)))
            }
            "customMetadataOntology" => Ok(json!([{
                "id": TAG_SCHEMA_ID, "name": "tag", "kind": "CustomMetadataString",
                "reserved": true, "options": null,
            }])),
            "ontology" => Ok(st
                .ontology_idx
                .get(where_id(args))
                .filter(|&&o| !st.ontologies[o].deleted)
                .map_or(Value::Null, |&o| st.ontologies[o].render())),
            "labelingFrontends" => {
                let editor = json!({"id": st.frontend_id, "name": "Editor",
                    "description": "Labelbox editor", "iframeUrlPath": "https://editor.labelbox.com"});
                let keep = where_matches(args.get("where"), &editor, false);
                Ok(json!(if keep { vec![editor] } else { Vec::new() }))
            }
            "projectWorkflow" => {
                let pid = args.get("projectId").and_then(Value::as_str).unwrap_or("");
                let p = self.project_idx(pid)?;
                let proj = &self.st.projects[p];
                Ok(json!({
                    "projectId": proj.id, "createdAt": fmt_ts(proj.created_at), "updatedAt": fmt_ts(proj.updated_at),
                    "config": {
                        "nodes": [
                            {"id": "n1", "definitionId": "initial_labeling_task", "label": QUEUES[0].1},
                            {"id": "n2", "definitionId": "initial_rework_task", "label": QUEUES[2].1},
                            {"id": "n3", "definitionId": "review_task", "label": QUEUES[1].1},
                            {"id": "n4", "definitionId": "done", "label": "Done"},
                            {"id": "n5", "definitionId": "send_to_rework", "label": "Send to rework"}
                        ],
                        "edges": [
                            {"id": "e1", "source": "n1", "sourceHandle": "if", "target": "n3", "targetHandle": "in"},
                            {"id": "e2", "source": "n2", "sourceHandle": "if", "target": "n3", "targetHandle": "in"},
                            {"id": "e3", "source": "n3", "sourceHandle": "if", "target": "n4", "targetHandle": "in"},
                            {"id": "e4", "source": "n3", "sourceHandle": "else", "target": "n5", "targetHandle": "in"}
                        ]
                    }
                }))
            }
            "cancelableTaskTypes" => Ok(json!(["advUpsertDataRows", "exportDataRows"])),
            other => Err(GqlError::new(
                "INTERNAL_SERVER_ERROR",
                format!("The emulator does not resolve Query.{other}"),
            )),
        }
    }

    fn dataset_data_rows(&mut self, args: &Obj) -> FieldResult {
        let st = &*self.st;
        let id = args.get("id").and_then(Value::as_str).unwrap_or("");
        let Some(d) = st.dataset(id) else {
            return Err(not_found("Dataset", id));
        };
        let first = args
            .get("first")
            .and_then(Value::as_u64)
            .unwrap_or(500)
            .clamp(1, 1000) as usize;
        let w = args.get("where").filter(|w| !w.is_null());
        // Newest first; `from` is the id of the first row of the page (inclusive).
        let rows: Vec<usize> = (0..st.rows.len())
            .rev()
            .filter(|&r| {
                let row = &st.rows[r];
                row.dataset == d
                    && !row.deleted
                    && w.is_none_or(|w| {
                        s(w, "externalId").is_none_or(|e| row.external_id.as_deref() == Some(e))
                            && s(w, "globalKey")
                                .is_none_or(|g| row.global_key.as_deref() == Some(g))
                    })
            })
            .collect();
        let start = match args.get("from").and_then(Value::as_str) {
            Some(from) if !from.is_empty() => rows
                .iter()
                .position(|&r| st.rows[r].id == from)
                .unwrap_or(rows.len()),
            _ => 0,
        };
        let end = (start + first).min(rows.len());
        let nodes: Vec<Value> = rows[start..end]
            .iter()
            .map(|&r| st.rows[r].render())
            .collect();
        let next = rows.get(end).map(|&r| st.rows[r].id.clone());
        Ok(
            json!({"nodes": nodes, "pageInfo": {"hasNextPage": next.is_some(), "startCursor": next}}),
        )
    }

    fn render_version(&self, v: usize) -> Value {
        let st = &*self.st;
        let ver = &st.versions[v];
        let label = &st.labels[ver.label];
        let proj = &st.projects[label.project];
        let annotations = label.annotations.value();
        let count = annotations["objects"].as_array().map_or(0, Vec::len)
            + annotations["classifications"]
                .as_array()
                .map_or(0, Vec::len);
        json!({
            "id": ver.id, "labelId": label.id, "dataRowId": st.rows[label.row].id, "projectId": proj.id,
            "action": ver.action, "createdAt": fmt_ts(ver.created_at), "createdById": st.user_id,
            "stage": ver.stage.map(|q| json!({"taskQueueId": proj.queues[q].id, "name": QUEUES[q].1, "type": QUEUES[q].0})),
            "annotationCount": count,
            "label": label.annotations.to_string(),
            "labelJson": label.annotations,
        })
    }

    fn label_versions(&mut self, args: &Obj) -> FieldResult {
        let w = args.get("where").cloned().unwrap_or(Value::Null);
        let pid = s(&w, "projectId").unwrap_or("");
        let p = self.project_idx(pid)?;
        let time = |k: &str| -> Result<Option<i64>, GqlError> {
            match s(&w, k) {
                None => Ok(None),
                Some(t) => parse_time(t)
                    .map(Some)
                    .ok_or_else(|| bad_request(format!("Invalid {k}: {t}"))),
            }
        };
        let after = time("createdAfter")?;
        let before = time("createdBefore")?;
        let first = args
            .get("first")
            .and_then(Value::as_u64)
            .unwrap_or(100)
            .clamp(1, 100) as usize;
        let from = args
            .get("after")
            .and_then(Value::as_str)
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0);
        let st = &*self.st;
        let matching: Vec<usize> = (0..st.versions.len())
            .filter(|&v| {
                let ver = &st.versions[v];
                let label = &st.labels[ver.label];
                label.project == p
                    && after.is_none_or(|a| ver.created_at >= a)
                    && before.is_none_or(|b| ver.created_at < b)
                    && s(&w, "labelId").is_none_or(|l| label.id == l)
                    && s(&w, "dataRowId").is_none_or(|d| st.rows[label.row].id == d)
                    && s(&w, "createdById").is_none_or(|u| st.user_id == u)
            })
            .collect();
        let end = (from + first).min(matching.len());
        let nodes: Vec<Value> = matching
            .get(from.min(end)..end)
            .unwrap_or(&[])
            .iter()
            .map(|&v| self.render_version(v))
            .collect();
        let next = (end < matching.len()).then(|| end.to_string());
        Ok(json!({"nodes": nodes, "nextCursor": next}))
    }

    // -----------------------------------------------------------------------------------------
    // Mutation roots

    fn mutation(&mut self, field: &str, args: &Obj) -> FieldResult {
        let data = args.get("data").cloned().unwrap_or(Value::Null);
        match field {
            "uploadFile" => {
                let bytes = self.upload.take().ok_or_else(|| {
                    bad_request("uploadFile needs a GraphQL multipart request with the file part")
                })?;
                let token = self.st.new_id();
                self.st.files.insert(token.clone(), bytes);
                Ok(json!({"url": self.file_url(&token), "filename": token}))
            }
            "createProject" => {
                let name = s(&data, "name").unwrap_or("");
                if name.trim().is_empty() {
                    return Err(bad_request("Project name must not be blank"));
                }
                let p = self.st.create_project(
                    None,
                    name,
                    s(&data, "description").unwrap_or(""),
                    s(&data, "allowedMediaType").map(str::to_owned),
                );
                let rec = &mut self.st.projects[p];
                if let Some(n) = data.get("autoAuditNumberOfLabels").and_then(Value::as_i64) {
                    rec.audit_labels = n;
                }
                if let Some(n) = data.get("autoAuditPercentage").and_then(Value::as_f64) {
                    rec.audit_percentage = n;
                }
                if let Some(b) = data.get("isBenchmarkEnabled").and_then(Value::as_bool) {
                    rec.benchmark = b;
                }
                if let Some(b) = data.get("isConsensusEnabled").and_then(Value::as_bool) {
                    rec.consensus = b;
                }
                Ok(rec.render())
            }
            "updateProject" => {
                let p = self.project_idx(where_id(args))?;
                let fe = data
                    .pointer("/labelingFrontend/connect/id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let now = now_ms();
                let rec = &mut self.st.projects[p];
                if let Some(n) = s(&data, "name") {
                    rec.name = n.to_owned();
                }
                if let Some(d) = s(&data, "description") {
                    rec.description = d.to_owned();
                }
                if data.get("deleted").and_then(Value::as_bool) == Some(true) {
                    rec.deleted = true;
                }
                if let Some(fe) = fe {
                    rec.frontend = Some(fe);
                }
                rec.updated_at = now;
                Ok(rec.render())
            }
            "createDataset" => {
                let name = s(&data, "name").unwrap_or("");
                let d = self
                    .st
                    .create_dataset(name, s(&data, "description").unwrap_or(""));
                Ok(self.st.render_dataset(d))
            }
            "updateDataset" => {
                let id = where_id(args);
                let d = self
                    .st
                    .dataset(id)
                    .ok_or_else(|| not_found("Dataset", id))?;
                if data.get("deleted").and_then(Value::as_bool) == Some(true) {
                    self.st.datasets[d].deleted = true;
                    let rows: Vec<usize> = (0..self.st.rows.len())
                        .filter(|&r| self.st.rows[r].dataset == d && !self.st.rows[r].deleted)
                        .collect();
                    for r in rows {
                        self.st.delete_row(r);
                    }
                }
                let rec = &mut self.st.datasets[d];
                if let Some(n) = s(&data, "name") {
                    rec.name = n.to_owned();
                }
                if let Some(n) = s(&data, "description") {
                    rec.description = n.to_owned();
                }
                rec.updated_at = now_ms();
                Ok(self.st.render_dataset(d))
            }
            "upsertDataRows" => self.upsert_data_rows(&data),
            "project" => {
                let p = self.project_idx(where_id(args))?;
                Ok(json!({"id": self.st.projects[p].id}))
            }
            "exportDataRowsInProject" | "exportDataRowsInCatalog" => {
                let input = args.get("input").cloned().unwrap_or(Value::Null);
                let filters = input.get("filters").cloned().unwrap_or(Value::Null);
                let project = match s(&filters, "projectId") {
                    Some(pid) => Some(self.project_idx(pid)?),
                    None if field == "exportDataRowsInProject" => {
                        return Err(bad_request("filters.projectId is required"))
                    }
                    None => None,
                };
                let params = input.get("params").cloned().unwrap_or(Value::Null);
                let name = s(&input, "taskName").unwrap_or("Export v2").to_owned();
                let (result, line_ends) =
                    export::build(self.st, project, &filters, &params).map_err(bad_request)?;
                let t = self.st.new_task(
                    &name,
                    "export-data-rows",
                    "COMPLETE",
                    None,
                    TaskOutput::Export { result, line_ends },
                );
                Ok(json!({"taskId": self.st.tasks[t].id, "isStreamable": true}))
            }
            "createWebhook" => {
                let url = s(&data, "url").unwrap_or("").to_owned();
                if url.is_empty() {
                    return Err(bad_request("Webhook url is required"));
                }
                let project = data
                    .pointer("/project/id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let Some(p) = &project {
                    self.project_idx(p)?;
                }
                let now = now_ms();
                let id = self.st.new_id();
                let w = WebhookRec {
                    id,
                    project,
                    url,
                    secret: s(&data, "secret").unwrap_or("").to_owned(),
                    topics: strings(data.pointer("/topics/set")),
                    status: "ACTIVE".to_owned(),
                    created_at: now,
                    updated_at: now,
                };
                let out = w.render();
                self.st.webhooks.push(w);
                Ok(out)
            }
            "updateWebhook" => {
                let id = where_id(args).to_owned();
                let w = self
                    .st
                    .webhooks
                    .iter_mut()
                    .find(|w| w.id == id)
                    .ok_or_else(|| not_found("Webhook", &id))?;
                if let Some(u) = s(&data, "url") {
                    w.url = u.to_owned();
                }
                if let Some(st) = s(&data, "status") {
                    w.status = st.to_owned();
                }
                if data.pointer("/topics/set").is_some() {
                    w.topics = strings(data.pointer("/topics/set"));
                }
                w.updated_at = now_ms();
                Ok(w.render())
            }
            "upsertOntology" => {
                let raw = s(&data, "normalized").unwrap_or("{}");
                let normalized: Value = serde_json::from_str(raw)
                    .map_err(|e| bad_request(format!("normalized is not valid JSON: {e}")))?;
                if !normalized.is_object() {
                    return Err(bad_request("normalized must be a JSON object"));
                }
                let o = self.st.upsert_ontology(
                    s(&data, "name").unwrap_or(""),
                    &normalized,
                    s(&data, "mediaType").map(str::to_owned),
                );
                Ok(self.st.ontologies[o].render())
            }
            "createLabelingFrontendOptions" => {
                let pid = data
                    .pointer("/project/connect/id")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.project_idx(pid)?;
                Ok(json!({"id": self.st.new_id(),
                          "customizationOptions": s(&data, "customizationOptions")}))
            }
            "cancelBulkOperationJob" => {
                let id = args.get("id").and_then(Value::as_str).unwrap_or("");
                let now = now_ms();
                let success = match self.st.task_idx.get(id) {
                    Some(&t) if self.st.tasks[t].status(now) == "IN_PROGRESS" => {
                        let task = &mut self.st.tasks[t];
                        task.outcome = "CANCELED";
                        task.ready_at = now;
                        true
                    }
                    _ => false,
                };
                Ok(json!({"success": success}))
            }
            "deleteLabels" => {
                let ids = strings(args.get("labelIds"));
                let mut out = Vec::new();
                for id in ids {
                    if let Some(&l) = self.st.label_idx.get(&id) {
                        self.st.labels[l].deleted = true;
                        out.push(json!({"id": id}));
                    }
                }
                Ok(Value::Array(out))
            }
            other => Err(GqlError::new(
                "INTERNAL_SERVER_ERROR",
                format!("The emulator does not resolve Mutation.{other}"),
            )),
        }
    }

    fn upsert_data_rows(&mut self, data: &Value) -> FieldResult {
        let manifest_url = s(data, "manifestUri").unwrap_or("");
        let specs: Result<Vec<Value>, String> = (|| {
            let manifest: Value = serde_json::from_slice(
                self.read_file(manifest_url)
                    .ok_or("the manifest URL is not a file uploaded to this server")?,
            )
            .map_err(|e| format!("the manifest is not JSON: {e}"))?;
            let mut specs = Vec::new();
            for uri in strings(manifest.get("chunk_uris")) {
                let chunk: Value = serde_json::from_slice(
                    self.read_file(&uri)
                        .ok_or("a chunk URL is not a file uploaded to this server")?,
                )
                .map_err(|e| format!("a chunk is not JSON: {e}"))?;
                match chunk {
                    Value::Array(items) => specs.extend(items),
                    _ => return Err("a chunk is not a JSON array of specs".to_owned()),
                }
            }
            Ok(specs)
        })();
        let t = match specs {
            Ok(specs) => {
                let (created, failed) = self.st.apply_specs(&specs);
                self.st.new_task(
                    "Upsert data rows",
                    "adv-upsert-data-rows",
                    "COMPLETE",
                    None,
                    TaskOutput::Upsert { created, failed },
                )
            }
            Err(e) => {
                // An upsert Task's `result` is a URL; the client reads `error` from that file.
                let token = self.st.new_id();
                let body = json!({"error": e}).to_string().into_bytes();
                self.st.files.insert(token.clone(), body);
                let url = self.file_url(&token);
                self.st.new_task(
                    "Upsert data rows",
                    "adv-upsert-data-rows",
                    "FAILED",
                    Some(url),
                    TaskOutput::None,
                )
            }
        };
        Ok(self.task_json(t))
    }

    // -----------------------------------------------------------------------------------------
    // ProjectMutations

    fn project_mutation(&mut self, pid: &str, field: &str, args: &Obj) -> FieldResult {
        let p = self.project_idx(pid)?;
        let input = args
            .get("input")
            .or(args.get("data"))
            .cloned()
            .unwrap_or(Value::Null);
        match field {
            "createBatchV2" => {
                let name = s(&input, "name").unwrap_or("");
                self.check_batch_name(p, name)?;
                let priority = Self::priority(input.get("priority"))?;
                let ids = strings(input.get("dataRowIds"));
                let keys = strings(input.get("globalKeys"));
                if ids.len() + keys.len() > MAX_BATCH_ROWS {
                    return Err(bad_request(format!(
                        "A batch can hold at most {MAX_BATCH_ROWS} data rows"
                    )));
                }
                let (rows, missing) = self.resolve_rows(&ids, &keys);
                let (addable, in_project): (Vec<usize>, Vec<usize>) = rows
                    .iter()
                    .partition(|r| !self.st.projects[p].member_of.contains_key(r));
                if addable.is_empty() {
                    return Err(malformed(if !keys.is_empty() && rows.is_empty() {
                        format!(
                            "Data rows with the following global keys do not exist: {}.",
                            missing.join(", ")
                        )
                    } else if rows.is_empty() {
                        "No valid data rows to be added from the list provided!".to_owned()
                    } else {
                        "No valid data rows to add to project".to_owned()
                    }));
                }
                let consensus = Self::consensus(input.get("consensusSettings"));
                let b = self.st.create_batch(p, name, priority, consensus);
                self.st.add_rows_to_batch(b, &addable, priority);
                let mut failed = missing;
                failed.extend(in_project.iter().map(|&r| self.st.rows[r].id.clone()));
                Ok(json!({"batch": self.st.render_batch(b), "failedDataRowIds": failed}))
            }
            "createEmptyBatch" => {
                let name = s(&input, "name").unwrap_or("");
                self.check_batch_name(p, name)?;
                let consensus = Self::consensus(input.get("consensusSettings"));
                let b = self.st.create_batch(p, name, 5, consensus);
                Ok(json!({"id": self.st.batches[b].id}))
            }
            "addDataRowsToBatchAsync" => {
                let bid = s(&input, "batchId").unwrap_or("");
                let b = self
                    .st
                    .batch(p, bid)
                    .ok_or_else(|| not_found("Batch", bid))?;
                let priority = Self::priority(input.get("priority"))?;
                self.st.batches[b].priority = priority;
                let (rows, missing) = self.resolve_rows(
                    &strings(input.get("dataRowIds")),
                    &strings(input.get("globalKeys")),
                );
                let refused = self.st.add_rows_to_batch(b, &rows, priority);
                let t = if rows.len() > refused.len() {
                    self.st.new_task(
                        "Add data rows to batch",
                        "add-data-rows-to-batch",
                        "COMPLETE",
                        None,
                        TaskOutput::None,
                    )
                } else {
                    let msg = json!({"error": "No valid data rows to add to batch",
                                     "notFound": missing, "alreadyInProject": refused.len()});
                    self.st.new_task(
                        "Add data rows to batch",
                        "add-data-rows-to-batch",
                        "FAILED",
                        Some(msg.to_string()),
                        TaskOutput::None,
                    )
                };
                Ok(json!({"taskId": self.st.tasks[t].id}))
            }
            "createBatches" => {
                let prefix = s(&input, "batchNamePrefix").unwrap_or("batch").to_owned();
                let priority = Self::priority(input.get("priority"))?;
                let consensus = Self::consensus(input.get("consensusSettings"));
                let (rows, _) = self.resolve_rows(
                    &strings(input.get("dataRowIds")),
                    &strings(input.get("globalKeys")),
                );
                let mut tasks = Vec::new();
                for (i, chunk) in rows.chunks(MAX_BATCH_ROWS).enumerate() {
                    let name = format!("{prefix}{i:04}");
                    self.check_batch_name(p, &name)?;
                    let b = self.st.create_batch(p, &name, priority, consensus.clone());
                    self.st.add_rows_to_batch(b, chunk, priority);
                    let t = self.st.new_task(
                        "Create batch",
                        "add-data-rows-to-batch",
                        "COMPLETE",
                        None,
                        TaskOutput::None,
                    );
                    tasks.push(
                        json!({"batchUuid": self.st.batches[b].id, "taskId": self.st.tasks[t].id}),
                    );
                }
                Ok(json!({"tasks": tasks}))
            }
            "removeQueuedDataRowsFromBatch" | "deleteBatch" | "deleteBatchLabels" => {
                let bid = args.get("batchId").and_then(Value::as_str).unwrap_or("");
                let b = self
                    .st
                    .batch(p, bid)
                    .ok_or_else(|| not_found("Batch", bid))?;
                self.batch_removal(p, b, field)
            }
            "createBulkAddRowsToQueueTask" => {
                let queue = input.get("queueId").and_then(Value::as_str);
                let to = match queue {
                    None => WorkState::Done,
                    Some(q) => {
                        let i = self.st.projects[p]
                            .queues
                            .iter()
                            .position(|x| x.id == q)
                            .ok_or_else(|| not_found("Task queue", q))?;
                        WorkState::ALL
                            .into_iter()
                            .find(|s| s.queue() == Some(i))
                            .unwrap_or(WorkState::ToLabel)
                    }
                };
                let members = self.members_of(p, input.get("dataRowIdentifiers"));
                let now = now_ms();
                for &m in &members {
                    self.st.move_row(p, m, to, now);
                }
                let t = if members.is_empty() {
                    self.st.new_task(
                        "Send to task queue",
                        "send-to-task-queue",
                        "FAILED",
                        Some(
                            json!({"error": "None of the data rows is in the project"}).to_string(),
                        ),
                        TaskOutput::None,
                    )
                } else {
                    self.st.new_task(
                        "Send to task queue",
                        "send-to-task-queue",
                        "COMPLETE",
                        None,
                        TaskOutput::None,
                    )
                };
                Ok(json!({"taskId": self.st.tasks[t].id}))
            }
            "createQueuePriorityUpdateTask" => {
                let priority = input.get("priority").and_then(Value::as_i64).unwrap_or(5);
                let members = match input.get("dataRowIdentifiers").filter(|v| !v.is_null()) {
                    Some(ids) => self.members_of(p, Some(ids)),
                    None => (0..self.st.projects[p].members.len()).collect(),
                };
                for m in members {
                    self.st.projects[p].members[m].priority = priority;
                }
                let t = self.st.new_task(
                    "Update queue priority",
                    "update-queue-priority",
                    "COMPLETE",
                    None,
                    TaskOutput::None,
                );
                Ok(json!({"taskId": self.st.tasks[t].id}))
            }
            "connectOntology" => {
                let oid = args.get("ontologyId").and_then(Value::as_str).unwrap_or("");
                let o = *self
                    .st
                    .ontology_idx
                    .get(oid)
                    .ok_or_else(|| not_found("Ontology", oid))?;
                let now = now_ms();
                let rec = &mut self.st.projects[p];
                rec.ontology = Some(o);
                rec.setup_complete.get_or_insert(now);
                rec.updated_at = now;
                Ok(rec.render())
            }
            other => Err(GqlError::new(
                "INTERNAL_SERVER_ERROR",
                format!("The emulator does not resolve ProjectMutations.{other}"),
            )),
        }
    }

    /// Members of the project named by `{ids, idType: ID|GKEY}`.
    fn members_of(&self, p: usize, identifiers: Option<&Value>) -> Vec<usize> {
        let ids = strings(identifiers.and_then(|v| v.get("ids")));
        let by_key = identifiers.and_then(|v| s(v, "idType")) == Some("GKEY");
        let (rows, _) = if by_key {
            self.resolve_rows(&[], &ids)
        } else {
            self.resolve_rows(&ids, &[])
        };
        rows.iter()
            .filter_map(|r| self.st.projects[p].member_of.get(r).copied())
            .collect()
    }

    fn batch_removal(&mut self, p: usize, b: usize, field: &str) -> FieldResult {
        let st = &mut *self.st;
        let in_batch: Vec<usize> = (0..st.projects[p].members.len())
            .filter(|&m| st.projects[p].members[m].batch == b)
            .collect();
        let has_labels = |st: &Store, m: usize| {
            st.projects[p].members[m]
                .labels
                .iter()
                .any(|&l| !st.labels[l].deleted)
        };
        match field {
            "removeQueuedDataRowsFromBatch" => {
                let remove: Vec<usize> = in_batch
                    .into_iter()
                    .filter(|&m| {
                        st.projects[p].members[m].state == WorkState::ToLabel && !has_labels(st, m)
                    })
                    .collect();
                remove_members(st, p, &remove);
                Ok(json!({"id": st.batches[b].id}))
            }
            "deleteBatch" => {
                if in_batch.iter().any(|&m| has_labels(st, m)) {
                    return Err(bad_request(
                        "Cannot delete a batch whose data rows have labels; delete the labels first",
                    ));
                }
                remove_members(st, p, &in_batch);
                st.batches[b].deleted = true;
                Ok(json!({"deletedBatchId": st.batches[b].id}))
            }
            _ => {
                // Both requeue types delete the labels; templates are not emulated.
                let mut deleted = Vec::new();
                let now = now_ms();
                for m in in_batch {
                    for l in std::mem::take(&mut st.projects[p].members[m].labels) {
                        if !st.labels[l].deleted {
                            st.labels[l].deleted = true;
                            deleted.push(st.labels[l].id.clone());
                        }
                    }
                    st.move_row(p, m, WorkState::ToLabel, now);
                }
                Ok(json!({"deletedLabelIds": deleted}))
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Computed object fields

    fn project_field(&mut self, p: usize, field: &str, args: &Obj) -> FieldResult {
        let st = &*self.st;
        let proj = &st.projects[p];
        let live_labels = |m: &super::state::MemberRec| {
            m.labels.iter().filter(|&&l| !st.labels[l].deleted).count()
        };
        match field {
            "labelCount" => Ok(json!(proj.members.iter().map(live_labels).sum::<usize>())),
            "completedDataRowCount" => Ok(json!(proj
                .members
                .iter()
                .filter(|m| m.state == WorkState::Done)
                .count())),
            "labels" => {
                let (skip, first) = skip_first(args, 100);
                let items: Vec<Value> = st
                    .labels
                    .iter()
                    .filter(|l| l.project == p && !l.deleted)
                    .map(|l| {
                        json!({"id": l.id, "label": l.annotations.to_string(), "secondsToLabel": 12.0,
                               "agreement": null, "benchmarkAgreement": null, "isBenchmarkReference": false,
                               "createdAt": fmt_ts(l.created_at), "updatedAt": fmt_ts(l.updated_at)})
                    })
                    .collect();
                Ok(Value::Array(page(items, skip, first)))
            }
            "batches" => {
                let all: Vec<usize> = (0..st.batches.len())
                    .filter(|&b| st.batches[b].project == p && !st.batches[b].deleted)
                    .collect();
                if let Some(id) = args.get("where").and_then(|w| s(w, "id")) {
                    let nodes: Vec<Value> = all
                        .iter()
                        .filter(|&&b| st.batches[b].id == id)
                        .map(|&b| st.render_batch(b))
                        .collect();
                    return Ok(json!({"nodes": nodes, "pageInfo": {"endCursor": null}}));
                }
                let first = args
                    .get("first")
                    .and_then(Value::as_u64)
                    .unwrap_or(100)
                    .max(1) as usize;
                let start = match args.get("after").and_then(Value::as_str) {
                    Some(c) if !c.is_empty() => all
                        .iter()
                        .position(|&b| st.batches[b].id == c)
                        .map_or(all.len(), |i| i + 1),
                    _ => 0,
                };
                let end = (start + first).min(all.len());
                let nodes: Vec<Value> = all[start..end]
                    .iter()
                    .map(|&b| st.render_batch(b))
                    .collect();
                let cursor = (end < all.len()).then(|| st.batches[all[end - 1]].id.clone());
                Ok(json!({"nodes": nodes, "pageInfo": {"endCursor": cursor}}))
            }
            "taskQueues" => Ok(Value::Array(
                proj.queues
                    .iter()
                    .enumerate()
                    .map(|(i, q)| {
                        json!({"id": q.id, "name": q.name, "queueType": q.kind,
                               "description": format!("{} of the emulated workflow", q.name),
                               "_project": p, "_queue": i})
                    })
                    .collect(),
            )),
            "webhooks" => {
                let (skip, first) = skip_first(args, 100);
                let items: Vec<Value> = st
                    .webhooks
                    .iter()
                    .filter(|w| w.project.as_deref() == Some(proj.id.as_str()))
                    .map(WebhookRec::render)
                    .collect();
                Ok(Value::Array(page(items, skip, first)))
            }
            "labelingFrontend" => Ok(match &proj.frontend {
                Some(id) => json!({"id": id, "name": "Editor", "description": "Labelbox editor",
                                   "iframeUrlPath": "https://editor.labelbox.com"}),
                None => Value::Null,
            }),
            "ontology" => Ok(proj
                .ontology
                .map_or(Value::Null, |o| st.ontologies[o].render())),
            "workstreamStateCounts" => {
                let batch_ids = strings(args.get("batchIds"));
                let batches: Option<Vec<usize>> = args
                    .get("batchIds")
                    .filter(|v| !v.is_null())
                    .map(|_| batch_ids.iter().filter_map(|id| st.batch(p, id)).collect());
                let [to_label, review, rework, done] = st.state_counts(p, batches.as_deref());
                let labeled = review + rework + done;
                Ok(json!([
                    {"state": "Unlabeled", "count": to_label},
                    {"state": "InReview", "count": review},
                    {"state": "InRework", "count": rework},
                    {"state": "Skipped", "count": 0},
                    {"state": "Done", "count": done},
                    {"state": "Labeled", "count": labeled},
                    {"state": "All", "count": to_label + labeled},
                    {"state": "NotInTaskQueue", "count": done},
                ]))
            }
            "issues" => Ok(json!({"totalCount": 0})),
            _ => Err(GqlError::new(
                "INTERNAL_SERVER_ERROR",
                format!("The emulator does not resolve Project.{field}"),
            )),
        }
    }

    fn queue_count(&self, parent: &Value, args: &Obj) -> FieldResult {
        let (Some(p), Some(q)) = (
            parent.get("_project").and_then(Value::as_u64),
            parent.get("_queue").and_then(Value::as_u64),
        ) else {
            return Ok(Value::Null);
        };
        let (p, q) = (p as usize, q as usize);
        let st = &*self.st;
        // countInput.searchQuery.query may restrict to batches.
        let batch_filter: Option<Vec<usize>> = args
            .get("input")
            .and_then(|i| i.pointer("/searchQuery/query"))
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| s(i, "type") == Some("batch"))
                    .map(|i| {
                        strings(i.get("ids"))
                            .iter()
                            .filter_map(|id| st.batch(p, id))
                            .collect()
                    })
            });
        let n = st.projects[p]
            .members
            .iter()
            .filter(|m| m.state.queue() == Some(q))
            .filter(|m| batch_filter.as_ref().is_none_or(|b| b.contains(&m.batch)))
            .count();
        Ok(json!(n))
    }

    fn task_field(&self, parent: &Value, field: &str, args: &Obj) -> FieldResult {
        let id = s(parent, "id").unwrap_or("");
        let t = *self
            .st
            .task_idx
            .get(id)
            .ok_or_else(|| not_found("Task", id))?;
        let task = &self.st.tasks[t];
        let stream = args
            .get("streamType")
            .and_then(Value::as_str)
            .unwrap_or("RESULT");
        let (data, line_ends): (&[u8], &[usize]) = match (&task.output, stream) {
            (TaskOutput::Export { result, line_ends }, "RESULT") => (result, line_ends),
            _ => (&[], &[]),
        };
        match field {
            // An empty stream (and the ERRORS stream of a good export) has no header (§12.4).
            "exportMetadataHeader" => Ok(if data.is_empty() {
                Value::Null
            } else {
                json!({"totalSize": data.len(), "totalLines": line_ends.len()})
            }),
            _ => {
                let offset = match args.get("offset") {
                    Some(Value::String(o)) => o.trim().parse::<usize>().ok(),
                    Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
                    _ => None,
                }
                .ok_or_else(|| bad_request("offset must be a non-negative integer"))?;
                let Some(((start, end), (ls, le))) = export::chunk(data, line_ends, offset) else {
                    return Err(bad_request(format!(
                        "offset {offset} is out of range, the stream has {} bytes",
                        data.len()
                    )));
                };
                Ok(json!({
                    "offsets": {"start": start, "end": end},
                    "lines": {"start": ls, "end": le},
                    "file": format!("{}{EXPORT_PATH}{}/{stream}/{start}/{end}", self.root_url, task.id),
                }))
            }
        }
    }
}

/// Take rows out of the project (they may be batched again).
fn remove_members(st: &mut Store, p: usize, members: &[usize]) {
    if members.is_empty() {
        return;
    }
    let drop: std::collections::HashSet<usize> = members.iter().copied().collect();
    let proj = &mut st.projects[p];
    let mut keep = Vec::with_capacity(proj.members.len());
    for (i, m) in std::mem::take(&mut proj.members).into_iter().enumerate() {
        if !drop.contains(&i) {
            keep.push(m);
        }
    }
    proj.members = keep;
    proj.member_of = proj
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.row, i))
        .collect();
}

impl Resolver for Exec<'_> {
    fn root(&mut self, op: OpKind, field: &str, args: &Obj) -> FieldResult {
        match op {
            OpKind::Query => self.query(field, args),
            OpKind::Mutation => self.mutation(field, args),
        }
    }

    fn field(&mut self, ty: &str, parent: &Value, field: &str, args: &Obj) -> Option<FieldResult> {
        match (ty, field) {
            ("User", "createdTasks") => {
                let (skip, first) = skip_first(args, 100);
                let want = args.get("where").and_then(|w| s(w, "id"));
                let now = now_ms();
                let items: Vec<Value> = self
                    .st
                    .tasks
                    .iter()
                    .filter(|t| want.is_none_or(|id| t.id == id))
                    .map(|t| t.render(now))
                    .collect();
                Some(Ok(Value::Array(page(items, skip, first))))
            }
            ("Organization", "webhooks") => {
                let (skip, first) = skip_first(args, 100);
                let items: Vec<Value> = self.st.webhooks.iter().map(WebhookRec::render).collect();
                Some(Ok(Value::Array(page(items, skip, first))))
            }
            ("Project", f) if parent.get(f).is_none_or(Value::is_null) || !args.is_empty() => {
                let id = s(parent, "id").unwrap_or("");
                let p = self.st.project(id)?;
                matches!(
                    f,
                    "labelCount"
                        | "completedDataRowCount"
                        | "labels"
                        | "batches"
                        | "taskQueues"
                        | "webhooks"
                        | "labelingFrontend"
                        | "ontology"
                        | "workstreamStateCounts"
                        | "issues"
                )
                .then(|| self.project_field(p, f, args))
            }
            ("TaskQueue", "dataRowCount") => Some(self.queue_count(parent, args)),
            ("Task", "exportMetadataHeader" | "exportFileFromOffset") => {
                Some(self.task_field(parent, field, args))
            }
            ("ProjectMutations", f) => {
                let id = s(parent, "id").unwrap_or("").to_owned();
                Some(self.project_mutation(&id, f, args))
            }
            _ => None,
        }
    }
}
