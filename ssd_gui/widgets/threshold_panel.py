"""The Evaluate view's confidence threshold: the slider, the AP flavour, and the figures at that threshold."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from core.evaluation.definitions import ap_definition
from ssd_gui.state.evaluate import METRIC_NAMES, EvaluateState
from ssd_gui.widgets.class_table import fmt

SLIDER_STEPS = 1000
MAX_LINES = 6


class ThresholdPanel(QWidget):
    """Slider (0.001 steps; arrows 0.005, Page Up/Down 0.05), AP flavour, Export button, and one line of
    figures per selected class plus the totals, all bound to an :class:`EvaluateState`."""

    def __init__(self, state: EvaluateState, colors: dict[int, tuple[int, int, int]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.colors = colors
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setSingleStep(SLIDER_STEPS // 200)
        self.slider.setPageStep(SLIDER_STEPS // 20)
        self.slider.setToolTip("Confidence threshold: detections scored below it are dropped")
        self.value_label = QLabel("", self)
        self.value_label.setMinimumWidth(50)
        self.metric_combo = QComboBox(self)
        for key, text in METRIC_NAMES:
            self.metric_combo.addItem(f"AP: {text}", key)
        self.metric_combo.setToolTip("The AP the table, the comparison and the exports use; AP@t and mAP by "
                                     "threshold use VOC07 with VOC07, else VOC2010+ (COCO has no per-threshold AP)")
        self.export_button = QPushButton("Export…", self)
        self.export_button.setToolTip("Save the plots as PNG and the PR points and table as CSV")
        self.operating_label = QLabel("", self)
        self.operating_label.setWordWrap(True)
        self.operating_label.setTextFormat(Qt.TextFormat.RichText)
        row = QHBoxLayout()
        row.addWidget(QLabel("Confidence threshold", self))
        row.addWidget(self.slider, 1)
        row.addWidget(self.value_label)
        row.addWidget(self.metric_combo)
        row.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.operating_label)
        self.slider.valueChanged.connect(lambda v: state.set_threshold(v / SLIDER_STEPS))
        self.metric_combo.currentIndexChanged.connect(lambda _: state.set_metric(str(self.metric_combo.currentData())))
        for event in (state.events.threshold, state.events.metric, state.events.output, state.events.selection):
            event.connect(lambda *_: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        s = self.state
        value = int(round(s.threshold * SLIDER_STEPS))
        if self.slider.value() != value:
            self.slider.blockSignals(True)
            self.slider.setValue(value)
            self.slider.blockSignals(False)
        self.value_label.setText(f"{s.threshold:.3f}")
        index = self.metric_combo.findData(s.metric)
        if index != self.metric_combo.currentIndex():
            self.metric_combo.blockSignals(True)
            self.metric_combo.setCurrentIndex(index)
            self.metric_combo.blockSignals(False)
        self.export_button.setEnabled(s.output is not None)
        self.operating_label.setText(self.figures_text())
        d = ap_definition("voc07" if s.use_07 else "voc12")
        self.operating_label.setToolTip(f"AP@t keeps the detections scored >= the threshold. {d.title}: {d.text}")

    def figures_text(self) -> str:
        """Rich text: precision, recall, F1, TP, FP, FN, AP@t of the selected classes and of all."""
        stats = self.state.stats()
        if stats is None:
            return ""
        metric = "VOC07" if self.state.use_07 else "VOC2010+"
        lines = []
        for label in self.state.selected[:MAX_LINES]:
            r, g, b = self.colors[label]
            lines.append(
                f"<span style='color:rgb({r},{g},{b})'><b>{html.escape(stats.class_names[label])}</b></span>: "
                f"precision {fmt(stats.precision[label])}, recall {fmt(stats.recall[label])}, "
                f"F1 {fmt(stats.f1[label])}, TP {int(stats.tp[label])}, FP {int(stats.fp[label])}, "
                f"FN {int(stats.fn[label])}, AP@t {fmt(stats.ap[label])}")
        tp, fp, fn = int(stats.tp.sum()), int(stats.fp.sum()), int(stats.fn.sum())
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        lines.append(f"<b>all classes</b> at {stats.threshold:.3f}: TP {tp}, FP {fp}, FN {fn}, precision {fmt(p)}, "
                     f"recall {fmt(r)}, mAP@t ({metric}) {fmt(stats.mAP)}")
        return "<br>".join(lines)
