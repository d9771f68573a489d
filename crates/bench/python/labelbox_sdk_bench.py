#!/usr/bin/env python3
"""The official Labelbox Python SDK (`labelbox` 7.17.0) side of `labelmux-bench` (run by it as a
subprocess).

Usage: labelbox_sdk_bench.py MODE BASE_URL PROJECT ARG
  MODE export  ARG = expected count (informative): project.export(params, filters) with the
               params labelmux's export asks for and `workflow_status: Done`, task.wait_till_done(),
               then every line through task.get_buffered_stream().start(stream_handler=...),
               each line's JSON serialised to a null sink
  MODE create  ARG = JSONL file of {"row_data", "external_id"} records: the file read into a list,
               client.create_dataset(), dataset.create_data_rows(items) (global key =
               external_id, as labelmux's), task.wait_till_done(), then
               project.create_batch(name, global_keys=keys)
The API key is read from the environment variable LABELMUX_BENCH_API_KEY.

Prints one JSON line: {"items", "secs", "rss_start_kb", "peak_rss_kb"[, "batch_id"]}; `secs`
covers the operation only (not interpreter start-up or imports); `peak_rss_kb` is getrusage's
ru_maxrss of this process (KiB on Linux).

The SDK is pointed at the emulator with its own constructor arguments (`endpoint=`,
`rest_endpoint=`, as tests/fidelity/labelbox_sdk.py does); nothing of it is changed.
"""

import json
import logging
import os
import resource
import sys
import time

from labelbox import Client

# The export params labelmux's `LabelboxClient::export_project` sends by default.
EXPORT_PARAMS = {
    "attachments": True,
    "metadata_fields": True,
    "data_row_details": True,
    "project_details": True,
    "performance_details": True,
    "label_details": True,
}


def rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    mode, base, project_id, arg = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3], sys.argv[4]
    key = os.environ.get("LABELMUX_BENCH_API_KEY", "emulator-key")
    logging.getLogger("labelbox").setLevel(logging.ERROR)
    client = Client(api_key=key, endpoint=base + "/graphql", rest_endpoint=base + "/api/v1")
    rss_start = rss_kb()
    started = time.perf_counter()
    items = 0
    batch_id = None
    if mode == "export":
        project = client.get_project(project_id)
        task = project.export(params=EXPORT_PARAMS, filters={"workflow_status": "Done"})
        task.wait_till_done(timeout_seconds=7200)
        if task.has_errors():
            sys.exit(f"export failed: {task.errors}")
        count = [0]
        with open(os.devnull, "w") as sink:

            def handle(out):
                sink.write(json.dumps(out.json))
                sink.write("\n")
                count[0] += 1

            if task.has_result():
                task.get_buffered_stream().start(stream_handler=handle)
        items = count[0]
    elif mode == "create":
        # The SDK takes a list of rows, so the whole file is read first.
        rows = []
        with open(arg) as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                rows.append({"row_data": r["row_data"], "global_key": r["external_id"]})
        project = client.get_project(project_id)
        # iam_integration=None, as tests/fidelity/labelbox_sdk.py: the default looks up the
        # organization's IAM integrations, which the emulator does not model.
        dataset = client.create_dataset(name=f"sdk bench {time.time():.0f}", iam_integration=None)
        task = dataset.create_data_rows(rows)
        task.wait_till_done(timeout_seconds=7200)
        if task.status != "COMPLETE":
            sys.exit(f"create_data_rows ended {task.status}: {task.errors}")
        if task.errors:
            print(f"# {len(task.errors)} rows refused, first: {task.errors[0]}", file=sys.stderr)
        keys = [r["global_key"] for r in rows]
        batch = project.create_batch(f"sdk-bench-{time.time():.0f}", global_keys=keys, priority=5)
        items = batch.size if batch.size is not None else len(keys)
        batch_id = batch.uid
    else:
        sys.exit(f"unknown mode {mode!r}")
    secs = time.perf_counter() - started
    result = {"items": items, "secs": secs, "rss_start_kb": rss_start, "peak_rss_kb": rss_kb()}
    if batch_id is not None:
        result["batch_id"] = batch_id
    print(json.dumps(result))


if __name__ == "__main__":
    main()
