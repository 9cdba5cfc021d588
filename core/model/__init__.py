"""VGG16-SSD: ``build_model(ModelConfig) -> SSD``."""
from core.model.ssd import SSD, build_model

__all__ = ["SSD", "build_model"]
