"""One dataset image at full size with what a threshold makes of it, and a way on to the Detect view."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from ssd_gui.widgets.qimages import rgb_to_pixmap


class ImageDialog(QDialog):
    """Shows ``image`` (uint8 [H, W, 3] RGB, boxes already drawn) unscaled in a scroll area.

    Signals:
        open_in_detect(str): "Open in Detect" was clicked for ``file``.
    """

    open_in_detect = Signal(str)

    def __init__(self, image: np.ndarray, title: str, file: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.file = file
        self.image_label = QLabel(self)
        self.image_label.setPixmap(rgb_to_pixmap(image))
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea(self)
        scroll.setWidget(self.image_label)
        scroll.setWidgetResizable(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.detect_button = QPushButton("Open in Detect", self)
        self.detect_button.setToolTip("Run the Detect view's model on this image")
        self.detect_button.setEnabled(bool(file))
        self.buttons.addButton(self.detect_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        self.detect_button.clicked.connect(self._open_in_detect)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.buttons)
        h, w = image.shape[:2]
        self.resize(min(w + 40, 1400), min(h + 80, 950))

    def _open_in_detect(self) -> None:
        if self.file:
            self.open_in_detect.emit(self.file)
            self.accept()
