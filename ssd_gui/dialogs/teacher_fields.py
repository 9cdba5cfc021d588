"""The Train dialog's "Unlabelled images or video + teacher model" data source: what to label and with what.

The fields come from :data:`core.engine.teacher_run.TEACHER_FIELDS` (through :class:`FieldEditor`, like the
dialog's other fields), the teacher itself from a :class:`ssd_gui.widgets.teacher_picker.TeacherPicker` (a
model file, torchvision's zoo, text prompts, a plug-in), and the sources from a list of videos, image folders
and images. :meth:`stage` gives the :class:`core.engine.teacher_run.TeacherStage` that
:func:`pseudo_label_then_train` runs first.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QGroupBox, QHBoxLayout, QListWidget, QPushButton,
                               QVBoxLayout, QWidget)

from core.engine.config import FieldValueError
from core.engine.teacher_run import TEACHER_FIELDS, TeacherStage, parse_classes
from ssd_gui import settings
from ssd_gui.dialogs.field_editors import FieldEditor
from ssd_gui.widgets.teacher_picker import TeacherPicker

SOURCE_FILTER = ("Videos and images (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.jpg *.jpeg *.png *.bmp *.tif *.tiff);;"
                 "All files (*)")


class SourceList(QWidget):
    """Videos, image folders and images to label: a list with "Add files…", "Add folder…" and "Remove".

    ``changed`` is emitted whenever the list changes.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setMaximumHeight(90)
        self.list.setToolTip("Videos, image folders and images the teacher labels (a camera: record it first)")
        self.add_files_button = QPushButton("Add files…", self)
        self.add_folder_button = QPushButton("Add folder…", self)
        self.remove_button = QPushButton("Remove", self)
        self.add_files_button.clicked.connect(self.browse_files)
        self.add_folder_button.clicked.connect(self.browse_folder)
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QVBoxLayout()
        for b in (self.add_files_button, self.add_folder_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.list, 1)
        row.addLayout(buttons)

    def paths(self) -> tuple[str, ...]:
        return tuple(self.list.item(i).text() for i in range(self.list.count()))

    def set_paths(self, paths: tuple[str, ...] | list[str]) -> None:
        self.list.clear()
        self.add(paths)

    def add(self, paths: tuple[str, ...] | list[str]) -> None:
        """Append ``paths`` (those already listed are not repeated)."""
        have = set(self.paths())
        for p in paths:
            if p and p not in have:
                self.list.addItem(p)
                have.add(p)
        self.changed.emit()

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.changed.emit()

    def browse_files(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        files, _ = QFileDialog.getOpenFileNames(self, "Videos or images to label", settings.last_folder("video"),
                                                SOURCE_FILTER)
        if files:
            settings.remember_folder("video", files[0])
            self.add(files)

    def browse_folder(self) -> None:
        folder = settings.ask_folder(self, "A folder of images to label", "images")
        if folder:
            self.add([folder])


class TeacherFields(QGroupBox):
    """The teacher stage's fields (shown when the dialog's data source is the teacher).

    Attributes:
        sources: the :class:`SourceList`.
        picker: the :class:`TeacherPicker` of the ``teacher`` field.
        editors: field name (of ``TEACHER_FIELDS``, the teacher aside) -> :class:`FieldEditor`.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Unlabelled data and teacher", parent)
        form = QFormLayout(self)
        self.sources = SourceList(self)
        self.sources.changed.connect(self.changed)
        form.addRow("Sources", self.sources)
        self.editors: dict[str, FieldEditor] = {}
        for spec in TEACHER_FIELDS:
            if spec.name == "teacher":
                self.picker = TeacherPicker(self, default=str(spec.default))
                self.picker.setToolTip(spec.help)
                self.picker.changed.connect(self.changed)
                form.addRow(spec.label, self.picker)
                continue
            editor = FieldEditor(spec, self)
            editor.changed.connect(self.changed)
            self.editors[spec.name] = editor
            form.addRow("" if spec.kind == "bool" else spec.label, editor.widget)
        self.set_stage(None)

    def widget(self, name: str) -> QWidget:
        """The input widget of field ``name`` (a QLineEdit, QSpinBox or QCheckBox; for ``teacher`` the picker's
        "Model file" line edit, which takes any model string as it is)."""
        if name == "teacher":
            self.picker.kind_combo.setCurrentIndex(0)
            return self.picker.file_edit
        return self.editors[name].input

    def set_stage(self, stage: TeacherStage | None) -> None:
        """Fill the fields from ``stage`` (None: the fields' defaults and no sources)."""
        self.sources.set_paths(list(stage.sources) if stage is not None else [])
        self.picker.set_text(stage.teacher if stage is not None else "demo")
        for name, editor in self.editors.items():
            if stage is None:
                editor.set_value(editor.spec.default)
            elif name == "classes":
                editor.set_value(None if stage.classes is None else ", ".join(stage.classes))
            else:
                editor.set_value(getattr(stage, name))

    def stage(self) -> TeacherStage:
        """The :class:`TeacherStage` the fields describe.

        Raises:
            ValueError: no source, or a field is invalid (the message names it by its label).
        """
        if not self.sources.paths():
            raise ValueError("Sources: add at least one video, image folder or image for the teacher to label")
        values = {}
        for name, editor in self.editors.items():
            try:
                values[name] = editor.value()
            except FieldValueError as exc:
                raise ValueError(f"{exc.label}: {exc.why} (got {exc.value!r})") from None
        values["classes"] = parse_classes(values["classes"])
        values["teacher"] = self.picker.text()
        if not values["teacher"]:
            raise ValueError("Teacher model: choose a model file, a torchvision detector, type the prompts or pick "
                             "the plug-in's file")
        return TeacherStage(sources=self.sources.paths(), **values)


__all__ = ["SourceList", "TeacherFields"]
