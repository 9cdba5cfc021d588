"""The Evaluate view: evaluate a model (or a detections file) on a dataset and explore the result.

One evaluation = :func:`core.evaluation.run.run_evaluation` (the function of ``ssd eval``) in a
:class:`ssd_gui.jobs.Job`: the dataset is read, the model runs over it, detections are matched to the
ground truth once, and the mAP-by-threshold curves are computed. Everything shown for a confidence
threshold then comes from that pass's sweep, so moving the slider only looks values up.

Built on an :class:`ssd_gui.state.evaluate.EvaluateState`: the inputs form on top; the per-class table
(with the AP definition under it) and the mAP-by-threshold curve on the left; on the right, tabs for
the PR curves, precision/recall/F1 against confidence, the confusion matrix and the comparison with an
evaluation kept as "A", over the threshold panel; the image strip of the selected class (or confusion
cell) at the bottom, which folds away to give the plots its room.
"""
from __future__ import annotations

import html
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QVBoxLayout, QWidget

from core.data.index import describe_ground_truth
from core.detector import available_devices
from core.io.drawing import class_color
from core.evaluation import run as evaluation_run
from ssd_gui import settings
from ssd_gui.jobs import Job
from ssd_gui.state.evaluate import DATASET_KINDS, EvaluateState
from ssd_gui.views.base import View
from ssd_gui.dialogs.trust import request_with_code_confirmed
from ssd_gui.views.evaluate_estimate import EstimateMixin
from ssd_gui.views.evaluate_export import export_evaluation
from ssd_gui.widgets.class_table import COLUMN, ClassTable, definition_footer, fmt
from ssd_gui.widgets.compare_panel import ComparePanel
from ssd_gui.widgets.confusion_view import ConfusionView
from ssd_gui.widgets.eval_inputs import EvalInputsPanel
from ssd_gui.widgets.f1_plot import F1Plot
from ssd_gui.widgets.strip_panel import StripPanel
from ssd_gui.widgets.plots import ThresholdPlot
from ssd_gui.widgets.pr_plot import PRPlot
from ssd_gui.widgets.threshold_panel import ThresholdPanel

__all__ = ["COLUMN", "EvaluateView"]


class _Colors(dict):
    """label -> RGB of the one class palette (core.io.drawing), filled on demand."""

    def __missing__(self, label: int) -> tuple[int, int, int]:
        self[label] = class_color(int(label))
        return self[label]

    def get(self, label: int, default: object = None) -> tuple[int, int, int]:  # type: ignore[override]
        return self[label]


class EvaluateView(EstimateMixin, View):
    """Choose a model or detections file and a dataset; evaluate; explore per class and threshold.

    Public API (the main window, the Train view's request, tests): :meth:`set_model`,
    :meth:`set_detections`, :meth:`set_dataset`, :meth:`start`, :meth:`cancel`, :meth:`set_threshold`,
    :meth:`select_classes`, :meth:`export`, :meth:`is_busy`, :meth:`stop_and_wait`, :meth:`shutdown`.
    ``output`` is the last :class:`core.evaluation.run.EvaluationOutput`.
    """

    evaluation_finished = Signal(object)    # EvaluationOutput
    evaluation_failed = Signal(str)
    estimate_finished = Signal(object)      # core.evaluation.estimate.EstimateOutput
    threshold_changed = Signal(float)
    strip_updated = Signal()
    open_in_detect_requested = Signal(str)  # an image file

    def __init__(self, parent: QWidget | None = None, state: EvaluateState | None = None) -> None:
        super().__init__(parent)
        devices = available_devices()
        self.state = state or EvaluateState(devices[0])
        self.colors: dict[int, tuple[int, int, int]] = _Colors()
        self._job: Job | None = None
        self._cancel_requested = False
        self._run_name = ""
        self._build_ui(devices)
        self._connect()
        self._show_output()

    # ================================================================== UI
    def _build_ui(self, devices: list[str]) -> None:
        # A little over 60 lines: the view's whole layout (inputs, table, analysis tabs, strip) reads
        # best in one place, top to bottom as on screen.
        s = self.state
        self.inputs = EvalInputsPanel(s, devices, self)
        self.summary_label = QLabel("", self)
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = ClassTable(s, self.colors, self)
        # at least three class rows under the header, whatever else the column holds
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + 2 * self.table.frameWidth()
                                    + self.table.horizontalScrollBar().sizeHint().height()
                                    + 3 * self.table.verticalHeader().defaultSectionSize())
        self.definition_label = QLabel("", self)
        self.definition_label.setWordWrap(True)
        self.map_plot = ThresholdPlot("mAP by confidence threshold", "mAP", self)
        left = QSplitter(Qt.Orientation.Vertical, self)
        top_left = QWidget(left)
        tl = QVBoxLayout(top_left)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.summary_label)
        tl.addWidget(self.table, 1)
        tl.addWidget(self.definition_label)
        left.addWidget(top_left)
        left.addWidget(self.map_plot)
        left.setSizes([300, 200])

        self.pr_plot = PRPlot(self)
        self.hover_label = QLabel("", self)
        self.hover_label.setWordWrap(True)
        self.f1_plot = F1Plot(s, self)
        self.confusion = ConfusionView(s, self)
        self.compare_panel = ComparePanel(s, self)
        self.plot_tabs = QTabWidget(self)
        pr_page = QWidget(self.plot_tabs)
        pv = QVBoxLayout(pr_page)
        pv.setContentsMargins(0, 0, 0, 0)
        pv.addWidget(self.pr_plot, 1)
        pv.addWidget(self.hover_label)
        for page, title in ((pr_page, "Precision-recall"), (self.f1_plot, "F1 / confidence"),
                            (self.confusion, "Confusion matrix"), (self.compare_panel, "Compare A / B")):
            self.plot_tabs.addTab(page, title)
        self.threshold_panel = ThresholdPanel(s, self.colors, self)
        right = QWidget(self)
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.plot_tabs, 1)
        rv.addWidget(self.threshold_panel)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([10_000, 10_000])  # halves: the tabs' wide rows would otherwise take the table's room

        self.strip_panel = StripPanel(s, parent=self)
        self.strip = self.strip_panel.strip
        self.results = QWidget(self)
        res = QVBoxLayout(self.results)
        res.setContentsMargins(0, 0, 0, 0)
        res.addWidget(split, 1)
        res.addWidget(self.strip_panel)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.inputs)
        layout.addWidget(self._build_estimate_pages(self.results), 1)
        self.evaluate_action = QAction("&Evaluate", self, triggered=self.start)
        self.export_action = QAction("E&xport plots and PR data…", self, triggered=self._ask_export)

    def _connect(self) -> None:
        s = self.state
        self.inputs.start_requested.connect(self.start)
        self.inputs.cancel_requested.connect(self.cancel)
        self.inputs.demo_requested.connect(self._use_demo_model)
        self.pr_plot.hovered.connect(self.hover_label.setText)
        self.threshold_panel.export_button.clicked.connect(self._ask_export)
        self.strip_panel.updated.connect(self.strip_updated)
        self.strip_panel.failed.connect(self.show_error)
        self.strip_panel.open_in_detect.connect(self.open_in_detect_requested)
        s.events.output.connect(self._show_output)
        s.events.selection.connect(self._show_selection)
        s.events.threshold.connect(self._on_threshold)
        s.events.metric.connect(self._show_metric)
        s.events.compare.connect(self._show_selection)
        s.events.running.connect(lambda running: self.evaluate_action.setEnabled(not running))

    def menu_actions(self) -> list[QAction]:
        """Entries of the main window's Evaluate menu."""
        return [self.evaluate_action, self.export_action]

    # ================================================================== inputs (API)
    @property
    def output(self) -> Any:
        return self.state.output

    @property
    def stats(self) -> Any:
        """``core.evaluation.ThresholdStats`` at the current threshold (None without results)."""
        return self.state.stats()

    @property
    def threshold(self) -> float:
        return self.state.threshold

    def set_model(self, weights: str | Path) -> None:
        """Evaluate the model in ``weights`` (does not start)."""
        self.state.set_inputs(weights=str(weights), use_model=True)

    def set_detections(self, path: str | Path) -> None:
        """Evaluate the detections file ``path`` (does not start)."""
        self.state.set_inputs(detections=str(path), use_model=False)

    def set_dataset(self, kind: str, path: str | Path | None = None, split: str = "", *,
                    count: int | None = None, seed: int | None = None, size: int | None = None) -> None:
        """Choose the dataset: ``kind`` "synthetic" (``count``, ``seed``, square ``size``), "voc" or "yolo"
        (``path`` a VOC folder or a YOLO dataset folder, ``split``; "" for its default split) or "coco"
        (``path`` the annotation JSON)."""
        keys = [k for k, _ in DATASET_KINDS]
        if kind not in keys:
            raise ValueError(f"unknown dataset kind {kind!r}; choose from {keys}")
        changes: dict[str, Any] = {"kind": kind, "split": split}
        if path is not None:
            changes["path"] = str(path)
        for name, value in (("count", count), ("seed", seed), ("size", size)):
            if value is not None:
                changes[name] = int(value)
        self.state.set_inputs(**changes)

    def set_threshold(self, threshold: float) -> None:
        """Move the threshold to ``threshold`` (rounded to 0.001)."""
        self.state.set_threshold(threshold)

    def select_classes(self, labels: Sequence[int]) -> None:
        """Select ``labels`` (their PR curves are drawn, the first one feeds the strip)."""
        self.state.select(labels)

    def selected_labels(self) -> list[int]:
        return list(self.state.selected)

    def strip_label_for(self) -> int | None:
        """The class the strip shows: the first selected, or None (all classes)."""
        return self.state.strip_label

    def _use_demo_model(self) -> None:
        from core.detector import DEMO_WEIGHTS

        if not DEMO_WEIGHTS.is_file():
            self.show_error(f"The demo model is missing: expected '{DEMO_WEIGHTS}'. Choose a weights file.")
            return
        self.set_model(DEMO_WEIGHTS)

    # ================================================================== running
    def is_busy(self) -> bool:
        """True while an evaluation runs."""
        return self._job is not None

    def start(self) -> bool:
        """Start evaluating what the inputs describe; False (and a message) if they are incomplete."""
        if self._job is not None:
            return False
        if self.state.inputs.kind == "estimate":
            return self._start_estimate()
        try:
            request = self.state.inputs.request(self.state.ground_truth_for_run())
            request = request_with_code_confirmed(self, request)
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        self.banner.dismiss()
        self._cancel_requested = False
        self._run_name = self.state.inputs.describe_run()
        # Looked up at each start, so that a test can watch the very function ``ssd eval`` calls.
        self._job = self.run_job(partial(evaluation_run.run_evaluation, request), "evaluation",
                                 finished=self._on_finished, failed=self._on_failed, progress=self._on_progress)
        self.state.set_running(True)
        self.say(f"Evaluating {Path(request.source).name}…")
        return True

    def cancel(self) -> None:
        """Stop the running evaluation between batches (nothing is shown for a partial run)."""
        if self._job is not None:
            self._cancel_requested = True
            self._job.cancel()
            self.state.events.progress.emit("cancelling…")

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Cancel a running evaluation and wait for its thread's work to end; True if it ended."""
        job = self._job
        if job is None:
            return True
        self.cancel()
        return job.wait(timeout_ms / 1000.0)

    def shutdown(self) -> None:
        """Called by the main window on close."""
        self.stop_and_wait()
        self.strip_panel.cancel()
        super().shutdown()

    @Slot(object)
    def _on_progress(self, p: Any) -> None:
        self.inputs.show_progress(p.done, p.total)
        self.state.events.progress.emit(p.detail)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self._job = None
        self.state.set_running(False)
        if self._cancel_requested:
            self.show_info(text)
        else:
            self.show_error(text)
        self.evaluation_failed.emit(text)

    @Slot(object)
    def _on_finished(self, output: Any) -> None:
        self._job = None
        self.state.set_running(False)
        self.state.remember_reference(output)
        self.state.set_output(output, self._run_name)
        warnings = output.warnings
        if warnings:
            self.show_info(f"{len(warnings)} warning(s): " + "; ".join(warnings[:3]) + (" …" if len(warnings) > 3 else ""))
        self.say(f"Evaluated {Path(output.request.source).name} on {output.gt.name}")
        self.evaluation_finished.emit(output)

    # ================================================================== results
    def _show_output(self) -> None:
        out = self.state.output
        self.results.setEnabled(out is not None)
        self.export_action.setEnabled(out is not None)
        if out is None:
            self.summary_label.setText("No results yet: choose a model (or detections) and a dataset, then Evaluate.")
            self.pr_plot.set_curves([], self.colors)
            self.map_plot.set_curve(np.zeros(0), np.zeros(0))
            self._show_metric()
            return
        result, coco = out.result, out.coco
        voc07, voc12 = result.voc(True), result.voc(False)
        coco_text = (f"COCO AP@[.5:.95] {fmt(coco.stats[0])}, AP50 {fmt(coco.stats[1])}" if coco is not None
                     else f"COCO metrics unavailable ({out.coco_error})" if out.coco_error else "")
        # The caveat's first clause in the summary, the whole of it in the tooltip: three wrapped lines here
        # took the class table's room at the default window size.
        head = (out.caveat or "").split(":")[0]
        caveat = f"<br><b style='color:#b45000'>{html.escape(head)}</b> (hover for what that means)" if head else ""
        self.summary_label.setToolTip(out.caveat or "")
        data = describe_ground_truth(out.request.ground_truth, result.gt)  # which split, how many of how many
        self.summary_label.setText(
            f"<b>{html.escape(self.state.output_name)}</b> on {html.escape(data)}<br>"
            f"mAP VOC07 {fmt(voc07.mAP)}, VOC2010+ {fmt(voc12.mAP)}" + (f"; {coco_text}" if coco_text else "")
            + caveat)
        self._show_metric()

    def _show_metric(self) -> None:
        text, tip = definition_footer(self.state.metric, self.state.use_07)
        self.definition_label.setText(text)
        self.definition_label.setToolTip(tip)
        self.map_plot.setTitle(f"mAP ({'VOC07' if self.state.use_07 else 'VOC2010+'}) by confidence threshold")
        self._show_threshold()

    def _show_selection(self) -> None:
        out = self.state.output
        if out is None:
            return
        curves, names, dashed = self.state.pr_curves()
        self.pr_plot.set_curves(curves, self.colors, names=names, dashed=dashed)
        self.pr_plot.set_threshold(self.state.threshold)

    def _on_threshold(self, threshold: float) -> None:
        self._show_threshold()
        self.threshold_changed.emit(threshold)

    def _show_threshold(self) -> None:
        out, t = self.state.output, self.state.threshold
        if out is None:
            return
        self.map_plot.set_curve(out.thresholds, out.map_voc07 if self.state.use_07 else out.map_voc12)
        self.pr_plot.set_threshold(t)
        self.map_plot.set_threshold(t, self.state.stats().mAP)

    # ================================================================== export
    def export(self, folder: str | Path) -> list[Path]:
        """Write the plots (PNG, fixed size), the PR points per class, the table and the mAP-by-threshold
        curve (CSV) into ``folder``, created when missing.

        Raises:
            ValueError: nothing has been evaluated yet. OSError: a file could not be written.
        """
        if self.state.output is None:
            raise ValueError("nothing to export: run an evaluation first")
        return export_evaluation(self.state, self.table.cell_texts(), self.colors, folder)

    def _ask_export(self) -> None:
        if self.state.output is None:
            return
        folder = settings.ask_folder(self, "Export plots and PR data to", "export")
        if not folder:
            return
        try:
            paths = self.export(folder)
        except (OSError, ValueError) as exc:
            self.show_error(f"export failed: {exc}")
            return
        self.say(f"Exported {len(paths)} files to {folder}")
