"""Functions the views run as :class:`ssd_gui.jobs.Job` s where core has no single function for them yet.

Each has core's job shape (``on_progress``, ``should_stop``). ``export_source`` moves to
``core.inference`` and ``evaluate`` to ``core.evaluation.run`` as those land; the GUI then calls
core directly, as the CLI does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.engine.config import VAL_SEED
from core.jobs import Cancelled, check_stop, report

ProgressFn = Callable[[Any], None]
StopFn = Callable[[], bool]


def load_coco_detector(device: str = "cpu", precision: str = "fp32", allow_download: bool = True,
                       on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> Any:
    """torchvision's COCO SSD300 from torchvision's cache, else downloaded (progress in bytes, stage "download")."""
    from core import load_detector
    from core.weights import fetch_torchvision_coco

    dest = fetch_torchvision_coco(allow_download=allow_download,
                                  on_progress=lambda done, total: report(on_progress, done, total, "download"),
                                  should_stop=should_stop)
    return load_detector(dest, device=device, precision=precision, optimize=True)


@dataclass(frozen=True)
class ExportResult:
    """Files written by :func:`export_source`, the frames processed, the video codec and the warnings."""

    video_path: str | None
    json_path: str | None
    frames: int
    cancelled: bool
    video_codec: str | None = None
    warnings: tuple[str, ...] = ()


def export_source(spec: str, detector: Any, video_path: str | Path | None, json_path: str | Path | None,
                  min_score: float, labels: set[int] | None, fps: float | None = None,
                  run_score_thresh: float = 0.05, on_progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> ExportResult:
    """:func:`core.inference.run_inference` (the function of ``ssd detect``) over the file source
    ``spec``, keeping the detections of ``score >= min_score`` and a label in ``labels``.
    Cancelling keeps what was done so far (``cancelled=True``)."""
    from core.inference import run_inference
    from core.video import open_source

    with open_source(spec) as src:
        if src.is_live:
            raise ValueError(f"cannot export '{spec}': live sources are not exported")
        result = run_inference(detector, src, json_path=json_path, video_path=video_path,
                               score_thresh=max(min_score, run_score_thresh), labels=labels, video_fps=fps,
                               on_progress=on_progress, should_stop=should_stop)
    return ExportResult(None if result.video_path is None else str(result.video_path),
                        None if result.json_path is None else str(result.json_path),
                        result.frames_done, result.partial, result.video_codec, result.warnings)


@dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate against which dataset.

    Exactly one of ``weights`` (a model file, run over the dataset's images) and
    ``detections`` (a file read by :func:`core.evaluation.io.read_detections`) is set.

    Attributes:
        dataset_kind: "synthetic", "voc" (``dataset_path`` a VOC folder, ``split`` its image
            set) or "coco" (``dataset_path`` the annotation JSON).
        synthetic_count, synthetic_seed, synthetic_size: the synthetic scenes (square side in px).
        device, batch_size, score_thresh: how the model runs (``score_thresh`` None = the model's).
        iou_threshold: the VOC overlap criterion.
        with_coco: also compute pycocotools' metrics (AP@[.5:.95]).
    """

    dataset_kind: str
    dataset_path: str | None = None
    split: str = "test"
    synthetic_count: int = 20
    synthetic_seed: int = VAL_SEED
    synthetic_size: int = 300
    weights: str | None = None
    detections: str | None = None
    device: str = "cpu"
    batch_size: int = 8
    score_thresh: float | None = None
    iou_threshold: float = 0.5
    with_coco: bool = True

    @property
    def source(self) -> str:
        """The model or detections file, for titles and messages."""
        return str(self.weights if self.weights is not None else self.detections)


@dataclass(frozen=True)
class EvaluationOutput:
    """An evaluation ready to be shown; everything the threshold slider needs is precomputed.

    Attributes:
        request: what was asked.
        result: the matching pass (``result.sweep`` answers every threshold question).
        coco: pycocotools' metrics, or None when they were not computed or failed.
        coco_error: why ``coco`` is None ("" when it was not asked for).
        thresholds: float64 [T], confidence thresholds of the mAP-by-threshold curves.
        map_voc07, map_voc12: float64 [T], mAP keeping detections with ``score >= threshold``.
    """

    request: EvaluationRequest
    result: Any
    coco: Any
    coco_error: str
    thresholds: np.ndarray
    map_voc07: np.ndarray
    map_voc12: np.ndarray


def _dataset(request: EvaluationRequest, need_images: bool) -> Any:
    kind = request.dataset_kind
    if kind == "synthetic":
        from core.data.synthetic import synthetic_index

        size = int(request.synthetic_size)
        gt = synthetic_index(request.synthetic_count, request.synthetic_seed, (size, size))
    elif kind in ("voc", "coco"):
        if not request.dataset_path:
            raise ValueError(f"a {kind.upper()} dataset needs a path (got {request.dataset_path!r})")
        from core.evaluation.io import load_ground_truth

        gt = load_ground_truth(request.dataset_path, split=request.split, check_images=need_images)
    else:
        raise ValueError(f"unknown dataset kind {kind!r}; choose 'synthetic', 'voc' or 'coco'")
    if len(gt.records) == 0:
        raise ValueError(f"{gt.source}: the dataset has no images to evaluate on")
    return gt


def evaluate(request: EvaluationRequest, on_progress: ProgressFn | None = None,
             should_stop: StopFn | None = None, threshold_steps: int = 101) -> EvaluationOutput:
    """Load the dataset, run the model (or read the detections), match once, precompute the curves."""
    from core.evaluation import evaluate as evaluate_dataset

    req = request
    if (req.weights is None) == (req.detections is None):
        raise ValueError("choose either a model file or a detections file to evaluate")
    report(on_progress, 0, None, "dataset", "reading the dataset")
    gt = _dataset(req, need_images=req.weights is not None)
    if req.weights is not None:
        from core.detector import load_detector
        from core.evaluation.run import run_detector

        report(on_progress, 0, len(gt.records), "model", f"loading model {Path(req.weights).name}")
        detector = load_detector(req.weights, device=req.device)
        dets = run_detector(detector, gt, batch_size=req.batch_size, score_thresh=req.score_thresh,
                            on_progress=on_progress,  # run_detector reports Progress(done, total, "detect")
                            should_stop=should_stop)
        result = evaluate_dataset(gt, dets, detector_class_names=detector.class_names,
                                  iou_threshold=req.iou_threshold, source=str(req.weights))
    else:
        from core.evaluation.io import read_detections

        report(on_progress, 0, None, "read", f"reading {Path(str(req.detections)).name}")
        dets, read_warnings, names = read_detections(str(req.detections), gt)
        result = evaluate_dataset(gt, dets, detector_class_names=names, iou_threshold=req.iou_threshold,
                                  source=str(req.detections), extra_warnings=read_warnings)
    check_stop(should_stop, "stopped after matching")
    coco, coco_error = None, ""
    if req.with_coco:
        report(on_progress, 0, None, "coco", "COCO metrics (pycocotools)")
        try:
            coco = result.coco()
        except Exception as exc:  # noqa: BLE001 - the VOC figures stay usable; the table says why
            coco_error = f"{type(exc).__name__}: {exc}"
    report(on_progress, 0, None, "curves", "mAP by threshold")
    thresholds = np.linspace(0.0, 1.0, threshold_steps)
    return EvaluationOutput(request=req, result=result, coco=coco, coco_error=coco_error, thresholds=thresholds,
                            map_voc07=result.map_by_threshold(thresholds, use_07_metric=True),
                            map_voc12=result.map_by_threshold(thresholds, use_07_metric=False))


__all__ = ["Cancelled", "EvaluationOutput", "EvaluationRequest", "ExportResult", "evaluate", "export_source",
           "load_coco_detector"]
