"""Independent readers of what labelmux writes: pyarrow (Parquet), the `deltalake` package
(Delta) and, unless --no-spark, a local Spark (Parquet). Exits non-zero on any mismatch.

Usage: check_tables.py PARQUET_FILE DELTA_DIR ROWS [--no-spark]
"""
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

parquet_file, delta_dir, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
use_spark = "--no-spark" not in sys.argv

EXPECTED = [
    ("vendor", pa.string()),
    ("project_id", pa.string()),
    ("batch_id", pa.string()),
    ("task_id", pa.string()),
    ("external_key", pa.string()),
    ("delivery_id", pa.string()),
    ("updated_at", pa.timestamp("us", tz="UTC")),
    ("delivered_at", pa.timestamp("us", tz="UTC")),
    ("labelset", pa.string()),
    ("review", pa.string()),
    ("vendor_state", pa.string()),
    ("answers", pa.string()),
    ("raw", pa.string()),
]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def check_table(name, table):
    check(table.num_rows == rows, f"{name}: {table.num_rows} rows, expected {rows}")
    got = [(f.name, f.type) for f in table.schema]
    check(got == EXPECTED, f"{name}: schema {got}")
    d = table.to_pydict()
    check(set(d["vendor"]) == {"sama"}, f"{name}: vendor is sama")
    check(set(d["project_id"]) == {"1001"}, f"{name}: project_id is 1001")
    keys = sorted(d["external_key"])
    check(keys == sorted(f"spark-{i}" for i in range(rows)), f"{name}: external keys spark-0..")
    answers = [json.loads(a) for a in d["answers"]]
    check(all(isinstance(a, (dict, list)) for a in answers), f"{name}: answers are JSON")
    check(all(t is not None for t in d["delivered_at"]), f"{name}: delivered_at set")
    check(len(set(zip(d["delivery_id"], d["updated_at"]))) == rows, f"{name}: revisions unique")


# pyarrow: the Parquet file.
pf = pq.ParquetFile(parquet_file)
print(f"pyarrow {pa.__version__}: {parquet_file}: {pf.metadata.num_rows} rows, "
      f"{pf.metadata.num_row_groups} row groups, created by {pf.metadata.created_by}")
check_table("pyarrow parquet", pf.read())

# deltalake: the Delta table, its consumer transaction and checkpoint.
dt = DeltaTable(delta_dir)
print(f"deltalake: {delta_dir}: version {dt.version()}")
check_table("deltalake", dt.to_pyarrow_table())
ours = [h for h in dt.history() if "labelmux.app_id" in h]
check(len(ours) >= 1, "deltalake: a commit carries labelmux.app_id")
if ours:
    check(ours[0]["labelmux.app_id"] == "labelmux/sama/1001/readers",
          f"deltalake: app id {ours[0]['labelmux.app_id']}")
    check(ours[0]["labelmux.txn_version"] == 0, "deltalake: first txn version is 0")

if use_spark:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("labelmux-readers")
        .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(parquet_file)
    check(df.count() == rows, f"spark: {rows} rows")
    types = dict(df.dtypes)
    check(types.get("updated_at") == "timestamp", f"spark: updated_at is {types.get('updated_at')}")
    check(types.get("answers") == "string", "spark: answers is a string column")
    first = df.orderBy("external_key").first()
    check(first["external_key"] == "spark-0", f"spark: first key {first['external_key']}")
    check(json.loads(first["answers"]) is not None, "spark: answers parse as JSON")
    # Spark reads the Delta table's data files as plain Parquet (its Delta reader needs the
    # delta-spark jars, which cannot be downloaded here): the rows are all there.
    if hasattr(dt, "file_uris"):
        uris = dt.file_uris()
    else:
        uris = [f"{delta_dir}/{f}" for f in dt.files()]
    n = spark.read.parquet(*uris).count()
    check(n == rows, f"spark: the Delta table's data files hold {n} rows")
    spark.stop()

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("all reader checks passed")
