"""A menu of teachers that are not files: torchvision's COCO detectors, text prompts for OWLv2 or Grounding DINO,
and a Python plug-in. Choosing one emits its teacher string (``chosen``); the Detect view loads it as its model,
the Evaluate view takes it as the reference. The strings are core's (:func:`core.teachers.spec.teacher_string`)."""
from __future__ import annotations

from functools import partial

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from core.teachers.spec import teacher_string
from ssd_gui import settings
from ssd_gui.widgets.teacher_picker import CODE_WARNING, ONTOLOGY_HINT

PROMPT_KINDS = (("owlv2", "OWLv2"), ("grounding-dino", "Grounding DINO"))


class TeacherMenu(QMenu):
    """The menu (see the module docstring); ``chosen(str)`` carries the teacher string."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None, title: str = "Teacher &models") -> None:
        from core.teachers.zoo import OFFERED

        super().__init__(title, parent)
        self.setToolTipsVisible(True)
        for name in OFFERED:
            action = self.addAction(f"torchvision {name}")
            action.setToolTip("torchvision's COCO detector (weights downloaded into torchvision's cache once)")
            action.triggered.connect(partial(self.chosen.emit, teacher_string("torchvision", name)))
        self.addSeparator()
        for kind, label in PROMPT_KINDS:
            action = self.addAction(f"Text prompts ({label})…")
            action.setToolTip("Type the classes to find: " + ONTOLOGY_HINT)
            action.triggered.connect(partial(self.ask_prompts, kind))
        self.addSeparator()
        self.plugin_action = self.addAction("Python plug-in…")
        self.plugin_action.setToolTip(CODE_WARNING)
        self.plugin_action.triggered.connect(self.ask_plugin)

    def ask_prompts(self, kind: str) -> None:
        """Ask for the ontology of an open-vocabulary teacher of ``kind``; emit its string."""
        label = dict(PROMPT_KINDS)[kind]
        text, ok = QInputDialog.getText(self.parentWidget(), f"Text prompts for {label}",
                                        f"Classes separated by ';', each NAME or NAME=prompt,prompt\n"
                                        f"(e.g. {ONTOLOGY_HINT}):")
        if ok and text.strip():
            self.chosen.emit(teacher_string(kind, text))

    def ask_plugin(self) -> None:
        """Ask for a plug-in file (and its factory); emit ``py:FILE.py:FACTORY`` (loading it asks for trust)."""
        path = settings.ask_open_file(self.parentWidget(), "Python plug-in (runs its code: only files you trust)",
                                      "weights", "Python (*.py);;All files (*)")
        if not path:
            return
        factory, ok = QInputDialog.getText(self.parentWidget(), "Plug-in factory",
                                           "The function of the file that returns the teacher:", text="build")
        if ok and factory.strip():
            self.chosen.emit(teacher_string("plugin", f"{path}:{factory.strip()}"))


__all__ = ["TeacherMenu"]
