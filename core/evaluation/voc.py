"""PASCAL VOC average precision: the VOC2007 11-point metric and the VOC2010+ all-point area.

Both follow the official devkit's ``VOCevaldet.m`` / ``VOCap.m`` line by line, vectorised.
"""
from __future__ import annotations

import numpy as np

# The devkit loops ``for t=0:0.1:1``. MATLAB's colon operator builds the first half of the
# range as a + k*d and the second half as b - k*d, so the levels are *these* doubles (3*0.1 is
# 0.30000000000000004, so a recall of exactly 3/10 does not reach that level). Python ports
# that use np.arange(0, 1.1, 0.1) differ at 0.6 and 0.7; we follow the devkit.
VOC07_RECALL_LEVELS: np.ndarray = np.array(
    [0.0, 0.1, 2 * 0.1, 3 * 0.1, 4 * 0.1, 5 * 0.1, 1 - 4 * 0.1, 1 - 3 * 0.1, 1 - 2 * 0.1, 1 - 0.1, 1.0])


def average_precision(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool) -> float:
    """Area under one class's precision/recall curve, as the devkit computes it.

    Args:
        recall: float64 [N], cumulative recall after each detection in descending score
            order (non-decreasing).
        precision: float64 [N], cumulative precision at the same points.
        use_07_metric: True for the VOC2007 11-point interpolated AP, False for the VOC2010+
            area under the monotone (interpolated) curve over all points.

    Returns:
        AP in [0, 1]; 0 for an empty curve.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    n = recall.shape[0]
    if use_07_metric:
        if n == 0:
            return 0.0
        # max(prec(rec >= t)): recall is non-decreasing, so rec >= t is a suffix whose
        # maximum is the suffix maximum at its first index.
        suffix_max = np.maximum.accumulate(precision[::-1])[::-1]
        first = np.searchsorted(recall, VOC07_RECALL_LEVELS, side="left")
        p = np.where(first < n, suffix_max[np.minimum(first, n - 1)], 0.0)
        return float(np.sum(p / 11.0))
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


def prefix_average_precision(cum_tp: np.ndarray, cum_fp: np.ndarray, num_gt: int, length: int,
                             use_07_metric: bool) -> float:
    """AP of the first ``length`` points of a class's ranked, counted detections.

    This is the AP obtained when every detection below a confidence threshold is thrown
    away: the greedy matching never lets a lower-scored detection change the outcome of a
    higher-scored one, so the shorter list is exactly a prefix of the full one.

    Args:
        cum_tp, cum_fp: int64 [N], cumulative TP and FP counts over the counted (non-ignored)
            detections in devkit order.
        num_gt: number of non-difficult objects of the class (> 0).
        length: how many leading detections to keep (0..N).
        use_07_metric: see :func:`average_precision`.
    """
    if num_gt <= 0:
        raise ValueError(f"prefix_average_precision needs num_gt > 0, got {num_gt}")
    tp = cum_tp[:length].astype(np.float64)
    # Every counted detection adds one to tp + fp, so the denominator is never zero.
    prec = tp / (tp + cum_fp[:length])
    return average_precision(tp / num_gt, prec, use_07_metric)
