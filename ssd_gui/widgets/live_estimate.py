"""The Detect view's running accuracy estimate for a tile's source (issue 21), off by default.

When switched on, a background :class:`ssd_gui.jobs.Job` runs :func:`core.evaluation.estimate.live.run_live_estimate`:
its own copy of the tile's model, the calibration ``ssd eval --estimate`` uses (read from its cache when
there, else measured, with progress here), then the extra passes on one frame every
:data:`OFFER_INTERVAL_S` of what the tile shows. It costs CPU the live model could use, so it is off until
asked for. A new source, a new model or other calibration data (a VOC folder or a COCO JSON, for a model whose
checkpoint records none) starts it again from no frame; switching it off stops it.
"""
from __future__ import annotations

import functools
import time
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from core.evaluation.estimate import EstimateRequest
from core.evaluation.estimate.live import LiveValue, NewestFrame, run_live_estimate
from core.jobs import Progress
from ssd_gui.jobs import Job
from ssd_gui.state.detect import DetectState, SourceInfo

#: Seconds between two frames handed to the estimate (it samples the source; it never queues frames).
OFFER_INTERVAL_S = 0.5
OFF_TEXT = "Off: estimates the model's mAP on this source without labels (extra passes of the model)."


class LiveEstimatePanel(QGroupBox):
    """A check box and a line of text: the running estimate of the tile's source.

    Attributes:
        options: extra :class:`EstimateRequest` fields (tests use a tiny calibration; the app uses none:
            the same calibration as ``ssd eval --estimate``, shared through its cache).
        interval_s: seconds between two frames handed to the estimate (:data:`OFFER_INTERVAL_S`).
        job: the running job, or None.
        value: the newest :class:`LiveValue` (None before the first).
    """

    value_ready = Signal(object, object)  # (the job's mailbox, a LiveValue), from the job's thread

    def __init__(self, state: DetectState, parent: QWidget | None = None) -> None:
        super().__init__("Accuracy estimate", parent)
        self.state = state
        self.options: dict[str, Any] = {}
        self.interval_s = OFFER_INTERVAL_S
        self.job: Job | None = None
        self.value: LiveValue | None = None
        self.mailbox: NewestFrame | None = None
        self._offered_t = 0.0
        self._generation: int | None = None
        self._started_with: str | None = None  # the calibration data of the running job
        self.check = QCheckBox("Estimate accuracy (no labels)", self)
        self.check.setToolTip("Runs a copy of the model four more times (as it is, with feature dropout, flipped, "
                              "rescaled) on one frame every half second and estimates its mAP on this source from "
                              "how stable its boxes are, as 'ssd eval --estimate' does. The first time for a model it "
                              "calibrates on shifted copies of its own labelled data (minutes; cached after).")
        self.label = QLabel(OFF_TEXT, self)
        self.label.setWordWrap(True)
        self.calib_edit = QLineEdit(self)
        self.calib_edit.setPlaceholderText("calibration data (empty: the model's own)")
        self.calib_edit.setToolTip("Labelled images like this source to calibrate the estimate on: a VOC folder or a "
                                   "COCO annotation JSON (as ssd eval --estimate --calibration-data). Empty: the "
                                   "validation data the model's checkpoint records.")
        layout = QVBoxLayout(self)
        layout.addWidget(self.check)
        layout.addWidget(self.label)
        layout.addWidget(self.calib_edit)
        self.check.toggled.connect(self._toggled)
        self.calib_edit.editingFinished.connect(self._on_calibration_data)
        self.value_ready.connect(self._on_value)
        state.events.model.connect(lambda _d: self.restart())
        state.events.source.connect(self._on_source)

    # ---------------------------------------------------------------- GUI thread
    @property
    def running(self) -> bool:
        return self.job is not None

    def offer(self, image: Any) -> None:
        """A frame the tile shows (HxWx3 uint8 RGB); kept when the estimate runs and its interval has passed."""
        if self.mailbox is None:
            return
        now = time.monotonic()
        if now - self._offered_t >= self.interval_s:
            self._offered_t = now
            self.mailbox.put(image)

    def restart(self) -> None:
        """Stop the running estimate and, when switched on, start again from no frame."""
        self.stop()
        if self.check.isChecked():
            self._start()

    def stop(self, wait_s: float = 0.0) -> Job | None:
        """Ask the job to stop (it ends at its next check, within a frame's passes or a calibration batch) and
        wait up to ``wait_s`` for it to end; returns it."""
        job = self.job
        self.job, self.mailbox, self.value = None, None, None
        if job is not None:
            job.cancel()
            if wait_s > 0:
                job.wait(wait_s)
        return job

    def _toggled(self, on: bool) -> None:
        if on:
            self._start()
        else:
            self.stop()
            self.label.setText(OFF_TEXT)

    def _on_calibration_data(self) -> None:
        """Other calibration data: start again with it (also after a job that failed for want of it)."""
        if self.check.isChecked() and (not self.running or self._calibration_data() != self._started_with):
            self.restart()

    def _calibration_data(self) -> str | None:
        return self.calib_edit.text().strip() or None

    def _on_source(self, info: SourceInfo | None) -> None:
        generation = info.generation if info is not None else None
        if generation != self._generation:  # a frame count corrected keeps the source (and the estimate)
            self._generation = generation
            self.restart()

    def _start(self) -> None:
        d, source = self.state.detector, self.state.source
        if d is None or getattr(d, "weights_path", None) is None:
            self.label.setText("Load a model from a file first: the estimate calibrates it on its own data.")
            return
        if source is None:
            self.label.setText("Open a source: the estimate starts with its frames.")
            return
        self._started_with = self._calibration_data()
        request = EstimateRequest(str(d.weights_path), source.spec, calibration_data=self._started_with,
                                  runtime=d.runtime, precision=d.precision, **self.options)
        self.mailbox = NewestFrame()
        self._offered_t = 0.0
        self.label.setText("Loading a copy of the model…")
        job = Job(functools.partial(run_live_estimate, request, self.mailbox,
                                    functools.partial(self.value_ready.emit, self.mailbox)), "accuracy estimate")
        self.job = job.start(finished=self._on_finished, failed=self._on_failed, progress=self._on_progress)

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if self.sender() is self.job and p.detail:
            self.label.setText(f"Calibrating: {p.detail}" if p.stage == "meta-set" else p.detail)

    @Slot(object, object)
    def _on_value(self, mailbox: NewestFrame, value: LiveValue) -> None:
        if mailbox is not self.mailbox:
            return  # a value of a job already stopped
        self.value = value
        self.label.setText(value.text() if value.frames else "Calibrated; waiting for frames…")

    @Slot(object)
    def _on_finished(self, _result: object) -> None:
        if self.sender() is self.job:
            self.job = None

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        if self.sender() is not self.job:
            return  # a stopped job's cancellation
        self.job, self.mailbox = None, None
        self.label.setText(f"No estimate: {text}")
