"""A checkable list of class names: which detections to show."""
from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap, QIcon
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from core.io.drawing import class_color

# torchvision's COCO list keeps "N/A" for the unused category ids; nobody filters on them.
_HIDDEN_NAMES = {"__background__", "N/A"}


class ClassFilter(QWidget):
    """Check boxes for every class of the current model (background excluded).

    ``changed`` carries the set of checked labels; :meth:`selected_labels` returns it, or
    None when every class is checked (no filtering needed).
    """

    changed = Signal(object)  # set[int] | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Filter class names")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.all_button = QPushButton("All", self)
        self.all_button.setToolTip("Show every class the search lists")
        self.none_button = QPushButton("None", self)
        self.none_button.setToolTip("Hide every class the search lists")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.all_button)
        buttons.addWidget(self.none_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._names: tuple[str, ...] = ()
        self.list.itemChanged.connect(self._emit)
        self.all_button.clicked.connect(lambda: self.set_all(True))
        self.none_button.clicked.connect(lambda: self.set_all(False))
        self.search.textChanged.connect(self._apply_search)

    def set_class_names(self, class_names: Sequence[str]) -> None:
        """Rebuild the list for a new model; every class starts checked."""
        names = tuple(class_names)
        if names == self._names:
            return
        self._names = names
        self.list.blockSignals(True)
        self.list.clear()
        for label, name in enumerate(names):
            if name in _HIDDEN_NAMES:
                continue
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(*class_color(label)))
            item.setIcon(QIcon(swatch))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._apply_search(self.search.text())
        self._emit()

    def items(self) -> list[QListWidgetItem]:
        return [self.list.item(i) for i in range(self.list.count())]

    def item_for(self, name: str) -> QListWidgetItem:
        for item in self.items():
            if item.text() == name:
                return item
        raise KeyError(f"no class named {name!r} in the filter (classes: {[i.text() for i in self.items()]})")

    def set_checked(self, name: str, checked: bool) -> None:
        self.item_for(name).setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def set_all(self, checked: bool) -> None:
        """Check (or uncheck) the classes the search shows; hidden ones keep their state."""
        self.list.blockSignals(True)
        for item in self.items():
            if not item.isHidden():
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.list.blockSignals(False)
        self._emit()

    def selected_labels(self) -> set[int] | None:
        """Checked labels, or None when all are checked."""
        items = self.items()
        checked = {int(i.data(Qt.ItemDataRole.UserRole)) for i in items if i.checkState() == Qt.CheckState.Checked}
        return None if len(checked) == len(items) else checked

    def _apply_search(self, text: str) -> None:
        needle = text.strip().lower()
        for item in self.items():
            item.setHidden(bool(needle) and needle not in item.text().lower())

    def _emit(self, *_: object) -> None:
        self.changed.emit(self.selected_labels())
