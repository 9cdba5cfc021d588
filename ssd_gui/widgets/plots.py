"""pyqtgraph plots for the Train and Evaluate views.

* :class:`SeriesPlot` - named series that grow point by point (training losses, learning
  rate, validation mAP). Points are buffered and drawn by :meth:`SeriesPlot.flush`, so a
  fast training loop does not redraw the plot once per iteration.
* :class:`ThresholdPlot` - a y-by-threshold curve (mAP against the confidence threshold)
  with a vertical line and a marker at the current threshold.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

pg.setConfigOptions(antialias=True, background="w", foreground="k")

# Distinct, colour-blind friendly line colours (Okabe-Ito), cycled by index.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0), (86, 180, 233),
    (240, 228, 66), (0, 0, 0))


def series_color(index: int) -> tuple[int, int, int]:
    """Line colour number ``index`` (cycles through :data:`PALETTE`)."""
    return PALETTE[index % len(PALETTE)]


EXPORT_SIZE: tuple[int, int] = (1200, 900)


def render_png(widget: QWidget, path: str | Path, size: tuple[int, int] = EXPORT_SIZE) -> Path:
    """Render ``widget`` (made for the purpose, never shown on screen) at ``size`` into a PNG, atomically.

    The export does not depend on how large the window happens to be, nor on the mouse. ``widget`` is
    closed and scheduled for deletion afterwards.

    Raises:
        OSError: the file could not be written (names it).
    """
    from core.fileio import atomic_path

    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.show()
    widget.resize(*size)
    image = widget.grab()
    widget.close()
    widget.deleteLater()
    p = Path(path)
    with atomic_path(p, "PNG file") as tmp:
        if not image.save(str(tmp), "PNG"):
            raise OSError(f"{p}: could not write the PNG")
    return p


class SeriesPlot(pg.PlotWidget):
    """A plot of named (x, y) series appended one point at a time.

    Non-finite y values are kept in the data but not drawn (``connect="finite"``), so a gap
    shows where a value was missing.

    Args:
        title: shown above the plot.
        y_label, x_label: axis names.
        series: (name, colour) of each line; the colour may be None for the palette's next one.
        log_y: logarithmic y axis (for the learning rate).
        symbols: draw a marker at each point (for sparse series such as validation mAP).
    """

    def __init__(self, title: str, y_label: str, series: Sequence[tuple[str, tuple[int, int, int] | None]],
                 x_label: str = "iteration", log_y: bool = False, symbols: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle(title)
        self.setLabel("left", y_label)
        self.setLabel("bottom", x_label)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setLogMode(y=log_y)
        self.addLegend(offset=(-10, 10))
        self._x: dict[str, list[float]] = {}
        self._y: dict[str, list[float]] = {}
        self._dirty: set[str] = set()
        self.curves: dict[str, pg.PlotDataItem] = {}
        for i, (name, color) in enumerate(series):
            pen = pg.mkPen(color if color is not None else series_color(i), width=2)
            kw = dict(symbol="o", symbolSize=6, symbolBrush=pen.color(), symbolPen=None) if symbols else {}
            self.curves[name] = self.plot([], [], name=name, pen=pen, connect="finite", **kw)
            self._x[name], self._y[name] = [], []

    def append(self, name: str, x: float, y: float) -> None:
        """Add one point to series ``name``; it is drawn at the next :meth:`flush`."""
        if name not in self.curves:
            raise ValueError(f"unknown series {name!r}; this plot has {list(self.curves)}")
        self._x[name].append(float(x))
        self._y[name].append(float(y))
        self._dirty.add(name)

    def flush(self) -> None:
        """Draw the points appended since the last flush."""
        for name in self._dirty:
            self.curves[name].setData(np.asarray(self._x[name]), np.asarray(self._y[name]))
        self._dirty.clear()

    def points(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) float64 [N] arrays drawn for ``name`` (what the person sees)."""
        x, y = self.curves[name].getData()
        if x is None:
            return np.zeros(0), np.zeros(0)
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

    def clear_data(self) -> None:
        for name in self.curves:
            self._x[name].clear()
            self._y[name].clear()
            self.curves[name].setData([], [])
        self._dirty.clear()


class ThresholdPlot(pg.PlotWidget):
    """A curve against the confidence threshold with the current threshold marked.

    Args:
        title, y_label: plot texts.
    """

    def __init__(self, title: str, y_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle(title)
        self.setLabel("left", y_label)
        self.setLabel("bottom", "confidence threshold")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setXRange(0.0, 1.0, padding=0.02)
        self.setYRange(0.0, 1.0, padding=0.02)
        self.curve = self.plot([], [], pen=pg.mkPen(series_color(0), width=2), connect="finite")
        self.line = pg.InfiniteLine(angle=90, pen=pg.mkPen((120, 120, 120), width=1, style=pg.QtCore.Qt.DashLine))
        self.addItem(self.line)
        self.marker = pg.ScatterPlotItem(size=10, brush=pg.mkBrush(series_color(1)), pen=None)
        self.addItem(self.marker)
        self._x = np.zeros(0)
        self._y = np.zeros(0)

    def set_curve(self, thresholds: np.ndarray, values: np.ndarray) -> None:
        """``thresholds`` float [T] ascending, ``values`` float [T] (NaN allowed: not drawn)."""
        self._x = np.asarray(thresholds, np.float64)
        self._y = np.asarray(values, np.float64)
        self.curve.setData(self._x, self._y)

    def set_threshold(self, threshold: float, value: float) -> None:
        """Move the line to ``threshold`` and the marker to ``(threshold, value)`` (hidden if NaN)."""
        self.line.setValue(float(threshold))
        if np.isfinite(value):
            self.marker.setData([float(threshold)], [float(value)])
        else:
            self.marker.setData([], [])

    def marker_position(self) -> tuple[float, float] | None:
        """(threshold, value) of the marker, or None when hidden."""
        x, y = self.marker.getData()
        return (float(x[0]), float(y[0])) if len(x) else None
