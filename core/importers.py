"""Importers for the SSD family's foreign layouts, and ImageNet initialisation of every backbone.

Detectors (``core.weights.load_weights`` dispatches here):

- ``torchvision-ssdlite``: a state dict of ``torchvision.models.detection.ssdlite320_mobilenet_v3_large``;
  this project's SSDlite has the same modules, so the keys are kept as they are.
- ``qfgaohao``: a ``.pth`` of qfgaohao/pytorch-ssd, ``mb1-ssd`` (MobileNetV1-SSD) or ``mb2-ssd-lite``
  (MobileNetV2-SSDLite): ``base_net.*``, ``extras.*``, ``classification_headers.*``,
  ``regression_headers.*``. Both networks are the same layers as ours in the same order (qfgaohao's
  MobileNetV2 is torchvision's with flatter Sequentials), so each group's parameterised layers are
  paired in order, layer by layer, and every pair must agree in parameter names and shapes.

ImageNet classifiers in torchvision's layout (``ssd train --backbone FILE``): ``vgg16`` (core.weights),
``mobilenet_v3_large``, ``mobilenet_v2`` and ``resnet50``; see :func:`init_backbone`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from torch import Tensor, nn

from core.config import ARCHITECTURES, preset

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


def load_foreign(fmt: str, sd: dict[str, Tensor], p: Path):  # type: ignore[no-untyped-def]
    """A state dict of format ``fmt`` (from :func:`detect_foreign_format`) as ``core.weights.LoadedWeights``."""
    from core.weights import LoadedWeights, _generic_names, _num_classes_from_head, coco_category_names

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


# ---------------------------------------------------------------- ImageNet backbone initialisation

def _cut(name: str):  # type: ignore[no-untyped-def]
    """The function that cuts a torchvision ``features`` into our backbone's stages."""
    if name == "mobilenet_v3_large":
        from core.model.mobilenet_v3 import split_at_c4

        return split_at_c4
    from core.model.mobilenet_v2 import split_at_tap

    return split_at_tap


def imagenet_backbone_state(name: str, sd: Mapping[str, Tensor], width: float, source: str | Path
                            ) -> dict[str, Tensor]:
    """An ImageNet classifier's weights (torchvision layout) under this project's ``backbone.features.*`` keys.

    ResNet-50 maps by prefix (``conv1`` .. ``layer3``; ``layer4`` and ``fc`` are not used). A MobileNet
    is loaded into torchvision's own classifier, whose ``features`` are then cut as our backbone's are.
    """
    if name == "resnet50":
        return {f"backbone.features.0.{k}": v for k, v in sd.items() if not k.startswith(("layer4.", "fc."))}
    import torchvision

    from core.weights import load_state_into

    clf = getattr(torchvision.models, name)(weights=None, width_mult=width)
    try:
        load_state_into(clf, sd, source)
    except ValueError as exc:
        hint = f" (ImageNet {name} initialisation needs width 1.0, this model has {width:g})" if width != 1.0 else ""
        raise ValueError(f"{exc}{hint}") from None
    return {f"backbone.features.{k}": v for k, v in _cut(name)(clf.features).state_dict().items()}


def _fitting_layers(part: Mapping[str, Tensor], own: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The tensors of ``part`` whose whole layer (every tensor of the module) matches ``own`` in names and shapes."""
    by_module: dict[str, list[str]] = {}
    for k in part:
        by_module.setdefault(k.rpartition(".")[0], []).append(k)
    return {k: part[k] for keys in by_module.values()
            if all(k in own and tuple(own[k].shape) == tuple(part[k].shape) for k in keys) for k in keys}


def init_backbone(model: nn.Module, path: str | Path) -> int:
    """Initialise ``model``'s backbone from an ImageNet classifier file in torchvision's layout.

    Which classifier fits is ``ARCHITECTURES[arch].backbone_init`` (vgg16, mobilenet_v3_large,
    mobilenet_v2, resnet50). Every backbone tensor whose name and shape the classifier shares is copied;
    for SSDlite320 that is all but the reduced tail (the last blocks, halved for detection, stay as
    initialised). Returns the number of tensors copied.

    Raises:
        ValueError naming the file: another classifier, a width that does not fit, a layer that does not fit.
    """
    from core.weights import _tensors, detect_format, init_backbone_from_vgg16, read_file

    arch, width = model.cfg.arch, model.cfg.width
    want = ARCHITECTURES[arch].backbone_init
    if want is None:
        raise ValueError(f"{arch} has no ImageNet classifier in torchvision's layout to start from; train it from "
                         f"scratch or start from a detector (--init)")
    if want == "vgg16":
        return init_backbone_from_vgg16(model, path)
    obj = read_file(path)
    fmt = detect_format(obj)
    if fmt != f"{want}-imagenet":
        raise ValueError(f"'{path}' is not a torchvision {want} classifier state dict (found: {fmt}); {arch} "
                         f"starts from {want}")
    part = imagenet_backbone_state(want, _tensors(obj, Path(path)), width, path)
    own = model.state_dict()
    fits = _fitting_layers(part, own)
    if want == "resnet50" and len(fits) != len(part):
        bad = next(k for k in part if k not in fits)
        raise ValueError(f"'{path}': layer {bad} has shape {tuple(part[bad].shape)} in the file but the model "
                         f"expects {tuple(own[bad].shape) if bad in own else 'none'} (ResNet-50 needs width 1.0)")
    model.load_state_dict(fits, strict=False)
    return len(fits)
