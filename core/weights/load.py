"""Weights files understood: which layout a file holds, and its weights in this project's layout.

Every file is read with ``torch.load(weights_only=True)``. Recognised layouts:

- ``own``: this project's checkpoint, a plain dict
  ``{"format": "ssd-desktop/1", "config": SSDConfig.to_dict(), "class_names": [...], "model": state_dict, "meta": {...}}``
  (training checkpoints add optimizer, scheduler, iteration and RNG state).
- ``torchvision``: a state dict of ``torchvision.models.detection.ssd300_vgg16`` (COCO, 91 labels).
- ``ssd.pytorch``: a state dict of Max deGroot's ssd.pytorch (``vgg.N``, ``L2Norm.weight``, ``extras.N``,
  ``loc.N``, ``conf.N``; VOC, 21 classes). Its networks already take RGB minus (123, 117, 104), as ours.
- ``vgg16-imagenet``: a torchvision ``vgg16`` classifier, usable only to initialise a backbone for
  training (``core.weights.backbones.init_backbone_from_vgg16``), with fc6/fc7 decimated into conv6/conv7.
- the other architectures' layouts (torchvision's SSDlite, qfgaohao/pytorch-ssd's MobileNet-SSDs, the
  ImageNet MobileNets and ResNet-50).

The foreign layouts are turned into this project's by :mod:`core.weights.importers`; this module tells
the layouts apart and builds a :class:`~core.weights.files.LoadedWeights` of checked tensors.

Whatever the layout, a file is refused with a one-line ``ValueError`` naming it and the field when
an entry has the wrong type, its configuration is impossible (``SSDConfig.from_dict``) or a tensor
holds NaN or infinity. The name ``demo`` stands for the bundled demo model (:mod:`core.resources`);
downloading torchvision's weights is :mod:`core.weights.download`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from core.config import SSDConfig
from core.weights.files import FORMAT, LoadedWeights, as_state_dict, check_finite, read_file, strip_module
from core.weights.download import TORCHVISION_COCO_SPEC, TORCHVISION_FILES  # noqa: F401 - names of weights
from core.weights.importers import detect_foreign_format, load_foreign

#: The name that stands for the bundled demo model wherever a weights file is expected.
DEMO_SPEC = "demo"
#: The torchvision zoo's SSDs (``ssd pseudo-label --teacher torchvision:ssd300_vgg16``) are this project's import
#: of torchvision's COCO files: exact to torchvision, and they run on every runtime.
SSD_ZOO_ALIASES = {"torchvision:ssd300_vgg16": TORCHVISION_COCO_SPEC,
                   "torchvision:ssdlite320_mobilenet_v3_large": "torchvision:ssdlite320_mobilenet_v3_large_coco"}


def detect_format(obj: Any) -> str:
    """The layout of a loaded object: "own", "torchvision", "ssd.pytorch", "vgg16-imagenet" or "unknown"."""
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return "own"
    if not isinstance(obj, dict) or not obj:
        return "unknown"
    keys = [strip_module(k) for k in obj if isinstance(k, str)]
    ks = set(keys)
    if "backbone.scale_weight" in ks and any(k.startswith("head.classification_head.") for k in ks):
        return "torchvision"
    if "L2Norm.weight" in ks and any(k.startswith("conf.") for k in ks) and any(k.startswith("vgg.") for k in ks):
        return "ssd.pytorch"
    if "features.0.weight" in ks and "classifier.0.weight" in ks:
        return "vgg16-imagenet"
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
        lw = load_foreign(fmt, as_state_dict(obj, p), p, priors)
    else:
        _unknown(obj, p)
    check_finite(lw.state_dict, p)
    return lw


def _unknown(obj: Any, p: Path) -> NoReturn:
    if isinstance(obj, dict):
        first = ", ".join(list(map(str, obj))[:4])
        raise ValueError(f"'{p}' is not an SSD checkpoint this app knows (first keys: {first}); expected this "
                         f"project's checkpoint, a torchvision ssd300_vgg16 or ssdlite320_mobilenet_v3_large, an "
                         f"ssd.pytorch or a qfgaohao/pytorch-ssd state dict")
    raise ValueError(f"'{p}' holds a {type(obj).__name__}, not a state dict or checkpoint")


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


def resolve_weights_spec(spec: str | Path, allow_download: bool = True) -> Path:
    """The file a weights spec names: a path as it is; the name ``demo`` (a string, not a ``Path``:
    a file called demo is ``./demo``) is the bundled demo model; a name of :data:`TORCHVISION_FILES`
    (``torchvision:ssd300_vgg16_coco``, ...) is torchvision's file in its cache (downloaded first when
    ``allow_download``); the zoo names ``torchvision:ssd300_vgg16`` and ``torchvision:ssdlite320_mobilenet_v3_large``
    are those files too, and ``torchvision:ssd300_vgg16@FILE`` is FILE (a torchvision state dict)."""
    if isinstance(spec, str) and spec == DEMO_SPEC:
        from core.resources import DEMO_WEIGHTS

        if not DEMO_WEIGHTS.is_file():
            raise FileNotFoundError(f"the demo model is missing from this installation: expected '{DEMO_WEIGHTS}'")
        return DEMO_WEIGHTS
    name, at, file = str(spec).partition("@") if isinstance(spec, str) else (str(spec), "", "")
    if name in SSD_ZOO_ALIASES:  # torchvision:ssd300_vgg16[@FILE]: the zoo's SSDs, imported by this project
        if at:
            return Path(file).expanduser()
        name = SSD_ZOO_ALIASES[name]
    if name in TORCHVISION_FILES:
        from core.weights.download import fetch_torchvision_coco

        return fetch_torchvision_coco(allow_download=allow_download, spec=name)
    return Path(spec)
