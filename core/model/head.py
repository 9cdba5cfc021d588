"""SSD heads: one 3x3 convolution per feature map for class scores and one for box offsets."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from core.model.vgg import xavier_init


class ScoringHead(nn.Module):
    """One 3x3 conv per feature map with ``A_k * K`` outputs, flattened to [N, sum(H*W*A), K].

    The flattening order (N, H, W, A, K) matches the default-box order of core.priors.
    """

    def __init__(self, in_channels: list[int], boxes_per_location: tuple[int, ...], k: int) -> None:
        super().__init__()
        self.k = k
        self.module_list = nn.ModuleList(
            nn.Conv2d(c, a * k, kernel_size=3, padding=1) for c, a in zip(in_channels, boxes_per_location))
        xavier_init(self.module_list)

    def forward(self, features: list[Tensor]) -> Tensor:
        outs = []
        for conv, x in zip(self.module_list, features):
            y = conv(x)
            n, _, h, w = y.shape
            outs.append(y.permute(0, 2, 3, 1).reshape(n, h * w * (y.shape[1] // self.k), self.k))
        return torch.cat(outs, dim=1)


class SSDHead(nn.Module):
    """Classification (``num_classes`` logits) and regression (4 offsets) heads."""

    def __init__(self, in_channels: list[int], boxes_per_location: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.classification_head = ScoringHead(in_channels, boxes_per_location, num_classes)
        self.regression_head = ScoringHead(in_channels, boxes_per_location, 4)

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Returns (cls_logits Tensor[N, P, num_classes], bbox_regression Tensor[N, P, 4])."""
        return self.classification_head(features), self.regression_head(features)
