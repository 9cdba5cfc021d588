"""The VGG16 trunk of SSD with L2Norm and the extra feature layers (section 3 of the paper).

Module layout (and therefore state-dict keys) follows torchvision's SSDFeatureExtractorVGG so
that its ``ssd300_vgg16`` weights load unchanged, except that the conv4_3 scale lives in an
``L2Norm`` module (``backbone.l2norm.weight`` instead of ``backbone.scale_weight``):

    features   VGG16 conv1_1 .. relu4_3 (indices as torchvision's ``vgg16().features[:23]``),
               pool3 with ceil_mode (38x38 conv4_3 maps at 300 px, as Caffe)
    extra[0]   pool4, conv5_1..conv5_3, then pool5 3x3/s1, conv6 3x3 dilation 6, conv7 1x1
    extra[1:]  conv8 .. conv11 (SSD300) or conv8 .. conv12 (SSD512), 1x1 then 3x3 each
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.config import ModelConfig

# VGG16 configuration "D": channels, "M" = 2x2 max pool.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


class L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learnable per-channel scale (ParseNet; SSD section 3.1).

    x (Tensor[N, C, H, W]) -> weight[c] * x / ||x||_2 over channels. The scale starts at 20.
    """

    def __init__(self, channels: int, scale: float = 20.0, eps: float = 1e-12) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return self.weight.view(1, -1, 1, 1) * F.normalize(x, dim=1, eps=self.eps)


def _vgg_layers(cfg: ModelConfig) -> list[nn.Module]:
    layers: list[nn.Module] = []
    c_in, pools = 3, 0
    for v in _VGG16:
        if v == "M":
            pools += 1
            # Caffe rounds pool output sizes up; only pool3 needs it to turn 75 into 38.
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=(pools == 3)))
        else:
            c = cfg.channels(int(v))
            layers += [nn.Conv2d(c_in, c, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c_in = c
    return layers


def _extra_block(c_in: int, c_mid: int, c_out: int, **conv2: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_mid, kernel_size=1), nn.ReLU(inplace=True),
                         nn.Conv2d(c_mid, c_out, **conv2), nn.ReLU(inplace=True))


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every conv of ``module`` (new SSD layers)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class VGGBackbone(nn.Module):
    """VGG16 trunk + extras, returning the feature maps that feed the heads.

    Input: Tensor[N, 3, S, S] (mean-subtracted 0-255 RGB). Output: list of Tensor[N, C_k, F_k, F_k],
    with F = (38, 19, 10, 5, 3, 1) for S=300 and (64, 32, 16, 8, 4, 2, 1) for S=512.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        ch = cfg.channels
        vgg = _vgg_layers(cfg)
        self.features = nn.Sequential(*vgg[:23])  # conv1_1 .. relu4_3
        self.l2norm = L2Norm(ch(512), cfg.l2norm_scale)
        fc = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),  # pool5: 3x3 stride 1 instead of 2x2/2
            nn.Conv2d(ch(512), ch(1024), kernel_size=3, padding=6, dilation=6),  # fc6 as atrous conv6
            nn.ReLU(inplace=True),
            nn.Conv2d(ch(1024), ch(1024), kernel_size=1),  # fc7 as conv7
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = [nn.Sequential(*vgg[23:], fc)]
        blocks += [
            _extra_block(ch(1024), ch(256), ch(512), kernel_size=3, stride=2, padding=1),  # conv8_2
            _extra_block(ch(512), ch(128), ch(256), kernel_size=3, stride=2, padding=1),  # conv9_2
        ]
        if cfg.arch == "ssd300":
            blocks += [
                _extra_block(ch(256), ch(128), ch(256), kernel_size=3),  # conv10_2: 5 -> 3
                _extra_block(ch(256), ch(128), ch(256), kernel_size=3),  # conv11_2: 3 -> 1
            ]
        else:
            # SSD512 as in the original Caffe model: 8 -> 4 -> 2 -> 1 (conv12_2 is 4x4 with pad 1).
            blocks += [
                _extra_block(ch(256), ch(128), ch(256), kernel_size=3, stride=2, padding=1),  # conv10_2
                _extra_block(ch(256), ch(128), ch(256), kernel_size=3, stride=2, padding=1),  # conv11_2
                _extra_block(ch(256), ch(128), ch(256), kernel_size=4, padding=1),  # conv12_2
            ]
        self.extra = nn.ModuleList(blocks)
        xavier_init(self.extra[0][-1])  # conv6/conv7 are new layers (unless imported from fc6/fc7)
        for block in self.extra[1:]:
            xavier_init(block)
        n_maps = len(cfg.priors.feature_maps)
        self.out_channels = [ch(512), ch(1024), ch(512)] + [ch(256)] * (n_maps - 3)
        if n_maps != len(self.extra) + 1:
            raise ValueError(f"{cfg.arch}: the prior config has {n_maps} feature maps but the network "
                             f"produces {len(self.extra) + 1}")

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.features(x)
        out = [self.l2norm(x)]
        for block in self.extra:
            x = block(x)
            out.append(x)
        return out


def feature_names() -> "OrderedDict[str, str]":
    """Human names of the feature maps, for messages."""
    return OrderedDict((str(i), n) for i, n in enumerate(
        ("conv4_3", "conv7", "conv8_2", "conv9_2", "conv10_2", "conv11_2", "conv12_2")))
