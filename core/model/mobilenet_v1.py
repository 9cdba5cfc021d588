"""SSD300 with a MobileNetV1 backbone, as qfgaohao/pytorch-ssd's ``mb1-ssd``.

    features[0]  MobileNetV1 layers 0-11: a 3x3 conv (stride 2), then depthwise-separable layers
                 (3x3 depthwise + BatchNorm + ReLU, 1x1 + BatchNorm + ReLU): 512 channels at 19x19
    features[1]  layers 12-13: 1024 channels at 10x10
    extra[0:4]   1x1 then 3x3 stride 2 (with bias, ReLU): 512/256/256/256 channels at 5/3/2/1
    heads        a 3x3 convolution per map (the paper's)

MobileNetV1's layers are held as qfgaohao holds them (one Sequential per layer, ``core.weights.importers`` maps
its ``base_net.N`` onto ``features``). torchvision has no ImageNet MobileNetV1, so this backbone starts
from torchvision's default initialisation; extras and heads start Xavier-uniform, as qfgaohao's ``init``.
"""
from __future__ import annotations

from torch import nn

from core.config import ModelConfig
from core.model.backbone import StagedBackbone
from core.model.head import SSDHead
from core.model.vgg import xavier_init

# (output channels, stride) of MobileNetV1's 14 layers; the first is a full 3x3 conv.
LAYERS = ((32, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
#: Layers before the first head's map (qfgaohao's ``source_layer_indexes`` 12 and 14).
FIRST_STAGE = 12


def _conv_bn(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def _conv_dw(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
        nn.Conv2d(c_in, c_out, 1, 1, 0, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


def trunk_layers(cfg: ModelConfig) -> list[nn.Sequential]:
    """MobileNetV1's 14 layers, channels scaled by ``cfg.width``."""
    layers, c_in = [], 3
    for i, (c, stride) in enumerate(LAYERS):
        c_out = cfg.channels(c)
        layers.append((_conv_bn if i == 0 else _conv_dw)(c_in, c_out, stride))
        c_in = c_out
    return layers


def _extra_block(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_mid, kernel_size=1), nn.ReLU(),
                         nn.Conv2d(c_mid, c_out, kernel_size=3, stride=2, padding=1), nn.ReLU())


def build(cfg: ModelConfig) -> tuple[StagedBackbone, SSDHead]:
    """Backbone and head of ``ssd300_mobilenet_v1`` (channels scaled by ``cfg.width``)."""
    ch = cfg.channels
    layers = trunk_layers(cfg)
    features = nn.Sequential(nn.Sequential(*layers[:FIRST_STAGE]), nn.Sequential(*layers[FIRST_STAGE:]))
    extra = nn.ModuleList([
        _extra_block(ch(1024), ch(256), ch(512)),
        _extra_block(ch(512), ch(128), ch(256)),
        _extra_block(ch(256), ch(128), ch(256)),
        _extra_block(ch(256), ch(128), ch(256)),
    ])
    xavier_init(extra)
    out_channels = [ch(512), ch(1024), ch(512), ch(256), ch(256), ch(256)]
    backbone = StagedBackbone(features, extra, out_channels)
    return backbone, SSDHead(out_channels, cfg.priors.boxes_per_location, cfg.num_classes)
