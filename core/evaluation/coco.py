"""COCO metrics through pycocotools' ``COCOeval``: every number is pycocotools' own.

When the ground truth was read from a COCO annotation JSON, pycocotools reads that same file
(so crowd regions, areas and images are exactly as published). Otherwise an in-memory COCO
object is built from the :class:`~core.types.DatasetIndex`: images get ids 1..N in dataset
order, categories are the dataset labels (or ``category_ids``), the area is the box area,
and VOC ``difficult`` objects become ``iscrowd=1`` — COCO's only way of saying "ignore
detections on this object" (note that crowd IoU divides by the detection's area).
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
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


def _in_memory_gt(gt: DatasetIndex) -> tuple[Any, list[Any]]:
    from pycocotools.coco import COCO

    cats = _category_ids(gt)
    images, anns = [], []
    for i, rec in enumerate(gt.records):
        images.append({"id": i + 1, "width": int(rec.width), "height": int(rec.height),
                       "file_name": str(rec.file)})
        n = int(np.asarray(rec.labels).shape[0])
        diff = np.asarray(rec.difficult, bool).reshape(-1)
        crowd = np.asarray(rec.iscrowd, bool).reshape(-1)
        diff = diff if diff.shape[0] == n else np.zeros(n, bool)
        crowd = crowd if crowd.shape[0] == n else np.zeros(n, bool)
        for box, label, d, c in zip(_xywh(rec.boxes), np.asarray(rec.labels).reshape(-1), diff, crowd):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cats[int(label)],
                         "bbox": [float(v) for v in box], "area": float(box[2] * box[3]),
                         "iscrowd": int(bool(d) or bool(c))})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": cats[l], "name": gt.class_names[l]} for l in range(1, len(cats))]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco, [i + 1 for i in range(len(gt.records))]


def _gt_json(gt: DatasetIndex, gt_json: str | Path | None) -> Path | None:
    if gt_json is not None:
        return Path(gt_json)
    src = Path(gt.source)
    if gt.category_ids is not None and src.suffix.lower() == ".json" and src.is_file():
        return src
    return None


def coco_metrics(gt: DatasetIndex, detections: Sequence[Detections], gt_json: str | Path | None = None
                 ) -> COCOMetrics:
    """Evaluate with pycocotools' COCOeval (bbox).

    Args:
        gt: the dataset.
        detections: one per record of ``gt``, labels already dataset labels; boxes x1, y1, x2, y2.
        gt_json: the annotation JSON to give pycocotools; by default ``gt.source`` when the
            dataset was read from a COCO JSON, else an in-memory COCO object is built.

    Returns:
        :class:`COCOMetrics`.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(detections) != len(gt.records):
        raise ValueError(f"{gt.source}: got detections for {len(detections)} images, the dataset has "
                         f"{len(gt.records)}")
    cats = _category_ids(gt)
    path = _gt_json(gt, gt_json)
    sink = io.StringIO()
    if path is not None:
        with contextlib.redirect_stdout(sink):
            coco_gt = COCO(str(path))
        known = set(coco_gt.getImgIds())
        image_ids = [r.image_id for r in gt.records]
        missing = [i for i in image_ids if i not in known]
        if missing:
            raise ValueError(f"{path}: image ids {missing[:5]} of the dataset are not in this annotation file")
    else:
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
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": [],
                               "categories": list(coco_gt.dataset.get("categories", []))}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        # Only the dataset's images: a reader may have dropped some (e.g. missing image files),
        # and their objects must not count as misses.
        ev.params.imgIds = sorted(image_ids)
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
