"""The model the Detect tab runs, shared by all its tiles, without Qt: the detector, the runtime choice (device,
runtime, precision), the NMS method and the load in progress.

One :class:`ModelState` serves every tile of the Detect view's grid (one model, one forward pass for all the
sources); each tile's :class:`ssd_gui.state.detect.DetectState` reads it through and re-emits its events to
the tile's own widgets. Everything here runs on the GUI thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from core.config import NMS_METHODS
from core.types import Detections
from ssd_gui.state.events import Events


class DetectorLike(Protocol):
    """What the GUI needs from :class:`core.detector.Detector`."""

    class_names: tuple[str, ...]
    device: Any
    weights_path: Any

    def detect(self, images: list, score_thresh: float | None = None) -> list[Detections]: ...

    def set_postprocess(self, **changes: Any) -> None: ...


@dataclass(frozen=True)
class RuntimeChoice:
    """One entry of the Detect view's runtime list: what runs the network, where, in which precision.

    Attributes:
        device: "cpu" or "cuda".
        runtime: "openvino" or "torch" (core.runtime.RUNTIMES).
        precision: "fp32", "int8" (OpenVINO), "bf16" or "fp16" (PyTorch).
    """

    device: str
    runtime: str
    precision: str

    @property
    def label(self) -> str:
        """"OpenVINO int8", "PyTorch fp32 (exact)", "CUDA fp16", ..."""
        if self.runtime == "openvino":
            return f"OpenVINO {self.precision}"
        if self.device != "cpu":
            return f"{self.device.upper()} {self.precision}"
        return "PyTorch fp32 (exact)" if self.precision == "fp32" else f"PyTorch {self.precision}"


def runtime_options(devices: Sequence[str]) -> list[RuntimeChoice]:
    """Every (device, runtime, precision) core offers on ``devices``, the CPU default first (the
    CLI's ``--runtime auto``: OpenVINO fp32 when it is installed)."""
    from core.runtime import runtime_choices

    return [RuntimeChoice(str(d), r, p) for d in devices for r, p in runtime_choices(str(d))]


class ModelState:
    """The model of the Detect tab.

    Events (``model.events.<name>.connect(callback)``):
        model(detector | None): a model was applied.
        loading(str): a load started (its name; "" when none runs).
        device(): the runtime choice (device, runtime, precision) changed.
        nms(): the NMS method changed (already applied to the detector).
    """

    def __init__(self, devices: Sequence[str] | None = None) -> None:
        self.events = Events("model", "loading", "device", "nms")
        self.detector: DetectorLike | None = None
        self.loading = ""
        self.devices = list(devices or ["cpu"])
        self.choices = runtime_options(self.devices)
        self.runtime_choice = self.choices[0]
        self.nms = "hard"

    def set_loading(self, what: str) -> None:
        if what != self.loading:
            self.loading = what
            self.events.loading.emit(what)

    def set_detector(self, detector: DetectorLike | None) -> None:
        """Apply a loaded model, with the NMS method chosen here."""
        if detector is not None and getattr(detector, "supports_nms", True):  # a teacher does its own suppression
            detector.set_postprocess(nms=self.nms)
        self.detector = detector
        self.events.model.emit(detector)

    @property
    def device(self) -> str:
        return self.runtime_choice.device

    @property
    def precision(self) -> str:
        return self.runtime_choice.precision

    @property
    def runtime(self) -> str:
        return self.runtime_choice.runtime

    def choices_on(self, device: str) -> list[RuntimeChoice]:
        return [c for c in self.choices if c.device == device]

    def set_runtime_choice(self, choice: RuntimeChoice) -> None:
        """Run the next model load with ``choice`` (one of :attr:`choices`; ValueError otherwise).
        Loading is the model picker's job: this only records the choice."""
        if choice not in self.choices:
            raise ValueError(f"runtime choice {choice.label!r} ({choice}) is not offered here; choose one of "
                             f"{[c.label for c in self.choices]}")
        if choice != self.runtime_choice:
            self.runtime_choice = choice
            self.events.device.emit()

    def set_nms(self, method: str) -> None:
        """"hard", "soft-linear" or "soft-gaussian"; applied to the running detector at once (the
        detector keeps it in its postprocessing settings, so no reload is needed)."""
        if method not in NMS_METHODS:
            raise ValueError(f"NMS method must be one of {NMS_METHODS}, got {method!r}")
        if method != self.nms:
            self.nms = method
            if self.detector is not None and getattr(self.detector, "supports_nms", True):
                self.detector.set_postprocess(nms=method)
            self.events.nms.emit()


__all__ = ["DetectorLike", "ModelState", "RuntimeChoice", "runtime_options"]
