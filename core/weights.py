"""Reading and writing weights: the project's checkpoints and importers for other layouts.

Every file is read with ``torch.load(weights_only=True)``. Recognised layouts:

- ``own``: this project's checkpoint, a plain dict
  ``{"format": "ssd-desktop/1", "config": SSDConfig.to_dict(), "class_names": [...], "model": state_dict, "meta": {...}}``
  (training checkpoints add optimizer, scheduler, iteration and RNG state).
- ``torchvision``: a state dict of ``torchvision.models.detection.ssd300_vgg16`` (COCO, 91 labels).
- ``ssd.pytorch``: a state dict of Max deGroot's ssd.pytorch (``vgg.N``, ``L2Norm.weight``, ``extras.N``,
  ``loc.N``, ``conf.N``; VOC, 21 classes). Its networks already take RGB minus (123, 117, 104), as ours.
- ``vgg16-imagenet``: a torchvision ``vgg16`` classifier, usable only to initialise a backbone for
  training (:func:`init_backbone_from_vgg16`), with fc6/fc7 decimated into conv6/conv7.
- the other architectures' layouts (torchvision's SSDlite, qfgaohao/pytorch-ssd's MobileNet-SSDs, the
  ImageNet MobileNets and ResNet-50): see ``core.importers``.

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

from core.config import BACKGROUND, SSDConfig, preset
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
    elif fmt == "torchvision":
        lw = _from_torchvision(_tensors(obj, p), p, priors or "coco")
    elif fmt == "ssd.pytorch":
        lw = _from_ssd_pytorch(_tensors(obj, p), p, priors)
    elif fmt == "vgg16-imagenet":
        lw = LoadedWeights("vgg16-imagenet", None, (), _tensors(obj, p), {}, p)
    elif fmt != "unknown":
        from core.importers import load_foreign

        lw = load_foreign(fmt, _tensors(obj, p), p)
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


def _tensors(obj: Any, p: Path, what: str = "the file") -> dict[str, Tensor]:
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
    return LoadedWeights("own", cfg, tuple(names), _tensors(obj["model"], p, "the 'model' entry"),
                        dict(obj.get("meta") or {}), p)


def _num_classes_from_head(w: Tensor, boxes_first_map: int, key: str, p: Path) -> int:
    out = int(w.shape[0])
    if out % boxes_first_map:
        raise ValueError(f"'{p}': layer {key} has {out} outputs, not a multiple of {boxes_first_map} default boxes")
    return out // boxes_first_map


def coco_category_names() -> tuple[str, ...]:
    """torchvision's 91 COCO label names (index 0 "__background__", gaps named "N/A")."""
    from torchvision.models.detection import SSD300_VGG16_Weights

    return tuple(SSD300_VGG16_Weights.COCO_V1.meta["categories"])


def _generic_names(n: int) -> tuple[str, ...]:
    return (BACKGROUND,) + tuple(f"class_{i}" for i in range(1, n))


def _from_torchvision(sd: dict[str, Tensor], p: Path, priors: str) -> LoadedWeights:
    n_extra = len({k.split(".")[2] for k in sd if k.startswith("backbone.extra.")})
    if n_extra != 5:
        raise ValueError(f"'{p}': torchvision layout with {n_extra} extra blocks; only ssd300_vgg16 (5) is supported "
                         f"(torchvision's highres SSD512 differs from the paper's conv10-12)")
    key = "head.classification_head.module_list.0.weight"
    cfg0 = preset("ssd300", num_classes=2, priors=priors)
    n = _num_classes_from_head(sd[key], cfg0.model.priors.boxes_per_location[0], key, p)
    cfg = preset("ssd300", num_classes=n, priors=priors)
    coco = coco_category_names()
    names = coco if n == len(coco) else _generic_names(n)
    out = {("backbone.l2norm.weight" if k == "backbone.scale_weight" else k): v for k, v in sd.items()}
    return LoadedWeights("torchvision", cfg, names, out, {"source": "torchvision ssd300_vgg16"}, p)


def ssd_pytorch_key_map(num_extra_convs: int) -> dict[str, str]:
    """ssd.pytorch module prefixes -> this project's (and torchvision's) prefixes.

    ssd.pytorch's ``vgg`` list is VGG16 up to conv5_3, then pool5 (30), conv6 (31), conv7 (33);
    its ``extras`` are the 1x1/3x3 convs without ReLU modules, two per extra feature map.
    """
    m = {f"vgg.{i}": f"backbone.features.{i}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)}
    m.update({"vgg.24": "backbone.extra.0.1", "vgg.26": "backbone.extra.0.3", "vgg.28": "backbone.extra.0.5",
              "vgg.31": "backbone.extra.0.7.1", "vgg.33": "backbone.extra.0.7.3",
              "L2Norm": "backbone.l2norm"})
    for i in range(num_extra_convs):
        m[f"extras.{i}"] = f"backbone.extra.{i // 2 + 1}.{0 if i % 2 == 0 else 2}"
    for i in range(7):
        m[f"loc.{i}"] = f"head.regression_head.module_list.{i}"
        m[f"conf.{i}"] = f"head.classification_head.module_list.{i}"
    return m


def _from_ssd_pytorch(sd: dict[str, Tensor], p: Path, priors: str | None) -> LoadedWeights:
    n_extra = len({k.split(".")[1] for k in sd if k.startswith("extras.")})
    n_maps = len({k.split(".")[1] for k in sd if k.startswith("conf.")})
    arch = "ssd300" if n_maps == 6 else "ssd512" if n_maps == 7 else None
    if arch is None:
        raise ValueError(f"'{p}': ssd.pytorch layout with {n_maps} prediction layers (expected 6 or 7)")
    key = "conf.0.weight"
    n = _num_classes_from_head(sd[key], 4, key, p)
    if priors is None:
        priors = "coco" if n == 81 else "voc"
    cfg = preset(arch, num_classes=n, priors=priors)
    mapping = ssd_pytorch_key_map(n_extra)
    out: dict[str, Tensor] = {}
    for k, v in sd.items():
        prefix, _, leaf = k.rpartition(".")
        if prefix not in mapping:
            raise ValueError(f"'{p}': unexpected ssd.pytorch key {k!r}")
        out[f"{mapping[prefix]}.{leaf}"] = v
    from core.data.voc import VOC_CLASSES

    names = VOC_CLASSES if n == len(VOC_CLASSES) else _generic_names(n)
    return LoadedWeights("ssd.pytorch", cfg, names, out, {"source": "ssd.pytorch"}, p)


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


# -------------------------------------------------------------------- ImageNet VGG16 backbone

def vgg16_backbone_state(sd: Mapping[str, Tensor], source: str | Path = "<vgg16>") -> dict[str, Tensor]:
    """Turn a torchvision ``vgg16`` classifier state dict into SSD backbone weights.

    conv1_1..conv5_3 are copied; fc6 (4096 x 512*7*7) and fc7 (4096 x 4096) become conv6
    (1024 x 512 x 3 x 3, dilation 6) and conv7 (1024 x 1024 x 1 x 1) by decimation, as in the
    SSD paper's footnote and seed 004: every 4th filter, and every 3rd spatial tap of the 7x7
    kernel (taps 0, 3, 6), so that the atrous conv keeps the receptive field.
    """
    try:
        w6 = sd["classifier.0.weight"].reshape(4096, 512, 7, 7)
        b6 = sd["classifier.0.bias"]
        w7 = sd["classifier.3.weight"]
        b7 = sd["classifier.3.bias"]
    except KeyError as exc:
        raise ValueError(f"'{source}': not a VGG16 classifier state dict (missing {exc.args[0]})") from None
    except RuntimeError as exc:
        raise ValueError(f"'{source}': classifier.0.weight has shape {tuple(sd['classifier.0.weight'].shape)}, "
                         f"expected (4096, 25088)") from exc
    out: dict[str, Tensor] = {}
    conv_idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    for i in conv_idx:
        dst = f"backbone.features.{i}" if i < 23 else f"backbone.extra.0.{i - 23}"
        for leaf in ("weight", "bias"):
            key = f"features.{i}.{leaf}"
            if key not in sd:
                raise ValueError(f"'{source}': not a VGG16 state dict (missing {key})")
            out[f"{dst}.{leaf}"] = sd[key]
    out["backbone.extra.0.7.1.weight"] = w6[::4, :, ::3, ::3].contiguous()
    out["backbone.extra.0.7.1.bias"] = b6[::4].contiguous()
    out["backbone.extra.0.7.3.weight"] = w7[::4, ::4].reshape(1024, 1024, 1, 1).contiguous()
    out["backbone.extra.0.7.3.bias"] = b7[::4].contiguous()
    return out


def init_backbone_from_vgg16(model: nn.Module, path: str | Path) -> int:
    """Load ImageNet VGG16 weights (torchvision ``vgg16`` layout) into an SSD's backbone.

    Returns the number of tensors copied. Only full-width models (width 1.0) fit; anything else
    raises a ValueError that names the layer and both shapes.
    """
    obj = read_file(path)
    if detect_format(obj) != "vgg16-imagenet":
        raise ValueError(f"'{path}' is not a torchvision vgg16 classifier state dict")
    part = vgg16_backbone_state(_tensors(obj, Path(path)), path)
    own = model.state_dict()
    for k, v in part.items():
        if k not in own:
            raise ValueError(f"'{path}': model has no layer {k}")
        if tuple(own[k].shape) != tuple(v.shape):
            raise ValueError(f"'{path}': layer {k} has shape {tuple(v.shape)} in the file but the model expects "
                             f"{tuple(own[k].shape)} (VGG16 initialisation needs width 1.0)")
    model.load_state_dict(part, strict=False)
    return len(part)


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
