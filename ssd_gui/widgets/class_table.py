"""The Evaluate view's per-class table: APs of the whole run and the counts at the confidence threshold.

Rows are selected by the person (Ctrl/Shift for several); the selection goes to
``EvaluateState.select`` and comes back from its ``selection`` event. With the COCO metric the table also
shows pycocotools' AP by object size and AR@1/10/100 per class. Every AP column's header tooltip gives
its definition (:func:`core.evaluation.definitions.ap_definition`); :func:`definition_footer` is the line
shown under the table.
"""
from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from core.evaluation.definitions import ap_definition
from ssd_gui.state.evaluate import EvaluateState

# (header, key). Keys starting with "t_" depend on the threshold.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Class", "name"), ("AP VOC07", "ap07"), ("AP VOC2010+", "ap12"), ("AP COCO", "ap_coco"),
    ("AP50 COCO", "ap50_coco"), ("APs COCO", "ap_small"), ("APm COCO", "ap_medium"), ("APl COCO", "ap_large"),
    ("AR@1 COCO", "ar1"), ("AR@10 COCO", "ar10"), ("AR@100 COCO", "ar100"), ("GT", "num_gt"),
    ("Detections", "num_det"), ("TP", "t_tp"), ("FP", "t_fp"), ("FN", "t_fn"), ("Precision", "t_precision"),
    ("Recall", "t_recall"), ("F1", "t_f1"), ("AP@t", "t_ap"))
COLUMN = {key: i for i, (_, key) in enumerate(COLUMNS)}
#: pycocotools' per-class arrays (core.evaluation.coco.COCOMetrics) shown only with the COCO metric.
COCO_ONLY: tuple[str, ...] = ("ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100")
#: the metric whose definition each AP column's tooltip gives ("t_ap" follows the AP@t flavour).
COLUMN_METRIC = {"ap07": "voc07", "ap12": "voc12", "ap_coco": "coco", "ap50_coco": "coco",
                 **{key: "coco" for key in COCO_ONLY}}


def definition_footer(metric: str, use_07: bool) -> tuple[str, str]:
    """(one line for under the table, the full definitions for its tooltip) of ``metric`` and of AP@t."""
    d, at = ap_definition(metric), ap_definition("voc07" if use_07 else "voc12")
    line = f"{d.title}: {d.short}."
    if metric == "coco":
        line += f" AP@t: {at.title}."
    return line, f"{d.title}: {d.text}" + ("" if at.metric == metric else f"\n\nAP@t, {at.title}: {at.text}")


def fmt(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals; "–" for None, NaN or infinity."""
    return "–" if v is None or not math.isfinite(float(v)) else f"{float(v):.{digits}f}"


def _num(v: Any) -> tuple[str, float]:
    return fmt(v), float(v)


def _count(v: Any) -> tuple[str, float]:
    return str(int(v)), float(v)


class SortItem(QTableWidgetItem):
    """A cell that sorts by a number (NaN last in ascending order) and shows text."""

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


class ClassTable(QTableWidget):
    """One row per class of the evaluation in an :class:`EvaluateState`."""

    def __init__(self, state: EvaluateState, colors: dict[int, tuple[int, int, int]],
                 parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.state = state
        self.colors = colors
        self.rows: dict[int, list[SortItem]] = {}
        self.setHorizontalHeaderLabels([h for h, _ in COLUMNS])
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSortingEnabled(True)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.itemSelectionChanged.connect(lambda: state.select(self.selected_labels()))
        # after a sort the topmost selected row is the "first" class (the one the image strip shows)
        self.model().layoutChanged.connect(lambda *_: state.select(self.selected_labels()) if self.rows else None)
        state.events.output.connect(self.fill)
        state.events.selection.connect(self._show_selection)
        state.events.threshold.connect(lambda _: self.show_threshold())
        state.events.metric.connect(self.show_metric)
        self.show_metric()

    def fill(self) -> None:
        """One row per class from the state's output (empty without one)."""
        out = self.state.output
        self.setSortingEnabled(False)
        self.blockSignals(True)
        self.clearSelection()
        self.rows = {}
        names = self.state.class_names
        self.setRowCount(max(0, len(names) - 1))
        if out is not None:
            voc07, voc12, coco = out.result.voc(True), out.result.voc(False), out.coco
            for row, label in enumerate(range(1, len(names))):
                values = {"name": (names[label], names[label]), "ap07": _num(voc07.ap[label]),
                          "ap12": _num(voc12.ap[label]),
                          "num_gt": _count(voc12.num_gt[label]), "num_det": _count(voc12.num_det[label])}
                for key, field in (("ap_coco", "ap"), ("ap50_coco", "ap50")) + tuple((k, k) for k in COCO_ONLY):
                    values[key] = _num(getattr(coco, field)[label] if coco is not None else math.nan)
                self.rows[label] = [self._item(row, col, label, *values.get(key, ("", math.nan)))
                                    for col, (_, key) in enumerate(COLUMNS)]
        self.blockSignals(False)
        self.setSortingEnabled(True)
        self.show_threshold()

    def show_metric(self) -> None:
        """COCO's size and recall columns with the COCO metric only; definitions in the AP headers' tooltips."""
        for key in COCO_ONLY:
            self.setColumnHidden(COLUMN[key], self.state.metric != "coco")
        for key, metric in {**COLUMN_METRIC, "t_ap": "voc07" if self.state.use_07 else "voc12"}.items():
            d = ap_definition(metric)
            header = self.horizontalHeaderItem(COLUMN[key])
            prefix = "AP keeping the detections scored >= the threshold. " if key == "t_ap" else ""
            header.setToolTip(f"{prefix}{d.title}: {d.text}")
        self.show_threshold()

    def _item(self, row: int, col: int, label: int, text: str, key: float | str) -> SortItem:
        item = SortItem(text, key)
        item.setData(Qt.ItemDataRole.UserRole, label)
        if col == 0:
            item.setForeground(QColor(*self.colors[label]))
        else:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setItem(row, col, item)
        return item

    def show_threshold(self) -> None:
        """The threshold-dependent columns, from the precomputed sweep (no re-matching)."""
        stats = self.state.stats()
        if stats is None:
            return
        self.setSortingEnabled(False)
        for label, items in self.rows.items():
            values = {"t_tp": _count(stats.tp[label]), "t_fp": _count(stats.fp[label]),
                      "t_fn": _count(stats.fn[label]), "t_precision": _num(stats.precision[label]),
                      "t_recall": _num(stats.recall[label]), "t_f1": _num(stats.f1[label]),
                      "t_ap": _num(stats.ap[label])}
            for key, (text, sort_key) in values.items():
                items[COLUMN[key]].set(text, sort_key)
        self.setSortingEnabled(True)

    def label_at(self, row: int) -> int:
        return int(self.item(row, 0).data(Qt.ItemDataRole.UserRole))

    def selected_labels(self) -> list[int]:
        """Dataset labels of the selected rows, in table order."""
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return [self.label_at(r) for r in rows]

    def _show_selection(self) -> None:
        want = set(self.state.selected)
        if set(self.selected_labels()) == want:
            return
        self.blockSignals(True)
        self.clearSelection()
        mode = self.selectionMode()
        self.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for r in range(self.rowCount()):
            if self.label_at(r) in want:
                self.selectRow(r)
        self.setSelectionMode(mode)
        self.blockSignals(False)

    def cell_texts(self) -> list[list[str]]:
        """Every row's cells as shown ("–" as empty), for the CSV export."""
        return [[self.item(r, c).text().replace("–", "") for c in range(len(COLUMNS))] for r in range(self.rowCount())]
