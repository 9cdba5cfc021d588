"""Which runtime runs a detector's network, and what each offers on this machine (re-exported by
:mod:`core.runtime`)."""
from __future__ import annotations

from typing import Any

from core.runtime.openvino import openvino_available

RUNTIMES = ("torch", "openvino")
_PRECISIONS = {"torch": ("fp32", "bf16", "fp16"), "openvino": ("fp32", "int8")}


def available_runtimes() -> tuple[str, ...]:
    """The runtimes this installation can run: "torch" always, "openvino" when it is installed."""
    return RUNTIMES if openvino_available() else ("torch",)


def runtime_precisions(runtime: str) -> tuple[str, ...]:
    """Precisions a runtime offers (torch: fp32, bf16, fp16 (CUDA); openvino: fp32, int8 on the CPU)."""
    if runtime not in _PRECISIONS:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {RUNTIMES}")
    return _PRECISIONS[runtime]


def runtime_choices(device: str = "cpu") -> list[tuple[str, str]]:
    """(runtime, precision) pairs worth offering on ``device``, the default first: OpenVINO fp32 and
    int8 on the CPU when installed, then PyTorch's :func:`core.detector.precisions_for` (its fp32 is
    the exact reference)."""
    from core.detector import precisions_for

    ov = [("openvino", p) for p in _PRECISIONS["openvino"]] if str(device) == "cpu" and openvino_available() else []
    return ov + [("torch", p) for p in precisions_for(device)]


def choose_runtime(requested: str | None, device: str = "cpu", precision: str = "fp32") -> tuple[str, str | None]:
    """The runtime to use and, when it is not the one a user would expect, a sentence saying why.

    ``requested`` None or "auto": OpenVINO for fp32/int8 on the CPU when it is installed, else PyTorch
    (a note says so when OpenVINO is missing). An explicit "openvino" that is not installed raises.
    """
    if requested not in (None, "auto", *RUNTIMES):
        raise ValueError(f"unknown runtime {requested!r}; choose one of {('auto',) + RUNTIMES}")
    if requested in RUNTIMES:
        if requested == "openvino" and not openvino_available():
            raise ValueError("runtime 'openvino' asked for, but OpenVINO is not installed (pip install openvino nncf)")
        return requested, None
    if str(device) not in ("cpu", "auto") or precision not in _PRECISIONS["openvino"]:
        return "torch", None
    if not openvino_available():
        if precision == "int8":
            raise ValueError("int8 needs OpenVINO, which is not installed (pip install openvino nncf)")
        return "torch", "OpenVINO is not installed: running the network with PyTorch (pip install openvino nncf)"
    return "openvino", None


def runtime_label(detector: Any) -> str:
    """What runs a detector, for display: "OpenVINO int8 (CPU)", "PyTorch fp32 (cpu, frozen graph)", ..."""
    text = getattr(detector, "runtime_text", None)
    if text:  # a teacher (core.teachers.adapter.TeacherDetector) says what runs it
        return str(text)
    runtime = getattr(detector, "runtime", "torch")
    if runtime == "openvino":
        return f"OpenVINO {detector.precision} (CPU)"
    what = "TorchScript file" if getattr(detector, "weights_format", "") == "torchscript" else (
        "frozen graph" if getattr(detector, "optimized", False) else "eager")
    return f"PyTorch {detector.precision} ({detector.device}, {what})"
