"""Shared by the evaluation tests: random datasets/detections and a plain devkit reference.

``devkit_ap`` is a direct, loop-by-loop transcription of the PASCAL VOC devkit's
``VOCevaldet.m`` and ``VOCap.m`` (MATLAB semantics: precision is NaN where nothing was
counted yet, and ``max`` skips NaN). It is deliberately written without NumPy tricks so that
it can serve as the reference for the vectorised implementation.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from core.types import DatasetIndex, Detections, ImageRecord


def devkit_ap(gt: DatasetIndex, dets: dict, label: int, use_07: bool) -> float | None:
    """Reference AP of class ``label``; None when the class has no non-difficult object."""
    # ground truth of the class per image, in devkit pixel indices
    objects = {}
    npos = 0
    for rec in gt.records:
        bbs, diffs = [], []
        for k in range(len(rec.labels)):
            if int(rec.labels[k]) != label:
                continue
            x1, y1, x2, y2 = (float(v) for v in rec.boxes[k])
            bbs.append((x1 + 1, y1 + 1, x2, y2))
            d = bool(rec.difficult[k]) if len(rec.difficult) else False
            diffs.append(d)
            if not d:
                npos += 1
        objects[rec.image_id] = {"bb": bbs, "diff": diffs, "det": [False] * len(bbs)}
    if npos == 0:
        return None
    # detections of the class, in dataset image order then within-image order
    flat = []
    for rec in gt.records:
        d = dets.get(rec.image_id)
        if d is None:
            continue
        for k in range(len(d.scores)):
            if int(d.labels[k]) == label:
                x1, y1, x2, y2 = (float(v) for v in d.boxes[k])
                flat.append((rec.image_id, float(d.scores[k]), (x1 + 1, y1 + 1, x2, y2)))
    flat = sorted(flat, key=lambda e: -e[1])  # Python's sort is stable, like MATLAB's
    tp = [0] * len(flat)
    fp = [0] * len(flat)
    for d, (image_id, _score, bb) in enumerate(flat):
        g = objects[image_id]
        ovmax = -math.inf
        jmax = -1
        for j, bbgt in enumerate(g["bb"]):
            bi = (max(bb[0], bbgt[0]), max(bb[1], bbgt[1]), min(bb[2], bbgt[2]), min(bb[3], bbgt[3]))
            iw = bi[2] - bi[0] + 1
            ih = bi[3] - bi[1] + 1
            if iw > 0 and ih > 0:
                ua = ((bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1)
                      + (bbgt[2] - bbgt[0] + 1) * (bbgt[3] - bbgt[1] + 1) - iw * ih)
                ov = iw * ih / ua
                if ov > ovmax:
                    ovmax = ov
                    jmax = j
        if ovmax >= 0.5:
            if not g["diff"][jmax]:
                if not g["det"][jmax]:
                    tp[d] = 1
                    g["det"][jmax] = True
                else:
                    fp[d] = 1
        else:
            fp[d] = 1
    rec_, prec = [], []
    ctp = cfp = 0
    for d in range(len(flat)):
        ctp += tp[d]
        cfp += fp[d]
        rec_.append(ctp / npos)
        prec.append(ctp / (ctp + cfp) if ctp + cfp > 0 else math.nan)
    if use_07:
        ap = 0.0
        for t in (0.0, 0.1, 2 * 0.1, 3 * 0.1, 4 * 0.1, 5 * 0.1, 1 - 4 * 0.1, 1 - 3 * 0.1, 1 - 2 * 0.1, 1 - 0.1, 1.0):
            ps = [p for r, p in zip(rec_, prec) if r >= t and not math.isnan(p)]
            ap += (max(ps) if ps else 0.0) / 11
        return ap
    mrec = [0.0] + rec_ + [1.0]
    mpre = [0.0] + prec + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        if math.isnan(mpre[i]) or mpre[i + 1] > mpre[i]:
            mpre[i] = mpre[i + 1]
    ap = 0.0
    for i in range(1, len(mrec)):
        if mrec[i] != mrec[i - 1]:
            ap += (mrec[i] - mrec[i - 1]) * mpre[i]
    return ap


def random_boxes(rng: np.random.Generator, n: int, size: int = 100) -> np.ndarray:
    """Integer-cornered boxes (like VOC's) inside a ``size`` x ``size`` image: float32 [n, 4] x1y1x2y2."""
    xy = rng.integers(0, size - 12, size=(n, 2))
    wh = rng.integers(4, 40, size=(n, 2))
    return np.concatenate([xy, np.minimum(xy + wh, size)], axis=1).astype(np.float32)


def random_case(seed: int, num_images: int = 25, num_classes: int = 5, with_empty_class: bool = True
                ) -> tuple[DatasetIndex, dict]:
    """A dataset with difficult objects and detections with duplicates, near misses, ties and noise.

    Class ``num_classes - 1`` has no ground truth when ``with_empty_class`` (it still gets detections).
    """
    rng = np.random.default_rng(seed)
    names = ("__background__",) + tuple(f"c{i}" for i in range(1, num_classes))
    gt_classes = num_classes - 1 if with_empty_class else num_classes
    records, dets = [], {}
    for i in range(num_images):
        n = int(rng.integers(0, 6))
        boxes = random_boxes(rng, n)
        labels = rng.integers(1, gt_classes, size=n).astype(np.int64)
        difficult = rng.random(n) < 0.25
        image_id = f"{i:06d}"
        records.append(ImageRecord(image_id, Path(f"{image_id}.jpg"), 100, 100, boxes, labels, difficult,
                                   np.zeros(n, bool)))
        d_boxes, d_labels = [], []
        for b, lab in zip(boxes, labels):
            for _ in range(int(rng.integers(0, 4))):  # 0..3 detections per object: duplicates
                jitter = rng.normal(0, 3, size=4)
                d_boxes.append(b + jitter)
                d_labels.append(lab if rng.random() < 0.9 else int(rng.integers(1, num_classes)))
        m = int(rng.integers(0, 4))  # background clutter, some of the empty class
        d_boxes.extend(random_boxes(rng, m))
        d_labels.extend(rng.integers(1, num_classes, size=m).tolist())
        k = len(d_boxes)
        box_arr = np.array(d_boxes, np.float32).reshape(-1, 4)
        # make every box valid (x1 <= x2) after jitter
        box_arr = np.concatenate([np.minimum(box_arr[:, :2], box_arr[:, 2:]),
                                  np.maximum(box_arr[:, :2], box_arr[:, 2:])], axis=1)
        scores = np.round(rng.random(k), 2).astype(np.float32)  # rounding makes ties
        dets[image_id] = Detections(box_arr, scores, np.array(d_labels, np.int64))
    return DatasetIndex(f"random seed={seed}", f"<random {seed}>", names, records), dets
