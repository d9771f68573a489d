"""Spark writes a Parquet task table (a directory of part files) for `labelmux tasks create`.

Usage: spark_tasks.py OUT_DIR ROWS
Columns follow the Sama Databricks connector: inputs, `output_<name>` pre-annotations,
`external_id`. Written the way a Databricks job would: `df.write.parquet(dir)`.
"""
import sys

from pyspark.sql import SparkSession

out, rows = sys.argv[1], int(sys.argv[2])
spark = (
    SparkSession.builder.master("local[1]")
    .appName("labelmux-readers")
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
data = [
    (f"https://x/spark-{i}.jpg", f"spark task {i}", f"spark-{i}", f'"c{i % 3}"')
    for i in range(rows)
]
df = spark.createDataFrame(data, ["url", "name", "external_id", "output_label"])
# Two part files, as a real job writes them (plus _SUCCESS and .crc files).
df.repartition(2).write.mode("overwrite").parquet(out)
spark.stop()
print(f"spark wrote {rows} task rows to {out}")
