"""One way in for a model: the string that names it, its kind (:mod:`core.model_spec`), then the loader
of that kind, with the runtime choice applied once, here.

    from core import load_detector
    det = load_detector("demo")                                   # the bundled model
    det = load_detector("runs/clip/best.pt", runtime="openvino", precision="int8", calibration="clip.mp4")
    det = load_detector("net.torchscript", trust_code=True)       # code: only with the opt-in

Every command of ``ssd`` and every view of the app loads its models through :func:`load_detector`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.detector import Detector, detector_from_weights
from core.model_spec import check_trusted, kind_of_path, parse_model_spec


def load_detector(weights: str | Path, device: str = "cpu", precision: str = "fp32", *,
                  priors: str | None = None, allow_download: bool = True, optimize: bool = False,
                  runtime: str = "torch", calibration: Any = None, calibration_fallback: Any = None,
                  cache_dir: str | Path | None = None, on_progress: Any = None, should_stop: Any = None,
                  trust_code: bool = False) -> Detector:
    """Load any model this project reads as a ready Detector.

    ``weights``: a file (checkpoint of any layout core.weights reads, or a network ``ssd export`` wrote:
    ``.onnx``, ``.xml``, ``.torchscript``), ``demo``, or ``torchvision:ssd300_vgg16_coco`` /
    ``torchvision:ssdlite320_mobilenet_v3_large_coco`` (downloaded into torchvision's cache when online;
    offline, the error says where to put the file).

    ``trust_code=True`` is the user's opt-in for a model that runs code when opened (a TorchScript
    archive, see core.model_spec); without it such a file is refused before anything in it is loaded.

    ``optimize=True`` freezes the network for CPU fp32 inference (a few seconds at load, then
    faster detection; same detections as eager mode to 1e-3 px). The GUI and CLI use it; tests
    that load many small models leave it off.

    ``runtime="openvino"`` runs the network compiled by OpenVINO for this CPU (precision "fp32" or
    "int8"; ``calibration``: HxWx3 uint8 RGB images or a path to an image folder, a video or a
    dataset, default the model's training data, else ``calibration_fallback``). Exported networks run
    on the CPU; ONNX and IR always on OpenVINO. Converted networks are cached in ``cache_dir``. See
    core.runtime; ``on_progress`` / ``should_stop`` as in core.jobs.

    Raises:
        FileNotFoundError, or ValueError naming the file and the problem
        (:class:`core.model_spec.UntrustedCodeError` for code without the opt-in).
    """
    spec = parse_model_spec(weights, allow_download=allow_download)
    check_trusted(spec, trust_code)
    if runtime != "torch" or precision == "int8" or spec.exported:
        from core.runtime import load_runtime_detector

        return load_runtime_detector(spec.path, device, precision, kind=spec.kind, trust_code=trust_code,
                                     runtime=runtime, calibration=calibration,
                                     calibration_fallback=calibration_fallback, priors=priors, optimize=optimize,
                                     cache_dir=cache_dir, on_progress=on_progress, should_stop=should_stop)
    from core.weights import load_weights

    return detector_from_weights(load_weights(spec.path, priors=priors), device, precision, optimize)


def runtime_for(weights: str | Path, device: str, runtime: str, precision: str) -> tuple[str, str, str]:
    """(device, runtime, precision) that the model ``weights`` names runs with when the app's choice is the
    given one: an exported network runs on the CPU, in its own precision unless the choice is an OpenVINO one."""
    if kind_of_path(weights) != "checkpoint":
        return "cpu", runtime, precision if runtime == "openvino" else "fp32"
    return device, runtime, precision
