"""SSD300 with a ResNet-50 backbone, as NVIDIA DeepLearningExamples' SSD300 v1.1.

    features[0]  ResNet-50 (torchvision's, v1.5: stride on the 3x3 conv) from conv1 to conv4_x
                 (``layer3``), with conv4's first block at stride 1: 1024 channels at 38x38 for 300
    extra[0:5]   1x1 conv + BatchNorm + ReLU, then 3x3 conv + BatchNorm + ReLU (no biases): stride 2
                 and padding 1 for the first three (512/512/256 channels at 19/10/5), padding 0 for
                 the last two (256/256 at 3/1)
    heads        a 3x3 convolution per map (4, 6, 6, 6, 4, 4 boxes per cell: the COCO boxes)

``features[0]`` keeps torchvision's ResNet names (``conv1``, ``bn1``, ``layer1`` ...), so an ImageNet
``resnet50`` state dict loads into it by prefix (``ssd train --backbone``). NVIDIA's heads emit
(A, H, W) order where ours emit (H, W, A), with the default boxes in the matching order: the same
model, its outputs permuted. Extras and heads start Xavier-uniform, as NVIDIA's.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn
from torchvision.models.resnet import Bottleneck

from core.config import ModelConfig
from core.model.backbone import StagedBackbone
from core.model.head import SSDHead
from core.model.vgg import xavier_init

#: Blocks of ResNet-50's conv2_x, conv3_x, conv4_x stages (conv5_x is not used).
BLOCKS = (3, 4, 6)


def _layer(c_in: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """A ResNet stage of Bottlenecks (torchvision's ``_make_layer``); output ``planes * 4`` channels."""
    c_out = planes * Bottleneck.expansion
    down = None
    if stride != 1 or c_in != c_out:
        down = nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
    return nn.Sequential(Bottleneck(c_in, planes, stride, down),
                         *(Bottleneck(c_out, planes) for _ in range(blocks - 1)))


def trunk(cfg: ModelConfig) -> nn.Sequential:
    """conv1 .. conv4_x of ResNet-50, channels scaled by ``cfg.width``; conv4_x at stride 1 (38x38 at 300)."""
    ch = cfg.channels
    stem = ch(64)
    p1, p2, p3 = ch(64), ch(128), ch(256)
    body = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False),
        bn1=nn.BatchNorm2d(stem),
        relu=nn.ReLU(inplace=True),
        maxpool=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        layer1=_layer(stem, p1, BLOCKS[0], 1),
        layer2=_layer(p1 * 4, p2, BLOCKS[1], 2),
        layer3=_layer(p2 * 4, p3, BLOCKS[2], 1),  # NVIDIA: conv4's first block at stride 1
    ))
    for m in body.modules():  # torchvision's ResNet initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return body


def _extra_block(c_in: int, c_mid: int, c_out: int, stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_mid, kernel_size=1, bias=False), nn.BatchNorm2d(c_mid), nn.ReLU(inplace=True),
        nn.Conv2d(c_mid, c_out, kernel_size=3, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


def build(cfg: ModelConfig) -> tuple[StagedBackbone, SSDHead]:
    """Backbone and head of ``ssd300_resnet50`` (channels scaled by ``cfg.width``)."""
    ch = cfg.channels
    out_channels = [ch(256) * 4, ch(512), ch(512), ch(256), ch(256), ch(256)]
    mids = [ch(256), ch(256), ch(128), ch(128), ch(128)]
    extra = nn.ModuleList(
        _extra_block(c_in, mid, c_out, stride=2 if i < 3 else 1, padding=1 if i < 3 else 0)
        for i, (c_in, mid, c_out) in enumerate(zip(out_channels[:-1], mids, out_channels[1:])))
    xavier_init(extra)
    backbone = StagedBackbone(nn.Sequential(trunk(cfg)), extra, out_channels)
    return backbone, SSDHead(out_channels, cfg.priors.boxes_per_location, cfg.num_classes)
