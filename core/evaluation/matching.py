"""One vectorised pass of the PASCAL VOC devkit's matching over a whole dataset.

The devkit (``VOCevaldet.m``) walks the detections of a class in descending score order;
each detection is compared with the ground-truth object of the same class in its image
that it overlaps most (first such object on ties). If that IoU is >= 0.5 the detection is

* ignored (neither TP nor FP) when that object is ``difficult``,
* a true positive when the object is not yet taken (it becomes taken),
* a false positive when it is already taken (the devkit does *not* fall back to the next
  best object);

otherwise it is a false positive. Because the best object of a detection does not depend on
the other detections, the whole procedure reduces to: best object per detection (a segment
argmax over detection/object pairs), then "the highest-ranked detection claiming each object
wins". Both are vectorised; no Python loop runs over detections.

Boxes are converted back to the devkit's 1-based inclusive pixel indices exactly
(``x1 + 1, y1 + 1, x2, y2``) for both ground truth and detections, and IoU uses the devkit's
``+1`` widths and heights. Detections from a model are continuous pixel boxes; they go
through the same conversion, so a model box equal to a GT box in the project's convention
has IoU exactly 1.

Ties in score are broken by input order (image order of the dataset, then order within
the image), as MATLAB's stable ``sort`` does on a file written in that order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.types import DatasetIndex, Detections

TP: int = 1
FP: int = 0
IGNORED: int = -1


@dataclass(frozen=True)
class MatchResult:
    """Outcome of the devkit matching for every detection and every ground-truth object.

    ``D`` detections and ``G`` ground-truth objects over the whole dataset, both in input
    order (dataset image order, then order within the image).

    Attributes:
        class_names: the dataset's class names (entry 0 is the background).
        image_ids: ``image_ids[i]`` is the dataset id of image index ``i``.
        iou_threshold: IoU at or above which a detection counts (0.5 for VOC).
        det_image: int64 [D], image index of each detection.
        det_label: int64 [D], dataset label of each detection (>= 1).
        det_score: float32 or float64 [D], confidence (float32 when every input was float32).
        det_boxes: float64 [D, 4], x1, y1, x2, y2 in continuous pixels.
        det_iou: float64 [D], devkit IoU with the best same-class object of the image (0 if none).
        det_gt: int64 [D], global index of that object, -1 when none overlaps.
        det_status: int8 [D], ``TP`` (1), ``FP`` (0) or ``IGNORED`` (-1, matched a difficult object).
        gt_image: int64 [G], image index of each object.
        gt_label: int64 [G], dataset label of each object.
        gt_boxes: float64 [G, 4], x1, y1, x2, y2 in continuous pixels.
        gt_difficult: bool [G], the VOC ``difficult`` flag.
        gt_det: int64 [G], index of the detection that took the object (a TP), -1 if none.
    """

    class_names: tuple[str, ...]
    image_ids: tuple[str | int, ...]
    iou_threshold: float
    det_image: np.ndarray
    det_label: np.ndarray
    det_score: np.ndarray
    det_boxes: np.ndarray
    det_iou: np.ndarray
    det_gt: np.ndarray
    det_status: np.ndarray
    gt_image: np.ndarray
    gt_label: np.ndarray
    gt_boxes: np.ndarray
    gt_difficult: np.ndarray
    gt_det: np.ndarray

    @property
    def num_classes(self) -> int:
        """Number of dataset classes, background included."""
        return len(self.class_names)


def to_devkit_boxes(boxes: np.ndarray) -> np.ndarray:
    """Continuous pixel boxes -> the devkit's 1-based inclusive pixel indices.

    Args:
        boxes: float [N, 4], x1, y1, x2, y2 in continuous pixels.

    Returns:
        float64 [N, 4], ``x1 + 1, y1 + 1, x2, y2`` (the inverse of reading a VOC XML box).
    """
    out = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    out[:, :2] += 1.0
    return out


def devkit_iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The devkit's overlap of paired boxes, with its ``+1`` pixel widths and heights.

    Args:
        a: float64 [P, 4] and
        b: float64 [P, 4], devkit boxes (1-based inclusive x1, y1, x2, y2), row i of ``a``
            paired with row i of ``b``.

    Returns:
        float64 [P]: intersection over union, or ``-inf`` where the boxes do not intersect
        (the devkit never considers such a pair, so it can never be the best match).
    """
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1.0
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1.0
    hit = (iw > 0) & (ih > 0)
    inter = iw * ih
    union = ((a[:, 2] - a[:, 0] + 1.0) * (a[:, 3] - a[:, 1] + 1.0)
             + (b[:, 2] - b[:, 0] + 1.0) * (b[:, 3] - b[:, 1] + 1.0) - inter)
    out = np.full(a.shape[0], -np.inf)
    np.divide(inter, union, out=out, where=hit)
    return out


def _gt_arrays(gt: DatasetIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    counts, boxes, labels, difficult = [], [], [], []
    for rec in gt.records:
        n = int(np.asarray(rec.labels).shape[0])
        counts.append(n)
        boxes.append(np.asarray(rec.boxes, dtype=np.float64).reshape(-1, 4))
        labels.append(np.asarray(rec.labels, dtype=np.int64).reshape(-1))
        diff = np.asarray(rec.difficult, dtype=bool).reshape(-1)
        if diff.shape[0] == 0 and n > 0:  # records built without the flag: nothing is difficult
            diff = np.zeros(n, bool)
        if diff.shape[0] != n or boxes[-1].shape[0] != n:
            raise ValueError(f"{gt.source}: image {rec.image_id!r} has {n} labels, {boxes[-1].shape[0]} boxes "
                             f"and {diff.shape[0]} difficult flags")
        difficult.append(diff)
    image = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    if not counts or sum(counts) == 0:
        return image, np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, bool)
    return image, np.concatenate(boxes), np.concatenate(labels), np.concatenate(difficult)


def _det_arrays(detections: Sequence[Detections]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    counts = [len(d) for d in detections]
    image = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    if sum(counts) == 0:
        return image, np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)
    boxes = np.concatenate([np.asarray(d.boxes, dtype=np.float64).reshape(-1, 4) for d in detections])
    labels = np.concatenate([np.asarray(d.labels, dtype=np.int64).reshape(-1) for d in detections])
    # float32 scores stay float32 so that a threshold compares as in Detections.filter
    scores = np.concatenate([np.asarray(d.scores).reshape(-1) for d in detections])
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    return image, boxes, labels, scores


def match_detections(gt: DatasetIndex, detections: Sequence[Detections],
                     iou_threshold: float = 0.5) -> MatchResult:
    """Run the devkit's matching for all classes and images at once.

    Args:
        gt: the dataset; its records' boxes are x1, y1, x2, y2 in continuous pixels.
        detections: one ``Detections`` per record of ``gt``, in the same order, whose labels
            are already *dataset* labels (see ``core.evaluation.evaluate`` for the mapping
            from a detector's classes). Inputs must be valid (finite scores, x2 >= x1, y2 >= y1).
        iou_threshold: a detection counts when its best IoU is >= this (the devkit's 0.5).

    Returns:
        The per-detection and per-object outcome; see :class:`MatchResult`.
    """
    if len(detections) != len(gt.records):
        raise ValueError(f"{gt.source}: got detections for {len(detections)} images, the dataset has "
                         f"{len(gt.records)}")
    det_image, det_boxes, det_label, det_score = _det_arrays(detections)
    return match_flat(gt, det_image, det_boxes, det_score, det_label, iou_threshold)


def _best_objects(gt_image: np.ndarray, gt_label: np.ndarray, gt_boxes: np.ndarray, det_image: np.ndarray,
                  det_label: np.ndarray, det_boxes: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """For each detection, the object of its image and class it overlaps most, as the devkit finds it.

    Returns:
        (best_iou float [D], -inf without a candidate; best_gt int64 [D], the object's index, -1 without one).
    """
    n_det = det_image.shape[0]
    # Objects grouped by (image, class); each detection looks up its own group's range.
    gt_key = gt_image * num_classes + gt_label
    gt_order = np.argsort(gt_key, kind="stable")  # stable: keeps annotation order within a group
    sorted_key = gt_key[gt_order]
    det_key = det_image * num_classes + det_label
    start = np.searchsorted(sorted_key, det_key, side="left")
    counts = np.searchsorted(sorted_key, det_key, side="right") - start

    total = int(counts.sum())
    pair_det = np.repeat(np.arange(n_det, dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    pair_gt = gt_order[start[pair_det] + np.arange(total, dtype=np.int64) - first[pair_det]]
    iou = devkit_iou_pairs(to_devkit_boxes(det_boxes)[pair_det], to_devkit_boxes(gt_boxes)[pair_gt])

    best_iou = np.full(n_det, -np.inf)
    best_gt = np.full(n_det, -1, np.int64)
    has_pairs = counts > 0
    if total:
        best_iou[has_pairs] = np.maximum.reduceat(iou, first[has_pairs])
        # The devkit keeps the first object reaching the maximum (it updates on ov > ovmax only).
        hits = np.flatnonzero((iou == best_iou[pair_det]) & (iou > -np.inf))
        owners, first_hit = np.unique(pair_det[hits], return_index=True)
        best_gt[owners] = pair_gt[hits[first_hit]]
    return best_iou, best_gt


def match_flat(gt: DatasetIndex, det_image: np.ndarray, det_boxes: np.ndarray, det_score: np.ndarray,
               det_label: np.ndarray, iou_threshold: float = 0.5) -> MatchResult:
    """:func:`match_detections` on detections already flattened over the dataset.

    Args:
        gt: the dataset.
        det_image: int64 [D], record index of each detection, non-decreasing (dataset image
            order); the order of these arrays is the tie-break for equal scores.
        det_boxes: float [D, 4], x1, y1, x2, y2 in continuous pixels.
        det_score: float32 or float64 [D].
        det_label: int64 [D], dataset labels.
        iou_threshold: see :func:`match_detections`.
    """
    num_classes = len(gt.class_names)
    gt_image, gt_boxes, gt_label, gt_difficult = _gt_arrays(gt)
    det_image = np.asarray(det_image, np.int64)
    det_boxes = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    det_label = np.asarray(det_label, np.int64)
    det_score = np.asarray(det_score)
    if det_image.size and (np.any(np.diff(det_image) < 0) or det_image[0] < 0 or det_image[-1] >= len(gt.records)):
        raise ValueError(f"{gt.source}: detection image indices must be sorted and within 0..{len(gt.records) - 1}")
    n_det, n_gt = det_score.shape[0], gt_label.shape[0]

    best_iou, best_gt = _best_objects(gt_image, gt_label, gt_boxes, det_image, det_label, det_boxes, num_classes)

    status = np.full(n_det, FP, np.int8)
    counted = best_iou >= iou_threshold
    on_difficult = counted & gt_difficult[np.maximum(best_gt, 0)] if n_gt else np.zeros(n_det, bool)
    status[on_difficult] = IGNORED
    claims = np.flatnonzero(counted & ~on_difficult)
    # Devkit order: descending score, ties in input order; the first claim on an object wins.
    ranked = claims[np.argsort(-det_score[claims], kind="stable")]  # claims ascend: stable = input order
    _, first_claim = np.unique(best_gt[ranked], return_index=True)
    winners = ranked[first_claim]
    status[winners] = TP
    gt_det = np.full(n_gt, -1, np.int64)
    gt_det[best_gt[winners]] = winners

    return MatchResult(
        class_names=tuple(gt.class_names),
        image_ids=tuple(r.image_id for r in gt.records),
        iou_threshold=float(iou_threshold),
        det_image=det_image, det_label=det_label, det_score=det_score, det_boxes=det_boxes,
        det_iou=np.maximum(best_iou, 0.0), det_gt=best_gt, det_status=status,
        gt_image=gt_image, gt_label=gt_label, gt_boxes=gt_boxes, gt_difficult=gt_difficult,
        gt_det=gt_det,
    )
