"""Precision/recall curves and everything that depends on a confidence threshold.

After one matching pass (:func:`core.evaluation.matching.match_detections`) each class's
counted detections are ranked once; for a threshold ``t`` the detections kept
(``score >= t``) are a prefix of that ranking, so TP/FP/FN, precision, recall, F1 and the AP
with the low-score detections thrown away all come from a binary search and a prefix of
cumulative counts. This is what a GUI slider calls.

Arrays indexed "by label" have one entry per dataset class, entry 0 (background) included
and left at 0 / NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.evaluation.matching import IGNORED, TP, MatchResult
from core.evaluation.voc import prefix_average_precision


@dataclass(frozen=True)
class ClassCurve:
    """One class's counted detections in devkit order (ignored ones left out).

    Attributes:
        label: dataset label.
        num_gt: non-difficult objects of the class (the devkit's ``npos``).
        num_det: all detections of the class, ignored ones included.
        det_index: int64 [N], indices into the :class:`MatchResult` detection arrays.
        scores: float32 or float64 [N] (as given), descending; thresholds compare in this precision.
        is_tp: bool [N].
        cum_tp, cum_fp: int64 [N], cumulative counts.
    """

    label: int
    num_gt: int
    num_det: int
    det_index: np.ndarray
    scores: np.ndarray
    is_tp: np.ndarray
    cum_tp: np.ndarray
    cum_fp: np.ndarray

    def kept(self, threshold: float) -> int:
        """Number of counted detections with ``score >= threshold``."""
        # scores are descending, so -scores ascend: count of -s <= -t.
        t = self.scores.dtype.type(threshold)
        return int(np.searchsorted(-self.scores, -t, side="right"))


@dataclass(frozen=True)
class PRCurve:
    """The raw precision/recall points of one class, one per counted detection.

    Point ``i`` is the state after accepting the ``i + 1`` highest-scored detections.

    Attributes:
        label, name: the class.
        num_gt: non-difficult objects of the class.
        confidence: float64 [N], the score of the detection added at each point (descending).
        precision: float64 [N].
        recall: float64 [N] (NaN when ``num_gt`` is 0).
        f1: float64 [N], 2PR/(P+R) (0 where both are 0).
        is_tp: bool [N], whether the detection added at that point is a true positive.
        cum_tp, cum_fp: int64 [N].
        image_index: int64 [N], image index (into ``MatchResult.image_ids``) of that detection.
    """

    label: int
    name: str
    num_gt: int
    confidence: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    is_tp: np.ndarray
    cum_tp: np.ndarray
    cum_fp: np.ndarray
    image_index: np.ndarray


@dataclass(frozen=True)
class ThresholdStats:
    """Per-class figures when only detections with ``score >= threshold`` are kept.

    All arrays are float64 or int64 [C] indexed by label (entry 0 is the background).

    Attributes:
        threshold: the confidence threshold.
        use_07_metric: which AP ``ap`` and ``mAP`` use.
        class_names: the dataset's classes.
        num_gt: non-difficult objects per class.
        tp, fp, fn: counts (``fn = num_gt - tp``; ignored detections are in neither).
        precision: tp / (tp + fp), NaN where nothing is kept.
        recall: tp / num_gt, NaN where the class has no object.
        f1: 2PR/(P+R); 0 when tp is 0 and the class has objects, NaN when recall is NaN.
        ap: AP of the kept detections; NaN for classes without objects.
        mAP: mean of ``ap`` over classes that have objects (NaN if none has).
    """

    threshold: float
    use_07_metric: bool
    class_names: tuple[str, ...]
    num_gt: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    ap: np.ndarray
    mAP: float


@dataclass(frozen=True)
class ImageBreakdown:
    """What happened in one image for a class (or all classes) at a threshold.

    Boxes are float64 [K, 4], x1, y1, x2, y2 in continuous pixels; labels int64 [K].

    Attributes:
        image_id: the dataset id.
        image_index: position in the dataset.
        tp_boxes, tp_scores, tp_labels: kept detections that are true positives.
        fp_boxes, fp_scores, fp_labels: kept detections that are false positives.
        missed_boxes, missed_labels: non-difficult objects no kept detection took.
    """

    image_id: str | int
    image_index: int
    tp_boxes: np.ndarray
    tp_scores: np.ndarray
    tp_labels: np.ndarray
    fp_boxes: np.ndarray
    fp_scores: np.ndarray
    fp_labels: np.ndarray
    missed_boxes: np.ndarray
    missed_labels: np.ndarray

    @property
    def num_errors(self) -> int:
        """False positives plus missed objects."""
        return int(self.fp_scores.shape[0] + self.missed_labels.shape[0])


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, np.nan)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    s = precision + recall
    out = np.where(np.isnan(recall), np.nan, 0.0)
    np.divide(2.0 * precision * recall, s, out=out, where=(s > 0) & ~np.isnan(s))
    return out


class ThresholdSweep:
    """Threshold-dependent figures from one matching pass; immutable after construction.

    Args:
        match: the matching pass.
    """

    def __init__(self, match: MatchResult) -> None:
        self.match = match
        num_classes = match.num_classes
        counted = np.flatnonzero(match.det_status != IGNORED)
        # One global ordering: by class, then devkit order (score descending, input order on ties).
        by_score = counted[np.argsort(-match.det_score[counted], kind="stable")]
        order = by_score[np.argsort(match.det_label[by_score], kind="stable")]
        bounds = np.searchsorted(match.det_label[order], np.arange(num_classes + 1), side="left")
        num_gt = np.bincount(match.gt_label[~match.gt_difficult], minlength=num_classes)[:num_classes]
        num_det = np.bincount(match.det_label, minlength=num_classes)[:num_classes]
        curves = []
        for label in range(num_classes):
            idx = order[bounds[label]:bounds[label + 1]]
            is_tp = match.det_status[idx] == TP
            cum_tp = np.cumsum(is_tp, dtype=np.int64)
            curves.append(ClassCurve(
                label=label, num_gt=int(num_gt[label]), num_det=int(num_det[label]), det_index=idx,
                scores=match.det_score[idx], is_tp=is_tp, cum_tp=cum_tp,
                cum_fp=np.arange(1, idx.shape[0] + 1, dtype=np.int64) - cum_tp))
        self.curves: tuple[ClassCurve, ...] = tuple(curves)
        self.num_gt: np.ndarray = num_gt.astype(np.int64)
        self.num_det: np.ndarray = num_det.astype(np.int64)
        # Classes that have an AP: at least one non-difficult object (the background never).
        self.evaluated: np.ndarray = (self.num_gt > 0) & (np.arange(num_classes) > 0)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.match.class_names

    def _check_label(self, label: int) -> None:
        if not 1 <= label < self.match.num_classes:
            raise ValueError(f"label {label} is not a class of this dataset (1..{self.match.num_classes - 1})")

    def ap(self, label: int, use_07_metric: bool, threshold: float = -np.inf) -> float:
        """AP of one class keeping only detections with ``score >= threshold``; NaN without objects."""
        self._check_label(label)
        c = self.curves[label]
        if c.num_gt == 0:
            return float("nan")
        return prefix_average_precision(c.cum_tp, c.cum_fp, c.num_gt, c.kept(threshold), use_07_metric)

    def at_threshold(self, threshold: float, use_07_metric: bool = False) -> ThresholdStats:
        """All per-class figures for one threshold (what a slider recomputes)."""
        n = self.match.num_classes
        tp = np.zeros(n, np.int64)
        fp = np.zeros(n, np.int64)
        ap = np.full(n, np.nan)
        for label in range(1, n):
            c = self.curves[label]
            k = c.kept(threshold)
            if k:
                tp[label], fp[label] = c.cum_tp[k - 1], c.cum_fp[k - 1]
            if c.num_gt:
                ap[label] = prefix_average_precision(c.cum_tp, c.cum_fp, c.num_gt, k, use_07_metric)
        num_gt = self.num_gt.copy()
        precision = _safe_div(tp, tp + fp)
        recall = _safe_div(tp, num_gt)
        f1 = _f1(np.nan_to_num(precision), recall)
        return ThresholdStats(
            threshold=float(threshold), use_07_metric=use_07_metric, class_names=self.class_names,
            num_gt=num_gt, tp=tp, fp=fp, fn=np.where(num_gt > 0, num_gt - tp, 0), precision=precision,
            recall=recall, f1=f1, ap=ap, mAP=self._mean(ap))

    def _mean(self, ap: np.ndarray) -> float:
        return float(np.mean(ap[self.evaluated])) if self.evaluated.any() else float("nan")

    def map_by_threshold(self, thresholds: Sequence[float] | np.ndarray, use_07_metric: bool = False
                         ) -> np.ndarray:
        """mAP for each threshold: float64 [T] (seed 004's table, for all classes)."""
        out = np.empty(len(thresholds))
        for i, t in enumerate(thresholds):
            ap = np.full(self.match.num_classes, np.nan)
            for label in np.flatnonzero(self.evaluated):
                c = self.curves[label]
                ap[label] = prefix_average_precision(c.cum_tp, c.cum_fp, c.num_gt, c.kept(t), use_07_metric)
            out[i] = self._mean(ap)
        return out

    def ap_by_threshold(self, label: int, thresholds: Sequence[float] | np.ndarray,
                        use_07_metric: bool = False) -> np.ndarray:
        """AP of one class for each threshold: float64 [T]."""
        return np.array([self.ap(label, use_07_metric, t) for t in thresholds], dtype=np.float64)

    def pr_curve(self, label: int) -> PRCurve:
        """The raw PR points of a class with the confidence at every point."""
        self._check_label(label)
        c = self.curves[label]
        precision = _safe_div(c.cum_tp, c.cum_tp + c.cum_fp)
        recall = _safe_div(c.cum_tp, np.full(c.cum_tp.shape, c.num_gt))
        return PRCurve(label=label, name=self.class_names[label], num_gt=c.num_gt, confidence=c.scores,
                       precision=precision, recall=recall, f1=_f1(precision, recall), is_tp=c.is_tp,
                       cum_tp=c.cum_tp, cum_fp=c.cum_fp, image_index=self.match.det_image[c.det_index])

    def _selection(self, label: int | None, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Kept, counted detections and missed objects (indices, each in image order)."""
        m = self.match
        if label is not None:
            self._check_label(label)
        t = m.det_score.dtype.type(threshold)  # compare in the scores' own precision
        det_sel = (m.det_score >= t) & (m.det_status != IGNORED)
        gt_sel = ~m.gt_difficult
        if label is not None:
            det_sel &= m.det_label == label
            gt_sel &= m.gt_label == label
        # An object is missed when nobody took it, or its taker falls below the threshold.
        taker_score = np.full(m.gt_det.shape[0], -np.inf, m.det_score.dtype)
        taken = m.gt_det >= 0
        taker_score[taken] = m.det_score[m.gt_det[taken]]
        missed = gt_sel & (taker_score < t)
        return np.flatnonzero(det_sel), np.flatnonzero(missed)

    def image_counts(self, label: int | None, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per image (int64 [num_images] each): kept TPs, kept FPs and missed objects.

        Cheap (no per-image objects), e.g. to sort an image strip by errors before asking
        :meth:`image_breakdown` for the visible images only.
        """
        det_idx, gt_idx = self._selection(label, threshold)
        m = self.match
        n_img = len(m.image_ids)
        is_tp = m.det_status[det_idx] == TP
        return (np.bincount(m.det_image[det_idx[is_tp]], minlength=n_img),
                np.bincount(m.det_image[det_idx[~is_tp]], minlength=n_img),
                np.bincount(m.gt_image[gt_idx], minlength=n_img))

    def image_breakdown(self, label: int | None, threshold: float, only_with_content: bool = True,
                        images: Sequence[int] | np.ndarray | None = None) -> list[ImageBreakdown]:
        """Per image: kept TPs and FPs and missed objects, for one class or all (``label=None``).

        Args:
            label: a dataset label, or None for every class.
            threshold: detections with ``score >= threshold`` are kept.
            only_with_content: leave out images with no kept detection and no missed object.
            images: image indices to describe (default: all), in the order wanted.

        Returns:
            One entry per image, in dataset order (or the order of ``images``).
        """
        m = self.match
        det_idx, gt_idx = self._selection(label, threshold)
        n_img = len(m.image_ids)
        d_bounds = np.searchsorted(m.det_image[det_idx], np.arange(n_img + 1))
        g_bounds = np.searchsorted(m.gt_image[gt_idx], np.arange(n_img + 1))
        chosen = np.arange(n_img) if images is None else np.asarray(images, np.int64).reshape(-1)
        if chosen.size and (chosen.min() < 0 or chosen.max() >= n_img):
            raise ValueError(f"image indices must be within 0..{n_img - 1}, got {chosen.min()}..{chosen.max()}")
        if only_with_content:
            content = (np.diff(d_bounds) > 0) | (np.diff(g_bounds) > 0)
            chosen = chosen[content[chosen]]
        out = []
        for i in chosen:  # a loop over the chosen images, for building the result objects only
            d = det_idx[d_bounds[i]:d_bounds[i + 1]]
            d = d[np.argsort(-m.det_score[d], kind="stable")]
            g = gt_idx[g_bounds[i]:g_bounds[i + 1]]
            t = m.det_status[d] == TP
            out.append(ImageBreakdown(
                image_id=m.image_ids[i], image_index=int(i),
                tp_boxes=m.det_boxes[d[t]], tp_scores=m.det_score[d[t]], tp_labels=m.det_label[d[t]],
                fp_boxes=m.det_boxes[d[~t]], fp_scores=m.det_score[d[~t]], fp_labels=m.det_label[d[~t]],
                missed_boxes=m.gt_boxes[g], missed_labels=m.gt_label[g]))
        return out
