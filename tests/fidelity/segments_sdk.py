#!/usr/bin/env python3
"""Fidelity check: drive the labelmux Segments.ai emulator with Segments' OFFICIAL Python SDK
(segments-ai 1.33.0).

Usage: segments_sdk.py [BASE_URL [API_KEY [DATASET]]]
  or env LABELMUX_EMULATOR_URL (e.g. http://127.0.0.1:PORT), LABELMUX_EMULATOR_KEY,
  LABELMUX_EMULATOR_PROJECT (a seeded dataset `owner/name`, default labelmux/demo).

The SDK takes the emulator as `SegmentsClient(api_key=KEY, api_url=BASE)`: no patching. The
workforce is driven through the emulator's control API (`/_emulator/advance`). The release is
read with the SDK's own loader (`SegmentsDataset`), which downloads every sample image from
the emulator's storage. Prints `segments-sdk fidelity: N passed, M failed` last; exits non-zero
on any failure.
"""

import io
import os
import sys
import tempfile
import time

import requests
from PIL import Image

from segments import SegmentsClient, SegmentsDataset
from segments.utils import load_release
from segments.exceptions import (
    AlreadyExistsError,
    APILimitError,
    AuthenticationError,
    AuthorizationError,
    CollaboratorError,
    NetworkError,
    NotFoundError,
)

from fidelity_runner import check, finish

BASE = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LABELMUX_EMULATOR_URL", "")).rstrip("/")
KEY = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("LABELMUX_EMULATOR_KEY", "emulator-key")
SEEDED = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("LABELMUX_EMULATOR_PROJECT", "labelmux/demo")
if not BASE:
    sys.exit("usage: segments_sdk.py BASE_URL [API_KEY [DATASET]] (or LABELMUX_EMULATOR_URL)")

N = 800
NAME = "fidelity-flowers"
CATEGORIES = [{"name": "rose", "id": 1}, {"name": "tulip", "id": 2}]

client = SegmentsClient(api_key=KEY, api_url=BASE + "/")
ME = client.get_user().username
DS = f"{ME}/{NAME}"
STATE = {}


def control(op, **params):
    r = requests.request("GET" if op == "state" else "POST", f"{BASE}/_emulator/{op}", params=params, timeout=60)
    assert r.status_code == 200, (op, r.status_code, r.text)
    return r.json()


def faults(**cfg):
    r = requests.put(f"{BASE}/_emulator/faults", json=cfg, timeout=60)
    assert r.status_code == 200, r.text


def raises(exc, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as e:
        return e
    raise AssertionError(f"{fn.__name__} did not raise {exc.__name__}")


def all_samples(per_page=100, **kwargs):
    """Page through get_samples until a short page or the "Invalid page" NotFoundError."""
    out, page = [], 1
    while True:
        try:
            batch = client.get_samples(DS, per_page=per_page, page=page, **kwargs)
        except NotFoundError:
            break
        out.extend(batch)
        if len(batch) < per_page:
            break
        page += 1
    return out


# --- checks -------------------------------------------------------------------------------------


@check("constructor version check; get_user; the seeded dataset")
def _():
    me = client.get_user()
    assert me.username == ME and not me.is_organization, me
    assert any(o.username for o in me.organizations or []), me
    ds = client.get_dataset(SEEDED)
    assert ds.full_name == SEEDED and ds.role == "admin", ds
    assert [c.name for c in ds.task_attributes.categories], ds.task_attributes


@check("add_dataset (vector, categories) and get_datasets")
def _():
    ds = client.add_dataset(
        NAME,
        description="fidelity run",
        task_type="vector",
        task_attributes={"format_version": "0.1", "categories": CATEGORIES},
        category="garden",
        enable_confirm_on_commit=True,
    )
    assert ds.full_name == DS and ds.owner.username == ME, ds
    assert ds.enable_confirm_on_submit is True and ds.enable_extrapolation is False, ds
    assert [l.name for l in ds.labelsets] == ["ground-truth"] and ds.labelsets[0].is_groundtruth
    assert ds.label_stats.TOTAL == 0
    names = [d.full_name for d in client.get_datasets()]
    assert DS in names and SEEDED in names, names
    upd = client.update_dataset(DS, description="updated", metadata={"team": "fidelity"})
    assert upd.description == "updated" and upd.metadata == {"team": "fidelity"}, upd


@check("upload_asset: presigned POST to the emulator's storage, served without a key")
def _():
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 60)).save(buf, format="PNG")
    buf.seek(0)
    f = client.upload_asset(buf, "flower.png")
    assert f.url.startswith(BASE + "/") and f.filename == "flower.png", f
    r = requests.get(f.url, timeout=60)
    assert r.status_code == 200 and r.content == buf.getvalue()
    STATE["image_url"] = f.url


@check(f"add_samples: {N} in bulk (gzip); a repeated name comes back unchanged")
def _():
    samples = [
        {
            "name": f"flower-{i:04d}.png",
            "attributes": {"image": {"url": STATE["image_url"]}},
            "metadata": {"field": "north" if i % 2 else "south", "row": i % 10},
            "priority": i % 5,
        }
        for i in range(N)
    ]
    created = client.add_samples(DS, samples)
    assert len(created) == N and [s.name for s in created] == [s["name"] for s in samples]
    assert all(s.dataset_full_name == DS and s.created_by == ME for s in created)
    STATE["uuids"] = [s.uuid for s in created]
    again = client.add_samples(
        DS, [{"name": "flower-0007.png", "attributes": {"image": {"url": "https://elsewhere.example/x.png"}}}]
    )
    assert len(again) == 1 and again[0].uuid == created[7].uuid, again
    assert again[0].attributes.image.url == STATE["image_url"], "existing sample must stay unchanged"
    assert client.get_dataset(DS).samples_count == N


@check("add_sample / duplicate name -> AlreadyExistsError")
def _():
    s = client.add_sample(DS, "extra.png", {"image": {"url": STATE["image_url"]}}, metadata={"field": "east"})
    STATE["extra"] = s.uuid
    raises(AlreadyExistsError, client.add_sample, DS, "extra.png", {"image": {"url": STATE["image_url"]}})
    s2 = client.update_sample(s.uuid, metadata={"field": "west"}, priority=9)
    assert s2.metadata == {"field": "west"} and s2.priority == 9, s2


@check(f"get_samples: paging through {N + 1} samples (per_page=100), then Invalid page")
def _():
    got = all_samples(per_page=100)
    assert len(got) == N + 1, len(got)
    assert [s.name for s in got] == sorted(s.name for s in got)
    assert len({s.uuid for s in got}) == N + 1
    raises(NotFoundError, client.get_samples, DS, per_page=100, page=10)


@check("get_samples: name, metadata, label_status filters and sorting")
def _():
    assert len(client.get_samples(DS, name="flower-00")) == 100
    north = all_samples(metadata=["field:north"])
    assert len(north) == N // 2, len(north)
    row3 = all_samples(metadata=["field:south", "row:4"])
    assert len(row3) == N // 10 and all(s.metadata["row"] == 4 for s in row3)
    assert len(all_samples(label_status=["UNLABELED"])) == N + 1
    assert all_samples(label_status=["REVIEWED", "LABELED"]) == []
    top = client.get_samples(DS, sort="priority", direction="desc", per_page=1)
    assert top[0].name == "extra.png", top
    newest = client.get_samples(DS, sort="created_at", direction="desc", per_page=1)
    assert newest[0].name == "extra.png", newest


@check("lifecycle via the control API: every sample labeled, then reviewed")
def _():
    deadline = time.time() + 120
    while True:
        stats = client.get_dataset(DS).label_stats
        if stats.REVIEWED == N + 1:
            break
        assert time.time() < deadline, stats
        control("advance", project=DS)
    reviewed = all_samples(label_status=["REVIEWED"], labelset="ground-truth")
    assert len(reviewed) == N + 1
    assert all(s.label.label_status == "REVIEWED" and s.label.reviewed_by for s in reviewed)
    wus = client.get_workunits(DS, per_page=1000)
    assert len(wus) == 1000 and {w.work_type for w in wus} <= {"label", "review"}, len(wus)
    assert wus[0].created_at >= wus[-1].created_at


@check("get_label / update_label / add_label (PUT) on the reviewed labels")
def _():
    uuid = STATE["uuids"][0]
    label = client.get_label(uuid, "ground-truth")
    assert label.label_status == "REVIEWED" and label.label_type == "vector", label
    anns = label.attributes.annotations
    assert {a.category_id for a in anns} <= {c["id"] for c in CATEGORIES} and anns, anns
    assert {a.type for a in anns} <= {"bbox", "polygon"}
    updated = client.update_label(uuid, "ground-truth", score=0.75)
    assert updated.score == 0.75 and updated.label_status == "REVIEWED", updated
    attrs = {
        "format_version": "0.1",
        "annotations": [{"id": 1, "category_id": 2, "type": "bbox", "points": [[1, 2], [30, 40]]}],
    }
    replaced = client.add_label(uuid, "ground-truth", attrs, label_status="LABELED")
    assert replaced.attributes.annotations[0].points == [[1.0, 2.0], [30.0, 40.0]], replaced
    assert replaced.score is None and replaced.created_at == label.created_at
    s = client.get_sample(uuid, labelset="ground-truth")
    assert s.label.label_status == "LABELED"
    # a second labelset holds model predictions
    client.add_labelset(DS, "predictions")
    raises(AlreadyExistsError, client.add_labelset, DS, "predictions")
    client.add_label(STATE["uuids"][1], "predictions", attrs, score=0.9)
    assert [l.name for l in client.get_labelsets(DS)] == ["ground-truth", "predictions"]


@check("reject one label (update_label REJECTED + issue); the workforce labels it again")
def _():
    uuid = STATE["uuids"][2]
    rejected = client.update_label(uuid, "ground-truth", label_status="REJECTED")
    assert rejected.label_status == "REJECTED"
    issue = client.add_issue(uuid, "The tulip is not boxed.")
    assert issue.status == "OPEN" and issue.sample_name == "flower-0002.png", issue
    assert [i.uuid for i in client.get_issues(DS)] == [issue.uuid]
    closed = client.update_issue(issue.uuid, status="CLOSED")
    assert closed.status == "CLOSED"
    assert [s.uuid for s in client.get_samples(DS, label_status="REJECTED")] == [uuid]
    control("advance", project=DS)
    again = client.get_label(uuid, "ground-truth")
    assert again.label_status == "LABELED" and again.updated_by != ME, again
    control("advance", project=DS)
    assert client.get_label(uuid, "ground-truth").label_status == "REVIEWED"
    client.delete_issue(issue.uuid)
    assert client.get_issues(DS) == []


@check("add_release -> PENDING -> SUCCEEDED; SegmentsDataset reads it and loads every image")
def _():
    rel = client.add_release(DS, "v1.0", description="fidelity")
    assert rel.status == "PENDING" and rel.attributes.url is None, rel
    raises(AlreadyExistsError, client.add_release, DS, "v1.0")
    deadline = time.time() + 60
    while rel.status != "SUCCEEDED":
        assert rel.status == "PENDING" and time.time() < deadline, rel
        time.sleep(0.1)
        rel = client.get_release(DS, "v1.0")
    assert rel.samples_count == N + 1 and rel.attributes.url.startswith(BASE + "/"), rel
    assert [r.name for r in client.get_releases(DS)] == ["v1.0"]
    with tempfile.TemporaryDirectory() as tmp:
        dataset = SegmentsDataset(rel, labelset="ground-truth", filter_by=["REVIEWED", "LABELED"], segments_dir=tmp)
        assert len(dataset) == N + 1, len(dataset)
        assert [c.name for c in dataset.categories] == ["rose", "tulip"]
        item = dataset[0]
        assert item["name"] == "extra.png" or item["name"].startswith("flower-"), item["name"]
        assert item["image"].size == (64, 48), item["image"]
        assert item["annotations"], item
        preds = SegmentsDataset(rel, labelset="predictions", filter_by="PRELABELED", segments_dir=None, load_images=False)
        assert len(preds) == 1 and preds[0]["uuid"] == STATE["uuids"][1], len(preds)
        meta = SegmentsDataset(rel, filter_by_metadata={"field": "north"}, segments_dir=None, load_images=False)
        assert len(meta) == N // 2


@check("load_release: the raw release file holds every labelset key of every sample")
def _():
    rel = client.get_release(DS, "v1.0")
    data = load_release(rel)
    assert data["name"] == "v1.0" and data["dataset"]["owner"] == ME and data["dataset"]["name"] == NAME
    assert [l["name"] for l in data["dataset"]["labelsets"]] == ["ground-truth", "predictions"]
    samples = data["dataset"]["samples"]
    assert len(samples) == N + 1
    assert all(set(s["labels"]) == {"ground-truth", "predictions"} for s in samples)
    assert sum(s["labels"]["predictions"] is not None for s in samples) == 1


@check("segmentation-bitmap dataset: lifecycle labels carry a bitmap the SDK decodes")
def _():
    name = NAME + "-seg"
    client.add_dataset(name, task_type="segmentation-bitmap",
                       task_attributes={"format_version": "0.1", "categories": CATEGORIES})
    full = f"{ME}/{name}"
    client.add_samples(full, [{"name": f"s{i}.png", "attributes": {"image": {"url": STATE["image_url"]}}}
                              for i in range(3)])
    control("advance", project=full)
    rel = client.add_release(full, "v1")
    while rel.status != "SUCCEEDED":
        time.sleep(0.1)
        rel = client.get_release(full, "v1")
    # No cache directory: the SDK's bitmap cache writes a uint32 PNG, which Pillow >= 10 refuses.
    dataset = SegmentsDataset(rel, filter_by="LABELED", segments_dir=None)
    assert len(dataset) == 3
    item = dataset[0]
    assert item["annotations"] == [{"id": 1, "category_id": 1}], item["annotations"]
    assert item["image"].size == (64, 48)
    bitmap = item["segmentation_bitmap"]
    assert bitmap.shape == (2, 2) and int(bitmap.min()) == int(bitmap.max()) == 1, bitmap
    client.delete_dataset(full)


@check("every task type: lifecycle labels validate against the SDK's label models")
def _():
    img = {"image": {"url": STATE["image_url"]}}
    pcd = {"pcd": {"url": "https://example.com/cloud.pcd", "type": "pcd"}}
    shapes = {
        "bboxes": img,
        "keypoints": img,
        "segmentation-bitmap-highres": img,
        "image-vector-sequence": {"frames": [img, img]},
        "image-segmentation-sequence": {"frames": [img, img]},
        "pointcloud-cuboid": pcd,
        "pointcloud-vector": pcd,
        "pointcloud-segmentation": pcd,
        "pointcloud-cuboid-sequence": {"frames": [pcd, pcd]},
        "pointcloud-vector-sequence": {"frames": [pcd, pcd]},
        "pointcloud-segmentation-sequence": {"frames": [pcd, pcd]},
        "multisensor-sequence": {"sensors": [
            {"name": "Lidar", "task_type": "pointcloud-cuboid-sequence", "attributes": {"frames": [pcd, pcd]}},
            {"name": "Camera", "task_type": "image-vector-sequence", "attributes": {"frames": [img, img]}},
        ]},
    }
    for task_type, attributes in shapes.items():
        name = f"{NAME}-{task_type}"
        client.add_dataset(name, task_type=task_type,
                           task_attributes={"format_version": "0.1", "categories": CATEGORIES})
        full = f"{ME}/{name}"
        [sample] = client.add_samples(full, [{"name": "one", "attributes": attributes}])
        control("advance", project=full)
        label = client.get_label(sample.uuid, "ground-truth")  # strict model validation
        assert label.label_type == task_type and label.label_status == "LABELED", (task_type, label)
        assert label.attributes is not None, task_type
        frames = getattr(label.attributes, "frames", None)
        if frames is not None:
            assert len(frames) == 2, (task_type, frames)
        client.delete_dataset(full)


@check("resource API: Dataset / Sample / Label / Issue objects")
def _():
    ds = client.get_dataset(DS)
    [s] = ds.get_samples(name="flower-0010", labelset="ground-truth", include_full_label=True)
    assert s.label.label_status == "REVIEWED" and s.label.attributes.annotations, s.label
    assert s.dataset.full_name == DS
    moved = s.update(priority=3, assigned_reviewer="other-user")
    assert moved.priority == 3 and moved.assigned_reviewer == "other-user", moved
    label = s.get_label()
    relabeled = label.update(label_status="REJECTED")
    assert relabeled.label_status == "REJECTED", relabeled
    pred = s.add_label("predictions", {"format_version": "0.1", "annotations": []}, score=0.1)
    assert pred.labelset == "predictions" and pred.label_status == "PRELABELED", pred
    pred.delete()
    raises(NotFoundError, s.get_label, "predictions")
    issue = s.add_issue("Check the stem.")
    assert [i.uuid for i in ds.get_issues()] == [issue.uuid]
    issue.delete()
    assert [r.name for r in ds.get_releases()] == ["v1.0"]
    assert ds.get_labelset("predictions").name == "predictions"
    assert ds.get_workunits(per_page=5)
    control("advance", project=DS)
    control("advance", project=DS)
    assert s.get_label().label_status == "REVIEWED"


@check("delete_samples (bulk) and delete_sample")
def _():
    res = client.delete_samples(DS, STATE["uuids"][:100] + ["602a3eec-a61c-4a77-9fcc-3037ce5e9606"])
    assert res.deleted_count == 100, res
    client.delete_sample(STATE["extra"])
    raises(NotFoundError, client.get_sample, STATE["extra"])
    assert client.get_dataset(DS).samples_count == N - 100
    raises(NotFoundError, client.delete_samples, "nobody/nothing", ["x"])


@check("collaborators and clone")
def _():
    c = client.add_dataset_collaborator(DS, "other-user", role="reviewer")
    assert c.user.username == "other-user" and c.role == "reviewer", c
    raises(CollaboratorError, client.add_dataset_collaborator, DS, "other-user")
    assert client.update_dataset_collaborator(DS, "other-user", "manager").role == "manager"
    client.delete_dataset_collaborator(DS, "other-user")
    raises(NotFoundError, client.get_dataset_collaborator, DS, "other-user")
    clone = client.clone_dataset(DS, new_name=NAME + "-copy", clone_labels=True)
    assert clone.cloned_from == DS and clone.samples_count == N - 100, clone
    assert client.get_dataset(clone.full_name).label_stats.REVIEWED == N - 100
    client.delete_dataset(clone.full_name)
    raises(NotFoundError, client.get_dataset, clone.full_name)


@check("exceptions: bad key, unknown / invisible / malformed dataset, duplicate name, forbidden")
def _():
    raises(AuthenticationError, SegmentsClient, api_key="not-the-key", api_url=BASE)
    raises(NotFoundError, client.get_dataset, f"{ME}/no-such-dataset")
    raises(NotFoundError, client.get_dataset, "other-user/private-dataset")
    raises(NotFoundError, client.get_dataset, "abcde")
    raises(NotFoundError, client.get_sample, "12345")
    raises(NotFoundError, client.update_issue, "12345", description="x")
    raises(NetworkError, client.add_release, "abcde", "r")
    raises(AlreadyExistsError, client.add_dataset, NAME, task_type="vector")
    e = raises(AuthorizationError, client.delete_dataset, "other-user/shared-dataset")
    assert "do not have permission" in str(e)
    assert client.get_dataset("other-user/shared-dataset").role == "labeler"


@check("throttling: 429 + Retry-After retried on GET; 2xx throttle notice -> APILimitError")
def _():
    before = control("state")["requests"]
    faults(burst_429=2, retry_after_secs=0)
    assert client.get_user().username == ME  # urllib3 honours Retry-After on GET
    assert control("state")["requests"] - before == 3
    faults(burst_429=1, retry_after_secs=0)
    e = raises(NetworkError, client.add_labelset, DS, "never")  # POST is not retried
    assert "throttled" in str(e)
    faults(burst_429=3, retry_after_secs=0)
    SegmentsClient(api_key=KEY, api_url=BASE)  # the version check rides out 3 throttles
    faults(soft_throttle_rate=1.0, retry_after_secs=1)
    raises(APILimitError, SegmentsClient, api_key=KEY, api_url=BASE)
    raises(APILimitError, client.get_user)
    faults()
    assert client.get_user().username == ME


@check("delete_dataset")
def _():
    client.delete_dataset(DS)
    raises(NotFoundError, client.get_dataset, DS)


finish("segments-sdk")
