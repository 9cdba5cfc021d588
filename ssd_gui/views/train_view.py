"""The Train view: set up a run in a dialog, watch it train, stop it, resume it, use its checkpoint.

The run itself is :func:`core.engine.train` (the function of ``ssd train``) in a
:class:`ssd_gui.jobs.Job`. Every :class:`core.engine.TrainProgress` goes into the view's
:class:`ssd_gui.state.train.TrainState`; the plots draw its points on a timer and the status widgets
listen to it. Stop asks the engine to stop after the current iteration (it saves ``last.pt``
first); Resume continues that run in the same folder, its curves carrying on from ``metrics.csv``.
Closing the window during a run asks first (:meth:`TrainView.confirm_stop`, called by the main window).

A run whose data source is unlabelled footage and a teacher is
:func:`core.engine.teacher_run.pseudo_label_then_train` in the same job: the labelling stage's
``core.jobs.Progress`` events go to the state's ``stage`` (a bar of its own), then training goes on as
any run. Stop during the labelling keeps the frames done; Resume labels the rest, then trains.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QPushButton, QSplitter, QVBoxLayout, QWidget

from core.detector import available_devices
from core.engine import EventKind, TrainConfig, TrainProgress, read_metrics_csv, train
from core.engine.teacher_run import TeacherRunResult, TeacherStage, pseudo_label_then_train
from ssd_gui import settings
from ssd_gui.dialogs.train_dialog import TrainDialog, new_run_dir, suggested_config
from ssd_gui.jobs import Job
from ssd_gui.state.train import STOPPING, TrainState
from ssd_gui.views.base import View
from ssd_gui.widgets.run_status import RunLog, RunStatus, format_duration
from ssd_gui.widgets.train_plots import TrainPlots

__all__ = ["TrainView", "format_duration"]
SETTINGS_KEY = "train/last_config"
TEACHER_KEY = "train/last_teacher"  # the last run's teacher stage, or None


class TrainView(View):
    """Training runs with live plots.

    Public API (menus, the main window, tests): :meth:`open_dialog`, :meth:`start`, :meth:`stop`,
    :meth:`resume`, :meth:`is_busy`, :meth:`stop_and_wait`, :meth:`confirm_stop`, :meth:`open_in_detect`,
    :meth:`evaluate_result`, :meth:`shutdown`. ``state`` holds the run (``config``, ``result``, points).
    """

    run_started = Signal(object)           # core.engine.TrainConfig
    progress_shown = Signal(object)        # core.engine.TrainProgress, after the labels show it
    stage_shown = Signal(object)           # core.jobs.Progress of the pseudo-labelling stage, after it is shown
    run_finished = Signal(object)          # core.engine.TrainResult (a TeacherRunResult: stopped while labelling)
    run_failed = Signal(str)
    open_in_detect_requested = Signal(str)  # a checkpoint path
    evaluate_requested = Signal(str, object)  # a checkpoint path, EvaluateView.set_dataset keywords

    def __init__(self, parent: QWidget | None = None, state: TrainState | None = None) -> None:
        super().__init__(parent)
        self.state = state or TrainState()
        self.dialog: TrainDialog | None = None   # the set-up dialog while it is open
        self._dialog: TrainDialog | None = None
        self._job: Job | None = None
        self.close_question: QMessageBox | None = None  # the "stop and close?" box while it is open
        self._build_ui()
        self.state.events.status.connect(lambda _: self._update_controls())
        self.state.events.progress.connect(self.progress_shown.emit)
        self.state.events.stage.connect(self.stage_shown.emit)
        self._update_controls()

    # ================================================================== UI
    def _build_ui(self) -> None:
        s = self.state
        self.new_button = QPushButton("New run…", self)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop after the current iteration; a checkpoint (last.pt) is saved first")
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.setToolTip("Continue the stopped run in its folder, from its last.pt")
        self.status = RunStatus(s, self)
        top = QHBoxLayout()
        for w in (self.new_button, self.stop_button, self.resume_button):
            top.addWidget(w)
        top.addWidget(self.status, 1)
        self.plots = TrainPlots(s, self)
        self.loss_plot, self.lr_plot, self.map_plot = self.plots.loss_plot, self.plots.lr_plot, self.plots.map_plot
        self.log = RunLog(s, self)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.plots)
        split.addWidget(self.log)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        self.detect_button = QPushButton("Open in Detect", self)
        self.detect_button.setToolTip("Load this run's weights into the Detect view")
        self.evaluate_button = QPushButton("Evaluate", self)
        self.evaluate_button.setToolTip("Evaluate this run's weights on its validation data in the Evaluate view")
        bottom = QHBoxLayout()
        bottom.addWidget(self.status.result_label, 1)
        bottom.addWidget(self.detect_button)
        bottom.addWidget(self.evaluate_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)
        self.new_action = QAction("&New run…", self, triggered=self.open_dialog)
        self.stop_action = QAction("&Stop run", self, triggered=self.stop)
        self.resume_action = QAction("&Resume run", self, triggered=self.resume)
        for button, slot in ((self.new_button, self.open_dialog), (self.stop_button, self.stop),
                             (self.resume_button, self.resume), (self.detect_button, self.open_in_detect),
                             (self.evaluate_button, self.evaluate_result)):
            button.clicked.connect(slot)

    def menu_actions(self) -> list[QAction]:
        """Entries of the main window's Train menu."""
        return [self.new_action, self.stop_action, self.resume_action]

    def _update_controls(self) -> None:
        s = self.state
        busy, stopping = s.busy, s.status == STOPPING
        resumable = s.resumable() is not None
        for w in (self.new_button, self.new_action):
            w.setEnabled(not busy)
        for w in (self.stop_button, self.stop_action):
            w.setEnabled(busy and not stopping)
        for w in (self.resume_button, self.resume_action):
            w.setEnabled(resumable)
        has_weights = not busy and s.result is not None and Path(s.result.checkpoint).is_file()
        self.detect_button.setEnabled(has_weights)
        self.evaluate_button.setEnabled(has_weights)

    @property
    def config(self) -> Any:
        return self.state.config

    @property
    def result(self) -> Any:
        return self.state.result

    @property
    def last_progress(self) -> Any:
        return self.state.last

    # ================================================================== starting
    def initial_config(self) -> TrainConfig:
        """What the dialog proposes: the last run's settings (or the saved ones, or what suits this
        machine), into a fresh folder, not resuming."""
        base = self.state.config
        if base is None:
            saved = settings.get(SETTINGS_KEY)
            try:
                base = TrainConfig.from_dict(saved, "saved Train settings") if isinstance(saved, dict) else None
            except (ValueError, TypeError):
                base = None
        if base is None:
            return suggested_config(available_devices(), new_run_dir())
        return replace(base, out_dir=str(new_run_dir()), resume=None, overwrite=False)

    def initial_teacher(self) -> TeacherStage | None:
        """The teacher stage the dialog proposes: the last run's (or the saved one), if it had one."""
        if self.state.config is not None:
            return self.state.teacher
        saved = settings.get(TEACHER_KEY)
        try:
            return TeacherStage.from_dict(saved, "saved Train settings") if isinstance(saved, dict) else None
        except ValueError:
            return None

    def open_dialog(self) -> TrainDialog | None:
        """Open the run set-up dialog (window-modal, not blocking); accepting it starts the run."""
        if self.is_busy():
            return None
        initial = self.initial_config()
        # One dialog, reused: it keeps its size and position between runs.
        if self._dialog is None:
            self._dialog = TrainDialog(self, initial, available_devices())
            self._dialog.accepted.connect(self._on_dialog_accepted)
            self._dialog.finished.connect(self._forget_dialog)
        dialog = self._dialog
        dialog.set_config(initial, self.initial_teacher())
        dialog.error_label.hide()
        self.dialog = dialog
        dialog.open()
        return dialog

    @Slot()
    def _on_dialog_accepted(self) -> None:
        if self._dialog is not None and self._dialog.result_config is not None:
            cfg, teacher = self._dialog.result_config, self._dialog.result_teacher
            settings.put(SETTINGS_KEY, cfg.to_dict())
            settings.put(TEACHER_KEY, teacher.to_dict() if teacher is not None else None)
            self.start(cfg, teacher)

    @Slot(int)
    def _forget_dialog(self, _result: int = 0) -> None:
        self.dialog = None

    def is_busy(self) -> bool:
        """True while a run is going (including while it saves after Stop).

        The job's ``done`` event, not the queued ``finished`` signal, decides: right after
        :meth:`stop_and_wait` the run is over even if the GUI thread has not handled the signal yet.
        """
        return self._job is not None and not self._job.done.is_set()

    def start(self, config: TrainConfig, teacher: TeacherStage | None = None) -> bool:
        """Start training with ``config``, after labelling ``teacher``'s sources when given; False if a run
        is going."""
        if self._job is not None or config is None:
            return False
        self.banner.dismiss()
        self.state.start(config, teacher)
        what = (f"{config.data_format} data" + (f" from {config.data_path}" if config.data_path else "")
                + f", {config.arch} width {config.width:g}, {config.epochs} epoch(s), batch {config.batch_size}, "
                f"{config.optimizer} lr {config.lr:g}, device {config.device}, output {config.out_dir}"
                + (f", resuming {config.resume}" if config.resume else ""))
        if teacher is not None:
            what = (f"the teacher {teacher.teacher} labels one frame in {teacher.every} of "
                    f"{', '.join(teacher.sources)} (score > {teacher.score_thresh:g}"
                    + (f", classes {', '.join(teacher.classes)}" if teacher.classes else "")
                    + f"){', distilling from it' if teacher.distill else ''}; then {what}")
        self.state.log(f"Starting: {what}")
        work = partial(train, config) if teacher is None else partial(pseudo_label_then_train, config, teacher)
        self._job = self.run_job(work, "training", finished=self._on_finished,
                                 failed=self._on_failed, progress=self._on_progress)
        self.say(f"Training started: output in {config.out_dir}")
        self.run_started.emit(config)
        return True

    def resume(self) -> bool:
        """Continue the last run in its own folder from its ``last.pt`` (or, stopped while the teacher
        labelled, from the frames it had labelled); False when there is nothing to continue."""
        left = self.state.resumable()
        if left is None:
            return False
        resume = str(left) if left.name == "last.pt" else None
        return self.start(replace(self.state.config, resume=resume, overwrite=False), self.state.teacher)

    # ================================================================== stopping
    def stop(self) -> None:
        """Ask the run to stop after the current iteration; it saves a checkpoint first."""
        if self._job is None or self._job.stop_requested:
            return
        self._job.cancel()
        self.state.stopping()
        if self.state.teacher is not None and self.state.last is None:
            self.state.log("Stop requested: the labelling stops after the current frames, which are kept")
        else:
            self.state.log("Stop requested: the run saves last.pt after the current iteration")

    def stop_and_wait(self, timeout_ms: int = 120_000) -> bool:
        """Stop a running run and block until its job has returned; True if it did in time."""
        job = self._job
        if job is None:
            return True
        self.stop()
        return job.wait(timeout_ms / 1000.0)

    def shutdown(self) -> None:
        """Called by the main window on close: stop a run cleanly (a checkpoint is saved).

        The job is detached here: its queued ``finished``/``failed`` signals must not reach widgets
        that the closing window is about to delete.
        """
        job = self._job
        self.stop_and_wait()
        if job is not None:
            for signal, slot in ((job.progress, self._on_progress), (job.finished, self._on_finished),
                                 (job.failed, self._on_failed)):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):  # already disconnected
                    pass
            self._job = None
        super().shutdown()

    def confirm_stop(self) -> bool:
        """When a run is going, ask whether to stop it; True when nothing runs or the person agreed
        (the run is then asked to stop; the window waits for it, saying so)."""
        if not self.is_busy():
            return True
        box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                          "A training run is in progress. Stop it and close?\n\n"
                          "The run saves a checkpoint (last.pt) before it stops; you can resume it later.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        self.close_question = box
        answer = box.exec()
        self.close_question = None
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.stop()
        return True

    # ================================================================== progress
    @Slot(object)
    def _on_progress(self, p: Any) -> None:
        if not isinstance(p, TrainProgress):  # the pseudo-labelling stage's core.jobs.Progress
            self.state.record_stage(p)
            return
        if p.kind == EventKind.RESUMED:
            self._load_history(p.iteration)
        elif p.kind == EventKind.WARNING:
            self.show_info(p.message, topic="dataset")
        self.state.record(p)

    def _load_history(self, iteration: int) -> None:
        """On resume, the resumed run's earlier points from its ``metrics.csv``."""
        try:
            rows = read_metrics_csv(Path(self.state.config.out_dir) / "metrics.csv")
        except (OSError, ValueError) as exc:
            self.state.log(f"could not read the earlier metrics: {exc}", "warning")
            return
        used = self.state.load_history(rows, iteration)
        self.state.log(f"resumed at iteration {iteration}: {used} earlier point(s) loaded from metrics.csv")

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        self._job = None
        self.state.finish(result)
        if isinstance(result, TeacherRunResult):
            if result.train is None:
                self.state.log(f"Run stopped while pseudo-labelling: {result.labels.frames_total} frame(s) labelled "
                               f"in {result.labels.out_dir}; Resume continues")
                self.say("Training stopped while pseudo-labelling")
                self.run_finished.emit(result)
                return
            result = result.train
        how = "stopped" if result.stopped else "finished"
        val = f", validation mAP {result.val_map:.4f}" if result.val_map is not None else ""
        self.state.log(f"Run {how} at iteration {result.iterations}{val}; weights in {result.checkpoint}")
        self.say(f"Training {how} after {result.iterations} iterations")
        self.run_finished.emit(result)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self._job = None
        self.state.fail(text)
        self.show_error(text)
        self.run_failed.emit(text)

    # ================================================================== using the result
    def open_in_detect(self) -> bool:
        """Ask for the last run's weights in the Detect view (the window connects the request)."""
        if self.state.result is None:
            return False
        self.open_in_detect_requested.emit(str(self.state.result.checkpoint))
        return True

    def evaluation_dataset(self) -> dict[str, Any]:
        """The last run's validation data as keyword arguments for ``EvaluateView.set_dataset``."""
        cfg = self.state.config
        if cfg.data_format == "synthetic":
            return {"kind": "synthetic", "count": cfg.val_count, "seed": cfg.val_seed, "size": cfg.synthetic_size}
        if cfg.data_format in ("voc", "yolo"):
            first = (cfg.data_path or "").split(",")[0] if cfg.data_format == "voc" else cfg.data_path or ""
            return {"kind": cfg.data_format, "path": first, "split": cfg.val_split or ""}
        return {"kind": "coco", "path": cfg.val_split or cfg.data_path}

    def evaluate_result(self) -> bool:
        """Ask for the last run's weights to be evaluated on its validation data (the window connects it)."""
        if self.state.result is None or self.state.config is None:
            return False
        self.evaluate_requested.emit(str(self.state.result.checkpoint), self.evaluation_dataset())
        return True
