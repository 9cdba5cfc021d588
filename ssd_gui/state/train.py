"""The Train tab's state, without Qt: the run (its configuration, status, latest event, result), the
points of its curves, and the messages the run sent.

Progress events are :class:`core.engine.TrainProgress` with a typed ``kind``; nothing here parses
their text. A run on unlabelled footage (:func:`core.engine.teacher_run.pseudo_label_then_train`) first
sends the pseudo-labelling stage's :class:`core.jobs.Progress` events, kept apart as the run's ``stage``. The curves are plain lists the plot widget draws from (on a timer, so a fast loop never
redraws once per iteration).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.engine.events import EventKind
from ssd_gui.state.events import Events

#: name -> (plot, series) of every curve the Train view draws.
SERIES: tuple[str, ...] = ("total", "localization", "confidence", "lr", "val mAP")
#: The statuses of a run: what the buttons offer depends on them.
IDLE, RUNNING, STOPPING, FINISHED, STOPPED, FAILED = "idle", "running", "stopping", "finished", "stopped", "failed"


class TrainState:
    """What the Train tab shows.

    Events (``state.events.<name>.connect(callback)``):
        status(str): the run's status changed (see the constants).
        progress(TrainProgress): an event of the run arrived (after the curves took its numbers).
        stage(Progress): an event of the pseudo-labelling stage arrived (``core.jobs.Progress``).
        history(): the curves were reset or refilled (a new run, a resumed one).
        message(str, str): a line for the run log, and its kind ("info", "warning", "error").
    """

    def __init__(self) -> None:
        self.events = Events("status", "progress", "stage", "history", "message")
        self.config: Any = None          # core.engine.TrainConfig of the current or last run
        self.teacher: Any = None         # its core.engine.teacher_run.TeacherStage, when it labels footage first
        self.stage: Any = None           # the latest core.jobs.Progress of that stage
        self.labels: Any = None          # the PseudoLabelResult of the last run that ended, when it had one
        self.status = IDLE
        self.last: Any = None            # the latest TrainProgress
        self.result: Any = None          # core.engine.TrainResult of the last run that ended
        self.error = ""
        self.warnings: list[str] = []
        self.points: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in SERIES}

    # ---------------------------------------------------------------- lifecycle
    @property
    def busy(self) -> bool:
        return self.status in (RUNNING, STOPPING)

    def set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.events.status.emit(status)

    def start(self, config: Any, teacher: Any = None) -> None:
        """A new run (or a resumed one) begins: the previous curves, result and warnings go.
        ``teacher``: the run's pseudo-labelling stage (a ``TeacherStage``), if it has one."""
        self.config, self.teacher = config, teacher
        self.result, self.last, self.error, self.stage, self.labels = None, None, "", None, None
        self.warnings = []
        self.clear_points()
        self.set_status(RUNNING)

    def stopping(self) -> None:
        if self.status == RUNNING:
            self.set_status(STOPPING)

    def finish(self, result: Any) -> None:
        """The run ended: a ``TrainResult``, or a ``TeacherRunResult`` (its ``train`` None when it stopped
        while labelling)."""
        from core.engine.teacher_run import TeacherRunResult

        if isinstance(result, TeacherRunResult):
            self.labels, result = result.labels, result.train
        self.result = result
        self.set_status(STOPPED if result is None or result.stopped else FINISHED)

    def fail(self, text: str) -> None:
        self.error = text
        self.log(text, "error")
        self.set_status(FAILED)

    def log(self, text: str, kind: str = "info") -> None:
        self.events.message.emit(text, kind)

    # ---------------------------------------------------------------- points
    def clear_points(self) -> None:
        for xs, ys in self.points.values():
            xs.clear()
            ys.clear()
        self.events.history.emit()

    def add(self, name: str, x: float, y: float) -> None:
        xs, ys = self.points[name]
        xs.append(float(x))
        ys.append(float(y))

    def load_history(self, rows: list[dict[str, float | None]], upto: int) -> int:
        """Put a resumed run's earlier rows (``core.engine.read_metrics_csv``) up to iteration ``upto``
        in front of the curves; returns how many rows were used."""
        for xs, ys in self.points.values():
            xs.clear()
            ys.clear()
        used = 0
        for r in rows:
            it = r.get("iteration")
            if it is None or it > upto:
                continue
            used += 1
            if r.get("loss") is not None:
                self.add("total", it, r["loss"])  # type: ignore[arg-type]
                self.add("localization", it, r.get("loc_loss") if r.get("loc_loss") is not None else math.nan)  # type: ignore[arg-type]
                self.add("confidence", it, r.get("conf_loss") if r.get("conf_loss") is not None else math.nan)  # type: ignore[arg-type]
            if r.get("lr") is not None:
                self.add("lr", it, r["lr"])  # type: ignore[arg-type]
            if r.get("val_map") is not None:
                self.add("val mAP", it, r["val_map"])  # type: ignore[arg-type]
        self.events.history.emit()
        return used

    # ---------------------------------------------------------------- events of the run
    def record_stage(self, p: Any) -> None:
        """Take one ``core.jobs.Progress`` of the pseudo-labelling stage; its end goes into the log."""
        from core.engine.teacher_run import STAGE_LABELLED

        self.stage = p
        if p.stage == STAGE_LABELLED:
            self.log(f"pseudo-labelling done: {p.detail}")
        self.events.stage.emit(p)

    def record(self, p: Any) -> None:
        """Take one ``TrainProgress``: curves for STEP and VALIDATED, the log for the others."""
        self.last = p
        if p.kind == EventKind.STEP and math.isfinite(p.loss):
            self.add("total", p.iteration, p.loss)
            self.add("localization", p.iteration, p.loc_loss)
            self.add("confidence", p.iteration, p.conf_loss)
            self.add("lr", p.iteration, p.lr)
        elif p.kind == EventKind.VALIDATED and p.val_map is not None:
            self.add("val mAP", p.iteration, p.val_map)
        if p.kind == EventKind.WARNING:
            self.warnings.append(p.message)
            self.log(p.message, "warning")
        elif p.message and p.kind != EventKind.STEP:
            self.log(f"iteration {p.iteration}: {p.message}")
        self.events.progress.emit(p)

    @property
    def run_dir(self) -> Path | None:
        return None if self.config is None else Path(self.config.out_dir)

    def resumable(self) -> Path | None:
        """What the last run left to continue from, when nothing runs: its ``last.pt``, or (a run stopped
        while the teacher labelled) its pseudo-label folder; None when there is nothing."""
        from core.engine.teacher_run import LABELS_DIR

        if self.busy or self.config is None or self.status not in (STOPPED, FAILED):
            return None
        last = Path(self.config.out_dir) / "last.pt"
        labels = Path(self.config.out_dir) / LABELS_DIR
        if last.is_file():
            return last
        return labels if self.teacher is not None and labels.is_dir() else None
