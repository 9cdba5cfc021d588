"""The Train view's run status: progress, time left, the latest numbers, the run log, what the run left.

A run on unlabelled footage has two stages; the first (the teacher labelling the frames) has its own
line and progress bar above the training's, shown for such runs only.
"""
from __future__ import annotations

import math
import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from core.engine.events import EventKind
from ssd_gui.state.train import FAILED, FINISHED, IDLE, RUNNING, STOPPED, STOPPING, TrainState


def format_duration(seconds: float | None) -> str:
    """``3725`` -> ``"1:02:05"``, ``65`` -> ``"1:05"``; "–" when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunStatus(QWidget):
    """Bound to a :class:`TrainState`: the labelling stage's bar (teacher runs), the training's progress
    bar and ETA, a line of numbers, and the result."""

    def __init__(self, state: TrainState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.stage_label = QLabel("", self)
        self.stage_bar = QProgressBar(self)
        self.stage_bar.setFormat("%v / %m frames labelled (%p%)")
        self.stage_bar.setToolTip("Stage 1 of the run: the teacher labels the frames the model then trains on")
        self.progress = QProgressBar(self)
        self.progress.setFormat("%v / %m iterations (%p%)")
        self.progress.setValue(0)
        self.eta_label = QLabel("ETA –", self)
        self.eta_label.setMinimumWidth(110)
        self.status_label = QLabel("No run yet. Click “New run…” to set one up.", self)
        self.speed_label = QLabel("", self)
        self.lr_label = QLabel("", self)
        self.val_label = QLabel("", self)
        self.result_label = QLabel("", self)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.setWordWrap(True)
        stage = QHBoxLayout()
        stage.addWidget(self.stage_bar, 1)
        stage.addWidget(self.stage_label, 1)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.eta_label)
        numbers = QHBoxLayout()
        numbers.setSpacing(24)
        for w in (self.status_label, self.speed_label, self.lr_label, self.val_label):
            numbers.addWidget(w)
        numbers.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(stage)
        layout.addLayout(bar)
        layout.addLayout(numbers)
        self._show_stage(False)
        state.events.status.connect(self._on_status)
        state.events.progress.connect(self._on_progress)
        state.events.stage.connect(self._on_stage)

    def _show_stage(self, shown: bool) -> None:
        self.stage_bar.setVisible(shown)
        self.stage_label.setVisible(shown)

    def _on_stage(self, p: Any) -> None:
        from core.engine.teacher_run import STAGE_LABEL, STAGE_LABELLED

        if p.stage == STAGE_LABELLED:
            self.stage_bar.setRange(0, max(1, p.total or 1))
            self.stage_bar.setValue(max(1, p.total or 1))
            self.stage_label.setText("Stage 1 of 2 done: the teacher's labels are written. Stage 2 of 2: training")
            self.status_label.setText("Preparing data and model…")
            return
        if p.stage == STAGE_LABEL and p.total:
            self.stage_bar.setRange(0, p.total)
            self.stage_bar.setValue(min(p.done, p.total))
        elif not p.total:
            self.stage_bar.setRange(0, 0)  # busy: loading the teacher, or a source of unknown length
        what = p.detail or p.stage
        self.stage_label.setText(f"Stage 1 of 2: pseudo-labelling — {what}")
        if self.state.status == RUNNING:
            self.status_label.setText("The teacher labels the frames; training starts when they are done")

    def _on_status(self, status: str) -> None:
        s = self.state
        if status == RUNNING and s.last is None:
            self.progress.setRange(0, 0)  # busy until the run says how many iterations
            self.eta_label.setText("ETA –")
            self.status_label.setText("Preparing data and model…")
            for w in (self.speed_label, self.lr_label, self.val_label, self.result_label):
                w.setText("")
            self._show_stage(s.teacher is not None)
            if s.teacher is not None:
                self.stage_bar.setRange(0, 0)
                self.stage_label.setText(f"Stage 1 of 2: pseudo-labelling {len(s.teacher.sources)} source(s) with "
                                         f"the teacher {s.teacher.teacher}")
        elif status == STOPPED and s.result is None:  # stopped while the teacher labelled
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            n = s.labels.frames_total if s.labels is not None else 0
            self.status_label.setText(f"Run stopped while pseudo-labelling ({n} frame(s) labelled); "
                                      "Resume continues with the frames not labelled yet")
            self.result_label.setText(f"Pseudo-labels so far: {s.labels.out_dir}" if s.labels is not None else "")
        elif status == STOPPING:
            self.status_label.setText("Stopping: finishing the iteration and saving a checkpoint…")
        elif status in (FINISHED, STOPPED):
            r = s.result
            val = f", validation mAP {r.val_map:.4f}" if r.val_map is not None else ""
            self.progress.setRange(0, max(1, self.progress.maximum()))
            self.status_label.setText(f"Run {status} after {r.iterations} iteration(s){val}")
            self.eta_label.setText("ETA –")
            resume = r.run_dir / "last.pt"
            self.result_label.setText(f"Weights: {r.checkpoint}" + (f"   ·   resume from: {resume}"
                                                                     if resume.is_file() else "")
                                      + f"   ·   metrics: {r.metrics_csv}")
        elif status == FAILED:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.status_label.setText("The run failed (see the message above).")
        elif status == IDLE:
            self.status_label.setText("No run yet. Click “New run…” to set one up.")

    def _on_progress(self, p: Any) -> None:
        if p.total_iterations and self.progress.maximum() != p.total_iterations:
            self.progress.setRange(0, max(1, p.total_iterations))
        self.progress.setValue(p.iteration)
        if p.kind == EventKind.VALIDATED and p.val_map is not None:
            self.val_label.setText(f"validation mAP {p.val_map:.4f}")
        if p.kind != EventKind.STEP:
            return
        self.eta_label.setText(f"ETA {format_duration(p.eta_s)}")
        if self.state.status == RUNNING:
            loss = f", loss {p.loss:.4f} (loc {p.loc_loss:.4f}, conf {p.conf_loss:.4f})" if math.isfinite(p.loss) else ""
            self.status_label.setText(f"Epoch {p.epoch}, iteration {p.iteration}/{p.total_iterations}{loss}")
        self.speed_label.setText(f"{p.images_per_s:.1f} images/s, data wait {100 * p.data_wait_fraction:.0f}%")
        self.lr_label.setText(f"lr {p.lr:.3g}")


class RunLog(QPlainTextEdit):
    """The run's messages with the time they came (resume, validations, checkpoints, warnings, errors)."""

    def __init__(self, state: TrainState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(2000)
        self.setPlaceholderText("Run messages (resume, validation, checkpoints, dataset warnings, stop) appear here.")
        state.events.message.connect(self.add)

    def add(self, text: str, kind: str = "info") -> None:
        mark = {"warning": "warning: ", "error": "error: "}.get(kind, "")
        self.appendPlainText(f"[{time.strftime('%H:%M:%S')}] {mark}{text}")
