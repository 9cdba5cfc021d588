"""Matching tracks to detections: box IoU and a gated assignment solved by SciPy.

The assignment is SORT's and ByteTrack's: the cost of a pair is ``1 - IoU``; a pair is allowed only
when its IoU is at least the threshold (``>=``: a pair exactly at the threshold matches) and both
have the same class; among the allowed pairs the matching with the most pairs, then the lowest total
cost, is taken (:func:`scipy.optimize.linear_sum_assignment` on the costs, with every forbidden
pair priced above any set of allowed ones).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair: a float [N, 4], b float [M, 4], x1, y1, x2, y2 in pixels -> float64 [N, M].

    Boxes without area have IoU 0 with everything.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match(track_boxes: np.ndarray, track_labels: np.ndarray, det_boxes: np.ndarray, det_labels: np.ndarray,
          min_iou: float) -> list[tuple[int, int]]:
    """Pairs (track row, detection row) of the gated assignment (module docstring).

    Args:
        track_boxes: float [T, 4] (the tracks' predicted boxes), track_labels: int [T].
        det_boxes: float [D, 4], det_labels: int [D].
        min_iou: the least IoU of a matched pair (inclusive).

    Returns:
        The matched pairs, in increasing track row.
    """
    iou = box_iou(track_boxes, det_boxes)
    if iou.size == 0:
        return []
    allowed = (iou >= min_iou) & (np.asarray(track_labels)[:, None] == np.asarray(det_labels)[None, :])
    if not allowed.any():
        return []
    # Every allowed cost is in [0, 1]: a forbidden pair costing more than all allowed pairs together
    # makes one more allowed pair always worth more than any saving in IoU.
    forbidden = float(min(iou.shape)) + 1.0
    rows, cols = linear_sum_assignment(np.where(allowed, 1.0 - iou, forbidden))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]


__all__ = ["box_iou", "match"]
