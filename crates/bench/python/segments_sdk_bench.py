#!/usr/bin/env python3
"""The official Segments.ai Python SDK (`segments-ai` 1.33.0) side of `labelmux-bench` (run by it
as a subprocess).

Usage: segments_sdk_bench.py MODE BASE_URL DATASET ARG [EXTRA]
  MODE create   ARG = JSONL file of {"image": {"url"}, "external_id"} records, EXTRA = samples
                per call (0: all in one call): the file read into a list of
                {"name": external_id, "attributes": {"image": ...}}, then client.add_samples(DATASET,
                chunk) for each chunk, one after another
  MODE pull     ARG = expected count (informative): client.get_samples(DATASET,
                labelset="ground-truth", label_status=["REVIEWED"], include_full_label=True,
                per_page=1000, page=p) for p = 1, 2, ... until a short page (or the "Invalid page"
                NotFoundError past the end), each sample serialised to JSON to a null sink
  MODE release  ARG = release name: client.get_release(DATASET, ARG), then
                segments.utils.load_release(release), each sample of the file serialised to JSON
                to a null sink
The API key is read from the environment variable LABELMUX_BENCH_API_KEY.

Prints one JSON line: {"items", "secs", "rss_start_kb", "peak_rss_kb"}; `secs` covers the
operation only (not interpreter start-up or imports); `peak_rss_kb` is getrusage's ru_maxrss of
this process (KiB on Linux).

The SDK is pointed at the emulator with its own `api_url=` argument, as
tests/fidelity/segments_sdk.py does; nothing of it is changed.
"""

import json
import os
import resource
import sys
import time

from segments import SegmentsClient
from segments.exceptions import NotFoundError
from segments.utils import load_release


def rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    mode, base, dataset, arg = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3], sys.argv[4]
    extra = sys.argv[5] if len(sys.argv) > 5 else None
    key = os.environ.get("LABELMUX_BENCH_API_KEY", "emulator-key")
    client = SegmentsClient(api_key=key, api_url=base + "/")
    rss_start = rss_kb()
    started = time.perf_counter()
    items = 0
    if mode == "create":
        chunk = int(extra or "0")
        # The SDK takes a list of samples, so the whole file is read first.
        samples = []
        with open(arg) as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                samples.append({"name": r["external_id"], "attributes": {"image": r["image"]}})
        step = chunk if chunk > 0 else max(len(samples), 1)
        for i in range(0, len(samples), step):
            items += len(client.add_samples(dataset, samples[i : i + step]))
    elif mode == "pull":
        page = 1
        with open(os.devnull, "w") as sink:
            while True:
                try:
                    got = client.get_samples(
                        dataset,
                        labelset="ground-truth",
                        label_status=["REVIEWED"],
                        include_full_label=True,
                        per_page=1000,
                        page=page,
                    )
                except NotFoundError:
                    break
                for s in got:
                    sink.write(json.dumps(s.model_dump(mode="json")))
                    sink.write("\n")
                items += len(got)
                if len(got) < 1000:
                    break
                page += 1
    elif mode == "release":
        release = client.get_release(dataset, arg)
        data = load_release(release)
        with open(os.devnull, "w") as sink:
            for s in data["dataset"]["samples"]:
                sink.write(json.dumps(s))
                sink.write("\n")
                items += 1
    else:
        sys.exit(f"unknown mode {mode!r}")
    secs = time.perf_counter() - started
    print(json.dumps({"items": items, "secs": secs, "rss_start_kb": rss_start, "peak_rss_kb": rss_kb()}))


if __name__ == "__main__":
    main()
