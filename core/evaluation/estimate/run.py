"""Estimating a model's accuracy on footage nobody labelled: the one function behind ``ssd eval --estimate``
and the Evaluate view's "no labels: estimate accuracy".

    output = run_estimate(EstimateRequest("model.pt", images="clip.mp4"), on_progress=print)
    output.estimate, output.interval      # e.g. 0.62, (0.55, 0.69)
    output.summary_lines()                # what to print: an estimate, and how far to trust it
    output.metrics()                      # the metrics.json content

Steps: open the footage (a source with too few frames is refused before any work), load the model,
calibrate it (:func:`calibrate_model`: cached per weights file), measure the signals on the footage,
apply the fit. Progress stages: ``model`` (and the runtime's own while it loads), ``meta-set``, ``signals``; ``should_stop`` is polled
between batches and raises :class:`core.jobs.Cancelled`. A footage on which the signals cannot be
measured (no detections, too few frames) is a ValueError that says why, never a number.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from core.evaluation.estimate.calibrate import (DEFAULT_IMAGES, MIN_IMAGES, build_meta_set, calibration_data,
                                                set_list)
from core.evaluation.estimate.corruptions import LEVELS
from core.evaluation.estimate.fit import COVERAGE, CalibrationSet, LinearFit, choose_fit
from core.evaluation.estimate.output import METRIC_NAMES, EstimateOutput
from core.evaluation.estimate.scoring import Measured, SignalSettings, measure_images
from core.evaluation.estimate.store import cache_file, calibration_key, load_cached, store_cached
from core.jobs import ProgressFn, StopFn, report

#: Fewer frames than this give no estimate (the calibration sets have :data:`DEFAULT_IMAGES` images each).
MIN_FRAMES = 10


@dataclass(frozen=True)
class EstimateRequest:
    """What to estimate.

    Attributes:
        weights: the model (any file :func:`core.resolve.load_detector` reads, or ``demo``).
        images: the footage: a video file, an image folder or an image.
        calibration_data: labelled images to calibrate on (a VOC folder or a COCO JSON); None: what the
            checkpoint records (:func:`core.evaluation.estimate.calibrate.calibration_data`).
        metric: "voc07", "voc12" or "coco": the mAP estimated.
        every, max_frames: keep one frame in ``every``, at most ``max_frames``.
        device, runtime, precision, calibration, trust_code: how the model runs (as
            :func:`core.resolve.load_detector`; ``calibration`` is the int8 quantization's, not this one).
        settings: how the signals are measured.
        calibration_images, min_calibration_images: images per calibration set; fewer available is an error.
        sets: the calibration's (corruption, severity) pairs (None: all of the family).
        coverage: what the interval is built to hold.
        min_frames: fewer footage frames (or frames with boxes) than this give no estimate.
        cache_dir: the cache root (None: core.runtime.cache's); ``use_cache`` False recalibrates.
    """

    weights: str
    images: str
    calibration_data: str | None = None
    metric: str = "voc07"
    every: int = 1
    max_frames: int | None = None
    device: str = "cpu"
    runtime: str = "torch"
    precision: str = "fp32"
    calibration: Any = None
    trust_code: bool = False
    settings: SignalSettings = SignalSettings()
    calibration_images: int = DEFAULT_IMAGES
    min_calibration_images: int = MIN_IMAGES
    sets: tuple[tuple[str, int], ...] | None = None
    coverage: float = COVERAGE
    min_frames: int = MIN_FRAMES
    cache_dir: str | None = None
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.metric not in METRIC_NAMES:
            raise ValueError(f"metric {self.metric!r} is not one of {', '.join(METRIC_NAMES)}")
        if self.min_frames < 2:
            raise ValueError(f"min_frames must be >= 2, got {self.min_frames}")
        if not 0.0 < self.coverage < 1.0:
            raise ValueError(f"interval coverage must be in (0, 1), got {self.coverage}")


@dataclass(frozen=True)
class Calibration:
    """A model's calibration: the meta-set, the fit used, every candidate fit, where it is cached."""

    sets: list[CalibrationSet] = field(repr=False)
    fit: LinearFit
    candidates: list[LinearFit] = field(repr=False)
    source: str
    metric: str
    cache_file: str | None = None
    cached: bool = False
    notes: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        return {"source": self.source, "metric": self.metric, "sets": [s.as_dict() for s in self.sets],
                "fit": self.fit.as_dict(), "candidates": [c.as_dict() for c in self.candidates]}

    @staticmethod
    def from_record(record: dict[str, Any], path: Path) -> "Calibration":
        return Calibration([CalibrationSet.from_dict(s) for s in record["sets"]], LinearFit.from_dict(record["fit"]),
                           [LinearFit.from_dict(c) for c in record["candidates"]], str(record["source"]),
                           str(record["metric"]), str(path), cached=True)


def calibrate_model(detector: Any, request: EstimateRequest, on_progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> Calibration:
    """The calibration of ``detector`` for ``request``: from the cache when this weights file was calibrated
    with the same images and settings, else measured (the long part: every set of the meta-set) and cached.

    Raises:
        ValueError: no calibration data, too few images, or a meta-set that cannot be fitted (says why).
    """
    from core.runtime.cache import file_sha256

    data = calibration_data(detector.meta, request.weights, request.calibration_data, request.calibration_images,
                            request.min_calibration_images)
    common = set(data.gt.class_names[1:]) & set(detector.class_names[1:])
    if not common:
        raise ValueError(f"{data.description}: its classes ({', '.join(data.gt.class_names[1:6])}, ...) and the "
                         f"model's ({', '.join(detector.class_names[1:6])}, ...) have no name in common, so its mAP "
                         f"cannot be measured there: calibrate on labelled images of the model's own classes")
    pairs = list(request.sets) if request.sets is not None else set_list()
    parts = {"data": data.key, "settings": request.settings.as_dict(), "metric": request.metric,
             "runtime": detector.runtime, "precision": detector.precision, "sets": pairs, "levels": LEVELS,
             "coverage": request.coverage}
    weights_file = Path(str(detector.weights_path)) if detector.weights_path else None
    path = (cache_file(file_sha256(weights_file), calibration_key(parts), request.cache_dir)
            if weights_file is not None and weights_file.is_file() else None)
    if path is not None and request.use_cache:
        record = load_cached(path)
        if record is not None:
            report(on_progress, 1, 1, "meta-set", f"calibration read from the cache ({path.name})")
            return Calibration.from_record(record, path)
    sets = build_meta_set(detector, data, request.settings, request.metric, pairs, on_progress=on_progress,
                          should_stop=should_stop)
    fit, candidates = choose_fit(sets, coverage=request.coverage)
    calibration = Calibration(sets, fit, candidates, data.description, request.metric)
    problem = store_cached(path, {**calibration.record(), "weights": str(weights_file), "key": parts}) if path else (
        "the model is not a file on disk, so its calibration is not cached")
    return replace(calibration, cache_file=None if problem else str(path), notes=(problem,) if problem else ())


def _open_footage(request: EstimateRequest) -> tuple[Any, int | None]:
    """(the open frame source, the frames it will give or None); a ValueError when they are too few."""
    from core.data.frames import expected_frames, open_frames

    frames = open_frames(request.images)
    total = expected_frames(frames.frame_count, request.every, request.max_frames)
    if total is not None and total < request.min_frames:
        frames.close()
        raise ValueError(_too_few(request, total))
    return frames, total


def _too_few(request: EstimateRequest, n: int) -> str:
    what = "one frame" if n == 1 else f"{n} frames"
    return (f"{request.images}: {what} to estimate from; an accuracy estimate needs at least {request.min_frames} "
            f"(its calibration sets have {request.calibration_images} images each): give a longer video, more "
            f"images, or a smaller --every")


def measure_footage(detector: Any, request: EstimateRequest, frames: Any, total: int | None,
                    on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> Measured:
    """The signals on the footage's frames (``temporal`` too for a video); the source is closed after."""
    from core.data.frames import sample_frames
    from core.io.video import VideoFileSource

    try:
        images = (f.image for f in sample_frames(frames, request.images, request.every, request.max_frames))
        return measure_images(detector, images, request.settings, total=total,
                              temporal=isinstance(frames, VideoFileSource), on_progress=on_progress,
                              should_stop=should_stop)
    finally:
        frames.close()


def _check_measurable(request: EstimateRequest, measured: Measured, fit: LinearFit, classes: Sequence[str]) -> None:
    """A ValueError when the footage gives the fit nothing to stand on: too few frames, no boxes."""
    n = len(measured.detections)
    if n < request.min_frames:
        raise ValueError(_too_few(request, n))
    t = request.settings.score_thresh
    if measured.boxes_per_image == 0:
        raise ValueError(f"{request.images}: the model detects nothing with a score of at least {t:g} in the {n} "
                         f"frames: there are no boxes whose stability could be measured, so no estimate is given "
                         f"(the footage may show none of the model's classes: {_names(classes)})")
    for f in fit.features:
        scored = measured.signals[f].scored
        if scored < request.min_frames:
            raise ValueError(f"{request.images}: the model keeps boxes on both passes of '{f}' in only {scored} of "
                             f"the {n} frames; at least {request.min_frames} are needed for an estimate")


def _names(classes: Sequence[str], limit: int = 8) -> str:
    real = [c for c in classes if c != "__background__"]
    return ", ".join(real[:limit]) + (f", ... ({len(real)} in all)" if len(real) > limit else "")


def load_model(request: EstimateRequest, on_progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> Any:
    """The detector ``request`` names, loaded as it says (device, precision, runtime, int8 calibration,
    ``trust_code``), optimised for inference."""
    from core.resolve import load_detector

    return load_detector(request.weights, device=request.device, precision=request.precision,
                         runtime=request.runtime, calibration=request.calibration, optimize=True,
                         on_progress=on_progress, should_stop=should_stop, trust_code=request.trust_code)


def run_estimate(request: EstimateRequest, on_progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> EstimateOutput:
    """Estimate the mAP of ``request.weights`` on ``request.images`` (see the module docstring).

    Raises:
        ValueError / FileNotFoundError: bad input, each message naming the file and the problem.
        core.jobs.Cancelled: ``should_stop`` returned True.
    """
    frames, total = _open_footage(request)
    try:
        report(on_progress, 0, None, "model", f"loading model {Path(str(request.weights)).name}")
        detector = load_model(request, on_progress, should_stop)
        calibration = calibrate_model(detector, request, on_progress, should_stop)
    except BaseException:
        frames.close()
        raise
    measured = measure_footage(detector, request, frames, total, on_progress, should_stop)
    _check_measurable(request, measured, calibration.fit, detector.class_names)
    return EstimateOutput.build(request, detector, calibration, measured)


__all__ = ["MIN_FRAMES", "Calibration", "EstimateRequest", "calibrate_model", "load_model", "measure_footage",
           "run_estimate"]
