"""The confirmation the app asks before opening a model whose file runs code (see core.model_spec).

A TorchScript archive runs the TorchScript code inside it when it is opened, and a Python plug-in teacher
(``py:FILE.py:FACTORY``) runs its Python code; the user says yes to that here, for one file, knowing the
risk. The answer is kept for the session (per file or plug-in string), so a reload of the same model with
another runtime does not ask again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

#: The text of the button that opens the file anyway (tests press it by this text).
OPEN_ANYWAY = "Open and run its code"
_TRUSTED: set[str | Path] = set()


def needs_trust(path: str | Path) -> bool:
    """True when opening ``path`` runs code (a ``.torchscript`` archive, a ``py:`` plug-in), see core.model_spec."""
    from core.model_spec import CODE_KINDS, kind_of

    try:
        return kind_of(path) in CODE_KINDS
    except ValueError:  # a malformed teacher string: loading it will say what is wrong
        return False


def confirm_running_code(parent: QWidget | None, path: str | Path) -> bool:
    """Ask once per file and session whether ``path`` may run its code; True when the user opened it anyway."""
    from core.model_spec import kind_of

    plugin = kind_of(path) == "plugin"
    p: str | Path = str(path) if plugin else Path(path).resolve()
    if p in _TRUSTED:
        return True
    box = QMessageBox(QMessageBox.Icon.Warning, "This model runs code", "", QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("trust_code_dialog")
    if plugin:
        box.setText(f"'{path}' is a Python plug-in: loading it runs its Python code, which can read, write and "
                    f"send your files.")
        box.setInformativeText("Load it only if you trust whoever wrote it. torchvision, OWLv2 and Grounding DINO "
                               "teachers and this project's model files are data and never run code.")
    else:
        box.setText(f"'{Path(p).name}' is a TorchScript archive: opening it runs the TorchScript code inside it, "
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


def request_with_code_confirmed(parent: QWidget | None, request: Any) -> Any:
    """An evaluation ``request`` (core.evaluation.run.EvaluationRequest) with the opt-in for the models in it
    that run code (a plug-in, a TorchScript archive, as the evaluated model or the reference), once the
    person confirmed each; ValueError when they declined one."""
    from dataclasses import replace

    truth = request.ground_truth
    reference = getattr(truth, "weights", None) if hasattr(truth, "trust_code") else None
    code = [m for m in (request.weights, reference) if m and needs_trust(m)]
    for model in code:
        if not confirm_running_code(parent, model):
            raise ValueError(f"Not evaluated: '{model}' runs code when loaded, and you declined")
    if not code:
        return request
    if reference is not None and needs_trust(reference):
        truth = replace(truth, trust_code=True)
    return replace(request, ground_truth=truth, trust_code=True)
