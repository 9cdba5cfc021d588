"""torchvision's COCO detectors as teachers: ``torchvision:NAME[@FILE][:SIZE]``.

    torchvision:fasterrcnn_resnet50_fpn_v2            # 46.7 COCO box AP (torchvision's model card)
    torchvision:retinanet_resnet50_fpn_v2:512         # its input resized to 512 px on the short side (faster)
    torchvision:fcos_resnet50_fpn@/models/fcos.pth    # weights from a file (a state dict, read weights-only)

Models are built by :func:`torchvision.models.get_model` with ``weights=None`` and loaded from the file that
torchvision's weights enum names (:func:`torchvision.models.get_model_weights`), in torchvision's own cache
(``$TORCH_HOME/hub/checkpoints``) and hash-checked when downloaded
(:func:`core.weights.download.fetch_torchvision_file`; offline, the message names the file, its size and
the folder to put it in). A file given after ``@`` is read with ``torch.load(weights_only=True)``: a state
dict of the same model, or torchvision's reference-scripts checkpoint (``{"model": state_dict, ...}``), with
an optional ``"class_names"`` list for a model trained on other classes. ``SIZE`` replaces the model's
``min_size`` (torchvision's resize of the shorter side; 800 for the R-CNNs, RetinaNet and FCOS) and scales
its ``max_size`` alike. The SSD models of the zoo (``ssd300_vgg16``, ``ssdlite320_mobilenet_v3_large``) are
imported by this project instead (exact, all runtimes; core.registry.SSD_ZOO_NAMES).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from core.teachers.spec import SSD_ZOO_NAMES, TeacherSpec
from core.types import Detections

#: The zoo names offered by the app and listed by the README (torchvision has a few more detectors).
OFFERED = ("fasterrcnn_resnet50_fpn_v2", "retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn",
           "fasterrcnn_mobilenet_v3_large_fpn") + SSD_ZOO_NAMES
#: The score below which the model itself drops boxes (torchvision's default is 0.05; callers threshold after).
SCORE_FLOOR = 0.01


def parse_zoo_argument(spec: TeacherSpec) -> tuple[str, Path | None, int | None]:
    """``NAME[@FILE][:SIZE]`` -> (name, file or None, min_size or None); ValueError naming what is wrong."""
    from torchvision.models import list_models
    import torchvision.models.detection as detection

    text = spec.argument
    size: int | None = None
    head, sep, tail = text.rpartition(":")
    if sep and tail.strip().isdigit():
        text, size = head, int(tail)
        if not 32 <= size <= 4096:
            raise ValueError(f"{spec.text!r}: the input size after ':' must be 32..4096 pixels, got {size}")
    name, at, file = text.partition("@")
    name = name.strip()
    known = list_models(module=detection)
    if name not in known:
        raise ValueError(f"{spec.text!r}: torchvision has no detection model {name!r}; its detectors: "
                         f"{', '.join(known)}")
    path = Path(file.strip()).expanduser() if at else None
    if path is not None and not path.is_file():
        raise ValueError(f"{spec.text!r}: weights file '{path}' not found")
    return name, path, size


def _default_weights(name: str) -> Any:
    from torchvision.models import get_model_weights

    return get_model_weights(name).DEFAULT


def fingerprint(spec: TeacherSpec) -> dict[str, Any]:
    """The resume identity of a zoo teacher (no model is built): model name, input size, weights (torchvision's
    hash-named file, or the SHA-256 of a given file)."""
    from core.io.fileio import file_sha256

    name, path, size = parse_zoo_argument(spec)
    weights = {"weights_sha256": file_sha256(path)} if path is not None else \
        {"weights_file": Path(_default_weights(name).url).name}
    return {"kind": "torchvision", "model": name, "min_size": size, **weights}


def _state_dict(path: Path, text: str) -> tuple[dict[str, Any], tuple[str, ...] | None]:
    from core.weights.files import read_file

    obj = read_file(path)
    names = None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        names = obj.get("class_names")
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{text!r}: '{path}' holds no state dict (a dict of tensors, or {{'model': state_dict}})")
    if names is not None and (not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names)):
        raise ValueError(f"{text!r}: 'class_names' in '{path}' must be a list of strings")
    return obj, None if names is None else tuple(names)


def build(spec: TeacherSpec, device: str = "cpu", on_progress: Any = None, should_stop: Any = None) -> "ZooTeacher":
    """Load the zoo model ``spec`` names (module docstring); ValueError naming the string, the file or the key."""
    from torchvision.models import get_model

    from core.jobs import report
    from core.weights.download import fetch_torchvision_file

    name, path, size = parse_zoo_argument(spec)
    weights = _default_weights(name)
    categories = tuple(weights.meta["categories"])
    if path is None:
        path = fetch_torchvision_file(Path(weights.url).name, f"torchvision's {name} COCO weights",
                                      size_mb=weights.meta.get("_file_size"), should_stop=should_stop,
                                      on_progress=None if on_progress is None else
                                      (lambda done, total: report(on_progress, done, total, "download")))
    state, names = _state_dict(path, spec.text)
    categories = names if names is not None else categories
    model = get_model(name, weights=None, weights_backbone=None, num_classes=len(categories))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{spec.text!r}: '{path}' does not hold {name} weights for {len(categories)} classes "
                         f"({first})") from None
    return ZooTeacher(model, name, categories, size, fingerprint(spec), device)


class ZooTeacher:
    """A torchvision detector (eval mode) as a :class:`core.teachers.protocol.Teacher`.

    ``class_names`` are the model's categories without the background (COCO's "N/A" placeholders kept, so that
    label = category id - 1; datasets skip them).
    """

    default_threshold = 0.5

    def __init__(self, model: torch.nn.Module, name: str, categories: Sequence[str], min_size: int | None,
                 fingerprint: dict[str, Any], device: str = "cpu") -> None:
        from core.detector import resolve_device

        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self._set_floor(SCORE_FLOOR)
        transform = getattr(self.model, "transform", None)
        if min_size is not None and transform is not None and hasattr(transform, "min_size"):
            scale = min_size / float(transform.min_size[0])
            transform.min_size = (min_size,)
            transform.max_size = int(round(transform.max_size * scale))
        self.class_names = tuple(categories[1:])
        self.description = f"torchvision {name}" + (f" at {min_size} px" if min_size else "")
        self._fingerprint = fingerprint

    def _set_floor(self, floor: float) -> None:
        heads = getattr(self.model, "roi_heads", None)
        if heads is not None:  # Faster / Mask / Keypoint R-CNN
            heads.score_thresh = floor
        elif hasattr(self.model, "score_thresh"):  # RetinaNet, FCOS, SSD
            self.model.score_thresh = floor

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """torchvision's own preprocessing, network and NMS; boxes in pixels of each image, labels - 1."""
        if not images:
            return []
        tensors = [torch.from_numpy(np.ascontiguousarray(im)).to(self.device).permute(2, 0, 1).float().div_(255.0)
                   for im in images]
        with torch.inference_mode():
            outputs = self.model(tensors)
        return [Detections(o["boxes"].float().cpu().numpy(), o["scores"].float().cpu().numpy(),
                           o["labels"].cpu().numpy().astype(np.int64) - 1) for o in outputs]

    def fingerprint(self) -> dict[str, Any]:
        return dict(self._fingerprint)


__all__ = ["OFFERED", "SCORE_FLOOR", "ZooTeacher", "build", "fingerprint", "parse_zoo_argument"]
