"""Tiny real models and images for the runtime tests (SSD300 / SSD512 layouts at width 0.05, SSDlite320 at
width 0.125)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from core.config import ModelConfig, preset
from core.data.synthetic import render_scene
from core.model import build_model
from core.weights import save_checkpoint

ARCHS = ("ssd300", "ssd512", "ssdlite320_mobilenet_v3_large")
NAMES = ("__background__", "circle", "square", "triangle")


def tiny_checkpoint(path: Path, arch: str = "ssd300", meta: dict[str, Any] | None = None, seed: int = 0) -> Path:
    """A seeded random tiny detector saved as this project's checkpoint.

    The classifier weights are scaled up so that scores spread out (a fresh head gives every class
    ~1/C, and near-ties would make the comparison of two runtimes test the tie order, not the network).
    BatchNorm models (SSDlite320) first get their running statistics measured on synthetic scenes:
    with fresh statistics the activations vanish block after block and every score is exactly 1/C.
    """
    torch.manual_seed(seed)
    vgg = arch in ("ssd300", "ssd512")
    cfg = preset(arch, num_classes=len(NAMES), priors="voc" if vgg else None, width=0.05 if vgg else 0.125)
    model = build_model(cfg.model)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if norms:
        _measure_batchnorm(model, norms, cfg.model)
    with torch.no_grad():
        for predictor in model.head.classification_head.module_list:
            last = [m for m in predictor.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            last.weight.mul_(8.0)
    return save_checkpoint(path, model, cfg, NAMES, meta=meta or {})


def _measure_batchnorm(model: torch.nn.Module, norms: list[torch.nn.BatchNorm2d], mcfg: ModelConfig) -> None:
    """Running mean/var of every BatchNorm = a plain average over four synthetic scenes, normalised as
    the detector normalises its input."""
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    size = mcfg.image_size
    images = [render_scene(17, i, (size, size))[0] for i in range(4)]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    x = (x - torch.tensor(mcfg.image_mean).view(1, 3, 1, 1)) / torch.tensor(mcfg.image_std).view(1, 3, 1, 1)
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
    """Same number of detections and labels per image; boxes within ``box_atol`` px, scores within ``score_atol``."""
    assert len(ours) == len(ref)
    total = 0
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert len(a) == len(b), f"image {i}: {len(a)} vs {len(b)} detections"
        np.testing.assert_array_equal(a.labels, b.labels, err_msg=f"image {i}")
        np.testing.assert_allclose(a.boxes, b.boxes, rtol=0, atol=box_atol, err_msg=f"image {i}")
        np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=score_atol, err_msg=f"image {i}")
        total += len(a)
    assert total > 0, "no detections at all: the comparison would prove nothing"
