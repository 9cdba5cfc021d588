"""Reading and writing weights: the project's checkpoints and importers for other layouts.

Every file is read with ``torch.load(weights_only=True)``. Recognised layouts:

- ``own``: this project's checkpoint, a plain dict
  ``{"format": "ssd-desktop/1", "config": SSDConfig.to_dict(), "class_names": [...], "model": state_dict, "meta": {...}}``
  (training checkpoints add optimizer, scheduler, iteration and RNG state).
- ``torchvision``: a state dict of ``torchvision.models.detection.ssd300_vgg16`` (COCO, 91 labels).
- ``ssd.pytorch``: a state dict of Max deGroot's ssd.pytorch (``vgg.N``, ``L2Norm.weight``, ``extras.N``,
  ``loc.N``, ``conf.N``; VOC, 21 classes). Its networks already take RGB minus (123, 117, 104), as ours.
- ``vgg16-imagenet``: a torchvision ``vgg16`` classifier, usable only to initialise a backbone for
  training (``core.importers.init_backbone_from_vgg16``), with fc6/fc7 decimated into conv6/conv7.
- the other architectures' layouts (torchvision's SSDlite, qfgaohao/pytorch-ssd's MobileNet-SSDs, the
  ImageNet MobileNets and ResNet-50).

The foreign layouts are turned into this project's by ``core.importers``; this module reads files,
recognises their layout and loads checked state dicts into models.

Whatever the layout, a file is refused with a one-line ``ValueError`` naming it and the field when
an entry has the wrong type, its configuration is impossible (``SSDConfig.from_dict``) or a tensor
holds NaN or infinity. The name ``demo`` stands for the bundled demo model (:mod:`core.resources`);
downloading torchvision's weights is :mod:`core.download`.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NoReturn

import torch
from torch import Tensor, nn

from core.config import SSDConfig
from core.download import TORCHVISION_COCO_SPEC, TORCHVISION_FILES  # noqa: F401 - names of weights
from core.fileio import atomic_path

FORMAT = "ssd-desktop/1"
#: The name that stands for the bundled demo model wherever a weights file is expected.
DEMO_SPEC = "demo"


@dataclass
class LoadedWeights:
    """A weights file, understood.

    Attributes:
        format: "own", "torchvision", "ssd.pytorch", "vgg16-imagenet" or one of ``core.importers.FORMATS``.
        config: the detector configuration (None for a bare ImageNet classifier).
        class_names: index 0 is "__background__".
        state_dict: in this project's layout (core.model.SSD), or the raw VGG16 dict.
        meta: training metadata from own checkpoints (iterations, dataset, mAP, ...).
        path: the file.
    """

    format: str
    config: SSDConfig | None
    class_names: tuple[str, ...]
    state_dict: dict[str, Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


# ------------------------------------------------------------------------------------ saving

def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename: a crash never leaves half a file.

    A full disk raises ``OSError`` saying "no space left on device (the previous version is intact)".
    """
    with atomic_path(path, "checkpoint") as tmp:
        with open(tmp, "wb") as f:
            sink = _WriteErrors(f)
            try:
                torch.save(obj, sink)
            except RuntimeError:
                # torch's zip writer turns a failed write into "enforce fail at inline_container.cc";
                # the OSError behind it (ENOSPC, EIO) is the one to report.
                if sink.error is not None:
                    raise sink.error from None
                raise
            f.flush()
    return Path(path)


class _WriteErrors:
    """A binary file for ``torch.save`` that keeps the ``OSError`` of a failed write in ``error``."""

    def __init__(self, f: Any) -> None:
        self._f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self._f.flush()


def checkpoint_dict(model: nn.Module, config: SSDConfig, class_names: tuple[str, ...] | list[str],
                    meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The project's checkpoint as a plain dict (see module docstring)."""
    if len(class_names) != config.model.num_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {config.model.num_classes} classes")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"format": FORMAT, "config": config.to_dict(), "class_names": list(class_names),
            "model": state, "meta": dict(meta or {})}


def save_checkpoint(path: str | Path, model: nn.Module, config: SSDConfig,
                    class_names: tuple[str, ...] | list[str], meta: Mapping[str, Any] | None = None,
                    **extra: Any) -> Path:
    """Write a detector checkpoint atomically; ``extra`` adds keys (optimizer state, iteration, ...)."""
    ckpt = checkpoint_dict(model, config, class_names, meta)
    ckpt.update(extra)
    return atomic_save(ckpt, path)


# ----------------------------------------------------------------------------------- loading

def read_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU with errors that say what the file is."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"weights file not found: '{p}'")
    if p.is_dir():
        raise ValueError(f"'{p}' is a folder, not a weights file")
    if p.stat().st_size == 0:
        raise ValueError(f"'{p}' is empty, not a weights file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Weights only load failed" in msg or "weights_only" in msg:
            raise ValueError(
                f"'{p}' was refused by torch.load(weights_only=True): it stores Python objects, not only tensors. "
                f"Re-save it as a state dict (torch.save(model.state_dict(), path)) from a trusted source."
            ) from None
        raise ValueError(f"'{p}' is not a PyTorch weights file ({msg.splitlines()[0][:120]})") from None
    except Exception as exc:  # torch's unpickler fails on garbage with many exception types (IndexError, ...)
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ValueError(f"'{p}' is not a PyTorch weights file ({first})") from None


def detect_format(obj: Any) -> str:
    """The layout of a loaded object: "own", "torchvision", "ssd.pytorch", "vgg16-imagenet" or "unknown"."""
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return "own"
    if not isinstance(obj, dict) or not obj:
        return "unknown"
    keys = [_strip_module(k) for k in obj if isinstance(k, str)]
    ks = set(keys)
    if "backbone.scale_weight" in ks and any(k.startswith("head.classification_head.") for k in ks):
        return "torchvision"
    if "L2Norm.weight" in ks and any(k.startswith("conf.") for k in ks) and any(k.startswith("vgg.") for k in ks):
        return "ssd.pytorch"
    if "features.0.weight" in ks and "classifier.0.weight" in ks:
        return "vgg16-imagenet"
    from core.importers import detect_foreign_format

    return detect_foreign_format(ks) or "unknown"


def load_weights(path: str | Path, *, priors: str | None = None) -> LoadedWeights:
    """Read any recognised weights file into this project's layout.

    Args:
        path: the file.
        priors: "voc" or "coco" to override the default-box preset assumed for foreign files
            (torchvision: "coco"; ssd.pytorch: "voc" for 21 classes, "coco" for 81).

    Raises:
        FileNotFoundError for a missing file; ValueError, naming the file, for anything that is not
        a recognised SSD weights file.
    """
    p = resolve_weights_spec(path, allow_download=False)
    obj = read_file(p)
    fmt = detect_format(obj)
    if fmt == "own":
        lw = _from_own(obj, p)
    elif fmt != "unknown":
        from core.importers import load_foreign

        lw = load_foreign(fmt, as_state_dict(obj, p), p, priors)
    else:
        _unknown(obj, p)
    check_finite(lw.state_dict, p)
    return lw


def check_finite(state_dict: Mapping[str, Tensor], source: str | Path) -> None:
    """Raise a ValueError naming the first tensor that holds NaN or infinity (a diverged training
    saves such weights; they would give NaN boxes or no detections at all, silently)."""
    for k, v in state_dict.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise ValueError(f"'{source}': tensor {k} holds {bad} non-finite value(s) (NaN or infinity) among "
                             f"{v.numel()}: these weights are broken (a training that diverged?); use an earlier "
                             f"checkpoint")


def _unknown(obj: Any, p: Path) -> NoReturn:
    if isinstance(obj, dict):
        first = ", ".join(list(map(str, obj))[:4])
        raise ValueError(f"'{p}' is not an SSD checkpoint this app knows (first keys: {first}); expected this "
                         f"project's checkpoint, a torchvision ssd300_vgg16 or ssdlite320_mobilenet_v3_large, an "
                         f"ssd.pytorch or a qfgaohao/pytorch-ssd state dict")
    raise ValueError(f"'{p}' holds a {type(obj).__name__}, not a state dict or checkpoint")


def as_state_dict(obj: Any, p: Path, what: str = "the file") -> dict[str, Tensor]:
    """``obj`` as a state dict (layer name -> tensor, any DataParallel ``module.`` prefix removed), or a
    ValueError naming the file ``p`` and the entry that is not a tensor."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"'{p}': {what} is a {type(obj).__name__}, expected a state dict (layer name -> tensor)")
    out = {}
    for k, v in obj.items():
        if not isinstance(v, Tensor):
            raise ValueError(f"'{p}': entry {k!r} is a {type(v).__name__}, expected a tensor")
        out[_strip_module(k)] = v
    return out


def _strip_module(k: Any) -> Any:
    return k[7:] if isinstance(k, str) and k.startswith("module.") else k


def _from_own(obj: dict[str, Any], p: Path) -> LoadedWeights:
    for key in ("config", "class_names", "model"):
        if key not in obj:
            raise ValueError(f"'{p}': checkpoint has no {key!r} entry")
    for key, kind, expected in (("config", dict, "a dict"), ("class_names", (list, tuple), "a list of names"),
                                ("meta", (dict, type(None)), "a dict")):
        if not isinstance(obj.get(key), kind):
            raise ValueError(f"'{p}': the {key!r} entry is a {type(obj[key]).__name__}, expected {expected}")
    cfg = SSDConfig.from_dict(obj["config"], source=str(p))
    names = obj["class_names"]
    if not all(isinstance(n, str) for n in names):
        bad = next(n for n in names if not isinstance(n, str))
        raise ValueError(f"'{p}': class_names holds a {type(bad).__name__} ({bad!r}), expected names (strings)")
    if len(names) != cfg.model.num_classes:
        raise ValueError(f"'{p}': {len(names)} class names for {cfg.model.num_classes} classes")
    return LoadedWeights("own", cfg, tuple(names), as_state_dict(obj["model"], p, "the 'model' entry"),
                        dict(obj.get("meta") or {}), p)


def load_state_into(model: nn.Module, state_dict: Mapping[str, Tensor], source: str | Path) -> None:
    """Strict load that names the first mismatched layer and both shapes instead of torch's wall of text."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    for k, v in state_dict.items():
        if k in own and tuple(own[k].shape) != tuple(v.shape):
            raise ValueError(f"'{source}': layer {k} has shape {tuple(v.shape)} in the file but the model expects "
                             f"{tuple(own[k].shape)}: the file is for another architecture or class count")
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} layers (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected layers (e.g. {unexpected[0]})")
        raise ValueError(f"'{source}': does not fit the model: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def resolve_weights_spec(spec: str | Path, allow_download: bool = True) -> Path:
    """The file a weights spec names: a path as it is; the name ``demo`` (a string, not a ``Path``:
    a file called demo is ``./demo``) is the bundled demo model; a name of :data:`TORCHVISION_FILES`
    (``torchvision:ssd300_vgg16_coco``, ...) is torchvision's file in its cache (downloaded first when
    ``allow_download``)."""
    if isinstance(spec, str) and spec == DEMO_SPEC:
        from core.resources import DEMO_WEIGHTS

        if not DEMO_WEIGHTS.is_file():
            raise FileNotFoundError(f"the demo model is missing from this installation: expected '{DEMO_WEIGHTS}'")
        return DEMO_WEIGHTS
    if str(spec) in TORCHVISION_FILES:
        from core.download import fetch_torchvision_coco

        return fetch_torchvision_coco(allow_download=allow_download, spec=str(spec))
    return Path(spec)
