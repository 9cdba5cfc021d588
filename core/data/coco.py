"""COCO reader: an instances JSON -> DatasetIndex.

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
    * not a regular file (a FIFO, a device) or over :data:`~core.data._checks.MAX_TEXT_BYTES`,
      not UTF-8, malformed JSON (names line, column and character offset), missing top-level
      keys or missing fields in an entry, an image or category id that is not an integer or
      appears twice, no images, all records dropped -> ValueError;
    * an image whose width or height is not a positive whole number (null, "wide", NaN) or
      whose file is missing (with ``check_images``) -> the record is dropped with a warning;
    * a bbox that is not four finite numbers, non-positive w/h, a box outside the image, an
      unknown image or category id -> the annotation is dropped with a warning; overshoot
      beyond 1 px is clipped with a warning.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from core.config import BACKGROUND
from core.data._checks import check_box, read_json_file
from core.types import DatasetIndex, ImageRecord

_REQUIRED_KEYS = ("images", "annotations", "categories")


def read_coco_json(annotation_json: str | Path) -> dict:
    """Parse a COCO JSON file, with errors that name the file and the position."""
    path = Path(annotation_json)
    data = read_json_file(path, "COCO annotation file")
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


def _size_of(img: dict, key: str) -> int | None:
    """A positive integer image side, or None when the value is not one (caller warns)."""
    v = img[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v) or v <= 0:
        return None
    return int(v)


def _bbox_of(ann: dict) -> tuple[float, float, float, float] | str:
    """The four finite numbers of ``ann["bbox"]``, or the reason they are not."""
    bbox = ann["bbox"]
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return f"bbox must be [x, y, w, h], got {bbox!r:.80}"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
        return f"bbox must hold four numbers, got {bbox!r:.80}"
    x, y, bw, bh = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, bw, bh)):
        return f"non-finite bbox {bbox!r:.80}"
    if not (bw > 0 and bh > 0):
        return f"non-positive bbox size w={bw:g} h={bh:g}"
    return x, y, bw, bh


def _area_of(ann: dict, bw: float, bh: float) -> float:
    """The stated ``area`` when it is a positive number, else the box area (what pycocotools would need)."""
    a = ann.get("area")
    if isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) and a > 0:
        return float(a)
    return bw * bh


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_entries(data: dict, path: Path) -> None:
    """Required fields present; image and category ids unique integers (a repeated image id
    would give one image's boxes to another)."""
    for key in _REQUIRED_KEYS:
        if not isinstance(data[key], list):
            raise ValueError(f"{path}: {key!r} must be a list, got {type(data[key]).__name__}")
    for section, fields in (("categories", ("id", "name")), ("images", ("id", "width", "height", "file_name"))):
        seen: dict[int, int] = {}
        for i, entry in enumerate(data[section]):
            for key in fields:
                _field(entry, key, f"{section}[{i}]", path)
            ident = entry["id"]
            if not _is_int(ident):
                raise ValueError(f"{path}: {section}[{i}].id must be an integer, got {ident!r:.40}")
            if ident in seen:
                raise ValueError(f"{path}: {section}[{seen[ident]}] and {section}[{i}] have the same id {ident}; "
                                 f"ids must be unique")
            seen[ident] = i
    for i, ann in enumerate(data["annotations"]):
        for key in ("image_id", "category_id", "bbox"):
            _field(ann, key, f"annotations[{i}]", path)
    if not data["images"]:
        raise ValueError(f"{path}: 'images' is empty")
    if not data["categories"]:
        raise ValueError(f"{path}: 'categories' is empty")


def _objects(anns: list[dict], img_id: int, w: int, h: int, cat_to_label: dict[int, int], path: Path,
             warnings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The valid objects of one image: (boxes float32 [N, 4] x1y1x2y2, labels int64 [N],
    iscrowd bool [N], area float64 [N]); each dropped or clipped one is a warning."""
    boxes, labels, crowd, area = [], [], [], []
    for ann in anns:
        where = f"{path}: annotation {ann.get('id', '?')} (image {img_id})"
        cat = ann["category_id"]
        if not _is_int(cat) or cat not in cat_to_label:
            warnings.append(f"{where}: unknown category_id {cat!r:.40}; dropped")
            continue
        bbox = _bbox_of(ann)
        if isinstance(bbox, str):
            warnings.append(f"{where}: {bbox}; dropped")
            continue
        x, y, bw, bh = bbox
        box, problem = check_box(x, y, x + bw, y + bh, w, h)
        if problem:
            warnings.append(f"{where}: {problem}" + ("" if box else "; dropped"))
        if box is None:
            continue
        boxes.append(box)
        labels.append(cat_to_label[cat])
        crowd.append(bool(ann.get("iscrowd", 0)))
        area.append(_area_of(ann, bw, bh))
    return (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64),
            np.asarray(crowd, bool), np.asarray(area, np.float64))


def load_coco(annotation_json: str | Path, image_dir: str | Path | None = None, *,
              check_images: bool = True) -> DatasetIndex:
    """Read a COCO instances file into a :class:`DatasetIndex`.

    Args:
        annotation_json: e.g. ``instances_val2017.json``.
        image_dir: folder of the images; default see module docstring.
        check_images: drop (with a warning) records whose image file is missing; pass False to
            evaluate against annotations alone.

    Returns:
        One record per entry of ``images`` in file order (images without annotations are
        kept); ``image_id`` is the int COCO id; boxes float32 [N, 4] x1y1x2y2 pixels; ``area``
        the annotations' own (float64 [N]).

    Raises:
        ValueError: see module docstring.
    """
    path = Path(annotation_json)
    data = read_coco_json(path)
    if image_dir is None:
        image_dir = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    image_dir = Path(image_dir)
    _check_entries(data, path)

    cats = {int(c["id"]): str(c["name"]) for c in data["categories"]}
    cat_ids = sorted(cats)
    cat_to_label = {c: i + 1 for i, c in enumerate(cat_ids)}
    class_names = (BACKGROUND, *(cats[c] for c in cat_ids))
    warnings: list[str] = []
    by_image: dict[int, list[dict]] = {int(img["id"]): [] for img in data["images"]}
    for ann in data["annotations"]:
        img_id = ann["image_id"]
        if not _is_int(img_id) or img_id not in by_image:
            warnings.append(f"{path}: annotation {ann.get('id', '?')} refers to unknown image id "
                            f"{img_id!r:.40}; dropped")
            continue
        by_image[img_id].append(ann)

    records: list[ImageRecord] = []
    for i, img in enumerate(data["images"]):
        img_id = int(img["id"])
        w, h = _size_of(img, "width"), _size_of(img, "height")
        if w is None or h is None:
            bad = "width" if w is None else "height"
            warnings.append(f"{path}: images[{i}] (id {img_id}): {bad} must be a positive whole number of "
                            f"pixels, got {img[bad]!r:.40}; image dropped")
            continue
        file = image_dir / str(img["file_name"])
        if check_images and not file.is_file():
            warnings.append(f"{path}: image {img_id} file {file} not found; record dropped")
            continue
        boxes, labels, crowd, area = _objects(by_image[img_id], img_id, w, h, cat_to_label, path, warnings)
        records.append(ImageRecord(image_id=img_id, file=file, width=w, height=h, boxes=boxes, labels=labels,
                                   difficult=np.zeros(len(labels), bool), iscrowd=crowd, area=area))
    if not records:
        raise ValueError(f"{path}: no usable image ({len(warnings)} problems, first: "
                         f"{warnings[0] if warnings else 'none'})")
    return DatasetIndex(name=path.stem, source=str(path), class_names=class_names, records=records,
                        warnings=warnings, category_ids=(0, *cat_ids))
