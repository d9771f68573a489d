//! Bulk creation and upsert of data rows (spec §9.2): specs are written as JSON-array chunk
//! files of at most [`UploadLimits::max_chunk_bytes`], each uploaded with `uploadFile` (GraphQL
//! multipart request), then a manifest naming the chunks starts an `upsertDataRows` Task; the
//! Task is polled and its per-row failures and successes are read. A job holds at most
//! [`UploadLimits::max_rows_per_task`] rows; more rows make several jobs, one after the other.
//!
//! Specs are read from a stream and serialized as they come: memory holds the chunk being
//! filled plus the chunks being uploaded, never the whole input.

use crate::client::{op_err, required, LabelboxClient};
use crate::ops;
use crate::wire::{
    decode_plain, FailedDataRowImport, FailedImportsPage, ImportedDataRow, LbTask,
    SuccessfulImportsPage, TaskStatus,
};
use bytes::Bytes;
use futures::stream::{FuturesOrdered, Stream, StreamExt};
use graphql_client::GraphQLQuery;
use labelmux_core::transport::{Method, Multipart, RetryMode};
use labelmux_core::{Error, ErrorKind, JsonMap, Result};
use serde_json::{json, Value};

/// Page size of the import result reads (the SDK's).
pub const IMPORT_RESULT_PAGE: i64 = 5_000;

/// Longest global key Labelbox accepts.
pub const MAX_GLOBAL_KEY_CHARS: usize = 200;

/// Longest raw-text `row_data` Labelbox accepts, in characters.
pub const MAX_ROW_DATA_CHARS: usize = 65_536;

/// How a spec selects its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecKey {
    /// Always create a new row.
    Auto,
    /// Update the row with this Labelbox id.
    Id(String),
    /// Update the row holding this global key (or create one with it).
    GlobalKey(String),
}

/// One data row to create or update.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRowSpec {
    /// Which row.
    pub key: SpecKey,
    /// The payload, in Labelbox's snake_case keys (`row_data`, `global_key`, `external_id`,
    /// `metadata_fields`, `attachments`, `media_type`, …). `dataset_id` is set by the upload.
    pub payload: JsonMap,
}

impl DataRowSpec {
    /// A new row with this asset (URL or text), optionally keyed.
    pub fn create(row_data: impl Into<String>, global_key: Option<String>) -> Self {
        let mut payload = JsonMap::new();
        payload.insert("row_data".into(), Value::String(row_data.into()));
        if let Some(k) = global_key {
            payload.insert("global_key".into(), Value::String(k));
        }
        DataRowSpec {
            key: SpecKey::Auto,
            payload,
        }
    }

    /// Create-or-update by global key (the key also goes into the payload, as Labelbox wants).
    pub fn upsert_by_global_key(global_key: impl Into<String>, mut payload: JsonMap) -> Self {
        let key = global_key.into();
        payload
            .entry("global_key")
            .or_insert_with(|| Value::String(key.clone()));
        DataRowSpec {
            key: SpecKey::GlobalKey(key),
            payload,
        }
    }

    /// The spec's global key, if any.
    pub fn global_key(&self) -> Option<&str> {
        match &self.key {
            SpecKey::GlobalKey(k) => Some(k),
            _ => self.payload.get("global_key").and_then(Value::as_str),
        }
    }

    /// Check the spec as the SDK does, and build its wire form for `dataset_id`.
    fn to_wire(&self, dataset_id: &str) -> Result<Value> {
        let mut payload: JsonMap = self
            .payload
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        payload.remove("dataset_id");
        if payload.is_empty() {
            return Err(Error::validation("a data row spec with an empty payload"));
        }
        if self.key == SpecKey::Auto && !payload.contains_key("row_data") {
            return Err(Error::validation("a new data row needs `row_data`"));
        }
        if let Some(Value::String(url)) = payload.get("row_data") {
            if url.trim_start().to_ascii_lowercase().starts_with("s3://") {
                return Err(Error::validation(format!(
                    "row_data {url:?}: Labelbox does not read s3:// URLs; use https or a pre-signed URL"
                )));
            }
        }
        if let Some(Value::String(text)) = payload.get("row_data") {
            if text.chars().count() > MAX_ROW_DATA_CHARS {
                return Err(Error::validation(format!(
                    "row_data of {} characters; Labelbox takes at most {MAX_ROW_DATA_CHARS}",
                    text.chars().count()
                )));
            }
        }
        if let Some(k) = self.global_key() {
            if k.chars().count() > MAX_GLOBAL_KEY_CHARS {
                return Err(Error::validation(format!(
                    "global key longer than {MAX_GLOBAL_KEY_CHARS} characters: {:?}…",
                    k.chars().take(40).collect::<String>()
                )));
            }
        }
        payload.insert("dataset_id".into(), Value::String(dataset_id.to_owned()));
        let id = match &self.key {
            SpecKey::Auto => json!({"type": "AUTO", "value": ""}),
            SpecKey::Id(id) => json!({"type": "ID", "value": id}),
            SpecKey::GlobalKey(k) => json!({"type": "GKEY", "value": k}),
        };
        Ok(json!({"id": id, "payload": payload}))
    }
}

/// Limits the upload applies (Labelbox's, spec §3.4 and §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest chunk file, in bytes (a single larger spec is sent alone).
    pub max_chunk_bytes: usize,
    /// Most rows per upsert Task.
    pub max_rows_per_task: usize,
    /// Chunk uploads in flight at once.
    pub parallel_uploads: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_chunk_bytes: 10_000_000,
            max_rows_per_task: 150_000,
            parallel_uploads: 4,
        }
    }
}

/// What an upload did: every job's Task, the rows written and the rows refused with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadReport {
    /// The upsert Tasks, one per job.
    pub tasks: Vec<LbTask>,
    /// Rows created or updated.
    pub created: Vec<ImportedDataRow>,
    /// Rows refused, with Labelbox's reason (e.g. `Duplicate global key: 'gk-1'`).
    pub failed: Vec<FailedDataRowImport>,
    /// Specs submitted.
    pub submitted: usize,
}

/// A JSON array being filled with serialized specs.
struct Chunk {
    bytes: Vec<u8>,
    rows: usize,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            bytes: vec![b'['],
            rows: 0,
        }
    }

    /// Whether `item` still fits (a first item always does).
    fn fits(&self, item: &[u8], max: usize) -> bool {
        // Separator, item and the closing bracket must fit.
        self.rows == 0 || self.bytes.len() + item.len() + 2 <= max
    }

    fn push(&mut self, item: &[u8]) {
        if self.rows > 0 {
            self.bytes.push(b',');
        }
        self.bytes.extend_from_slice(item);
        self.rows += 1;
    }

    fn finish(mut self) -> Bytes {
        self.bytes.push(b']');
        Bytes::from(self.bytes)
    }
}

impl LabelboxClient {
    /// Upload bytes with `uploadFile`; returns the file's URL.
    pub async fn upload_file(
        &self,
        file_name: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<String> {
        const OP: &str = "upload_file";
        let operations = json!({
            "variables": {"file": null, "contentLength": data.len(), "sign": false},
            "query": ops::UploadFile::build_query(ops::upload_file::Variables {
                file: Value::Null,
                content_length: 0,
                sign: None,
            })
            .query,
        });
        let form = Multipart::new()
            .text("operations", operations.to_string())
            .text("map", r#"{"1": ["variables.file"]}"#)
            .bytes("1", file_name, content_type, data);
        let resp = self
            .transport()
            .request(Method::POST, OP, "graphql")
            .multipart(form)
            // An upload stores a new file; sending it again only stores another copy.
            .retry(RetryMode::Idempotent)
            .send()
            .await
            .map_err(|e| op_err(e, OP))?;
        let body: Value = resp.json().map_err(|e| op_err(e, OP))?;
        let data = required(body, &["data", "uploadFile", "url"], OP)?;
        labelmux_core::lenient::key_string(&data)
            .ok_or_else(|| op_err(Error::decode("Labelbox answered an empty upload URL"), OP))
    }

    /// Create or update data rows of a dataset from a stream of specs (see the module docs).
    /// A spec that fails local checks ends the call before anything of its job is sent; rows
    /// Labelbox refuses are in [`UploadReport::failed`]. A job whose Task ends `FAILED` is an
    /// error (rows of earlier jobs are written and not undone).
    pub async fn upsert_data_rows<S>(
        &self,
        dataset_id: &str,
        specs: S,
        limits: UploadLimits,
    ) -> Result<UploadReport>
    where
        S: Stream<Item = Result<DataRowSpec>> + Send,
    {
        const OP: &str = "upsert_data_rows";
        if limits.max_rows_per_task == 0 || limits.max_chunk_bytes < 2 {
            return Err(op_err(
                Error::validation("upload limits must be positive"),
                OP,
            ));
        }
        let mut report = UploadReport::default();
        let mut specs = std::pin::pin!(specs);
        let mut job = JobUpload::new(self, limits);
        while let Some(spec) = specs.next().await {
            let spec = spec.map_err(|e| op_err(e, OP))?;
            let item = spec.to_wire(dataset_id).map_err(|e| {
                op_err(
                    e.with_operation(format!("{OP} (spec {})", report.submitted + 1)),
                    OP,
                )
            })?;
            let item = serde_json::to_vec(&item)
                .map_err(|e| op_err(Error::validation(format!("cannot encode a spec: {e}")), OP))?;
            report.submitted += 1;
            job.push(&item, spec.key != SpecKey::Auto).await?;
            if job.rows == limits.max_rows_per_task {
                let finished = std::mem::replace(&mut job, JobUpload::new(self, limits));
                finished.run(&mut report).await?;
            }
        }
        if job.rows > 0 {
            job.run(&mut report).await?;
        }
        Ok(report)
    }

    async fn read_import_results(&self, task_id: &str, report: &mut UploadReport) -> Result<()> {
        const OP: &str = "upsert_data_rows";
        let mut from: Option<String> = None;
        loop {
            let data = self
                .query::<ops::FailedDataRowImports>(
                    crate::client::Endpoint::Main,
                    OP,
                    ops::failed_data_row_imports::Variables {
                        task_id: task_id.to_owned(),
                        first: Some(IMPORT_RESULT_PAGE),
                        from: from.take(),
                    },
                )
                .await?;
            let page: FailedImportsPage = decode_plain(
                required(data, &["failedDataRowImports"], OP)?,
                "failed imports",
            )
            .map_err(|e| op_err(e, OP))?;
            let empty = page.results.is_empty();
            report.failed.extend(page.results);
            match page.after.filter(|a| !a.is_empty()) {
                Some(after) if !empty => from = Some(after),
                _ => break,
            }
        }
        loop {
            let data = self
                .query::<ops::SuccessfulDataRowImports>(
                    crate::client::Endpoint::Main,
                    OP,
                    ops::successful_data_row_imports::Variables {
                        task_id: task_id.to_owned(),
                        first: Some(IMPORT_RESULT_PAGE),
                        from: from.take(),
                    },
                )
                .await?;
            let page: SuccessfulImportsPage = decode_plain(
                required(data, &["successesfulDataRowImports"], OP)?,
                "successful imports",
            )
            .map_err(|e| op_err(e, OP))?;
            let empty = page.nodes.is_empty();
            report.created.extend(page.nodes);
            match page.after.filter(|a| !a.is_empty()) {
                Some(after) if !empty => from = Some(after),
                _ => break,
            }
        }
        Ok(())
    }
}

type UploadFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String>> + Send + 'a>>;

/// One upsert job being assembled: the chunk being filled, chunk uploads in flight (in order),
/// and the URLs of the chunks uploaded.
struct JobUpload<'a> {
    client: &'a LabelboxClient,
    limits: UploadLimits,
    chunk: Chunk,
    in_flight: FuturesOrdered<UploadFuture<'a>>,
    uris: Vec<String>,
    rows: usize,
    /// Whether every spec names its row (by id or global key): then running the job twice
    /// writes the same rows and it may be resent.
    all_keyed: bool,
}

impl<'a> JobUpload<'a> {
    fn new(client: &'a LabelboxClient, limits: UploadLimits) -> Self {
        JobUpload {
            client,
            limits,
            chunk: Chunk::new(),
            in_flight: FuturesOrdered::new(),
            uris: Vec::new(),
            rows: 0,
            all_keyed: true,
        }
    }

    async fn push(&mut self, item: &[u8], keyed: bool) -> Result<()> {
        self.all_keyed &= keyed;
        if !self.chunk.fits(item, self.limits.max_chunk_bytes) {
            self.flush().await?;
        }
        self.chunk.push(item);
        self.rows += 1;
        Ok(())
    }

    /// Start uploading the current chunk, first waiting for a slot.
    async fn flush(&mut self) -> Result<()> {
        if self.chunk.rows == 0 {
            return Ok(());
        }
        while self.in_flight.len() >= self.limits.parallel_uploads.max(1) {
            if let Some(url) = self.in_flight.next().await {
                self.uris.push(url?);
            }
        }
        let data = std::mem::replace(&mut self.chunk, Chunk::new()).finish();
        let client = self.client;
        // The SDK's chunk parts carry file name `application/json` and type
        // `json_import.json` (swapped); the server ignores both, so they are sent the right
        // way round.
        self.in_flight.push_back(Box::pin(async move {
            client
                .upload_file("json_import.json", "application/json", data)
                .await
        }));
        Ok(())
    }

    /// Upload what is left, the manifest, start the job, wait for it and read its results.
    async fn run(mut self, report: &mut UploadReport) -> Result<()> {
        const OP: &str = "upsert_data_rows";
        self.flush().await?;
        while let Some(url) = self.in_flight.next().await {
            self.uris.push(url?);
        }
        let client = self.client;
        let manifest = json!({"source": "SDK", "item_count": self.rows, "chunk_uris": self.uris});
        let manifest_url = client
            .upload_file(
                "manifest.json",
                "application/json",
                Bytes::from(manifest.to_string()),
            )
            .await?;
        let data = client
            .run::<ops::UpsertDataRows>(
                crate::client::Endpoint::Main,
                OP,
                ops::upsert_data_rows::Variables {
                    manifest_uri: manifest_url,
                },
                // Specs that name their rows write the same rows again; `AUTO` specs would be
                // created twice.
                if self.all_keyed {
                    RetryMode::Idempotent
                } else {
                    RetryMode::OnlyIfNotProcessed
                },
            )
            .await?;
        let task: LbTask = crate::wire::decode(required(data, &["upsertDataRows"], OP)?, "task")
            .map_err(|e| op_err(e, OP))?;
        let task = if task.status.is_finished() {
            task
        } else {
            client
                .wait_for_task(&task.id, OP, client.poll_settings().task)
                .await?
        };
        if task.status != TaskStatus::Complete {
            return Err(op_err(
                Error::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "Labelbox's upsert job {} ended {}: {} ({} rows of this job not written)",
                        task.id,
                        task.status,
                        task.failure_text(),
                        self.rows
                    ),
                ),
                OP,
            ));
        }
        client.read_import_results(&task.id, report).await?;
        report.tasks.push(task);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_take_the_wire_shape_of_the_spec() {
        let s = DataRowSpec::create("https://example.com/a.jpg", Some("gk-1".into()))
            .to_wire("cld")
            .unwrap();
        assert_eq!(
            s,
            json!({"id": {"type": "AUTO", "value": ""},
                   "payload": {"row_data": "https://example.com/a.jpg", "global_key": "gk-1", "dataset_id": "cld"}})
        );
        let mut p = JsonMap::new();
        p.insert("external_id".into(), json!("a.jpg"));
        p.insert("media_type".into(), Value::Null);
        let u = DataRowSpec::upsert_by_global_key("gk-2", p)
            .to_wire("cld")
            .unwrap();
        assert_eq!(u["id"], json!({"type": "GKEY", "value": "gk-2"}));
        assert_eq!(u["payload"]["global_key"], "gk-2");
        assert!(
            u["payload"].get("media_type").is_none(),
            "nulls are removed"
        );
    }

    #[test]
    fn specs_the_sdk_refuses_are_refused_locally() {
        let bad = [
            DataRowSpec {
                key: SpecKey::Id("x".into()),
                payload: JsonMap::new(),
            },
            DataRowSpec::create("s3://bucket/a.jpg", None),
            DataRowSpec::create("https://x", Some("k".repeat(201))),
            DataRowSpec {
                key: SpecKey::Auto,
                payload: [("external_id".to_owned(), json!("e"))]
                    .into_iter()
                    .collect(),
            },
        ];
        for spec in bad {
            assert!(spec.to_wire("d").is_err(), "{spec:?}");
        }
        assert!(DataRowSpec::create("https://x", Some("k".repeat(200)))
            .to_wire("d")
            .is_ok());
    }

    #[test]
    fn chunks_stay_within_the_byte_limit_and_stay_valid_json() {
        let item = br#"{"a":1}"#;
        let mut c = Chunk::new();
        assert!(c.fits(item, 1));
        c.push(item);
        // "[" + 7 + "," + 7 + "]" = 17 bytes.
        assert!(c.fits(item, 17));
        assert!(!c.fits(item, 16));
        c.push(item);
        let bytes = c.finish();
        assert_eq!(bytes.len(), 17);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v, json!([{"a": 1}, {"a": 1}]));
    }
}
