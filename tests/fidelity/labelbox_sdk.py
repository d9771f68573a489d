#!/usr/bin/env python3
"""Fidelity check: drive the labelmux Labelbox emulator with Labelbox's OFFICIAL Python SDK
(labelbox 7.17.0).

Usage: labelbox_sdk.py [BASE_URL [API_KEY [PROJECT]]]
  or env LABELMUX_EMULATOR_URL (the emulator root, http://127.0.0.1:PORT), LABELMUX_EMULATOR_KEY,
  LABELMUX_EMULATOR_PROJECT (the seeded project id).

The SDK is pointed at the emulator through its own constructor parameters
(`endpoint=BASE/graphql`, `rest_endpoint=BASE/api/v1`). The workforce is simulated through the
emulator's control API (`/_emulator/complete`, `/_emulator/deliver`, `/_emulator/reject`).
Prints `labelbox-sdk fidelity: N passed, M failed` last; exits non-zero on any failure.
"""

import os
import sys
import time
from datetime import datetime, timezone

import requests

import labelbox
from lbox import exceptions as lberr
from labelbox import Client, MediaType, OntologyBuilder, Tool, Classification, Option, Webhook
from labelbox.schema.identifiables import GlobalKeys

from fidelity_runner import check, finish

BASE = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LABELMUX_EMULATOR_URL", "")).rstrip("/")
KEY = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("LABELMUX_EMULATOR_KEY", "emulator-key")
SEEDED = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("LABELMUX_EMULATOR_PROJECT", "")
if not BASE:
    sys.exit("usage: labelbox_sdk.py BASE_URL [API_KEY [PROJECT]] (or LABELMUX_EMULATOR_URL)")

ROWS = 1500
SMALL = 400  # first batch: below 1,000 rows (createBatchV2); the rest above (async add)


def make_client(key):
    return Client(api_key=key, endpoint=BASE + "/graphql", rest_endpoint=BASE + "/api/v1")


client = make_client(KEY)
STATE = {}


def control(op, project, **params):
    r = requests.post(f"{BASE}/_emulator/{op}", params={"project": project, **params}, timeout=60)
    assert r.status_code == 200, (op, r.status_code, r.text)
    return r.json()["moved"]


def export_rows(project, filters=None):
    """Export the project (label, project and performance details) and stream every line."""
    task = project.export(
        params={
            "data_row_details": True,
            "label_details": True,
            "project_details": True,
            "performance_details": True,
            "attachments": True,
            "metadata_fields": True,
        },
        filters=filters or {},
    )
    task.wait_till_done()
    assert task.status == "COMPLETE", task.status
    assert not task.has_errors()
    lines = []
    if task.has_result():
        task.get_buffered_stream().start(stream_handler=lambda out: lines.append(out.json))
        assert task.get_total_lines(labelbox.StreamType.RESULT) == len(lines)
    return lines


@check("user, organization and the seeded project")
def _identity():
    user = client.get_user()
    assert len(user.uid) == 25 and user.uid.startswith("c"), user.uid
    org = client.get_organization()
    assert org.uid
    if SEEDED:
        p = client.get_project(SEEDED)
        assert p.uid == SEEDED


@check("dataset with 1,500 data rows by global key; the duplicate key is reported")
def _dataset():
    ds = client.create_dataset(name="fidelity", iam_integration=None)
    keys = [f"fid-{i:05d}" for i in range(ROWS)]
    items = [{"row_data": f"https://example.com/img/{k}.jpg", "global_key": k, "external_id": f"{k}.jpg"} for k in keys]
    items.append({"row_data": "https://example.com/img/dup.jpg", "global_key": keys[7]})
    task = ds.create_data_rows(items)
    task.wait_till_done()
    assert task.status == "COMPLETE", task.status
    assert task.has_errors()
    errors = task.errors
    assert len(errors) == 1, errors
    assert errors[0]["message"] == f"Duplicate global key: '{keys[7]}'", errors
    assert errors[0]["failedDataRows"][0]["globalKey"] == keys[7]
    assert len(task.result) == ROWS
    ds = client.get_dataset(ds.uid)
    assert ds.row_count == ROWS, ds.row_count
    rows = list(ds.data_rows())
    assert len(rows) == ROWS, len(rows)
    assert len({r.global_key for r in rows}) == ROWS
    row = client.get_data_row_by_global_key(keys[7])
    assert row.row_data == f"https://example.com/img/{keys[7]}.jpg", row.row_data
    found = client.get_data_row_ids_for_global_keys([keys[0], "no-such-key"])
    assert found["status"] == "PARTIAL SUCCESS", found
    by_key = {r.global_key: r.uid for r in rows}
    assert found["results"] == [by_key[keys[0]], ""], found
    assert found["errors"][0]["global_key"] == "no-such-key", found
    STATE.update(dataset=ds, keys=keys)


@check("ontology and project, connected by the SDK's sequence")
def _project():
    builder = OntologyBuilder(
        tools=[Tool(Tool.Type.BBOX, name="car"), Tool(Tool.Type.POLYGON, name="road"), Tool(Tool.Type.POINT, name="light")],
        classifications=[Classification(Classification.Type.RADIO, "weather", options=[Option("sunny"), Option("rainy")])],
    )
    ontology = client.create_ontology("fidelity ontology", builder.asdict(), media_type=MediaType.Image)
    assert len(ontology.tools()) == 3
    project = client.create_project(name="fidelity project", media_type=MediaType.Image)
    project.connect_ontology(ontology)
    assert project.ontology().uid == ontology.uid
    queues = project.task_queues()
    assert len(queues) == 3, queues
    assert {q.queue_type for q in queues} >= {"MANUAL_REVIEW_QUEUE", "MANUAL_REWORK_QUEUE"}
    overview = project.get_overview()
    assert overview.to_label == 0 and isinstance(overview.issues, int)
    STATE.update(project=project, ontology=ontology, queues=queues)


@check("batches below and above 1,000 rows")
def _batches():
    project, keys = STATE["project"], STATE["keys"]
    small = project.create_batch("small", global_keys=keys[:SMALL], priority=2)
    assert small.size == SMALL, small.size
    big = project.create_batch("big", global_keys=keys[SMALL:], priority=5)
    assert big.size == ROWS - SMALL, big.size
    names = sorted(b.name for b in project.batches())
    assert names == ["big", "small"], names
    try:
        project.create_batch("small", global_keys=keys[:1])
        raise AssertionError("a duplicate batch name was accepted")
    except lberr.ResourceConflict:
        pass
    overview = project.get_overview()
    assert overview.to_label == ROWS and overview.total_data_rows == ROWS, overview
    STATE.update(batches=[small, big])


@check("rows get labeled, reviewed and done (control API); overview follows")
def _lifecycle():
    project = STATE["project"]
    assert control("complete", project.uid) == ROWS
    overview = project.get_overview(details=True)
    assert overview.in_review["total"] == ROWS, overview
    assert overview.in_review["data"] == [{"Initial review task": ROWS}], overview
    assert overview.in_rework["total"] == 0 and overview.labeled == ROWS, overview
    assert control("deliver", project.uid) == ROWS
    overview = project.get_overview()
    assert overview.done == ROWS and overview.to_label == 0, overview


@check("export: every row once, with labels matching the ontology")
def _export():
    project, keys = STATE["project"], STATE["keys"]
    lines = export_rows(project)
    assert len(lines) == ROWS, len(lines)
    seen = [l["data_row"]["global_key"] for l in lines]
    assert sorted(seen) == sorted(keys), "every row exactly once"
    line = lines[0]
    entry = line["projects"][project.uid]
    assert entry["project_details"]["workflow_status"] == "DONE"
    labels = entry["labels"]
    assert len(labels) == 1, labels
    kinds = {o["annotation_kind"] for o in labels[0]["annotations"]["objects"]}
    assert kinds == {"ImageBoundingBox", "ImagePolygon", "ImagePoint"}, kinds
    names = {o["name"] for o in labels[0]["annotations"]["objects"]}
    assert names == {"car", "road", "light"}, names
    schema_ids = {t.feature_schema_id for t in STATE["ontology"].tools()}
    assert {o["feature_schema_id"] for o in labels[0]["annotations"]["objects"]} == schema_ids
    radio = labels[0]["annotations"]["classifications"][0]
    assert radio["name"] == "weather" and radio["radio_answer"]["value"] in ("sunny", "rainy"), radio
    assert labels[0]["label_details"]["updated_at"].endswith("+00:00")
    STATE["labels_before"] = {l["data_row"]["global_key"]: l["projects"][project.uid]["labels"][0] for l in lines}


@check("rework: rows moved to the rework queue change status; relabeling updates the label")
def _rework():
    project, keys = STATE["project"], STATE["keys"]
    rework = next(q for q in project.task_queues() if q.queue_type == "MANUAL_REWORK_QUEUE")
    moved = keys[:10]
    time.sleep(1.1)  # export date filters have whole-second granularity
    watermark = datetime.now(timezone.utc).replace(microsecond=0)
    project.move_data_rows_to_task_queue(GlobalKeys(moved), rework.uid)
    overview = project.get_overview()
    assert overview.in_rework == 10 and overview.done == ROWS - 10, overview
    lines = export_rows(project, {"workflow_status": "InRework"})
    assert sorted(l["data_row"]["global_key"] for l in lines) == moved
    # The reject control sends 5 more back the way a reviewer would.
    for k in keys[10:15]:
        assert control("reject", project.uid, task=k) == 1
    assert project.get_overview().in_rework == 15
    time.sleep(0.01)
    control("complete", project.uid)
    control("deliver", project.uid)
    STATE["watermark"] = watermark
    STATE["changed"] = keys[:15]


@check("export only what changed after a timestamp")
def _export_since():
    project = STATE["project"]
    start = STATE["watermark"].strftime("%Y-%m-%d %H:%M:%S")
    lines = export_rows(project, {"last_activity_at": [start, None]})
    got = sorted(l["data_row"]["global_key"] for l in lines)
    assert got == sorted(STATE["changed"]), (len(got), got[:20])
    for l in lines:
        k = l["data_row"]["global_key"]
        label = l["projects"][project.uid]["labels"][0]
        before = STATE["labels_before"][k]
        assert label["id"] == before["id"]
        assert label["label_details"]["updated_at"] > before["label_details"]["updated_at"], (label, before)
        assert l["projects"][project.uid]["project_details"]["workflow_status"] == "DONE"


@check("consensus switched on per project gives several labels per row")
def _consensus():
    ds, project = STATE["dataset"], STATE["project"]
    task = ds.create_data_rows([{"row_data": "https://example.com/c.jpg", "global_key": "consensus-1"}])
    task.wait_till_done()
    r = requests.post(f"{BASE}/_labelbox/consensus", params={"project": project.uid}, json={"labels": 3}, timeout=60)
    assert r.status_code == 200, r.text
    project.create_batch("consensus", global_keys=["consensus-1"])
    control("complete", project.uid)
    lines = export_rows(project, {"global_keys": ["consensus-1"]})
    assert len(lines) == 1
    assert len(lines[0]["projects"][project.uid]["labels"]) == 3


@check("webhooks (literal enums), catalog export, batch-scoped overview, archive and delete")
def _misc():
    project, ds = STATE["project"], STATE["dataset"]
    hook = Webhook.create(client, topics=[Webhook.LABEL_CREATED, Webhook.WORKFLOW_ACTION],
                          url="http://127.0.0.1:9/hook", secret="s3cr3t", project=project)
    assert hook.status == "ACTIVE" and set(hook.topics) == {"LABEL_CREATED", "WORKFLOW_ACTION"}
    hook.update(topics=[Webhook.LABEL_UPDATED])
    assert [w.uid for w in project.webhooks()] == [hook.uid]
    hook.delete()
    assert next(iter(project.webhooks())).status == "INACTIVE"
    task = ds.export(params={"data_row_details": True}, filters={"global_keys": STATE["keys"][:5]})
    task.wait_till_done()
    lines = []
    task.get_buffered_stream().start(stream_handler=lambda out: lines.append(out.json))
    assert sorted(l["data_row"]["global_key"] for l in lines) == STATE["keys"][:5]
    small = next(b for b in project.batches() if b.name == "small")
    overview = project.get_overview(batch_ids=[small.uid])
    assert overview.total_data_rows == SMALL and overview.issues is None, overview
    # A fresh, unlabeled batch: archiving empties it, deleting removes it.
    task = ds.create_data_rows([{"row_data": "https://example.com/z.jpg", "global_key": "archive-1"}])
    task.wait_till_done()
    batch = project.create_batch("to-archive", global_keys=["archive-1"])
    before = project.get_overview().to_label
    batch.remove_queued_data_rows()
    assert project.get_overview().to_label == before - 1
    batch.delete()
    assert "to-archive" not in [b.name for b in project.batches()]


@check("the SDK's own exceptions: bad key, unknown project, syntax and field errors")
def _errors():
    try:
        make_client("not-the-key").create_project(name="x", media_type=MediaType.Image)
        raise AssertionError("a bad key was accepted")
    except lberr.AuthenticationError:
        pass
    for pid in ["clnosuchproject0000000000", "invalid project ID"]:
        try:
            client.get_project(pid)
            raise AssertionError("an unknown project was found")
        except lberr.ResourceNotFoundError:
            pass
    try:
        client.execute("asda")
        raise AssertionError("a syntax error was accepted")
    except lberr.InvalidQueryError as e:
        assert str(e).startswith("Syntax Error:"), str(e)
    try:
        client.execute("query {bbb {id}}")
        raise AssertionError("an unknown field was accepted")
    except lberr.InvalidQueryError as e:
        assert str(e).startswith('Cannot query field "bbb"'), str(e)
    try:
        client.execute("{projects {datasets {dataRows {labels {id}}}}}")
        raise AssertionError("complexity not limited")
    except lberr.ValidationFailedError:
        pass
    try:
        STATE["project"].create_batch("nothing", global_keys=["no-such-key"])
        raise AssertionError("a batch without rows was accepted")
    except lberr.MalformedQueryException:
        pass


finish("labelbox-sdk")
