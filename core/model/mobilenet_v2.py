"""SSDLite300 with a MobileNetV2 backbone, as qfgaohao/pytorch-ssd's ``mb2-ssd-lite``.

    features[0]  MobileNetV2 up to the expansion layer of block 14 (the first of the 160-channel stage,
                 stride 2): 576 channels at 19x19 for a 300 input (qfgaohao's ``GraphPath(14, 'conv', 3)``)
    features[1]  the rest of block 14, blocks 15-17 and the 1x1 conv to 1280: 10x10
    extra[0:4]   inverted residuals with stride 2 and expansion 0.2, 0.25, 0.5, 0.25 (a bottleneck
                 that narrows): 512/256/256/64 channels at 5/3/2/1
    heads        3x3 depthwise (with bias) + BatchNorm + ReLU6 + 1x1 on the first five maps, a plain
                 1x1 convolution on the 1x1 map

The trunk is torchvision's ``mobilenet_v2`` (the same network as qfgaohao's; torchvision's module
names, so ``ssd train --backbone`` loads its ImageNet weights directly); ``core.weights.importers`` maps
qfgaohao's ``.pth`` keys onto these modules. New layers start Xavier-uniform, as qfgaohao's ``init``.
"""
from __future__ import annotations

from torch import nn
from torchvision.models import mobilenet_v2
from torchvision.models.mobilenetv2 import InvertedResidual

from core.config import ModelConfig
from core.model.backbone import StagedBackbone
from core.model.head import SSDHead
from core.model.vgg import xavier_init

#: Index of the block whose expansion layer feeds the first head (qfgaohao's GraphPath(14, "conv", 3)).
TAP_BLOCK = 14


def trunk_features(width: float) -> nn.Sequential:
    """torchvision's MobileNetV2 ``features`` at ``width`` (its ``width_mult``)."""
    return mobilenet_v2(weights=None, width_mult=width).features


def split_at_tap(trunk: nn.Sequential) -> nn.Sequential:
    """The two stages: up to block 14's expansion layer (conv + BatchNorm + ReLU6), and the rest."""
    block = trunk[TAP_BLOCK].conv
    return nn.Sequential(nn.Sequential(*trunk[:TAP_BLOCK], block[0]), nn.Sequential(block[1:], *trunk[TAP_BLOCK + 1:]))


def separable_block(index: int, c_in: int, c_out: int, last_index: int = 5) -> nn.Module:
    """qfgaohao's ``SeperableConv2d`` (depthwise 3x3 with bias, BatchNorm, ReLU6, 1x1); a 1x1 conv on the last map."""
    if index == last_index:
        return nn.Conv2d(c_in, c_out, kernel_size=1)
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, kernel_size=3, padding=1, groups=c_in),
        nn.BatchNorm2d(c_in),
        nn.ReLU6(),
        nn.Conv2d(c_in, c_out, kernel_size=1),
    )


def build(cfg: ModelConfig) -> tuple[StagedBackbone, SSDHead]:
    """Backbone and head of ``ssdlite300_mobilenet_v2`` (channels scaled by ``cfg.width``)."""
    features = split_at_tap(trunk_features(cfg.width))
    ch = cfg.channels
    last = features[1][-1].out_channels  # 1280 (torchvision keeps it at widths <= 1, as qfgaohao)
    widths = [ch(512), ch(256), ch(256), ch(64)]
    ratios = [0.2, 0.25, 0.5, 0.25]
    extra = nn.ModuleList(InvertedResidual(c_in, c_out, stride=2, expand_ratio=r)
                          for c_in, c_out, r in zip([last] + widths[:-1], widths, ratios))
    xavier_init(extra)
    out_channels = [features[0][-1].out_channels, last] + widths
    backbone = StagedBackbone(features, extra, out_channels)
    head = SSDHead(out_channels, cfg.priors.boxes_per_location, cfg.num_classes, block=separable_block)
    return backbone, head
