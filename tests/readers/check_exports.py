"""Check labelmux's label exports with independent, widely used readers.

    python tests/readers/check_exports.py OUT_DIR REPORT.json

OUT_DIR is what `cargo run --example export_coco -- OUT_DIR` wrote, REPORT.json what it printed.

- COCO: `pycocotools.coco.COCO` loads OUT_DIR/coco.json; its image, annotation and category
  counts must equal the export report's, and every box must lie inside its image when the size
  is known.
- YOLO (when exported): `globox` (a light, widely used annotation converter) reads
  OUT_DIR/yolo/labels with images of the sizes in images.csv; its box count must equal the
  report's, and each box, back in pixels, must equal the COCO box of the same task and class.
"""

import csv
import json
import struct
import sys
import tempfile
import zlib
from pathlib import Path


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check_coco(out, report):
    from pycocotools.coco import COCO

    coco = COCO(str(out / "coco.json"))
    want = report["coco"]
    got = (len(coco.getImgIds()), len(coco.getAnnIds()), len(coco.getCatIds()))
    exp = (want["deliveries"], want["annotations"], want["categories"])
    if got != exp:
        fail(f"pycocotools counts (images, annotations, categories) {got} != report {exp}")
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.imgs[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        if "width" in img and (x < 0 or y < 0 or x + w > img["width"] or y + h > img["height"]):
            fail(f"annotation {ann['id']} box {ann['bbox']} outside image {img['id']}")
        if ann["category_id"] not in coco.cats:
            fail(f"annotation {ann['id']} has unknown category {ann['category_id']}")
    print(f"pycocotools: {got[0]} images, {got[1]} annotations, {got[2]} categories: OK")
    return coco


def png(path, width, height):
    """A blank grayscale PNG of the given size (so the loader reads real image sizes)."""
    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def yolo_names(data_yaml):
    names = {}
    in_names = False
    for line in data_yaml.read_text().splitlines():
        if line.startswith("names:"):
            in_names = True
        elif in_names and line.startswith("  "):
            key, value = line.strip().split(": ", 1)
            names[key] = json.loads(value)
    return names


def check_yolo(out, report, coco):
    from globox import AnnotationSet

    yolo = out / "yolo"
    want = report["yolo"]
    names = yolo_names(yolo / "data.yaml")
    if len(names) != want["categories"]:
        fail(f"data.yaml has {len(names)} names, report says {want['categories']}")
    with tempfile.TemporaryDirectory() as images:
        rows = list(csv.DictReader((yolo / "images.csv").open()))
        for row in rows:
            png(Path(images) / f"{row['stem']}.png", int(float(row["width"])), int(float(row["height"])))
        dataset = AnnotationSet.from_yolo_v5(yolo / "labels", image_folder=images, image_extension=".png")
    boxes = [(a.image_id, b) for a in dataset for b in a.boxes]
    if len(boxes) != want["annotations"]:
        fail(f"globox read {len(boxes)} YOLO boxes, report says {want['annotations']}")
    task_of = {row["stem"]: row["task_id"] for row in rows}
    image_of = {img["labelmux_task_id"]: img["id"] for img in coco.imgs.values()}
    for image_id, box in boxes:
        stem = Path(image_id).stem
        name = names[str(box.label)]
        coco_boxes = [a["bbox"] for a in coco.imgToAnns[image_of[task_of[stem]]]
                      if coco.cats[a["category_id"]]["name"] == name]
        xmin, ymin, xmax, ymax = box.ltrb
        if not any(abs(xmin - x) < 0.01 and abs(ymin - y) < 0.01 and abs(xmax - x - w) < 0.01
                   and abs(ymax - y - h) < 0.01 for x, y, w, h in coco_boxes):
            fail(f"YOLO box {box.ltrb} of {stem} ({name}) matches no COCO box {coco_boxes}")
    print(f"globox: {len(dataset)} images, {len(boxes)} boxes, equal to the COCO boxes: OK")


def main():
    out, report = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    coco = check_coco(out, report)
    if report.get("yolo"):
        check_yolo(out, report, coco)
    else:
        print(f"YOLO not exported: {report.get('yolo_refused')}")


if __name__ == "__main__":
    main()
