"""The confidence threshold of the Detect view: a slider and a number box showing the same value."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QGroupBox, QHBoxLayout, QLabel, QSlider, QWidget

from ssd_gui.state.detect import MAX_MIN_SCORE, RUN_SCORE_THRESH, DetectState

TOOLTIP = ("Show only the boxes whose confidence is at least this value. The model keeps every box above "
           f"{RUN_SCORE_THRESH:.2f}, so moving this never re-runs it; the export uses the same value.")


class ConfidenceControl(QGroupBox):
    """Slider (hundredths) and spin box bound to ``DetectState.min_score``."""

    def __init__(self, state: DetectState, parent: QWidget | None = None) -> None:
        super().__init__("Confidence", parent)
        self.state = state
        self.setToolTip(TOOLTIP)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(int(round(RUN_SCORE_THRESH * 100)), int(round(MAX_MIN_SCORE * 100)))
        self.slider.setPageStep(5)
        self.slider.setToolTip(TOOLTIP)
        self.spin = QDoubleSpinBox(self)
        self.spin.setRange(RUN_SCORE_THRESH, MAX_MIN_SCORE)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.01)
        self.spin.setToolTip(TOOLTIP)
        self.spin.setKeyboardTracking(False)  # typing "0.35" applies once, not at "0.3"
        row = QHBoxLayout(self)
        row.addWidget(QLabel("≥", self))
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        self.slider.valueChanged.connect(lambda v: state.set_min_score(v / 100.0))
        self.spin.valueChanged.connect(state.set_min_score)
        state.events.filters.connect(self._show)
        self._show()

    def _show(self) -> None:
        v = self.state.min_score
        for w, value in ((self.slider, int(round(v * 100))), (self.spin, v)):
            if w.value() != value:
                w.blockSignals(True)
                w.setValue(value)
                w.blockSignals(False)
