"""Tiny real models and images for the runtime tests (SSD300 / SSD512 layouts at width 0.05, SSDlite320 at
width 0.125)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from core.config import preset
from core.data.synthetic import render_scene
from core.detector import Detector
from core.model import build_model
from core.weights import save_checkpoint

ARCHS = ("ssd300", "ssd512", "ssdlite320_mobilenet_v3_large")
NAMES = ("__background__", "circle", "square", "triangle")


def tiny_checkpoint(path: Path, arch: str = "ssd300", meta: dict[str, Any] | None = None, seed: int = 0) -> Path:
    """A seeded random tiny detector saved as this project's checkpoint.

    The classifier is rescaled so that the scores spread out: a fresh head gives every class ~1/C, and
    a head scaled by a fixed factor saturates the VGG models (every score 1.0). Either way the kept set
    would be decided by the order of ties, not by the network, and comparing two runtimes would prove
    nothing (:func:`_spread_classifier`). BatchNorm models (SSDlite320) first get their running
    statistics measured on synthetic scenes: with fresh statistics the activations vanish block after
    block and every score is exactly 1/C.
    """
    torch.manual_seed(seed)
    vgg = arch in ("ssd300", "ssd512")
    cfg = preset(arch, num_classes=len(NAMES), priors="voc" if vgg else None, width=0.05 if vgg else 0.125)
    model = build_model(cfg.model)
    # four synthetic scenes (seed 17) as the network sees them: through the detector's own preprocessing
    size = cfg.model.image_size
    x = Detector(model, cfg, NAMES).preprocess([render_scene(17, i, (size, size))[0] for i in range(4)])
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if norms:
        _measure_batchnorm(model, norms, x)
    _spread_classifier(model, x)
    return save_checkpoint(path, model, cfg, NAMES, meta=meta or {})


#: Standard deviation of the class logits after :func:`_spread_classifier`: with 4 classes, softmax scores
#: then range over most of (0, 1) without reaching 1.0 in float32.
LOGIT_STD = 1.5


def _spread_classifier(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Scale each feature map's last classifier convolution (weight and bias) so that its logits on the
    network input ``x`` (Tensor[N, 3, S, S], preprocessed) have a standard deviation of :data:`LOGIT_STD`."""
    lasts = [[m for m in predictor.modules() if isinstance(m, torch.nn.Conv2d)][-1]
             for predictor in model.head.classification_head.module_list]
    stds: dict[int, float] = {}
    hooks = [conv.register_forward_hook(lambda _m, _i, out, k=k: stds.__setitem__(k, float(out.std())))
             for k, conv in enumerate(lasts)]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    with torch.no_grad():
        for k, conv in enumerate(lasts):
            factor = LOGIT_STD / max(stds[k], 1e-12)
            conv.weight.mul_(factor)
            if conv.bias is not None:
                conv.bias.mul_(factor)


def _measure_batchnorm(model: torch.nn.Module, norms: list[torch.nn.BatchNorm2d], x: torch.Tensor) -> None:
    """Running mean/var of every BatchNorm = a plain average over the network input ``x``
    (Tensor[N, 3, S, S], preprocessed)."""
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    for bn in norms:
        bn.momentum = 0.03
    model.eval()


def scenes(n: int = 3, size: tuple[int, int] = (160, 120), seed: int = 5) -> list[np.ndarray]:
    return [render_scene(seed, i, size)[0] for i in range(n)]


def assert_same_detections(ours: Sequence[Any], ref: Sequence[Any], box_atol: float = 1e-2,
                           score_atol: float = 1e-4) -> None:
    """Same number of detections and labels per image; boxes within ``box_atol`` px, scores within ``score_atol``.

    The reference's scores must be distinct within each image (at most 1 % repeated): with tied scores the
    kept set and its order follow the ties, and equal detections would not show equal networks.

    Two detections whose scores are closer than ``score_atol`` may come in either order (two runtimes' scores
    differ by about 1e-5, and so may two thread counts of one): where the labels differ in order, every
    detection must have its own partner among those of the reference whose scores are that close.
    """
    assert len(ours) == len(ref)
    total = 0
    for i, (a, b) in enumerate(zip(ours, ref)):
        repeated = len(b.scores) - len(np.unique(np.asarray(b.scores)))
        assert repeated <= 0.01 * len(b.scores), f"image {i}: {repeated} of {len(b.scores)} reference scores tie"
        assert len(a) == len(b), f"image {i}: {len(a)} vs {len(b)} detections"
        if not np.array_equal(a.labels, b.labels):
            _assert_reordered_near_ties(a, b, box_atol, score_atol, i)
            total += len(a)
            continue
        np.testing.assert_allclose(a.boxes, b.boxes, rtol=0, atol=box_atol, err_msg=f"image {i}")
        np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=score_atol, err_msg=f"image {i}")
        total += len(a)
    assert total > 0, "no detections at all: the comparison would prove nothing"


def _assert_reordered_near_ties(a: Any, b: Any, box_atol: float, score_atol: float, image: int) -> None:
    """Every detection of ``a`` has its own partner in ``b`` (same label, box and score within the tolerances),
    and the detections out of place are only swapped with ones whose scores are within ``score_atol``."""
    free = np.ones(len(b.scores), bool)
    for n, (box, score, label) in enumerate(zip(a.boxes, a.scores, a.labels)):
        ok = (free & (b.labels == label) & (np.abs(b.scores - score) <= score_atol)
              & (np.abs(b.boxes - box).max(axis=1) <= box_atol))
        assert ok.any(), f"image {image}: detection {n} (label {label}, score {score}) has no partner"
        free[int(np.flatnonzero(ok)[0])] = False
    moved = np.flatnonzero(a.labels != b.labels)
    assert len(moved) <= 0.01 * len(a.labels) + 2, f"image {image}: {len(moved)} detections out of place"
