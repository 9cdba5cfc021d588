"""One form widget per :class:`core.engine.FieldSpec`: what the Train dialog is made of.

The widget kind, its range, its choices, its tooltip and what None looks like all come from the
spec (so from ``TrainConfig``'s field metadata); nothing here repeats a default or a bound.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLineEdit, QSpinBox, QToolButton, QWidget

from core.engine.config import FieldSpec
from ssd_gui import settings

INT_LIMIT = 2**31 - 1
WEIGHTS_FILTER = "Weights (*.pt *.pth *.ckpt *.bin);;All files (*)"


class PathEdit(QWidget):
    """A line edit with a browse button for a file or a folder (``mode``: "file", "dir" or "any")."""

    def __init__(self, mode: str, caption: str, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode, self.caption = mode, caption
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.button = QToolButton(self)
        self.button.setText("…")
        self.button.clicked.connect(self.browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str | None) -> None:  # noqa: N802 - Qt naming, like QLineEdit
        self.edit.setText(text or "")

    def browse(self) -> None:
        if self.mode == "dir":
            path = settings.ask_folder(self, self.caption, "train", self.text())
        else:
            flt = "JSON (*.json);;All files (*)" if self.mode == "json" else WEIGHTS_FILTER
            path = settings.ask_open_file(self, self.caption, "train", flt)
        if path:
            self.edit.setText(path)


class FieldEditor(QObject):
    """The input widget of one field, with ``value()`` (checked by the spec) and ``set_value()``.

    ``changed`` is emitted when the person (or :meth:`set_value`) changes the field.
    """

    changed = Signal()

    def __init__(self, spec: FieldSpec, parent: QWidget) -> None:
        super().__init__(parent)
        self.spec = spec
        self.widget = self._make(spec, parent)
        self.watch(self.widget)
        self._shown: tuple[str, Any] | None = None  # (text, value) last put in a text field
        self.input: QWidget = self.widget.edit if isinstance(self.widget, PathEdit) else self.widget
        tip = spec.help + (f" ({spec.bounds_text()})" if spec.bounds_text() else "")
        if spec.optional and spec.none_text:
            tip += f"; empty: {spec.none_text}"
        self.widget.setToolTip(tip[:1].upper() + tip[1:])

    @staticmethod
    def _make(spec: FieldSpec, parent: QWidget) -> QWidget:
        if spec.kind == "choice":
            combo = QComboBox(parent)
            if spec.optional:  # None first: e.g. the default boxes of the chosen architecture
                combo.addItem(spec.none_text or "default", None)
            for value, text in zip(spec.choices or (), spec.choice_labels or spec.choices or ()):
                combo.addItem(text, value)
            return combo
        if spec.kind == "bool":
            return QCheckBox(spec.label, parent)
        if spec.kind == "int":
            spin = QSpinBox(parent)
            lo = int(spec.minimum) if spec.minimum is not None else 0
            spin.setRange(lo - 1 if spec.optional else lo, min(int(spec.maximum or INT_LIMIT), INT_LIMIT))
            if spec.optional:
                spin.setSpecialValueText(spec.none_text or "none")  # shown at the minimum
            return spin
        if spec.kind == "path":
            return PathEdit(spec.path_mode or "file", spec.label, spec.none_text or spec.help, parent)
        edit = QLineEdit(parent)
        edit.setPlaceholderText(spec.none_text if spec.optional else "")
        return edit

    def watch(self, widget: QWidget) -> None:
        """Emit ``changed`` when ``widget`` (this field's input) changes."""
        if isinstance(widget, QComboBox):
            widget.currentTextChanged.connect(self.changed)
        elif isinstance(widget, QCheckBox):
            widget.toggled.connect(self.changed)
        elif isinstance(widget, QSpinBox):
            widget.valueChanged.connect(self.changed)
        else:
            (widget.edit if isinstance(widget, PathEdit) else widget).textChanged.connect(self.changed)

    @property
    def name(self) -> str:
        return self.spec.name

    def set_value(self, value: Any) -> None:
        w, spec = self.widget, self.spec
        if isinstance(w, QComboBox):
            w.setCurrentIndex(0 if value is None else max(0, w.findData(value)))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(w.minimum() if value is None else int(value))
        elif isinstance(w, PathEdit):
            w.setText(value)
        else:
            text = "" if value is None else spec.format(value)
            w.setText(text)
            self._shown = (text, value)  # the text rounds floats; an untouched field keeps the exact value

    def value(self) -> Any:
        """The field's value, checked by its spec.

        Raises:
            core.engine.config.FieldValueError: the text is not a valid value (names the field).
        """
        w, spec = self.widget, self.spec
        if isinstance(w, QComboBox):
            value = w.currentData()
        elif isinstance(w, QCheckBox):
            value = w.isChecked()
        elif isinstance(w, QSpinBox):
            value = None if spec.optional and w.value() == w.minimum() else w.value()
        else:
            text = w.text().strip()
            if self._shown is not None and text == self._shown[0].strip():
                return self._shown[1]
            if spec.optional and text.lower() in ("", "none"):
                return None
            return spec.parse(text)
        spec.check(value)
        return value
