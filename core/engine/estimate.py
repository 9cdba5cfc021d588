"""How long a run will take on this machine, measured before it starts (the Train dialog shows it).

    seconds = estimate_run_seconds(cfg)      # a few real steps of cfg's model, data and batch size

The probe is the real trainer on the real dataset (its loader processes, threads and device as
configured) for one warm-up step and ``steps`` timed steps, in a temporary folder; the process's
torch thread count and random states are put back afterwards.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import replace

from core.engine.config import TrainConfig
from core.engine.events import EventKind, StopFn, TrainProgress
from core.engine.schedule import validation_due
from core.jobs import Cancelled

#: A validation image costs about a third of a training image: one forward pass instead of a
#: forward and a backward pass (postprocessing and matching are small next to the network).
VALIDATION_COST = 1 / 3


def estimate_run_seconds(cfg: TrainConfig, steps: int = 2, should_stop: StopFn | None = None) -> float:
    """Estimated seconds for the run ``cfg`` describes (the part not done yet, when it resumes).

    Training time is the measured seconds per step times the iterations left; each validation
    adds its images at :data:`VALIDATION_COST` of a training image's time.

    Raises:
        core.jobs.Cancelled: ``should_stop`` returned True.
        ValueError / FileNotFoundError / OSError: as :func:`core.engine.train` for ``cfg``'s data.
    """
    import torch

    if steps < 1:
        raise ValueError(f"estimate_run_seconds: steps={steps} must be >= 1")
    from core.engine.checkpoint import capture_rng_state, load_training_checkpoint, restore_rng_state
    from core.engine.trainer import Trainer

    done = int(load_training_checkpoint(cfg.resume)["iteration"]) if cfg.resume else 0
    stamps: list[float] = []

    def on_step(p: TrainProgress) -> None:
        if p.kind == EventKind.STEP:
            stamps.append(time.monotonic())

    threads, rng = torch.get_num_threads(), capture_rng_state()
    try:
        with tempfile.TemporaryDirectory(prefix="ssd-estimate-") as tmp:
            probe = replace(cfg, out_dir=tmp, resume=None, init_weights=None, backbone_weights=None, overwrite=False,
                            val_split=None, checkpoint_every=0, max_iterations=1 + steps,
                            epochs=max(cfg.epochs, 1 + steps))
            trainer = Trainer(probe, on_progress=on_step, should_stop=should_stop)
            result = trainer.run()
            if result.stopped:
                raise Cancelled("estimate cancelled")
            n_val = _validation_images(cfg, trainer.class_names)
    finally:
        torch.set_num_threads(threads)
        restore_rng_state(rng)
    per_step = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
    total = cfg.epochs * trainer.iters_per_epoch
    if cfg.max_iterations is not None:
        total = min(total, cfg.max_iterations)
    per_image_val = per_step / cfg.batch_size * VALIDATION_COST
    seconds = per_step * max(0, total - done) + _validations(cfg, total, trainer.iters_per_epoch, done) \
        * n_val * per_image_val
    return seconds if math.isfinite(seconds) else math.inf


def _validation_images(cfg: TrainConfig, class_names: tuple[str, ...]) -> int:
    if cfg.val_split is None:
        return 0
    if cfg.data_format == "synthetic":
        return cfg.val_count
    from core.engine.data import build_val_index

    index = build_val_index(cfg, class_names)
    return 0 if index is None else len(index)


def _validations(cfg: TrainConfig, total: int, iters_per_epoch: int, done: int) -> int:
    """How many validations the rest of the run does (after iterations ``done + 1 .. total``)."""
    if cfg.val_split is None:
        return 0
    return sum(validation_due(it, total, iters_per_epoch, cfg.val_every_epochs) for it in range(done + 1, total + 1))
