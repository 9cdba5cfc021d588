"""Two evaluations of the same data side by side: two models, or one model at two precisions.

    cmp = compare_evaluations(output_a, output_b, metric="voc07", names=("fp32", "int8"))
    cmp.ap_a, cmp.ap_b, cmp.ap_diff       # float64 [C] by label; diff = b - a
    cmp.pr_curves(label)                  # (PRCurve of a, PRCurve of b): the two curves of one class
    cmp.errors_by_image(label, 0.5)       # where b makes more (or fewer) mistakes than a

The data must be the same: the same images in the same order, the same classes and the same
ground-truth objects (two evaluations against one reference model's output qualify when the
reference ran once). Everything returned is plain NumPy or the evaluation's own curve objects, for
a table and overlaid plots.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.evaluation.curves import PRCurve
from core.evaluation.evaluate import METRICS, EvaluationResult


@dataclass(frozen=True)
class Comparison:
    """Per-class AP of two evaluations on the same data, and access to both sets of curves.

    Attributes:
        metric: the AP compared (``voc07``, ``voc12`` or ``coco``).
        names: what ``a`` and ``b`` are ("fp32", "int8"; the model files by default).
        class_names: the dataset's classes.
        num_gt: int64 [C], objects per class (the same for both).
        num_det_a, num_det_b: int64 [C], detections per class.
        ap_a, ap_b: float64 [C] by label, NaN where a class has no AP (and for the background).
        ap_diff: float64 [C], ``ap_b - ap_a``.
        map_a, map_b: the mean APs (NaN if no class has one); ``map_diff = map_b - map_a``.
        result_a, result_b: the two matching passes (for curves, thresholds and image breakdowns).
    """

    metric: str
    names: tuple[str, str]
    class_names: tuple[str, ...]
    num_gt: np.ndarray
    num_det_a: np.ndarray
    num_det_b: np.ndarray
    ap_a: np.ndarray
    ap_b: np.ndarray
    ap_diff: np.ndarray
    map_a: float
    map_b: float
    map_diff: float
    result_a: EvaluationResult = field(repr=False)
    result_b: EvaluationResult = field(repr=False)

    def pr_curves(self, label: int) -> tuple[PRCurve, PRCurve]:
        """The PR curve of class ``label`` in ``a`` and in ``b`` (to overlay)."""
        return self.result_a.pr_curve(label), self.result_b.pr_curve(label)

    def confidence_curves(self) -> tuple[Any, Any]:
        """Precision, recall and F1 against the threshold of ``a`` and ``b``
        (:class:`core.evaluation.confidence.ConfidenceCurves` each)."""
        return self.result_a.confidence_curves(), self.result_b.confidence_curves()

    def map_by_threshold(self, thresholds: np.ndarray, use_07_metric: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """mAP keeping ``score >= t`` for each threshold, of ``a`` and ``b`` (float64 [T] each)."""
        return (self.result_a.map_by_threshold(thresholds, use_07_metric),
                self.result_b.map_by_threshold(thresholds, use_07_metric))

    def errors_by_image(self, label: int | None, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """False positives plus missed objects per image in ``a`` and in ``b`` (int64 [N] each), for one
        class or all (``label=None``), keeping ``score >= threshold``: sort by ``b - a`` to see where
        ``b`` got worse."""
        _, fp_a, miss_a = self.result_a.image_counts(label, threshold)
        _, fp_b, miss_b = self.result_b.image_counts(label, threshold)
        return fp_a + miss_a, fp_b + miss_b

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per class with objects or detections: name, num_gt, ap_a, ap_b, diff (None for NaN)."""
        def num(v: float) -> float | None:
            return None if np.isnan(v) else float(v)

        return [{"class": self.class_names[k], "num_gt": int(self.num_gt[k]), "num_det_a": int(self.num_det_a[k]),
                 "num_det_b": int(self.num_det_b[k]), "ap_a": num(self.ap_a[k]), "ap_b": num(self.ap_b[k]),
                 "diff": num(self.ap_diff[k])}
                for k in range(1, len(self.class_names))
                if self.num_gt[k] or self.num_det_a[k] or self.num_det_b[k]]


def _split(evaluation: Any) -> tuple[EvaluationResult, Any, str]:
    """(result, COCO metrics or None, a default name) of an EvaluationOutput or an EvaluationResult."""
    if isinstance(evaluation, EvaluationResult):
        return evaluation, None, ""
    result = getattr(evaluation, "result", None)
    if not isinstance(result, EvaluationResult):
        raise ValueError(f"expected an EvaluationResult or an EvaluationOutput, got {type(evaluation).__name__}")
    return result, getattr(evaluation, "coco", None), str(getattr(getattr(evaluation, "request", None), "source", ""))


def check_same_data(a: EvaluationResult, b: EvaluationResult) -> None:
    """Raise ``ValueError`` saying what differs unless ``a`` and ``b`` scored the same images, classes and objects."""
    where = f"{a.gt.source} and {b.gt.source}"
    if a.class_names != b.class_names:
        raise ValueError(f"{where}: not the same classes ({len(a.class_names) - 1} and {len(b.class_names) - 1}); "
                         "only evaluations on the same data can be compared")
    ma, mb = a.match, b.match
    if ma.image_ids != mb.image_ids:
        raise ValueError(f"{where}: not the same images ({len(ma.image_ids)} and {len(mb.image_ids)}, or another "
                         "order); only evaluations on the same data can be compared")
    same = (np.array_equal(ma.gt_image, mb.gt_image) and np.array_equal(ma.gt_label, mb.gt_label)
            and np.array_equal(ma.gt_boxes, mb.gt_boxes) and np.array_equal(ma.gt_difficult, mb.gt_difficult))
    if not same:
        raise ValueError(f"{where}: the same images but not the same ground-truth objects ({ma.gt_label.size} and "
                         f"{mb.gt_label.size}); only evaluations on the same data can be compared")


def _ap(result: EvaluationResult, coco: Any, metric: str) -> tuple[np.ndarray, float]:
    if metric == "coco":
        cm = coco if coco is not None else result.coco()
        return cm.ap, float(cm.stats[0])
    vm = result.voc(metric == "voc07")
    return vm.ap, vm.mAP


def compare_evaluations(a: Any, b: Any, metric: str = "voc07", names: tuple[str, str] | None = None) -> Comparison:
    """Compare two evaluations of the same data.

    Args:
        a, b: :class:`core.evaluation.run.EvaluationOutput` or :class:`EvaluationResult` each.
        metric: which AP to compare (``voc07``, ``voc12`` or ``coco``; COCO uses the outputs' own
            pycocotools metrics when they have them, else computes them).
        names: labels for ``a`` and ``b`` (default: the models or detection files evaluated).

    Raises:
        ValueError: an unknown metric, or evaluations of different data (says what differs).
    """
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    ra, coco_a, name_a = _split(a)
    rb, coco_b, name_b = _split(b)
    check_same_data(ra, rb)
    ap_a, map_a = _ap(ra, coco_a, metric)
    ap_b, map_b = _ap(rb, coco_b, metric)
    return Comparison(metric=metric, names=names or (name_a or "a", name_b or "b"), class_names=ra.class_names,
                      num_gt=ra.sweep.num_gt.copy(), num_det_a=ra.sweep.num_det.copy(),
                      num_det_b=rb.sweep.num_det.copy(), ap_a=ap_a, ap_b=ap_b, ap_diff=ap_b - ap_a, map_a=map_a,
                      map_b=map_b, map_diff=map_b - map_a, result_a=ra, result_b=rb)


__all__ = ["Comparison", "compare_evaluations", "check_same_data"]
