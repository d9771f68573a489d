#!/usr/bin/env python3
"""Fidelity check: drive the labelmux Sama emulator with Sama's OFFICIAL Python SDK (sama 0.5.12).

Usage: sama_sdk.py [BASE_URL [API_KEY [PROJECT]]]
  or env LABELMUX_EMULATOR_URL (e.g. http://127.0.0.1:PORT/v2), LABELMUX_EMULATOR_KEY,
  LABELMUX_EMULATOR_PROJECT (default 1001).

The SDK hardcodes https://api.sama.com/v2; this script rewrites that prefix to the emulator by
wrapping the `requests` functions the SDK module calls (sama.client.requests.get/post/put).
Every public SDK method except the Spark (Databricks) wrappers is called and its result checked.
Prints `sama-sdk fidelity: N passed, M failed` last; exits non-zero on any failure.
"""

import os
import sys
import time
import types

import requests

import sama
import sama.client
from sama.constants.tasks import TaskStates

from fidelity_runner import check, finish

SDK_BASE = "https://api.sama.com/v2"

BASE = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LABELMUX_EMULATOR_URL", "")).rstrip("/")
KEY = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("LABELMUX_EMULATOR_KEY", "emulator-key")
PROJECT = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("LABELMUX_EMULATOR_PROJECT", "1001")
if not BASE:
    sys.exit("usage: sama_sdk.py BASE_URL [API_KEY [PROJECT]] (or LABELMUX_EMULATOR_URL)")
ROOT = BASE[: -len("/v2")] if BASE.endswith("/v2") else BASE

# --- redirect the SDK to the emulator ---------------------------------------------------------

CALLS = []  # (method, url as the SDK built it, headers, json body) of every SDK request


def _rewrite(url):
    if url.startswith(SDK_BASE):
        return BASE + url[len(SDK_BASE):]
    return url


def _wrap(method, real):
    def call(url, *args, **kwargs):
        CALLS.append((method, url, dict(kwargs.get("headers") or {}), kwargs.get("json")))
        return real(_rewrite(url), *args, timeout=60, **kwargs)

    return call


sama.client.requests = types.SimpleNamespace(
    get=_wrap("GET", requests.get),
    post=_wrap("POST", requests.post),
    put=_wrap("PUT", requests.put),
    exceptions=requests.exceptions,
)

client = sama.Client(api_key=KEY)

# --- tiny test runner -------------------------------------------------------------------------



def control(op):
    r = requests.post(f"{ROOT}/_emulator/{op}", params={"project": PROJECT}, timeout=60)
    assert r.status_code == 200, (op, r.status_code, r.text)
    return r.json()["moved"]


def wait_batch(batch_id, expected):
    """Poll get_status_batch_creation_job until no entry is queued; returns the entries."""
    deadline = time.time() + 60
    while True:
        entries = list(client.get_status_batch_creation_job(PROJECT, batch_id))
        if len(entries) == expected and all(e["status"] != "queued" for e in entries):
            return entries
        assert time.time() < deadline, f"batch {batch_id} never finished: {len(entries)} entries"
        time.sleep(0.05)


STATE = {}

# --- checks -------------------------------------------------------------------------------------


@check("get_project_information")
def _():
    info = client.get_project_information(PROJECT)
    assert str(info["id"]) == PROJECT, info
    for key in ("name", "state", "type", "asset_country_code", "project_group", "description", "client"):
        assert key in info, key


@check("get_creation_task_schema / get_delivery_task_schema")
def _():
    cs = client.get_creation_task_schema(PROJECT)
    assert cs["$schema"].startswith("http://json-schema.org/draft-07"), cs
    assert cs["properties"]["url"]["type"] == "string"
    assert "url" in cs["required"]
    assert "output_label" in cs["properties"]
    ds = client.get_delivery_task_schema(PROJECT)
    assert set(ds["properties"]) >= {"label", "boxes"}, ds


@check("create_task_batch: 3,000 tasks via the 3-step upload flow")
def _():
    records = [
        {"url": f"https://img.example/{i}.jpg", "name": f"img_{i}",
         "client_batch_id": "fid-a" if i % 2 == 0 else "fid-b"}
        for i in range(3000)
    ]
    before = len(CALLS)
    result = client.create_task_batch(PROJECT, records, batch_priority=-2)
    assert set(result) >= {"batch_id"}, result
    batch_id = result["batch_id"]
    assert isinstance(batch_id, int), result
    STATE["big_batch"] = batch_id
    # the SDK's three requests: open, upload (absolute emulator URL, no key), continue
    calls = CALLS[before:]
    assert [c[0] for c in calls] == ["POST", "PUT", "POST"], calls
    assert calls[1][1].startswith(ROOT + "/") and "access_key" not in calls[1][1]
    assert calls[2][1].endswith(f"/batches/{batch_id}/continue.json")


@check("get_status_batch_creation_job: every entry created, indexed 0..n-1")
def _():
    entries = wait_batch(STATE["big_batch"], 3000)
    assert [e["index"] for e in entries] == list(range(3000))
    assert all(e["status"] == "created" and len(e["id"]) == 24 for e in entries)
    STATE["big_ids"] = [e["id"] for e in entries]


@check("get_multi_task_status: all 3,000 tasks by batch filter (30 pages of 100)")
def _():
    tasks = list(client.get_multi_task_status(PROJECT, batch_id=STATE["big_batch"]))
    assert len(tasks) == 3000, len(tasks)
    assert [t["id"] for t in tasks] == STATE["big_ids"]
    assert all(t["state"] == "new" and t["priority"] == -2 for t in tasks)
    assert all("answers" not in t for t in tasks), "omit_answers defaults to true in the SDK"
    assert all(t["batch_id"] == STATE["big_batch"] and str(t["project_id"]) == PROJECT for t in tasks)


@check("get_multi_task_status: client batch id, match type, state, dates, answers")
def _():
    a = list(client.get_multi_task_status(PROJECT, client_batch_id="fid-a"))
    assert len(a) == 1500 and all(t["client_batch_id"] == "fid-a" for t in a)
    both = list(client.get_multi_task_status(PROJECT, client_batch_id="fid-",
                                             client_batch_id_match_type="contains"))
    assert len(both) == 3000
    new = list(client.get_multi_task_status(PROJECT, state=TaskStates.NEW, batch_id=STATE["big_batch"]))
    assert len(new) == 3000
    assert list(client.get_multi_task_status(PROJECT, state=TaskStates.DELIVERED)) == []
    recent = list(client.get_multi_task_status(PROJECT, batch_id=STATE["big_batch"], date_type="creation_date",
                                               from_timestamp="2020-01-01T00:00:00.000000000Z",
                                               to_timestamp="2999-01-01T00:00:00.000Z"))
    assert len(recent) == 3000
    none = list(client.get_multi_task_status(PROJECT, date_type="creation_date",
                                             from_timestamp="2999-01-01T00:00:00.000Z"))
    assert none == []
    with_answers = list(client.get_multi_task_status(PROJECT, client_batch_id="fid-b", omit_answers=False))
    assert len(with_answers) == 1500 and all(t["answers"] == {} for t in with_answers)


@check("create_task_batch with invalid records: failed entries keep data and errors")
def _():
    records = [
        {"url": "https://img.example/ok-1.jpg", "output_label": "dog"},
        {"url": "https://img.example/bad-1.jpg", "colour": "red"},
        {"name": "missing url"},
        {"url": "https://img.example/bad-2.jpg", "output_mask": {"layers": {}}},
        {"url": "https://img.example/ok-2.jpg", "priority_hint": 3},
    ]
    batch_id = client.create_task_batch(PROJECT, records, notification_email="ops@example.com")["batch_id"]
    entries = wait_batch(batch_id, 5)
    assert [e["status"] for e in entries] == ["created", "failed", "failed", "failed", "created"], entries
    for i in (1, 2, 3):
        assert entries[i]["data"] == records[i], entries[i]
        assert entries[i]["errors"][0]["type"] == "InvalidInputSchema"
    assert "Invalid seeded output name(s): mask" in entries[3]["errors"][0]["message"]
    slim = list(client.get_status_batch_creation_job(PROJECT, batch_id, omit_failed_task_data=True))
    assert all("data" not in e for e in slim) and all("errors" in e for e in slim if e["status"] == "failed")
    STATE["small_ids"] = [entries[0]["id"], entries[4]["id"]]
    STATE["small_batch"] = batch_id


@check("get_task_status: one task, pre-annotation as default answers")
def _():
    tasks = list(client.get_task_status(PROJECT, STATE["small_ids"][0]))
    assert len(tasks) == 1
    t = tasks[0]
    assert t["id"] == STATE["small_ids"][0] and t["state"] == "new"
    assert t["answers"] == {"label": "dog"}
    assert t["data"]["output_label"] == "dog"


@check("update_task_priorities")
def _():
    ids = STATE["big_ids"][:10]
    client.update_task_priorities(PROJECT, ids, -9)
    for tid in (ids[0], ids[9]):
        assert next(client.get_task_status(PROJECT, tid))["priority"] == -9
    assert next(client.get_task_status(PROJECT, STATE["big_ids"][10]))["priority"] == -2
    try:
        client.update_task_priorities(PROJECT, ids, 2**31)
        raise AssertionError("out-of-range priority accepted")
    except requests.HTTPError as e:
        assert e.response.status_code == 400


@check("delete_tasks: new tasks go away")
def _():
    victim = STATE["small_ids"][1]
    result = client.delete_tasks(PROJECT, [victim])
    assert result["deleted"] == [victim], result
    try:
        list(client.get_task_status(PROJECT, victim))
        raise AssertionError("deleted task still readable")
    except requests.HTTPError as e:
        assert e.response.status_code == 404
        assert e.response.json()["errors"][0]["type"] == 404


@check("cancel_batch_creation_job on a fresh (waiting) batch")
def _():
    # The SDK never leaves a batch waiting; open one with the SDK's own request helper.
    opened = client._call_and_retry_http_method(
        f"{SDK_BASE}/projects/{PROJECT}/batches.json",
        payload={"notification_email": None, "tasks_file_name": "python_sdk"},
        params={"access_key": KEY},
        headers={"Accept": "application/json", "Content-Type": "application/json"},
        method="POST",
    )
    result = client.cancel_batch_creation_job(PROJECT, opened["batch_id"])
    assert result["status"] == "canceled", result
    assert list(client.get_status_batch_creation_job(PROJECT, opened["batch_id"])) == []
    # cancel of a finished batch is harmless
    assert client.cancel_batch_creation_job(PROJECT, STATE["small_batch"])["status"] == "completed"


@check("get_delivered_tasks after finishing every task via /_emulator/finish")
def _():
    moved = control("finish")
    assert moved == 3001, moved  # 3,000 + 1 valid small task left
    STATE["delivered"] = moved
    tasks = list(client.get_delivered_tasks(PROJECT))
    assert len(tasks) == 3001
    keys = [(t["delivered_at"], t["id"]) for t in tasks]
    assert keys == sorted(keys), "ordered by (delivered_at, id)"
    assert all(t["answers"]["label"] in ("cat", "dog") for t in tasks)
    big = list(client.get_delivered_tasks(PROJECT, batch_id=STATE["big_batch"]))
    assert len(big) == 3000
    assert len(list(client.get_delivered_tasks(PROJECT, client_batch_id="fid-b"))) == 1500
    assert list(client.get_delivered_tasks(PROJECT, from_timestamp="2999-01-01T00:00:00Z")) == []
    since = list(client.get_delivered_tasks(PROJECT, from_timestamp=tasks[0]["delivered_at"]))
    assert len(since) == 3001, "from is inclusive"
    one = list(client.get_delivered_tasks(PROJECT, task_id=STATE["big_ids"][5]))
    assert [t["id"] for t in one] == [STATE["big_ids"][5]]


@check("get_delivered_tasks_since_last_call: once per consumer, consumers independent")
def _():
    first = list(client.get_delivered_tasks_since_last_call(PROJECT, consumer="fid-1"))
    assert len(first) == STATE["delivered"] and len({t["id"] for t in first}) == len(first)
    assert list(client.get_delivered_tasks_since_last_call(PROJECT, consumer="fid-1")) == []
    second = list(client.get_delivered_tasks_since_last_call(PROJECT, consumer="fid-2"))
    assert [t["id"] for t in second] == [t["id"] for t in first]
    anon = list(client.get_delivered_tasks_since_last_call(PROJECT))
    assert len(anon) == STATE["delivered"]
    assert list(client.get_delivered_tasks_since_last_call(PROJECT)) == []
    only_small = list(client.get_delivered_tasks_since_last_call(PROJECT, batch_id=STATE["small_batch"],
                                                                 consumer="fid-3"))
    assert [t["id"] for t in only_small] == [STATE["small_ids"][0]]


@check("reject_task: rework and re-delivery reach the consumer again")
def _():
    tid = STATE["big_ids"][42]
    client.reject_task(PROJECT, tid, ["box too loose", "wrong label"])
    t = next(client.get_task_status(PROJECT, tid))
    assert t["state"] == "rejected" and t["answers"] == {}, t
    rejected = list(client.get_multi_task_status(PROJECT, state=TaskStates.REJECTED))
    assert [r["id"] for r in rejected] == [tid]
    try:
        client.reject_task(PROJECT, tid, ["again"])
        raise AssertionError("rejecting a rejected task was accepted")
    except requests.HTTPError as e:
        assert e.response.status_code == 400
    assert control("finish") == 1
    again = list(client.get_delivered_tasks_since_last_call(PROJECT, consumer="fid-1"))
    assert [a["id"] for a in again] == [tid]
    assert again[0]["answers"]["label"] == "cat"
    assert len(list(client.get_delivered_tasks(PROJECT, task_id=tid))) == 2, "one entry per delivery"


@check("get_project_stats")
def _():
    stats = client.get_project_stats(PROJECT)
    assert stats["tasks"]["delivered"] == 3001, stats
    window = client.get_project_stats(PROJECT, from_timestamp="2999-01-01T00:00:00Z",
                                      to_timestamp="2999-12-31T00:00:00Z")
    assert window["total_tasks"] == 0, window


@check("errors: wrong key 401 body, unknown task 404")
def _():
    bad = sama.Client(api_key="not-the-key")
    try:
        bad.get_project_information(PROJECT)
        raise AssertionError("wrong key accepted")
    except requests.HTTPError as e:
        assert e.response.status_code == 401
        assert e.response.json() == {"errors": [{"type": 401, "message": "Not authorized."}]}
    try:
        list(client.get_task_status(PROJECT, "0123456789abcdef01234567"))
        raise AssertionError("unknown task found")
    except requests.HTTPError as e:
        assert e.response.status_code == 404


@check("wire: JSON content type on every POST/PUT, Accept on every request")
def _():
    assert CALLS
    for method, url, headers, _ in CALLS:
        assert headers.get("Accept") == "application/json", (method, url)
        if method in ("POST", "PUT"):
            assert headers.get("Content-Type") == "application/json", (method, url)


finish("sama-sdk")
