#!/usr/bin/env python3
"""The official Sama Python SDK (`sama` 0.5.12) with pandas/pyarrow: the Python side of
`labelmux-bench tables-*` (run by it as a subprocess).

Usage: tables_sdk_bench.py MODE BASE_URL PROJECT ARG [OUT]
  MODE deliveries-parquet  ARG = RFC 3339 `from`, OUT = Parquet file:
        client.get_delivered_tasks(PROJECT, from_timestamp=ARG), each task turned into a row of
        labelmux's delivery-table schema (same 13 columns and types; answers and the task as
        JSON text), written with pyarrow.parquet.ParquetWriter in row groups of 65,536 rows,
        Snappy, as they arrive
  MODE create-parquet      ARG = Parquet task table (columns are task inputs, `output_*`
        columns pre-annotations as JSON text): pandas.read_parquet(ARG).to_dict("records"),
        `output_*` strings parsed (what the SDK's Databricks connector does after
        `toPandas()`), then client.create_task_batch(PROJECT, records)
The API key is read from the environment variable LABELMUX_BENCH_API_KEY.

Prints one JSON line: {"items", "secs", "rss_start_kb", "peak_rss_kb"[, "batch_id"]}; `secs`
covers the operation only (not interpreter start-up or imports); `peak_rss_kb` is getrusage's
ru_maxrss of this process (KiB on Linux).

The SDK hardcodes https://api.sama.com/v2; it is pointed at the emulator by wrapping the
`requests` functions its module calls (as tests/fidelity/sama_sdk.py does). Nothing else of the
SDK is changed.
"""

import json
import os
import resource
import sys
import time
import types
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import requests

import sama
import sama.client

SDK_BASE = "https://api.sama.com/v2"
ROW_GROUP_ROWS = 64 * 1024

# labelmux's delivery table (crates/labelmux/src/io/table/deliveries.rs).
TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("vendor", pa.string(), nullable=False),
        pa.field("project_id", pa.string(), nullable=False),
        pa.field("batch_id", pa.string()),
        pa.field("task_id", pa.string(), nullable=False),
        pa.field("external_key", pa.string()),
        pa.field("delivery_id", pa.string(), nullable=False),
        pa.field("updated_at", TS),
        pa.field("delivered_at", TS),
        pa.field("labelset", pa.string()),
        pa.field("review", pa.string()),
        pa.field("vendor_state", pa.string()),
        pa.field("answers", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
    ]
)


def rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def when(text):
    return datetime.fromisoformat(text) if text else None


def opt_str(v):
    return None if v is None else str(v)


def main():
    mode, base, project, arg = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3], sys.argv[4]
    out = sys.argv[5] if len(sys.argv) > 5 else None
    key = os.environ.get("LABELMUX_BENCH_API_KEY", "emulator-key")

    def wrap(real):
        def call(url, *args, **kwargs):
            if url.startswith(SDK_BASE):
                url = base + url[len(SDK_BASE):]
            return real(url, *args, **kwargs)

        return call

    sama.client.requests = types.SimpleNamespace(
        get=wrap(requests.get),
        post=wrap(requests.post),
        put=wrap(requests.put),
        exceptions=requests.exceptions,
    )
    client = sama.Client(api_key=key)
    rss_start = rss_kb()
    started = time.perf_counter()
    items = 0
    batch_id = None
    if mode == "deliveries-parquet":
        columns = {f.name: [] for f in SCHEMA}

        def flush(writer):
            table = pa.Table.from_pydict(columns, schema=SCHEMA)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            for v in columns.values():
                v.clear()

        with pq.ParquetWriter(out, SCHEMA, compression="snappy") as writer:
            for task in client.get_delivered_tasks(project, from_timestamp=arg):
                data = task.get("data") or {}
                delivered = when(task.get("delivered_at"))
                columns["vendor"].append("sama")
                columns["project_id"].append(str(task.get("project_id", project)))
                columns["batch_id"].append(opt_str(task.get("batch_id")))
                columns["task_id"].append(str(task["id"]))
                columns["external_key"].append(opt_str(data.get("external_id")))
                columns["delivery_id"].append(str(task["id"]))
                columns["updated_at"].append(delivered)
                columns["delivered_at"].append(delivered)
                columns["labelset"].append(None)
                columns["review"].append(None)
                columns["vendor_state"].append(opt_str(task.get("state")))
                columns["answers"].append(json.dumps(task.get("answers") or {}))
                columns["raw"].append(json.dumps(task))
                items += 1
                if len(columns["task_id"]) >= ROW_GROUP_ROWS:
                    flush(writer)
            if columns["task_id"]:
                flush(writer)
    elif mode == "create-parquet":
        records = pd.read_parquet(arg).to_dict(orient="records")
        for record in records:
            for k, v in list(record.items()):
                if k.startswith("output_") and isinstance(v, str):
                    record[k] = json.loads(v)
        started_batch = client.create_task_batch(project, records)
        items = len(records)
        if isinstance(started_batch, dict) and started_batch.get("batch_id") is not None:
            batch_id = str(started_batch["batch_id"])
    else:
        sys.exit(f"unknown mode {mode!r}")
    secs = time.perf_counter() - started
    result = {"items": items, "secs": secs, "rss_start_kb": rss_start, "peak_rss_kb": rss_kb()}
    if batch_id is not None:
        result["batch_id"] = batch_id
    print(json.dumps(result))


if __name__ == "__main__":
    main()
