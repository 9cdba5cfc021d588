"""Runtimes for a detector's network: PyTorch (the exact reference) and OpenVINO (fast on CPUs).

What the CLI and the GUI ask::

    from core.runtime import available_runtimes, runtime_choices, choose_runtime, runtime_label
    available_runtimes()               # ("torch", "openvino") when OpenVINO is installed
    runtime_choices("cpu")             # [("openvino", "fp32"), ("openvino", "int8"), ("torch", "fp32"), ...]
    runtime_precisions("openvino")     # ("fp32", "int8")
    det = core.load_detector(w, runtime="openvino", precision="int8", calibration="clip.mp4",
                             on_progress=print)   # Progress(done, total, stage, detail)
    det.runtime, det.precision, runtime_label(det)   # "openvino", "int8", "OpenVINO int8 (CPU)"

The OpenVINO runtime runs only the network; preprocessing and postprocessing are
core.detector's. Converted and quantized networks are cached on disk (core.runtime.cache).
Exported files (``ssd export``: ONNX, OpenVINO IR, TorchScript) load through the same
``core.load_detector``; ONNX and IR always run on OpenVINO.
"""
from __future__ import annotations

from typing import Any

from core.runtime.choice import (RUNTIMES, available_runtimes, choose_runtime, openvino_available, runtime_choices,
                                 runtime_label, runtime_precisions)

__all__ = ["RUNTIMES", "available_runtimes", "choose_runtime", "load_runtime_detector", "openvino_available",
           "runtime_choices", "runtime_label", "runtime_precisions"]


def load_runtime_detector(*args: Any, **kwargs: Any) -> Any:
    """See :func:`core.runtime.load.load_runtime_detector` (imported on first use: it pulls in torch models)."""
    from core.runtime.load import load_runtime_detector as load

    return load(*args, **kwargs)
