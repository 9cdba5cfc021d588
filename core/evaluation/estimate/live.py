"""A running accuracy estimate for a source as it plays: the Detect view's "Estimate accuracy" (off by
default: it runs the model's extra passes on the frames it samples).

    live = LiveEstimate(detector, calibration, request)     # request: an EstimateRequest, as ssd eval's
    value = live.add(frame)       # after every ``settings.batch_size`` frames: a LiveValue, else None
    value.text()                  # "estimated mAP 0.62 [0.51, 0.73] from the last 24 of 24 frames", or why not

The frames added are measured exactly as :func:`core.evaluation.estimate.run.measure_footage` measures a
video's (the same passes, batches and dropout seeds, :class:`~core.evaluation.estimate.scoring.SignalAccumulator`),
and the estimate is :meth:`EstimateOutput.build` on the newest ``window`` frames: on the same frames it is
the number ``ssd eval --estimate`` gives (without the temporal agreement: sampled frames are not
neighbours). Until there is an estimate, :attr:`LiveValue.reason` says why (too few frames, no boxes).

:func:`run_live_estimate` is the whole background job: load its own copy of the model (the live
pipeline's model is never switched into dropout under it), calibrate (from the cache when ``ssd eval
--estimate`` or the Evaluate view already did, else measured with progress), then take the newest frame
from a :class:`NewestFrame` until stopped.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from core.evaluation.estimate.output import EstimateOutput
from core.evaluation.estimate.run import (Calibration, EstimateRequest, _check_measurable, calibrate_model,
                                          load_model)
from core.evaluation.estimate.scoring import SignalAccumulator
from core.jobs import ProgressFn, StopFn, check_stop, report

#: The estimate is measured on at most this many of the newest frames (older ones are dropped).
DEFAULT_WINDOW = 200


@dataclass(frozen=True)
class LiveValue:
    """The running estimate after some frames.

    Attributes:
        frames: frames measured so far (all of them, not only the window's).
        output: the estimate (None until there is one).
        reason: why there is no estimate yet (None when there is one).
    """

    frames: int
    output: EstimateOutput | None
    reason: str | None

    def text(self) -> str:
        """One line for the panel."""
        if self.output is None:
            return str(self.reason)
        o = self.output
        lo, hi = o.interval
        return (f"estimated mAP {o.estimate:.2f} [{lo:.2f}, {hi:.2f}] from the last {o.frames} of {self.frames} "
                f"frames" + (" (outside the calibration range: trust it less)" if o.outside else ""))


class LiveEstimate:
    """Frames in, the running estimate out (module docstring).

    Args:
        detector: a :class:`core.detector.Detector` used by nothing else while this runs (BoS switches its
            dropout on).
        calibration: its :class:`~core.evaluation.estimate.run.Calibration` for ``request``.
        request: the settings (signals, ``min_frames``) and ``images``, the source's name in messages.
        window: measure the newest ``window`` frames (>= ``request.min_frames``).
    """

    def __init__(self, detector: Any, calibration: Calibration, request: EstimateRequest,
                 window: int = DEFAULT_WINDOW) -> None:
        if window < request.min_frames:
            raise ValueError(f"live estimate window must be >= min_frames ({request.min_frames}), got {window}")
        self.detector, self.calibration, self.request, self.window = detector, calibration, request, window
        self.acc = SignalAccumulator(detector, request.settings)
        self.frames = 0
        self._batch: list[np.ndarray] = []

    def add(self, image: np.ndarray) -> LiveValue | None:
        """Add one frame (HxWx3 uint8 RGB); after each full batch the current value, else None."""
        self._batch.append(image)
        if len(self._batch) < self.request.settings.batch_size:
            return None
        self.acc.add_batch(self._batch)
        self.frames += len(self._batch)
        self._batch = []
        self.acc.drop_oldest(len(self.acc) - self.window)
        return self.current()

    def current(self) -> LiveValue:
        """The estimate on the newest frames measured (frames still waiting for a full batch are not in it)."""
        n, need = self.frames, self.request.min_frames
        if n < need:
            return LiveValue(n, None, f"{n} of the {need} frames an estimate needs have been measured")
        measured = self.acc.measured()
        try:
            _check_measurable(self.request, measured, self.calibration.fit, self.detector.class_names)
        except ValueError as exc:
            return LiveValue(n, None, str(exc))
        return LiveValue(n, EstimateOutput.build(self.request, self.detector, self.calibration, measured), None)


class NewestFrame:
    """A one-frame mailbox between the GUI thread (:meth:`put`) and the estimate's job (:meth:`take`): a frame
    put before the last one was taken replaces it (the estimate samples, it never queues)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._image: np.ndarray | None = None
        self.replaced = 0

    def put(self, image: np.ndarray) -> None:
        with self._cond:
            if self._image is not None:
                self.replaced += 1
            self._image = image
            self._cond.notify()

    @property
    def pending(self) -> bool:
        """Whether a frame waits to be taken."""
        with self._cond:
            return self._image is not None

    def take(self, timeout_s: float) -> np.ndarray | None:
        """The newest frame not taken yet, waiting up to ``timeout_s``; None when none came."""
        with self._cond:
            if self._image is None:
                self._cond.wait(timeout_s)
            image, self._image = self._image, None
            return image


def run_live_estimate(request: EstimateRequest, frames: NewestFrame, on_value: Callable[[LiveValue], None],
                      window: int = DEFAULT_WINDOW, on_progress: ProgressFn | None = None,
                      should_stop: StopFn | None = None, poll_s: float = 0.1) -> None:
    """Load ``request.weights``, calibrate, then estimate on the frames put into ``frames`` until
    ``should_stop`` (which raises :class:`core.jobs.Cancelled`: the job's only way to end).

    ``on_value`` gets a :class:`LiveValue` once calibrated (no frame yet) and after every batch.

    Raises:
        ValueError: the model cannot be calibrated (no calibration data, too few images: the message says why).
    """
    report(on_progress, 0, None, "model", "loading a copy of the model for the estimate")
    detector = load_model(request, on_progress, should_stop)
    calibration = calibrate_model(detector, request, on_progress, should_stop)
    live = LiveEstimate(detector, calibration, request, window)
    on_value(live.current())
    while True:
        check_stop(should_stop, "the running estimate was stopped")
        image = frames.take(poll_s)
        if image is not None:
            value = live.add(image)
            if value is not None:
                on_value(value)


__all__ = ["DEFAULT_WINDOW", "LiveEstimate", "LiveValue", "NewestFrame", "run_live_estimate"]
