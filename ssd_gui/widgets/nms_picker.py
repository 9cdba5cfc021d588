"""The Detect view's NMS choice: greedy NMS or soft-NMS (Bodla et al. 2017), linear or Gaussian."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QWidget

from core.config import NMS_METHODS
from ssd_gui.state.model import ModelState

LABELS = {"hard": "NMS (remove overlaps)", "soft-linear": "soft-NMS, linear", "soft-gaussian": "soft-NMS, Gaussian"}
TIPS = {
    "hard": "Greedy NMS: of overlapping boxes of a class, only the highest-scoring one is kept",
    "soft-linear": "Soft-NMS: the scores of boxes overlapping a better one by IoU >= the NMS threshold are "
                   "multiplied by 1 - IoU instead of the boxes being removed",
    "soft-gaussian": "Soft-NMS: the scores of overlapping boxes are multiplied by exp(-IoU² / sigma) instead of "
                     "the boxes being removed",
}


class NmsPicker(QGroupBox):
    """A box bound to ``ModelState.nms``; the state applies the method to the running detector (no
    reload), and the next frame detected uses it. Hidden while the model does its own suppression (a teacher
    of core.teachers: ``supports_nms`` False)."""

    def __init__(self, state: ModelState, parent: QWidget | None = None) -> None:
        super().__init__("Overlapping boxes", parent)
        self.state = state
        self.combo = QComboBox(self)
        for i, method in enumerate(NMS_METHODS):
            self.combo.addItem(LABELS.get(method, method), method)
            self.combo.setItemData(i, TIPS.get(method, method), Qt.ItemDataRole.ToolTipRole)
        self.setToolTip("How overlapping boxes of one class are merged (the export uses the same)")
        QHBoxLayout(self).addWidget(self.combo)
        self.combo.activated.connect(lambda i: state.set_nms(self.combo.itemData(i)))
        state.events.nms.connect(self._show)
        state.events.model.connect(lambda d: self.setVisible(d is None or getattr(d, "supports_nms", True)))
        self._show()

    def _show(self) -> None:
        self.combo.setCurrentIndex(NMS_METHODS.index(self.state.nms))
