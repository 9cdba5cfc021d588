"""MultiBox loss (section 2.2 of the paper) with hard negative mining.

L = (L_conf + alpha * L_loc) / N, N = number of positive priors in the batch (at least 1):
- L_loc: smooth L1 (beta 1) between predicted and encoded offsets, over positives;
- L_conf: softmax cross-entropy over positives and over the ``neg_pos_ratio * n_pos(image)``
  negatives with the highest loss in each image (hard negatives).

The same arithmetic as torchvision's ``SSD.compute_loss``; an image without objects mines no
negatives (its positive count is 0), so it adds nothing and never produces NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from core.config import LossConfig


@dataclass(frozen=True)
class LossOutput:
    """Loss terms of one batch (scalars)."""

    total: Tensor
    loc: Tensor
    conf: Tensor
    num_pos: int


class MultiBoxLoss:
    """See module docstring."""

    def __init__(self, cfg: LossConfig = LossConfig()) -> None:
        self.neg_pos_ratio = cfg.neg_pos_ratio
        self.loc_weight = cfg.loc_weight

    def __call__(self, cls_logits: Tensor, bbox_regression: Tensor, target_labels: Tensor,
                 target_deltas: Tensor) -> LossOutput:
        """
        Args:
            cls_logits: float [B, P, C] raw class scores.
            bbox_regression: float [B, P, 4] predicted offsets.
            target_labels: int64 [B, P], 0 = background (from core.ssd.matching.build_targets).
            target_deltas: float [B, P, 4] encoded targets, used where target_labels > 0.
        """
        cls_logits = cls_logits.float()
        bbox_regression = bbox_regression.float()
        pos = target_labels > 0  # [B, P]
        num_pos = int(pos.sum())
        loc = F.smooth_l1_loss(bbox_regression[pos], target_deltas[pos].to(bbox_regression.dtype), reduction="sum")

        c = cls_logits.shape[-1]
        ce = F.cross_entropy(cls_logits.reshape(-1, c), target_labels.reshape(-1), reduction="none")
        ce = ce.view_as(target_labels)
        with torch.no_grad():
            neg_loss = ce.masked_fill(pos, float("-inf"))
            order = neg_loss.argsort(dim=1, descending=True)
            rank = torch.empty_like(order)
            rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
            num_neg = self.neg_pos_ratio * pos.sum(dim=1, keepdim=True)
            hard_neg = rank < num_neg
        conf = ce[pos].sum() + ce[hard_neg].sum()
        n = max(1, num_pos)
        loc, conf = loc / n, conf / n
        return LossOutput(total=conf + self.loc_weight * loc, loc=loc, conf=conf, num_pos=num_pos)
