"""One pass over a set of images: the detector's own detections and every stability signal.

    measured = measure_images(detector, images, SignalSettings())
    measured.signals["bos"].value       # Box Stability score, in [0, 1]
    measured.detections                 # the detector's detections (its own score threshold)

Per batch of images the detector runs up to four times: as it is (these detections are also the ones
an mAP is computed from), with feature-map dropout (BoS; needs the PyTorch model), on the horizontally
flipped images (``flip``), and on the images shrunk to :data:`~core.evaluation.estimate.signals.SCALE_FACTOR`
and padded (``scale``); the boxes of the last two are mapped back to the original image. Only boxes
with a score of at least ``SignalSettings.score_thresh`` enter the agreements (the detector's low-score
candidates are many and unstable by nature; BoS scores the detector's output boxes). Each of the three
agreements is measured twice from the same matching: as BoS defines it (``bos``, ``flip``, ``scale``:
the mean IoU of matched pairs) and with every unmatched box counted as IoU 0 (``bos_union``,
``flip_union``, ``scale_union``: :func:`~core.evaluation.estimate.pooled.union_agreement`, which sees
the boxes a shift makes the model lose). ``confidence`` is the mean score of the first pass's boxes
scoring at least ``SignalSettings.confidence_floor``
(:func:`~core.evaluation.estimate.pooled.mean_confidence`). For a video, ``temporal`` compares the
boxes of each frame with those of the next one kept.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from core.evaluation.estimate.dropout import DROPOUT_P, detect_with_dropout, torch_model_of
from core.evaluation.estimate.pooled import CONFIDENCE_FLOOR, Signal, mean_confidence, union_agreement
from core.evaluation.estimate.signals import (SCALE_FACTOR, agreement, flip_boxes, shrink_and_pad,
                                              unshrink_boxes)
from core.jobs import ProgressFn, StopFn, check_stop, report
from core.types import Detections

#: The signals a calibration can fit on (``temporal`` needs consecutive frames, which calibration
#: images are not, so it is measured on videos and reported, never fitted).
SIGNALS: tuple[str, ...] = ("bos", "flip", "scale", "bos_union", "flip_union", "scale_union", "confidence")
#: The three agreements (one extra pass each); each gives a BoS-style signal and a ``_union`` one.
AGREEMENTS: tuple[str, ...] = ("bos", "flip", "scale")
SIGNAL_NAMES = {"bos": "box stability under feature dropout (BoS)", "flip": "agreement with the flipped image",
                "scale": f"agreement with the image at {SCALE_FACTOR:g}x scale",
                "bos_union": "BoS with lost boxes counted as 0",
                "flip_union": "flip agreement with lost boxes counted as 0",
                "scale_union": f"{SCALE_FACTOR:g}x-scale agreement with lost boxes counted as 0",
                "confidence": "mean box confidence",
                "temporal": "agreement between neighbouring frames"}


@dataclass(frozen=True)
class SignalSettings:
    """How the signals are measured (part of a calibration's cache key: the footage must use the same).

    Attributes:
        score_thresh: boxes scoring at least this enter the agreements.
        confidence_floor: boxes scoring at least this enter ``confidence``.
        dropout_p: BoS's feature-map dropout rate.
        scale: the shrink factor of the scale agreement.
        seed: the dropout masks of batch ``k`` (images ``k*batch_size ...``) come from ``seed + k``.
        batch_size: images per forward pass.
    """

    score_thresh: float = 0.3
    confidence_floor: float = CONFIDENCE_FLOOR
    dropout_p: float = DROPOUT_P
    scale: float = SCALE_FACTOR
    seed: int = 0
    batch_size: int = 8

    def __post_init__(self) -> None:
        if not 0.0 < self.score_thresh < 1.0:
            raise ValueError(f"signal score threshold must be in (0, 1), got {self.score_thresh}")
        if not 0.0 <= self.confidence_floor < 1.0:
            raise ValueError(f"confidence floor must be in [0, 1), got {self.confidence_floor}")
        if not 0.0 < self.scale < 1.0:
            raise ValueError(f"scale factor must be in (0, 1), got {self.scale}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Measured:
    """What :func:`measure_images` found.

    Attributes:
        detections: one per image, at the detector's own score threshold (boxes x1, y1, x2, y2 in pixels).
        signals: name -> :class:`Agreement` (``bos``, ``flip``, ``scale``, ``temporal``) or
            :class:`~core.evaluation.estimate.pooled.PooledSignal` (``*_union``, ``confidence``); both
            have ``value`` and ``scored``. ``bos`` and ``bos_union`` only when the detector has a PyTorch
            model, ``temporal`` only when asked for.
        boxes_per_image: mean number of boxes at or above the signal threshold.
        mean_score: mean score of those boxes (None without any).
        notes: sentences for the user (e.g. why BoS is missing).
    """

    detections: list[Detections] = field(repr=False)
    signals: dict[str, Signal]
    boxes_per_image: float
    mean_score: float | None
    notes: tuple[str, ...] = ()

    def values(self) -> dict[str, float | None]:
        """name -> value of each signal measured (None: nothing to measure)."""
        return {k: a.value for k, a in self.signals.items()}


def _boxes(dets: Sequence[Detections], thresh: float) -> list[np.ndarray]:
    return [np.asarray(d.boxes, np.float64)[np.asarray(d.scores) >= thresh] for d in dets]


def set_signals(pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]], clean: Sequence[Detections],
                settings: SignalSettings, has_torch: bool) -> dict[str, Signal]:
    """Every signal of :data:`SIGNALS` from the box pairs of each agreement and the first pass's detections.

    Args:
        pairs: agreement name (:data:`AGREEMENTS`) -> one (boxes of the first pass float [N, 4], boxes of the
            other pass float [M, 4], x1, y1, x2, y2 in pixels of the image) per image, both already at
            ``settings.score_thresh``; ``bos`` is read only when ``has_torch``.
        clean: the first pass's detections, one per image (all its scores; ``confidence`` applies the floor).
        has_torch: whether the dropout pass ran (False: neither ``bos`` nor ``bos_union``).
    """
    measured = [name for name in AGREEMENTS if name != "bos" or has_torch]
    out: dict[str, Signal] = {name: agreement(pairs[name]) for name in measured}
    out.update({f"{name}_union": union_agreement(pairs[name]) for name in measured})
    out["confidence"] = mean_confidence((d.scores for d in clean), settings.confidence_floor)
    return out


class SignalAccumulator:
    """:func:`measure_images` one batch at a time: each :meth:`add_batch` runs the detector's passes on its
    images and keeps their boxes; :meth:`measured` gives the signals of the images kept (the running
    estimate of a live source keeps a window of its newest frames, :meth:`drop_oldest`).

    The dropout masks of the ``k``-th batch come from ``settings.seed + k``, as in :func:`measure_images`.
    """

    def __init__(self, detector: Any, settings: SignalSettings = SignalSettings()) -> None:
        self.detector, self.settings = detector, settings
        self.has_torch = torch_model_of(detector) is not None
        self.clean: list[Detections] = []
        self.pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in AGREEMENTS}
        self.batches = 0

    def __len__(self) -> int:
        return len(self.clean)

    def add_batch(self, batch: Sequence[np.ndarray]) -> None:
        """Run every pass on ``batch`` (HxWx3 uint8 RGB images) and keep the boxes."""
        if not batch:
            return
        s, detector = self.settings, self.detector
        dets = detector.detect(list(batch))
        self.clean.extend(dets)
        ref = _boxes(dets, s.score_thresh)
        if self.has_torch:
            self.pairs["bos"] += zip(ref, _boxes(detect_with_dropout(detector, batch, s.seed + self.batches,
                                                                     s.dropout_p), s.score_thresh))
        flipped = _boxes(detector.detect([np.ascontiguousarray(im[:, ::-1]) for im in batch]), s.score_thresh)
        self.pairs["flip"] += zip(ref, (flip_boxes(b, im.shape[1]) for b, im in zip(flipped, batch)))
        scaled = _boxes(detector.detect([shrink_and_pad(im, s.scale) for im in batch]), s.score_thresh)
        self.pairs["scale"] += zip(ref, (unshrink_boxes(b, im.shape, s.scale) for b, im in zip(scaled, batch)))
        self.batches += 1

    def drop_oldest(self, n: int) -> None:
        """Forget the first ``n`` images' boxes (``n`` <= 0: nothing); later batches keep their dropout seeds."""
        if n > 0:
            del self.clean[:n]
            for v in self.pairs.values():
                del v[:n]

    def measured(self, temporal: bool = False) -> Measured:
        """The signals of the images kept (``temporal``: of consecutive images too)."""
        s, clean = self.settings, self.clean
        signals = set_signals(self.pairs, clean, s, self.has_torch)
        high = _boxes(clean, s.score_thresh)
        if temporal:
            signals["temporal"] = agreement(zip(high[:-1], high[1:]))
        scores = np.concatenate([np.asarray(d.scores)[np.asarray(d.scores) >= s.score_thresh] for d in clean]
                                ) if clean else np.zeros(0)
        notes = () if self.has_torch else (
            "BoS needs the PyTorch model for its dropout pass and this model is an exported network; the "
            "flip and scale agreements stand in for it",)
        return Measured(detections=list(clean), signals=signals, boxes_per_image=float(np.mean([len(b) for b in high]))
                        if high else 0.0, mean_score=float(scores.mean()) if scores.size else None, notes=notes)


def measure_images(detector: Any, images: Iterable[np.ndarray], settings: SignalSettings = SignalSettings(),
                   total: int | None = None, temporal: bool = False, on_progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None, stage: str = "signals") -> Measured:
    """Run ``detector`` over ``images`` (HxWx3 uint8 RGB, in order) and measure the signals.

    Args:
        detector: a :class:`core.detector.Detector` (any runtime; BoS needs its PyTorch model).
        total: the number of images, for progress (None: unknown).
        temporal: also measure the agreement of consecutive images (frames of a video).
        on_progress: ``Progress(images done, total, stage)`` after each batch.
        should_stop: polled between batches; True raises :class:`core.jobs.Cancelled`.
    """
    acc = SignalAccumulator(detector, settings)
    batch: list[np.ndarray] = []

    def flush() -> None:
        acc.add_batch(batch)
        batch.clear()
        report(on_progress, len(acc), total, stage, f"{len(acc)} images")

    for image in images:
        check_stop(should_stop, f"stopped after {len(acc)} images")
        batch.append(image)
        if len(batch) >= settings.batch_size:
            flush()
    if batch:
        flush()
    return acc.measured(temporal)


__all__ = ["AGREEMENTS", "SIGNALS", "SIGNAL_NAMES", "Measured", "SignalAccumulator", "SignalSettings", "measure_images",
           "set_signals"]
