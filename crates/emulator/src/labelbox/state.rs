//! The in-memory store of the Labelbox emulator: user and organization, projects with their
//! three task queues, ontologies, datasets and data rows (with the organization-wide global-key
//! index), batches, labels and label versions, async Tasks, uploaded files and webhooks; and the
//! labeling workflow (to label → in review → done; rework) that the lifecycle clock drives
//! (labelbox.md §4–§13).

use crate::framework::compact::CompactJson;
use crate::framework::drawing::{Drawing, BOX_CLASS, POINT_CLASS, POLYGON_CLASS};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// A JSON object.
pub(crate) type Obj = Map<String, Value>;

// GraphQL `DateTime` is `YYYY-MM-DDTHH:MM:SS.sssZ` (§2.1).
pub(crate) use crate::framework::time::{iso_millis_z as fmt_ts, now_ms};

/// Export timestamps use `+00:00`, not `Z` (§12.5).
pub(crate) fn fmt_export_ts(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// A time as sent in filters and `labelVersions`: RFC 3339 (`Z` or offset, with or without
/// fraction), `YYYY-MM-DDThh:mm:ss±hhmm`, `YYYY-MM-DD hh:mm:ss` or `YYYY-MM-DD` (UTC).
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp_millis());
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// Where a data row stands in a project's workflow (export `workflow_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WorkState {
    ToLabel,
    InReview,
    InRework,
    Done,
}

impl WorkState {
    /// The export's `workflow_status` value (and the emulator's state name).
    pub(crate) fn wire(self) -> &'static str {
        match self {
            WorkState::ToLabel => "TO_LABEL",
            WorkState::InReview => "IN_REVIEW",
            WorkState::InRework => "IN_REWORK",
            WorkState::Done => "DONE",
        }
    }

    /// Index of the task queue holding rows in this state (`None`: Done, no queue).
    pub(crate) fn queue(self) -> Option<usize> {
        match self {
            WorkState::ToLabel => Some(0),
            WorkState::InReview => Some(1),
            WorkState::InRework => Some(2),
            WorkState::Done => None,
        }
    }

    /// Every state, in workflow order.
    pub(crate) const ALL: [WorkState; 4] = [
        WorkState::ToLabel,
        WorkState::InReview,
        WorkState::InRework,
        WorkState::Done,
    ];
}

/// The three task queues of every project (§11.1), in [`WorkState::queue`] order.
pub(crate) const QUEUES: [(&str, &str); 3] = [
    ("INITIAL_LABELING_QUEUE", "Initial labeling task"),
    ("MANUAL_REVIEW_QUEUE", "Initial review task"),
    ("MANUAL_REWORK_QUEUE", "Rework"),
];

/// The reserved metadata schema every organization has (§9.6).
pub(crate) const TAG_SCHEMA_ID: &str = "cko8s9r5v0001h2dk9elqdidh";

pub(crate) struct QueueRec {
    pub id: String,
    pub kind: &'static str,
    pub name: &'static str,
}

/// A data row's membership in a project (added through a batch).
pub(crate) struct MemberRec {
    pub row: usize,
    pub batch: usize,
    pub state: WorkState,
    pub priority: i64,
    pub labels: Vec<usize>,
    pub last_activity: i64,
    /// Workflow history entries (export shape), as text: a million rows are held.
    pub history: Vec<CompactJson>,
    /// Consensus labels this row gets (1 = no consensus).
    pub expected_labels: u32,
}

pub(crate) struct ProjectRec {
    pub id: String,
    pub name: String,
    pub description: String,
    pub media_type: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_activity: Option<i64>,
    pub deleted: bool,
    pub audit_labels: i64,
    pub audit_percentage: f64,
    pub benchmark: bool,
    pub consensus: bool,
    pub ontology: Option<usize>,
    pub frontend: Option<String>,
    pub setup_complete: Option<i64>,
    pub queues: Vec<QueueRec>,
    pub members: Vec<MemberRec>,
    /// Data row index → member index.
    pub member_of: HashMap<usize, usize>,
    /// Labels per row forced by the emulator's consensus control (`None`: batch settings).
    pub consensus_labels: Option<u32>,
}

impl ProjectRec {
    pub(crate) fn render(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "createdAt": fmt_ts(self.created_at),
            "updatedAt": fmt_ts(self.updated_at),
            "lastActivityTime": fmt_ts(self.last_activity.unwrap_or(self.updated_at)),
            "setupComplete": self.setup_complete.map(fmt_ts),
            "allowedMediaType": self.media_type,
            "editorTaskType": null,
            "uploadType": null,
            "autoAuditNumberOfLabels": self.audit_labels,
            "autoAuditPercentage": self.audit_percentage,
            "isBenchmarkEnabled": self.benchmark,
            "isConsensusEnabled": self.consensus,
            "modelSetupComplete": false,
            "dataRowCount": self.members.len(),
        })
    }
}

pub(crate) struct OntologyRec {
    pub id: String,
    pub name: String,
    pub media_type: Option<String>,
    pub normalized: Value,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
}

impl OntologyRec {
    fn list_len(&self, key: &str) -> usize {
        self.normalized
            .get(key)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }

    pub(crate) fn render(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": null,
            "createdAt": fmt_ts(self.created_at),
            "updatedAt": fmt_ts(self.updated_at),
            "normalized": self.normalized,
            "objectSchemaCount": self.list_len("tools"),
            "classificationSchemaCount": self.list_len("classifications"),
            "mediaType": self.media_type,
        })
    }
}

pub(crate) struct DatasetRec {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
}

pub(crate) struct RowRec {
    pub id: String,
    pub dataset: usize,
    pub global_key: Option<String>,
    pub external_id: Option<String>,
    pub row_data: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
    pub metadata: Vec<Value>,
    pub attachments: Vec<Value>,
}

impl RowRec {
    pub(crate) fn media_attributes(&self) -> Value {
        let lower = self.row_data.to_ascii_lowercase();
        let mime = if lower.ends_with(".png") {
            "image/png"
        } else if lower.starts_with("http") {
            "image/jpeg"
        } else {
            "text/plain"
        };
        json!({"height": 1080, "width": 1920, "mimeType": mime})
    }

    /// The GraphQL `DataRow` object; `customMetadata` is `[]` without metadata (§9.4).
    pub(crate) fn render(&self) -> Value {
        let custom: Vec<Value> = self
            .metadata
            .iter()
            .map(|m| json!({"schemaId": m.get("schemaId"), "value": m.get("value")}))
            .collect();
        let fields: Vec<Value> = self
            .metadata
            .iter()
            .map(|m| {
                let tag = m.get("schemaId").and_then(Value::as_str) == Some(TAG_SCHEMA_ID);
                json!({"schemaId": m.get("schemaId"), "value": m.get("value"),
                       "name": if tag { json!("tag") } else { m.get("name").cloned().unwrap_or(Value::Null) },
                       "kind": "CustomMetadataString"})
            })
            .collect();
        json!({
            "id": self.id,
            "externalId": self.external_id,
            "globalKey": self.global_key,
            "rowData": self.row_data,
            "createdAt": fmt_ts(self.created_at),
            "updatedAt": fmt_ts(self.updated_at),
            "mediaAttributes": self.media_attributes(),
            "customMetadata": custom,
            "metadataFields": fields,
        })
    }
}

pub(crate) struct BatchRec {
    pub id: String,
    pub project: usize,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub consensus: Option<Value>,
    pub priority: i64,
    pub deleted: bool,
}

pub(crate) struct LabelRec {
    pub id: String,
    pub project: usize,
    pub row: usize,
    pub created_at: i64,
    pub updated_at: i64,
    pub content_updated_at: i64,
    /// `{"objects": [...], "classifications": [...], "relationships": []}` in export form, as
    /// text (a tree would take ~10 KB a label).
    pub annotations: CompactJson,
    pub deleted: bool,
    pub reviews: Vec<CompactJson>,
}

pub(crate) struct VersionRec {
    pub id: String,
    pub label: usize,
    pub action: &'static str,
    pub created_at: i64,
    pub stage: Option<usize>,
}

/// What a finished Task produced.
pub(crate) enum TaskOutput {
    None,
    Upsert {
        created: Vec<usize>,
        failed: Vec<Value>,
    },
    Export {
        result: Vec<u8>,
        /// Byte index of each line's `\n`.
        line_ends: Vec<usize>,
    },
}

pub(crate) struct TaskRec {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub created_at: i64,
    pub ready_at: i64,
    /// `COMPLETE` or `FAILED` once `ready_at` has passed.
    pub outcome: &'static str,
    /// Inline JSON error of a failed batch/queue Task (§4.2).
    pub result: Option<String>,
    pub output: TaskOutput,
}

impl TaskRec {
    pub(crate) fn status(&self, now: i64) -> &'static str {
        if now < self.ready_at {
            "IN_PROGRESS"
        } else {
            self.outcome
        }
    }

    pub(crate) fn render(&self, now: i64) -> Value {
        let status = self.status(now);
        let span = (self.ready_at - self.created_at).max(1) as f64;
        let done = if status == "IN_PROGRESS" {
            ((now - self.created_at) as f64 / span).clamp(0.0, 0.99)
        } else {
            1.0
        };
        json!({
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "status": status,
            "completionPercentage": done,
            "createdAt": fmt_ts(self.created_at),
            "updatedAt": fmt_ts(if status == "IN_PROGRESS" { self.created_at } else { self.ready_at }),
            "result": if status == "IN_PROGRESS" { None } else { self.result.clone() },
            // Must be null for a successful export (§4.2).
            "errors": null,
            "metadata": null,
        })
    }
}

pub(crate) struct WebhookRec {
    pub id: String,
    pub project: Option<String>,
    pub url: String,
    pub secret: String,
    pub topics: Vec<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl WebhookRec {
    pub(crate) fn render(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "topics": self.topics,
            "status": self.status,
            "createdAt": fmt_ts(self.created_at),
            "updatedAt": fmt_ts(self.updated_at),
        })
    }
}

/// A webhook delivery to send once the store lock is released.
pub(crate) struct Delivery {
    pub url: String,
    pub secret: String,
    pub topic: String,
    pub id: String,
    pub body: Value,
}

/// Emulator settings changed through `/_labelbox/settings`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Settings {
    /// How long a new Task stays `IN_PROGRESS`.
    pub task_delay_ms: u64,
    /// How long new data rows report `allDataRowsHaveBeenProcessed: false` (0: processed at
    /// once, which the SDK's 30 s polling needs, §10.1).
    pub processing_delay_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            task_delay_ms: 300,
            processing_delay_ms: 0,
        }
    }
}

pub(crate) struct Store {
    counter: u64,
    pub settings: Settings,
    pub user_id: String,
    pub user_created: i64,
    pub org_id: String,
    pub frontend_id: String,
    pub projects: Vec<ProjectRec>,
    pub project_idx: HashMap<String, usize>,
    pub ontologies: Vec<OntologyRec>,
    pub ontology_idx: HashMap<String, usize>,
    pub datasets: Vec<DatasetRec>,
    pub dataset_idx: HashMap<String, usize>,
    pub rows: Vec<RowRec>,
    pub row_idx: HashMap<String, usize>,
    /// Global key → row (live rows only: a deleted row frees its key).
    pub gkeys: HashMap<String, usize>,
    pub batches: Vec<BatchRec>,
    pub batch_idx: HashMap<String, usize>,
    pub labels: Vec<LabelRec>,
    pub label_idx: HashMap<String, usize>,
    pub versions: Vec<VersionRec>,
    pub tasks: Vec<TaskRec>,
    pub task_idx: HashMap<String, usize>,
    pub files: HashMap<String, Vec<u8>>,
    pub webhooks: Vec<WebhookRec>,
    pub gk_jobs: HashMap<String, Vec<String>>,
    pub deliveries: Vec<Delivery>,
}

/// Ids look like Labelbox CUIDs: 25 lowercase alphanumerics starting with `c` (§2.1).
fn cuid(counter: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut tail = String::with_capacity(12);
    let mut n = counter;
    for _ in 0..12 {
        tail.insert(0, ALPHABET[(n % 36) as usize] as char);
        n /= 36;
    }
    let head: String = (0..12)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect();
    format!("c{head}{tail}")
}

/// The ontology of seeded projects: one tool of each geometry and two classifications.
pub(crate) fn demo_ontology() -> Value {
    json!({
        "tools": [
            {"tool": "rectangle", "name": BOX_CLASS, "color": "#FF0000", "classifications": []},
            {"tool": "polygon", "name": POLYGON_CLASS, "color": "#00FF00", "classifications": []},
            {"tool": "point", "name": POINT_CLASS, "color": "#0000FF", "classifications": []}
        ],
        "classifications": [
            {"type": "radio", "name": "weather", "instructions": "weather",
             "options": [{"value": "sunny", "label": "sunny"}, {"value": "rainy", "label": "rainy"}]},
            {"type": "text", "name": "note", "instructions": "note"}
        ]
    })
}

impl Store {
    pub(crate) fn new(seeded: &[String]) -> Self {
        let mut st = Store {
            counter: 0,
            settings: Settings::default(),
            user_id: String::new(),
            user_created: now_ms(),
            org_id: String::new(),
            frontend_id: String::new(),
            projects: Vec::new(),
            project_idx: HashMap::new(),
            ontologies: Vec::new(),
            ontology_idx: HashMap::new(),
            datasets: Vec::new(),
            dataset_idx: HashMap::new(),
            rows: Vec::new(),
            row_idx: HashMap::new(),
            gkeys: HashMap::new(),
            batches: Vec::new(),
            batch_idx: HashMap::new(),
            labels: Vec::new(),
            label_idx: HashMap::new(),
            versions: Vec::new(),
            tasks: Vec::new(),
            task_idx: HashMap::new(),
            files: HashMap::new(),
            webhooks: Vec::new(),
            gk_jobs: HashMap::new(),
            deliveries: Vec::new(),
        };
        st.user_id = st.new_id();
        st.org_id = st.new_id();
        st.frontend_id = st.new_id();
        for id in seeded {
            let p = st.create_project(Some(id.clone()), id, "", Some("IMAGE".to_owned()));
            let ont =
                st.upsert_ontology("demo ontology", &demo_ontology(), Some("IMAGE".to_owned()));
            let fe = st.frontend_id.clone();
            let rec = &mut st.projects[p];
            rec.ontology = Some(ont);
            rec.frontend = Some(fe);
            rec.setup_complete = Some(rec.created_at);
        }
        st
    }

    pub(crate) fn new_id(&mut self) -> String {
        self.counter += 1;
        cuid(self.counter)
    }

    pub(crate) fn project(&self, id: &str) -> Option<usize> {
        self.project_idx
            .get(id)
            .copied()
            .filter(|&i| !self.projects[i].deleted)
    }

    pub(crate) fn create_project(
        &mut self,
        id: Option<String>,
        name: &str,
        description: &str,
        media_type: Option<String>,
    ) -> usize {
        let now = now_ms();
        let id = id.unwrap_or_else(|| self.new_id());
        let queues = QUEUES
            .iter()
            .map(|(kind, name)| QueueRec {
                id: self.new_id(),
                kind,
                name,
            })
            .collect();
        self.projects.push(ProjectRec {
            id: id.clone(),
            name: name.to_owned(),
            description: description.to_owned(),
            media_type,
            created_at: now,
            updated_at: now,
            last_activity: None,
            deleted: false,
            audit_labels: 1,
            audit_percentage: 1.0,
            benchmark: false,
            consensus: false,
            ontology: None,
            frontend: None,
            setup_complete: None,
            queues,
            members: Vec::new(),
            member_of: HashMap::new(),
            consensus_labels: None,
        });
        let i = self.projects.len() - 1;
        self.project_idx.insert(id, i);
        i
    }

    /// Assign `featureSchemaId` / `schemaNodeId` to every node of a normalized ontology.
    fn with_schema_ids(&mut self, v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut out = Obj::new();
                for (k, val) in o {
                    out.insert(k.clone(), self.with_schema_ids(val));
                }
                let node = ["tool", "type", "value", "label"]
                    .iter()
                    .any(|k| o.contains_key(*k));
                if node {
                    if !out.contains_key("featureSchemaId") {
                        let id = self.new_id();
                        out.insert("featureSchemaId".into(), json!(id));
                    }
                    if !out.contains_key("schemaNodeId") {
                        let id = self.new_id();
                        out.insert("schemaNodeId".into(), json!(id));
                    }
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.with_schema_ids(x)).collect()),
            other => other.clone(),
        }
    }

    pub(crate) fn upsert_ontology(
        &mut self,
        name: &str,
        normalized: &Value,
        media_type: Option<String>,
    ) -> usize {
        let now = now_ms();
        let mut normalized = self.with_schema_ids(normalized);
        for key in ["tools", "classifications"] {
            if normalized.get(key).is_none() {
                normalized[key] = json!([]);
            }
        }
        let id = self.new_id();
        self.ontologies.push(OntologyRec {
            id: id.clone(),
            name: name.to_owned(),
            media_type,
            normalized,
            created_at: now,
            updated_at: now,
            deleted: false,
        });
        let i = self.ontologies.len() - 1;
        self.ontology_idx.insert(id, i);
        i
    }

    pub(crate) fn create_dataset(&mut self, name: &str, description: &str) -> usize {
        let now = now_ms();
        let id = self.new_id();
        self.datasets.push(DatasetRec {
            id: id.clone(),
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now,
            updated_at: now,
            deleted: false,
        });
        let i = self.datasets.len() - 1;
        self.dataset_idx.insert(id, i);
        i
    }

    pub(crate) fn dataset(&self, id: &str) -> Option<usize> {
        self.dataset_idx
            .get(id)
            .copied()
            .filter(|&i| !self.datasets[i].deleted)
    }

    pub(crate) fn dataset_row_count(&self, d: usize) -> usize {
        self.rows
            .iter()
            .filter(|r| r.dataset == d && !r.deleted)
            .count()
    }

    pub(crate) fn render_dataset(&self, d: usize) -> Value {
        let ds = &self.datasets[d];
        json!({
            "id": ds.id,
            "name": ds.name,
            "description": ds.description,
            "createdAt": fmt_ts(ds.created_at),
            "updatedAt": fmt_ts(ds.updated_at),
            "rowCount": self.dataset_row_count(d),
        })
    }

    pub(crate) fn row(&self, id: &str) -> Option<usize> {
        self.row_idx
            .get(id)
            .copied()
            .filter(|&i| !self.rows[i].deleted)
    }

    /// Delete a data row: it leaves its dataset and frees its global key (§9.2).
    pub(crate) fn delete_row(&mut self, r: usize) {
        let row = &mut self.rows[r];
        row.deleted = true;
        if let Some(k) = &row.global_key {
            if self.gkeys.get(k) == Some(&r) {
                self.gkeys.remove(k);
            }
        }
    }

    /// Apply the specs of one upsert job (§9.2): `AUTO` creates, `ID` updates, `GKEY` updates
    /// the row with that key or creates one; a global key already taken by another row is a
    /// failed import. Returns (created or updated rows, failures).
    pub(crate) fn apply_specs(&mut self, specs: &[Value]) -> (Vec<usize>, Vec<Value>) {
        let now = now_ms();
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for spec in specs {
            let payload = spec.get("payload").cloned().unwrap_or(Value::Null);
            let id_type = spec
                .pointer("/id/type")
                .and_then(Value::as_str)
                .unwrap_or("AUTO");
            let id_value = spec
                .pointer("/id/value")
                .and_then(Value::as_str)
                .unwrap_or("");
            let gkey = payload
                .get("global_key")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let fail = |message: String| {
                json!({"message": message, "spec": {
                    "externalId": payload.get("external_id"),
                    "globalKey": payload.get("global_key"),
                    "rowData": payload.get("row_data").map(|v| match v { Value::String(s) => json!(s), o => json!(o.to_string()) }),
                    "metadata": payload.get("metadata_fields").cloned().unwrap_or(json!([])),
                    "attachments": payload.get("attachments").cloned().unwrap_or(json!([])),
                }})
            };
            let target = match id_type {
                "ID" => match self.row(id_value) {
                    Some(r) => Some(r),
                    None => {
                        failed.push(fail(format!("Data row not found: '{id_value}'")));
                        continue;
                    }
                },
                "GKEY" => self.gkeys.get(id_value).copied(),
                _ => None,
            };
            if let Some(k) = &gkey {
                if let Some(&holder) = self.gkeys.get(k) {
                    if Some(holder) != target {
                        failed.push(fail(format!("Duplicate global key: '{k}'")));
                        continue;
                    }
                }
            }
            let row_data = payload.get("row_data").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let list = |key: &str| {
                payload
                    .get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            match target {
                Some(r) => {
                    if let Some(k) = &gkey {
                        if let Some(old) = self.rows[r].global_key.take() {
                            self.gkeys.remove(&old);
                        }
                        self.gkeys.insert(k.clone(), r);
                        self.rows[r].global_key = Some(k.clone());
                    }
                    let row = &mut self.rows[r];
                    if let Some(d) = row_data {
                        row.row_data = d;
                    }
                    if let Some(e) = payload.get("external_id").and_then(Value::as_str) {
                        row.external_id = Some(e.to_owned());
                    }
                    if payload.get("metadata_fields").is_some() {
                        row.metadata = list("metadata_fields");
                    }
                    if payload.get("attachments").is_some() {
                        row.attachments = list("attachments");
                    }
                    row.updated_at = now;
                    done.push(r);
                }
                None => {
                    let dataset = payload
                        .get("dataset_id")
                        .and_then(Value::as_str)
                        .and_then(|d| self.dataset(d));
                    let (Some(dataset), Some(row_data)) = (dataset, row_data) else {
                        failed.push(fail(
                            "A data row needs row_data and an existing dataset_id".to_owned(),
                        ));
                        continue;
                    };
                    let gkey = gkey.or_else(|| (id_type == "GKEY").then(|| id_value.to_owned()));
                    let id = self.new_id();
                    self.rows.push(RowRec {
                        id: id.clone(),
                        dataset,
                        global_key: gkey.clone(),
                        external_id: payload
                            .get("external_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        row_data,
                        created_at: now,
                        updated_at: now,
                        deleted: false,
                        metadata: list("metadata_fields"),
                        attachments: list("attachments"),
                    });
                    let r = self.rows.len() - 1;
                    self.row_idx.insert(id, r);
                    if let Some(k) = gkey {
                        self.gkeys.insert(k, r);
                    }
                    done.push(r);
                }
            }
        }
        (done, failed)
    }

    pub(crate) fn new_task(
        &mut self,
        name: &str,
        kind: &'static str,
        outcome: &'static str,
        result: Option<String>,
        output: TaskOutput,
    ) -> usize {
        let now = now_ms();
        let id = self.new_id();
        let delay = i64::try_from(self.settings.task_delay_ms).unwrap_or(i64::MAX / 2);
        self.tasks.push(TaskRec {
            id: id.clone(),
            name: name.to_owned(),
            kind,
            created_at: now,
            ready_at: now.saturating_add(delay),
            outcome,
            result,
            output,
        });
        let i = self.tasks.len() - 1;
        self.task_idx.insert(id, i);
        i
    }

    pub(crate) fn batch(&self, project: usize, id: &str) -> Option<usize> {
        self.batch_idx
            .get(id)
            .copied()
            .filter(|&b| self.batches[b].project == project && !self.batches[b].deleted)
    }

    pub(crate) fn batch_size(&self, b: usize) -> usize {
        let p = self.batches[b].project;
        self.projects[p]
            .members
            .iter()
            .filter(|m| m.batch == b)
            .count()
    }

    pub(crate) fn render_batch(&self, b: usize) -> Value {
        let rec = &self.batches[b];
        json!({
            "id": rec.id,
            "name": rec.name,
            "createdAt": fmt_ts(rec.created_at),
            "updatedAt": fmt_ts(rec.updated_at),
            "size": self.batch_size(b),
            "consensusSettingsJson": rec.consensus,
        })
    }

    pub(crate) fn create_batch(
        &mut self,
        project: usize,
        name: &str,
        priority: i64,
        consensus: Option<Value>,
    ) -> usize {
        let now = now_ms();
        let id = self.new_id();
        self.batches.push(BatchRec {
            id: id.clone(),
            project,
            name: name.to_owned(),
            created_at: now,
            updated_at: now,
            consensus,
            priority,
            deleted: false,
        });
        let b = self.batches.len() - 1;
        self.batch_idx.insert(id, b);
        b
    }

    /// Add rows to a batch: each enters the initial labeling queue. Rows already in the project
    /// (through any batch) are refused. Returns the refused rows.
    pub(crate) fn add_rows_to_batch(
        &mut self,
        b: usize,
        rows: &[usize],
        priority: i64,
    ) -> Vec<usize> {
        let now = now_ms();
        let p = self.batches[b].project;
        let consensus = self.batches[b].consensus.clone();
        let mut refused = Vec::new();
        let start = self.projects[p].members.len();
        for (k, &r) in rows.iter().enumerate() {
            if self.projects[p].member_of.contains_key(&r) || self.rows[r].deleted {
                refused.push(r);
                continue;
            }
            let expected = consensus_for(consensus.as_ref(), start + k);
            let proj = &mut self.projects[p];
            proj.members.push(MemberRec {
                row: r,
                batch: b,
                state: WorkState::ToLabel,
                priority,
                labels: Vec::new(),
                last_activity: now,
                history: Vec::new(),
                expected_labels: expected,
            });
            let m = proj.members.len() - 1;
            proj.member_of.insert(r, m);
        }
        let proj = &mut self.projects[p];
        proj.last_activity = Some(now);
        self.batches[b].updated_at = now;
        refused
    }

    /// The seed control: `count` image data rows with global keys `{prefix}{index:08}` in the
    /// dataset `seed <project id>` (found or created), all added to one new batch of the
    /// project, to label. Keys already taken are skipped. Returns the rows batched.
    pub(crate) fn seed_rows(&mut self, p: usize, count: usize, prefix: &str) -> usize {
        let name = format!("seed {}", self.projects[p].id);
        let dataset = match self
            .datasets
            .iter()
            .position(|d| !d.deleted && d.name == name)
        {
            Some(d) => d,
            None => self.create_dataset(&name, "data rows of /_emulator/seed"),
        };
        let now = now_ms();
        let mut rows = Vec::with_capacity(count);
        for i in 0..count {
            let key = format!("{prefix}{i:08}");
            if self.gkeys.contains_key(&key) {
                continue;
            }
            let id = self.new_id();
            self.rows.push(RowRec {
                id: id.clone(),
                dataset,
                global_key: Some(key.clone()),
                external_id: Some(format!("{key}.jpg")),
                row_data: format!("https://images.example.com/seed/{key}.jpg"),
                created_at: now,
                updated_at: now,
                deleted: false,
                metadata: Vec::new(),
                attachments: Vec::new(),
            });
            let r = self.rows.len() - 1;
            self.row_idx.insert(id, r);
            self.gkeys.insert(key, r);
            rows.push(r);
        }
        if rows.is_empty() {
            return 0;
        }
        let batch = format!("{prefix}batch-{}", self.batches.len());
        let b = self.create_batch(p, &batch, 5, None);
        let refused = self.add_rows_to_batch(b, &rows, 5);
        rows.len() - refused.len()
    }

    /// Project-wide labels per row: the consensus control wins over batch settings.
    fn labels_expected(&self, p: usize, m: usize) -> u32 {
        self.projects[p]
            .consensus_labels
            .unwrap_or(self.projects[p].members[m].expected_labels)
            .max(1)
    }

    /// The annotations of a generated label: one object per geometric tool of the ontology and
    /// an answer to each global classification (§12.5 shapes).
    /// Shapes come from the shared drawing of `reference` (the row's data URL for its first
    /// label), the same work as on the other vendors' emulators.
    fn generate_annotations(&mut self, p: usize, reference: &str) -> Value {
        let normalized = self.projects[p]
            .ontology
            .map(|o| self.ontologies[o].normalized.clone())
            .unwrap_or_else(|| json!({"tools": [], "classifications": []}));
        let d = Drawing::of(reference);
        let xy = |points: &[(i64, i64)]| -> Vec<Value> {
            points
                .iter()
                .map(|&(x, y)| json!({"x": x, "y": y}))
                .collect()
        };
        let mut objects = Vec::new();
        for tool in normalized
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let kind = tool.get("tool").and_then(Value::as_str).unwrap_or("");
            let (annotation_kind, key, geometry) = match kind {
                "rectangle" | "bbox" => (
                    "ImageBoundingBox",
                    "bounding_box",
                    json!({"top": d.top, "left": d.left, "height": d.height, "width": d.width}),
                ),
                "polygon" => ("ImagePolygon", "polygon", json!(xy(&d.polygon()))),
                "point" => {
                    let (x, y) = d.point();
                    ("ImagePoint", "point", json!({"x": x, "y": y}))
                }
                "line" => ("ImagePolyline", "line", json!(xy(&d.line()))),
                _ => continue,
            };
            let nested = self.answer_classifications(tool.get("classifications"));
            let mut o = json!({
                "feature_id": self.new_id(),
                "feature_schema_id": tool.get("featureSchemaId"),
                "name": tool.get("name"),
                "annotation_kind": annotation_kind,
                "classifications": nested,
            });
            o[key] = geometry;
            objects.push(o);
        }
        let classifications = self.answer_classifications(normalized.get("classifications"));
        json!({"objects": objects, "classifications": classifications, "relationships": []})
    }

    fn answer_classifications(&mut self, defs: Option<&Value>) -> Vec<Value> {
        let mut out = Vec::new();
        for c in defs.and_then(Value::as_array).cloned().unwrap_or_default() {
            let name = c.get("name").cloned().unwrap_or(Value::Null);
            let mut a = json!({
                "feature_id": self.new_id(),
                "feature_schema_id": c.get("featureSchemaId"),
                "name": name,
                "value": c.get("instructions").cloned().unwrap_or(name.clone()),
            });
            let first = c
                .get("options")
                .and_then(Value::as_array)
                .and_then(|o| o.first())
                .cloned();
            let option = |st: &mut Store, o: &Value| {
                let nested = st.answer_classifications(o.get("options"));
                json!({"feature_id": st.new_id(), "feature_schema_id": o.get("featureSchemaId"),
                       "name": o.get("label").or(o.get("value")), "value": o.get("value"),
                       "classifications": nested})
            };
            match c.get("type").and_then(Value::as_str) {
                Some("radio") => match first {
                    Some(o) => a["radio_answer"] = option(self, &o),
                    None => continue,
                },
                Some("checklist") => match first {
                    Some(o) => a["checklist_answers"] = json!([option(self, &o)]),
                    None => continue,
                },
                Some("text") => a["text_answer"] = json!({"content": "emulated answer"}),
                _ => continue,
            }
            out.push(a);
        }
        out
    }

    fn record_version(
        &mut self,
        label: usize,
        action: &'static str,
        stage: Option<usize>,
        at: i64,
    ) {
        let id = self.new_id();
        self.versions.push(VersionRec {
            id,
            label,
            action,
            created_at: at,
            stage,
        });
    }

    fn queue_webhook(&mut self, project: usize, topic: &str, body: Value) {
        let pid = self.projects[project].id.clone();
        let targets: Vec<(String, String)> = self
            .webhooks
            .iter()
            .filter(|w| {
                w.status == "ACTIVE"
                    && w.topics.iter().any(|t| t == topic)
                    && w.project.as_ref().is_none_or(|p| *p == pid)
            })
            .map(|w| (w.url.clone(), w.secret.clone()))
            .collect();
        for (url, secret) in targets {
            let id = self.new_id();
            self.deliveries.push(Delivery {
                url,
                secret,
                topic: topic.to_owned(),
                id,
                body: body.clone(),
            });
        }
    }

    fn label_payload(&self, l: usize) -> Value {
        let label = &self.labels[l];
        let row = &self.rows[label.row];
        json!({
            "id": label.id,
            "label": label.annotations.to_string(),
            "createdAt": fmt_ts(label.created_at),
            "updatedAt": fmt_ts(label.updated_at),
            "createdBy": {"id": self.user_id, "email": "labeler@emulator.invalid"},
            "project": {"id": self.projects[label.project].id},
            "dataRow": {"id": row.id, "externalId": row.external_id, "globalKey": row.global_key},
            "organization": {"id": self.org_id},
        })
    }

    fn set_state(&mut self, p: usize, m: usize, to: WorkState, now: i64) {
        let member = &mut self.projects[p].members[m];
        let from = member.state;
        member.state = to;
        member.last_activity = now;
        member.history.push(
            json!({
                "action": "MOVE", "created_at": fmt_export_ts(now),
                "previous_task_name": from.queue().map(|q| QUEUES[q].1),
                "next_task_name": to.queue().map(|q| QUEUES[q].1),
                "created_by": "emulator@emulator.invalid",
            })
            .into(),
        );
        self.projects[p].last_activity = Some(now);
        let row = &self.rows[self.projects[p].members[m].row];
        let body = json!({
            "dataRow": {"id": row.id, "globalKey": row.global_key},
            "project": {"id": self.projects[p].id},
            "previousStatus": from.wire(), "status": to.wire(), "createdAt": fmt_ts(now),
        });
        self.queue_webhook(p, "WORKFLOW_ACTION", body);
    }

    /// The labeler submits: new labels (consensus: several) or, after rework, updated ones.
    /// The row goes to review.
    fn label_row(&mut self, p: usize, m: usize, now: i64) {
        let reworked = self.projects[p].members[m].state == WorkState::InRework;
        let expected = self.labels_expected(p, m) as usize;
        let row = self.projects[p].members[m].row;
        let live: Vec<usize> = self.projects[p].members[m]
            .labels
            .iter()
            .copied()
            .filter(|&l| !self.labels[l].deleted)
            .collect();
        for (k, &l) in live.iter().enumerate() {
            if reworked {
                let reference = format!("{}#rework-{k}", self.rows[row].row_data);
                let ann = self.generate_annotations(p, &reference);
                let label = &mut self.labels[l];
                label.annotations = ann.into();
                label.updated_at = now;
                label.content_updated_at = now;
                self.record_version(l, "REWORK_SUBMITTED", Some(0), now);
                let body = self.label_payload(l);
                self.queue_webhook(p, "LABEL_UPDATED", body);
            }
        }
        for k in live.len()..expected {
            // Consensus labels beyond the first draw (slightly) different work.
            let reference = match k {
                0 => self.rows[row].row_data.clone(),
                k => format!("{}#{k}", self.rows[row].row_data),
            };
            let ann = self.generate_annotations(p, &reference);
            let id = self.new_id();
            self.labels.push(LabelRec {
                id: id.clone(),
                project: p,
                row,
                created_at: now,
                updated_at: now,
                content_updated_at: now,
                annotations: ann.into(),
                deleted: false,
                reviews: Vec::new(),
            });
            let l = self.labels.len() - 1;
            self.label_idx.insert(id, l);
            self.projects[p].members[m].labels.push(l);
            self.record_version(l, "SUBMITTED", Some(0), now);
            let body = self.label_payload(l);
            self.queue_webhook(p, "LABEL_CREATED", body);
        }
        self.set_state(p, m, WorkState::InReview, now);
    }

    /// The reviewer approves: the row is done.
    fn approve_row(&mut self, p: usize, m: usize, now: i64) {
        for l in self.projects[p].members[m].labels.clone() {
            if self.labels[l].deleted {
                continue;
            }
            self.labels[l].reviews.push(
                json!({"reviewed_at": fmt_export_ts(now),
                "reviewed_by": "reviewer@emulator.invalid", "review_action": "Approve"})
                .into(),
            );
            self.record_version(l, "APPROVED", Some(1), now);
        }
        self.set_state(p, m, WorkState::Done, now);
    }

    /// Send a row back for rework (reviewer rejection or a queue move).
    pub(crate) fn send_to_rework(&mut self, p: usize, m: usize, now: i64) {
        for l in self.projects[p].members[m].labels.clone() {
            if self.labels[l].deleted {
                continue;
            }
            self.record_version(l, "SENT_TO_REWORK", Some(2), now);
        }
        self.set_state(p, m, WorkState::InRework, now);
    }

    /// Move a row to a queue (`None`: Done), as `createBulkAddRowsToQueueTask` does.
    pub(crate) fn move_row(&mut self, p: usize, m: usize, to: WorkState, now: i64) {
        if to == WorkState::InRework {
            self.send_to_rework(p, m, now);
        } else {
            self.set_state(p, m, to, now);
        }
    }

    /// Every open row of the project one step forward: to label / rework → in review (labeled),
    /// in review → done. Returns how many moved.
    pub(crate) fn advance(&mut self, p: usize) -> usize {
        let now = now_ms();
        let mut order: Vec<usize> = (0..self.projects[p].members.len())
            .filter(|&m| self.projects[p].members[m].state != WorkState::Done)
            .collect();
        order.sort_by_key(|&m| self.projects[p].members[m].priority);
        for &m in &order {
            match self.projects[p].members[m].state {
                WorkState::ToLabel | WorkState::InRework => self.label_row(p, m, now),
                WorkState::InReview => self.approve_row(p, m, now),
                WorkState::Done => {}
            }
        }
        order.len()
    }

    /// Label every row waiting for labeling or rework; returns how many moved.
    pub(crate) fn complete_all(&mut self, p: usize) -> usize {
        let now = now_ms();
        let mut order: Vec<usize> = (0..self.projects[p].members.len())
            .filter(|&m| {
                matches!(
                    self.projects[p].members[m].state,
                    WorkState::ToLabel | WorkState::InRework
                )
            })
            .collect();
        order.sort_by_key(|&m| self.projects[p].members[m].priority);
        for &m in &order {
            self.label_row(p, m, now);
        }
        order.len()
    }

    /// Approve every row in review; returns how many moved.
    pub(crate) fn deliver_all(&mut self, p: usize) -> usize {
        let now = now_ms();
        let order: Vec<usize> = (0..self.projects[p].members.len())
            .filter(|&m| self.projects[p].members[m].state == WorkState::InReview)
            .collect();
        for &m in &order {
            self.approve_row(p, m, now);
        }
        order.len()
    }

    /// The reviewer rejects: `row` (id or global key, in review or done) alone, or every row in
    /// review (labeled, not yet done). Returns how many moved.
    pub(crate) fn reject(&mut self, p: usize, row: Option<&str>) -> Result<usize, String> {
        let now = now_ms();
        let targets: Vec<usize> = match row {
            Some(key) => {
                let r = self
                    .row(key)
                    .or_else(|| self.gkeys.get(key).copied())
                    .ok_or_else(|| format!("no data row {key}"))?;
                let m = *self.projects[p].member_of.get(&r).ok_or_else(|| {
                    format!("data row {key} is not in project {}", self.projects[p].id)
                })?;
                let state = self.projects[p].members[m].state;
                if !matches!(state, WorkState::InReview | WorkState::Done) {
                    return Err(format!(
                        "data row {key} is {}; only labeled rows (IN_REVIEW or DONE) can be rejected",
                        state.wire()
                    ));
                }
                vec![m]
            }
            None => (0..self.projects[p].members.len())
                .filter(|&m| self.projects[p].members[m].state == WorkState::InReview)
                .collect(),
        };
        for &m in &targets {
            if let Some(&l) = self.projects[p].members[m].labels.first() {
                self.labels[l].reviews.push(
                    json!({"reviewed_at": fmt_export_ts(now),
                    "reviewed_by": "reviewer@emulator.invalid", "review_action": "Reject"})
                    .into(),
                );
                self.record_version(l, "REJECTED", Some(1), now);
            }
            self.send_to_rework(p, m, now);
        }
        Ok(targets.len())
    }

    /// Counts per workflow state of the project, optionally restricted to batches.
    pub(crate) fn state_counts(&self, p: usize, batches: Option<&[usize]>) -> [usize; 4] {
        let mut counts = [0; 4];
        for m in &self.projects[p].members {
            if batches.is_some_and(|b| !b.contains(&m.batch)) {
                continue;
            }
            let i = WorkState::ALL
                .iter()
                .position(|s| *s == m.state)
                .unwrap_or(0);
            counts[i] += 1;
        }
        counts
    }
}

/// Labels per row from batch consensus settings: `numberOfLabels` for the share
/// `coveragePercentage` of rows (spread evenly by position), 1 otherwise.
fn consensus_for(settings: Option<&Value>, position: usize) -> u32 {
    let Some(s) = settings else { return 1 };
    let n = s
        .get("numberOfLabels")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 100) as u32;
    let coverage = s
        .get("coveragePercentage")
        .and_then(Value::as_f64)
        .unwrap_or(1.0)
        .clamp(0.0, 1.0);
    let covered = ((position % 100) as f64) < coverage * 100.0;
    if covered {
        n
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_cuids() {
        let mut st = Store::new(&[]);
        let a = st.new_id();
        let b = st.new_id();
        assert_eq!(a.len(), 25);
        assert!(a.starts_with('c'));
        assert_ne!(a, b);
        assert_eq!(TAG_SCHEMA_ID.len(), 25);
    }

    #[test]
    fn times_parse_in_every_filter_form() {
        let t = parse_time("2024-05-01T00:00:00+0000");
        assert_eq!(t, parse_time("2024-05-01 00:00:00"));
        assert_eq!(t, parse_time("2024-05-01"));
        assert_eq!(t, parse_time("2024-05-01T00:00:00.000Z"));
        assert!(parse_time("yesterday").is_none());
        assert_eq!(fmt_ts(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt_export_ts(0), "1970-01-01T00:00:00.000+00:00");
    }

    #[test]
    fn duplicate_global_keys_fail_and_keep_the_first_row() {
        let mut st = Store::new(&[]);
        let d = st.create_dataset("D", "");
        let did = st.datasets[d].id.clone();
        let spec = |k: &str| json!({"id": {"type": "AUTO", "value": ""}, "payload": {"row_data": "https://x/a.jpg", "global_key": k, "dataset_id": did}});
        let (ok, failed) = st.apply_specs(&[spec("a"), spec("b"), spec("a")]);
        assert_eq!(ok.len(), 2);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["message"], "Duplicate global key: 'a'");
        assert_eq!(failed[0]["spec"]["globalKey"], "a");
        let first = st.gkeys["a"];
        st.delete_row(first);
        let (ok, failed) = st.apply_specs(&[spec("a")]);
        assert_eq!((ok.len(), failed.len()), (1, 0));
    }

    #[test]
    fn seeded_rows_are_batched_once_and_labeled_by_the_lifecycle() {
        let mut st = Store::new(&["p".to_owned()]);
        let p = st.project("p").unwrap_or(0);
        assert_eq!(st.seed_rows(p, 5, "s-"), 5);
        assert_eq!(st.state_counts(p, None), [5, 0, 0, 0]);
        assert!(st.gkeys.contains_key("s-00000004"));
        assert_eq!(st.seed_rows(p, 7, "s-"), 2, "taken keys are skipped");
        assert_eq!(st.datasets.len(), 1, "one seed dataset per project");
        assert_eq!(st.complete_all(p), 7);
        assert_eq!(st.deliver_all(p), 7);
        assert_eq!(st.state_counts(p, None), [0, 0, 0, 7]);
        assert_eq!(st.labels.len(), 7);
    }

    #[test]
    fn rows_go_through_label_review_done_and_rework() {
        let mut st = Store::new(&["p".to_owned()]);
        let p = st.project("p").unwrap_or(0);
        let d = st.create_dataset("D", "");
        let did = st.datasets[d].id.clone();
        let (rows, _) = st.apply_specs(&[json!({"payload": {"row_data": "https://x/a.jpg", "global_key": "k", "dataset_id": did}})]);
        let b = st.create_batch(p, "b", 5, None);
        assert!(st.add_rows_to_batch(b, &rows, 5).is_empty());
        assert_eq!(
            st.add_rows_to_batch(b, &rows, 5),
            rows,
            "a row is in a project once"
        );
        assert_eq!(st.advance(p), 1);
        assert_eq!(st.state_counts(p, None), [0, 1, 0, 0]);
        let l = st.projects[p].members[0].labels[0];
        let objects = st.labels[l].annotations.value()["objects"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(objects, 3, "one object per tool of the demo ontology");
        assert_eq!(st.advance(p), 1);
        assert_eq!(st.state_counts(p, None), [0, 0, 0, 1]);
        let before = st.labels[l].updated_at;
        assert_eq!(st.reject(p, Some("k")), Ok(1));
        assert_eq!(st.state_counts(p, None), [0, 0, 1, 0]);
        std::thread::sleep(std::time::Duration::from_millis(3));
        st.complete_all(p);
        assert!(st.labels[l].updated_at > before);
        assert_eq!(
            st.projects[p].members[0].labels.len(),
            1,
            "rework updates the label"
        );
        st.deliver_all(p);
        assert_eq!(
            st.reject(p, None),
            Ok(0),
            "done rows are delivered: only in-review rows"
        );
        st.reject(p, Some("k")).ok();
        st.complete_all(p);
        st.projects[p].consensus_labels = Some(3);
        assert_eq!(st.reject(p, None), Ok(1));
        st.complete_all(p);
        assert_eq!(st.projects[p].members[0].labels.len(), 3);
    }
}
