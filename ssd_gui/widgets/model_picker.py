"""The Detect view's model controls: which weights, on which device, in which precision; loading them.

Loading runs :func:`core.detector.load_detector` (or the COCO download first) in a
:class:`ssd_gui.jobs.Job`; the outcome goes into the :class:`DetectState`. Only the latest request's
outcome is applied, and a failure keeps the current model.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QProgressDialog, QToolButton, QWidget

from core.detector import precisions_for
from ssd_gui import settings
from ssd_gui.jobs import Job
from ssd_gui.state.detect import DetectState

WEIGHTS_FILTER = "Weights (*.pt *.pth *.ckpt *.bin);;All files (*)"


def load_coco_detector(device: str = "cpu", precision: str = "fp32", allow_download: bool = True,
                       on_progress: Callable[[Any], None] | None = None,
                       should_stop: Callable[[], bool] | None = None) -> Any:
    """torchvision's COCO SSD300 from torchvision's cache, else downloaded (progress in bytes, stage "download")."""
    from core.detector import load_detector
    from core.jobs import report
    from core.download import fetch_torchvision_coco

    dest = fetch_torchvision_coco(allow_download=allow_download,
                                  on_progress=lambda done, total: report(on_progress, done, total, "download"),
                                  should_stop=should_stop)
    return load_detector(dest, device=device, precision=precision, optimize=True)


def model_name(detector: Any) -> str:
    """The file name of ``detector``'s weights ("no model" without one)."""
    if detector is None:
        return "no model"
    path = getattr(detector, "weights_path", None)
    return Path(str(path)).name if path else "model"


class ModelPicker(QWidget):
    """The Model button and menu, the model's description, the device and precision boxes.

    Signals:
        loaded(detector): a load finished; the detector is already in the state.
        failed(str): a load failed (the message names the file); the state keeps its model.
    Changing the device or precision reloads the current weights there.
    """

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, state: DetectState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._job: Job | None = None
        self.download_dialog: QProgressDialog | None = None
        self.model_button = QToolButton(self)
        self.model_button.setText("Model")
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.model_label = QLabel("No model loaded", self)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device_combo = QComboBox(self)
        self.device_combo.addItems(state.devices)
        self.device_combo.setCurrentText(state.device)
        self.device_combo.setToolTip("Where the model runs")
        self.precision_combo = QComboBox(self)
        self.precision_combo.addItems(precisions_for(state.device))
        self.precision_combo.setToolTip("Arithmetic precision of the model")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.model_button)
        row.addWidget(self.model_label, 1)
        row.addWidget(QLabel("Device:", self))
        row.addWidget(self.device_combo)
        row.addWidget(self.precision_combo)
        self._build_actions()
        self.device_combo.currentTextChanged.connect(lambda d: self.choose_device(d))
        self.precision_combo.currentTextChanged.connect(self._on_precision)
        state.events.model.connect(lambda _: self._describe())
        state.events.loading.connect(lambda _: self._describe())
        state.events.device.connect(self._on_device)
        state.events.device.connect(self._reload)

    def _build_actions(self) -> None:
        self.demo_model_action = QAction("&Demo model", self, triggered=self.load_demo)
        self.open_weights_action = QAction("Open &weights…", self, shortcut="Ctrl+M", triggered=self._ask_weights)
        self.coco_model_action = QAction("torchvision &COCO SSD300", self, triggered=lambda: self.load_coco())
        self.device_menu = QMenu("&Device", self)
        self._device_actions = QActionGroup(self)
        for dev in self.state.devices:
            act = QAction(dev, self, checkable=True, checked=dev == self.state.device)
            act.triggered.connect(lambda _=False, d=dev: self.choose_device(d))
            self._device_actions.addAction(act)
            self.device_menu.addAction(act)
        self.menu = QMenu(self)
        for a in (self.demo_model_action, self.open_weights_action, self.coco_model_action):
            self.menu.addAction(a)
        self.model_button.setMenu(self.menu)

    def actions_for_menu(self) -> list[QAction]:
        return [self.demo_model_action, self.open_weights_action, self.coco_model_action]

    def _ask_weights(self) -> None:
        path = settings.ask_open_file(self, "Open weights (own checkpoints, torchvision, ssd.pytorch)", "weights",
                                      WEIGHTS_FILTER)
        if path:
            self.load(path)

    # ---------------------------------------------------------------- loading
    def load(self, weights: str | Path) -> Job:
        """Load ``weights`` on the state's device and precision."""
        from core.detector import load_detector

        # optimize: a frozen graph on CPU fp32 (a no-op elsewhere), paid once in the job, off the GUI thread.
        return self._start(partial(load_detector, str(weights), device=self.state.device,
                                   precision=self.state.precision, optimize=True),
                           str(weights), f"cannot load model '{weights}'")

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
        from core.download import torchvision_cache_path
        from core.weights import TORCHVISION_COCO_SPEC

        job = self._start(partial(load_coco_detector, device=self.state.device, precision=self.state.precision,
                                  allow_download=allow_download),
                          TORCHVISION_COCO_SPEC, "cannot load torchvision COCO SSD300")
        if allow_download and not torchvision_cache_path().is_file():
            dlg = QProgressDialog("Downloading torchvision's COCO SSD300 weights…", "Cancel", 0, 0, self)
            dlg.setWindowTitle("Download")
            dlg.setWindowModality(Qt.WindowModality.WindowModal)
            dlg.setMinimumDuration(0)
            # Direct: the job's thread is busy downloading, a queued call would wait for the end.
            dlg.canceled.connect(job.cancel, Qt.ConnectionType.DirectConnection)
            self.download_dialog = dlg
            dlg.show()
        return job

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _start(self, fn: Callable[..., Any], what: str, label: str) -> Job:
        self.cancel()  # only the latest request counts
        self.state.set_loading(what)
        self._job = Job(fn, label).start(finished=self._on_loaded, failed=self._on_failed,
                                         progress=self._on_progress)
        return self._job

    def _on_progress(self, p: Any) -> None:
        dlg = self.download_dialog
        if dlg is not None:
            if p.total:
                dlg.setMaximum(1000)
                dlg.setValue(int(1000 * p.done / p.total))
            dlg.setLabelText(f"Downloading torchvision's COCO SSD300 weights… {p.done / 1e6:.1f} MB")

    def _end(self) -> bool:
        """Forget the finished load; False when it was replaced by a later request."""
        if self.sender() is not self._job:
            return False
        self._job = None
        if self.download_dialog is not None:
            self.download_dialog.close()
            self.download_dialog.deleteLater()
            self.download_dialog = None
        self.state.set_loading("")
        return True

    def _on_loaded(self, detector: Any) -> None:
        if self._end():
            self.state.set_detector(detector)
            path = getattr(detector, "weights_path", None)
            if path and Path(str(path)).is_file():
                settings.add_recent(path)
            self.loaded.emit(detector)

    def _on_failed(self, text: str) -> None:
        if self._end():
            self.failed.emit(text)

    def _reload(self) -> None:
        path = getattr(self.state.detector, "weights_path", None)
        if path:
            self.load(path)

    # ---------------------------------------------------------------- device and precision
    def choose_device(self, device: str) -> None:
        """Run on ``device``; the precision falls back to fp32 where the current one is not offered."""
        if device not in self.state.devices:
            return
        precision = self.state.precision if self.state.precision in precisions_for(device) else "fp32"
        self.state.set_device(device, precision)

    def _on_precision(self, precision: str) -> None:
        if precision:
            self.state.set_device(self.state.device, precision)

    def _on_device(self) -> None:
        device, precision = self.state.device, self.state.precision
        for act in self._device_actions.actions():
            act.setChecked(act.text() == device)
        for combo, items, value in ((self.device_combo, self.state.devices, device),
                                    (self.precision_combo, precisions_for(device), precision)):
            combo.blockSignals(True)
            if [combo.itemText(i) for i in range(combo.count())] != items:
                combo.clear()
                combo.addItems(items)
            combo.setCurrentText(value)
            combo.blockSignals(False)

    # ---------------------------------------------------------------- description
    def _describe(self) -> None:
        state, d = self.state, self.state.detector
        if state.loading:
            self.model_label.setText(f"Loading {Path(state.loading).name} on {state.device}…")
        elif d is None:
            self.model_label.setText("No model loaded")
        else:
            n = len(d.class_names) - 1
            self.model_label.setText(f"{model_name(d)}: {n} classes, {d.device}, {getattr(d, 'precision', 'fp32')}")
        self.model_label.setToolTip(str(getattr(d, "weights_path", "") or ""))
