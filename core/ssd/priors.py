"""Default boxes (priors), as in section 2.2 of the paper and torchvision's DefaultBoxGenerator.

Order: feature map by feature map; within a map, cells row-major (y then x); within a
cell, the boxes [s_k, s_k], [s'_k, s'_k], then for each ratio r: [s_k*sqrt(r), s_k/sqrt(r)] and
[s_k/sqrt(r), s_k*sqrt(r)]. This is also the order of the heads' outputs, (N, H, W, A, K).
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from core.config import PriorConfig


def prior_boxes(cfg: PriorConfig, image_size: int, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32) -> Tensor:
    """The default boxes of ``cfg`` for a square input of ``image_size`` pixels.

    Cached per (config, image size, device, dtype): the returned tensor is shared, never modify it.

    Returns:
        Tensor[P, 4]: cx, cy, w, h normalised to [0, 1]; P = cfg.num_priors (8732 for SSD300).
    """
    return _cached(cfg, int(image_size), str(torch.device(device)), dtype)


@lru_cache(maxsize=16)
def _cached(cfg: PriorConfig, image_size: int, device: str, dtype: torch.dtype) -> Tensor:
    out = []
    for k, f in enumerate(cfg.feature_maps):
        s_k = cfg.min_sizes[k] / image_size
        s_prime = math.sqrt(cfg.min_sizes[k] * cfg.max_sizes[k]) / image_size
        wh = [[s_k, s_k], [s_prime, s_prime]]
        for r in cfg.aspect_ratios[k]:
            q = math.sqrt(r)
            wh += [[s_k * q, s_k / q], [s_k / q, s_k * q]]
        wh_t = torch.tensor(wh, dtype=torch.float64)
        if cfg.clip:
            wh_t = wh_t.clamp(0.0, 1.0)
        # image_size / step may differ from f (300/8 = 37.5 for a 38 map), as in the Caffe code; without
        # steps the centres split the map evenly, as torchvision's DefaultBoxGenerator (SSDlite) does.
        cells = image_size / cfg.steps[k] if cfg.steps else f
        centres = (torch.arange(f, dtype=torch.float64) + 0.5) / cells
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")
        xy = torch.stack((cx.reshape(-1), cy.reshape(-1)), dim=-1)  # [f*f, 2]
        if cfg.clip_centers:
            xy = xy.clamp(0.0, 1.0)
        a = wh_t.shape[0]
        boxes = torch.cat((xy[:, None, :].expand(-1, a, -1), wh_t[None].expand(f * f, -1, -1)), dim=-1)
        out.append(boxes.reshape(-1, 4))
    priors = torch.cat(out).to(dtype)
    return priors.to(device)
