"""Choosing a teacher (or a reference model) of any kind: a model file, a torchvision COCO detector, text prompts
for OWLv2 or Grounding DINO, or a Python plug-in. The picker only edits the teacher string that core reads
(:func:`core.teachers.spec.parse_teacher_spec`, :func:`core.teachers.spec.teacher_string`); what a kind means,
and every check, lives in core.

A plug-in runs its code: the picker says so under the plug-in's file, and :func:`confirm_if_code` asks before a
run that would load one (:mod:`ssd_gui.dialogs.trust`).
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QStackedWidget, QVBoxLayout, QWidget

from core.teachers.spec import KINDS, parse_teacher_spec, teacher_string
from ssd_gui import settings
from ssd_gui.dialogs.field_editors import PathEdit

#: (kind, what the kind box shows); "file" is a path or any model string typed as it is.
CHOICES = (("file", "Model file"), ("torchvision", "torchvision COCO detector"),
           ("owlv2", "Text prompts: OWLv2"), ("grounding-dino", "Text prompts: Grounding DINO"),
           ("plugin", "Python plug-in"))
ONTOLOGY_HINT = "forklift=forklift,fork lift truck;pallet=wooden pallet;person"
CODE_WARNING = "⚠ A plug-in runs its Python code, which can read and write your files: only files you trust."


class _PluginFile(PathEdit):
    def browse(self) -> None:
        path = settings.ask_open_file(self, "Python plug-in (a .py file with a factory)", "train",
                                      "Python (*.py);;All files (*)")
        if path:
            self.edit.setText(path)


class TeacherPicker(QWidget):
    """A kind box and that kind's inputs; :meth:`text` is the teacher string, ``changed`` fires on every edit.

    Attributes:
        kind_combo, file_edit (the "Model file" line edit: any string is taken as it is), zoo_combo,
        prompts_edit, model_edit (an optional Hugging Face model id or folder), plugin_file, factory_edit,
        warning (the plug-in's risk, shown with the plug-in inputs).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, default: str = "demo") -> None:
        from core.teachers.zoo import OFFERED

        super().__init__(parent)
        self.kind_combo = QComboBox(self)
        for kind, text in CHOICES:
            self.kind_combo.addItem(text, kind)
        self.stack = QStackedWidget(self)
        self.file = PathEdit("file", "Teacher model", "weights file, 'demo', or any model string", self)
        self.file_edit = self.file.edit
        self.zoo_combo = QComboBox(self)
        self.zoo_combo.addItems(list(OFFERED))
        self.zoo_combo.setToolTip("torchvision's COCO detectors (weights downloaded into torchvision's cache once, "
                                  "hash-checked); fasterrcnn_resnet50_fpn_v2: 46.7 COCO box AP")
        prompts = QWidget(self)
        self.prompts_edit = QLineEdit(prompts)
        self.prompts_edit.setPlaceholderText(ONTOLOGY_HINT)
        self.prompts_edit.setMinimumWidth(260)  # an ontology is a sentence, not a word
        self.prompts_edit.setToolTip("Classes separated by ';', each NAME or NAME=prompt,prompt (several prompts, one "
                                     "class); NAME>0.3=... gives that class its own score threshold")
        self.model_edit = QLineEdit(prompts)
        self.model_edit.setPlaceholderText("model (default)")
        self.model_edit.setMaximumWidth(130)
        self.model_edit.setToolTip("A Hugging Face model id in the local cache, or a saved model folder")
        row = QHBoxLayout(prompts)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.prompts_edit, 1)
        row.addWidget(self.model_edit)
        plugin = QWidget(self)
        self.plugin_file = _PluginFile("file", "Python plug-in", "my_teacher.py", plugin)
        self.factory_edit = QLineEdit("build", plugin)
        self.factory_edit.setToolTip("FACTORY: the function of the file that returns the teacher object")
        self.warning = QLabel(CODE_WARNING, plugin)
        self.warning.setWordWrap(True)
        box = QVBoxLayout(plugin)
        box.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        line.addWidget(self.plugin_file, 3)
        line.addWidget(self.factory_edit, 1)
        box.addLayout(line)
        box.addWidget(self.warning)
        self._pages = {"file": self.file, "torchvision": self.zoo_combo, "owlv2": prompts, "grounding-dino": prompts,
                       "plugin": plugin}
        for page in (self.file, self.zoo_combo, prompts, plugin):
            self.stack.addWidget(page)
        layout = QVBoxLayout(self)  # the kind above its inputs: prompts get the whole width of the form
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind_combo)
        layout.addWidget(self.stack)
        self.kind_combo.currentIndexChanged.connect(self._show_kind)
        for edit in (self.file_edit, self.prompts_edit, self.model_edit, self.plugin_file.edit, self.factory_edit):
            edit.textChanged.connect(self.changed)
        self.zoo_combo.currentIndexChanged.connect(self.changed)
        self.set_text(default)

    @property
    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def _show_kind(self, _: int) -> None:
        self.stack.setCurrentWidget(self._pages[self.kind])
        self.changed.emit()

    def text(self) -> str:
        """The teacher string the inputs make ("" when the chosen kind's input is empty)."""
        kind = self.kind
        if kind == "file":
            return self.file.text()
        if kind == "torchvision":
            return teacher_string("torchvision", self.zoo_combo.currentText())
        if kind in ("owlv2", "grounding-dino"):
            prompts = self.prompts_edit.text().strip()
            return teacher_string(kind, prompts, self.model_edit.text()) if prompts else ""
        file = self.plugin_file.text()
        return teacher_string("plugin", f"{file}:{self.factory_edit.text().strip() or 'build'}") if file else ""

    def runs_code(self) -> bool:
        """True when the chosen teacher is a plug-in (its code runs when loaded)."""
        spec = _parse(self.text())
        return spec is not None and KINDS[spec.kind].runs_code

    def set_text(self, text: str) -> None:
        """Show ``text``: its kind chosen and its parts in that kind's inputs (anything else: as a file)."""
        spec = _parse(text)
        kind = "file" if spec is None else spec.kind
        if kind == "torchvision" and self.zoo_combo.findText(spec.argument) < 0:  # type: ignore[union-attr]
            kind = "file"  # a zoo model with a file or a size: shown as typed
        if kind == "plugin" and not spec.argument.rpartition(":")[0].endswith(".py"):  # type: ignore[union-attr]
            kind = "file"  # a module or an entry point: shown as typed
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
        if kind == "file":
            self.file.setText(text)
        elif kind == "torchvision":
            self.zoo_combo.setCurrentText(spec.argument)  # type: ignore[union-attr]
        elif kind in ("owlv2", "grounding-dino"):
            self.prompts_edit.setText(spec.argument)  # type: ignore[union-attr]
            self.prompts_edit.setCursorPosition(0)  # the first classes in view
            self.model_edit.setText(spec.model or "")  # type: ignore[union-attr]
        else:
            file, _, factory = spec.argument.rpartition(":")  # type: ignore[union-attr]
            self.plugin_file.setText(file)
            self.factory_edit.setText(factory)
        self.stack.setCurrentWidget(self._pages[kind])


def _parse(text: str):  # type: ignore[no-untyped-def]
    try:
        return parse_teacher_spec(text)
    except ValueError:
        return None


__all__ = ["CHOICES", "CODE_WARNING", "TeacherPicker"]
