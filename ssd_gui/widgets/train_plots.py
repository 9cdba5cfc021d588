"""The Train view's curves: the loss terms, the learning rate and the validation mAP of a run.

Drawn from a :class:`TrainState`'s points by a 10 Hz timer while the run goes, so a fast loop never
redraws once per iteration. The three plots show the same iteration range: zooming or panning one
moves all three.
"""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QWidget

from ssd_gui.state.train import TrainState
from ssd_gui.widgets.plots import SeriesPlot

REFRESH_MS = 100


class TrainPlots(QWidget):
    """Loss on top, learning rate and validation mAP below; :meth:`flush` draws the state's points."""

    def __init__(self, state: TrainState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.loss_plot = SeriesPlot("Training loss", "loss", [("total", None), ("localization", None),
                                                               ("confidence", None)], parent=self)
        self.lr_plot = SeriesPlot("Learning rate", "learning rate", [("lr", (90, 90, 90))], log_y=True,
                                  legend=False, parent=self)
        self.map_plot = SeriesPlot("Validation", "VOC07 mAP@0.5", [("val mAP", (0, 158, 115))], symbols=True,
                                   legend=False, parent=self)
        self.map_plot.setYRange(0.0, 1.0, padding=0.02)
        # The same iteration range in all three (pyqtgraph's setXLink would keep the same scale instead,
        # so the narrower plots below would show part of the run).
        self._syncing = False
        for plot in (self.loss_plot, self.lr_plot, self.map_plot):
            plot.getViewBox().sigXRangeChanged.connect(self._share_x_range)
        self._follow_loss_plot()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss_plot, 0, 0, 1, 2)
        grid.addWidget(self.lr_plot, 1, 0)
        grid.addWidget(self.map_plot, 1, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        self._drawn: dict[str, int] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.flush)
        state.events.history.connect(self._on_history)
        state.events.status.connect(self._on_status)

    def _follow_loss_plot(self) -> None:
        """The loss plot (every iteration has a loss) fits its x range to the data; the others follow it."""
        for plot in (self.lr_plot, self.map_plot):
            plot.getViewBox().enableAutoRange(axis="x", enable=False)
        self._share_x_range(self.loss_plot.getViewBox(), tuple(self.loss_plot.getViewBox().viewRange()[0]))

    def _share_x_range(self, viewbox: object, x_range: tuple[float, float]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            for plot in (self.loss_plot, self.lr_plot, self.map_plot):
                if plot.getViewBox() is not viewbox:
                    plot.setXRange(*x_range, padding=0)
        finally:
            self._syncing = False

    def _plot_of(self, name: str) -> SeriesPlot:
        return self.lr_plot if name == "lr" else self.map_plot if name == "val mAP" else self.loss_plot

    def flush(self) -> None:
        """Draw the series that gained points since the last flush."""
        for name, (xs, ys) in self.state.points.items():
            if self._drawn.get(name) != len(xs):
                self._plot_of(name).set_data(name, xs, ys)
                self._drawn[name] = len(xs)

    def _on_history(self) -> None:
        if not any(xs for xs, _ in self.state.points.values()):
            for plot in (self.loss_plot, self.lr_plot, self.map_plot):
                plot.clear_data()
            self.map_plot.setYRange(0.0, 1.0, padding=0.02)
            self._follow_loss_plot()
            self._drawn.clear()
        self.flush()

    def _on_status(self, status: str) -> None:
        if self.state.busy:
            self._timer.start()
        else:
            self._timer.stop()
            self.flush()
