"""How long the run a form describes will take on this machine, measured before Start."""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QWidget

from ssd_gui.jobs import Job
from ssd_gui.widgets.run_status import format_duration

SETTLE_MS = 800  # the form must be still this long before a measurement starts (each one trains a few steps)


class EstimateLabel(QLabel):
    """Runs :func:`core.engine.estimate.estimate_run_seconds` (a few real training steps of the run's
    model on its data) in a job whenever the form settles, and shows the answer as it refines: the
    run's size first, then an estimate after each timed step. Nothing waits for it: Start works at
    any moment, and a measurement still running is cancelled.

    Args:
        config: returns the form's ``TrainConfig`` (``ValueError`` while a field is invalid; None when the
            run's training data does not exist yet, e.g. pseudo-labels still to be written).
    """

    def __init__(self, config: Callable[[], Any], parent: QWidget | None = None) -> None:
        super().__init__("Estimated time: –", parent)
        self.setWordWrap(True)
        self._config = config
        self._job: Job | None = None
        self.seconds: float | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self.measure)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.schedule()

    def schedule(self) -> None:
        """The form changed: measure again once it settles (only while it is shown)."""
        self.cancel()
        if self.isVisible():
            self.setText("Estimated time: …")
            self._timer.start()

    def cancel(self) -> None:
        self._timer.stop()
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def measure(self) -> Job | None:
        """Start measuring the form's run now; None when a field is not valid yet."""
        from core.engine.estimate import estimate_run_seconds

        self.cancel()
        self.seconds = None
        try:
            cfg = self._config()
        except ValueError:
            self.setText("Estimated time: – (a field above is not valid yet)")
            return None
        if cfg is None:
            self.setText("Estimated time: – (measured once the teacher has labelled the frames the run trains on)")
            return None
        self.setText("Estimated time: preparing the data and the model to time a few training steps…")
        self._job = Job(partial(estimate_run_seconds, cfg), "estimating the run's time")
        return self._job.start(finished=self._on_done, failed=self._on_failed, progress=self._on_progress)

    def _on_progress(self, est: Any) -> None:
        if self.sender() is not self._job:
            return
        size = f"{est.iterations:,} iterations of {est.batch_size} images"
        if est.seconds is None:
            self.setText(f"Estimated time: {size}; timing the first training steps on this machine…")
            return
        steps = f"{est.steps_timed} timed step{'s' if est.steps_timed != 1 else ''}"
        self.setText(f"Estimated time on this machine: about {self._when(est.seconds)} (h:mm:ss; {size}; from "
                     f"{steps}{'' if est.final else ', refining…'})")

    def _on_done(self, seconds: float) -> None:
        if self.sender() is not self._job:
            return  # a measurement the form has moved on from
        self._job = None
        self.seconds = float(seconds)
        if "about" not in self.text():  # no step was reported (cannot happen with core's estimate; be plain)
            self.setText(f"Estimated time on this machine: about {self._when(seconds)} (h:mm:ss)")

    @staticmethod
    def _when(seconds: float) -> str:
        return format_duration(seconds) if math.isfinite(seconds) else "unknown"

    def _on_failed(self, text: str) -> None:
        if self.sender() is not self._job:
            return
        self._job = None
        self.setText(f"Estimated time: unknown — {text}")
