"""Precision, recall and F1 against the confidence threshold, per class and overall, and the
threshold with the best F1 (the curves Ultralytics users read next to the PR curves).

    curves = result.confidence_curves()      # or confidence_curves(result.sweep)
    curves.f1[label]                               # float64 [T] on curves.thresholds
    curves.best_threshold[label], curves.overall_best_threshold

Everything comes from the one matching pass (:class:`core.evaluation.curves.ThresholdSweep`):
a threshold keeps a prefix of each class's ranked detections, so the counts at any threshold are
a binary search away, and the best-F1 threshold is found exactly over every distinct score.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.evaluation.curves import ThresholdSweep, _f1, _safe_div
from core.evaluation.matching import TP


@dataclass(frozen=True)
class ConfidenceCurves:
    """Precision, recall and F1 against the confidence threshold, per class and overall.

    Arrays "[C, T]" have one row per dataset label (row 0, the background, is NaN) and one column
    per threshold; a point keeps the detections with ``score >= threshold``.

    Attributes:
        class_names: the dataset's classes.
        thresholds: float64 [T], ascending.
        precision: float64 [C, T], NaN where nothing is kept.
        recall: float64 [C, T], NaN for classes without objects.
        f1: float64 [C, T], 2PR/(P+R) (0 where nothing right is kept, NaN without objects).
        overall_precision, overall_recall, overall_f1: float64 [T] from the TP, FP and FN summed over
            all classes (every kept detection and every object counts once).
        mean_f1: float64 [T], the mean of ``f1`` over the classes with objects (Ultralytics' "all classes").
        best_threshold: float64 [C], the threshold of each class's highest F1 over *every* distinct
            score (not only the grid; the highest such threshold on ties); NaN where the class has no
            object or its F1 never leaves 0.
        best_f1: float64 [C], that F1 (NaN without objects).
        overall_best_threshold, overall_best_f1: the same for the summed counts.
    """

    class_names: tuple[str, ...]
    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    overall_precision: np.ndarray
    overall_recall: np.ndarray
    overall_f1: np.ndarray
    mean_f1: np.ndarray
    best_threshold: np.ndarray
    best_f1: np.ndarray
    overall_best_threshold: float
    overall_best_f1: float


def best_f1_point(scores: np.ndarray, is_tp: np.ndarray, num_gt: int) -> tuple[float, float]:
    """(threshold, F1) of the highest F1 over every distinct score of a ranked detection list.

    Args:
        scores: [N], descending; ``is_tp``: bool [N]; ``num_gt``: objects to find (> 0).

    Returns:
        The score to keep ``>=`` and its F1 (the highest threshold among equal F1s); (NaN, 0.0)
        when no threshold finds anything.
    """
    if scores.shape[0] == 0:
        return float("nan"), 0.0
    cum_tp = np.cumsum(is_tp, dtype=np.int64)
    kept = np.arange(1, scores.shape[0] + 1)
    # A threshold keeps whole groups of tied scores: only the last detection of each group is a point.
    ends = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    f1 = 2.0 * cum_tp[ends] / (kept[ends] + num_gt)  # 2TP / (2TP + FP + FN), with TP + FP = kept
    k = int(np.argmax(f1))
    if f1[k] <= 0:
        return float("nan"), 0.0
    return float(scores[ends[k]]), float(f1[k])


def confidence_curves(sweep: ThresholdSweep, thresholds: Sequence[float] | np.ndarray | None = None
                      ) -> ConfidenceCurves:
    """Precision, recall and F1 against the confidence threshold (see :class:`ConfidenceCurves`).

    Args:
        sweep: the evaluation's threshold sweep (``EvaluationResult.sweep``).
        thresholds: the grid of the curves (default 101 points, 0 to 1); the best-F1 thresholds are
            searched over every distinct score, not only the grid.
    """
    t = np.linspace(0.0, 1.0, 101) if thresholds is None else np.sort(np.asarray(thresholds, np.float64))
    n = sweep.match.num_classes
    tp = np.zeros((n, t.shape[0]), np.int64)
    kept = np.zeros((n, t.shape[0]), np.int64)
    best_t, best_f1 = np.full(n, np.nan), np.full(n, np.nan)
    for label in range(1, n):
        c = sweep.curves[label]
        k = np.searchsorted(-c.scores, -t.astype(c.scores.dtype), side="right")
        kept[label] = k
        if c.cum_tp.size:
            tp[label] = np.where(k > 0, c.cum_tp[np.maximum(k - 1, 0)], 0)
        if c.num_gt:
            best_t[label], best_f1[label] = best_f1_point(c.scores, c.is_tp, c.num_gt)
    precision = _safe_div(tp, kept)
    recall = _safe_div(tp, np.broadcast_to(sweep.num_gt[:, None], tp.shape))
    f1 = _f1(np.nan_to_num(precision), recall)
    precision[0] = recall[0] = f1[0] = np.nan
    all_tp, all_kept, all_gt = tp[1:].sum(axis=0), kept[1:].sum(axis=0), int(sweep.num_gt[1:].sum())
    o_precision = _safe_div(all_tp, all_kept)
    o_recall = _safe_div(all_tp, np.full(all_tp.shape, all_gt))
    mean_f1 = f1[sweep.evaluated].mean(axis=0) if sweep.evaluated.any() else np.full(t.shape, np.nan)
    o_best_t, o_best_f1 = float("nan"), float("nan")
    if all_gt:
        m = sweep.match
        ranked = np.concatenate([np.zeros(0, np.int64)] + [c.det_index for c in sweep.curves[1:]])
        ranked = ranked[np.argsort(-m.det_score[ranked], kind="stable")]
        o_best_t, o_best_f1 = best_f1_point(m.det_score[ranked], m.det_status[ranked] == TP, all_gt)
    return ConfidenceCurves(
        class_names=sweep.class_names, thresholds=t, precision=precision, recall=recall, f1=f1,
        overall_precision=o_precision, overall_recall=o_recall, overall_f1=_f1(np.nan_to_num(o_precision), o_recall),
        mean_f1=mean_f1, best_threshold=best_t, best_f1=best_f1, overall_best_threshold=o_best_t,
        overall_best_f1=o_best_f1)


__all__ = ["ConfidenceCurves", "confidence_curves", "best_f1_point"]
