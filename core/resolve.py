"""One way in for a model: the string that names it, its kind (:mod:`core.model_spec`), then the loader
of that kind, with the runtime choice applied once, here.

    from core import load_detector
    det = load_detector("demo")                                   # the bundled model
    det = load_detector("runs/clip/best.pt", runtime="openvino", precision="int8", calibration="clip.mp4")
    det = load_detector("net.torchscript", trust_code=True)       # code: only with the opt-in
    det = load_detector("torchvision:fasterrcnn_resnet50_fpn_v2")  # a teacher (core.teachers), same API
    det = load_detector("owlv2:person;car", tiling=Tiling(2, 2))   # any model, tiled

Every command of ``ssd`` and every view of the app loads its models through :func:`load_detector`.
A teacher kind (torchvision's zoo, OWLv2, Grounding DINO, a plug-in) comes back as a
:class:`core.teachers.adapter.TeacherDetector`, which keeps the detector API the callers use; so does any
model with ``tiling``. :func:`model_identity` tells, without loading the model, what decides its output
(the resume identity of a pseudo-labelling).
"""
from __future__ import annotations

import hashlib

from pathlib import Path
from typing import Any

from core.detector import Detector, detector_from_weights
from core.model_spec import ModelSpec, check_trusted, kind_of, parse_model_spec
from core.teachers.adapter import SSDTeacher, TeacherDetector
from core.teachers.registry import build_teacher, teacher_fingerprint
from core.teachers.tiling import Tiling, TiledTeacher


def load_detector(weights: str | Path, device: str = "cpu", precision: str = "fp32", *,
                  priors: str | None = None, allow_download: bool = True, optimize: bool = False,
                  runtime: str = "torch", calibration: Any = None, calibration_fallback: Any = None,
                  cache_dir: str | Path | None = None, on_progress: Any = None, should_stop: Any = None,
                  trust_code: bool = False, tiling: Tiling | None = None) -> Detector | TeacherDetector:
    """Load any model this project reads as a ready Detector.

    ``weights``: a file (checkpoint of any layout core.weights reads, or a network ``ssd export`` wrote:
    ``.onnx``, ``.xml``, ``.torchscript``), ``demo``, or ``torchvision:ssd300_vgg16_coco`` /
    ``torchvision:ssdlite320_mobilenet_v3_large_coco`` (downloaded into torchvision's cache when online;
    offline, the error says where to put the file).

    A teacher string (``torchvision:NAME``, ``owlv2:ONTOLOGY``, ``grounding-dino:ONTOLOGY``, ``py:...``; see
    core.teachers) gives a :class:`~core.teachers.adapter.TeacherDetector` running on PyTorch fp32 on
    ``device`` (OpenVINO and int8 apply to SSD models: an OpenVINO fp32 choice falls back, with a note in
    ``runtime_info``; int8, bf16 and fp16 are refused). ``tiling`` runs any model on the whole frame and its
    tiles (:class:`core.teachers.tiling.TiledTeacher`), also as a TeacherDetector.

    ``trust_code=True`` is the user's opt-in for a model that runs code when opened (a TorchScript
    archive or a Python plug-in, see core.model_spec); without it such a model is refused before anything
    in it is loaded.

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
    if spec.teacher is not None:
        return _load_teacher(spec, device, precision, runtime, tiling, on_progress, should_stop)
    if runtime != "torch" or precision == "int8" or spec.exported:
        from core.runtime import load_runtime_detector

        det = load_runtime_detector(spec.path, device, precision, kind=spec.kind, trust_code=trust_code,
                                    runtime=runtime, calibration=calibration,
                                    calibration_fallback=calibration_fallback, priors=priors, optimize=optimize,
                                    cache_dir=cache_dir, on_progress=on_progress, should_stop=should_stop)
    else:
        from core.weights import load_weights

        det = detector_from_weights(load_weights(spec.path, priors=priors), device, precision, optimize)
    if tiling is None:
        return det
    return TeacherDetector(TiledTeacher(SSDTeacher(det, spec.kind, _file_sha256(spec)), tiling), str(weights),
                           spec.kind, str(device))


def _file_sha256(spec: ModelSpec) -> str:
    """The SHA-256 of the model's file; of an OpenVINO IR, of both files' hashes (another ``.bin`` beside the
    same ``.xml`` is another model)."""
    from core.io.fileio import file_sha256
    from core.model_spec import model_files

    assert spec.path is not None
    files = [f for f in model_files(spec.path) if f.is_file()] or [spec.path]
    if len(files) == 1:
        return file_sha256(files[0])
    return hashlib.sha256("".join(file_sha256(f) for f in files).encode()).hexdigest()


def _load_teacher(spec: ModelSpec, device: str, precision: str, runtime: str, tiling: Tiling | None,
                  on_progress: Any, should_stop: Any) -> TeacherDetector:
    """A teacher kind on PyTorch fp32 (see :func:`load_detector`)."""
    assert spec.teacher is not None
    if precision != "fp32":
        raise ValueError(f"{spec.text!r}: {spec.kind} teachers run in fp32 here (precision {precision!r} was asked "
                         f"for; int8, bf16 and fp16 apply to SSD models)")
    if str(device) == "auto":
        from core.detector import resolve_device

        device = str(resolve_device("auto"))
    teacher = build_teacher(spec.teacher, device, tiling, on_progress=on_progress, should_stop=should_stop)
    det = TeacherDetector(teacher, spec.text, spec.kind, str(device))
    if runtime != "torch":
        det.runtime_info["notes"].append(f"{spec.kind} teachers run on PyTorch; the {runtime} runtime applies to "
                                         f"SSD models")
    return det


def model_identity(weights: str | Path, tiling: Tiling | None = None, trust_code: bool = False) -> dict[str, Any]:
    """What decides the output of the model ``weights`` names, without loading it (no download either).

    A file without tiling: ``{"teacher_sha256": SHA-256 of the file}`` (the identity pseudo-labellings have
    always recorded); anything else: ``{"teacher": fingerprint}`` (kind, model, weights' hash or revision,
    ontology, thresholds, tiling; :meth:`core.teachers.protocol.Teacher.fingerprint`).

    Raises:
        ValueError, FileNotFoundError: the model is not on this machine (the message says how to get it);
        UntrustedCodeError: a plug-in without the opt-in (its module is not even looked for).
    """
    spec = parse_model_spec(weights, allow_download=False)
    check_trusted(spec, trust_code)
    if spec.teacher is not None:
        return {"teacher": teacher_fingerprint(spec.teacher, tiling)}
    assert spec.path is not None
    if not spec.path.is_file():
        raise ValueError(f"{weights}: teacher weights not found")
    sha = _file_sha256(spec)
    if tiling is None:
        return {"teacher_sha256": sha}
    return {"teacher": {"kind": spec.kind, "sha256": sha, **tiling.fingerprint()}}


def runtime_for(weights: str | Path, device: str, runtime: str, precision: str) -> tuple[str, str, str]:
    """(device, runtime, precision) that the model ``weights`` names runs with when the app's choice is the
    given one: an exported network runs on the CPU, in its own precision unless the choice is an OpenVINO one."""
    kind = kind_of(weights)
    if kind in ("torchvision", "owlv2", "grounding-dino", "plugin"):
        return device, "torch", "fp32"  # teachers run on PyTorch fp32 on the device chosen
    if kind != "checkpoint":
        return "cpu", runtime, precision if runtime == "openvino" else "fp32"
    return device, runtime, precision
