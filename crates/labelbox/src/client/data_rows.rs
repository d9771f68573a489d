//! Datasets and data-row reads (spec §8, §9.3–9.6, §10.1). Bulk creation is in
//! [`crate::upload`].

use super::{op_err, required, Endpoint, LabelboxClient, VENDOR};
use crate::ops;
use crate::wire::{
    decode, decode_list, decode_plain, DataRow, Dataset, GlobalKeyJobResult, GlobalKeyResolution,
    MetadataSchema,
};
use futures::stream::BoxStream;
use labelmux_core::paginate::{guarded, key_of, paginate, Page};
use labelmux_core::poll::{self, PollStatus};
use labelmux_core::transport::RetryMode;
use labelmux_core::{Error, ErrorKind, Result};
use serde_json::Value;

/// Global keys per look-up job. The SDK sends any number in one job; bounded here so that one
/// request body stays small (≤ 2 MB at the 200-character key limit).
pub const GLOBAL_KEY_LOOKUP_CHUNK: usize = 10_000;

/// Ids per processing check (as the SDK chunks them).
pub const PROCESSING_CHECK_CHUNK: usize = 100_000;

/// Page size of `datasetDataRows` (the SDK's, "to avoid overloading the server").
pub const DATASET_ROWS_PAGE: i64 = 500;

/// Filter of a dataset's data rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataRowFilter {
    /// Only rows with this external id.
    pub external_id: Option<String>,
    /// Only the row with this global key.
    pub global_key: Option<String>,
}

impl LabelboxClient {
    /// Create a dataset (no cloud-storage integration is attached: rows use public or
    /// pre-signed URLs).
    pub async fn create_dataset(&self, name: &str, description: Option<&str>) -> Result<Dataset> {
        const OP: &str = "create_dataset";
        let data = self
            .run::<ops::CreateDataset>(
                Endpoint::Main,
                OP,
                ops::create_dataset::Variables {
                    name: name.to_owned(),
                    description: description.map(str::to_owned),
                },
                RetryMode::OnlyIfNotProcessed,
            )
            .await?;
        decode(required(data, &["createDataset"], OP)?, "dataset").map_err(|e| op_err(e, OP))
    }

    /// A dataset by id.
    pub async fn get_dataset(&self, dataset_id: &str) -> Result<Dataset> {
        const OP: &str = "get_dataset";
        let data = self
            .query::<ops::GetDataset>(
                Endpoint::Main,
                OP,
                ops::get_dataset::Variables {
                    dataset_id: dataset_id.to_owned(),
                },
            )
            .await?;
        decode(required(data, &["dataset"], OP)?, "dataset").map_err(|e| op_err(e, OP))
    }

    /// Every dataset not deleted, 100 per request.
    pub fn list_datasets(&self) -> BoxStream<'static, Result<Dataset>> {
        self.orm_stream::<ops::ListDatasets, _>(
            "list_datasets",
            ops::list_datasets::Variables { deleted: false },
            |data| {
                decode_list(
                    data.get("datasets").cloned().unwrap_or(Value::Null),
                    "dataset",
                )
            },
            |d: &Dataset| key_of(&d.id),
        )
    }

    /// Delete a dataset (soft delete).
    pub async fn delete_dataset(&self, dataset_id: &str) -> Result<()> {
        const OP: &str = "delete_dataset";
        let data = self
            .run::<ops::DeleteDataset>(
                Endpoint::Main,
                OP,
                ops::delete_dataset::Variables {
                    dataset_id: dataset_id.to_owned(),
                },
                RetryMode::Idempotent,
            )
            .await?;
        required(data, &["updateDataset"], OP).map(drop)
    }

    /// A data row by id.
    pub async fn get_data_row(&self, data_row_id: &str) -> Result<DataRow> {
        const OP: &str = "get_data_row";
        let data = self
            .query::<ops::GetDataRow>(
                Endpoint::Main,
                OP,
                ops::get_data_row::Variables {
                    data_row_id: data_row_id.to_owned(),
                },
            )
            .await?;
        decode(required(data, &["dataRow"], OP)?, "data row").map_err(|e| op_err(e, OP))
    }

    /// A dataset's data rows, newest first, 500 per request.
    pub fn dataset_data_rows(
        &self,
        dataset_id: &str,
        filter: DataRowFilter,
    ) -> BoxStream<'static, Result<DataRow>> {
        const OP: &str = "dataset_data_rows";
        let client = self.clone();
        let dataset_id = dataset_id.to_owned();
        let where_ = (filter != DataRowFilter::default()).then_some(
            ops::dataset_data_rows::DatasetDataRowWhereInput {
                external_id: filter.external_id,
                global_key: filter.global_key,
            },
        );
        let id = |r: &DataRow| key_of(&r.id);
        paginate(
            None::<String>,
            guarded(VENDOR, OP, id, move |from| {
                let client = client.clone();
                let variables = ops::dataset_data_rows::Variables {
                    id: dataset_id.clone(),
                    from,
                    first: Some(DATASET_ROWS_PAGE),
                    where_: where_.clone(),
                };
                async move {
                    let data = client
                        .query::<ops::DatasetDataRows>(Endpoint::Main, OP, variables)
                        .await?;
                    let mut conn = required(data, &["datasetDataRows"], OP)?;
                    let items: Vec<DataRow> =
                        decode_list(conn["nodes"].take(), "data row").map_err(|e| op_err(e, OP))?;
                    // The SDK takes `startCursor` as the next `from` and ignores `hasNextPage`.
                    let next = labelmux_core::lenient::key_string(&conn["pageInfo"]["startCursor"])
                        .filter(|_| !items.is_empty());
                    Ok(Page {
                        items,
                        next: next.map(Some),
                    })
                }
            }),
        )
    }

    /// The organization's data-row metadata schemas.
    pub async fn metadata_ontology(&self) -> Result<Vec<MetadataSchema>> {
        const OP: &str = "metadata_ontology";
        let data = self
            .query::<ops::GetMetadataOntology>(
                Endpoint::Main,
                OP,
                ops::get_metadata_ontology::Variables,
            )
            .await?;
        decode_list(
            data.get("customMetadataOntology")
                .cloned()
                .unwrap_or(Value::Null),
            "metadata schema",
        )
        .map_err(|e| op_err(e, OP))
    }

    /// Resolve global keys to data row ids, in request order, in look-up jobs of at most
    /// [`GLOBAL_KEY_LOOKUP_CHUNK`] keys.
    pub async fn data_row_ids_for_global_keys(
        &self,
        global_keys: &[String],
    ) -> Result<GlobalKeyResolution> {
        let mut out = GlobalKeyResolution::default();
        for chunk in global_keys.chunks(GLOBAL_KEY_LOOKUP_CHUNK) {
            let part = self.lookup_global_keys(chunk).await?;
            out.rows.extend(part.rows);
            out.not_found.extend(part.not_found);
            out.access_denied.extend(part.access_denied);
        }
        Ok(out)
    }

    async fn lookup_global_keys(&self, keys: &[String]) -> Result<GlobalKeyResolution> {
        const OP: &str = "data_row_ids_for_global_keys";
        let data = self
            .query::<ops::DataRowsForGlobalKeys>(
                Endpoint::Main,
                OP,
                ops::data_rows_for_global_keys::Variables {
                    global_keys: keys.to_vec(),
                },
            )
            .await?;
        let job_id = labelmux_core::lenient::key_string(&required(
            data,
            &["dataRowsForGlobalKeys", "jobId"],
            OP,
        )?)
        .ok_or_else(|| {
            op_err(
                Error::decode("Labelbox answered an empty look-up job id"),
                OP,
            )
        })?;
        let result: GlobalKeyJobResult = poll::poll_until(VENDOR, OP, self.poll.lookup, || async {
            let data = self
                .query::<ops::DataRowsForGlobalKeysResult>(
                    Endpoint::Main,
                    OP,
                    ops::data_rows_for_global_keys_result::Variables {
                        job_id: job_id.clone(),
                    },
                )
                .await?;
            let r: GlobalKeyJobResult = decode_plain(
                required(data, &["dataRowsForGlobalKeysResult"], OP)?,
                "global key look-up",
            )
            .map_err(|e| op_err(e, OP))?;
            Ok(match r.job_status.as_deref() {
                Some("COMPLETE") | Some("FAILED") => PollStatus::Done(r),
                other => PollStatus::Pending(Some(format!(
                    "look-up job {job_id} {}",
                    other.unwrap_or("pending")
                ))),
            })
        })
        .await?;
        if result.job_status.as_deref() == Some("FAILED") {
            return Err(op_err(
                Error::new(
                    ErrorKind::Internal,
                    format!("Labelbox's global-key look-up job {job_id} failed"),
                ),
                OP,
            ));
        }
        let data = result.data.unwrap_or_default();
        if data.fetched_data_rows.len() != keys.len() {
            return Err(op_err(
                Error::decode(format!(
                    "Labelbox resolved {} of {} global keys (one entry per key expected)",
                    data.fetched_data_rows.len(),
                    keys.len()
                )),
                OP,
            ));
        }
        Ok(GlobalKeyResolution {
            rows: keys
                .iter()
                .cloned()
                .zip(
                    data.fetched_data_rows
                        .into_iter()
                        .map(|r| r.id.filter(|id| !id.is_empty())),
                )
                .collect(),
            not_found: data.not_found_global_keys,
            access_denied: data.access_denied_global_keys,
        })
    }

    /// Whether Labelbox finished processing these rows (by global key), in checks of at most
    /// [`PROCESSING_CHECK_CHUNK`] keys. Unknown keys count as processed.
    pub async fn data_rows_processed(&self, global_keys: &[String]) -> Result<bool> {
        const OP: &str = "data_rows_processed";
        for chunk in global_keys.chunks(PROCESSING_CHECK_CHUNK) {
            let data = self
                .query::<ops::DataRowsProcessedByGlobalKeys>(
                    Endpoint::Main,
                    OP,
                    ops::data_rows_processed_by_global_keys::Variables {
                        global_keys: Some(chunk.to_vec()),
                    },
                )
                .await?;
            let done = required(
                data,
                &[
                    "queryAllDataRowsHaveBeenProcessed",
                    "allDataRowsHaveBeenProcessed",
                ],
                OP,
            )?;
            if done.as_bool() != Some(true) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether Labelbox finished processing these rows (by data row id).
    pub async fn data_rows_processed_by_id(&self, data_row_ids: &[String]) -> Result<bool> {
        const OP: &str = "data_rows_processed";
        for chunk in data_row_ids.chunks(PROCESSING_CHECK_CHUNK) {
            let data = self
                .query::<ops::DataRowsProcessedByIds>(
                    Endpoint::Main,
                    OP,
                    ops::data_rows_processed_by_ids::Variables {
                        data_row_ids: Some(chunk.to_vec()),
                    },
                )
                .await?;
            let done = required(
                data,
                &[
                    "queryAllDataRowsHaveBeenProcessed",
                    "allDataRowsHaveBeenProcessed",
                ],
                OP,
            )?;
            if done.as_bool() != Some(true) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Wait until Labelbox has processed these rows (by global key), as the SDK does before
    /// creating a batch; polls per the client's processing settings.
    pub async fn wait_until_processed(&self, global_keys: &[String]) -> Result<()> {
        const OP: &str = "wait_until_data_rows_processed";
        poll::poll_until(VENDOR, OP, self.poll.processing, || async {
            Ok(if self.data_rows_processed(global_keys).await? {
                PollStatus::Done(())
            } else {
                PollStatus::Pending(Some(format!(
                    "{} data rows not processed yet",
                    global_keys.len()
                )))
            })
        })
        .await
    }
}
