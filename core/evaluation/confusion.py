"""A confusion matrix with a background row and column, at one confidence and one IoU threshold.

    cm = confusion_matrix(result, threshold=0.5)               # the evaluation's IoU (0.5)
    cm = confusion_matrix(result, threshold=0.5, iou_threshold=0.7)
    cm.counts[true_label, predicted_label]                     # int64 [C, C]; index 0 is the background
    cm.normalized("true")                                      # each row sums to 1
    cm.images(true_label, predicted_label)                     # image indices behind one cell

Rows are the true class, columns the predicted class, and label 0 (``"__background__"``) is the
background on both axes, so the matrix is indexed by the dataset's own labels. It is built on the
devkit matching that every other figure uses (:mod:`core.evaluation.matching`), keeping the
detections with ``score >= threshold``:

* a true positive of class c (the devkit's) is cell ``[c, c]``;
* a false positive of class p that overlaps, at IoU >= the threshold, an object of another class
  t that no kept detection found is a class confusion, cell ``[t, p]``: each such detection takes
  the object of another class it overlaps most (first on ties), and when several take the same
  object the highest-scored one (then the first in dataset order) gets it, as the devkit decides
  between detections of one class;
* every other false positive (nothing overlaps; a duplicate of an object its class already found)
  is cell ``[0, p]``;
* an object of class t that no kept detection found, nor any confusion took, is cell ``[t, 0]``.

Hence, per class c, ``counts[c, c]`` is the TP, the column's other cells sum to the FP and the
row's other cells to the FN of :meth:`core.evaluation.curves.ThresholdSweep.at_threshold` at the
same threshold and IoU: the matrix only says where the errors went. Detections the devkit ignores
(on ``difficult`` objects) and difficult objects appear nowhere, as in the AP. Cell ``[0, 0]`` is
always 0 (the background is never counted).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.evaluation.matching import FP, IGNORED, TP, MatchResult, devkit_iou_pairs, match_flat, to_devkit_boxes


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts and the entries behind them.

    ``E`` entries, one per counted detection or missed object, in no particular order.

    Attributes:
        class_names: the dataset's classes; label 0 is the background row and column.
        threshold: detections with ``score >= threshold`` were kept.
        iou_threshold: the overlap at which a detection matches an object.
        counts: int64 [C, C], ``counts[true, predicted]``.
        entry_true, entry_pred: int64 [E], the cell of each entry.
        entry_image: int64 [E], image index (into the dataset's records) of each entry.
        entry_det: int64 [E], detection index into :class:`MatchResult`'s arrays, -1 for a missed object.
        entry_gt: int64 [E], object index into :class:`MatchResult`'s arrays, -1 for a background false positive.
    """

    class_names: tuple[str, ...]
    threshold: float
    iou_threshold: float
    counts: np.ndarray
    entry_true: np.ndarray
    entry_pred: np.ndarray
    entry_image: np.ndarray
    entry_det: np.ndarray
    entry_gt: np.ndarray

    def normalized(self, by: str = "true") -> np.ndarray:
        """float64 [C, C]: each row (``by="true"``: where the objects of a class went) or each column
        (``by="pred"``: what the detections of a class were) divided by its sum; NaN where that sum is 0."""
        if by not in ("true", "pred"):
            raise ValueError(f"normalise by 'true' (rows) or 'pred' (columns), got {by!r}")
        c = self.counts.astype(np.float64)
        sums = c.sum(axis=1, keepdims=True) if by == "true" else c.sum(axis=0, keepdims=True)
        out = np.full(c.shape, np.nan)
        np.divide(c, sums, out=out, where=np.broadcast_to(sums > 0, c.shape))
        return out

    def _cell(self, true_label: int, pred_label: int) -> np.ndarray:
        n = len(self.class_names)
        if not (0 <= true_label < n and 0 <= pred_label < n):
            raise ValueError(f"cell ({true_label}, {pred_label}) is outside the {n}x{n} matrix")
        return (self.entry_true == true_label) & (self.entry_pred == pred_label)

    def images(self, true_label: int, pred_label: int) -> np.ndarray:
        """int64 [K]: the image indices behind one cell, ascending, each once."""
        return np.unique(self.entry_image[self._cell(true_label, pred_label)])

    def entries(self, true_label: int, pred_label: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image, detection, object) indices of one cell's entries (int64 [K] each; -1 where none)."""
        sel = self._cell(true_label, pred_label)
        return self.entry_image[sel], self.entry_det[sel], self.entry_gt[sel]

    @property
    def tp(self) -> np.ndarray:
        """int64 [C]: the diagonal (0 for the background)."""
        out = np.diag(self.counts).copy()
        out[0] = 0
        return out

    @property
    def fp(self) -> np.ndarray:
        """int64 [C]: per predicted class, the column without its diagonal (0 for the background: its
        column holds the objects no detection found, which :attr:`fn` counts)."""
        out = self.counts.sum(axis=0) - np.diag(self.counts)
        out[0] = 0
        return out

    @property
    def fn(self) -> np.ndarray:
        """int64 [C]: per true class, the row without its diagonal (0 for the background)."""
        out = self.counts.sum(axis=1) - np.diag(self.counts)
        out[0] = 0
        return out


def _first_per_group(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions (into ``order``) of the first element of each group value along ``order``."""
    _, first = np.unique(group[order], return_index=True)
    return order[first]


def _confusions(m: MatchResult, fp_dets: np.ndarray, free_gt: np.ndarray, iou_threshold: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Class confusions: (detections, the objects of another class they take), int64 [K] each."""
    none = np.zeros(0, np.int64)
    if fp_dets.size == 0 or free_gt.size == 0:
        return none, none
    free_gt = free_gt[np.argsort(m.gt_image[free_gt], kind="stable")]
    img = m.gt_image[free_gt]
    start = np.searchsorted(img, m.det_image[fp_dets], side="left")
    count = np.searchsorted(img, m.det_image[fp_dets], side="right") - start
    pair_det = np.repeat(fp_dets, count)
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    pair_gt = free_gt[np.repeat(start, count) + offset]
    iou = devkit_iou_pairs(to_devkit_boxes(m.det_boxes[pair_det]), to_devkit_boxes(m.gt_boxes[pair_gt]))
    ok = (iou >= iou_threshold) & (m.det_label[pair_det] != m.gt_label[pair_gt])
    pair_det, pair_gt, iou = pair_det[ok], pair_gt[ok], iou[ok]
    if pair_det.size == 0:
        return none, none
    # Each detection's best object (highest IoU, then the first in annotation order) ...
    best = _first_per_group(pair_det, np.lexsort((pair_gt, -iou, pair_det)))
    dets, objs = pair_det[best], pair_gt[best]
    # ... and per object the highest-scored detection (then the first in dataset order) wins.
    win = _first_per_group(objs, np.lexsort((dets, -m.det_score[dets].astype(np.float64))))
    return dets[win], objs[win]


def confusion_matrix(result: Any, threshold: float, iou_threshold: float | None = None) -> ConfusionMatrix:
    """The confusion matrix of an evaluation at one confidence and IoU threshold (see the module docstring).

    Args:
        result: a :class:`core.evaluation.evaluate.EvaluationResult` (its ``gt`` and ``match``).
        threshold: keep detections with ``score >= threshold`` (compared in the scores' precision).
        iou_threshold: the overlap criterion; None keeps the evaluation's (``result.match.iou_threshold``).
            Another value re-runs the (vectorised) matching at that IoU.

    Returns:
        :class:`ConfusionMatrix`.
    """
    m: MatchResult = result.match
    if iou_threshold is None:
        iou_threshold = m.iou_threshold
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if iou_threshold != m.iou_threshold:
        m = match_flat(result.gt, m.det_image, m.det_boxes, m.det_score, m.det_label, iou_threshold)
    t = m.det_score.dtype.type(threshold)
    kept = (m.det_score >= t) & (m.det_status != IGNORED)
    tp_dets = np.flatnonzero(kept & (m.det_status == TP))
    fp_dets = np.flatnonzero(kept & (m.det_status == FP))
    found = np.zeros(m.gt_label.shape[0], bool)
    found[m.det_gt[tp_dets]] = True
    free_gt = np.flatnonzero(~m.gt_difficult & ~found)
    # A false positive whose own class has an object there is a duplicate, not a confusion.
    eligible = fp_dets[m.det_iou[fp_dets] < iou_threshold]
    conf_dets, conf_objs = _confusions(m, eligible, free_gt, iou_threshold)
    background = np.setdiff1d(fp_dets, conf_dets, assume_unique=True)
    missed = np.setdiff1d(free_gt, conf_objs, assume_unique=True)

    entry_true = np.concatenate([m.det_label[tp_dets], m.gt_label[conf_objs], np.zeros(background.size, np.int64),
                                 m.gt_label[missed]])
    entry_pred = np.concatenate([m.det_label[tp_dets], m.det_label[conf_dets], m.det_label[background],
                                 np.zeros(missed.size, np.int64)])
    entry_image = np.concatenate([m.det_image[tp_dets], m.det_image[conf_dets], m.det_image[background],
                                  m.gt_image[missed]])
    entry_det = np.concatenate([tp_dets, conf_dets, background, np.full(missed.size, -1, np.int64)])
    entry_gt = np.concatenate([m.det_gt[tp_dets], conf_objs, np.full(background.size, -1, np.int64), missed])
    n = m.num_classes
    counts = np.bincount(entry_true * n + entry_pred, minlength=n * n).reshape(n, n).astype(np.int64)
    return ConfusionMatrix(class_names=m.class_names, threshold=float(threshold), iou_threshold=float(iou_threshold),
                           counts=counts, entry_true=entry_true.astype(np.int64),
                           entry_pred=entry_pred.astype(np.int64),
                           entry_image=entry_image.astype(np.int64), entry_det=entry_det.astype(np.int64),
                           entry_gt=entry_gt.astype(np.int64))


__all__ = ["ConfusionMatrix", "confusion_matrix"]
