"""ImageNet initialisation of every backbone (``ssd train --backbone FILE``), from classifiers in
torchvision's layout: ``vgg16`` (fc6/fc7 decimated into conv6/conv7, :func:`vgg16_backbone_state`),
``mobilenet_v3_large``, ``mobilenet_v2`` and ``resnet50``; see :func:`init_backbone`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from torch import Tensor, nn

from core.config import ARCHITECTURES
from core.weights.files import as_state_dict, load_state_into, read_file
from core.weights.load import detect_format


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
    part = vgg16_backbone_state(as_state_dict(obj, Path(path)), path)
    own = model.state_dict()
    for k, v in part.items():
        if k not in own:
            raise ValueError(f"'{path}': model has no layer {k}")
        if tuple(own[k].shape) != tuple(v.shape):
            raise ValueError(f"'{path}': layer {k} has shape {tuple(v.shape)} in the file but the model expects "
                             f"{tuple(own[k].shape)} (VGG16 initialisation needs width 1.0)")
    model.load_state_dict(part, strict=False)
    return len(part)


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
    part = imagenet_backbone_state(want, as_state_dict(obj, Path(path)), width, path)
    own = model.state_dict()
    fits = _fitting_layers(part, own)
    if want == "resnet50" and len(fits) != len(part):
        bad = next(k for k in part if k not in fits)
        raise ValueError(f"'{path}': layer {bad} has shape {tuple(part[bad].shape)} in the file but the model "
                         f"expects {tuple(own[bad].shape) if bad in own else 'none'} (ResNet-50 needs width 1.0)")
    model.load_state_dict(fits, strict=False)
    return len(fits)
