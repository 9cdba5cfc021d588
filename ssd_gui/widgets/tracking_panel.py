"""The Detect view's tracking controls: tracks on or off, the counting line (drawn on the frame), and a
table of the distinct objects seen and the line's crossings per class.

Tracking and counting are :mod:`core.tracking`'s (through ``DetectState.tracks``); this panel only
switches them and shows their numbers. The line itself is drawn on the frame canvas
(:class:`ssd_gui.widgets.frame_canvas.FrameCanvas`, ``line_mode``); the view connects the two.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QGroupBox, QHBoxLayout, QHeaderView, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from core.io.drawing import class_name
from ssd_gui.state.detect import DetectState

COLUMNS = ("Class", "Seen", "In", "Out")


class TrackingPanel(QGroupBox):
    """Check box "Track objects", buttons "Draw counting line" (checkable) and "Clear line", the counts table.

    Signals:
        draw_line_toggled(bool): the user wants to draw the line (the canvas enters or leaves line mode).
    """

    draw_line_toggled = Signal(bool)

    def __init__(self, state: DetectState, parent: QWidget | None = None) -> None:
        super().__init__("Tracking", parent)
        self.state = state
        self.track_box = QCheckBox("Track objects", self)
        self.track_box.setToolTip("Follow each object from frame to frame (ByteTrack, per class): ids and trails on "
                                  "the frame, distinct objects counted per class. Runs on the model's boxes; "
                                  "moving the confidence threshold changes which boxes start tracks.")
        self.draw_button = QPushButton("Draw counting line", self)
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Drag on the frame from one end of the line to the other; objects crossing it "
                                    "are counted per class, \"in\" from the line's left to its right as drawn")
        self.clear_button = QPushButton("Clear line", self)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(90)
        buttons = QHBoxLayout()
        buttons.addWidget(self.draw_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.track_box)
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        self.track_box.toggled.connect(state.set_tracking)
        self.draw_button.toggled.connect(self.draw_line_toggled)
        self.clear_button.clicked.connect(lambda: state.set_counting_line(None))
        state.events.tracking.connect(self._sync)
        self._shown: list[tuple[str, int, int, int]] | None = None
        self._sync()

    def rows(self) -> list[tuple[str, int, int, int]]:
        """(class name, distinct objects seen, crossings in, crossings out), one per class with any."""
        s = self.state
        names = s.result.class_names if s.result is not None else ()
        seen, crossed = s.tracks.counts(), s.tracks.line_counts()
        labels = sorted(set(seen) | {label for label, _ in crossed})
        return [(class_name(k, names), seen.get(k, 0), crossed.get((k, "in"), 0), crossed.get((k, "out"), 0))
                for k in labels]

    def refresh(self) -> None:
        """Show the current counts (the table is rebuilt only when they changed)."""
        rows = self.rows() if self.state.tracking else []
        if rows == self._shown:
            return
        self._shown = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(str(value)))

    def _sync(self) -> None:
        on = self.state.tracking
        if self.track_box.isChecked() != on:
            self.track_box.blockSignals(True)
            self.track_box.setChecked(on)
            self.track_box.blockSignals(False)
        self.draw_button.setEnabled(on)
        self.clear_button.setEnabled(on and self.state.tracks.line is not None)
        if not on and self.draw_button.isChecked():
            self.draw_button.setChecked(False)
        self.refresh()


__all__ = ["TrackingPanel", "COLUMNS"]
