"""The SSD family: ``build_model(ModelConfig) -> SSD`` for every architecture of
``core.config.ARCHITECTURES``; one file per backbone (vgg, mobilenet_v3, mobilenet_v2, mobilenet_v1, resnet)."""
from core.model.ssd import SSD, build_model

__all__ = ["SSD", "build_model"]
