//! Tables in and out: Arrow/Parquet tasks, Parquet deliveries, Delta appends.
#![cfg(feature = "delta")]

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::Array;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use labelmux::io::table::deliveries::ROW_GROUP_ROWS;
use labelmux::io::table::delta::{
    consumer_app_id, delta_data_files, ConsumerTxn, DeltaDeliveryAppender,
};
use labelmux::io::table::tasks::spec_stream_from_batches;
use labelmux::io::table::{
    delivery_schema, specs_from_batches, ParquetDeliveryWriter, ParquetTaskSource,
};
use labelmux::{BatchId, Checkpoint, Delivery, DeliveryId, ProjectId, ReviewState, TaskId};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// A task table: url, external_id, priority, output_label (JSON text), a struct and a list.
fn task_batch(rows: usize, bad_row: Option<usize>) -> RecordBatch {
    let url: StringArray = (0..rows)
        .map(|i| Some(format!("https://x/{i}.jpg")))
        .collect();
    let key: StringArray = (0..rows).map(|i| Some(format!("k-{i}"))).collect();
    let priority: Int64Array = (0..rows)
        .map(|i| (i % 2 == 0).then_some(i as i64))
        .collect();
    let label: StringArray = (0..rows)
        .map(|i| {
            Some(if Some(i) == bad_row {
                "{not json".to_owned()
            } else {
                format!("{{\"class\":\"c{i}\"}}")
            })
        })
        .collect();
    let width: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i as i64)));
    let meta = StructArray::from(vec![(
        Arc::new(Field::new("width", DataType::Int64, false)),
        width,
    )]);
    let mut tags = ListBuilder::new(StringBuilder::new());
    for i in 0..rows {
        tags.values().append_value("a");
        tags.values().append_value(format!("t{i}"));
        tags.append(true);
    }
    let tags = tags.finish();
    let schema = Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("external_id", DataType::Utf8, false),
        Field::new("priority", DataType::Int64, true),
        Field::new("output_label", DataType::Utf8, false),
        Field::new("meta", meta.data_type().clone(), false),
        Field::new("tags", tags.data_type().clone(), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(url),
            Arc::new(key),
            Arc::new(priority),
            Arc::new(label),
            Arc::new(meta),
            Arc::new(tags),
        ],
    )
    .unwrap()
}

#[test]
fn record_batches_become_task_specs_with_the_connector_conventions() {
    let batches = vec![
        Ok::<_, ArrowError>(task_batch(3, None)),
        Ok(task_batch(2, None)),
    ];
    let specs: Vec<_> = specs_from_batches(batches)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(specs.len(), 5);
    let s = &specs[0];
    assert_eq!(s.inputs["url"], json!("https://x/0.jpg"));
    assert_eq!(s.inputs["meta"], json!({"width": 0}));
    assert_eq!(s.inputs["tags"], json!(["a", "t0"]));
    assert_eq!(s.external_key.as_deref(), Some("k-0"));
    assert_eq!(s.priority, Some(0));
    assert_eq!(
        s.pre_annotations_by_target()["label"],
        json!({"class": "c0"})
    );
    assert!(!s.inputs.contains_key("external_id"));
    assert!(!s.inputs.contains_key("output_label"));
    // A null priority is no priority (the row is still a task).
    assert_eq!(specs[1].priority, None);
    assert_eq!(specs[4].inputs["tags"], json!(["a", "t1"]));
}

#[test]
fn a_bad_row_is_reported_with_its_row_number_and_column() {
    let batches = vec![
        Ok::<_, ArrowError>(task_batch(3, None)),
        Ok(task_batch(4, Some(2))),
    ];
    let results: Vec<_> = specs_from_batches(batches).collect();
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].row, 6, "rows count across batches from 1");
    assert!(errors[0].message.contains("output_label"), "{}", errors[0]);
    assert!(
        errors[0].to_string().starts_with("row 6: "),
        "{}",
        errors[0]
    );
}

#[test]
fn a_failing_batch_ends_the_rows_with_an_error() {
    let batches = vec![
        Ok(task_batch(2, None)),
        Err(ArrowError::ParseError("truncated".into())),
        Ok(task_batch(2, None)),
    ];
    let results: Vec<_> = specs_from_batches(batches).collect();
    assert_eq!(results.len(), 3);
    let err = results[2].as_ref().unwrap_err();
    assert_eq!(err.row, 3);
    assert!(err.message.contains("truncated"), "{err}");
}

#[tokio::test]
async fn a_stream_of_batches_becomes_a_stream_of_specs() {
    use futures::StreamExt;
    let batches = futures::stream::iter(vec![
        Ok::<_, ArrowError>(task_batch(2, None)),
        Ok(task_batch(3, Some(0))),
    ]);
    let results: Vec<_> = spec_stream_from_batches(batches).collect().await;
    assert_eq!(results.len(), 5);
    assert_eq!(results[2].as_ref().unwrap_err().row, 3);
    assert_eq!(
        results[4].as_ref().unwrap().inputs["url"],
        json!("https://x/2.jpg")
    );
}

fn write_parquet(path: &Path, batches: &[RecordBatch]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn parquet_files_and_spark_style_directories_are_read_as_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tasks.parquet");
    write_parquet(&file, &[task_batch(5000, None), task_batch(10, None)]);
    let source = ParquetTaskSource::open(&file).unwrap();
    assert_eq!(source.row_count().unwrap(), 5010);
    let n = source.specs().filter(|r| r.is_ok()).count();
    assert_eq!(n, 5010);

    // Spark: part files, _SUCCESS and .crc files.
    let spark = dir.path().join("spark");
    std::fs::create_dir(&spark).unwrap();
    write_parquet(
        &spark.join("part-00001-x.snappy.parquet"),
        &[task_batch(3, None)],
    );
    write_parquet(
        &spark.join("part-00000-x.snappy.parquet"),
        &[task_batch(2, Some(1))],
    );
    std::fs::write(spark.join("_SUCCESS"), b"").unwrap();
    std::fs::write(spark.join(".part-00000-x.snappy.parquet.crc"), b"crc").unwrap();
    let source = ParquetTaskSource::open(&spark).unwrap();
    assert_eq!(source.files().len(), 2);
    assert_eq!(source.row_count().unwrap(), 5);
    let results: Vec<_> = source.specs().collect();
    assert_eq!(results.len(), 5);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.row, 2);
    assert!(err
        .file
        .as_ref()
        .unwrap()
        .ends_with("part-00000-x.snappy.parquet"));
    assert!(
        err.to_string()
            .contains("part-00000-x.snappy.parquet: row 2: column `output_label`"),
        "{err}"
    );

    // Partitioned directories and non-Parquet files are refused with a reason.
    std::fs::create_dir(spark.join("day=1")).unwrap();
    let err = ParquetTaskSource::open(&spark).unwrap_err();
    assert!(err.to_string().contains("partitioned"), "{err}");
    let text = dir.path().join("not.parquet");
    std::fs::write(&text, b"hello").unwrap();
    let err = ParquetTaskSource::from_files(vec![text])
        .specs()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(err.message.contains("not a readable Parquet file"), "{err}");
}

fn delivery(i: u64) -> Delivery {
    Delivery {
        id: DeliveryId::new(format!("d{i}")),
        task_id: TaskId::new(format!("t{i}")),
        external_key: (i % 3 != 0).then(|| format!("k{i}")),
        project_id: ProjectId::new("1001"),
        batch_id: Some(BatchId::new("b7")),
        labelset: None,
        review: Some(ReviewState::Approved),
        delivered_at: chrono::DateTime::from_timestamp(1_700_000_000 + i as i64, 0),
        updated_at: chrono::DateTime::from_timestamp(1_700_000_000 + i as i64, 500_000),
        answers: json!({"label": format!("cat {i}"), "n": i}).into(),
        raw: json!({"id": format!("t{i}"), "state": "completed"}).into(),
        checkpoint: Some(Checkpoint(json!({"n": i}))),
    }
}

fn read_parquet(path: &Path) -> (Vec<RecordBatch>, usize) {
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let groups = reader.metadata().num_row_groups();
    let batches = reader.build().unwrap().map(|b| b.unwrap()).collect();
    (batches, groups)
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> &'a StringArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
}

#[test]
fn deliveries_are_written_to_parquet_in_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/labels.parquet");
    let n = ROW_GROUP_ROWS as u64 + 10;
    let mut w = ParquetDeliveryWriter::create(&path, "sama").unwrap();
    for i in 0..n {
        w.write(&delivery(i)).unwrap();
    }
    assert!(!path.exists(), "the file appears only when complete");
    assert_eq!(w.finish().unwrap(), n);
    let (batches, groups) = read_parquet(&path);
    assert_eq!(groups, 2);
    assert_eq!(batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(), n);
    let b = &batches[0];
    assert_eq!(b.schema().fields(), delivery_schema().fields());
    assert_eq!(column(b, "vendor").value(0), "sama");
    assert_eq!(column(b, "task_id").value(1), "t1");
    assert!(column(b, "external_key").is_null(0));
    assert_eq!(column(b, "external_key").value(1), "k1");
    assert_eq!(column(b, "review").value(1), "approved");
    assert_eq!(column(b, "vendor_state").value(1), "completed");
    let answers: serde_json::Value = serde_json::from_str(column(b, "answers").value(2)).unwrap();
    assert_eq!(answers, json!({"label": "cat 2", "n": 2}));
    let updated = b
        .column_by_name("updated_at")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(updated.value(1), 1_700_000_001_000_500);
    assert!(!dir.path().join("out/labels.parquet.partial").exists());

    // An abandoned writer leaves neither file.
    let other = dir.path().join("other.parquet");
    let mut w = ParquetDeliveryWriter::create(&other, "scale").unwrap();
    w.write(&delivery(1)).unwrap();
    w.abandon();
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
        let name = e.unwrap().file_name();
        name == "out"
    }));
}

#[tokio::test]
async fn delta_commits_carry_the_consumer_transaction_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("labels");
    let location = table.to_str().unwrap();
    let app = consumer_app_id("scale", "p1", "etl");

    let mut a = DeltaDeliveryAppender::open(location, "scale")
        .await
        .unwrap();
    assert_eq!(a.consumer_commit(&app).await.unwrap(), None);
    for i in 0..5 {
        a.write(&delivery(i)).await.unwrap();
    }
    let v = a
        .commit(Some(ConsumerTxn {
            app_id: app.clone(),
            version: 0,
            checkpoint: Some(Checkpoint(json!({"n": 4}))),
        }))
        .await
        .unwrap();
    assert_eq!(v, Some(1), "version 0 created the table");

    let mut a = DeltaDeliveryAppender::open(location, "scale")
        .await
        .unwrap();
    let last = a.consumer_commit(&app).await.unwrap().unwrap();
    assert_eq!(last.txn_version, 0);
    assert_eq!(last.checkpoint, Some(Checkpoint(json!({"n": 4}))));
    assert_eq!(
        a.consumer_commit(&consumer_app_id("scale", "p1", "other"))
            .await
            .unwrap(),
        None
    );
    // A second run that claims the same transaction version is refused.
    a.write(&delivery(9)).await.unwrap();
    let err = a
        .commit(Some(ConsumerTxn {
            app_id: app.clone(),
            version: 0,
            checkpoint: None,
        }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another pull"), "{err}");

    // Nothing to commit: no new version.
    let a = DeltaDeliveryAppender::open(location, "scale")
        .await
        .unwrap();
    assert_eq!(a.commit(None).await.unwrap(), None);

    // The table's files read back as rows (tasks), five of them.
    let files = delta_data_files(&table).await.unwrap();
    let source = ParquetTaskSource::from_files(files);
    let specs: Vec<_> = source.specs().map(|r| r.unwrap()).collect();
    assert_eq!(specs.len(), 5);
    assert_eq!(specs[0].inputs["vendor"], json!("scale"));

    // A directory that is not a Delta table, and a table of another schema.
    assert!(delta_data_files(dir.path()).await.is_err());
}
