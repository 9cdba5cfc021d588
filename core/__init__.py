"""The SSD engine: model, default boxes, matching, loss, postprocessing, data, training and
evaluation. Plain Python and PyTorch; never imports Qt.

The API used by the CLI and the GUI::

    from core import load_detector
    detector = load_detector("demo", device="cpu", precision="fp32")  # or a weights file
    detections = detector.detect([rgb_uint8_image])  # list[core.types.Detections]
"""
from __future__ import annotations

from typing import Any

from core.openmp import limit_openmp_spinning

limit_openmp_spinning()  # before anything imports torch: see core/openmp.py

#: The project's version: the one place it is written (pyproject.toml reads it from here).
__version__ = "0.1.0"

__all__ = ["__version__", "load_detector", "Detector", "Detections"]


def __getattr__(name: str) -> Any:  # lazy, so `import core.config` stays light
    if name == "load_detector":
        from core.resolve import load_detector

        return load_detector
    if name == "Detector":
        from core.detector import Detector

        return Detector
    if name == "Detections":
        from core.types import Detections

        return Detections
    raise AttributeError(f"module 'core' has no attribute {name!r}")
