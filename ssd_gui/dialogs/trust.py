"""The confirmation the app asks before opening a model whose file runs code (see core.model_spec).

A TorchScript archive runs the TorchScript code inside it when it is opened; the user says yes to that
here, for one file, knowing the risk. The answer is kept for the session (per file), so a reload of the
same model with another runtime does not ask again.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

#: The text of the button that opens the file anyway (tests press it by this text).
OPEN_ANYWAY = "Open and run its code"
_TRUSTED: set[Path] = set()


def needs_trust(path: str | Path) -> bool:
    """True when opening ``path`` runs code from it (a ``.torchscript`` archive), see core.model_spec."""
    from core.model_spec import CODE_KINDS, kind_of_path

    return kind_of_path(path) in CODE_KINDS


def confirm_running_code(parent: QWidget | None, path: str | Path) -> bool:
    """Ask once per file and session whether ``path`` may run its code; True when the user opened it anyway."""
    p = Path(path).resolve()
    if p in _TRUSTED:
        return True
    box = QMessageBox(QMessageBox.Icon.Warning, "This model runs code", "", QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("trust_code_dialog")
    box.setText(f"'{p.name}' is a TorchScript archive: opening it runs the TorchScript code inside it, "
                f"which can read and write your files.")
    box.setInformativeText("Open it only if you trust whoever wrote it. Checkpoints, ONNX and OpenVINO IR files "
                           "are data and never run code; export the model to one of those to be safe.")
    run = box.addButton(OPEN_ANYWAY, QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.exec()
    if box.clickedButton() is run:
        _TRUSTED.add(p)
        return True
    return False
