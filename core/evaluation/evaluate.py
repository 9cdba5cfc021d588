"""The evaluation API used by the CLI and the GUI.

    result = evaluate(gt, detections, detector_class_names=detector.class_names)
    result.voc(use_07_metric=True).mAP        # VOC2007 11-point
    result.voc(use_07_metric=False).ap        # VOC2010+ per class, by label
    result.coco().stats                       # pycocotools' twelve numbers
    result.at_threshold(0.5)                  # TP/FP/FN, P, R, F1, AP-at-threshold per class
    result.pr_curve(label)                    # raw PR points with the confidence at each
    result.image_breakdown(label, 0.5)        # per image: TPs, FPs, missed objects

Input problems are never turned silently into numbers: detections on images the dataset
does not have, or of classes it does not know, are dropped and *counted* in
``result.warnings`` (and it is an error if nothing is left); NaN scores, non-finite boxes
and boxes with negative width or height are errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from core.evaluation.coco import COCO_STAT_NAMES, COCOMetrics, coco_metrics
from core.evaluation.curves import ImageBreakdown, PRCurve, ThresholdStats, ThresholdSweep
from core.evaluation.definitions import ap_definition
from core.evaluation.matching import MatchResult, match_flat
from core.types import DatasetIndex, Detections

METRICS: tuple[str, ...] = ("voc07", "voc12", "coco")


@dataclass(frozen=True)
class VOCMetrics:
    """VOC AP per class and mAP.

    Attributes:
        use_07_metric: True for the VOC2007 11-point AP, False for the VOC2010+ area.
        class_names: the dataset's classes.
        ap: float64 [C] by label; NaN for classes without non-difficult objects (no AP) and
            for the background.
        num_gt: int64 [C], non-difficult objects per class.
        num_det: int64 [C], detections per class (including those on difficult objects).
        mAP: mean of ``ap`` over the classes that have one (NaN if none has).
    """

    use_07_metric: bool
    class_names: tuple[str, ...]
    ap: np.ndarray
    num_gt: np.ndarray
    num_det: np.ndarray
    mAP: float


def _summ(values: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")


@dataclass(frozen=True)
class FlatDetections:
    """All detections of a dataset in one set of arrays, in dataset image order.

    Attributes:
        image: int64 [D], image index into the dataset's records (non-decreasing).
        boxes: float64 [D, 4], x1, y1, x2, y2 in continuous pixels.
        scores: float32 or float64 [D], as given (float32 when every input was float32).
        labels: int64 [D], dataset labels (>= 1).
    """

    image: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def per_image(self, num_images: int) -> list[Detections]:
        """Split back into one ``Detections`` per image (empty where an image has none)."""
        bounds = np.searchsorted(self.image, np.arange(num_images + 1))
        return [Detections(self.boxes[a:b], self.scores[a:b], self.labels[a:b])
                for a, b in zip(bounds[:-1], bounds[1:])]


def _label_map(names: tuple[str, ...], detector_class_names: Sequence[str] | None
               ) -> tuple[list[str], np.ndarray]:
    """(the detector's class names, int64 [C]: detector label -> dataset label, -1 for none), matched by
    name; without ``detector_class_names`` the labels are the dataset's own. The background maps to -1."""
    if detector_class_names is not None:
        index = {n: i for i, n in enumerate(names) if i > 0}
        det_names = list(detector_class_names)
        return det_names, np.array([index.get(n, -1) if i > 0 else -1 for i, n in enumerate(det_names)], np.int64)
    label_map = np.arange(len(names), dtype=np.int64)
    label_map[0] = -1  # the background is never a detection
    return list(names), label_map


def _concatenate(keys: list[Any], dets: list[Detections], source: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The detections of every image in one set of arrays: (owner int64 [D], the position in ``keys`` of
    each detection's image; boxes float64 [D, 4]; scores float32 or float64 [D], as given; labels int64 [D]).

    Raises:
        ValueError naming the image when its boxes, scores and labels differ in number.
    """
    boxes_l = [np.asarray(d.boxes).reshape(-1, 4) for d in dets]
    scores_l = [np.asarray(d.scores).reshape(-1) for d in dets]
    labels_l = [np.asarray(d.labels).reshape(-1) for d in dets]
    for k, b, s, lab in zip(keys, boxes_l, scores_l, labels_l):
        if not (b.shape[0] == s.shape[0] == lab.shape[0]):
            raise ValueError(f"{source}: image {k!r} has {b.shape[0]} boxes, {s.shape[0]} scores "
                             f"and {lab.shape[0]} labels")
    counts = np.array([s.shape[0] for s in scores_l], np.int64)
    if not keys or int(counts.sum()) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)
    scores = np.concatenate(scores_l)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    return (np.repeat(np.arange(len(keys)), counts), np.concatenate(boxes_l).astype(np.float64, copy=False),
            scores, np.concatenate(labels_l).astype(np.int64, copy=False))


def _check_values(keys: list[Any], owner: np.ndarray, boxes: np.ndarray, scores: np.ndarray, source: str) -> None:
    """A ValueError naming the first image (``keys[owner[i]]``) with a non-finite score or box, or a box
    with negative width or height (boxes float [D, 4] x1, y1, x2, y2)."""

    def first_bad(bad: np.ndarray) -> tuple[Any, int, int]:
        i = int(np.flatnonzero(bad)[0])
        return keys[owner[i]], int(bad[owner == owner[i]].sum()), i

    bad = ~np.isfinite(scores)
    if bad.any():
        k, n, i = first_bad(bad)
        raise ValueError(f"{source}: image {k!r} has {n} non-finite score(s), e.g. {scores[i]}")
    bad = ~np.isfinite(boxes).all(axis=1)
    if bad.any():
        k, n, i = first_bad(bad)
        raise ValueError(f"{source}: image {k!r} has a non-finite box {boxes[i].tolist()}")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        k, n, i = first_bad(bad)
        raise ValueError(f"{source}: image {k!r} has {n} box(es) with negative width or height, "
                         f"e.g. x1, y1, x2, y2 = {boxes[i].tolist()}")


def prepare_detections(gt: DatasetIndex, detections: Mapping[Any, Detections],
                       detector_class_names: Sequence[str] | None = None,
                       source: str = "detections") -> tuple[FlatDetections, list[str]]:
    """Place detections in the dataset and map their labels to dataset labels (vectorised).

    Args:
        gt: the dataset.
        detections: ``{image_id: Detections}``; labels index ``detector_class_names`` when
            given, else the dataset's ``class_names``. Boxes x1, y1, x2, y2 in continuous pixels.
        detector_class_names: the detector's classes (entry 0 the background); classes are
            matched to the dataset's by name.
        source: where the detections came from, for messages.

    Returns:
        (flat, warnings): the detections the dataset can place, in dataset image order (then
        input order within an image); scores keep float32 or float64 as given, so thresholds
        compare in that precision, as :meth:`Detections.filter` does. Dropped detections
        (unknown image ids or classes) are counted in ``warnings``.

    Raises:
        ValueError: NaN/infinite scores or boxes, negative widths or heights, or nothing left
            after dropping detections the dataset cannot place.
    """
    warnings: list[str] = []
    det_names, label_map = _label_map(tuple(gt.class_names), detector_class_names)
    id_to_index = {r.image_id: i for i, r in enumerate(gt.records)}
    keys = list(detections.keys())
    owner, boxes, scores, labels = _concatenate(keys, [detections[k] for k in keys], source)
    total = int(owner.shape[0])
    if total == 0:
        empty = FlatDetections(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
        return empty, warnings
    _check_values(keys, owner, boxes, scores, source)

    key_image = np.array([id_to_index.get(k, -1) for k in keys], np.int64)
    image = key_image[owner]
    unknown_image = image < 0
    if unknown_image.any():
        per_key = np.bincount(owner[unknown_image], minlength=len(keys))
        missing = [keys[j] for j in np.flatnonzero(per_key)]
        warnings.append(f"{source}: {int(unknown_image.sum())} detection(s) on {len(missing)} image "
                        f"id(s) not in {gt.source} were ignored: {_summ(missing)}")
    in_range = (labels >= 0) & (labels < label_map.shape[0])
    mapped = np.full(labels.shape, -1, np.int64)
    mapped[in_range] = label_map[labels[in_range]]
    unknown_label = (mapped < 0) & ~unknown_image
    if unknown_label.any():
        raw, n_each = np.unique(labels[unknown_label], return_counts=True)
        shown = [det_names[r] if 0 <= r < len(det_names) else int(r) for r in raw]
        warnings.append(f"{source}: {int(n_each.sum())} detection(s) of {len(shown)} class(es) "
                        f"unknown to {gt.source} were ignored: {_summ(shown)}")
    keep = np.flatnonzero(~unknown_image & (mapped >= 0))
    if keep.size == 0:
        raise ValueError(f"{source}: none of the {total} detections could be placed in {gt.source}; "
                         + " ".join(warnings))
    # dataset image order, input order within an image: the tie-break of the matching
    keep = keep[np.argsort(image[keep], kind="stable")]
    flat = FlatDetections(image=image[keep], boxes=boxes[keep], scores=scores[keep], labels=mapped[keep])
    return flat, warnings


@dataclass(frozen=True)
class EvaluationResult:
    """Everything one matching pass gives; all figures are computed on demand from it.

    Attributes:
        gt: the dataset.
        match: the devkit matching at ``match.iou_threshold``.
        sweep: threshold-dependent figures.
        warnings: counted problems with the detections (dropped ones).
    """

    gt: DatasetIndex
    match: MatchResult
    sweep: ThresholdSweep
    warnings: tuple[str, ...]

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.gt.class_names)

    def voc(self, use_07_metric: bool) -> VOCMetrics:
        """VOC AP per class and mAP over all detections."""
        stats = self.sweep.at_threshold(-np.inf, use_07_metric)
        return VOCMetrics(use_07_metric=use_07_metric, class_names=self.class_names, ap=stats.ap,
                          num_gt=self.sweep.num_gt.copy(), num_det=self.sweep.num_det.copy(), mAP=stats.mAP)

    def coco(self) -> COCOMetrics:
        """pycocotools' COCO metrics on the validated ground truth (see :func:`core.evaluation.coco.coco_metrics`)."""
        return coco_metrics(self.gt, self.detections_per_image())

    def detections_per_image(self) -> list[Detections]:
        """What was evaluated: one ``Detections`` per record, dataset labels, boxes float64."""
        m = self.match
        return FlatDetections(m.det_image, m.det_boxes, m.det_score, m.det_label).per_image(len(m.image_ids))

    def at_threshold(self, threshold: float, use_07_metric: bool = False) -> ThresholdStats:
        """Per-class TP/FP/FN, precision, recall, F1 and AP keeping ``score >= threshold``."""
        return self.sweep.at_threshold(threshold, use_07_metric)

    def pr_curve(self, label: int) -> PRCurve:
        """Raw PR points of one class with the confidence at each."""
        return self.sweep.pr_curve(label)

    def map_by_threshold(self, thresholds: Sequence[float] | np.ndarray, use_07_metric: bool = False) -> np.ndarray:
        """mAP at each threshold: float64 [T]."""
        return self.sweep.map_by_threshold(thresholds, use_07_metric)

    def ap_by_threshold(self, label: int, thresholds: Sequence[float] | np.ndarray,
                        use_07_metric: bool = False) -> np.ndarray:
        """AP of one class at each threshold: float64 [T]."""
        return self.sweep.ap_by_threshold(label, thresholds, use_07_metric)

    def confusion_matrix(self, threshold: float, iou_threshold: float | None = None) -> Any:
        """:func:`core.evaluation.confusion.confusion_matrix` at ``threshold`` (and another IoU if given)."""
        from core.evaluation.confusion import confusion_matrix

        return confusion_matrix(self, threshold, iou_threshold)

    def confidence_curves(self, thresholds: Sequence[float] | np.ndarray | None = None) -> Any:
        """Precision, recall, F1 against the threshold and the best-F1 thresholds
        (:func:`core.evaluation.confidence.confidence_curves`)."""
        from core.evaluation.confidence import confidence_curves

        return confidence_curves(self.sweep, thresholds)

    def image_breakdown(self, label: int | None, threshold: float, only_with_content: bool = True,
                        images: Sequence[int] | np.ndarray | None = None) -> list[ImageBreakdown]:
        """Per image TPs, FPs and missed objects (see :meth:`ThresholdSweep.image_breakdown`)."""
        return self.sweep.image_breakdown(label, threshold, only_with_content, images)

    def image_counts(self, label: int | None, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per image kept TPs, kept FPs and missed objects, int64 [num_images] each."""
        return self.sweep.image_counts(label, threshold)

    def metrics_dict(self, metric: str, coco: COCOMetrics | None = None) -> dict[str, Any]:
        """The ``metrics.json`` content for ``metric`` in ``voc07``, ``voc12``, ``coco``.

        ``{"metric", "ap_definition" (:mod:`core.evaluation.definitions`), "mAP", "per_class": {name:
        {"ap", "num_gt", "num_det"}}, "num_images", "warnings"}``; COCO adds ``"coco": {the twelve
        summary numbers}`` and per-class ``"ap50"``, ``"ap_small"``, ``"ap_medium"``, ``"ap_large"``,
        ``"ar1"``, ``"ar10"``, ``"ar100"`` (pycocotools' own, by object size and detections per image);
        an AP that does not exist is ``null``.
        """
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose from {METRICS}")
        num_gt, num_det = self.sweep.num_gt, self.sweep.num_det
        out: dict[str, Any] = {"metric": metric, "ap_definition": ap_definition(metric).text,
                               "iou_threshold": self.match.iou_threshold,
                               "num_images": len(self.gt.records), "gt": self.gt.source}
        if metric == "coco":
            cm = coco if coco is not None else self.coco()
            ap, ap_main = cm.ap, float(cm.stats[0])
            out["mAP"] = ap_main
            out["coco"] = cm.as_dict()
        else:
            vm = self.voc(metric == "voc07")
            ap, out["mAP"] = vm.ap, (None if np.isnan(vm.mAP) else vm.mAP)
        per_class = {}
        for label in range(1, len(self.class_names)):
            entry: dict[str, Any] = {"ap": None if np.isnan(ap[label]) else float(ap[label]),
                                     "num_gt": int(num_gt[label]), "num_det": int(num_det[label])}
            if metric == "coco":
                for key in ("ap50",) + tuple(name for _, name in COCOMetrics.PER_CLASS_STATS):
                    value = getattr(cm, key)[label]
                    entry[key] = None if np.isnan(value) else float(value)
            per_class[self.class_names[label]] = entry
        out["per_class"] = per_class
        out["warnings"] = list(self.warnings) + list(self.gt.warnings)
        return out


def evaluate(gt: DatasetIndex, detections: Mapping[Any, Detections],
             detector_class_names: Sequence[str] | None = None, iou_threshold: float = 0.5,
             source: str = "detections", extra_warnings: Sequence[str] = ()) -> EvaluationResult:
    """Match detections to the ground truth once and return the result object.

    Args:
        gt: the dataset (boxes x1, y1, x2, y2 in continuous pixels).
        detections: ``{image_id: Detections}``, image ids as in ``gt``.
        detector_class_names: the classes the detections' labels index (matched to the
            dataset's by name); None when the labels are already dataset labels.
        iou_threshold: the VOC overlap criterion (0.5). COCO metrics use their own IoUs.
        source: where the detections came from, for messages.
        extra_warnings: warnings met while reading the detections, carried into the result.
    """
    flat, warnings = prepare_detections(gt, detections, detector_class_names, source)
    match = match_flat(gt, flat.image, flat.boxes, flat.scores, flat.labels, iou_threshold)
    return EvaluationResult(gt=gt, match=match, sweep=ThresholdSweep(match),
                            warnings=tuple(extra_warnings) + tuple(warnings))


__all__ = ["evaluate", "EvaluationResult", "VOCMetrics", "FlatDetections", "prepare_detections", "METRICS", "COCO_STAT_NAMES"]
