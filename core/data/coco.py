"""COCO reader: an instances JSON (through pycocotools) -> DatasetIndex.

Labels: category ids, sorted ascending, map to contiguous labels 1..K;
``DatasetIndex.category_ids[l]`` maps label l back to its category id (entry 0 is 0).
``class_names = ("__background__", *category names)`` in the same order.

Boxes: COCO ``bbox = [x, y, w, h]`` in continuous pixels -> ``(x, y, x + w, y + h)``.
``iscrowd`` objects are kept with their flag (the evaluation ignores them, the training
loader drops them).

Images: ``image_dir`` defaults to ``<json folder>/images`` when that folder exists (the layout
:func:`core.data.synthetic.write_dataset` writes), else the JSON's own folder. An image's file
is ``image_dir / file_name``.

Bad input policy (each warning names the JSON file and lands in ``DatasetIndex.warnings``):
    * malformed JSON (names line, column and character offset), missing top-level keys or
      missing fields in an entry, no images, all records dropped -> ValueError;
    * image file missing (with ``check_images``) -> the record is dropped with a warning;
    * non-positive w/h, box outside the image, unknown image or category id -> the
      annotation is dropped with a warning; overshoot beyond 1 px is clipped with a warning.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from core.config import BACKGROUND
from core.data._checks import check_box
from core.types import DatasetIndex, ImageRecord

_REQUIRED_KEYS = ("images", "annotations", "categories")


def read_coco_json(annotation_json: str | Path) -> dict:
    """Parse a COCO JSON file, with errors that name the file and the position."""
    path = Path(annotation_json)
    if not path.is_file():
        raise ValueError(f"{path}: COCO annotation file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno} "
                         f"(char {exc.pos}): {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level is a {type(data).__name__}, expected an object with "
                         f"keys {_REQUIRED_KEYS}")
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing} (a COCO instances file needs {_REQUIRED_KEYS})")
    return data


def _field(entry: dict, key: str, what: str, path: Path) -> object:
    if not isinstance(entry, dict) or key not in entry:
        raise ValueError(f"{path}: {what} lacks {key!r}: {str(entry)[:120]}")
    return entry[key]


def load_coco(annotation_json: str | Path, image_dir: str | Path | None = None, *,
              check_images: bool = True) -> DatasetIndex:
    """Read a COCO instances file into a :class:`DatasetIndex`.

    Args:
        annotation_json: e.g. ``instances_val2017.json``.
        image_dir: folder of the images; default see module docstring.
        check_images: drop (with a warning) records whose image file is missing; pass False
            to evaluate against annotations alone.

    Returns:
        One record per entry of ``images`` in file order (images without annotations are
        kept); ``image_id`` is the int COCO id; boxes float32 [N, 4] x1y1x2y2 pixels.

    Raises:
        ValueError: see module docstring.
    """
    path = Path(annotation_json)
    data = read_coco_json(path)
    if image_dir is None:
        image_dir = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    image_dir = Path(image_dir)

    for i, cat in enumerate(data["categories"]):
        _field(cat, "id", f"categories[{i}]", path)
        _field(cat, "name", f"categories[{i}]", path)
    for i, img in enumerate(data["images"]):
        for key in ("id", "width", "height", "file_name"):
            _field(img, key, f"images[{i}]", path)
    for i, ann in enumerate(data["annotations"]):
        for key in ("image_id", "category_id", "bbox"):
            _field(ann, key, f"annotations[{i}]", path)
    if not data["images"]:
        raise ValueError(f"{path}: 'images' is empty")
    if not data["categories"]:
        raise ValueError(f"{path}: 'categories' is empty")

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco.createIndex()

    cat_ids = sorted(coco.getCatIds())
    cat_to_label = {c: i + 1 for i, c in enumerate(cat_ids)}
    class_names = (BACKGROUND, *(str(coco.cats[c]["name"]) for c in cat_ids))
    warnings: list[str] = []

    known_images = set(coco.imgs)
    for ann in data["annotations"]:
        if ann["image_id"] not in known_images:
            warnings.append(f"{path}: annotation {ann.get('id', '?')} refers to unknown image id "
                            f"{ann['image_id']}; dropped")

    records: list[ImageRecord] = []
    for img in data["images"]:
        img_id = int(img["id"])
        w, h = int(img["width"]), int(img["height"])
        file = image_dir / str(img["file_name"])
        if w <= 0 or h <= 0:
            warnings.append(f"{path}: image {img_id} has non-positive size {w}x{h}; dropped")
            continue
        if check_images and not file.is_file():
            warnings.append(f"{path}: image {img_id} file {file} not found; record dropped")
            continue
        boxes, labels, crowd = [], [], []
        for ann in coco.imgToAnns.get(img["id"], []):
            where = f"{path}: annotation {ann.get('id', '?')} (image {img_id})"
            if ann["category_id"] not in cat_to_label:
                warnings.append(f"{where}: unknown category id {ann['category_id']}; dropped")
                continue
            bbox = ann["bbox"]
            if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
                warnings.append(f"{where}: bbox must be [x, y, w, h], got {bbox!r}; dropped")
                continue
            x, y, bw, bh = (float(v) for v in bbox)
            if not (bw > 0 and bh > 0):
                warnings.append(f"{where}: non-positive bbox size w={bw:g} h={bh:g}; dropped")
                continue
            box, problem = check_box(x, y, x + bw, y + bh, w, h)
            if problem:
                warnings.append(f"{where}: {problem}" + ("" if box else "; dropped"))
            if box is None:
                continue
            boxes.append(box)
            labels.append(cat_to_label[ann["category_id"]])
            crowd.append(bool(ann.get("iscrowd", 0)))
        records.append(ImageRecord(image_id=img_id, file=file, width=w, height=h,
                                   boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                                   labels=np.asarray(labels, np.int64),
                                   difficult=np.zeros(len(labels), bool),
                                   iscrowd=np.asarray(crowd, bool)))
    if not records:
        raise ValueError(f"{path}: no usable image ({len(warnings)} problems, first: "
                         f"{warnings[0] if warnings else 'none'})")
    return DatasetIndex(name=path.stem, source=str(path), class_names=class_names, records=records,
                        warnings=warnings, category_ids=(0, *cat_ids))
