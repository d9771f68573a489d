//! Delta Lake tables: deliveries appended exactly once per consumer, and the data files of a
//! table read as tasks.
//!
//! ## Exactly once per consumer
//!
//! A consumer's pull into a table is **one** Delta commit that carries, atomically with its
//! rows:
//! - a `txn` action (Delta's application transaction identifier): app id
//!   [`consumer_app_id`], version one more than the table's last version for that app id;
//! - in its `commitInfo`, the consumer checkpoint that covers the rows
//!   (`labelmux.checkpoint`), beside `labelmux.app_id` and `labelmux.txn_version`.
//!
//! The consumer cursor is committed with the vendor only after the Delta commit. Before a pull,
//! the checkpoint of the table's last commit for the consumer ([`DeltaDeliveryAppender::consumer_commit`])
//! is committed again: the table, not the cursor, is the record of what was stored. So:
//! - killed before the Delta commit: the data files written are not in the log (readers ignore
//!   them; `VACUUM` removes them) and the cursor has not moved: the re-run pulls them again;
//! - killed after the Delta commit, before the cursor commit: the re-run first commits the
//!   checkpoint recorded in the table, then pulls what follows it: nothing twice;
//! - killed after the cursor commit: committing the same checkpoint again changes nothing.

use super::deliveries::{delivery_schema, DeliveryBatchBuilder, ROW_GROUP_ROWS};
use super::TableError;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, StructType, Transaction};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use deltalake_core::{DeltaOps, DeltaTable, DeltaTableError};
use labelmux_core::{Checkpoint, Delivery};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Row groups buffered (encoded, in memory) before they are written out as one data file.
const ROW_GROUPS_PER_FILE: usize = 2;

/// `commitInfo` keys labelmux writes.
const APP_ID_KEY: &str = "labelmux.app_id";
const TXN_VERSION_KEY: &str = "labelmux.txn_version";
const CHECKPOINT_KEY: &str = "labelmux.checkpoint";

/// The Delta application id of a consumer's pulls: one per vendor, project and consumer.
pub fn consumer_app_id(vendor: &str, project: &str, consumer: &str) -> String {
    format!("labelmux/{vendor}/{project}/{consumer}")
}

/// A table location: a local path (made absolute, created if missing) or an object-store URL
/// (`s3://`, `gs://`, `az://`, ...), which needs the matching object-store support registered.
pub fn table_uri(location: &str) -> Result<String, TableError> {
    if location.contains("://") {
        return Ok(location.to_owned());
    }
    let path = Path::new(location);
    std::fs::create_dir_all(path).map_err(|e| {
        TableError::new(format!(
            "cannot create Delta table directory {location}: {e}"
        ))
    })?;
    let abs = std::fs::canonicalize(path)
        .map_err(|e| TableError::new(format!("cannot resolve {location}: {e}")))?;
    Ok(abs.display().to_string())
}

fn delta_error<'a>(location: &'a str, doing: &str) -> impl Fn(DeltaTableError) -> TableError + 'a {
    let doing = doing.to_owned();
    move |e| TableError::new(format!("Delta table {location}: cannot {doing}: {e}"))
}

/// What the table records of a consumer's last pull.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerCommit {
    /// The `txn` version of the consumer's last commit.
    pub txn_version: i64,
    /// The checkpoint that covers the rows committed up to it, if the vendor gave one.
    pub checkpoint: Option<Checkpoint>,
}

/// The consumer transaction a commit carries.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerTxn {
    /// [`consumer_app_id`].
    pub app_id: String,
    /// One more than [`ConsumerCommit::txn_version`] (0 for the first pull).
    pub version: i64,
    /// The checkpoint that covers every row of the commit.
    pub checkpoint: Option<Checkpoint>,
}

/// Appends deliveries to a Delta table (created with the delivery schema if missing) in one
/// commit: rows are encoded a row group at a time and written out as data files as they
/// arrive, so memory stays flat; nothing is visible to readers until
/// [`DeltaDeliveryAppender::commit`].
pub struct DeltaDeliveryAppender {
    location: String,
    table: DeltaTable,
    writer: RecordBatchWriter,
    rows: DeliveryBatchBuilder,
    adds: Vec<Add>,
    buffered_groups: usize,
    written: u64,
}

impl std::fmt::Debug for DeltaDeliveryAppender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaDeliveryAppender")
            .field("location", &self.location)
            .field("written", &self.written)
            .finish()
    }
}

impl DeltaDeliveryAppender {
    /// Open the table at `location` (see [`table_uri`]), creating it with the delivery schema
    /// if it does not exist, to append deliveries of `vendor`.
    pub async fn open(location: &str, vendor: &str) -> Result<Self, TableError> {
        let uri = table_uri(location)?;
        let table = match deltalake_core::open_table(&uri).await {
            Ok(t) => t,
            Err(DeltaTableError::NotATable(_)) => {
                let schema: StructType = delivery_schema()
                    .as_ref()
                    .try_into_kernel()
                    .map_err(|e| TableError::new(format!("delivery schema: {e}")))?;
                DeltaOps::try_from_uri(&uri)
                    .await
                    .map_err(delta_error(location, "open"))?
                    .create()
                    .with_table_name("labelmux_deliveries")
                    .with_columns(schema.fields().cloned())
                    .await
                    .map_err(delta_error(location, "create the table"))?
            }
            Err(e) => return Err(delta_error(location, "open")(e)),
        };
        let writer =
            RecordBatchWriter::for_table(&table).map_err(delta_error(location, "write"))?;
        let shape = |s: &arrow_schema::Schema| -> Vec<(String, arrow_schema::DataType)> {
            s.fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect()
        };
        if shape(&writer.arrow_schema()) != shape(&delivery_schema()) {
            return Err(TableError::new(format!(
                "Delta table {location} does not have the labelmux delivery schema (see docs/tables.md); \
                 append to a table labelmux created, or a new path"
            )));
        }
        Ok(DeltaDeliveryAppender {
            location: location.to_owned(),
            table,
            writer,
            rows: DeliveryBatchBuilder::new(vendor),
            adds: Vec::new(),
            buffered_groups: 0,
            written: 0,
        })
    }

    /// The table as opened.
    pub fn table(&self) -> &DeltaTable {
        &self.table
    }

    /// What the table records of `app_id`'s last commit, or `None` if it never committed.
    pub async fn consumer_commit(
        &self,
        app_id: &str,
    ) -> Result<Option<ConsumerCommit>, TableError> {
        let fail = delta_error(&self.location, "read its transactions");
        let snapshot = self.table.snapshot().map_err(&fail)?;
        let version = snapshot
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await
            .map_err(&fail)?;
        let Some(txn_version) = version else {
            return Ok(None);
        };
        let history = self.table.history(None).await.map_err(&fail)?;
        let checkpoint = history.iter().find_map(|info| {
            let ours = info.info.get(APP_ID_KEY).and_then(Value::as_str) == Some(app_id)
                && info.info.get(TXN_VERSION_KEY).and_then(Value::as_i64) == Some(txn_version);
            ours.then(|| info.info.get(CHECKPOINT_KEY).cloned())
                .flatten()
                .filter(|v| !v.is_null())
                .map(Checkpoint)
        });
        Ok(Some(ConsumerCommit {
            txn_version,
            checkpoint,
        }))
    }

    /// Add one delivery (encoded now; written out as part of a data file).
    pub async fn write(&mut self, d: &Delivery) -> Result<(), TableError> {
        self.rows.push(d);
        self.written += 1;
        if self.rows.len() >= ROW_GROUP_ROWS {
            self.write_rows().await?;
        }
        Ok(())
    }

    async fn write_rows(&mut self) -> Result<(), TableError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = self.rows.finish()?;
        self.writer
            .write(batch)
            .await
            .map_err(delta_error(&self.location, "write"))?;
        self.buffered_groups += 1;
        if self.buffered_groups >= ROW_GROUPS_PER_FILE {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TableError> {
        let adds = self
            .writer
            .flush()
            .await
            .map_err(delta_error(&self.location, "write a data file"))?;
        self.adds.extend(adds);
        self.buffered_groups = 0;
        Ok(())
    }

    /// Deliveries added so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Write out what is buffered and commit every row added as one Delta commit, carrying
    /// `txn` if given. Returns the new table version, or `None` when there was nothing to
    /// commit. A commit whose consumer transaction was already committed by another run is
    /// refused (the rows of this run stay out of the table).
    pub async fn commit(mut self, txn: Option<ConsumerTxn>) -> Result<Option<i64>, TableError> {
        self.write_rows().await?;
        self.flush().await?;
        if self.adds.is_empty() {
            return Ok(None);
        }
        let mut props = CommitProperties::default();
        if let Some(txn) = &txn {
            let fail = delta_error(&self.location, "read its transactions");
            self.table.update().await.map_err(&fail)?;
            let current = self
                .table
                .snapshot()
                .map_err(&fail)?
                .transaction_version(self.table.log_store().as_ref(), &txn.app_id)
                .await
                .map_err(&fail)?;
            if current.unwrap_or(-1) >= txn.version {
                return Err(TableError::new(format!(
                    "Delta table {}: another pull of the same consumer committed meanwhile ({} version {}); \
                     this run's rows were not committed: run again",
                    self.location,
                    txn.app_id,
                    current.unwrap_or(-1)
                )));
            }
            props = props
                .with_application_transaction(Transaction::new(&txn.app_id, txn.version))
                .with_metadata([
                    (APP_ID_KEY.to_owned(), json!(txn.app_id)),
                    (TXN_VERSION_KEY.to_owned(), json!(txn.version)),
                    (
                        CHECKPOINT_KEY.to_owned(),
                        txn.checkpoint
                            .as_ref()
                            .map(|c| c.0.clone())
                            .unwrap_or(Value::Null),
                    ),
                ]);
        }
        let actions: Vec<Action> = std::mem::take(&mut self.adds)
            .into_iter()
            .map(Action::Add)
            .collect();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        let fail = delta_error(&self.location, "commit");
        let snapshot = self.table.snapshot().map_err(&fail)?;
        let version = CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await
            .map_err(&fail)?
            .version();
        Ok(Some(version))
    }
}

/// The data files of the current version of the local Delta table at `path`, to read as
/// tasks. Partitioned tables, deletion vectors and column mapping are refused (their rows are
/// not what the files alone hold).
pub async fn delta_data_files(path: &Path) -> Result<Vec<PathBuf>, TableError> {
    let location = path.display().to_string();
    let abs = std::fs::canonicalize(path)
        .map_err(|e| TableError::new(format!("cannot open Delta table {location}: {e}")))?;
    let table = deltalake_core::open_table(abs.display().to_string())
        .await
        .map_err(delta_error(&location, "open"))?;
    let fail = delta_error(&location, "read its files");
    let snapshot = table.snapshot().map_err(&fail)?;
    let metadata = snapshot.metadata();
    if !metadata.partition_columns().is_empty() {
        return Err(TableError::new(format!(
            "Delta table {location} is partitioned by {:?}; partitioned tables are not read as tasks",
            metadata.partition_columns()
        )));
    }
    let config = metadata.configuration();
    if config
        .get("delta.enableDeletionVectors")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || config
            .get("delta.columnMapping.mode")
            .is_some_and(|v| !v.eq_ignore_ascii_case("none"))
    {
        return Err(TableError::new(format!(
            "Delta table {location} uses deletion vectors or column mapping, which labelmux does not read"
        )));
    }
    let mut files = Vec::new();
    for uri in table.get_file_uris().map_err(&fail)? {
        let file = match url::Url::parse(&uri) {
            Ok(u) if u.scheme() == "file" => u.to_file_path().map_err(|()| {
                TableError::new(format!("Delta table {location}: bad file URI {uri}"))
            })?,
            Ok(u) if u.scheme().len() > 1 => {
                return Err(TableError::new(format!(
                    "Delta table {location}: data file {uri} is not local"
                )))
            }
            _ => PathBuf::from(uri),
        };
        files.push(file);
    }
    if files.is_empty() {
        return Err(TableError::new(format!(
            "Delta table {location} holds no rows"
        )));
    }
    Ok(files)
}
