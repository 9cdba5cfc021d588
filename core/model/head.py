"""SSD heads: one predictor per feature map for class scores and one for box offsets.

The predictor is a plain 3x3 convolution (the paper's, and NVIDIA's and qfgaohao's MobileNetV1-SSD),
or a depthwise-separable block for the SSDlite heads; each backbone file passes its own ``block``.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import Tensor, nn

from core.model.vgg import xavier_init

#: ``block(index of the feature map, in_channels, out_channels) -> module``.
BlockFn = Callable[[int, int, int], nn.Module]


def conv3x3_block(index: int, c_in: int, c_out: int) -> nn.Module:
    """The paper's predictor: a 3x3 convolution with padding 1."""
    return nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)


class ScoringHead(nn.Module):
    """One predictor per feature map with ``A_k * K`` outputs, flattened to [N, sum(H*W*A), K].

    The flattening order (N, H, W, A, K) matches the default-box order of core.ssd.priors.
    """

    def __init__(self, predictors: Iterable[nn.Module], k: int) -> None:
        super().__init__()
        self.k = k
        self.module_list = nn.ModuleList(predictors)

    def forward(self, features: list[Tensor]) -> Tensor:
        outs = []
        for conv, x in zip(self.module_list, features):
            y = conv(x)
            n, _, h, w = y.shape
            outs.append(y.permute(0, 2, 3, 1).reshape(n, h * w * (y.shape[1] // self.k), self.k))
        return torch.cat(outs, dim=1)


class SSDHead(nn.Module):
    """Classification (``num_classes`` logits) and regression (4 offsets) heads.

    Args:
        in_channels: channels of each feature map.
        boxes_per_location: default boxes per cell of each map (A_k).
        block: builds each predictor (default: a 3x3 convolution).
        init: initialises the new layers (default: Xavier-uniform weights, zero biases).
    """

    def __init__(self, in_channels: list[int], boxes_per_location: tuple[int, ...], num_classes: int,
                 block: BlockFn = conv3x3_block, init: Callable[[nn.Module], None] = xavier_init) -> None:
        super().__init__()
        maps = list(enumerate(zip(in_channels, boxes_per_location)))
        # Each head initialised right after it is built: the random stream of a seeded run stays as it was.
        self.classification_head = ScoringHead((block(i, c, a * num_classes) for i, (c, a) in maps), num_classes)
        init(self.classification_head)
        self.regression_head = ScoringHead((block(i, c, a * 4) for i, (c, a) in maps), 4)
        init(self.regression_head)

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Returns (cls_logits Tensor[N, P, num_classes], bbox_regression Tensor[N, P, 4])."""
        return self.classification_head(features), self.regression_head(features)
