"""The shape every non-VGG backbone shares: trunk stages, then extra blocks, each giving a feature map.

Module names follow torchvision's ``SSDLiteFeatureExtractorMobileNet`` (``features``, ``extra``), so
that torchvision's SSDlite state dict loads unchanged and the other backbones read the same way.
"""
from __future__ import annotations

from torch import Tensor, nn


class StagedBackbone(nn.Module):
    """x (Tensor[N, 3, S, S], normalised) -> [Tensor[N, C_k, F_k, F_k]]: one map after each stage of
    ``features`` and after each block of ``extra``.

    Attributes:
        out_channels: C_k of every returned map, in order (what the heads are built for).
    """

    def __init__(self, features: nn.Sequential, extra: nn.ModuleList, out_channels: list[int]) -> None:
        super().__init__()
        self.features = features
        self.extra = extra
        self.out_channels = list(out_channels)
        if len(self.out_channels) != len(features) + len(extra):
            raise ValueError(f"{len(self.out_channels)} channel counts for {len(features) + len(extra)} feature maps")

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for stage in self.features:
            x = stage(x)
            out.append(x)
        for block in self.extra:
            x = block(x)
            out.append(x)
        return out


def normal_init(module: nn.Module, std: float = 0.03) -> None:
    """N(0, std) weights and zero biases for every convolution of ``module`` (torchvision's SSDlite init)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, mean=0.0, std=std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
