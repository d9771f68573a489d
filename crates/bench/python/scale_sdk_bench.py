#!/usr/bin/env python3
"""The official Scale Python SDK (`scaleapi`) side of `labelmux-bench` (run by it as a subprocess).

Usage: scale_sdk_bench.py MODE BASE_URL PROJECT ARG [PREFIX]
  MODE create  ARG = N: client.create_batch(PROJECT, "<PREFIX>-batch"), then N x
               client.create_task(TaskType.ImageAnnotation, ...) one after another (the SDK's
               one-POST-per-task loop, as a user writes it), then client.finalize_batch(...)
  MODE list    ARG = expected count (informative): every task of PROJECT through the
               client.get_tasks(project_name=PROJECT) generator, each serialised to JSON and
               written to a null sink
The API key is read from the environment variable LABELMUX_BENCH_API_KEY.

Prints one JSON line: {"items", "secs", "rss_start_kb", "peak_rss_kb"[, "batch_id"]}; `secs`
covers the operation only (not interpreter start-up or imports); `peak_rss_kb` is this process's
VmHWM (KiB; getrusage's ru_maxrss where /proc is missing).

The SDK is pointed at the emulator with its own `api_instance_url` argument; nothing of it is
changed (it opens a new requests.Session, hence a new connection, per request, as in production).
"""

import json
import os
import resource
import sys
import time

import scaleapi
from scaleapi.tasks import TaskType


def rss_kb():
    # VmHWM of this process image: ru_maxrss would also count the parent's RSS at fork time
    # (Linux carries it across exec), which is large when the parent serves static pages.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    mode, base, project, arg = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3], sys.argv[4]
    prefix = sys.argv[5] if len(sys.argv) > 5 else "sdk"
    key = os.environ.get("LABELMUX_BENCH_API_KEY", "emulator-key")
    client = scaleapi.ScaleClient(key, api_instance_url=base)
    rss_start = rss_kb()
    started = time.perf_counter()
    items = 0
    batch_id = None
    if mode == "create":
        n = int(arg)
        batch = f"{prefix}-batch"
        client.create_batch(project, batch)
        for i in range(n):
            # The same task as the labelmux side sends (see crates/bench/src/scale.rs).
            client.create_task(
                TaskType.ImageAnnotation,
                project=project,
                batch=batch,
                attachment=f"https://images.example.com/bench/{i:08}.jpg",
                attachment_type="image",
                geometries={"box": {"objects_to_annotate": ["car", "person"]}},
                unique_id=f"{prefix}-{i:08}",
                metadata={"i": i},
            )
            items += 1
        client.finalize_batch(batch)
        batch_id = batch
    elif mode == "list":
        with open(os.devnull, "w") as sink:
            for task in client.get_tasks(project_name=project):
                sink.write(json.dumps(task.as_dict()))
                sink.write("\n")
                items += 1
    else:
        sys.exit(f"unknown mode {mode!r}")
    secs = time.perf_counter() - started
    result = {"items": items, "secs": secs, "rss_start_kb": rss_start, "peak_rss_kb": rss_kb()}
    if batch_id is not None:
        result["batch_id"] = batch_id
    print(json.dumps(result))


if __name__ == "__main__":
    main()
