"""The Detect view's model controls: which weights (checkpoints and exported networks, or a teacher of
core.teachers: torchvision's zoo, text prompts, a plug-in), on which runtime; loading them.

Loading runs :func:`core.resolve.load_detector` (or the COCO download first) in a
:class:`ssd_gui.jobs.Job`; the outcome goes into the :class:`ModelState` (shared by the tiles). Only the latest request's
outcome is applied, and a failure keeps the current model (and the runtime choice it runs with).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QProgressDialog, QToolButton, QWidget

from core.runtime import runtime_label
from ssd_gui import settings
from ssd_gui.jobs import Job
from ssd_gui.session import EXPORTED_EXTENSIONS, WEIGHTS_EXTENSIONS
from ssd_gui.state.detect import SourceInfo
from ssd_gui.state.model import ModelState, RuntimeChoice
from ssd_gui.widgets.runtime_picker import RuntimePicker
from ssd_gui.widgets.teacher_menu import TeacherMenu


def _patterns(suffixes: tuple[str, ...]) -> str:
    return " ".join(f"*{s}" for s in suffixes)


WEIGHTS_FILTER = (f"Models ({_patterns(WEIGHTS_EXTENSIONS + EXPORTED_EXTENSIONS)});;"
                  f"Checkpoints ({_patterns(WEIGHTS_EXTENSIONS)});;"
                  f"Exported networks: ONNX, OpenVINO IR, TorchScript ({_patterns(EXPORTED_EXTENSIONS)});;"
                  "All files (*)")
_STAGES = {"download": "Downloading torchvision's COCO SSD300 weights…",
           "calibration": "Reading calibration images…", "quantize": "Quantizing to int8…",
           "convert": "Converting for OpenVINO…", "compile": "Compiling for this CPU…"}


def load_for_view(weights: str | Path, choice: RuntimeChoice, calibration_fallback: str | None = None,
                  on_progress: Callable[[Any], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, trust_code: bool = False) -> Any:
    """:func:`core.resolve.load_detector` with a runtime choice of the view (frozen graph for PyTorch on
    the CPU; int8 calibrated per core's defaults, then on ``calibration_fallback``, the open source).

    Exported networks (ONNX, IR, TorchScript) run on the CPU whatever the choice; ONNX and IR always on
    OpenVINO, in the choice's precision when it is an OpenVINO one, else in the file's own. ``trust_code``: the
    user confirmed a file that runs code (:mod:`ssd_gui.dialogs.trust`).
    """
    from core.resolve import load_detector, runtime_for

    device, runtime, precision = runtime_for(weights, choice.device, choice.runtime, choice.precision)
    return load_detector(str(weights), device=device, precision=precision, runtime=runtime, optimize=True,
                         calibration_fallback=calibration_fallback, on_progress=on_progress,
                         should_stop=should_stop, trust_code=trust_code)


def load_coco_detector(choice: RuntimeChoice, calibration_fallback: str | None = None, allow_download: bool = True,
                       on_progress: Callable[[Any], None] | None = None,
                       should_stop: Callable[[], bool] | None = None) -> Any:
    """torchvision's COCO SSD300 from torchvision's cache, else downloaded (progress in bytes, stage "download")."""
    from core.jobs import report
    from core.weights.download import fetch_torchvision_coco

    dest = fetch_torchvision_coco(allow_download=allow_download,
                                  on_progress=lambda done, total: report(on_progress, done, total, "download"),
                                  should_stop=should_stop)
    return load_for_view(dest, choice, calibration_fallback, on_progress, should_stop)


def model_name(detector: Any) -> str:
    """The file name of ``detector``'s weights, or a teacher's description ("no model" without one)."""
    if detector is None:
        return "no model"
    if getattr(detector, "teacher", None) is not None:
        return str(detector.description)
    path = getattr(detector, "weights_path", None)
    return Path(str(path)).name if path else "model"


class ModelPicker(QWidget):
    """The Model button and menu, the model's description (with what runs it) and the runtime box.

    Signals:
        loaded(detector): a load finished; the detector is already in the state.
        failed(str): a load failed (the message names the file); the state keeps its model, and the
            runtime choice goes back to the one that model was loaded with.
    Changing the runtime choice reloads the current weights with it (int8: a progress dialog with Cancel).
    """

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, state: ModelState, parent: QWidget | None = None,
                 source: Callable[[], SourceInfo | None] | None = None) -> None:
        super().__init__(parent)
        self.state = state
        # the source shown (int8 calibration falls back on it): the selected tile's
        self._source = source if source is not None else lambda: getattr(state, "source", None)
        self._job: Job | None = None
        self._job_choice: RuntimeChoice | None = None
        self._loaded_choice: RuntimeChoice | None = None  # what the running model was loaded with
        self.progress_dialog: QProgressDialog | None = None
        self.model_button = QToolButton(self)
        self.model_button.setText("Model")
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.model_label = QLabel("No model loaded", self)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.runtime = RuntimePicker(state, self)
        self.runtime_menu = self.runtime.runtime_menu
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.model_button)
        row.addWidget(self.model_label, 1)
        row.addWidget(self.runtime)
        self._build_actions()
        self.runtime.chosen.connect(lambda _: self._reload())
        state.events.model.connect(lambda _: self._describe())
        state.events.loading.connect(lambda _: self._describe())

    def _build_actions(self) -> None:
        self.demo_model_action = QAction("&Demo model", self, triggered=self.load_demo)
        self.open_weights_action = QAction("Open &weights…", self, shortcut="Ctrl+M", triggered=self._ask_weights)
        self.coco_model_action = QAction("torchvision &COCO SSD300", self, triggered=lambda: self.load_coco())
        self.teacher_menu = TeacherMenu(self)
        self.teacher_menu.chosen.connect(self.load)
        self.menu = QMenu(self)
        for a in (self.demo_model_action, self.open_weights_action, self.coco_model_action):
            self.menu.addAction(a)
        self.menu.addMenu(self.teacher_menu)
        self.model_button.setMenu(self.menu)

    def actions_for_menu(self) -> list[QAction]:
        return [self.demo_model_action, self.open_weights_action, self.coco_model_action,
                self.teacher_menu.menuAction()]

    def _ask_weights(self) -> None:
        path = settings.ask_open_file(self, "Open a model (checkpoints, torchvision, ssd.pytorch, ONNX, OpenVINO IR, "
                                            "TorchScript)", "weights", WEIGHTS_FILTER)
        if path:
            self.load(path)

    @property
    def download_dialog(self) -> QProgressDialog | None:
        """The progress dialog of a COCO download or an int8 quantization (None when none runs)."""
        return self.progress_dialog

    # ---------------------------------------------------------------- loading
    def load(self, weights: str | Path) -> Job | None:
        """Load ``weights`` (a checkpoint or an exported network) with the state's runtime choice. A file that
        runs code when opened is loaded only after the user confirms it (None when they decline)."""
        from ssd_gui.dialogs.trust import confirm_running_code, needs_trust

        trust = needs_trust(weights)
        if trust and not confirm_running_code(self, weights):
            self.failed.emit(f"Not opened: '{Path(str(weights)).name}' runs code when opened, and you declined.")
            return None
        from core.model_spec import TEACHER_KINDS, kind_of

        choice = self.state.runtime_choice
        job = self._start(partial(load_for_view, str(weights), choice, self._calibration_source(), trust_code=trust),
                          str(weights), f"loading model '{weights}'")
        try:
            teacher = kind_of(weights) in TEACHER_KINDS
        except ValueError:  # a malformed teacher string: the load says what is wrong
            teacher = False
        if teacher:  # a download, or a large model: seconds to minutes, with Cancel
            self._show_progress(job, "Teacher", f"Loading {weights}…")
        elif choice.precision == "int8":
            self._show_progress(job, "int8", f"Preparing {Path(str(weights)).name} in int8…")
        return job

    def load_demo(self) -> Job | None:
        """The bundled demo model, or a message saying where it was expected."""
        from core.detector import DEMO_WEIGHTS

        if not DEMO_WEIGHTS.is_file():
            self.failed.emit(f"The demo model is missing: expected '{DEMO_WEIGHTS}'. "
                             f"Open a weights file with Model ▸ Open weights…")
            return None
        return self.load(DEMO_WEIGHTS)

    def load_coco(self, allow_download: bool = True) -> Job:
        """torchvision's COCO SSD300, downloaded with a progress dialog when not cached."""
        from core.weights.download import torchvision_cache_path
        from core.weights import TORCHVISION_COCO_SPEC

        job = self._start(partial(load_coco_detector, self.state.runtime_choice, self._calibration_source(),
                                  allow_download=allow_download),
                          TORCHVISION_COCO_SPEC, "loading torchvision COCO SSD300")
        if allow_download and not torchvision_cache_path().is_file():
            self._show_progress(job, "Download", _STAGES["download"])
        elif self.state.precision == "int8":
            self._show_progress(job, "int8", "Preparing torchvision COCO SSD300 in int8…")
        return job

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _calibration_source(self) -> str | None:
        """The open file source, for int8 calibration when the checkpoint records no training data."""
        info = self._source()
        return info.spec if info is not None and not info.is_live else None

    def _start(self, fn: Callable[..., Any], what: str, label: str) -> Job:
        self.cancel()  # only the latest request counts
        self._close_progress()
        self.state.set_loading(what)
        self._job_choice = self.state.runtime_choice
        self._job = Job(fn, label).start(finished=self._on_loaded, failed=self._on_failed,
                                         progress=self._on_progress)
        return self._job

    def _show_progress(self, job: Job, title: str, text: str) -> None:
        dlg = QProgressDialog(text, "Cancel", 0, 0, self)
        dlg.setWindowTitle(title)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(0)
        # One dialog, in one place, from the first phase to the last: QProgressDialog hides itself when a
        # phase reaches its maximum (autoClose) and grows, so moves, with a longer text.
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setMinimumWidth(dlg.fontMetrics().horizontalAdvance("x" * 60))
        # Direct: the job's thread is busy, a queued call would wait for the end.
        dlg.canceled.connect(job.cancel, Qt.ConnectionType.DirectConnection)
        self.progress_dialog = dlg
        dlg.show()

    def _on_progress(self, p: Any) -> None:
        dlg = self.progress_dialog
        if dlg is None or self.sender() is not self._job:
            return
        if p.total:
            dlg.setMaximum(1000)
            dlg.setValue(int(1000 * min(p.done, p.total) / p.total))
        else:
            dlg.setMaximum(0)
        text = _STAGES.get(p.stage, p.detail or p.stage)
        if p.stage == "download":
            text += f" {p.done / 1e6:.1f} MB"
        elif p.stage in ("calibration", "quantize") and p.total:
            unit = "images read" if p.stage == "calibration" else "batches seen"
            text = f"{text} {p.done} of {p.total} {unit}"
        dlg.setLabelText(text)

    def _close_progress(self) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.close()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None

    def _end(self) -> bool:
        """Forget the finished load; False when it was replaced by a later request."""
        if self.sender() is not self._job:
            return False
        self._job = None
        self._close_progress()
        self.state.set_loading("")
        return True

    def _on_loaded(self, detector: Any) -> None:
        if self._end():
            self._loaded_choice = self._job_choice
            self.state.set_detector(detector)
            path = getattr(detector, "weights_path", None)
            if path and Path(str(path)).is_file():
                settings.add_recent(path)
            self.loaded.emit(detector)

    def _on_failed(self, text: str) -> None:
        if self._end():
            kept = self._loaded_choice
            if self.state.detector is not None and kept is not None and kept != self.state.runtime_choice:
                self.state.set_runtime_choice(kept)  # the choice shown is the one the running model uses
            self.failed.emit(text)

    def _reload(self) -> None:
        path = getattr(self.state.detector, "weights_path", None)
        if path:
            self.load(path)

    def choose_device(self, device: str) -> None:
        """Run on ``device`` (its first runtime choice)."""
        self.runtime.choose_device(device)

    # ---------------------------------------------------------------- description
    def _describe(self) -> None:
        state, d = self.state, self.state.detector
        if state.loading:
            self.model_label.setText(f"Loading {Path(state.loading).name} ({state.runtime_choice.label})…")
        elif d is None:
            self.model_label.setText("No model loaded")
        else:
            n = len(d.class_names) - 1
            self.model_label.setText(f"{model_name(d)}: {n} classes, {runtime_label(d)}")
        teacher = d is not None and getattr(d, "teacher", None) is not None
        self.runtime.combo.setEnabled(not teacher)  # a teacher runs on PyTorch fp32 on the device it was loaded on
        self.runtime.combo.setToolTip("A teacher runs on PyTorch fp32 (choose the device before loading it)" if teacher
                                      else "What runs the network; changing it reloads the model")
        self.model_label.setToolTip(str(getattr(d, "weights_path", "") or ""))
