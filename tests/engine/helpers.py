"""Shared tiny training configurations: SSD300 layout at width 0.05 on small synthetic scenes."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from core.engine import TrainConfig


def tiny_config(out_dir: str | Path, **changes: Any) -> TrainConfig:
    """A run of a few iterations that takes seconds on two CPU cores."""
    cfg = TrainConfig(
        data_format="synthetic", synthetic_count=8, synthetic_seed=3, synthetic_size=64, val_split=None,
        augment="light", arch="ssd300", priors="voc", width=0.05, epochs=1, batch_size=2, optimizer="adam",
        lr=1e-3, weight_decay=0.0, warmup_iters=0, device="cpu", num_workers=0, num_threads=1, seed=0,
        out_dir=str(out_dir),
        checkpoint_every=0, val_every_epochs=1)
    return replace(cfg, **changes)
