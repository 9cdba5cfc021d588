"""Shared tiny training configurations (SSD300 layout at width 0.05 on small synthetic scenes) and the
child process of the kill tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
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


ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("train_child.py")


def child_env() -> dict[str, str]:
    """Environment of a training child: this checkout, one OpenMP thread, not under torchrun."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def kill_child_at(out: Path, mode: str, marker: str) -> list[str]:
    """Run ``train_child.py OUT MODE``, SIGKILL it when it prints a line starting with ``marker``; its lines."""
    child = subprocess.Popen([sys.executable, str(CHILD), str(out), mode], env=child_env(), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            seen.append(line)
            if line.startswith(marker):
                break
        assert seen and seen[-1].startswith(marker), "".join(seen)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    return seen
