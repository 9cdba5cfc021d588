"""Weights files: this project's checkpoints (:mod:`~core.weights.files`), every layout it reads
(:mod:`~core.weights.load`, the foreign ones through :mod:`~core.weights.importers`), ImageNet backbones
for training (:mod:`~core.weights.backbones`) and torchvision's COCO downloads (:mod:`~core.weights.download`).

The names most callers need are handed on here; the modules of this package never import it back.
"""
from core.weights.files import (FORMAT, LoadedWeights, as_state_dict, atomic_save, check_finite, checkpoint_dict,
                                load_state_into, read_file, save_checkpoint)
from core.weights.load import DEMO_SPEC, TORCHVISION_COCO_SPEC, TORCHVISION_FILES, detect_format, load_weights, \
    resolve_weights_spec

__all__ = ["DEMO_SPEC", "FORMAT", "LoadedWeights", "TORCHVISION_COCO_SPEC", "TORCHVISION_FILES", "as_state_dict",
           "atomic_save", "check_finite", "checkpoint_dict", "detect_format", "load_state_into", "load_weights",
           "read_file", "resolve_weights_spec", "save_checkpoint"]
