"""The Detect view's performance numbers: what runs the model, source and model rates, latency, dropped frames,
boxes shown, the NMS method."""
from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from core.runtime import runtime_label
from ssd_gui.state.detect import DetectState
from ssd_gui.widgets.nms_picker import LABELS as NMS_LABELS


class StatsPanel(QGroupBox):
    """Reads the counters of a :class:`DetectState`; :meth:`refresh` redraws them (the view calls it a
    few times a second while playing: label changes re-run layouts)."""

    def __init__(self, state: DetectState, parent: QWidget | None = None) -> None:
        super().__init__("Performance", parent)
        self.state = state
        self.source_fps_label = QLabel("–", self)
        self.model_fps_label = QLabel("–", self)
        self.latency_label = QLabel("–", self)
        self.count_label = QLabel("–", self)
        self.runtime_label = QLabel("–", self)
        self.nms_label = QLabel("–", self)
        form = QFormLayout(self)
        form.addRow("Runtime:", self.runtime_label)
        form.addRow("Source:", self.source_fps_label)
        form.addRow("Model:", self.model_fps_label)
        form.addRow("Latency:", self.latency_label)
        form.addRow("Shown:", self.count_label)
        form.addRow("NMS:", self.nms_label)
        for event in (state.events.stats, state.events.model, state.events.nms):
            event.connect(lambda *_: self.refresh())

    def refresh(self) -> None:
        s = self.state
        self.runtime_label.setText(runtime_label(s.detector) if s.detector is not None else "no model")
        self.nms_label.setText(NMS_LABELS.get(s.nms, s.nms))
        r, info = s.source_rate.value, s.source
        if info is not None and not info.is_live and info.fps:
            self.source_fps_label.setText(f"{info.fps:.1f} fps file, {r:.1f} read" if r else f"{info.fps:.1f} fps file")
        else:
            self.source_fps_label.setText(f"{r:.1f} fps" if r else "–")
        m = s.model_time.value
        self.model_fps_label.setText(f"{1.0 / m:.1f} fps ({m * 1000:.0f} ms)" if m else "no model")
        lat = s.latency.value
        dropped = f", {s.dropped} dropped" if s.dropped else ""
        self.latency_label.setText(f"{lat * 1000:.0f} ms{dropped}" if lat is not None else "–")
        total = len(s.result.detections) if s.result is not None else 0
        self.count_label.setText(f"{len(s.visible())} of {total} boxes" if s.result is not None else "–")
