//! Batches (spec §10): creation below and above 1,000 rows and above the 100,000-row limit,
//! listing, archive, delete.

use super::{op_err, required, Endpoint, LabelboxClient, VENDOR};
use crate::ops;
use crate::wire::{decode, decode_list, Batch, ConsensusSettings, CreatedBatch};
use futures::stream::BoxStream;
use labelmux_core::paginate::{guarded, key_of, paginate, Page};
use labelmux_core::transport::RetryMode;
use labelmux_core::{Error, Result};
use serde_json::Value;

/// Rows from which the SDK creates a batch asynchronously (empty batch + add-rows Task).
pub const MAX_SYNC_BATCH_ROWS: usize = 1_000;

/// Most rows in one batch (the SDK's client-side check).
pub const MAX_BATCH_ROWS: usize = 100_000;

/// Attempts of a batch creation after failures that may have been acted on.
const MAX_AMBIGUOUS_CREATES: u32 = 3;

/// Page size of the batch list.
pub const BATCH_PAGE: i64 = 100;

/// The rows of a batch: Labelbox ids or global keys (exactly one kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRows {
    /// Data row ids.
    Ids(Vec<String>),
    /// Global keys.
    GlobalKeys(Vec<String>),
}

impl BatchRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            BatchRows::Ids(v) | BatchRows::GlobalKeys(v) => v.len(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(dataRowIds, globalKeys)` as the SDK sends them: `[]` for unused ids, `null` for
    /// unused keys.
    fn wire(&self) -> (Vec<String>, Option<Vec<String>>) {
        match self {
            BatchRows::Ids(v) => (v.clone(), None),
            BatchRows::GlobalKeys(v) => (Vec::new(), Some(v.clone())),
        }
    }

    fn chunks(&self, size: usize) -> Vec<BatchRows> {
        match self {
            BatchRows::Ids(v) => v.chunks(size).map(|c| BatchRows::Ids(c.to_vec())).collect(),
            BatchRows::GlobalKeys(v) => v
                .chunks(size)
                .map(|c| BatchRows::GlobalKeys(c.to_vec()))
                .collect(),
        }
    }
}

/// Options of a new batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreateBatchOptions {
    /// 1 (labeled first) … 5 (last); the SDK's default is 5.
    pub priority: i64,
    /// Consensus settings, if any.
    pub consensus: Option<ConsensusSettings>,
    /// Wait until Labelbox has processed the rows before creating the batch (the SDK always
    /// does; only for global keys here).
    pub wait_until_processed: bool,
}

impl Default for CreateBatchOptions {
    fn default() -> Self {
        CreateBatchOptions {
            priority: 5,
            consensus: None,
            wait_until_processed: true,
        }
    }
}

fn batch_consensus<T>(c: Option<ConsensusSettings>, make: fn(i64, f64) -> T) -> Option<T> {
    c.map(|c| make(c.number_of_labels, c.coverage_percentage))
}

/// Split rows into batches of at most `max` rows: `name` alone, or `name-1`, `name-2`, ….
pub fn batch_parts(name: &str, rows: &BatchRows, max: usize) -> Vec<(String, BatchRows)> {
    let parts = rows.chunks(max.max(1));
    let many = parts.len() > 1;
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let part_name = if many {
                format!("{name}-{}", i + 1)
            } else {
                name.to_owned()
            };
            (part_name, part)
        })
        .collect()
}

impl LabelboxClient {
    /// Create one batch of at most [`MAX_BATCH_ROWS`] rows: directly below
    /// [`MAX_SYNC_BATCH_ROWS`], otherwise as an empty batch filled by an add-rows Task (as the
    /// SDK does). Rows Labelbox refuses come back in `failed_data_row_ids`; when it can add
    /// none, the answer is an `InvalidRequest` error with code `MalformedQueryException`.
    pub async fn create_batch(
        &self,
        project_id: &str,
        name: &str,
        rows: &BatchRows,
        options: &CreateBatchOptions,
    ) -> Result<CreatedBatch> {
        const OP: &str = "create_batch";
        if rows.is_empty() {
            return Err(op_err(
                Error::validation("a batch needs at least one data row"),
                OP,
            ));
        }
        if rows.len() > MAX_BATCH_ROWS {
            return Err(op_err(
                Error::validation(format!(
                    "a batch holds at most {MAX_BATCH_ROWS} data rows ({} given); use create_batches",
                    rows.len()
                )),
                OP,
            ));
        }
        if !(1..=5).contains(&options.priority) {
            return Err(op_err(
                Error::validation(format!(
                    "batch priority must be 1..=5, got {}",
                    options.priority
                )),
                OP,
            ));
        }
        if options.wait_until_processed {
            if let BatchRows::GlobalKeys(keys) = rows {
                self.wait_until_processed(keys).await?;
            } else if let BatchRows::Ids(ids) = rows {
                if !self.data_rows_processed_by_id(ids).await? {
                    let client = self.clone();
                    labelmux_core::poll::poll_until(
                        super::VENDOR,
                        OP,
                        self.poll.processing,
                        || {
                            let client = client.clone();
                            async move {
                                Ok(if client.data_rows_processed_by_id(ids).await? {
                                    labelmux_core::poll::PollStatus::Done(())
                                } else {
                                    labelmux_core::poll::PollStatus::Pending(None)
                                })
                            }
                        },
                    )
                    .await?;
                }
            }
        }
        if rows.len() >= MAX_SYNC_BATCH_ROWS {
            return self
                .create_batch_async(project_id, name, rows, options)
                .await;
        }
        let (data_row_ids, global_keys) = rows.wire();
        let variables = ops::create_batch_v2::Variables {
            project_id: project_id.to_owned(),
            batch_input: ops::create_batch_v2::CreateBatchInput {
                name: name.to_owned(),
                data_row_ids: Some(data_row_ids),
                global_keys,
                priority: options.priority,
                consensus_settings: batch_consensus(options.consensus, |n, c| {
                    ops::create_batch_v2::ConsensusSettingsInput {
                        number_of_labels: n,
                        coverage_percentage: c,
                    }
                }),
            },
        };
        let mut ambiguous = 0;
        loop {
            let outcome = self
                .run::<ops::CreateBatchV2>(
                    Endpoint::Experimental,
                    OP,
                    variables.clone(),
                    // A resent create could make the batch twice: after a failure that may
                    // have been acted on, the batch is looked up by its name instead.
                    RetryMode::OnlyIfNotProcessed,
                )
                .await;
            match outcome {
                Ok(data) => {
                    let mut created = required(data, &["project", "createBatchV2"], OP)?;
                    let batch =
                        decode(created["batch"].take(), "batch").map_err(|e| op_err(e, OP))?;
                    let failed =
                        labelmux_core::lenient::string_list(created["failedDataRowIds"].take())
                            .unwrap_or_default();
                    return Ok(CreatedBatch {
                        batch,
                        failed_data_row_ids: failed,
                    });
                }
                Err(e) => match self.recover(project_id, name, e, &mut ambiguous).await? {
                    Some(batch) => {
                        return Ok(CreatedBatch {
                            batch,
                            failed_data_row_ids: Vec::new(),
                        })
                    }
                    None => continue,
                },
            }
        }
    }

    /// After a batch creation failed: `Ok(Some(batch))` when an earlier ambiguous attempt did
    /// create it (found by name), `Ok(None)` to try again (the failure may have been acted on,
    /// but no batch of that name exists), `Err` to give up with the failure.
    async fn recover(
        &self,
        project_id: &str,
        name: &str,
        error: labelmux_core::Error,
        ambiguous: &mut u32,
    ) -> Result<Option<Batch>> {
        let maybe_done = error.kind().is_temporary()
            || (*ambiguous > 0 && error.kind() == labelmux_core::ErrorKind::Duplicate);
        if !maybe_done || *ambiguous >= MAX_AMBIGUOUS_CREATES {
            return Err(error);
        }
        if let Some(b) = self.batch_named(project_id, name).await? {
            return Ok(Some(b));
        }
        if error.kind() == labelmux_core::ErrorKind::Duplicate {
            return Err(error);
        }
        *ambiguous += 1;
        Ok(None)
    }

    /// The project's batch with this name, if any.
    pub async fn batch_named(&self, project_id: &str, name: &str) -> Result<Option<Batch>> {
        use futures::TryStreamExt;
        self.list_batches(project_id)
            .try_filter(|b| futures::future::ready(b.name.as_deref() == Some(name)))
            .try_next()
            .await
    }

    async fn create_batch_async(
        &self,
        project_id: &str,
        name: &str,
        rows: &BatchRows,
        options: &CreateBatchOptions,
    ) -> Result<CreatedBatch> {
        const OP: &str = "create_batch";
        let variables = ops::create_empty_batch::Variables {
            project_id: project_id.to_owned(),
            input: ops::create_empty_batch::CreateEmptyBatchInput {
                name: name.to_owned(),
                consensus_settings: batch_consensus(options.consensus, |n, c| {
                    ops::create_empty_batch::ConsensusSettingsInput {
                        number_of_labels: n,
                        coverage_percentage: c,
                    }
                }),
            },
        };
        let mut ambiguous = 0;
        let batch_id = loop {
            let outcome = self
                .run::<ops::CreateEmptyBatch>(
                    Endpoint::Experimental,
                    OP,
                    variables.clone(),
                    RetryMode::OnlyIfNotProcessed,
                )
                .await;
            match outcome {
                Ok(data) => {
                    break labelmux_core::lenient::key_string(&required(
                        data,
                        &["project", "createEmptyBatch", "id"],
                        OP,
                    )?)
                    .ok_or_else(|| {
                        op_err(Error::decode("Labelbox answered an empty batch id"), OP)
                    })?
                }
                Err(e) => {
                    if let Some(b) = self.recover(project_id, name, e, &mut ambiguous).await? {
                        break b.id;
                    }
                }
            }
        };
        let (data_row_ids, global_keys) = rows.wire();
        let data = self
            .run::<ops::AddDataRowsToBatchAsync>(
                Endpoint::Experimental,
                OP,
                ops::add_data_rows_to_batch_async::Variables {
                    project_id: project_id.to_owned(),
                    input: ops::add_data_rows_to_batch_async::AddDataRowsToBatchInput {
                        batch_id: batch_id.clone(),
                        data_row_ids: (!data_row_ids.is_empty()).then_some(data_row_ids),
                        global_keys,
                        priority: Some(options.priority),
                    },
                },
                // Adding the same rows to the same batch again changes nothing.
                RetryMode::Idempotent,
            )
            .await?;
        let task_id = labelmux_core::lenient::key_string(&required(
            data,
            &["project", "addDataRowsToBatchAsync", "taskId"],
            OP,
        )?)
        .ok_or_else(|| op_err(Error::decode("Labelbox answered an empty Task id"), OP))?;
        self.wait_for_task_success(&task_id, OP, self.poll.task)
            .await?;
        let batch = self.get_batch(project_id, &batch_id).await?;
        Ok(CreatedBatch {
            batch,
            failed_data_row_ids: Vec::new(),
        })
    }

    /// Create as many batches as the rows need, at most [`MAX_BATCH_ROWS`] each, named
    /// `name` (a single batch) or `name-1`, `name-2`, … (several), in order. Each batch is
    /// created as [`Self::create_batch`] does; the first failure ends the call, after the
    /// batches made so far (which the error does not undo).
    pub async fn create_batches(
        &self,
        project_id: &str,
        name: &str,
        rows: &BatchRows,
        options: &CreateBatchOptions,
    ) -> Result<Vec<CreatedBatch>> {
        let mut out = Vec::new();
        for (part_name, part) in batch_parts(name, rows, MAX_BATCH_ROWS) {
            out.push(
                self.create_batch(project_id, &part_name, &part, options)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Labelbox's own multi-batch creation (`createBatches`): the server splits the rows into
    /// batches named `<prefix>0000`, `<prefix>0001`, …; returns `(batch id, Task id)` pairs.
    pub async fn create_batches_server_side(
        &self,
        project_id: &str,
        name_prefix: &str,
        rows: &BatchRows,
        options: &CreateBatchOptions,
    ) -> Result<Vec<(String, String)>> {
        const OP: &str = "create_batches";
        let (data_row_ids, global_keys) = rows.wire();
        let data = self
            .run::<ops::CreateBatches>(
                Endpoint::Main,
                OP,
                ops::create_batches::Variables {
                    project_id: project_id.to_owned(),
                    input: ops::create_batches::CreateBatchesInput {
                        batch_name_prefix: name_prefix.to_owned(),
                        data_row_ids: Some(data_row_ids),
                        global_keys,
                        priority: Some(options.priority),
                        consensus_settings: batch_consensus(options.consensus, |n, c| {
                            ops::create_batches::ConsensusSettingsInput {
                                number_of_labels: n,
                                coverage_percentage: c,
                            }
                        }),
                    },
                },
                RetryMode::OnlyIfNotProcessed,
            )
            .await?;
        let tasks = required(data, &["project", "createBatches", "tasks"], OP)?;
        Ok(tasks
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|t| {
                Some((
                    labelmux_core::lenient::key_string(&t["batchUuid"])?,
                    labelmux_core::lenient::key_string(&t["taskId"])?,
                ))
            })
            .collect())
    }

    /// A project's batches, 100 per request.
    pub fn list_batches(&self, project_id: &str) -> BoxStream<'static, Result<Batch>> {
        const OP: &str = "list_batches";
        let client = self.clone();
        let project_id = project_id.to_owned();
        let id = |b: &Batch| key_of(&b.id);
        paginate(
            None::<String>,
            guarded(VENDOR, OP, id, move |from| {
                let client = client.clone();
                let variables = ops::list_batches::Variables {
                    from,
                    first: Some(BATCH_PAGE),
                    project_id: project_id.clone(),
                };
                async move {
                    let data = client
                        .query::<ops::ListBatches>(Endpoint::Experimental, OP, variables)
                        .await?;
                    let mut conn = required(data, &["project", "batches"], OP)?;
                    let items: Vec<Batch> =
                        decode_list(conn["nodes"].take(), "batch").map_err(|e| op_err(e, OP))?;
                    let next = labelmux_core::lenient::key_string(&conn["pageInfo"]["endCursor"]);
                    Ok(Page {
                        items,
                        next: next.map(Some),
                    })
                }
            }),
        )
    }

    /// One batch of a project.
    pub async fn get_batch(&self, project_id: &str, batch_id: &str) -> Result<Batch> {
        const OP: &str = "get_batch";
        let data = self
            .query::<ops::GetBatch>(
                Endpoint::Main,
                OP,
                ops::get_batch::Variables {
                    project_id: project_id.to_owned(),
                    batch_id: batch_id.to_owned(),
                },
            )
            .await?;
        let nodes = required(data, &["project", "batches", "nodes"], OP)?;
        decode_list::<Batch>(nodes, "batch")
            .map_err(|e| op_err(e, OP))?
            .into_iter()
            .find(|b| b.id == batch_id)
            .ok_or_else(|| {
                op_err(
                    Error::new(
                        labelmux_core::ErrorKind::NotFound,
                        format!("project {project_id} has no batch {batch_id}"),
                    ),
                    OP,
                )
            })
    }

    /// Archive a batch: its still-queued, unlabeled rows leave the batch and the labeling
    /// queue; labeled rows stay.
    pub async fn archive_batch(&self, project_id: &str, batch_id: &str) -> Result<()> {
        const OP: &str = "archive_batch";
        let data = self
            .run::<ops::RemoveQueuedDataRowsFromBatch>(
                Endpoint::Experimental,
                OP,
                ops::remove_queued_data_rows_from_batch::Variables {
                    project_id: project_id.to_owned(),
                    batch_id: batch_id.to_owned(),
                },
                RetryMode::Idempotent,
            )
            .await?;
        required(data, &["project", "removeQueuedDataRowsFromBatch"], OP).map(drop)
    }

    /// Delete a batch (Labelbox refuses when it has labels). Returns the deleted id.
    pub async fn delete_batch(&self, project_id: &str, batch_id: &str) -> Result<String> {
        const OP: &str = "delete_batch";
        let data = self
            .run::<ops::DeleteBatch>(
                Endpoint::Experimental,
                OP,
                ops::delete_batch::Variables {
                    project_id: project_id.to_owned(),
                    batch_id: batch_id.to_owned(),
                },
                // A resent delete would answer "not found" for a batch that is gone.
                RetryMode::OnlyIfNotProcessed,
            )
            .await?;
        let v = required(data, &["project", "deleteBatch"], OP)?;
        Ok(labelmux_core::lenient::key_string(&v["deletedBatchId"])
            .unwrap_or_else(|| batch_id.to_owned()))
    }

    /// Delete a batch's labels and requeue its rows (`keep_as_template`: the labels become
    /// templates of the new ones). Returns the deleted label ids.
    pub async fn delete_batch_labels(
        &self,
        project_id: &str,
        batch_id: &str,
        keep_as_template: bool,
    ) -> Result<Vec<String>> {
        const OP: &str = "delete_batch_labels";
        let kind = if keep_as_template {
            ops::delete_batch_labels::DeleteBatchLabelsType::RequeueDataWithLabelAsTemplate
        } else {
            ops::delete_batch_labels::DeleteBatchLabelsType::RequeueData
        };
        let data = self
            .run::<ops::DeleteBatchLabels>(
                Endpoint::Experimental,
                OP,
                ops::delete_batch_labels::Variables {
                    project_id: project_id.to_owned(),
                    batch_id: batch_id.to_owned(),
                    type_: kind,
                },
                RetryMode::Idempotent,
            )
            .await?;
        let v = required(data, &["project", "deleteBatchLabels"], OP)?;
        Ok(labelmux_core::lenient::string_list(
            v.get("deletedLabelIds").cloned().unwrap_or(Value::Null),
        )
        .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_over_the_limit_are_split_into_named_batches() {
        let keys: Vec<String> = (0..250_001).map(|i| format!("k{i}")).collect();
        let parts = batch_parts("big", &BatchRows::GlobalKeys(keys), MAX_BATCH_ROWS);
        let summary: Vec<(String, usize)> =
            parts.iter().map(|(n, r)| (n.clone(), r.len())).collect();
        assert_eq!(
            summary,
            vec![
                ("big-1".to_owned(), 100_000),
                ("big-2".to_owned(), 100_000),
                ("big-3".to_owned(), 50_001)
            ]
        );
        assert!(matches!(parts[2].1, BatchRows::GlobalKeys(ref v) if v[0] == "k200000"));
        let one = batch_parts("small", &BatchRows::Ids(vec!["a".into()]), MAX_BATCH_ROWS);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].0, "small");
    }

    #[test]
    fn rows_go_on_the_wire_as_the_sdk_sends_them() {
        let (ids, keys) = BatchRows::GlobalKeys(vec!["g".into()]).wire();
        assert!(ids.is_empty());
        assert_eq!(keys, Some(vec!["g".to_owned()]));
        let (ids, keys) = BatchRows::Ids(vec!["i".into()]).wire();
        assert_eq!(ids, vec!["i".to_owned()]);
        assert_eq!(keys, None);
    }
}
