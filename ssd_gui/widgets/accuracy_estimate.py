"""The Evaluate view's answer to "no labels: estimate accuracy": the estimate, its interval, how far to trust
it, and where the footage falls among the calibration sets (a scatter of the fit's signal against the true
mAP, one point per shifted calibration set, the fit's line, and this footage marked with its interval)."""
from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ssd_gui.widgets.plots import series_color

EMPTY_TEXT = ("No estimate yet: choose a model, then a video, an image folder or an image, and Evaluate. The model "
              "is calibrated once on shifted copies of its own labelled data (this takes a while; it is cached).")


class AccuracyEstimatePanel(QWidget):
    """Shows a :class:`core.evaluation.estimate.EstimateOutput` (or nothing: :meth:`show_output` with None).

    Attributes:
        headline: the estimate and interval; details: the caveat, the trust sentence and the notes;
        plot: the calibration scatter; ``footage_item`` the footage's marker, ``points_items`` one
        scatter per kind of shift.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headline = QLabel(EMPTY_TEXT, self)
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel("", self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = pg.PlotWidget(self, title="Calibration sets: signal against true mAP")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("left", "true mAP")
        self.plot.addLegend(offset=(-10, 10))
        self.footage_item: pg.ScatterPlotItem | None = None
        self.points_items: list[pg.ScatterPlotItem] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.headline)
        layout.addWidget(self.details)
        layout.addWidget(self.plot, 1)

    def show_output(self, output: Any) -> None:
        """Show ``output`` (None: the empty state)."""
        self.plot.clear()
        self.points_items, self.footage_item = [], None
        if output is None:
            self.headline.setText(EMPTY_TEXT)
            self.details.setText("")
            return
        lo, hi = output.interval
        from core.evaluation.estimate import METRIC_NAMES

        self.headline.setText(
            f"<span style='font-size:14pt'><b>Estimated {html.escape(METRIC_NAMES[output.metric])}: "
            f"{output.estimate:.3f}</b>, interval [{lo:.3f}, {hi:.3f}]</span><br>"
            f"{html.escape(output.model)}, {output.frames} frames of {html.escape(str(output.request.images))}")
        notes = "".join(f"<br>note: {html.escape(n)}" for n in output.notes)
        self.details.setText(f"<b style='color:#b45000'>{html.escape(output.caveat)}</b><br>"
                             f"From {html.escape(output.signal_text())}. {html.escape(output.trust())}{notes}")
        self._draw(output.scatter())

    def _draw(self, data: dict[str, Any]) -> None:
        self.plot.setLabel("bottom", data["x_label"])
        kinds = list(dict.fromkeys(p[3] for p in data["points"]))
        for i, kind in enumerate(kinds):
            pts = [p for p in data["points"] if p[3] == kind]
            item = pg.ScatterPlotItem([p[0] for p in pts], [p[1] for p in pts], size=8, brush=pg.mkBrush(*series_color(i)),
                                      pen=None, name=kind, data=[p[2] for p in pts])
            self.plot.addItem(item)
            self.points_items.append(item)
        (x0, x1), (y0, y1) = data["line"]
        self.plot.addItem(pg.PlotDataItem([x0, x1], [y0, y1], pen=pg.mkPen((90, 90, 90), width=1, style=Qt.PenStyle.DashLine),
                                          name="fit"))
        x, est, lo, hi = data["footage"]
        self.plot.addItem(pg.ErrorBarItem(x=np.array([x]), y=np.array([est]), top=np.array([hi - est]),
                                          bottom=np.array([est - lo]), beam=0.004, pen=pg.mkPen((200, 0, 0), width=2)))
        self.footage_item = pg.ScatterPlotItem([x], [est], size=16, symbol="star", brush=pg.mkBrush(200, 0, 0),
                                               pen=pg.mkPen("k"), name="this footage")
        self.plot.addItem(self.footage_item)
        self.plot.addItem(pg.InfiniteLine(pos=x, angle=90, pen=pg.mkPen((200, 0, 0), style=Qt.PenStyle.DotLine)))
