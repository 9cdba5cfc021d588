"""The SSD network: backbone + heads. It only coordinates; priors, matching, loss and
postprocessing live in their own modules."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from core.config import ModelConfig
from core.model.head import SSDHead
from core.model.vgg import VGGBackbone
from core.priors import prior_boxes


class SSD(nn.Module):
    """VGG16-SSD (300 or 512).

    forward(images Tensor[N, 3, S, S], mean-subtracted 0-255 RGB) ->
        (cls_logits Tensor[N, P, num_classes], bbox_regression Tensor[N, P, 4]),
    P = number of default boxes (8732 for SSD300, 24564 for SSD512).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = VGGBackbone(cfg)
        self.head = SSDHead(self.backbone.out_channels, cfg.priors.boxes_per_location, cfg.num_classes)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(self.backbone(images))

    def priors(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """Default boxes Tensor[P, 4] cxcywh normalised (cached)."""
        if device is None:
            device = next(self.parameters()).device
        return prior_boxes(self.cfg.priors, self.cfg.image_size, device, dtype)


def build_model(cfg: ModelConfig) -> SSD:
    """The one builder: an SSD with fresh (Xavier / VGG default) weights for ``cfg``."""
    return SSD(cfg)
