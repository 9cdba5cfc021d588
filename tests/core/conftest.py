"""Shared fixtures for the engine tests: a torchvision ssd300_vgg16 with random weights, saved to disk."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision


@pytest.fixture(scope="session")
def tv_model() -> torchvision.models.detection.SSD:
    """torchvision's own SSD300 (random weights, no download), in eval mode."""
    torch.manual_seed(1234)
    return torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).eval()


@pytest.fixture(scope="session")
def tv_weights(tv_model, tmp_path_factory) -> Path:
    """tv_model's state dict saved as a plain .pth file, as torchvision distributes it."""
    path = tmp_path_factory.mktemp("tv") / "ssd300_vgg16_random.pth"
    torch.save(tv_model.state_dict(), path)
    return path
