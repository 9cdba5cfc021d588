"""Training: the loop (:mod:`core.engine.train`), resumable checkpoints, the seeded sample stream
and torchrun/DistributedDataParallel support.

    from core.engine import TrainConfig, train
    result = train(TrainConfig(data_format="synthetic", width=0.125, out_dir="runs/x"), on_progress=print)
"""
from __future__ import annotations

from core.engine.train import (NonFiniteLossError, TrainConfig, Trainer, TrainProgress, TrainResult, train,
                               validate)

__all__ = ["train", "TrainConfig", "TrainProgress", "TrainResult", "Trainer", "NonFiniteLossError", "validate"]
