"""COCO metrics through pycocotools' ``COCOeval``: every number is pycocotools' own.

pycocotools is handed the *validated* ground truth, the :class:`~core.types.DatasetIndex` a
reader built, never the raw annotation file: annotations the reader dropped (NaN, negative
width, a bbox of three numbers, an unknown image) are not scored, and images it dropped are not
evaluated. Images keep their COCO ids (so pycocotools breaks score ties in the same order as on
the published file) or get ids 1..N in dataset order; categories are ``category_ids`` or the
dataset labels; an object's area is the one the file states (``ImageRecord.area``, COCO's
segmentation area, which the small/medium/large ranges use), else its box area. VOC
``difficult`` objects become ``iscrowd=1``, COCO's only way of saying "ignore detections on
this object" (note that crowd IoU divides by the detection's area). Boxes are the reader's
(float32, clipped to the image where an annotation overshot it).

A ground truth without any object to count has no COCO metrics (pycocotools would print -1):
:func:`coco_metrics` says so.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.types import DatasetIndex, Detections

COCO_STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


@dataclass(frozen=True)
class COCOMetrics:
    """pycocotools' results.

    Attributes:
        stats: float64 [12], ``COCOeval.stats`` (AP@[.5:.95], AP50, AP75, AP small/medium/large,
            AR1, AR10, AR100, AR small/medium/large); -1 where pycocotools has nothing to average.
        class_names: the dataset's classes.
        ap: float64 [C] by label: AP@[.5:.95] (area all, 100 detections) per class, NaN for
            classes without ground truth (and the background).
        ap50: float64 [C] by label, the same at IoU 0.5.
        summary: pycocotools' printed summary.
    """

    stats: np.ndarray
    class_names: tuple[str, ...]
    ap: np.ndarray
    ap50: np.ndarray
    summary: str

    def as_dict(self) -> dict[str, float]:
        """The twelve summary numbers by name."""
        return {name: float(v) for name, v in zip(COCO_STAT_NAMES, self.stats)}


def _xywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def _category_ids(gt: DatasetIndex) -> list[int]:
    if gt.category_ids is not None:
        return [int(c) for c in gt.category_ids]
    return list(range(len(gt.class_names)))


def _image_ids(gt: DatasetIndex) -> list[int]:
    ids = [r.image_id for r in gt.records]
    if all(isinstance(i, int) and not isinstance(i, bool) for i in ids) and len(set(ids)) == len(ids):
        return [int(i) for i in ids]
    return list(range(1, len(ids) + 1))


def _flags(rec: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(ignored bool [n], area float64 [n]) of one record's objects."""
    diff = np.asarray(rec.difficult, bool).reshape(-1)
    crowd = np.asarray(rec.iscrowd, bool).reshape(-1)
    ignored = np.zeros(n, bool)
    for flag in (diff, crowd):
        if flag.shape[0] == n:
            ignored |= flag
    area = np.asarray(getattr(rec, "area", ()), np.float64).reshape(-1)
    if area.shape[0] != n:
        b = np.asarray(rec.boxes, np.float64).reshape(-1, 4)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return ignored, area


def _in_memory_gt(gt: DatasetIndex) -> tuple[Any, list[int]]:
    """A pycocotools ``COCO`` object of the validated ground truth, and the image ids used."""
    from pycocotools.coco import COCO

    cats = _category_ids(gt)
    image_ids = _image_ids(gt)
    images, anns = [], []
    for image_id, rec in zip(image_ids, gt.records):
        images.append({"id": image_id, "width": int(rec.width), "height": int(rec.height),
                       "file_name": str(rec.file)})
        labels = np.asarray(rec.labels).reshape(-1)
        ignored, area = _flags(rec, labels.shape[0])
        for box, label, ig, a in zip(_xywh(rec.boxes), labels, ignored, area):
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cats[int(label)],
                         "bbox": [float(v) for v in box], "area": float(a), "iscrowd": int(bool(ig))})
    if not any(a["iscrowd"] == 0 for a in anns):
        raise ValueError(f"{gt.source}: the ground truth has no object to evaluate on "
                         f"({len(gt.records)} image(s), {len(anns)} ignored object(s)); nothing to evaluate")
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": cats[l], "name": gt.class_names[l]} for l in range(1, len(cats))]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco, image_ids


def coco_metrics(gt: DatasetIndex, detections: Sequence[Detections]) -> COCOMetrics:
    """Evaluate with pycocotools' COCOeval (bbox) against the validated ground truth.

    Args:
        gt: the dataset (see the module docstring for how it becomes a COCO object).
        detections: one per record of ``gt``, labels already dataset labels; boxes x1, y1, x2, y2.

    Returns:
        :class:`COCOMetrics`.

    Raises:
        ValueError: ``detections`` does not have one entry per record, or the ground truth has
            no object that is not ignored (nothing to evaluate).
    """
    from pycocotools.cocoeval import COCOeval

    if len(detections) != len(gt.records):
        raise ValueError(f"{gt.source}: got detections for {len(detections)} images, the dataset has "
                         f"{len(gt.records)}")
    cats = _category_ids(gt)
    sink = io.StringIO()
    coco_gt, image_ids = _in_memory_gt(gt)

    results = []
    for image_id, det in zip(image_ids, detections):
        boxes = _xywh(det.boxes)
        for box, score, label in zip(boxes, np.asarray(det.scores).reshape(-1), np.asarray(det.labels).reshape(-1)):
            results.append({"image_id": image_id, "category_id": cats[int(label)],
                            "bbox": [float(v) for v in box], "score": float(score)})
    with contextlib.redirect_stdout(sink):
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:  # loadRes cannot take an empty list; an empty result set is still a valid evaluation
            from pycocotools.coco import COCO

            coco_dt = COCO()
            coco_dt.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": [],
                               "categories": list(coco_gt.dataset.get("categories", []))}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        ev.summarize()

    n = len(gt.class_names)
    ap = np.full(n, np.nan)
    ap50 = np.full(n, np.nan)
    precision = ev.eval["precision"]  # [T IoUs, R recalls, K cats, A areas, M maxDets]
    cat_pos = {c: k for k, c in enumerate(ev.params.catIds)}
    for label in range(1, n):
        k = cat_pos.get(cats[label])
        if k is None:
            continue
        p = precision[:, :, k, 0, -1]
        if (p > -1).any():
            ap[label] = float(np.mean(p[p > -1]))
        p50 = p[0]
        if (p50 > -1).any():
            ap50[label] = float(np.mean(p50[p50 > -1]))
    return COCOMetrics(stats=np.asarray(ev.stats, dtype=np.float64), class_names=tuple(gt.class_names),
                       ap=ap, ap50=ap50, summary=summary.getvalue())
