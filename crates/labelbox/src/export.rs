//! Exports (spec §12): an export Task with the filters of §12.2 and the params of §12.3, its
//! streamable result read chunk by chunk (`exportFileFromOffset` → pre-signed URL → bytes,
//! resumed on failure) and split into NDJSON lines as the bytes arrive — nothing is written to
//! disk and memory stays at about one chunk's read buffer plus one line. Also the
//! `labelVersions` feed.

use crate::client::{op_err, required, Endpoint, LabelboxClient, VENDOR};
use crate::ops;
use crate::wire::{
    decode, decode_list, decode_plain, ExportChunk, ExportHeader, ExportLine, ExportTaskCreated,
    LabelVersion, LbTask, MediaType, TaskStatus, WithRaw,
};
use bytes::Bytes;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use labelmux_core::paginate::{guarded, key_of, paginate, Page};
use labelmux_core::transport::RetryMode;
use labelmux_core::transport::{ndjson_lines, resumable_download};
use labelmux_core::{Error, ErrorKind, Result};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Most ids in a `data_row_ids` or `global_keys` export filter.
pub const MAX_EXPORT_FILTER_IDS: usize = 2_000;

/// Most ids in a `batch_ids` export filter (the SDK's check).
pub const MAX_EXPORT_BATCH_IDS: usize = 1_000;

/// Longest NDJSON line accepted (one data row with all its labels).
pub const MAX_EXPORT_LINE_BYTES: usize = 256 * 1024 * 1024;

/// Page size of the label-versions feed (Labelbox's maximum).
pub const LABEL_VERSIONS_PAGE: i64 = 100;

/// A time window; either end may be open. Labelbox takes whole seconds: the start is rounded
/// down and the end up, so the window never shrinks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// From (inclusive).
    pub start: Option<DateTime<Utc>>,
    /// Until (inclusive).
    pub end: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// From `start` on.
    pub fn since(start: DateTime<Utc>) -> Self {
        TimeRange {
            start: Some(start),
            end: None,
        }
    }
}

/// Workflow status filter of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportWorkflowStatus {
    /// In the labeling queue.
    ToLabel,
    /// In review.
    InReview,
    /// In rework.
    InRework,
    /// Done.
    Done,
}

/// Filters of a project export (spec §12.2), AND-combined. Empty lists filter nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilters {
    /// Last activity on the data row (labels, reviews, metadata, workflow, comments).
    pub last_activity_at: Option<TimeRange>,
    /// Label creation.
    pub label_created_at: Option<TimeRange>,
    /// Only these data rows (≤ 2,000; not with `global_keys`).
    pub data_row_ids: Vec<String>,
    /// Only these global keys (≤ 2,000; not with `data_row_ids`).
    pub global_keys: Vec<String>,
    /// Only these batches.
    pub batch_ids: Vec<String>,
    /// Only rows in this workflow state.
    pub workflow_status: Option<ExportWorkflowStatus>,
}

/// What an export includes (spec §12.3). The default includes everything a delivery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportParams {
    /// Attachments.
    pub attachments: bool,
    /// Embeddings.
    pub embeddings: bool,
    /// Metadata fields.
    pub metadata: bool,
    /// `data_row.details`.
    pub data_row_details: bool,
    /// `project_details`.
    pub project_details: bool,
    /// `performance_details`.
    pub performance_details: bool,
    /// `label_details`.
    pub label_details: bool,
    /// Interpolated video frames.
    pub interpolated_frames: bool,
    /// Override of the media type.
    pub media_type_override: Option<MediaType>,
}

impl Default for ExportParams {
    fn default() -> Self {
        ExportParams {
            attachments: true,
            embeddings: false,
            metadata: true,
            data_row_details: true,
            project_details: true,
            performance_details: true,
            label_details: true,
            interpolated_frames: false,
            media_type_override: None,
        }
    }
}

/// Filters of the label-versions feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelVersionsQuery {
    /// The project.
    pub project_id: String,
    /// Only this label's versions.
    pub label_id: Option<String>,
    /// Only this data row's.
    pub data_row_id: Option<String>,
    /// Only this user's.
    pub created_by_id: Option<String>,
    /// Recorded at or after (inclusive, millisecond precision).
    pub created_after: Option<DateTime<Utc>>,
    /// Recorded before (exclusive).
    pub created_before: Option<DateTime<Utc>>,
}

/// An export date as Labelbox takes it: `YYYY-MM-DDThh:mm:ss+0000` (UTC, whole seconds).
fn export_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

fn round_down(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t)
}

fn round_up(t: DateTime<Utc>) -> DateTime<Utc> {
    let down = round_down(t);
    if down == t {
        t
    } else {
        down + TimeDelta::seconds(1)
    }
}

fn date_item(kind: &str, range: &TimeRange) -> Option<Value> {
    let start = range.start.map(|t| export_date(round_down(t)));
    let end = range.end.map(|t| export_date(round_up(t)));
    let value = match (start, end) {
        (Some(s), Some(e)) => {
            json!({"operator": "BETWEEN", "timezone": "UTC", "value": {"min": s, "max": e}})
        }
        (Some(s), None) => {
            json!({"operator": "GREATER_THAN_OR_EQUAL", "timezone": "UTC", "value": s})
        }
        (None, Some(e)) => json!({"operator": "LESS_THAN_OR_EQUAL", "timezone": "UTC", "value": e}),
        (None, None) => return None,
    };
    Some(json!({"type": kind, "value": value}))
}

impl ExportFilters {
    /// The `searchQuery.query` items, checked against Labelbox's limits.
    pub fn query_items(&self) -> Result<Vec<Value>> {
        if !self.data_row_ids.is_empty() && !self.global_keys.is_empty() {
            return Err(Error::validation(
                "an export filters by data row ids or by global keys, not both",
            ));
        }
        for (list, what, max) in [
            (&self.data_row_ids, "data_row_ids", MAX_EXPORT_FILTER_IDS),
            (&self.global_keys, "global_keys", MAX_EXPORT_FILTER_IDS),
            (&self.batch_ids, "batch_ids", MAX_EXPORT_BATCH_IDS),
        ] {
            if list.len() > max {
                return Err(Error::validation(format!(
                    "the {what} export filter takes at most {max} entries ({} given); export in several parts",
                    list.len()
                )));
            }
        }
        let mut items = Vec::new();
        if let Some(item) = self
            .last_activity_at
            .as_ref()
            .and_then(|r| date_item("data_row_last_activity_at", r))
        {
            items.push(item);
        }
        if let Some(item) = self
            .label_created_at
            .as_ref()
            .and_then(|r| date_item("labeled_at", r))
        {
            items.push(item);
        }
        if !self.data_row_ids.is_empty() {
            items.push(json!({"ids": self.data_row_ids, "operator": "is", "type": "data_row_id"}));
        }
        if !self.global_keys.is_empty() {
            items.push(json!({"ids": self.global_keys, "operator": "is", "type": "global_key"}));
        }
        if !self.batch_ids.is_empty() {
            items.push(json!({"ids": self.batch_ids, "operator": "is", "type": "batch"}));
        }
        match self.workflow_status {
            None => {}
            Some(ExportWorkflowStatus::ToLabel) => {
                items.push(json!({"type": "task_queue_not_exist"}))
            }
            Some(s) => {
                let status = match s {
                    ExportWorkflowStatus::InReview => "InReview",
                    ExportWorkflowStatus::InRework => "InRework",
                    _ => "Done",
                };
                items.push(json!({"type": "task_queue_status", "status": status}));
            }
        }
        Ok(items)
    }
}

macro_rules! params_input {
    ($module:ident, $p:expr) => {{
        let p: &ExportParams = $p;
        ops::$module::ExportParamsInput {
            media_type_override: p
                .media_type_override
                .as_ref()
                .map(|m| ops::$module::MediaType::Other(m.as_str().to_owned())),
            include_attachments: Some(p.attachments),
            include_embeddings: Some(p.embeddings),
            include_metadata: Some(p.metadata),
            include_data_row_details: Some(p.data_row_details),
            include_project_details: Some(p.project_details),
            include_performance_details: Some(p.performance_details),
            include_label_details: Some(p.label_details),
            include_interpolated_frames: Some(p.interpolated_frames),
            include_predictions: None,
            project_ids: None,
            model_run_ids: None,
            all_projects: None,
            all_model_runs: None,
        }
    }};
}

/// Which stream of an export Task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStream {
    /// The NDJSON result.
    Result,
    /// The errors.
    Errors,
}

impl ExportStream {
    fn header_type(self) -> ops::get_export_metadata_header::TaskStreamType {
        match self {
            ExportStream::Result => ops::get_export_metadata_header::TaskStreamType::RESULT,
            ExportStream::Errors => ops::get_export_metadata_header::TaskStreamType::ERRORS,
        }
    }

    fn chunk_type(self) -> ops::get_export_file_from_offset::TaskStreamType {
        match self {
            ExportStream::Result => ops::get_export_file_from_offset::TaskStreamType::RESULT,
            ExportStream::Errors => ops::get_export_file_from_offset::TaskStreamType::ERRORS,
        }
    }
}

impl LabelboxClient {
    /// Start a project export; returns the export Task id.
    pub async fn create_project_export(
        &self,
        project_id: &str,
        filters: &ExportFilters,
        params: &ExportParams,
        task_name: Option<&str>,
    ) -> Result<String> {
        const OP: &str = "export_project";
        let query = filters.query_items().map_err(|e| op_err(e, OP))?;
        let data = self
            .run::<ops::ExportDataRowsInProject>(
                Endpoint::Main,
                OP,
                ops::export_data_rows_in_project::Variables {
                    input: ops::export_data_rows_in_project::ExportDataRowsInProjectInput {
                        task_name: task_name.map(str::to_owned),
                        is_streamable_ready: Some(true),
                        filters: ops::export_data_rows_in_project::ProjectExportFiltersInput {
                            project_id: project_id.to_owned(),
                            search_query:
                                ops::export_data_rows_in_project::ExportSearchQueryInput {
                                    scope: None,
                                    query: Some(query),
                                },
                        },
                        params: params_input!(export_data_rows_in_project, params),
                        streamable: Some(true),
                    },
                },
                // An export only reads; a resent one at worst leaves a second export Task
                // (counted against the 10 running exports allowed until it finishes).
                RetryMode::Idempotent,
            )
            .await?;
        let created: ExportTaskCreated = decode_plain(
            required(data, &["exportDataRowsInProject"], OP)?,
            "export task",
        )
        .map_err(|e| op_err(e, OP))?;
        Ok(created.task_id)
    }

    /// Start a catalog export of data rows by global key (≤ 2,000) or of a whole dataset;
    /// returns the export Task id.
    pub async fn create_catalog_export(
        &self,
        global_keys: &[String],
        dataset_id: Option<&str>,
        params: &ExportParams,
        task_name: Option<&str>,
    ) -> Result<String> {
        const OP: &str = "export_catalog";
        let mut query = ExportFilters {
            global_keys: global_keys.to_vec(),
            ..ExportFilters::default()
        }
        .query_items()
        .map_err(|e| op_err(e, OP))?;
        if let Some(d) = dataset_id {
            query.push(json!({"ids": [d], "operator": "is", "type": "dataset"}));
        }
        let data = self
            .run::<ops::ExportDataRowsInCatalog>(
                Endpoint::Main,
                OP,
                ops::export_data_rows_in_catalog::Variables {
                    input: ops::export_data_rows_in_catalog::ExportDataRowsInCatalogInput {
                        task_name: task_name.map(str::to_owned),
                        is_streamable_ready: Some(true),
                        filters: ops::export_data_rows_in_catalog::CatalogExportFiltersInput {
                            search_query:
                                ops::export_data_rows_in_catalog::ExportSearchQueryInput {
                                    scope: None,
                                    query: Some(query),
                                },
                        },
                        params: params_input!(export_data_rows_in_catalog, params),
                        streamable: Some(true),
                    },
                },
                RetryMode::Idempotent,
            )
            .await?;
        let created: ExportTaskCreated = decode_plain(
            required(data, &["exportDataRowsInCatalog"], OP)?,
            "export task",
        )
        .map_err(|e| op_err(e, OP))?;
        Ok(created.task_id)
    }

    /// Wait for an export Task; a failed one is an error.
    pub async fn wait_for_export(&self, task_id: &str) -> Result<LbTask> {
        const OP: &str = "export";
        let task = self.wait_for_task(task_id, OP, self.poll.export).await?;
        if task.status == TaskStatus::Complete {
            Ok(task)
        } else {
            Err(op_err(
                Error::new(
                    ErrorKind::Internal,
                    format!(
                        "Labelbox export {task_id} ended {}: {}",
                        task.status,
                        task.failure_text()
                    ),
                ),
                OP,
            ))
        }
    }

    /// The size of an export stream; `None` when there is no such stream (an export that
    /// matched nothing has no RESULT stream).
    pub async fn export_header(
        &self,
        task_id: &str,
        stream: ExportStream,
    ) -> Result<Option<ExportHeader>> {
        const OP: &str = "export_header";
        let data = self
            .query::<ops::GetExportMetadataHeader>(
                Endpoint::Main,
                OP,
                ops::get_export_metadata_header::Variables {
                    where_: Some(ops::get_export_metadata_header::WhereUniqueIdInput {
                        id: task_id.to_owned(),
                    }),
                    stream_type: stream.header_type(),
                },
            )
            .await?;
        let task = required(data, &["task"], OP)?;
        match task.get("exportMetadataHeader") {
            None | Some(Value::Null) => Ok(None),
            Some(h) => decode_plain(h.clone(), "export header")
                .map(Some)
                .map_err(|e| op_err(e, OP)),
        }
    }

    /// Where the chunk starting at byte `offset` of a stream is.
    pub async fn export_chunk(
        &self,
        task_id: &str,
        stream: ExportStream,
        offset: u64,
    ) -> Result<ExportChunk> {
        const OP: &str = "export_chunk";
        let data = self
            .query::<ops::GetExportFileFromOffset>(
                Endpoint::Main,
                OP,
                ops::get_export_file_from_offset::Variables {
                    where_: Some(ops::get_export_file_from_offset::WhereUniqueIdInput {
                        id: task_id.to_owned(),
                    }),
                    stream_type: stream.chunk_type(),
                    offset: offset.to_string(),
                },
            )
            .await?;
        let chunk: ExportChunk = decode_plain(
            required(data, &["task", "exportFileFromOffset"], OP)?,
            "export chunk",
        )
        .map_err(|e| op_err(e, OP))?;
        if chunk.offsets.start != offset || chunk.is_empty() {
            return Err(op_err(
                Error::decode(format!(
                    "Labelbox answered bytes {}..={} for offset {offset}",
                    chunk.offsets.start, chunk.offsets.end
                )),
                OP,
            ));
        }
        Ok(chunk)
    }

    /// The bytes of a finished export's stream, chunk after chunk, as they arrive. Each
    /// chunk's length is checked against the range Labelbox announced.
    pub fn export_bytes(
        &self,
        task_id: &str,
        stream: ExportStream,
    ) -> BoxStream<'static, Result<Bytes>> {
        const OP: &str = "export_download";
        let client = self.clone();
        let task_id = task_id.to_owned();
        let chunks = stream::once(async move {
            let total = client
                .export_header(&task_id, stream)
                .await?
                .map(|h| h.total_size)
                .unwrap_or(0);
            let chunk_streams = stream::try_unfold(0u64, move |offset| {
                let client = client.clone();
                let task_id = task_id.clone();
                async move {
                    if offset >= total {
                        return Ok::<_, Error>(None);
                    }
                    let chunk = client.export_chunk(&task_id, stream, offset).await?;
                    let expected = chunk.len();
                    let seen = Arc::new(AtomicU64::new(0));
                    let counter = seen.clone();
                    let body = resumable_download(client.transport(), OP, &chunk.file).inspect_ok(
                        move |b| {
                            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
                        },
                    );
                    let check = stream::once(async move {
                        let got = seen.load(Ordering::Relaxed);
                        if got == expected {
                            Ok(None)
                        } else {
                            Err(op_err(
                                Error::decode(format!(
                                    "export chunk at byte {offset} held {got} bytes, Labelbox announced {expected}"
                                )),
                                OP,
                            ))
                        }
                    });
                    let s: BoxStream<'static, Result<Bytes>> = body
                        .map_ok(Some)
                        .chain(check)
                        .try_filter_map(|b| async move { Ok(b) })
                        .boxed();
                    Ok(Some((s, chunk.offsets.end.saturating_add(1))))
                }
            });
            Ok::<_, Error>(chunk_streams.try_flatten())
        });
        chunks.try_flatten().boxed()
    }

    /// The NDJSON lines of a finished export's stream, decoded as they arrive.
    pub fn export_lines(
        &self,
        task_id: &str,
        stream: ExportStream,
    ) -> BoxStream<'static, Result<Value>> {
        ndjson_lines(self.export_bytes(task_id, stream), MAX_EXPORT_LINE_BYTES)
            .map(|line| {
                let line = line?;
                serde_json::from_slice::<Value>(&line).map_err(|e| {
                    op_err(
                        Error::decode(format!("an export line is not JSON: {e}")),
                        "export_download",
                    )
                })
            })
            .boxed()
    }

    /// Export a project and stream its data rows: create the Task, wait for it, stream the
    /// RESULT lines.
    pub fn export_project(
        &self,
        project_id: &str,
        filters: ExportFilters,
        params: ExportParams,
    ) -> BoxStream<'static, Result<ExportLine>> {
        let client = self.clone();
        let project_id = project_id.to_owned();
        stream::once(async move {
            let task_id = client
                .create_project_export(&project_id, &filters, &params, None)
                .await?;
            client.wait_for_export(&task_id).await?;
            Ok::<_, Error>(
                client
                    .export_lines(&task_id, ExportStream::Result)
                    .and_then(|v| async move {
                        let mut line: ExportLine = decode_plain(v.clone(), "export line")
                            .map_err(|e| op_err(e, "export_download"))?;
                        line.set_raw(v);
                        Ok(line)
                    }),
            )
        })
        .try_flatten()
        .boxed()
    }

    /// Label versions of a project, oldest first, 100 per request.
    pub fn label_versions(
        &self,
        query: LabelVersionsQuery,
    ) -> BoxStream<'static, Result<LabelVersion>> {
        const OP: &str = "label_versions";
        let client = self.clone();
        let fmt = |t: &DateTime<Utc>| crate::wire::format_timestamp(t);
        let where_ = ops::get_label_versions::LabelVersionsWhereInput {
            project_id: query.project_id.clone(),
            label_id: query.label_id.clone(),
            data_row_id: query.data_row_id.clone(),
            created_by_id: query.created_by_id.clone(),
            created_after: query.created_after.as_ref().map(fmt),
            created_before: query.created_before.as_ref().map(fmt),
        };
        let id = |v: &LabelVersion| key_of(&v.id);
        paginate(
            None::<String>,
            guarded(VENDOR, OP, id, move |from| {
                let client = client.clone();
                let variables = ops::get_label_versions::Variables {
                    where_: where_.clone(),
                    first: Some(LABEL_VERSIONS_PAGE),
                    from,
                };
                async move {
                    let data = client
                        .query::<ops::GetLabelVersions>(Endpoint::Main, OP, variables)
                        .await?;
                    let mut conn = required(data, &["labelVersions"], OP)?;
                    let items: Vec<LabelVersion> =
                        decode_list(conn["nodes"].take(), "label version")
                            .map_err(|e| op_err(e, OP))?;
                    let next = labelmux_core::lenient::key_string(&conn["nextCursor"])
                        .filter(|_| !items.is_empty());
                    Ok(Page {
                        items,
                        next: next.map(Some),
                    })
                }
            }),
        )
    }

    /// One label version.
    pub async fn label_version(&self, version_id: &str) -> Result<LabelVersion> {
        const OP: &str = "label_version";
        let data = self
            .query::<ops::GetLabelVersion>(
                Endpoint::Main,
                OP,
                ops::get_label_version::Variables {
                    id: version_id.to_owned(),
                },
            )
            .await?;
        decode(required(data, &["labelVersion"], OP)?, "label version").map_err(|e| op_err(e, OP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_filter_of_the_spec_takes_its_wire_shape() {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::milliseconds(999);
        let t1 = Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap() + TimeDelta::milliseconds(1);
        let f = ExportFilters {
            last_activity_at: Some(TimeRange {
                start: Some(t0),
                end: Some(t1),
            }),
            label_created_at: Some(TimeRange::since(t0)),
            data_row_ids: vec![],
            global_keys: vec!["gk-1".into()],
            batch_ids: vec!["clbatch".into()],
            workflow_status: Some(ExportWorkflowStatus::Done),
        };
        let items = f.query_items().unwrap();
        assert_eq!(
            items,
            vec![
                json!({"type": "data_row_last_activity_at", "value": {"operator": "BETWEEN", "timezone": "UTC",
                       "value": {"min": "2024-01-01T00:00:00+0000", "max": "2024-02-01T00:00:01+0000"}}}),
                json!({"type": "labeled_at", "value": {"operator": "GREATER_THAN_OR_EQUAL", "timezone": "UTC",
                       "value": "2024-01-01T00:00:00+0000"}}),
                json!({"ids": ["gk-1"], "operator": "is", "type": "global_key"}),
                json!({"ids": ["clbatch"], "operator": "is", "type": "batch"}),
                json!({"type": "task_queue_status", "status": "Done"}),
            ]
        );
        let only_end = ExportFilters {
            last_activity_at: Some(TimeRange {
                start: None,
                end: Some(t1),
            }),
            data_row_ids: vec!["d".into()],
            workflow_status: Some(ExportWorkflowStatus::ToLabel),
            ..ExportFilters::default()
        };
        let items = only_end.query_items().unwrap();
        assert_eq!(items[0]["value"]["operator"], "LESS_THAN_OR_EQUAL");
        assert_eq!(items[1]["type"], "data_row_id");
        assert_eq!(items[2], json!({"type": "task_queue_not_exist"}));
        assert!(ExportFilters::default().query_items().unwrap().is_empty());
    }

    #[test]
    fn filters_over_labelbox_limits_are_refused_locally() {
        let both = ExportFilters {
            data_row_ids: vec!["a".into()],
            global_keys: vec!["b".into()],
            ..ExportFilters::default()
        };
        assert!(both.query_items().is_err());
        let many = ExportFilters {
            global_keys: (0..2001).map(|i| i.to_string()).collect(),
            ..ExportFilters::default()
        };
        let e = many.query_items().unwrap_err();
        assert!(e.to_string().contains("2000"), "{e}");
    }
}
