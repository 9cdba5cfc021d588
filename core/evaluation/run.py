"""Running an evaluation: the one function behind ``ssd eval`` and the Evaluate view.

    request = EvaluationRequest(DatasetSpec("voc", "data/VOC2007"), weights="model.pt", metric="voc07")
    output = run_evaluation(request, on_progress=print, should_stop=lambda: False)
    output.metrics            # the metrics.json content for request.metric
    output.result.sweep       # every threshold question (the GUI's slider)

The steps are small functions so that another kind of ground truth or of detections plugs in
without touching the rest: the ground truth is any object with ``index(check_images)`` and
``describe()`` (:class:`GroundTruthSource`; :class:`core.data.index.DatasetSpec` is one).
Progress is reported as :class:`core.jobs.Progress` with the stages ``load``, ``reference`` (a
reference model labelling the frames), ``model``, ``detect``, ``read``, ``match``, ``coco`` and
``sweep``; ``should_stop`` is polled between batches and steps and raises :class:`EvaluationCancelled` (partial detections would give a
wrong mAP, so nothing partial is returned).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.config import NMS_METHODS
from core.evaluation.coco import COCOMetrics
from core.evaluation.evaluate import METRICS, EvaluationResult, evaluate
from core.jobs import Cancelled, ProgressFn, StopFn, report
from core.types import DatasetIndex, Detections

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "int8")


class EvaluationCancelled(Cancelled):
    """``should_stop`` asked to stop; partial detections are not evaluated (they would give a wrong mAP)."""


@runtime_checkable
class GroundTruthSource(Protocol):
    """Where the ground truth comes from (a dataset on disk, synthetic scenes, ...)."""

    def index(self, check_images: bool = True) -> DatasetIndex:
        """The records; ``check_images`` drops (with a warning) records without an image file."""
        ...

    def describe(self) -> str:
        """A short text for titles and messages."""
        ...


@dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate against which ground truth. Exactly one of ``weights`` and ``detections``.

    Attributes:
        ground_truth: a :class:`GroundTruthSource`, e.g. ``DatasetSpec("voc", path, split)``, or a
            reference model's detections on footage (:class:`core.evaluation.reference.ReferenceSource`,
            or the :class:`~core.evaluation.reference.FixedGroundTruth` its ``build`` returns).
        weights: a model (any file :func:`core.resolve.load_detector` reads, or ``"demo"``
            where that name is known) run over the ground truth's images.
        detections: a detections file (:func:`core.evaluation.io.read_detections`).
        metric: one of :data:`~core.evaluation.evaluate.METRICS`, the one ``metrics`` reports.
        with_coco: also compute pycocotools' metrics when ``metric`` is not ``"coco"``; a failure
            then lands in ``EvaluationOutput.coco_error`` instead of ending the run.
        iou_threshold: the VOC overlap criterion (0.5).
        score_thresh: the model's score threshold (None: the model's own, 0.01 for VOC work).
        nms: "hard", "soft-linear" or "soft-gaussian" (None: the model's own, hard NMS).
        device, precision, batch_size: how the model runs.
        runtime, calibration: see :func:`core.resolve.load_detector` ("torch" or "openvino"; int8
            calibration images, by default the model's training data, else the ground truth's images).
        threshold_steps: points of the mAP-by-confidence-threshold curves, 0..1 (0: none).
        trust_code: the user's opt-in for a model that runs code when opened (core.model_spec).
        tiling: run the model on tiles of each image too (:class:`core.teachers.tiling.Tiling`, None: whole images).
    """

    ground_truth: GroundTruthSource
    weights: str | None = None
    detections: str | None = None
    metric: str = "voc07"
    with_coco: bool = False
    iou_threshold: float = 0.5
    score_thresh: float | None = None
    nms: str | None = None
    device: str = "cpu"
    precision: str = "fp32"
    batch_size: int = 8
    threshold_steps: int = 101
    runtime: str = "torch"
    calibration: Any = None
    trust_code: bool = False
    tiling: Any = None

    def __post_init__(self) -> None:
        if (self.weights is None) == (self.detections is None):
            raise ValueError("choose either a model (weights) or a detections file to evaluate, not "
                             + ("both" if self.weights is not None else "neither"))
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} is not one of {', '.join(METRICS)}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.score_thresh is not None and not 0.0 <= self.score_thresh <= 1.0:
            raise ValueError(f"score threshold must be in [0, 1], got {self.score_thresh}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.nms is not None and self.nms not in NMS_METHODS:
            raise ValueError(f"nms {self.nms!r} is not one of {', '.join(NMS_METHODS)}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if self.threshold_steps < 0:
            raise ValueError(f"threshold_steps must be >= 0, got {self.threshold_steps}")

    @property
    def source(self) -> str:
        """The model or detections file, for titles and messages."""
        return str(self.weights if self.weights is not None else self.detections)

    @property
    def needs_coco(self) -> bool:
        return self.metric == "coco" or self.with_coco


@dataclass(frozen=True)
class EvaluationOutput:
    """An evaluation ready to print, write or show; everything a threshold slider needs is here.

    Attributes:
        request: what was asked.
        result: the matching pass (``result.sweep`` answers every threshold question;
            ``result.gt`` is the ground truth that was scored).
        coco: pycocotools' metrics, or None when not asked for or failed (``with_coco``).
        coco_error: why ``coco`` is None although it was asked for ("" otherwise).
        thresholds: float64 [T], confidence thresholds of the curves below (T = threshold_steps).
        map_voc07, map_voc12: float64 [T], mAP keeping detections with ``score >= threshold``.
        metrics: the ``metrics.json`` content for ``request.metric``
            (:meth:`EvaluationResult.metrics_dict`; NaN never appears, an undefined AP is None).
    """

    request: EvaluationRequest
    result: EvaluationResult
    coco: COCOMetrics | None
    coco_error: str
    thresholds: np.ndarray
    map_voc07: np.ndarray
    map_voc12: np.ndarray
    metrics: dict[str, Any] = field(repr=False)

    @property
    def gt(self) -> DatasetIndex:
        return self.result.gt

    @property
    def caveat(self) -> str:
        """How to read the figures when the ground truth is not annotations ("" when it is): a reference
        model's output makes every figure a measure of agreement with that model, not of accuracy."""
        return str(getattr(self.request.ground_truth, "caveat", ""))

    @property
    def warnings(self) -> list[str]:
        """Problems met with the detections and the ground truth, each naming its file."""
        return list(self.metrics["warnings"])


def _check_stop(should_stop: StopFn | None, what: str) -> None:
    if should_stop is not None and should_stop():
        raise EvaluationCancelled(f"stopped {what}")


def run_detector(detector: Any, gt: DatasetIndex, batch_size: int = 8, on_progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None, score_thresh: float | None = None,
                 nms: str | None = None) -> dict[Any, Detections]:
    """Detect on every image of ``gt``.

    Args:
        detector: a :class:`core.detector.Detector` (``detect(list of HxWx3 uint8 RGB)``).
        gt: the dataset; pixels come from :func:`core.data.loader.read_image_rgb` (image files,
            or re-rendered synthetic scenes).
        batch_size: images per ``detect`` call.
        on_progress: gets ``Progress(images done, total, "detect")`` after each batch.
        should_stop: polled between batches; True raises :class:`EvaluationCancelled`.
        score_thresh: overrides the detector's score threshold (VOC evaluations use 0.01).
        nms: overrides the detector's NMS ("hard", "soft-linear", "soft-gaussian").

    Returns:
        ``{image_id: Detections}``; labels index ``detector.class_names``, boxes x1, y1, x2, y2
        in pixels of the original image.
    """
    from core.data.loader import read_image_rgb

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    records = gt.records
    out: dict[Any, Detections] = {}
    for start in range(0, len(records), batch_size):
        _check_stop(should_stop, f"after {start} of {len(records)} images")
        batch = records[start:start + batch_size]
        images = [read_image_rgb(r) for r in batch]
        options = {} if nms is None else {"nms": nms}
        for rec, img, det in zip(batch, images, detector.detect(images, score_thresh=score_thresh, **options)):
            if img.shape[0] != rec.height or img.shape[1] != rec.width:
                # boxes come back in pixels of the decoded image; the GT is in annotated pixels
                raise ValueError(f"{rec.file}: image is {img.shape[1]}x{img.shape[0]} but annotated as "
                                 f"{rec.width}x{rec.height} (image id {rec.image_id!r})")
            out[rec.image_id] = det
        done = min(start + batch_size, len(records))
        report(on_progress, done, len(records), "detect", f"{done}/{len(records)} images")
    return out


def request_ground_truth(request: EvaluationRequest, on_progress: ProgressFn | None = None,
                         should_stop: StopFn | None = None) -> DatasetIndex:
    """The ground truth of ``request`` (image files required only when a model runs).

    A source with an ``index_job(check_images, on_progress, should_stop)`` method (a reference
    model, :class:`core.evaluation.reference.ReferenceSource`) gets the progress and the stop flag.

    Raises:
        ValueError: what the reader refuses, or a ground truth without an object to count
            (every AP would be undefined: nothing to evaluate).
    """
    report(on_progress, 0, None, "load", f"reading {request.ground_truth.describe()}")
    job = getattr(request.ground_truth, "index_job", None)  # a source that runs a model reports and stops
    if job is not None:
        try:
            gt = job(check_images=request.weights is not None, on_progress=on_progress, should_stop=should_stop)
        except EvaluationCancelled:
            raise
        except Cancelled as exc:
            raise EvaluationCancelled(str(exc)) from None
    else:
        gt = request.ground_truth.index(check_images=request.weights is not None)
    counted = 0
    for r in gt.records:
        ignored = np.zeros(len(r.labels), bool)
        for flag in (r.difficult, r.iscrowd):
            if len(flag) == len(r.labels):
                ignored |= np.asarray(flag, bool)
        counted += int((~ignored).sum())
    if counted == 0:
        dropped = f"; the reader dropped or flagged: {gt.warnings[0]}" if gt.warnings else ""
        raise ValueError(f"{gt.source}: the ground truth has no object to evaluate on ({len(gt.records)} image(s) "
                         f"without annotations or with ignored ones only); nothing to evaluate{dropped}")
    return gt


def detections_from_model(request: EvaluationRequest, gt: DatasetIndex, on_progress: ProgressFn | None = None,
                          should_stop: StopFn | None = None) -> tuple[dict[Any, Detections], tuple[str, ...], list[str]]:
    """Run ``request.weights`` over ``gt``: (detections, the model's class names, warnings)."""
    from core.resolve import load_detector

    report(on_progress, 0, len(gt.records), "model", f"loading model {Path(str(request.weights)).name}")
    detector = load_detector(str(request.weights), device=request.device, precision=request.precision,
                             runtime=request.runtime, calibration=request.calibration, calibration_fallback=gt,
                             on_progress=on_progress, should_stop=should_stop, trust_code=request.trust_code,
                             tiling=request.tiling)
    dets = run_detector(detector, gt, batch_size=request.batch_size, score_thresh=request.score_thresh,
                        nms=request.nms, on_progress=on_progress, should_stop=should_stop)
    return dets, tuple(detector.class_names), []


def detections_from_file(request: EvaluationRequest, gt: DatasetIndex, on_progress: ProgressFn | None = None,
                         should_stop: StopFn | None = None) -> tuple[dict[Any, Detections], tuple[str, ...] | None, list[str]]:
    """Read ``request.detections``: (detections, the class names they index or None, warnings)."""
    from core.evaluation.io import read_detections

    report(on_progress, 0, None, "read", f"reading {Path(str(request.detections)).name}")
    images = getattr(request.ground_truth, "images", None)  # a reference model's footage: the dets must be of it
    dets, warnings, names = read_detections(str(request.detections), gt, images)
    return dets, names, warnings


def run_evaluation(request: EvaluationRequest, on_progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> EvaluationOutput:
    """Load the ground truth, get the detections (model or file), match once, compute the figures.

    Args:
        request: see :class:`EvaluationRequest`.
        on_progress: receives :class:`core.jobs.Progress` (stages in the module docstring).
        should_stop: polled between batches and steps.

    Returns:
        :class:`EvaluationOutput`.

    Raises:
        EvaluationCancelled: ``should_stop`` returned True.
        ValueError, FileNotFoundError: bad input, each message naming the file and the field.
    """
    gt = request_ground_truth(request, on_progress, should_stop)
    _check_stop(should_stop, "after reading the ground truth")
    get = detections_from_model if request.weights is not None else detections_from_file
    dets, names, read_warnings = get(request, gt, on_progress, should_stop)
    _check_stop(should_stop, "before matching")
    report(on_progress, 0, None, "match", "matching detections to the ground truth")
    result = evaluate(gt, dets, detector_class_names=names, iou_threshold=request.iou_threshold,
                      source=request.source, extra_warnings=read_warnings)
    coco, coco_error = None, ""
    if request.needs_coco:
        _check_stop(should_stop, "before the COCO metrics")
        report(on_progress, 0, None, "coco", "COCO metrics (pycocotools)")
        try:
            coco = result.coco()
        except Exception as exc:  # noqa: BLE001 - with_coco: the VOC figures stay usable; the error says why
            if request.metric == "coco":
                raise
            coco_error = f"{type(exc).__name__}: {exc}"
    _check_stop(should_stop, "before the threshold curves")
    report(on_progress, 0, None, "sweep", "mAP by threshold")
    thresholds = np.linspace(0.0, 1.0, request.threshold_steps)
    metrics = result.metrics_dict(request.metric, coco)
    caveat = getattr(request.ground_truth, "caveat", "")
    if caveat:  # the figures are agreement with a model: metrics.json says so and where it came from
        info = request.ground_truth.info
        metrics = {"caveat": caveat, "ground_truth_source": info() if callable(info) else dict(info), **metrics}
    return EvaluationOutput(request=request, result=result, coco=coco, coco_error=coco_error, thresholds=thresholds,
                            map_voc07=result.map_by_threshold(thresholds, use_07_metric=True),
                            map_voc12=result.map_by_threshold(thresholds, use_07_metric=False),
                            metrics=metrics)


__all__ = ["EvaluationRequest", "EvaluationOutput", "EvaluationCancelled", "GroundTruthSource", "run_evaluation",
           "run_detector", "request_ground_truth", "detections_from_model", "detections_from_file", "PRECISIONS"]
