#!/usr/bin/env python3
"""The official Sama Python SDK side of `labelmux-bench` (run by it as a subprocess).

Usage: sama_sdk_bench.py MODE BASE_URL PROJECT [ARG]
  MODE deliveries-get    ARG = RFC 3339 `from` timestamp: client.get_delivered_tasks(from_timestamp=ARG)
  MODE deliveries-since  ARG = consumer token: client.get_delivered_tasks_since_last_call(consumer=ARG)
  MODE create            ARG = JSONL file of task `data` records: client.create_task_batch(records)
The API key is read from the environment variable LABELMUX_BENCH_API_KEY.

Deliveries are consumed as a user would: each task is serialised to JSON and written to a null
sink. Prints one JSON line: {"items", "secs", "rss_start_kb", "peak_rss_kb"[, "batch_id"]}; `secs` covers the
operation only (not interpreter start-up or imports); `peak_rss_kb` is this process's VmHWM
(KiB; getrusage's ru_maxrss where /proc is missing).

The SDK hardcodes https://api.sama.com/v2; it is pointed at the emulator by wrapping the
`requests` functions its module calls (as tests/fidelity/sama_sdk.py does). Nothing else of the
SDK is changed: it still opens a new connection per request, as it does in production.
"""

import json
import os
import resource
import sys
import time
import types

import requests

import sama
import sama.client

SDK_BASE = "https://api.sama.com/v2"


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
    mode, base, project = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
    arg = sys.argv[4] if len(sys.argv) > 4 else None
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
    if mode in ("deliveries-get", "deliveries-since"):
        if mode == "deliveries-get":
            tasks = client.get_delivered_tasks(project, from_timestamp=arg)
        else:
            tasks = client.get_delivered_tasks_since_last_call(project, consumer=arg)
        with open(os.devnull, "w") as sink:
            for task in tasks:
                sink.write(json.dumps(task))
                items += 1
    elif mode == "create":
        # The SDK takes a list of records, so the whole file is read first.
        with open(arg) as f:
            records = [json.loads(line) for line in f if line.strip()]
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
