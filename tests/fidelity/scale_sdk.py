#!/usr/bin/env python3
"""Fidelity check: drive the labelmux Scale emulator with Scale's OFFICIAL Python SDK (scaleapi).

Usage: scale_sdk.py [BASE_URL [API_KEY [PROJECT]]]
  or env LABELMUX_EMULATOR_URL (e.g. http://127.0.0.1:PORT/v1), LABELMUX_EMULATOR_KEY,
  LABELMUX_EMULATOR_PROJECT (default demo).

The SDK is pointed at the emulator with its own `api_instance_url` argument (no patching).
Covers the v1 surface: projects, batches, 500 tasks with unique ids (a repeated one must raise
ScaleDuplicateResource), paging, filters, counts, audit, cancel, unique_id / metadata / tags,
batch status and listing, files, teams, Studio, quality tasks, and the error classes.
Prints `scale-sdk fidelity: N passed, M failed` last; exits non-zero on any failure.
"""

import io
import json
import os
import sys
import time
import urllib.request

import scaleapi
from scaleapi.exceptions import (
    ScaleDuplicateResource,
    ScaleInvalidRequest,
    ScaleResourceNotFound,
    ScaleUnauthorized,
)
from scaleapi.tasks import TaskReviewStatus, TaskStatus, TaskType
from scaleapi.teams import TeammateRole

from fidelity_runner import check, finish

BASE = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LABELMUX_EMULATOR_URL", "")).rstrip("/")
KEY = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("LABELMUX_EMULATOR_KEY", "emulator-key")
SEEDED = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("LABELMUX_EMULATOR_PROJECT", "demo")
if not BASE:
    sys.exit("usage: scale_sdk.py BASE_URL [API_KEY [PROJECT]] (or LABELMUX_EMULATOR_URL)")
ROOT = BASE[: -len("/v1")] if BASE.endswith("/v1") else BASE

client = scaleapi.ScaleClient(KEY, api_instance_url=BASE)
RUN = str(int(time.time() * 1000))
PROJECT = f"fidelity project/{RUN}"  # a slash and a space: names travel percent-encoded
BATCH = f"fidelity batch {RUN}"
N = 500
STATE = {}  # ids shared between checks


def control(op):
    """Drive the emulated workforce through the emulator's control API."""
    req = urllib.request.Request(
        f"{ROOT}/_emulator/{op}?project={urllib.request.quote(PROJECT, safe='')}", method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)["moved"]


@check("seeded project exists")
def _():
    p = client.get_project(SEEDED)
    assert p.name == SEEDED and p.type == "imageannotation", p
    assert p.version == 0 and p.instruction, p.as_dict()


@check("create, get, list and update a project")
def _():
    p = client.create_project(PROJECT, TaskType.ImageAnnotation, params={"instruction": "Box the cars"})
    assert p.name == PROJECT and p.version == 0 and p.instruction == "Box the cars"
    assert client.get_project(PROJECT).name == PROJECT
    names = [x.name for x in client.get_projects()]
    assert SEEDED in names and PROJECT in names, names
    p = client.update_project(PROJECT, instruction="Box every car", patch=True)
    assert p.version == 1 and p.instruction == "Box every car", p.as_dict()
    try:
        client.create_project(PROJECT, TaskType.ImageAnnotation)
        raise AssertionError("duplicate project name accepted")
    except ScaleDuplicateResource as e:
        assert e.code == 409


@check("create a batch; a duplicate name is 409")
def _():
    b = client.create_batch(PROJECT, BATCH, metadata={"run": RUN})
    assert b.name == BATCH and b.project == PROJECT and b.status == "in_progress", b.as_dict()
    assert b.metadata == {"run": RUN}
    try:
        client.create_batch(PROJECT, BATCH)
        raise AssertionError("duplicate batch name accepted")
    except ScaleDuplicateResource:
        pass
    assert client.get_batch(BATCH).name == BATCH


@check(f"create {N} tasks with unique ids; a repeated one raises ScaleDuplicateResource")
def _():
    ids = []
    for i in range(N):
        t = client.create_task(
            TaskType.ImageAnnotation,
            project=PROJECT,
            batch=BATCH,
            attachment=f"https://img.example/{RUN}/{i}.jpg",
            attachment_type="image",
            geometries={"box": {"objects_to_annotate": ["car"]}},
            unique_id=f"{RUN}-{i:04d}",
            metadata={"i": i},
        )
        assert t.status == "pending" and t.unique_id == f"{RUN}-{i:04d}", t.as_dict()
        ids.append(t.id)
    assert len(set(ids)) == N
    STATE["ids"] = ids
    try:
        client.create_task(
            TaskType.ImageAnnotation,
            project=PROJECT,
            batch=BATCH,
            attachment="https://img.example/dup.jpg",
            unique_id=f"{RUN}-0007",
        )
        raise AssertionError("a repeated unique_id was accepted")
    except ScaleDuplicateResource as e:
        assert e.code == 409 and ids[7] in e.message, e.message
    t = client.get_task(ids[0])
    assert t.params["attachment"].endswith("/0.jpg") and t.instruction == "Box every car", t.as_dict()
    assert "tags" not in t.as_dict() and t.metadata == {"i": 0}


@check("a task without an attachment is ScaleInvalidRequest")
def _():
    try:
        client.create_task(TaskType.ImageAnnotation, project=PROJECT, instruction="no attachment")
        raise AssertionError("accepted")
    except ScaleInvalidRequest as e:
        assert "attachment" in e.message


@check("finalize the batch")
def _():
    b = client.finalize_batch(BATCH)
    assert b.name == BATCH and b.status == "in_progress"


@check("list tasks across pages with filters, and count them")
def _():
    got = list(client.get_tasks(project_name=PROJECT, batch_name=BATCH, limit=100))
    assert [t.id for t in got] == STATE["ids"], "every task once, in creation order"
    assert client.get_tasks_count(project_name=PROJECT, batch_name=BATCH) == N
    assert client.get_tasks_count(project_name=PROJECT, status=TaskStatus.Pending) == N
    assert client.get_tasks_count(project_name=PROJECT, status=TaskStatus.Completed) == 0
    one = list(client.get_tasks(project_name=PROJECT, unique_id=[f"{RUN}-0003", f"{RUN}-0004"]))
    assert sorted(t.id for t in one) == sorted(STATE["ids"][3:5])
    page = client.tasks(project=PROJECT, limit=7)
    assert len(page.docs) == 7 and page.total == N and page.has_more and page.next_token
    limited = client.tasks(project=PROJECT, limit=1, limited_response=True)
    assert set(limited.docs[0].as_dict()) == {"task_id", "status", "metadata", "project", "otherVersion"}
    assert client.get_tasks_count(project_name=PROJECT, created_after="2000-01-01") == N
    assert client.get_tasks_count(project_name=PROJECT, created_before="2000-01-01") == 0


@check("batch status counts and Batch.get_status")
def _():
    s = client.batch_status(BATCH)
    assert s["status"] == "in_progress" and s["pending"] == N and s["completed"] == 0, s
    b = client.get_batch(BATCH)
    b.get_status()
    assert b.tasks_pending == N and b.tasks_canceled == 0


@check("cancel a pending task with clear_unique_id; the key is free again")
def _():
    tid = STATE["ids"][-1]
    t = client.cancel_task(tid, clear_unique_id=True)
    assert t.status == "canceled" and "unique_id" not in t.as_dict(), t.as_dict()
    try:
        client.cancel_task(tid)
        raise AssertionError("canceled twice")
    except ScaleInvalidRequest:
        pass
    again = client.create_task(
        TaskType.ImageAnnotation, project=PROJECT, attachment="https://img.example/re.jpg", unique_id=f"{RUN}-{N - 1:04d}"
    )
    assert again.id != tid
    client.cancel_task(again.id)
    STATE["canceled"] = 2


@check("the workforce completes tasks; completed_after filters them")
def _():
    before = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 2))
    moved = control("complete")
    assert moved == N - 1, moved
    done = list(client.get_tasks(project_name=PROJECT, status=TaskStatus.Completed, completed_after=before))
    assert len(done) == N - 1 and all(t.response for t in done)
    later = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 60))
    assert client.get_tasks_count(project_name=PROJECT, completed_after=later) == 0
    s = client.batch_status(BATCH)
    assert s["completed"] == N - 1 and s["canceled"] == 1 and s["pending"] == 0, s
    assert s["status"] == "completed", s


@check("audit: reject with comments, accept another; review-status filter")
def _():
    ids = STATE["ids"]
    client.audit_task(ids[1], False, "wrong box")
    client.get_task(ids[2]).audit(True)
    t = client.get_task(ids[1])
    assert t.customer_review_status == "rejected" and t.customer_review_comments == ["wrong box"], t.as_dict()
    assert t.audits[-1]["audit_result"] == "rejected"
    rej = list(client.get_tasks(project_name=PROJECT, review_status=TaskReviewStatus.Rejected))
    assert [x.id for x in rej] == [ids[1]]
    both = client.get_tasks_count(
        project_name=PROJECT, review_status=[TaskReviewStatus.Rejected, TaskReviewStatus.Accepted]
    )
    assert both == 2
    assert control("complete") == 1, "only the rejected task is reworked"
    t = client.get_task(ids[1])
    assert t.customer_review_status == "fixed" and t.status == "completed" and t.prior_responses


@check("cancel of a completed task is ScaleInvalidRequest")
def _():
    try:
        client.cancel_task(STATE["ids"][0])
        raise AssertionError("canceled a completed task")
    except ScaleInvalidRequest:
        pass


@check("unique_id update and clear, metadata, tags")
def _():
    tid = STATE["ids"][5]
    t = client.update_task_unique_id(tid, f"{RUN}-renamed")
    assert t.unique_id == f"{RUN}-renamed"
    try:
        client.update_task_unique_id(STATE["ids"][6], f"{RUN}-renamed")
        raise AssertionError("a taken unique_id was accepted")
    except ScaleDuplicateResource:
        pass
    t = client.clear_task_unique_id(tid)
    assert "unique_id" not in t.as_dict()
    t = client.set_task_metadata(tid, {"k": "v"})
    assert t.metadata == {"k": "v"}
    assert client.set_task_tags(tid, ["a", "b"]).tags == ["a", "b"]
    assert client.add_task_tags(tid, ["b", "c"]).tags == ["a", "b", "c"]
    assert client.delete_task_tags(tid, ["a", "zz"]).tags == ["b", "c"]
    assert [x.id for x in client.get_tasks(project_name=PROJECT, tags=["b", "c"])] == [tid]


@check("batches: listing with offset paging, metadata")
def _():
    names = [b.name for b in client.get_batches(project_name=PROJECT)]
    assert names == [BATCH], names
    page = client.batches(project=PROJECT, limit=1, offset=0)
    assert page.total == 1 and not page.has_more
    b = client.set_batch_metadata(BATCH, {"x": 1})
    assert b.metadata == {"x": 1}


@check("files: upload (multipart) and import")
def _():
    f = io.BytesIO(b"\x89PNG fake")
    f.name = "pic.png"
    up = client.upload_file(f, project_name=PROJECT, reference_id=f"ref-{RUN}", display_name="Pic")
    assert up.attachment_url.startswith("scaledata://") and up.as_dict()["size"] == 9, up.as_dict()
    assert up.as_dict()["mime_type"] == "image/png" and up.as_dict()["project_names"] == [PROJECT]
    try:
        client.upload_file(io.BytesIO(b"x"), reference_id=f"ref-{RUN}")
        raise AssertionError("a reused reference_id was accepted")
    except ScaleDuplicateResource:
        pass
    im = client.import_file("https://files.example/doc.pdf", project_name=PROJECT)
    assert im.id and im.as_dict()["mime_type"] == "application/pdf"


@check("teams and Studio")
def _():
    team = client.list_teammates()
    assert team and team[0].email and team[0].role
    email = f"fid-{RUN}@example.com"
    team = client.invite_teammates([email], TeammateRole.Member)
    assert any(m.email == email and m.role == "member" for m in team)
    team = client.update_teammates_role([email], TeammateRole.Manager)
    assert any(m.email == email and m.role == "manager" for m in team)
    a = client.add_studio_assignments([email], [PROJECT])
    assert a[email].assigned_projects == [PROJECT]
    assert email in client.list_studio_assignments()
    g = client.create_project_group(PROJECT, [email], "group-1")
    assert g.name == "group-1" and g.numWorkers == 1
    g = client.update_project_group(PROJECT, "group-1", [], [email])
    assert g.numWorkers == 0
    assert [x.name for x in client.list_project_groups(PROJECT)] == ["group-1"]
    a = client.remove_studio_assignments([email], [PROJECT])
    assert email not in a
    assert isinstance(client.list_studio_batches(), list)
    assert isinstance(client.reset_studio_batches_priorities(), list)


@check("a Studio project: staging batch, finalize, priorities, assignment")
def _():
    name = f"studio {RUN}"
    client.create_project(name, TaskType.ImageAnnotation, studio=True)
    b1 = client.create_batch(name, f"{name} b1")
    b2 = client.create_batch(name, f"{name} b2", calibration_batch=True)
    assert b1.status == "staging" and b2.status == "staging"
    batches = client.list_studio_batches()
    mine = [b.name for b in batches if b.project_name == name]
    assert mine == [b1.name, b2.name], mine
    all_pending = [b.name for b in batches]
    reordered = client.set_studio_batches_priorities(list(reversed(all_pending)))
    assert [b.name for b in reordered] == list(reversed(all_pending))
    email = f"studio-{RUN}@example.com"
    client.add_studio_assignments([email], [name])
    client.create_project_group(name, [email], "g")
    sb = client.assign_studio_batches(b1.name, ["g"])
    assert sb.groups == ["g"]
    client.create_task(TaskType.ImageAnnotation, project=name, batch=b1.name, attachment="https://x/1.jpg")
    assert client.finalize_batch(b1.name).status == "in_progress"
    try:
        client.create_task(TaskType.ImageAnnotation, project=name, batch=b1.name, attachment="https://x/2.jpg")
        raise AssertionError("a task was added to a finalized Studio batch")
    except ScaleInvalidRequest:
        pass


@check("task template of a textcollection project; other types refuse")
def _():
    name = f"tc {RUN}"
    client.create_project(name, TaskType.TextCollection, params={"template_variables": {"q": "?"}})
    tpl = client.get_project_template(name)
    assert tpl.template_variables == {"q": "?"} and tpl.version == 0 and not tpl.is_auto_onboardable()
    try:
        client.get_project_template(PROJECT)
        raise AssertionError("template of an imageannotation project")
    except ScaleInvalidRequest:
        pass


@check("evaluation and training tasks")
def _():
    ev = client.create_evaluation_task(
        TaskType.ImageAnnotation, project=PROJECT, attachment="https://x/e.jpg", expected_response={"annotations": []}
    )
    assert ev.id and ev.expected_response == {"annotations": []}
    tr = client.create_training_task(
        TaskType.TextCollection, project=PROJECT, expected_response={"fields": {}}
    )
    assert tr.id and tr.id != ev.id
    try:
        client.create_evaluation_task(TaskType.ImageAnnotation, project=PROJECT)
        raise AssertionError("an evaluation task without expected_response")
    except ScaleInvalidRequest:
        pass


@check("unknown ids are ScaleResourceNotFound")
def _():
    for call in (
        lambda: client.get_task("ffffffffffffffffffffffff"),
        lambda: client.get_batch("no such batch"),
        lambda: client.get_project("no such project"),
        lambda: client.batch_status("no such batch"),
    ):
        try:
            call()
            raise AssertionError("found")
        except ScaleResourceNotFound as e:
            assert e.code == 404


@check("a wrong key is ScaleUnauthorized")
def _():
    bad = scaleapi.ScaleClient("wrong-key", api_instance_url=BASE)
    try:
        bad.get_projects()
        raise AssertionError("accepted")
    except ScaleUnauthorized as e:
        assert e.code == 401


finish("scale-sdk")
