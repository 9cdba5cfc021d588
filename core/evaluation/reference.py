"""A reference model's detections as the ground truth: evaluation without annotations.

    source = ReferenceSource("trusted.pt", images="clip.mp4", threshold=0.5, every=5)
    output = run_evaluation(EvaluationRequest(source, weights="fast_int8.pt"))
    output.caveat        # "Agreement with a model, not accuracy: ..."

The reference model runs over the frames of a video, an image folder or one image; what it detects
above ``threshold`` becomes a :class:`~core.types.DatasetIndex` in memory (one record per kept
frame, labels in the reference's class list, no difficult objects), and everything the evaluation
computes works on it unchanged: per-class AP, PR curves, the threshold sweep, the image breakdown,
the confusion matrix, COCO metrics. Records of video frames name their pixels with
:func:`core.data.frames.video_frame_path`, so the evaluated model and the image strip read the same
frames again.

Every figure is then a measure of *agreement* with the reference model, including its mistakes,
not of accuracy; :attr:`ReferenceSource.caveat` says so in words for the command line, the
``metrics.json`` and the Evaluate view. A model evaluated against itself agrees fully: AP 1 for every
class it detects above the threshold.

To evaluate several models against one reference without running it again, build it once
(:meth:`ReferenceSource.build`, a job with progress and cancel) and hand the
:class:`FixedGroundTruth` it returns to each request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.jobs import ProgressFn, StopFn, check_stop, report
from core.types import DatasetIndex, ImageRecord

CAVEAT = ("Agreement with a model, not accuracy: the ground truth is what the reference model {model} detects "
          "with a score above {threshold:.12g} on {images}; every figure measures how closely the evaluated model "
          "agrees with it, the reference's own mistakes included.")


@dataclass(frozen=True)
class FixedGroundTruth:
    """A ground truth already built (e.g. by :meth:`ReferenceSource.build`), reusable across requests.

    Attributes:
        gt: the dataset.
        text: what :meth:`describe` says.
        caveat: how to read figures computed on it ("" for real annotations).
        info: plain values describing where it came from (written into ``metrics.json``).
    """

    gt: DatasetIndex = field(repr=False)
    text: str
    caveat: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def index(self, check_images: bool = True) -> DatasetIndex:
        return self.gt

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class ReferenceSource:
    """The ground truth made by a reference model on footage (a :class:`core.evaluation.run.GroundTruthSource`).

    Attributes:
        weights: the reference model (any file :func:`core.resolve.load_detector` reads).
        images: a video file, an image folder or one image (not a camera: record it first).
        threshold: the reference's detections with a score above this are the ground truth.
        every: keep one frame in ``every`` (frames 0, N, 2N, ...).
        max_frames: keep at most this many frames (None: all).
        device, precision, runtime, batch_size: how the reference model runs (see
            :func:`core.resolve.load_detector`; the trusted model, so fp32 unless there is a reason).
        trust_code: the user's opt-in for a reference that runs code when opened (core.model_spec).
        tiles, tile_overlap: run the reference on ``"RxC"`` tiles of each frame too (core.teachers.tiling).
    """

    weights: str
    images: str
    threshold: float = 0.5
    every: int = 1
    max_frames: int | None = None
    device: str = "cpu"
    precision: str = "fp32"
    runtime: str = "torch"
    batch_size: int = 8
    trust_code: bool = False
    tiles: str | None = None
    tile_overlap: float = 0.2

    def __post_init__(self) -> None:
        self.tiling()  # a malformed --reference-tiles fails here
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"reference threshold must be in [0, 1), got {self.threshold}")
        if self.every < 1:
            raise ValueError(f"every must be >= 1 (one frame in N), got {self.every}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")

    def tiling(self) -> Any:
        from core.teachers.tiling import parse_tiling

        return parse_tiling(self.tiles, self.tile_overlap)

    @property
    def caveat(self) -> str:
        return CAVEAT.format(model=_name(self.weights), threshold=self.threshold, images=self.images)

    def info(self) -> dict[str, Any]:
        """Plain values for ``metrics.json``."""
        return {"kind": "reference_model", "weights": str(self.weights), "threshold": self.threshold,
                "images": str(self.images), "every": self.every, "max_frames": self.max_frames, "tiles": self.tiles,
                "tile_overlap": self.tile_overlap if self.tiles else None}

    def describe(self) -> str:
        return f"reference {_name(self.weights)} > {self.threshold:.12g} on {self.images}"

    def index(self, check_images: bool = True) -> DatasetIndex:
        return build_reference_index(self)

    def index_job(self, check_images: bool = True, on_progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> DatasetIndex:
        """:meth:`index` with progress (stage ``reference``, frames done of the frames kept) and cancel."""
        return build_reference_index(self, on_progress, should_stop)

    def build(self, on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> FixedGroundTruth:
        """Run the reference once; the result serves any number of :class:`EvaluationRequest`s."""
        gt = build_reference_index(self, on_progress, should_stop)
        return FixedGroundTruth(gt=gt, text=self.describe(), caveat=self.caveat, info=self.info())


def _name(model: str) -> str:
    """A model for titles: a file's name, a teacher string as it is (``owlv2:person;car``)."""
    from core.model_spec import kind_of

    try:
        return str(model) if kind_of(model) in ("torchvision", "owlv2", "grounding-dino", "plugin") else Path(model).name
    except ValueError:
        return str(model)


def _record(frame: Any, det: Any, threshold: float) -> tuple[ImageRecord, int]:
    """One frame's record from the reference's detections (scores above ``threshold``, finite only)."""
    boxes = np.asarray(det.boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(det.scores).reshape(-1)
    keep = np.isfinite(boxes).all(axis=1) & np.isfinite(scores) & (scores > threshold)
    h, w = frame.image.shape[:2]
    n = int(keep.sum())
    rec = ImageRecord(image_id=frame.image_id, file=frame.file, width=int(w), height=int(h), boxes=boxes[keep],
                      labels=np.asarray(det.labels, np.int64).reshape(-1)[keep], difficult=np.zeros(n, bool),
                      iscrowd=np.zeros(n, bool))
    return rec, int((~np.isfinite(scores) | ~np.isfinite(boxes).all(axis=1)).sum())


def build_reference_index(source: ReferenceSource, on_progress: ProgressFn | None = None,
                          should_stop: StopFn | None = None, detector: Any = None) -> DatasetIndex:
    """Run the reference model over ``source.images`` and keep its detections above the threshold.

    Args:
        source: what to run.
        on_progress: :class:`core.jobs.Progress` (stage ``reference``) after each batch.
        should_stop: polled between batches; True raises :class:`core.jobs.Cancelled`.
        detector: an already loaded reference (default: ``load_detector(source.weights)``).

    Returns:
        One record per kept frame (boxes float32 [N, 4] x1, y1, x2, y2 in pixels of the frame,
        labels into the reference's ``class_names``), frames without detections included.

    Raises:
        ValueError: a bad source (names it), or a reference that detects nothing above the threshold.
    """
    from core.data.frames import expected_frames, open_frames, sample_frames

    frames = open_frames(source.images)  # a bad source fails before the model loads
    try:
        if detector is None:
            from core.resolve import load_detector

            report(on_progress, 0, None, "reference", f"loading reference model {_name(source.weights)}")
            detector = load_detector(source.weights, device=source.device, precision=source.precision,
                                     runtime=source.runtime, trust_code=source.trust_code, tiling=source.tiling())
        total = expected_frames(frames.frame_count, source.every, source.max_frames)
        records: list[ImageRecord] = []
        bad = 0
        batch: list[Any] = []

        def flush() -> None:
            nonlocal bad
            for frame, det in zip(batch, detector.detect([f.image for f in batch], score_thresh=source.threshold)):
                rec, n_bad = _record(frame, det, source.threshold)
                records.append(rec)
                bad += n_bad
            batch.clear()
            report(on_progress, len(records), total, "reference", f"{len(records)} frames")

        for frame in sample_frames(frames, source.images, source.every, source.max_frames):
            check_stop(should_stop, f"stopped after {len(records)} frames of the reference")
            batch.append(frame)
            if len(batch) >= source.batch_size:
                flush()
        if batch:
            flush()
        warnings = list(getattr(frames, "warnings", []))
    finally:
        frames.close()
    return _reference_index(source, records, warnings, bad, tuple(detector.class_names))


def _reference_index(source: ReferenceSource, records: list[ImageRecord], warnings: list[str], bad: int,
                     class_names: tuple[str, ...]) -> DatasetIndex:
    """The index of the frames' records; ``bad`` detections were dropped as non-finite. A ValueError
    when no frame was read or the reference detected nothing above its threshold."""
    if bad:
        warnings.append(f"{source.weights}: {bad} reference detection(s) with a non-finite box or score were dropped")
    if not records:
        raise ValueError(f"{source.images}: no frame could be read" + (f" ({warnings[0]})" if warnings else ""))
    if sum(len(r.labels) for r in records) == 0:
        raise ValueError(f"the reference model {source.weights} detects nothing with a score above "
                         f"{source.threshold:.12g} in the {len(records)} frame(s) of {source.images}: there is nothing "
                         f"to agree with; lower the reference threshold")
    name = f"{Path(source.images).name} labelled by {_name(source.weights)} > {source.threshold:.12g}"
    return DatasetIndex(name=name, source=str(source.images), class_names=class_names, records=records,
                        warnings=warnings)


__all__ = ["ReferenceSource", "FixedGroundTruth", "build_reference_index", "CAVEAT"]
