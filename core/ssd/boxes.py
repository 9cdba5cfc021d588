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

__all__ = ["box_iou", "xyxy_to_cxcywh", "cxcywh_to_xyxy", "batched_box_iou", "grouped_self_iou"]


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
    # One [B, M, P] tensor per step, reused in place: the [B, M, P, 2] corner tensors of the
    # textbook formulation cost several times more memory traffic for the same result.
    ax1, ay1, ax2, ay2 = (t[..., :, None] for t in boxes1.unbind(-1))  # [B, M, 1]
    bx1, by1, bx2, by2 = (t[..., None, :] for t in boxes2.unbind(-1))  # [B|1, 1, P]
    w = torch.minimum(ax2, bx2).sub_(torch.maximum(ax1, bx1)).clamp_(min=0)
    h = torch.minimum(ay2, by2).sub_(torch.maximum(ay1, by1)).clamp_(min=0)
    inter = w.mul_(h)
    area1 = (ax2 - ax1) * (ay2 - ay1)
    area2 = (bx2 - bx1) * (by2 - by1)
    union = (area1 + area2).sub_(inter)
    return inter.div_(union)


def grouped_self_iou(boxes: Tensor) -> Tensor:
    """IoU of every pair inside each group: boxes [G, M, 4] x1y1x2y2 -> [G, M, M].

    The operations and their order are those of torchvision's NMS kernel (clamped width times
    clamped height, over area_i + area_j - inter), so a comparison with the threshold decides
    exactly as torchvision's ``nms`` does. One tensor per coordinate keeps every op contiguous.
    """
    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1) * (y2 - y1)
    w = (torch.minimum(x2[:, :, None], x2[:, None, :]) - torch.maximum(x1[:, :, None], x1[:, None, :])).clamp_(min=0)
    h = (torch.minimum(y2[:, :, None], y2[:, None, :]) - torch.maximum(y1[:, :, None], y1[:, None, :])).clamp_(min=0)
    inter = w.mul_(h)
    return inter / (area[:, :, None] + area[:, None, :] - inter)
