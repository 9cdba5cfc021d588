"""The Detect view's tracking controls: tracks on or off, the counting line and the counting zone (drawn on
the frame), and a table per class of the distinct objects seen, the line's crossings, and the objects in the
zone now and ever.

Tracking and counting are :mod:`core.tracking`'s (through ``DetectState.tracks``); this panel only
switches them and shows their numbers. The line and the zone themselves are drawn on the frame canvas
(:class:`ssd_gui.widgets.frame_canvas.FrameCanvas`, ``line_mode`` and ``zone_mode``); the tile connects the two.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QGroupBox, QHBoxLayout, QHeaderView, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from core.io.drawing import class_name
from ssd_gui.state.detect import DetectState

COLUMNS = ("Class", "Seen", "In", "Out", "In zone", "Zone seen")
Row = tuple[str, int, int, int, int, int]


class TrackingPanel(QGroupBox):
    """Check box "Track objects", buttons "Draw counting line" and "Draw zone" (checkable, one at a time),
    "Clear line" and "Clear zone", the counts table.

    Signals:
        draw_line_toggled(bool): the user wants to draw the line (the canvas enters or leaves line mode).
        draw_zone_toggled(bool): the same for the zone (zone mode).
    """

    draw_line_toggled = Signal(bool)
    draw_zone_toggled = Signal(bool)

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
        self.zone_button = QPushButton("Draw zone", self)
        self.zone_button.setCheckable(True)
        self.zone_button.setToolTip("Click the zone's corners on the frame and double-click the last one (right click: "
                                    "start again); the objects whose box centre is inside are counted per class, "
                                    "now and in all")
        self.clear_zone_button = QPushButton("Clear zone", self)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(62)  # a header and two rows; the zone buttons took the rest of the room
        layout = QVBoxLayout(self)
        layout.addWidget(self.track_box)
        for pair in ((self.draw_button, self.clear_button), (self.zone_button, self.clear_zone_button)):
            buttons = QHBoxLayout()
            for b in pair:
                buttons.addWidget(b)
            layout.addLayout(buttons)
        layout.addWidget(self.table)
        self.track_box.toggled.connect(state.set_tracking)
        self.draw_button.toggled.connect(lambda on: self._drawing(self.draw_button, self.zone_button, on))
        self.zone_button.toggled.connect(lambda on: self._drawing(self.zone_button, self.draw_button, on))
        self.clear_button.clicked.connect(lambda: state.set_counting_line(None))
        self.clear_zone_button.clicked.connect(lambda: state.set_counting_zone(None))
        state.events.tracking.connect(self._sync)
        self._shown: list[Row] | None = None
        self._sync()

    def _drawing(self, button: QPushButton, other: QPushButton, on: bool) -> None:
        if on and other.isChecked():
            other.setChecked(False)  # one drawing mode at a time
        (self.draw_line_toggled if button is self.draw_button else self.draw_zone_toggled).emit(on)

    def rows(self) -> list[Row]:
        """(class name, distinct objects seen, crossings in, crossings out, in the zone now, distinct seen in the
        zone), one per class with any."""
        s = self.state
        names = s.result.class_names if s.result is not None else ()
        seen, crossed, zone = s.tracks.counts(), s.tracks.line_counts(), s.tracks.zone_counts()
        labels = sorted(set(seen) | {label for label, _ in crossed} | set(zone))
        return [(class_name(k, names), seen.get(k, 0), crossed.get((k, "in"), 0), crossed.get((k, "out"), 0),
                 *zone.get(k, (0, 0))) for k in labels]

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
        for draw, clear, shape in ((self.draw_button, self.clear_button, self.state.tracks.line),
                                   (self.zone_button, self.clear_zone_button, self.state.tracks.zone)):
            draw.setEnabled(on)
            clear.setEnabled(on and shape is not None)
            if not on and draw.isChecked():
                draw.setChecked(False)
        self.refresh()


__all__ = ["TrackingPanel", "COLUMNS"]
