"""Precision, recall and F1 against the confidence threshold, per class or over all classes, with the
best-F1 threshold marked and a button that moves the threshold there (Ultralytics' F1 curve).

The curves are :class:`core.evaluation.confidence.ConfidenceCurves` from the state (one matching pass);
the best-F1 threshold is core's exact one, searched over every distinct score, not the plot's grid.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ssd_gui.state.evaluate import THRESHOLD_STEP, EvaluateState
from ssd_gui.widgets.class_table import fmt
from ssd_gui.widgets.plots import series_color

ALL = -1  # the class box's entry for every class together


def slider_threshold(best: float) -> float:
    """The slider position for a best-F1 threshold: rounded *down* to the slider's step, so that the
    detection scored exactly ``best`` (the one that makes the best F1) is still kept (``score >= t``)."""
    return math.floor(best / THRESHOLD_STEP + 1e-6) * THRESHOLD_STEP


class F1Plot(QWidget):
    """A plot of precision, recall and F1 against confidence, a class box and "Use best-F1 threshold".

    Shows the first selected class by default, or every class together ("all classes": precision,
    recall and F1 of the summed TP/FP/FN, and the mean F1 over the classes dashed).
    """

    def __init__(self, state: EvaluateState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.plot = pg.PlotWidget(self)
        self.plot.setTitle("Precision, recall and F1 against confidence")
        self.plot.setLabel("bottom", "confidence threshold")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setXRange(0.0, 1.0, padding=0.02)
        self.plot.setYRange(0.0, 1.0, padding=0.02)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.addLegend(offset=(-10, -10))
        self.lines = {name: self.plot.plot([], [], name=name, connect="finite",
                                           pen=pg.mkPen(series_color(i), width=2,
                                                        style=Qt.PenStyle.DashLine if name == "mean F1" else
                                                        Qt.PenStyle.SolidLine))
                      for i, name in enumerate(("precision", "recall", "F1", "mean F1"))}
        self.best_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(series_color(2), width=1, style=Qt.PenStyle.DashLine))
        self.best_marker = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(series_color(2)), pen=pg.mkPen("k"))
        self.threshold_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((120, 120, 120), width=1))
        for item in (self.best_line, self.best_marker, self.threshold_line):
            self.plot.addItem(item)
        self.class_combo = QComboBox(self)
        self.best_label = QLabel("", self)
        self.best_label.setWordWrap(True)
        self.best_button = QPushButton("Use best-F1 threshold", self)
        self.best_button.setToolTip("Move the confidence slider to the threshold with the highest F1")
        row = QHBoxLayout()
        row.addWidget(self.class_combo)
        row.addWidget(self.best_label, 1)
        row.addWidget(self.best_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(row)
        self.best: float = math.nan
        self.class_combo.currentIndexChanged.connect(lambda _: self.refresh())
        self.best_button.clicked.connect(self.use_best)
        state.events.output.connect(self._fill_classes)
        state.events.selection.connect(self._follow_selection)
        state.events.threshold.connect(lambda t: self.threshold_line.setValue(t))
        self._fill_classes()

    @property
    def label(self) -> int | None:
        """The class shown, or None for every class together."""
        data = self.class_combo.currentData()
        return None if data is None or data == ALL else int(data)

    def _fill_classes(self) -> None:
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("all classes", ALL)
        for label, name in enumerate(self.state.class_names):
            if label:
                self.class_combo.addItem(name, label)
        self.class_combo.blockSignals(False)
        self._follow_selection()

    def _follow_selection(self) -> None:
        label = self.state.strip_label
        index = self.class_combo.findData(ALL if label is None else label)
        if index >= 0 and index != self.class_combo.currentIndex():
            self.class_combo.setCurrentIndex(index)  # refreshes
        else:
            self.refresh()

    def refresh(self) -> None:
        curves = self.state.confidence_curves()
        self.threshold_line.setValue(self.state.threshold)
        if curves is None:
            for line in self.lines.values():
                line.setData([], [])
            self._show_best(math.nan, math.nan)
            return
        label, t = self.label, curves.thresholds
        if label is None:
            values = {"precision": curves.overall_precision, "recall": curves.overall_recall,
                      "F1": curves.overall_f1, "mean F1": curves.mean_f1}
            best, best_f1 = curves.overall_best_threshold, curves.overall_best_f1
        else:
            values = {"precision": curves.precision[label], "recall": curves.recall[label], "F1": curves.f1[label],
                      "mean F1": np.zeros(0)}
            best, best_f1 = float(curves.best_threshold[label]), float(curves.best_f1[label])
        for name, line in self.lines.items():
            y = np.asarray(values[name], np.float64)
            line.setData(t[:y.size], y)
        self._show_best(best, best_f1)

    def _show_best(self, best: float, best_f1: float) -> None:
        self.best = best
        ok = math.isfinite(best)
        self.best_button.setEnabled(ok)
        self.best_line.setVisible(ok)
        if ok:
            self.best_line.setValue(best)
            self.best_marker.setData([best], [best_f1])
        else:
            self.best_marker.setData([], [])
        self.best_label.setText(f"best F1 {fmt(best_f1)} at confidence {best:.4f}" if ok else
                                ("no threshold finds anything" if self.state.output is not None else ""))

    def use_best(self) -> None:
        """Move the state's threshold to the best-F1 threshold (to the slider's resolution)."""
        if math.isfinite(self.best):
            self.state.set_threshold(slider_threshold(self.best))

    def curve(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(threshold, value) float64 arrays drawn for ``name`` ("precision", "recall", "F1", "mean F1")."""
        x, y = self.lines[name].getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (np.asarray(x, np.float64), np.asarray(y, np.float64))
