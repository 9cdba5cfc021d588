"""SSDlite320 with a MobileNetV3-Large backbone, as torchvision's ``ssdlite320_mobilenet_v3_large``.

Same modules and names, so torchvision's state dict loads unchanged (section 6.2 of the MobileNetV2
paper for SSDlite, section 6.3 of the MobileNetV3 paper for the backbone):

    features[0]  MobileNetV3-Large up to the expansion layer of C4 (the last stride-2 block),
                 672 channels at 20x20 for a 320 input
    features[1]  the rest of C4 (depthwise, squeeze-excite, projection) and the final 1x1 conv:
                 the "reduced tail" of Table 6 of the MobileNetV3 paper (C4 and C5 halved), 480 at 10x10
    extra[0:4]   1x1 to half the width, 3x3 depthwise stride 2, 1x1 up (ReLU6 each): 512/256/256/128
                 channels at 5/3/2/1
    heads        3x3 depthwise + BatchNorm + ReLU6, then a 1x1 convolution, per map

BatchNorm everywhere with eps 0.001 and momentum 0.03; every convolution starts N(0, 0.03), as
torchvision does when no ImageNet backbone is given (``ssd train --backbone`` copies an ImageNet
``mobilenet_v3_large`` into every layer of ``features`` whose shape it shares: all but the reduced tail).
"""
from __future__ import annotations

from functools import partial

from torch import nn
from torchvision.models import mobilenet_v3_large
from torchvision.ops.misc import Conv2dNormActivation

from core.config import ModelConfig
from core.model.backbone import StagedBackbone, normal_init
from core.model.head import SSDHead

NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)


def trunk_features(width: float, reduced_tail: bool = True) -> nn.Sequential:
    """torchvision's MobileNetV3-Large ``features`` at ``width`` (its ``width_mult``), SSDlite's BatchNorm."""
    return mobilenet_v3_large(weights=None, width_mult=width, reduced_tail=reduced_tail, norm_layer=NORM).features


def split_at_c4(trunk: nn.Sequential) -> nn.Sequential:
    """The two stages of the SSDlite feature extractor: up to C4's expansion layer, and the rest.

    ``trunk`` is a MobileNetV3 ``features``; C4 is its last block with stride 2 (``_is_cn``).
    """
    c4 = [i for i, b in enumerate(trunk) if getattr(b, "_is_cn", False)][-1]
    return nn.Sequential(
        nn.Sequential(*trunk[:c4], trunk[c4].block[0]),
        nn.Sequential(trunk[c4].block[1:], *trunk[c4 + 1:]),
    )


def _extra_block(c_in: int, c_out: int) -> nn.Sequential:
    mid = c_out // 2
    return nn.Sequential(
        Conv2dNormActivation(c_in, mid, kernel_size=1, norm_layer=NORM, activation_layer=nn.ReLU6),
        Conv2dNormActivation(mid, mid, kernel_size=3, stride=2, groups=mid, norm_layer=NORM,
                             activation_layer=nn.ReLU6),
        Conv2dNormActivation(mid, c_out, kernel_size=1, norm_layer=NORM, activation_layer=nn.ReLU6),
    )


def ssdlite_block(index: int, c_in: int, c_out: int) -> nn.Module:
    """SSDlite predictor: 3x3 depthwise + BatchNorm + ReLU6, then a 1x1 convolution with bias."""
    return nn.Sequential(
        Conv2dNormActivation(c_in, c_in, kernel_size=3, groups=c_in, norm_layer=NORM, activation_layer=nn.ReLU6),
        nn.Conv2d(c_in, c_out, kernel_size=1),
    )


def build(cfg: ModelConfig) -> tuple[StagedBackbone, SSDHead]:
    """Backbone and head of ``ssdlite320_mobilenet_v3_large`` (channels scaled by ``cfg.width``)."""
    features = split_at_c4(trunk_features(cfg.width))
    normal_init(features)

    def depth(d: int) -> int:  # torchvision's get_depth with min_depth 16
        return max(16, int(d * cfg.width))

    last = features[1][-1].out_channels
    widths = [depth(512), depth(256), depth(256), depth(128)]
    extra = nn.ModuleList(_extra_block(c_in, c_out) for c_in, c_out in zip([last] + widths[:-1], widths))
    normal_init(extra)
    out_channels = [features[0][-1].out_channels, last] + widths
    backbone = StagedBackbone(features, extra, out_channels)
    head = SSDHead(out_channels, cfg.priors.boxes_per_location, cfg.num_classes, block=ssdlite_block,
                   init=normal_init)
    return backbone, head
