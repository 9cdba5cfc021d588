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
        ap_small, ap_medium, ap_large: float64 [C] by label, AP@[.5:.95] of the objects of area
            < 32^2, 32^2..96^2, > 96^2 px (100 detections); NaN where the class has none of that size.
        ar1, ar10, ar100: float64 [C] by label, recall averaged over the IoUs with at most 1, 10, 100
            detections per image (area all). All six are read from pycocotools' own accumulated arrays
            (``eval["precision"]``, ``eval["recall"]``), as ``stats`` is: their mean over the classes
            that have a value is the matching entry of ``stats``.
    """

    stats: np.ndarray
    class_names: tuple[str, ...]
    ap: np.ndarray
    ap50: np.ndarray
    summary: str
    ap_small: np.ndarray
    ap_medium: np.ndarray
    ap_large: np.ndarray
    ar1: np.ndarray
    ar10: np.ndarray
    ar100: np.ndarray

    #: The per-class fields above by the name ``stats`` gives the same figure over all classes.
    PER_CLASS_STATS = (("APs", "ap_small"), ("APm", "ap_medium"), ("APl", "ap_large"), ("AR1", "ar1"),
                       ("AR10", "ar10"), ("AR100", "ar100"))

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

    per_class = _per_class(ev, [cats[label] for label in range(1, len(gt.class_names))])
    return COCOMetrics(stats=np.asarray(ev.stats, dtype=np.float64), class_names=tuple(gt.class_names),
                       summary=summary.getvalue(), **per_class)


def _valid_mean(values: np.ndarray) -> float:
    """The mean of the entries pycocotools filled (-1 marks 'nothing to average'), NaN if none."""
    ok = values > -1
    return float(np.mean(values[ok])) if ok.any() else float("nan")


def _per_class(ev: Any, label_cats: list[int]) -> dict[str, np.ndarray]:
    """Per-label figures from COCOeval's accumulated arrays, entry 0 (background) NaN.

    ``eval["precision"]`` is [T IoUs, R recalls, K cats, A areas (all, small, medium, large),
    M maxDets (1, 10, 100)], ``eval["recall"]`` [T, K, A, M]; ``_summarize`` reads the same slices.
    """
    precision, recall = ev.eval["precision"], ev.eval["recall"]
    cat_pos = {c: k for k, c in enumerate(ev.params.catIds)}
    # name -> (array, index) reading the figure of category k
    reads = {"ap": (precision, lambda k: (slice(None), slice(None), k, 0, -1)),
             "ap50": (precision, lambda k: (0, slice(None), k, 0, -1)),
             "ap_small": (precision, lambda k: (slice(None), slice(None), k, 1, -1)),
             "ap_medium": (precision, lambda k: (slice(None), slice(None), k, 2, -1)),
             "ap_large": (precision, lambda k: (slice(None), slice(None), k, 3, -1)),
             "ar1": (recall, lambda k: (slice(None), k, 0, 0)),
             "ar10": (recall, lambda k: (slice(None), k, 0, 1)),
             "ar100": (recall, lambda k: (slice(None), k, 0, 2))}
    out = {name: np.full(len(label_cats) + 1, np.nan) for name in reads}
    for label, cat in enumerate(label_cats, start=1):
        k = cat_pos.get(cat)
        if k is None:
            continue
        for name, (array, index) in reads.items():
            out[name][label] = _valid_mean(array[index(k)])
    return out
