"""The Detect view's grid of sources: each tile a frame canvas under a header (its source, its rates, a close
button), laid out by :func:`ssd_gui.state.grid.grid_shape`; the selected tile is outlined.

With one tile the header and the outline are hidden: the plain view. Clicking a tile (its header or its
frame) asks for it to be selected.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from ssd_gui.state.grid import grid_shape, tile_position
from ssd_gui.widgets.frame_canvas import FrameCanvas

SELECTED_STYLE = "TileFrame { border: 2px solid palette(highlight); }"
PLAIN_STYLE = "TileFrame { border: 2px solid transparent; }"


class TileFrame(QFrame):
    """One tile: a header (title, rates, close button) over its :class:`FrameCanvas`.

    Signals:
        clicked(): the user pressed the tile (to select it).
        close_clicked(): the close button was pressed.
    """

    clicked = Signal()
    close_clicked = Signal()

    def __init__(self, canvas: FrameCanvas, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        canvas.setParent(self)
        canvas.setMinimumSize(240, 160)
        self.title_label = QLabel("No source", self)
        self.rates_label = QLabel("", self)
        self.rates_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close this source (its reader stops; the others go on)")
        self.close_button.setAutoRaise(True)
        self.header = QWidget(self)
        row = QHBoxLayout(self.header)
        row.setContentsMargins(4, 0, 0, 0)
        row.addWidget(self.title_label, 1)
        row.addWidget(self.rates_label)
        row.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(canvas, 1)
        self.close_button.clicked.connect(self.close_clicked)
        canvas.pressed.connect(self.clicked)
        self.selected = False
        self.set_grid(False)

    def set_grid(self, on: bool) -> None:
        """Show the header and the outline (several tiles) or neither (the plain view)."""
        self.header.setVisible(on)
        self.setStyleSheet(SELECTED_STYLE if on and self.selected else PLAIN_STYLE)

    def set_selected(self, on: bool) -> None:
        self.selected = on
        self.set_grid(self.header.isVisibleTo(self))

    def set_title(self, text: str, tooltip: str = "") -> None:
        self.title_label.setText(text)
        self.title_label.setToolTip(tooltip)

    def set_rates(self, text: str) -> None:
        if text != self.rates_label.text():
            self.rates_label.setText(text)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        self.clicked.emit()
        super().mousePressEvent(event)


class TileGrid(QWidget):
    """Lays :class:`TileFrame` s out in reading order (one, two side by side, or 2 x 2)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.frames: list[TileFrame] = []

    def set_frames(self, frames: list[TileFrame], selected: int) -> None:
        """Show ``frames`` (1 to 4), ``selected`` outlined; frames no longer listed are taken out (not deleted)."""
        for frame in self.frames:
            if frame not in frames:
                self._layout.removeWidget(frame)
                frame.hide()
        rows, cols = grid_shape(len(frames))
        for r in range(2):
            self._layout.setRowStretch(r, 1 if r < rows else 0)
        for c in range(2):
            self._layout.setColumnStretch(c, 1 if c < cols else 0)
        for i, frame in enumerate(frames):
            self._layout.removeWidget(frame)
            self._layout.addWidget(frame, *tile_position(i, len(frames)))
            frame.set_selected(i == selected)
            frame.set_grid(len(frames) > 1)
            frame.show()
        self.frames = list(frames)


__all__ = ["TileFrame", "TileGrid"]
