"""Feature-map dropout for the Box Stability score: where it goes in each architecture, and the
detector's second, perturbed pass.

BoS (Yang et al., ICLR 2024; code YangYangGirl/BoS) perturbs the backbone with dropout on early
feature maps, only the dropout in training mode (BatchNorm keeps its running statistics), and its
correlation study uses the positions after a ResNet-50's first and second stages at rate 0.15. The
same places exist in every backbone of this engine: one feature map at stride 4 and one at stride 8 of
the trunk, before any head reads a map, so every head sees the perturbation through the layers after it.
On the MobileNets and the ResNet-50 these are the last map at each stride (the end of a block or stage);
on VGG16 they are the first (the outputs of pool2 and pool3, which start its stride-4 and stride-8
parts; conv3_1 to conv3_3 follow at stride 4 and conv4_1 to conv4_3 at stride 8):

=================================  ===============================  ================================
architecture                       stride 4                         stride 8
=================================  ===============================  ================================
ssd300, ssd512 (VGG16)             ``features.9`` (pool2)           ``features.16`` (pool3)
ssdlite320_mobilenet_v3_large      ``features.0.3`` (block 3)       ``features.0.6`` (block 6)
ssdlite300_mobilenet_v2            ``features.0.3`` (block 3)       ``features.0.6`` (block 6)
ssd300_mobilenet_v1                ``features.0.3`` (layer 3)       ``features.0.5`` (layer 5)
ssd300_resnet50                    ``features.0.layer1``            ``features.0.layer2``
=================================  ===============================  ================================

(module paths under ``model.backbone``; a test checks each output's stride on every architecture).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.types import Detections

#: Dropout rate of the perturbed pass (BoS's correlation study: 0.15).
DROPOUT_P = 0.15

#: Backbone modules whose outputs get the dropout, per architecture (see the module docstring).
DROPOUT_SITES: dict[str, tuple[str, str]] = {
    "ssd300": ("features.9", "features.16"),
    "ssd512": ("features.9", "features.16"),
    "ssdlite320_mobilenet_v3_large": ("features.0.3", "features.0.6"),
    "ssdlite300_mobilenet_v2": ("features.0.3", "features.0.6"),
    "ssd300_mobilenet_v1": ("features.0.3", "features.0.5"),
    "ssd300_resnet50": ("features.0.layer1", "features.0.layer2"),
}


def dropout_sites(model: nn.Module) -> list[nn.Module]:
    """The backbone modules of ``model`` (a core.model.SSD) whose outputs get dropout.

    Raises:
        ValueError: an architecture without sites, or a site the model does not have (names both).
    """
    arch = model.cfg.arch
    if arch not in DROPOUT_SITES:
        raise ValueError(f"no feature-map dropout sites are defined for architecture {arch!r} "
                         f"(known: {', '.join(DROPOUT_SITES)})")
    modules = dict(model.backbone.named_modules())
    missing = [s for s in DROPOUT_SITES[arch] if s not in modules]
    if missing:
        raise ValueError(f"{arch}: the backbone has no module {missing[0]!r} for the BoS dropout")
    return [modules[s] for s in DROPOUT_SITES[arch]]


@contextmanager
def feature_dropout(model: nn.Module, p: float = DROPOUT_P) -> Iterator[None]:
    """Within the block, the outputs of :func:`dropout_sites` go through ``F.dropout(x, p, training=True)``
    (elements zeroed with probability ``p``, the rest scaled by 1 / (1 - p)); the model stays in eval
    mode, so BatchNorm uses its running statistics. The hooks are removed on leaving, also on an error."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {p}")
    handles = [m.register_forward_hook(lambda _m, _i, out: F.dropout(out, p, training=True))
               for m in dropout_sites(model)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def torch_model_of(detector: Any) -> nn.Module | None:
    """The eager PyTorch SSD behind ``detector`` (None for an ONNX, IR or TorchScript file: no module to hook)."""
    model = getattr(detector, "model", None)
    return model if isinstance(model, nn.Module) and hasattr(model, "backbone") else None


def detect_with_dropout(detector: Any, images: Sequence[np.ndarray], seed: int, p: float = DROPOUT_P,
                        score_thresh: float | None = None) -> list[Detections]:
    """``detector.detect(images)`` with feature-map dropout: the eager PyTorch model in fp32, the random
    masks drawn from ``seed`` (the same seed and batch give the same masks), the detector's own
    preprocessing and postprocessing.

    Args:
        detector: a :class:`core.detector.Detector` with a PyTorch model (see :func:`torch_model_of`).
        images: HxWx3 uint8 RGB.

    Returns:
        One Detections per image (boxes float32 [N, 4] x1, y1, x2, y2 in pixels of that image).

    Raises:
        ValueError: the detector has no PyTorch model (an exported network).
    """
    model = torch_model_of(detector)
    if model is None:
        raise ValueError(f"{detector.weights_path or 'this model'}: feature-map dropout needs the PyTorch model "
                         f"(a checkpoint); an exported network (ONNX, OpenVINO IR, TorchScript) has none")
    if len(images) == 0:
        return []
    device = next(model.parameters()).device
    x = detector.preprocess(images).float().to(device)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        x = x.contiguous()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.inference_mode(), feature_dropout(model, p):
        torch.manual_seed(int(seed))
        logits, deltas = model(x)
    sizes = [(int(im.shape[1]), int(im.shape[0])) for im in images]
    return detector.decode(logits.float(), deltas.float(), sizes, score_thresh=score_thresh)


__all__ = ["DROPOUT_P", "DROPOUT_SITES", "detect_with_dropout", "dropout_sites", "feature_dropout", "torch_model_of"]
