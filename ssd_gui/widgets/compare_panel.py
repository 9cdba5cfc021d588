"""Comparing two evaluations of the same data: the one kept as "A" and the current one, "B".

Keep an evaluation as A, change the model, its runtime or precision, or its NMS, and evaluate again on
the same data: the panel shows per-class AP of A and B side by side with the difference B - A
(:func:`core.evaluation.compare.compare_evaluations`, on the AP metric of the view), and the PR plot
overlays both curves of each selected class (A dashed). Evaluations of other data are refused with
core's reason.
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from core.evaluation.definitions import ap_definition
from ssd_gui.state.evaluate import EvaluateState
from ssd_gui.widgets.class_table import SortItem, fmt

HEADERS = ("Class", "GT", "AP A", "AP B", "B − A", "Detections A", "Detections B")
BETTER, WORSE = QColor(0, 140, 60), QColor(200, 30, 30)


class ComparePanel(QWidget):
    """"Keep as A" / "Forget A", what A and B are, and the per-class table of the comparison."""

    def __init__(self, state: EvaluateState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.keep_button = QPushButton("Keep as A", self)
        self.keep_button.setToolTip("Keep this evaluation as A; then evaluate another model, runtime, precision "
                                    "or NMS on the same data: it becomes B")
        self.clear_button = QPushButton("Forget A", self)
        self.caption = QLabel("", self)
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, len(HEADERS), self)
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.definition = QLabel("", self)
        self.definition.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.caption)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.definition)
        self.keep_button.clicked.connect(state.keep_as_a)
        self.clear_button.clicked.connect(state.clear_kept)
        for event in (state.events.output, state.events.compare, state.events.metric):
            event.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        s = self.state
        self.keep_button.setEnabled(s.output is not None and s.kept is not s.output)
        self.clear_button.setEnabled(s.kept is not None)
        d = ap_definition(s.metric)
        self.definition.setText(f"{d.title}: {d.short}.")
        self.definition.setToolTip(d.text)
        comparison, why = s.comparison()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        if s.kept is None:
            self.caption.setText("Keep an evaluation as A, then evaluate another model, runtime, precision or NMS "
                                 "on the same data to compare them class by class.")
            return
        a = f"<b>A</b>: {s.kept_name} on {s.kept.gt.name}"
        if comparison is None:
            self.caption.setText(a + ("<br><b>Not comparable</b>: " + why if why else
                                      "<br>Evaluate another model on the same data: it becomes B."))
            return
        self.caption.setText(f"{a}<br><b>B</b>: {s.output_name}<br>mAP A {fmt(comparison.map_a)}, "
                             f"B {fmt(comparison.map_b)}, B − A {self._signed(comparison.map_diff)}")
        rows = comparison.rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = [(row["class"], row["class"]), (str(row["num_gt"]), float(row["num_gt"])),
                      self._num(row["ap_a"]), self._num(row["ap_b"]),
                      (self._signed(row["diff"]), math.nan if row["diff"] is None else row["diff"]),
                      (str(row["num_det_a"]), float(row["num_det_a"])), (str(row["num_det_b"]), float(row["num_det_b"]))]
            for c, (text, key) in enumerate(values):
                item = SortItem(text, key)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 4 and row["diff"]:
                    item.setForeground(BETTER if row["diff"] > 0 else WORSE)
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)

    @staticmethod
    def _num(v: float | None) -> tuple[str, float]:
        return fmt(v), math.nan if v is None else float(v)

    @staticmethod
    def _signed(v: float | None) -> str:
        return "–" if v is None or not math.isfinite(v) else f"{v:+.3f}"

    def rows(self) -> list[list[str]]:
        """The table's cells as shown (for tests and the CSV export)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]
