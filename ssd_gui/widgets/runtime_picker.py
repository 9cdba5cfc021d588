"""The Detect view's runtime choice: what runs the network (OpenVINO fp32/int8, PyTorch, CUDA).

The list comes from core (:func:`core.runtime.runtime_choices` per device of
:func:`core.detector.available_devices`, through :func:`ssd_gui.state.detect.runtime_options`); the
first entry is the CLI's ``--runtime auto``. Picking an entry records it in the state and emits
``chosen``; the model picker then reloads the model with it.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QWidget

from ssd_gui.state.model import ModelState, RuntimeChoice

_TIPS = {
    ("openvino", "fp32"): "The network compiled by OpenVINO for this CPU (outputs within ~1e-5 of PyTorch's)",
    ("openvino", "int8"): "Quantized to int8 by NNCF (once, then cached): calibrated on the model's training "
                          "data when its checkpoint records it, else on the frames of the open source",
    ("torch", "fp32"): "PyTorch, the exact reference",
}


class RuntimePicker(QWidget):
    """A "Runtime:" box listing :attr:`ModelState.choices`, the same list as the checkable actions of
    :attr:`runtime_menu` (for the main window's Model menu). What actually runs (which may differ from
    the choice: ONNX and IR files always run on OpenVINO) is shown by the model picker and the stats.

    Signals:
        chosen(RuntimeChoice): the user picked another entry (already in the state).
    """

    chosen = Signal(object)

    def __init__(self, state: ModelState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.combo = QComboBox(self)
        self.combo.setToolTip("What runs the network; changing it reloads the model")
        for i, choice in enumerate(state.choices):
            self.combo.addItem(choice.label, choice)
            tip = _TIPS.get((choice.runtime, choice.precision), f"PyTorch on {choice.device} in {choice.precision}")
            self.combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Runtime:", self))
        row.addWidget(self.combo)
        self.runtime_menu = QMenu("&Runtime", self)
        self._group = QActionGroup(self)
        for choice in state.choices:
            act = QAction(choice.label, self, checkable=True)
            act.setData(choice)
            act.triggered.connect(lambda _=False, c=choice: self.choose(c))
            self._group.addAction(act)
            self.runtime_menu.addAction(act)
        self.combo.activated.connect(lambda i: self.choose(self.combo.itemData(i)))
        state.events.device.connect(self._sync)
        self._sync()

    def choose(self, choice: RuntimeChoice) -> None:
        """Record ``choice`` and ask for a reload (nothing when it is the current one)."""
        if choice != self.state.runtime_choice:
            self.state.set_runtime_choice(choice)
            self.chosen.emit(choice)

    def choose_device(self, device: str) -> None:
        """The first choice on ``device`` (the app's ``--device``); unknown devices are ignored."""
        on = self.state.choices_on(device)
        if on and self.state.device != device:
            self.choose(on[0])

    def _sync(self) -> None:
        current = self.state.runtime_choice
        self.combo.setCurrentIndex(self.state.choices.index(current))
        for act in self._group.actions():
            act.setChecked(act.data() == current)
