"""Per-class precision-recall curves with the operating point of a confidence threshold.

Each curve is a :class:`core.evaluation.PRCurve` (one raw point per counted detection,
confidence descending). The operating point at threshold ``t`` is the last point whose
confidence is ``>= t``: the detections kept at that threshold form a prefix of the ranking,
so moving the threshold only looks values up, it never re-matches anything.

Hovering shows precision, recall and the confidence of the nearest point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QWidget

from core.io.drawing import class_color

pg.setConfigOptions(antialias=True)


def kept_count(confidence: np.ndarray, threshold: float) -> int:
    """How many leading entries of ``confidence`` (float [N], descending) are ``>= threshold``.

    The threshold is compared in the scores' own precision, as the evaluation does.
    """
    if confidence.shape[0] == 0:
        return 0
    t = confidence.dtype.type(threshold) if np.issubdtype(confidence.dtype, np.floating) else threshold
    return int(np.searchsorted(-confidence, -t, side="right"))


@dataclass(frozen=True)
class HoverInfo:
    """The PR point under the mouse."""

    label: int
    name: str
    index: int
    recall: float
    precision: float
    confidence: float

    def text(self) -> str:
        return (f"{self.name}: precision {self.precision:.3f}, recall {self.recall:.3f}, "
                f"confidence {self.confidence:.3f}")


class PRPlot(pg.PlotWidget):
    """Precision (y) against recall (x) for the chosen classes.

    Signals:
        hovered(str): the text of the point under the mouse ("" when none is near).
    """

    hovered = Signal(str)

    HOVER_RADIUS = 0.06  # in plot units (recall and precision both span 0..1)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("Precision-recall")
        self.setLabel("left", "precision")
        self.setLabel("bottom", "recall")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setXRange(0.0, 1.0, padding=0.02)
        self.setYRange(0.0, 1.0, padding=0.02)
        self.setMouseEnabled(x=False, y=False)
        self.legend = self.addLegend(offset=(-10, -10))
        self._curves: list = []           # PRCurve per plotted class, in plotting order
        self._lines: list[pg.PlotDataItem] = []
        self._points = pg.ScatterPlotItem(size=11, pen=pg.mkPen("k", width=1))
        self._points.setZValue(10)
        self.addItem(self._points)
        self._hover_marker = pg.ScatterPlotItem(size=14, brush=None, pen=pg.mkPen((40, 40, 40), width=2))
        self._hover_marker.setZValue(11)
        self.addItem(self._hover_marker)
        self._hover_text = pg.TextItem("", color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 220),
                                       border=pg.mkPen((120, 120, 120)), anchor=(0, 1))
        self._hover_text.setZValue(12)
        self._hover_text.hide()
        self.addItem(self._hover_text, ignoreBounds=True)
        self.hover: HoverInfo | None = None
        self.threshold = 0.5
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # ---------------------------------------------------------------- data
    def set_curves(self, curves: list, colors: dict[int, tuple[int, int, int]] | None = None,
                   names: list[str] | None = None, dashed: list[bool] | None = None) -> None:
        """Show ``curves`` (list of :class:`core.evaluation.PRCurve`), replacing the previous ones.

        ``colors`` maps a label to its RGB colour (default: the palette by label). ``names`` suffixes each
        curve's legend entry and ``dashed`` draws some dashed: two evaluations of one class overlaid
        (a comparison's "A" dashed, "B" solid) keep the class colour and differ by the line.
        """
        for line in self._lines:
            self.removeItem(line)
        self.legend.clear()
        self._lines = []
        self._curves = list(curves)
        for i, c in enumerate(self._curves):
            color = (colors or {}).get(c.label, class_color(c.label))
            recall = np.nan_to_num(np.asarray(c.recall, np.float64))
            # Start at recall 0 with the first point's precision so a one-point curve is visible.
            x = np.concatenate([[0.0], recall]) if recall.size else recall
            y = np.concatenate([[c.precision[0]], c.precision]) if recall.size else recall
            style = Qt.PenStyle.DashLine if dashed and dashed[i] else Qt.PenStyle.SolidLine
            suffix = f" {names[i]}" if names and names[i] else ""
            line = self.plot(x, y, pen=pg.mkPen(color, width=2, style=style), name=f"{c.name}{suffix} (GT {c.num_gt})")
            self._lines.append(line)
        self._set_hover(None)
        self.set_threshold(self.threshold)

    @property
    def labels(self) -> list[int]:
        """The labels plotted, in order."""
        return [c.label for c in self._curves]

    def lines_for(self, label: int) -> list[pg.PlotDataItem]:
        """The plot items drawn for class ``label`` (two when a comparison overlays "A" and "B")."""
        return [line for c, line in zip(self._curves, self._lines) if c.label == label]

    def curve_data(self, label: int) -> tuple[np.ndarray, np.ndarray]:
        """(recall, precision) float64 arrays drawn for ``label``."""
        i = self.labels.index(label)
        x, y = self._lines[i].getData()
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

    # ---------------------------------------------------------------- threshold
    def set_threshold(self, threshold: float) -> None:
        """Mark the operating point at ``threshold`` on every curve."""
        self.threshold = float(threshold)
        xs, ys, brushes = [], [], []
        for c, line in zip(self._curves, self._lines):
            k = kept_count(c.confidence, threshold)
            if k == 0:
                continue  # nothing kept: no operating point on this curve
            xs.append(float(np.nan_to_num(c.recall[k - 1])))
            ys.append(float(c.precision[k - 1]))
            brushes.append(pg.mkBrush(line.opts["pen"].color()))
        self._points.setData(xs, ys, brush=brushes)

    def operating_points(self) -> dict[int, tuple[float, float] | None]:
        """label -> (recall, precision) at the current threshold, None where nothing is kept."""
        out: dict[int, tuple[float, float] | None] = {}
        for c in self._curves:
            k = kept_count(c.confidence, self.threshold)
            out[c.label] = None if k == 0 else (float(np.nan_to_num(c.recall[k - 1])), float(c.precision[k - 1]))
        return out

    # ---------------------------------------------------------------- hover
    def hover_at(self, recall: float, precision: float) -> HoverInfo | None:
        """Show the PR point nearest to (``recall``, ``precision``) if one is within reach."""
        best: HoverInfo | None = None
        best_d = self.HOVER_RADIUS
        for c in self._curves:
            if c.confidence.shape[0] == 0:
                continue
            r = np.nan_to_num(np.asarray(c.recall, np.float64))
            d = np.hypot(r - recall, np.asarray(c.precision, np.float64) - precision)
            i = int(np.argmin(d))
            if d[i] <= best_d:
                best_d = float(d[i])
                best = HoverInfo(c.label, c.name, i, float(r[i]), float(c.precision[i]), float(c.confidence[i]))
        self._set_hover(best)
        return best

    def _set_hover(self, info: HoverInfo | None) -> None:
        self.hover = info
        if info is None:
            self._hover_marker.setData([], [])
            self._hover_text.hide()
            self.setToolTip("")
            self.hovered.emit("")
            return
        self._hover_marker.setData([info.recall], [info.precision])
        self._hover_text.setText(info.text())
        # Keep the box inside the plot: flip it to the left of the point near the right edge.
        self._hover_text.setAnchor((1, 1) if info.recall > 0.55 else (0, 1))
        self._hover_text.setPos(info.recall, info.precision)
        self._hover_text.show()
        self.setToolTip(info.text())
        self.hovered.emit(info.text())

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        vb = self.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            if self.hover is not None:
                self._set_hover(None)
            return
        p = vb.mapSceneToView(scene_pos)
        self.hover_at(p.x(), p.y())

    def view_to_widget(self, recall: float, precision: float) -> QPointF:
        """Widget pixel position of a point in plot units (for tests and tooltips)."""
        vb = self.getPlotItem().getViewBox()
        return self.mapFromScene(vb.mapViewToScene(QPointF(recall, precision)))
