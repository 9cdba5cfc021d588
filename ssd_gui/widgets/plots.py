"""pyqtgraph plots for the Train and Evaluate views.

* :class:`SeriesPlot` - named series against the iteration (training losses, learning rate,
  validation mAP), with whole-number iteration ticks and readable logarithmic labels.
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
    from core.io.fileio import atomic_path

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


class IterationAxis(pg.AxisItem):
    """An axis of whole numbers (iterations): no tick between two integers, labels without decimals."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:  # noqa: N802
        levels = []
        for spacing, offset in super().tickSpacing(minVal, maxVal, size):
            spacing = max(1.0, float(round(spacing)))
            if all(spacing != s for s, _ in levels):
                levels.append((spacing, offset))
        return levels

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [str(int(round(v * scale))) for v in values]


class LogAxis(pg.AxisItem):
    """A logarithmic axis labelled at 1, 2 and 5 times a power of ten only, written "2e-4": the
    default labels every minor tick and they run into each other over a decade of learning rates."""

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        out = []
        for v in values:
            x = 10.0 ** float(v) * scale
            exponent = int(np.floor(np.log10(x) + 1e-9))
            mantissa = x / 10.0 ** exponent
            m = int(round(mantissa))
            shown = abs(mantissa - m) < 0.05 and m in (1, 2, 5)
            out.append((f"{m}e{exponent}" if exponent < -2 or exponent > 3 else f"{m * 10.0 ** exponent:g}")
                       if shown else "")
        return out


class SeriesPlot(pg.PlotWidget):
    """Named (x, y) series against the iteration, replaced as a whole by :meth:`set_data`.

    Non-finite y values are kept in the data but not drawn (``connect="finite"``), so a gap
    shows where a value was missing. The x axis has whole-number ticks.

    Args:
        title: shown above the plot.
        y_label: the y axis' name.
        series: (name, colour) of each line; the colour may be None for the palette's next one.
        log_y: logarithmic y axis labelled at 1, 2, 5 x 10^k (for the learning rate).
        symbols: draw a marker at each point (for sparse series such as validation mAP).
        legend: show the series names (pointless for a single series).
    """

    def __init__(self, title: str, y_label: str, series: Sequence[tuple[str, tuple[int, int, int] | None]],
                 log_y: bool = False, symbols: bool = False, legend: bool = True,
                 parent: QWidget | None = None) -> None:
        axes = {"bottom": IterationAxis("bottom")}
        if log_y:
            axes["left"] = LogAxis("left")
        super().__init__(parent, axisItems=axes)
        self.setTitle(title)
        self.setLabel("left", y_label)
        self.setLabel("bottom", "iteration")
        self.getAxis("left").enableAutoSIPrefix(False)  # 0.001, not "1 (x0.001)"
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setLogMode(y=log_y)
        if legend:
            self.addLegend(offset=(-10, 10))
        self.curves: dict[str, pg.PlotDataItem] = {}
        for i, (name, color) in enumerate(series):
            pen = pg.mkPen(color if color is not None else series_color(i), width=2)
            kw = dict(symbol="o", symbolSize=6, symbolBrush=pen.color(), symbolPen=None) if symbols else {}
            self.curves[name] = self.plot([], [], name=name, pen=pen, connect="finite", **kw)
        self._show_ticks()

    def set_data(self, name: str, x: Sequence[float], y: Sequence[float]) -> None:
        """Draw series ``name`` as the points ``x``, ``y``."""
        if name not in self.curves:
            raise ValueError(f"unknown series {name!r}; this plot has {list(self.curves)}")
        self.curves[name].setData(np.asarray(x, np.float64), np.asarray(y, np.float64))
        self._show_ticks()

    @property
    def empty(self) -> bool:
        """No series has a point to draw."""
        return all(len(self.points(name)[0]) == 0 for name in self.curves)

    def _show_ticks(self) -> None:
        """Ticks and grid lines only with data: an empty plot's axes would number a range that means
        nothing (the learning rate's log axis showed "2" and "5" over an empty view)."""
        ticks = [[], []] if self.empty else None
        for side in ("left", "bottom"):
            self.getAxis(side).setTicks(ticks)

    def points(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) float64 [N] arrays drawn for ``name`` (what the person sees)."""
        x, y = self.curves[name].getData()
        if x is None:
            return np.zeros(0), np.zeros(0)
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

    def clear_data(self) -> None:
        """No points, and the axes fit the next data again (nothing of an earlier run's range stays)."""
        for curve in self.curves.values():
            curve.setData([], [])
        self.getPlotItem().enableAutoRange()
        self._show_ticks()


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
