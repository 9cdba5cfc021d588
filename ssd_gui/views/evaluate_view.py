"""The Evaluate view: evaluate a model (or a detections file) on a dataset and explore the result.

One evaluation = one matching pass in a :class:`ssd_gui.jobs.Job` (off the GUI
thread): the dataset is read, the model runs over it, detections are matched to the ground
truth once, and the mAP-by-threshold curves are computed there too. Everything the view
then shows for a confidence threshold (table columns, operating points on the PR curves,
precision / recall / F1 / TP / FP / FN, AP at the threshold) comes from that pass's
:class:`core.evaluation.ThresholdSweep`, so moving the slider only looks values up.

Layout: inputs and progress on top; the per-class table on the left; PR curves, the
threshold slider with its figures and the mAP-by-threshold curve on the right; the image
strip of the selected class at the bottom.
"""
from __future__ import annotations

import csv
import math
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.drawing import class_color
from core.engine.config import VAL_SEED
from ssd_gui.jobs import Job
from ssd_gui.tasks import EvaluationOutput, EvaluationRequest, evaluate
from ssd_gui.views.base import View
from ssd_gui.widgets.image_strip import ImageCache, ImageStrip, Thumbnails, draw_thumbnails
from ssd_gui.widgets.plots import ThresholdPlot, save_widget_png
from ssd_gui.widgets.pr_plot import PRPlot

WEIGHTS_FILTER = "Weights (*.pt *.pth *.ckpt *.bin);;All files (*)"
DETECTIONS_FILTER = "Detections (*.json *.txt);;All files (*)"
DATASET_KINDS: tuple[tuple[str, str], ...] = (
    ("synthetic", "Synthetic shapes"), ("voc", "VOC folder"), ("coco", "COCO JSON"))

# Table columns: (header, key). Keys starting with "t_" depend on the threshold.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Class", "name"), ("AP VOC07", "ap07"), ("AP VOC2010+", "ap12"), ("AP COCO", "ap_coco"),
    ("AP50 COCO", "ap50_coco"), ("GT", "num_gt"), ("Detections", "num_det"), ("TP", "t_tp"), ("FP", "t_fp"),
    ("FN", "t_fn"), ("Precision", "t_precision"), ("Recall", "t_recall"), ("F1", "t_f1"), ("AP@t", "t_ap"))
COLUMN = {key: i for i, (_, key) in enumerate(COLUMNS)}
SLIDER_STEPS = 1000
STRIP_MAX_IMAGES = 24
STRIP_DELAY_MS = 120
IMAGE_CACHE_SIZE = 256


def _fmt(v: float, digits: int = 3) -> str:
    return "–" if v is None or not math.isfinite(float(v)) else f"{float(v):.{digits}f}"


def _cell(v: float) -> tuple[str, float]:
    """(text, sort key) of a number that may be NaN."""
    return _fmt(v), float(v)


class _SortItem(QTableWidgetItem):
    """A table cell that sorts by a number (NaN last in ascending order) and shows text."""

    def __init__(self, text: str, key: float | str) -> None:
        super().__init__(text)
        self.key = key
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def set(self, text: str, key: float | str) -> None:
        self.key = key
        self.setText(text)

    def __lt__(self, other: QTableWidgetItem) -> bool:  # noqa: D105
        a, b = self.key, getattr(other, "key", other.text())
        if isinstance(a, str) or isinstance(b, str):
            return str(a).lower() < str(b).lower()
        an, bn = math.isnan(a), math.isnan(b)
        if an or bn:
            return bn and not an
        return a < b


class EvaluateView(View):
    """Choose a model or detections file and a dataset; evaluate; explore per class and threshold.

    Public API (menus, the Train view and tests): :meth:`set_model`, :meth:`set_detections`,
    :meth:`set_dataset`, :meth:`start`, :meth:`cancel`, :meth:`set_threshold`,
    :meth:`select_classes`, :meth:`export`, :meth:`is_busy`, :meth:`stop_and_wait`,
    :meth:`shutdown`. ``output`` holds the last :class:`EvaluationOutput`.
    """

    evaluation_finished = Signal(object)    # EvaluationOutput
    evaluation_failed = Signal(str)
    threshold_changed = Signal(float)
    strip_updated = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output: EvaluationOutput | None = None
        self.stats: Any = None          # core.evaluation.ThresholdStats at the current threshold
        self._job: Job | None = None
        self._cancel_requested = False
        self._rows: dict[int, list[_SortItem]] = {}
        self._images = ImageCache(IMAGE_CACHE_SIZE)
        self._strip_generation = 0
        self._strip_job: Job | None = None
        self._strip_text = ""
        self._colors: dict[int, tuple[int, int, int]] = {}
        self._strip_timer = QTimer(self)
        self._strip_timer.setSingleShot(True)
        self._strip_timer.setInterval(STRIP_DELAY_MS)
        self._strip_timer.timeout.connect(self._update_strip)
        self._build_ui()
        self._build_actions()
        self._set_running(False)
        self._show_results(False)

    # ================================================================== UI
    def _build_ui(self) -> None:
        # -- inputs
        inputs = QGroupBox("Evaluate", self)
        grid = QGridLayout(inputs)
        self.model_radio = QRadioButton("Model file", inputs)
        self.dets_radio = QRadioButton("Detections file", inputs)
        self.model_radio.setChecked(True)
        self._source_group = QButtonGroup(self)
        self._source_group.addButton(self.model_radio)
        self._source_group.addButton(self.dets_radio)
        self.model_edit = QLineEdit(inputs)
        self.model_edit.setPlaceholderText("weights file (.pt): own checkpoint, torchvision or ssd.pytorch")
        self.model_browse = QToolButton(inputs)
        self.model_browse.setText("…")
        self.model_browse.clicked.connect(self._ask_model)
        self.demo_button = QPushButton("Demo model", inputs)
        self.demo_button.clicked.connect(self._use_demo_model)
        self.dets_edit = QLineEdit(inputs)
        self.dets_edit.setPlaceholderText("COCO results JSON, comp4_det_*.txt folder/file, or ssd detect JSON")
        self.dets_browse = QToolButton(inputs)
        self.dets_browse.setText("…")
        self.dets_browse.clicked.connect(self._ask_detections)
        grid.addWidget(self.model_radio, 0, 0)
        grid.addWidget(self.model_edit, 0, 1, 1, 5)
        grid.addWidget(self.model_browse, 0, 6)
        grid.addWidget(self.demo_button, 0, 7)
        grid.addWidget(self.dets_radio, 1, 0)
        grid.addWidget(self.dets_edit, 1, 1, 1, 5)
        grid.addWidget(self.dets_browse, 1, 6)

        self.dataset_combo = QComboBox(inputs)
        for key, text in DATASET_KINDS:
            self.dataset_combo.addItem(text, key)
        self.dataset_combo.currentIndexChanged.connect(self._update_dataset_fields)
        self.dataset_edit = QLineEdit(inputs)
        self.dataset_browse = QToolButton(inputs)
        self.dataset_browse.setText("…")
        self.dataset_browse.clicked.connect(self._ask_dataset)
        self.split_edit = QLineEdit("test", inputs)
        self.split_edit.setMaximumWidth(90)
        self.split_edit.setToolTip("VOC image set (ImageSets/Main/<split>.txt)")
        self.count_spin = QSpinBox(inputs)
        self.count_spin.setRange(1, 100_000)
        self.count_spin.setValue(50)
        self.count_spin.setPrefix("images ")
        self.seed_spin = QSpinBox(inputs)
        self.seed_spin.setRange(0, 2_000_000_000)
        self.seed_spin.setValue(VAL_SEED)  # the training engine's held-out synthetic seed
        self.seed_spin.setPrefix("seed ")
        self.size_spin = QSpinBox(inputs)
        self.size_spin.setRange(16, 2048)
        self.size_spin.setValue(300)
        self.size_spin.setPrefix("size ")
        self.size_spin.setSuffix(" px")
        grid.addWidget(QLabel("Dataset", inputs), 2, 0)
        grid.addWidget(self.dataset_combo, 2, 1)
        grid.addWidget(self.dataset_edit, 2, 2)
        grid.addWidget(self.dataset_browse, 2, 3)
        grid.addWidget(self.split_edit, 2, 4)
        box = QHBoxLayout()
        box.addWidget(self.count_spin)
        box.addWidget(self.seed_spin)
        box.addWidget(self.size_spin)
        grid.addLayout(box, 2, 5, 1, 3)

        self.device_combo = QComboBox(inputs)
        from core.detector import available_devices

        self.device_combo.addItems(available_devices())
        self.evaluate_button = QPushButton("Evaluate", inputs)
        self.evaluate_button.setDefault(True)
        self.evaluate_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", inputs)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(inputs)
        self.progress.setTextVisible(True)
        self.progress_label = QLabel("", inputs)
        grid.addWidget(QLabel("Device", inputs), 3, 0)
        grid.addWidget(self.device_combo, 3, 1)
        grid.addWidget(self.progress, 3, 2, 1, 3)
        grid.addWidget(self.progress_label, 3, 5)
        grid.addWidget(self.evaluate_button, 3, 6)
        grid.addWidget(self.cancel_button, 3, 7)
        grid.setColumnStretch(2, 1)

        # -- left: summary and per-class table
        self.summary_label = QLabel("", self)
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels([h for h, _ in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        left = QWidget(self)
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.summary_label)
        lv.addWidget(self.table, 1)

        # -- right: PR curves, threshold, mAP by threshold
        self.pr_plot = PRPlot(self)
        self.hover_label = QLabel("", self)
        self.pr_plot.hovered.connect(self.hover_label.setText)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold_slider.setRange(0, SLIDER_STEPS)
        self.threshold_slider.setValue(SLIDER_STEPS // 2)
        self.threshold_slider.setSingleStep(SLIDER_STEPS // 200)   # arrow keys: 0.005
        self.threshold_slider.setPageStep(SLIDER_STEPS // 20)      # Page Up/Down: 0.05
        self.threshold_slider.valueChanged.connect(self._on_slider)
        self.threshold_label = QLabel("", self)
        self.threshold_label.setMinimumWidth(110)
        self.metric_combo = QComboBox(self)
        self.metric_combo.addItem("AP@t: VOC2010+", False)
        self.metric_combo.addItem("AP@t: VOC07 11-point", True)
        self.metric_combo.currentIndexChanged.connect(self._on_metric_changed)
        self.export_button = QPushButton("Export…", self)
        self.export_button.setToolTip("Save the plots as PNG and the PR points and table as CSV")
        self.export_button.clicked.connect(self._ask_export)
        trow = QHBoxLayout()
        trow.addWidget(QLabel("Confidence threshold", self))
        trow.addWidget(self.threshold_slider, 1)
        trow.addWidget(self.threshold_label)
        trow.addWidget(self.metric_combo)
        trow.addWidget(self.export_button)
        self.operating_label = QLabel("", self)
        self.operating_label.setWordWrap(True)
        self.operating_label.setTextFormat(Qt.TextFormat.RichText)
        self.map_plot = ThresholdPlot("mAP by confidence threshold", "mAP", self)
        right = QWidget(self)
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.pr_plot, 3)
        rv.addWidget(self.hover_label)
        rv.addLayout(trow)
        rv.addWidget(self.operating_label)
        rv.addWidget(self.map_plot, 2)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)

        # -- bottom: image strip
        self.strip_label = QLabel("", self)
        self.strip = ImageStrip(parent=self)

        self.results = QWidget(self)
        res = QVBoxLayout(self.results)
        res.setContentsMargins(0, 0, 0, 0)
        res.addWidget(split, 1)
        res.addWidget(self.strip_label)
        res.addWidget(self.strip)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(inputs)
        layout.addWidget(self.results, 1)
        self._update_dataset_fields()

    def _build_actions(self) -> None:
        self.evaluate_action = QAction("&Evaluate", self, triggered=self.start)
        self.export_action = QAction("E&xport plots and PR data…", self, triggered=self._ask_export)
        self.export_action.setEnabled(False)

    def menu_actions(self) -> list[QAction]:
        """Entries of the main window's Evaluate menu."""
        return [self.evaluate_action, self.export_action]

    def _update_dataset_fields(self) -> None:
        kind = self.dataset_kind
        synthetic = kind == "synthetic"
        for w in (self.count_spin, self.seed_spin, self.size_spin):
            w.setVisible(synthetic)
        self.dataset_edit.setVisible(not synthetic)
        self.dataset_browse.setVisible(not synthetic)
        self.split_edit.setVisible(kind == "voc")
        self.dataset_edit.setPlaceholderText("VOC20xx or VOCdevkit folder" if kind == "voc"
                                             else "COCO instances JSON")

    def _set_running(self, running: bool) -> None:
        self.evaluate_button.setEnabled(not running)
        self.evaluate_action.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if not running:
            self.progress_label.setText("")

    def _show_results(self, shown: bool) -> None:
        self.results.setEnabled(shown)
        self.export_button.setEnabled(shown)
        self.export_action.setEnabled(shown)

    # ================================================================== inputs
    @property
    def dataset_kind(self) -> str:
        return str(self.dataset_combo.currentData())

    def set_model(self, weights: str | Path) -> None:
        """Evaluate the model in ``weights`` (does not start)."""
        self.model_edit.setText(str(weights))
        self.model_radio.setChecked(True)

    def set_detections(self, path: str | Path) -> None:
        """Evaluate the detections file ``path`` (does not start)."""
        self.dets_edit.setText(str(path))
        self.dets_radio.setChecked(True)

    def set_dataset(self, kind: str, path: str | Path | None = None, split: str = "test", *,
                    count: int | None = None, seed: int | None = None, size: int | None = None) -> None:
        """Choose the dataset: ``kind`` "synthetic" (``count``, ``seed``, square ``size``), "voc"
        (``path`` a VOC folder, ``split``) or "coco" (``path`` the annotation JSON)."""
        keys = [k for k, _ in DATASET_KINDS]
        if kind not in keys:
            raise ValueError(f"unknown dataset kind {kind!r}; choose from {keys}")
        self.dataset_combo.setCurrentIndex(keys.index(kind))
        if path is not None:
            self.dataset_edit.setText(str(path))
        self.split_edit.setText(split)
        if count is not None:
            self.count_spin.setValue(int(count))
        if seed is not None:
            self.seed_spin.setValue(int(seed))
        if size is not None:
            self.size_spin.setValue(int(size))

    def request(self) -> EvaluationRequest:
        """The :class:`EvaluationRequest` the inputs describe.

        Raises:
            ValueError: a required path is empty.
        """
        use_model = self.model_radio.isChecked()
        path = (self.model_edit if use_model else self.dets_edit).text().strip()
        if not path:
            raise ValueError("choose a model file (or the demo model) or a detections file to evaluate")
        kind = self.dataset_kind
        data_path = self.dataset_edit.text().strip() or None
        if kind != "synthetic" and data_path is None:
            raise ValueError(f"choose the {'VOC folder' if kind == 'voc' else 'COCO annotation JSON'} to evaluate on")
        return EvaluationRequest(
            dataset_kind=kind, dataset_path=data_path, split=self.split_edit.text().strip() or "test",
            synthetic_count=self.count_spin.value(), synthetic_seed=self.seed_spin.value(),
            synthetic_size=self.size_spin.value(), weights=path if use_model else None,
            detections=None if use_model else path, device=self.device_combo.currentText())

    def _use_demo_model(self) -> None:
        from core.detector import DEMO_WEIGHTS

        if not DEMO_WEIGHTS.is_file():
            self.show_error(f"The demo model is missing: expected '{DEMO_WEIGHTS}'. Choose a weights file.")
            return
        self.set_model(DEMO_WEIGHTS)

    def _ask_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model to evaluate", "", WEIGHTS_FILTER)
        if path:
            self.set_model(path)

    def _ask_detections(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Detections to evaluate", "", DETECTIONS_FILTER)
        if path:
            self.set_detections(path)

    def _ask_dataset(self) -> None:
        if self.dataset_kind == "voc":
            path = QFileDialog.getExistingDirectory(self, "VOC folder (VOC20xx or VOCdevkit)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "COCO annotation JSON", "", "JSON (*.json);;All files (*)")
        if path:
            self.dataset_edit.setText(path)

    # ================================================================== running
    def is_busy(self) -> bool:
        """True while an evaluation runs."""
        return self._job is not None

    def start(self) -> bool:
        """Start evaluating what the inputs describe; False (and a message) if they are incomplete."""
        if self._job is not None:
            return False
        try:
            req = self.request()
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        self.banner.dismiss()
        self._cancel_requested = False
        self._job = self.run_job(partial(evaluate, req), "evaluation", finished=self._on_finished,
                                 failed=self._on_failed, progress=self._on_progress)
        self._set_running(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("starting…")
        self.message.emit(f"Evaluating {Path(req.source).name}…", "info")
        return True

    def cancel(self) -> None:
        """Stop the running evaluation between batches (nothing is shown for a partial run)."""
        if self._job is not None:
            self._cancel_requested = True
            self._job.cancel()
            self.progress_label.setText("cancelling…")

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
        super().shutdown()

    @Slot(object)
    def _on_progress(self, p: Any) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        else:
            self.progress.setRange(0, 0)
        self.progress_label.setText(p.detail)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self._job = None
        self._set_running(False)
        if self._cancel_requested:
            self.banner.show_message(text, "info")
            self.message.emit(text, "info")
        else:
            self.show_error(text)
        self.evaluation_failed.emit(text)

    @Slot(object)
    def _on_finished(self, output: EvaluationOutput) -> None:
        self._job = None
        self._set_running(False)
        self.show_output(output)
        warnings = list(output.result.warnings) + list(output.result.gt.warnings)
        if warnings:
            self.banner.show_message(f"{len(warnings)} warning(s): " + "; ".join(warnings[:3])
                                     + (" …" if len(warnings) > 3 else ""), "info")
        self.message.emit(f"Evaluated {Path(output.request.source).name} on {output.result.gt.name}", "info")
        self.evaluation_finished.emit(output)

    # ================================================================== results
    def show_output(self, output: EvaluationOutput) -> None:
        """Fill the table and plots from ``output`` and apply the current threshold."""
        self.output = output
        self._images.clear()
        result = output.result
        names = result.class_names
        self._colors = {label: class_color(label) for label in range(1, len(names))}
        voc07, voc12 = result.voc(True), result.voc(False)
        coco = output.coco
        self.table.setSortingEnabled(False)
        self.table.clearSelection()
        self.table.setRowCount(len(names) - 1)
        self._rows = {}
        for row, label in enumerate(range(1, len(names))):
            values: dict[str, tuple[str, float | str]] = {
                "name": (names[label], names[label]),
                "ap07": (_fmt(voc07.ap[label]), float(voc07.ap[label])),
                "ap12": (_fmt(voc12.ap[label]), float(voc12.ap[label])),
                "ap_coco": _cell(coco.ap[label] if coco is not None else math.nan),
                "ap50_coco": _cell(coco.ap50[label] if coco is not None else math.nan),
                "num_gt": (str(int(voc12.num_gt[label])), float(voc12.num_gt[label])),
                "num_det": (str(int(voc12.num_det[label])), float(voc12.num_det[label])),
            }
            items = []
            for col, (_, key) in enumerate(COLUMNS):
                text, sort_key = values.get(key, ("", math.nan))
                item = _SortItem(text, sort_key)
                item.setData(Qt.ItemDataRole.UserRole, label)
                if key == "name":
                    item.setForeground(QColor(*self._colors[label]))
                if key != "name":
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
                items.append(item)
            self._rows[label] = items
        self.table.setSortingEnabled(True)
        coco_text = (f"COCO AP@[.5:.95] {_fmt(coco.stats[0])}, AP50 {_fmt(coco.stats[1])}" if coco is not None
                     else f"COCO metrics unavailable ({output.coco_error})" if output.coco_error else "")
        self.summary_label.setText(
            f"<b>{Path(output.request.source).name}</b> on {result.gt.name} ({len(result.gt.records)} images)<br>"
            f"mAP VOC07 {_fmt(voc07.mAP)}, VOC2010+ {_fmt(voc12.mAP)}" + (f"; {coco_text}" if coco_text else ""))
        self._show_results(True)
        self._update_map_curve()
        # Start with the class that has the most objects selected.
        evaluated = np.flatnonzero(result.sweep.evaluated)
        first = int(evaluated[np.argmax(result.sweep.num_gt[evaluated])]) if evaluated.size else 1
        self.select_classes([first])
        self._apply_threshold()

    def selected_labels(self) -> list[int]:
        """Dataset labels of the selected table rows, in table order."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [int(self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)) for r in rows]

    def select_classes(self, labels: Sequence[int]) -> None:
        """Select the rows of ``labels`` (their PR curves are drawn, the first one feeds the strip)."""
        want = {int(v) for v in labels}
        self.table.blockSignals(True)
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for r in range(self.table.rowCount()):
            if int(self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)) in want:
                self.table.selectRow(r)
        self.table.setSelectionMode(mode)
        self.table.blockSignals(False)
        self._on_selection_changed()

    def _on_selection_changed(self) -> None:
        if self.output is None:
            return
        labels = self.selected_labels()
        self.pr_plot.set_curves([self.output.result.pr_curve(lab) for lab in labels], self._colors)
        self.pr_plot.set_threshold(self.threshold)
        self._update_operating_label()
        self._schedule_strip()

    @property
    def threshold(self) -> float:
        return self.threshold_slider.value() / SLIDER_STEPS

    def set_threshold(self, threshold: float) -> None:
        """Move the slider to ``threshold`` (rounded to the slider's 0.001 steps)."""
        self.threshold_slider.setValue(int(round(float(threshold) * SLIDER_STEPS)))

    @property
    def use_07_metric(self) -> bool:
        return bool(self.metric_combo.currentData())

    def _on_slider(self, _: int) -> None:
        self._apply_threshold()
        self.threshold_changed.emit(self.threshold)

    def _on_metric_changed(self, _: int) -> None:
        self._update_map_curve()
        self._apply_threshold()

    def _update_map_curve(self) -> None:
        if self.output is None:
            return
        o = self.output
        self.map_plot.set_curve(o.thresholds, o.map_voc07 if self.use_07_metric else o.map_voc12)

    def _apply_threshold(self) -> None:
        """Every threshold-dependent figure, from the precomputed sweep (no re-matching)."""
        t = self.threshold
        self.threshold_label.setText(f"{t:.3f}")
        if self.output is None:
            return
        stats = self.output.result.at_threshold(t, self.use_07_metric)
        self.stats = stats
        self.table.setSortingEnabled(False)
        for label, items in self._rows.items():
            vals = {"t_tp": (str(int(stats.tp[label])), float(stats.tp[label])),
                    "t_fp": (str(int(stats.fp[label])), float(stats.fp[label])),
                    "t_fn": (str(int(stats.fn[label])), float(stats.fn[label])),
                    "t_precision": (_fmt(stats.precision[label]), float(stats.precision[label])),
                    "t_recall": (_fmt(stats.recall[label]), float(stats.recall[label])),
                    "t_f1": (_fmt(stats.f1[label]), float(stats.f1[label])),
                    "t_ap": (_fmt(stats.ap[label]), float(stats.ap[label]))}
            for key, (text, sort_key) in vals.items():
                items[COLUMN[key]].set(text, sort_key)
        self.table.setSortingEnabled(True)
        self.pr_plot.set_threshold(t)
        self.map_plot.set_threshold(t, stats.mAP)
        self._update_operating_label()
        self._schedule_strip()

    def _update_operating_label(self) -> None:
        stats = self.stats
        if stats is None or self.output is None:
            self.operating_label.setText("")
            return
        metric = "VOC07" if self.use_07_metric else "VOC2010+"
        lines = []
        for label in self.selected_labels()[:6]:
            r, g, b = self._colors.get(label, (0, 0, 0))
            lines.append(
                f"<span style='color:rgb({r},{g},{b})'><b>{stats.class_names[label]}</b></span>: "
                f"precision {_fmt(stats.precision[label])}, recall {_fmt(stats.recall[label])}, "
                f"F1 {_fmt(stats.f1[label])}, TP {int(stats.tp[label])}, FP {int(stats.fp[label])}, "
                f"FN {int(stats.fn[label])}, AP@t {_fmt(stats.ap[label])}")
        tp, fp, fn = int(stats.tp.sum()), int(stats.fp.sum()), int(stats.fn.sum())
        p = tp / (tp + fp) if tp + fp else math.nan
        r = tp / (tp + fn) if tp + fn else math.nan
        lines.append(f"<b>all classes</b> at {stats.threshold:.3f}: TP {tp}, FP {fp}, FN {fn}, precision {_fmt(p)}, "
                     f"recall {_fmt(r)}, mAP@t ({metric}) {_fmt(stats.mAP)}")
        self.operating_label.setText("<br>".join(lines))

    # ================================================================== image strip
    def strip_label_for(self) -> int | None:
        """The class the strip shows: the first selected row's, or None (all classes)."""
        labels = self.selected_labels()
        return labels[0] if labels else None

    def _drop_pending_strip(self) -> None:
        """Cancel the thumbnails being drawn; their answer, if it still comes, is ignored."""
        self._strip_generation += 1
        if self._strip_job is not None:
            self._strip_job.cancel()
            self._strip_job = None

    def _schedule_strip(self) -> None:
        """The strip is stale: drop any answer still being drawn, redraw once the input settles."""
        self._drop_pending_strip()
        self._strip_timer.start()

    @Slot()
    def _update_strip(self) -> None:
        if self.output is None:
            self.strip.set_entries([])
            return
        result = self.output.result
        label = self.strip_label_for()
        t = self.threshold
        # Images where the threshold costs the most (errors first, then hits), counted cheaply;
        # only the shown ones are described box by box.
        tp, fp, missed = result.sweep.image_counts(label, t)
        with_content = np.flatnonzero(tp + fp + missed > 0)
        order = with_content[np.lexsort((with_content, -tp[with_content], -(fp + missed)[with_content]))]
        shown = result.image_breakdown(label, t, images=order[:STRIP_MAX_IMAGES])
        name = result.class_names[label] if label is not None else "all classes"
        self._strip_text = (
            f"Images for <b>{name}</b> at threshold {t:.3f}: {with_content.size} with detections or objects"
            + (f", the {len(shown)} with the most errors shown" if with_content.size > len(shown) else "")
            + " — <span style='color:#00aa3c'>■ true positive</span> "
              "<span style='color:#e11e1e'>■ false positive</span> "
              "<span style='color:#ff9600'>▢ missed (dashed)</span>")
        # Decoding and drawing (tens of ms per image for large photos) run in a worker; a newer
        # request cancels the older one, whose answer is then dropped.
        self._drop_pending_strip()
        records = result.gt.records
        fn = partial(draw_thumbnails, self._strip_generation,
                     [(bd.image_index, records[bd.image_index], bd) for bd in shown],
                     result.class_names, self.strip.thumb_height, label is None, self._images)
        self._strip_job = self.run_job(fn, "image strip", finished=self._on_thumbnails, failed=self.show_error)

    @Slot(object)
    def _on_thumbnails(self, thumbs: Thumbnails) -> None:
        if thumbs.generation != self._strip_generation or self.output is None:
            return  # superseded by a newer threshold or class, or the results were cleared
        self._strip_job = None
        for err in thumbs.errors[:3]:
            self.show_error(f"image strip: {err}")
        self.strip.set_entries(thumbs.entries)
        self.strip_label.setText(self._strip_text)
        self.strip_updated.emit()

    # ================================================================== export
    def export(self, folder: str | Path) -> list[Path]:
        """Write ``pr_curves.png``, ``map_by_threshold.png``, the PR points ``pr_<class>.csv``
        (every class) and ``classes.csv`` (the table at the current threshold) into ``folder``.

        Raises:
            ValueError: nothing has been evaluated yet.
        """
        if self.output is None:
            raise ValueError("nothing to export: run an evaluation first")
        from core.evaluation.io import write_pr_csvs

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = [save_widget_png(self.pr_plot, out / "pr_curves.png"),
                 save_widget_png(self.map_plot, out / "map_by_threshold.png")]
        paths += write_pr_csvs(out, self.output.result)
        table = out / "classes.csv"
        with table.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["threshold"] + [h for h, _ in COLUMNS])
            for r in range(self.table.rowCount()):
                w.writerow([f"{self.threshold:.3f}"] + [self.table.item(r, c).text().replace("–", "")
                                                        for c in range(len(COLUMNS))])
        thresholds = out / "map_by_threshold.csv"
        with thresholds.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["threshold", "map_voc07", "map_voc12"])
            o = self.output
            for t, a, b in zip(o.thresholds, o.map_voc07, o.map_voc12):
                w.writerow([f"{t:.3f}", "" if np.isnan(a) else repr(float(a)), "" if np.isnan(b) else repr(float(b))])
        return paths + [table, thresholds]

    def _ask_export(self) -> None:
        if self.output is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export plots and PR data to")
        if not folder:
            return
        try:
            paths = self.export(folder)
        except (OSError, ValueError) as exc:
            self.show_error(f"export failed: {exc}")
            return
        self.message.emit(f"Exported {len(paths)} files to {folder}", "info")
