"""Training: the loop (:mod:`core.engine.trainer`), its configuration (:mod:`core.engine.config`), progress
events (:mod:`core.engine.events`), metrics (:mod:`core.engine.metrics`), resumable checkpoints, the
seeded sample stream and torchrun/DistributedDataParallel support.

    from core.engine import TrainConfig, train
    result = train(TrainConfig(data_format="synthetic", width=0.125, out_dir="runs/x"), on_progress=print)

The configuration, events and metrics import without torch (``ssd --help`` stays instant); the
loop's names load on first use.
"""
from __future__ import annotations

from typing import Any

from core.engine.config import (TEST_SEED, TRAIN_SEED, VAL_SEED, VIDEO_SEED, FieldSpec, TrainConfig, field_spec,
                                train_fields)
from core.engine.events import EventKind, NonFiniteLossError, TrainProgress, TrainResult
from core.engine.metrics import read_metrics_csv

_LAZY = {"train": "core.engine.trainer", "Trainer": "core.engine.trainer", "validate": "core.engine.trainer"}

__all__ = ["train", "TrainConfig", "TrainProgress", "TrainResult", "Trainer", "NonFiniteLossError", "validate",
           "EventKind", "FieldSpec", "train_fields", "field_spec", "read_metrics_csv",
           "TRAIN_SEED", "VAL_SEED", "TEST_SEED", "VIDEO_SEED"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core.engine' has no attribute {name!r}")
