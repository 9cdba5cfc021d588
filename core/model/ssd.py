"""The SSD network: backbone + heads. It only coordinates; priors, matching, loss and
postprocessing live in their own modules, and each backbone family in its own file."""
from __future__ import annotations

import importlib

import torch
from torch import Tensor, nn

from core.config import ModelConfig
from core.model.head import SSDHead
from core.model.vgg import VGGBackbone
from core.ssd.priors import prior_boxes

# Architecture -> the module of core.model that builds its backbone and head (``build(cfg)``).
_FAMILY = {
    "ssdlite320_mobilenet_v3_large": "mobilenet_v3",
    "ssdlite300_mobilenet_v2": "mobilenet_v2",
    "ssd300_mobilenet_v1": "mobilenet_v1",
    "ssd300_resnet50": "resnet",
}


def build_parts(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    """(backbone, head) of ``cfg.arch`` with fresh weights; the backbone returns the feature maps."""
    if cfg.arch in ("ssd300", "ssd512"):
        backbone = VGGBackbone(cfg)
        return backbone, SSDHead(backbone.out_channels, cfg.priors.boxes_per_location, cfg.num_classes)
    module = importlib.import_module(f"core.model.{_FAMILY[cfg.arch]}")
    return module.build(cfg)


class SSD(nn.Module):
    """An SSD of any architecture of ``core.config.ARCHITECTURES``.

    forward(images Tensor[N, 3, S, S], normalised as ``cfg.image_mean`` / ``cfg.image_std`` say) ->
        (cls_logits Tensor[N, P, num_classes], bbox_regression Tensor[N, P, 4]),
    P = number of default boxes (8732 for SSD300, 3234 for SSDlite320, 3000 for the MobileNet-SSDs).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone, self.head = build_parts(cfg)
        n_maps = len(cfg.priors.feature_maps)
        if len(self.backbone.out_channels) != n_maps:
            raise ValueError(f"{cfg.arch}: the prior config has {n_maps} feature maps but the network "
                             f"produces {len(self.backbone.out_channels)}")

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(self.backbone(images))

    def priors(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """Default boxes Tensor[P, 4] cxcywh normalised (cached)."""
        if device is None:
            device = next(self.parameters()).device
        return prior_boxes(self.cfg.priors, self.cfg.image_size, device, dtype)


def build_model(cfg: ModelConfig) -> SSD:
    """The one builder: an SSD with fresh weights for ``cfg`` (each family's own initialisation)."""
    return SSD(cfg)
