"""The confusion matrix at the slider's confidence and an IoU, raw or normalised, with a background row
and column; clicking a cell shows its images in the image strip.

The matrix is :func:`core.evaluation.confusion.confusion_matrix` of the state's evaluation (rows: the
true class, columns: the predicted class, label 0 the background on both axes). Its diagonal and the
off-diagonal sums of a class's column and row are that class's TP, FP and FN of the threshold sweep.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ssd_gui.state.evaluate import EvaluateState

BACKGROUND = "background"


class ConfusionView(QWidget):
    """A table of the confusion matrix bound to an :class:`EvaluateState`.

    Shows the background and every class that has objects or detections in the evaluation; "Normalised"
    divides each row by its sum (where the objects of a true class went; the background row, which
    has only false positives, by its own sum).
    """

    def __init__(self, state: EvaluateState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.labels: list[int] = []   # dataset labels of the rows and columns, in order (0 first)
        self.table = QTableWidget(self)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.normalized_check = QCheckBox("Normalised (by true class)", self)
        self.iou_spin = QDoubleSpinBox(self)
        self.iou_spin.setRange(0.05, 1.0)
        self.iou_spin.setSingleStep(0.05)
        self.iou_spin.setDecimals(2)
        self.iou_spin.setPrefix("IoU ")
        self.iou_spin.setToolTip("The overlap at which a detection matches an object (the evaluation's by default)")
        self.caption = QLabel("", self)
        self.caption.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Rows: true class, columns: predicted class", self))
        row.addStretch(1)
        row.addWidget(self.iou_spin)
        row.addWidget(self.normalized_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.caption)
        self.table.cellClicked.connect(self._clicked)
        self.normalized_check.toggled.connect(lambda _: self.refresh())
        self.iou_spin.valueChanged.connect(self._set_iou)
        state.events.output.connect(self._on_output)
        for event in (state.events.threshold, state.events.cell, state.events.selection):
            event.connect(lambda *_: self.refresh())
        self._on_output()

    @property
    def normalized(self) -> bool:
        return self.normalized_check.isChecked()

    def set_normalized(self, on: bool) -> None:
        self.normalized_check.setChecked(on)

    def _set_iou(self, value: float) -> None:
        out = self.state.output
        if out is not None:
            own = out.result.match.iou_threshold
            self.state.set_confusion_iou(None if math.isclose(value, own) else round(float(value), 2))

    def _on_output(self) -> None:
        out = self.state.output
        self.labels = []
        if out is not None:
            sweep = out.result.sweep
            self.labels = [0] + [k for k in range(1, len(out.result.class_names)) if sweep.num_gt[k] or sweep.num_det[k]]
            self.iou_spin.blockSignals(True)
            self.iou_spin.setValue(self.state.confusion_iou or out.result.match.iou_threshold)
            self.iou_spin.blockSignals(False)
        names = [BACKGROUND if k == 0 else self.state.class_names[k] for k in self.labels]
        self.table.clear()
        self.table.setRowCount(len(names))
        self.table.setColumnCount(len(names))
        self.table.setVerticalHeaderLabels(names)
        self.table.setHorizontalHeaderLabels(names)
        self.refresh()

    def refresh(self) -> None:
        """The cells at the state's threshold and IoU; the cell the strip shows is selected."""
        cm = self.state.confusion()
        if cm is None or not self.labels:
            self.caption.setText("")
            return
        idx = np.asarray(self.labels)
        counts = cm.counts[np.ix_(idx, idx)]
        norm = cm.normalized("true")[np.ix_(idx, idx)]
        self.table.blockSignals(True)
        for r in range(len(idx)):
            for c in range(len(idx)):
                n, f = int(counts[r, c]), float(norm[r, c])
                text = ("–" if math.isnan(f) else f"{f:.2f}") if self.normalized else str(n)
                item = self.table.item(r, c) or QTableWidgetItem()
                item.setText(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                shade = 0.0 if math.isnan(f) else f
                diagonal = r == c and r > 0
                base = (0, 150, 60) if diagonal else (220, 40, 40)
                item.setBackground(QBrush(QColor(*[int(255 - (255 - v) * shade * 0.8) for v in base])))
                item.setToolTip(f"true {self._name(idx[r])}, predicted {self._name(idx[c])}: {n} "
                                f"({'–' if math.isnan(f) else f'{100 * f:.0f}%'} of the row); click: its images")
                if self.table.item(r, c) is None:
                    self.table.setItem(r, c, item)
        self.table.clearSelection()
        if self.state.cell is not None and all(v in self.labels for v in self.state.cell):
            self.table.setCurrentCell(self.labels.index(self.state.cell[0]), self.labels.index(self.state.cell[1]))
        self.table.blockSignals(False)
        self.caption.setText(f"At confidence {cm.threshold:.3f} and IoU {cm.iou_threshold:.2f}: "
                             f"TP {int(cm.tp.sum())}, FP {int(cm.fp.sum())}, FN {int(cm.fn.sum())}"
                             + ("" if self.state.cell is None else
                                f"; the strip shows true {self._name(self.state.cell[0])}, predicted "
                                f"{self._name(self.state.cell[1])}"))

    def _name(self, label: int) -> str:
        return BACKGROUND if label == 0 else self.state.class_names[int(label)]

    def _clicked(self, row: int, column: int) -> None:
        self.state.set_cell((self.labels[row], self.labels[column]))

    def cell_text(self, true_label: int, pred_label: int) -> str:
        """The text shown in cell (true, predicted)."""
        return self.table.item(self.labels.index(true_label), self.labels.index(pred_label)).text()

    def cell_rect(self, true_label: int, pred_label: int) -> QRect:
        """The cell's rectangle in the table's viewport (to click it)."""
        item = self.table.item(self.labels.index(true_label), self.labels.index(pred_label))
        return self.table.visualItemRect(item)
