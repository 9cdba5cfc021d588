"""Box formats and the few box helpers the engine needs, on top of ``torchvision.ops``.

Formats:
    xyxy:   x1, y1, x2, y2 (corners)
    cxcywh: cx, cy, w, h (centre and size)
Coordinates are either normalised to [0, 1] of the network input or pixels; each
function's docstring says which it expects (most are agnostic).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["box_iou", "xyxy_to_cxcywh", "cxcywh_to_xyxy", "batched_box_iou"]


def xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """boxes (Tensor[..., 4]) x1, y1, x2, y2 -> cx, cy, w, h."""
    wh = boxes[..., 2:] - boxes[..., :2]
    return torch.cat((boxes[..., :2] + 0.5 * wh, wh), dim=-1)


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """boxes (Tensor[..., 4]) cx, cy, w, h -> x1, y1, x2, y2."""
    c, half = boxes[..., :2], 0.5 * boxes[..., 2:]
    return torch.cat((c - half, c + half), dim=-1)


def batched_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of every pair, batched.

    Args:
        boxes1 (Tensor[B, M, 4]): x1, y1, x2, y2.
        boxes2 (Tensor[P, 4] or Tensor[B, P, 4]): x1, y1, x2, y2.

    Returns:
        Tensor[B, M, P]. Zero-area padding boxes give IoU 0 (never NaN) against boxes of positive area.
    """
    if boxes2.dim() == 2:
        boxes2 = boxes2.unsqueeze(0)
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])  # [B, M]
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])  # [B|1, P]
    lt = torch.maximum(boxes1[..., :, None, :2], boxes2[..., None, :, :2])  # [B, M, P, 2]
    rb = torch.minimum(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[..., :, None] + area2[..., None, :] - inter
    return inter / union
