"""The Train view: set up a run in a dialog, watch it train, stop it, use its checkpoint.

The run itself is :func:`core.engine.train` in a :class:`ssd_gui.jobs.Job`.
Every iteration's :class:`core.engine.TrainProgress` arrives here as a queued signal; the
numbers are appended to the plots' buffers at once and drawn by a 10 Hz timer, so a fast
loop never makes the GUI redraw once per iteration.

Stop asks the engine to stop after the current iteration; it saves ``last.pt`` first.
Closing the window while a run is going asks first (:meth:`TrainView.confirm_stop`, called by
the main window), then stops the run cleanly.
"""
from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.engine import train
from core.engine.metrics import read_metrics_csv
from ssd_gui.dialogs.train_dialog import TrainDialog, default_config
from ssd_gui.jobs import Job
from ssd_gui.views.base import View
from ssd_gui.widgets.plots import SeriesPlot

PLOT_REFRESH_MS = 100


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1:02:05"``, ``65`` -> ``"1:05"``; "–" when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainView(View):
    """Training runs with live plots.

    Public API (menus, the main window and tests): :meth:`open_dialog`, :meth:`start`,
    :meth:`stop`, :meth:`is_busy`, :meth:`stop_and_wait`, :meth:`confirm_stop`,
    :meth:`open_in_detect`, :meth:`evaluate_result`, :meth:`shutdown`.
    ``result`` is the last :class:`core.engine.TrainResult`, ``config`` the last run's config.
    """

    run_started = Signal(object)           # core.engine.TrainConfig
    progress_shown = Signal(object)        # core.engine.TrainProgress, after the labels show it
    run_finished = Signal(object)          # core.engine.TrainResult
    run_failed = Signal(str)
    open_in_detect_requested = Signal(str)  # a checkpoint path
    evaluate_requested = Signal(str, object)  # a checkpoint path, EvaluateView.set_dataset keywords

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config: Any = None          # core.engine.TrainConfig of the last run started
        self.result: Any = None          # core.engine.TrainResult of the last run that ended
        self.last_progress: Any = None
        self.dialog: TrainDialog | None = None   # the set-up dialog while it is open
        self._dialog: TrainDialog | None = None
        self._worker: Job | None = None
        self.close_question: QMessageBox | None = None  # the "stop and close?" box while it is open
        self._build_ui()
        self._build_actions()
        self._plot_timer = QTimer(self)
        self._plot_timer.setInterval(PLOT_REFRESH_MS)
        self._plot_timer.timeout.connect(self._flush_plots)
        self._update_controls()

    # ================================================================== UI
    def _build_ui(self) -> None:
        self.new_button = QPushButton("New run…", self)
        self.new_button.clicked.connect(self.open_dialog)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop after the current iteration; a checkpoint (last.pt) is saved first")
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar(self)
        self.progress.setFormat("%v / %m iterations (%p%)")
        self.progress.setValue(0)
        self.eta_label = QLabel("ETA –", self)
        self.eta_label.setMinimumWidth(110)
        top = QHBoxLayout()
        top.addWidget(self.new_button)
        top.addWidget(self.stop_button)
        top.addWidget(self.progress, 1)
        top.addWidget(self.eta_label)

        self.status_label = QLabel("No run yet. Click “New run…” to set one up.", self)
        self.speed_label = QLabel("", self)
        self.lr_label = QLabel("", self)
        self.val_label = QLabel("", self)
        stats = QHBoxLayout()
        stats.setSpacing(24)
        for w in (self.status_label, self.speed_label, self.lr_label, self.val_label):
            stats.addWidget(w)
        stats.addStretch(1)

        self.loss_plot = SeriesPlot("Training loss", "loss", [("total", None), ("localization", None),
                                                               ("confidence", None)], parent=self)
        self.lr_plot = SeriesPlot("Learning rate", "lr", [("lr", (90, 90, 90))], log_y=True, parent=self)
        self.lr_plot.getAxis("left").enableAutoSIPrefix(False)  # show 1e-3, not "1 (x0.001)"
        self.map_plot = SeriesPlot("Validation", "VOC07 mAP@0.5", [("val mAP", (0, 158, 115))], symbols=True,
                                   parent=self)
        self.map_plot.setYRange(0.0, 1.0, padding=0.02)
        plots = QWidget(self)
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss_plot, 0, 0, 1, 2)
        grid.addWidget(self.lr_plot, 1, 0)
        grid.addWidget(self.map_plot, 1, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)

        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setPlaceholderText("Run messages (resume, validation, checkpoints, stop) appear here.")
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(plots)
        split.addWidget(self.log)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)

        self.result_label = QLabel("", self)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.setWordWrap(True)
        self.detect_button = QPushButton("Open in Detect", self)
        self.detect_button.setToolTip("Load this run's weights into the Detect view")
        self.detect_button.clicked.connect(self.open_in_detect)
        self.evaluate_button = QPushButton("Evaluate", self)
        self.evaluate_button.setToolTip("Evaluate this run's weights on its validation data in the Evaluate view")
        self.evaluate_button.clicked.connect(self.evaluate_result)
        bottom = QHBoxLayout()
        bottom.addWidget(self.result_label, 1)
        bottom.addWidget(self.detect_button)
        bottom.addWidget(self.evaluate_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(top)
        layout.addLayout(stats)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)

    def _build_actions(self) -> None:
        self.new_action = QAction("&New run…", self, triggered=self.open_dialog)
        self.stop_action = QAction("&Stop run", self, triggered=self.stop)

    def menu_actions(self) -> list[QAction]:
        """Entries of the main window's Train menu."""
        return [self.new_action, self.stop_action]

    def _update_controls(self) -> None:
        busy = self.is_busy()
        stopping = busy and self._worker is not None and self._worker.stop_requested
        self.new_button.setEnabled(not busy)
        self.new_action.setEnabled(not busy)
        self.stop_button.setEnabled(busy and not stopping)
        self.stop_action.setEnabled(busy and not stopping)
        has_weights = not busy and self.result is not None and Path(self.result.checkpoint).is_file()
        self.detect_button.setEnabled(has_weights)
        self.evaluate_button.setEnabled(has_weights)

    def show_error(self, text: str) -> None:
        """Show ``text`` in the view's banner and (through ``message``) the status bar."""
        self.banner.show_message(text, "error")
        self.message.emit(text, "error")
        self._log(text)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"[{time.strftime('%H:%M:%S')}] {text}")

    # ================================================================== starting
    def open_dialog(self) -> TrainDialog | None:
        """Open the run set-up dialog (window-modal, not blocking); accepting it starts the run."""
        if self.is_busy():
            return None
        if self.config is not None:
            from dataclasses import replace

            # Same settings as the last run, into a fresh folder, not resuming.
            initial = replace(self.config, out_dir=str(self._new_run_dir()), resume=None)
        else:
            initial = default_config(self._new_run_dir())
        # One dialog, reused: it keeps its size and position between runs.
        if self._dialog is None:
            self._dialog = TrainDialog(self, initial)
            self._dialog.accepted.connect(self._on_dialog_accepted)
            self._dialog.finished.connect(self._forget_dialog)
        dialog = self._dialog
        dialog.set_config(initial)
        dialog.error_label.hide()
        self.dialog = dialog
        dialog.open()
        return dialog

    @Slot()
    def _on_dialog_accepted(self) -> None:
        if self._dialog is not None:
            self.start(self._dialog.result_config)

    @Slot(int)
    def _forget_dialog(self, _result: int = 0) -> None:
        self.dialog = None

    @staticmethod
    def _new_run_dir() -> Path:
        return Path.cwd() / "runs" / time.strftime("train-%Y%m%d-%H%M%S")

    def is_busy(self) -> bool:
        """True while a run is going (including while it saves after Stop).

        The worker's ``done`` event, not the queued ``finished`` signal, decides: right after
        :meth:`stop_and_wait` the run is over even if the GUI thread has not handled the signal yet.
        """
        return self._worker is not None and not self._worker.done.is_set()

    def start(self, config: Any) -> bool:
        """Start training with ``config`` (a :class:`core.engine.TrainConfig`); False if a run is going."""
        if self._worker is not None or config is None:
            return False
        self.config = config
        self.result = None
        self.last_progress = None
        self.banner.dismiss()
        for plot in (self.loss_plot, self.lr_plot, self.map_plot):
            plot.clear_data()
        self.progress.setRange(0, 0)  # busy indicator until the first iteration says how many
        self.eta_label.setText("ETA –")
        self.status_label.setText("Preparing data and model…")
        self.speed_label.setText("")
        self.lr_label.setText("")
        self.val_label.setText("")
        self.result_label.setText("")
        what = (f"{config.data_format} data" + (f" from {config.data_path}" if config.data_path else "")
                + f", {config.arch} width {config.width:g}, {config.epochs} epoch(s), batch {config.batch_size}, "
                f"{config.optimizer} lr {config.lr:g}, device {config.device}, output {config.out_dir}"
                + (f", resuming {config.resume}" if config.resume else ""))
        self._log(f"Starting: {what}")
        self._worker = self.run_job(partial(train, config), "training", finished=self._on_finished,
                                    failed=self._on_failed, progress=self._on_progress)
        self._plot_timer.start()
        self._update_controls()
        self.message.emit(f"Training started: output in {config.out_dir}", "info")
        self.run_started.emit(config)
        return True

    # ================================================================== stopping
    def stop(self) -> None:
        """Ask the run to stop after the current iteration; it saves a checkpoint first."""
        if self._worker is None or self._worker.stop_requested:
            return
        self._worker.cancel()
        self.status_label.setText("Stopping: finishing the iteration and saving a checkpoint…")
        self._log("Stop requested: the run saves last.pt after the current iteration")
        self._update_controls()

    def stop_and_wait(self, timeout_ms: int = 120_000) -> bool:
        """Stop a running run and block until its worker has returned; True if it did in time."""
        worker = self._worker
        if worker is None:
            return True
        self.stop()
        return worker.wait(timeout_ms / 1000.0)

    def shutdown(self) -> None:
        """Called by the main window on close: stop a run cleanly (a checkpoint is saved).

        The worker is detached here: its queued ``finished``/``failed`` signals must not reach
        widgets that the closing window is about to delete.
        """
        worker = self._worker
        self.stop_and_wait()
        if worker is not None:
            for signal, slot in ((worker.progress, self._on_progress), (worker.finished, self._on_finished),
                                 (worker.failed, self._on_failed)):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):  # already disconnected
                    pass
            self._end_run()
        self._plot_timer.stop()
        super().shutdown()

    def confirm_stop(self) -> bool:
        """When a run is going, ask whether to stop it; True when nothing runs or the person agreed
        (the run is then stopped and waited for)."""
        if not self.is_busy():
            return True
        box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                          "A training run is in progress. Stop it and close?\n\n"
                          "The run saves a checkpoint (last.pt) before it stops; you can resume from it later.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        self.close_question = box
        answer = box.exec()
        self.close_question = None
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.stop_and_wait()
        return True

    # ================================================================== progress
    @Slot(object)
    def _on_progress(self, p: Any) -> None:
        self.last_progress = p
        if p.message.startswith("resumed"):
            self._load_history(p.iteration)
        if math.isfinite(p.loss):
            self.loss_plot.append("total", p.iteration, p.loss)
            self.loss_plot.append("localization", p.iteration, p.loc_loss)
            self.loss_plot.append("confidence", p.iteration, p.conf_loss)
            self.lr_plot.append("lr", p.iteration, p.lr)
        if p.val_map is not None:
            self.map_plot.append("val mAP", p.iteration, p.val_map)
            self.val_label.setText(f"validation mAP {p.val_map:.4f}")
        if self.progress.maximum() != p.total_iterations:
            self.progress.setRange(0, max(1, p.total_iterations))
        self.progress.setValue(p.iteration)
        self.eta_label.setText(f"ETA {format_duration(p.eta_s)}")
        stopping = self._worker is not None and self._worker.stop_requested
        if not stopping:
            loss = (f", loss {p.loss:.4f} (loc {p.loc_loss:.4f}, conf {p.conf_loss:.4f})"
                    if math.isfinite(p.loss) else "")
            self.status_label.setText(f"Epoch {p.epoch}, iteration {p.iteration}/{p.total_iterations}{loss}")
        self.speed_label.setText(f"{p.images_per_s:.1f} images/s, data wait {100 * p.data_wait_fraction:.0f}%")
        self.lr_label.setText(f"lr {p.lr:.3g}")
        if p.message:
            self._log(f"iteration {p.iteration}: {p.message}")
        self.progress_shown.emit(p)

    def _load_history(self, iteration: int) -> None:
        """On resume, draw the resumed run's earlier points from its ``metrics.csv``."""
        if self.config is None:
            return
        try:
            rows = read_metrics_csv(Path(self.config.out_dir) / "metrics.csv")
        except (OSError, ValueError) as exc:
            self._log(f"could not read the earlier metrics: {exc}")
            return
        for r in rows:
            it = r.get("iteration")
            if it is None or it > iteration:
                continue
            if r.get("loss") is not None:
                self.loss_plot.append("total", it, r["loss"])
                self.loss_plot.append("localization", it, r.get("loc_loss") or math.nan)
                self.loss_plot.append("confidence", it, r.get("conf_loss") or math.nan)
            if r.get("lr") is not None:
                self.lr_plot.append("lr", it, r["lr"])
            if r.get("val_map") is not None:
                self.map_plot.append("val mAP", it, r["val_map"])
        self._log(f"resumed at iteration {iteration}: {len(rows)} earlier point(s) loaded from metrics.csv")

    @Slot()
    def _flush_plots(self) -> None:
        for plot in (self.loss_plot, self.lr_plot, self.map_plot):
            plot.flush()

    def _end_run(self) -> None:
        self._worker = None
        self._plot_timer.stop()
        self._flush_plots()
        self._update_controls()

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        self.result = result
        self._end_run()
        how = "stopped" if result.stopped else "finished"
        val = f", validation mAP {result.val_map:.4f}" if result.val_map is not None else ""
        self.progress.setRange(0, max(1, self.progress.maximum()))
        self.status_label.setText(f"Run {how} after {result.iterations} iteration(s){val}")
        self.eta_label.setText("ETA –")
        resume = Path(result.run_dir) / "last.pt"
        self.result_label.setText(
            f"Weights: {result.checkpoint}" + (f"   ·   resume from: {resume}" if resume.is_file() else "")
            + f"   ·   metrics: {result.metrics_csv}")
        self._log(f"Run {how} at iteration {result.iterations}{val}; weights in {result.checkpoint}")
        self.message.emit(f"Training {how} after {result.iterations} iterations", "info")
        self.run_finished.emit(result)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self._end_run()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status_label.setText("The run failed (see the message above).")
        self.show_error(text)
        self.run_failed.emit(text)

    # ================================================================== using the result
    def open_in_detect(self) -> bool:
        """Ask for the last run's weights in the Detect view (the window connects the request)."""
        if self.result is None:
            return False
        self.open_in_detect_requested.emit(str(self.result.checkpoint))
        return True

    def evaluation_dataset(self) -> dict[str, Any]:
        """The last run's validation data as keyword arguments for ``EvaluateView.set_dataset``."""
        cfg = self.config
        if cfg.data_format == "synthetic":
            return {"kind": "synthetic", "count": cfg.val_count, "seed": cfg.val_seed, "size": cfg.synthetic_size}
        if cfg.data_format == "voc":
            first = (cfg.data_path or "").split(",")[0]
            return {"kind": "voc", "path": first, "split": cfg.val_split or "test"}
        return {"kind": "coco", "path": cfg.val_split or cfg.data_path}

    def evaluate_result(self) -> bool:
        """Ask for the last run's weights to be evaluated on its validation data (the window connects it)."""
        if self.result is None or self.config is None:
            return False
        self.evaluate_requested.emit(str(self.result.checkpoint), self.evaluation_dataset())
        return True
