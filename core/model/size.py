"""How big a network is: its multiply-adds per image, counted on the model itself (not the family's
published figure, which holds for the full-width network and its class count only)."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from core.config import ModelConfig
from core.model.ssd import build_model


def multiply_adds(config: ModelConfig) -> int:
    """Multiply-adds of one forward pass of the network of ``config`` on one [1, 3, S, S] image.

    Counted by PyTorch's FlopCounterMode (convolutions and matrix products; a multiply-add is two of its
    FLOPs) on the meta device: shapes only, no weights allocated, no arithmetic done.
    """
    with torch.device("meta"):
        model = build_model(config).eval()
        x = torch.zeros((1, 3, config.image_size, config.image_size))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops()) // 2
