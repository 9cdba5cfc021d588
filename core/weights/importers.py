"""Importers for the foreign layouts of detectors (``core.weights.load.load_weights`` dispatches here):

- ``torchvision``: a state dict of ``torchvision.models.detection.ssd300_vgg16`` (COCO, 91 labels); only
  the conv4_3 scale is renamed (``backbone.scale_weight`` -> ``backbone.l2norm.weight``).
- ``ssd.pytorch``: Max deGroot's ssd.pytorch (``vgg.N``, ``L2Norm.weight``, ``extras.N``, ``loc.N``,
  ``conf.N``; VOC, 21 classes): a pure key rename (:func:`ssd_pytorch_key_map`), as its networks already
  take RGB minus (123, 117, 104), as ours.
- ``torchvision-ssdlite``: a state dict of ``torchvision.models.detection.ssdlite320_mobilenet_v3_large``;
  this project's SSDlite has the same modules, so the keys are kept as they are.
- ``qfgaohao``: a ``.pth`` of qfgaohao/pytorch-ssd, ``mb1-ssd`` (MobileNetV1-SSD) or ``mb2-ssd-lite``
  (MobileNetV2-SSDLite): ``base_net.*``, ``extras.*``, ``classification_headers.*``,
  ``regression_headers.*``. Both networks are the same layers as ours in the same order (qfgaohao's
  MobileNetV2 is torchvision's with flatter Sequentials), so each group's parameterised layers are
  paired in order, layer by layer, and every pair must agree in parameter names and shapes.

The ImageNet classifiers that initialise a backbone for training are recognised here
(:func:`detect_foreign_format`) and loaded by :mod:`core.weights.backbones`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from torch import Tensor, nn

from core.config import ARCHITECTURES, BACKGROUND, preset
from core.weights.files import LoadedWeights, as_state_dict, load_state_into

CLASSIFIERS = ("mobilenet_v3_large", "mobilenet_v2", "resnet50")
FORMATS = ("torchvision-ssdlite", "qfgaohao") + tuple(f"{c}-imagenet" for c in CLASSIFIERS)
_QFGAOHAO_GROUPS = (("base_net", "backbone.features"), ("extras", "backbone.extra"),
                    ("classification_headers", "head.classification_head.module_list"),
                    ("regression_headers", "head.regression_head.module_list"))


def detect_foreign_format(keys: set[str]) -> str | None:
    """One of :data:`FORMATS` for a state dict with these keys, or None."""
    if "head.classification_head.module_list.0.1.weight" in keys and any(
            k.startswith("backbone.features.0.") and ".block." in k for k in keys):
        return "torchvision-ssdlite"
    if any(k.startswith("base_net.") for k in keys) and any(k.startswith("classification_headers.") for k in keys):
        return "qfgaohao"
    if "features.16.0.weight" in keys and "features.1.block.0.0.weight" in keys and "classifier.3.weight" in keys:
        return "mobilenet_v3_large-imagenet"
    if "features.18.0.weight" in keys and "features.1.conv.0.0.weight" in keys and "classifier.1.weight" in keys:
        return "mobilenet_v2-imagenet"
    if {"conv1.weight", "layer1.0.conv3.weight", "layer3.5.conv3.weight", "fc.weight"} <= keys \
            and "layer3.6.conv1.weight" not in keys:
        return "resnet50-imagenet"
    return None


def load_foreign(fmt: str, sd: dict[str, Tensor], p: Path, priors: str | None = None) -> LoadedWeights:
    """A state dict of a layout other than this project's (``core.weights.detect_format``), in ours.

    Args:
        fmt: "torchvision", "ssd.pytorch", "vgg16-imagenet" or one of :data:`FORMATS`.
        sd: the file's tensors. p: the file, for messages.
        priors: "voc" or "coco" to override the default-box preset assumed for torchvision's SSD300
            ("coco") and ssd.pytorch ("voc" for 21 classes, "coco" for 81).
    """
    if fmt == "torchvision":
        return _from_torchvision(sd, p, priors or "coco")
    if fmt == "ssd.pytorch":
        return _from_ssd_pytorch(sd, p, priors)
    if fmt.endswith("-imagenet"):
        return LoadedWeights(fmt, None, (), sd, {}, p)
    if fmt == "torchvision-ssdlite":
        key = "head.classification_head.module_list.0.1.weight"
        arch = "ssdlite320_mobilenet_v3_large"
        n = _num_classes_from_head(sd[key], 6, key, p)
        coco = coco_category_names()
        names = coco if n == len(coco) else _generic_names(n)
        return LoadedWeights(fmt, preset(arch, n), names, dict(sd), {"source": f"torchvision {arch}"}, p)
    arch = _qfgaohao_arch(set(sd), p)
    key = "classification_headers.0.weight" if arch == "ssd300_mobilenet_v1" else "classification_headers.0.3.weight"
    n = _num_classes_from_head(sd[key], 6, key, p)
    cfg = preset(arch, n)
    from core.data.voc import VOC_CLASSES

    names = VOC_CLASSES if n == len(VOC_CLASSES) else _generic_names(n)
    return LoadedWeights(fmt, cfg, names, qfgaohao_to_ours(sd, cfg.model, p), {"source": f"qfgaohao {arch}"}, p)


def _qfgaohao_arch(keys: set[str], p: Path) -> str:
    if "base_net.13.3.weight" in keys and "classification_headers.0.weight" in keys:
        return "ssd300_mobilenet_v1"  # mb1-ssd
    if "base_net.14.conv.0.weight" in keys and "base_net.18.0.weight" in keys and \
            "classification_headers.0.0.weight" in keys:
        return "ssdlite300_mobilenet_v2"  # mb2-ssd-lite
    raise ValueError(f"'{p}': a qfgaohao/pytorch-ssd file of a network this app does not have (only mb1-ssd, "
                     f"MobileNetV1-SSD, and mb2-ssd-lite, MobileNetV2-SSDLite, are supported)")


def _natural(key: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def _layers(keys: list[str], prefix: str) -> dict[str, list[str]]:
    """Module path -> its parameter/buffer names, for the keys under ``prefix.``, in registration order."""
    out: dict[str, list[str]] = {}
    for k in sorted((k for k in keys if k.startswith(prefix + ".")), key=_natural):
        module, _, leaf = k.rpartition(".")
        out.setdefault(module, []).append(leaf)
    return out


def qfgaohao_to_ours(sd: Mapping[str, Tensor], cfg, p: Path) -> dict[str, Tensor]:  # type: ignore[no-untyped-def]
    """qfgaohao keys -> this project's, layer by layer (see the module docstring).

    Raises:
        ValueError naming the file and the first layer that does not fit.
    """
    from core.model import build_model

    own = build_model(cfg).state_dict()
    out: dict[str, Tensor] = {}
    for theirs, ours in _QFGAOHAO_GROUPS:
        src, dst = _layers(list(sd), theirs), _layers(list(own), ours)
        if len(src) != len(dst):
            raise ValueError(f"'{p}': {len(src)} layers under {theirs}, expected {len(dst)} for {cfg.arch}")
        for (s_mod, s_leaves), (d_mod, d_leaves) in zip(src.items(), dst.items()):
            if sorted(s_leaves) != sorted(d_leaves):
                raise ValueError(f"'{p}': layer {s_mod} holds {sorted(s_leaves)}, expected {sorted(d_leaves)}")
            for leaf in s_leaves:
                v, want = sd[f"{s_mod}.{leaf}"], own[f"{d_mod}.{leaf}"]
                if tuple(v.shape) != tuple(want.shape):
                    raise ValueError(f"'{p}': layer {s_mod}.{leaf} has shape {tuple(v.shape)}, expected "
                                     f"{tuple(want.shape)} for {cfg.arch} width 1 ({cfg.num_classes} classes)")
                out[f"{d_mod}.{leaf}"] = v
    unused = sorted(set(sd) - {k for k in sd if k.split(".")[0] in dict(_QFGAOHAO_GROUPS)})
    if unused:
        raise ValueError(f"'{p}': unexpected qfgaohao key {unused[0]!r}")
    return out


# ------------------------------------------------------ torchvision SSD300 and ssd.pytorch

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
