"""How long a run will take on this machine, measured before it starts (the Train dialog shows it).

    seconds = estimate_run_seconds(cfg)      # a few real steps of cfg's model, data and batch size
    estimate_run_seconds(cfg, on_progress=show)   # a RunEstimate as soon as the run's size is known,
                                                  # then one after every timed step, as it refines

The probe is the real trainer on the real dataset (its loader processes, threads and device as
configured) for one warm-up step and ``steps`` timed steps, in a temporary folder; the process's
torch thread count and random states are put back afterwards. On a loaded machine a step can take
many seconds, so the estimate is reported after each one instead of only at the end.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from core.engine.config import TrainConfig
from core.engine.events import EventKind, StopFn, TrainProgress
from core.engine.schedule import validation_due
from core.jobs import Cancelled

#: A validation image costs about a third of a training image: one forward pass instead of a
#: forward and a backward pass (postprocessing and matching are small next to the network).
VALIDATION_COST = 1 / 3


@dataclass(frozen=True)
class RunEstimate:
    """What :func:`estimate_run_seconds` knows so far (its ``on_progress`` payload).

    Attributes:
        seconds: estimated seconds for what is left of the run; None until a step has been timed.
        iterations: the iterations left to run (known once the data and the model are built).
        batch_size: images per iteration.
        steps_timed: training steps timed so far; each one refines ``seconds``.
        final: True for the last report (``seconds`` is then the value returned).
    """

    seconds: float | None
    iterations: int
    batch_size: int
    steps_timed: int
    final: bool = False


def estimate_run_seconds(cfg: TrainConfig, steps: int = 3, should_stop: StopFn | None = None,
                         on_progress: Callable[[RunEstimate], None] | None = None) -> float:
    """Estimated seconds for the run ``cfg`` describes (the part not done yet, when it resumes).

    Training time is the measured seconds per step times the iterations left; each validation
    adds its images at :data:`VALIDATION_COST` of a training image's time. ``on_progress`` gets a
    :class:`RunEstimate` once the run's size is known and after each timed step.

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
    plan = _Plan(cfg, done, on_progress)
    threads, rng = torch.get_num_threads(), capture_rng_state()
    try:
        with tempfile.TemporaryDirectory(prefix="ssd-estimate-") as tmp:
            probe = replace(cfg, out_dir=tmp, resume=None, init_weights=None, backbone_weights=None, overwrite=False,
                            val_split=None, checkpoint_every=0, max_iterations=1 + steps,
                            epochs=max(cfg.epochs, 1 + steps))
            plan.trainer = Trainer(probe, on_progress=plan.on_event, should_stop=should_stop)
            result = plan.trainer.run()
            if result.stopped:
                raise Cancelled("estimate cancelled")
    finally:
        torch.set_num_threads(threads)
        restore_rng_state(rng)
    seconds = plan.seconds()
    plan.report(seconds, final=True)
    return seconds


class _Plan:
    """The run's size (from the probe's trainer, once built) and the step times measured so far."""

    def __init__(self, cfg: TrainConfig, done: int, on_progress: Callable[[RunEstimate], None] | None) -> None:
        self.cfg, self.done, self.on_progress = cfg, done, on_progress
        self.trainer: Any = None
        self.total = self.validation_images = 0
        self.stamps: list[float] = []

    def on_event(self, p: TrainProgress) -> None:
        if p.kind == EventKind.STARTED:  # the probe's data and model are built: the run's size is known
            ipe = self.trainer.iters_per_epoch
            self.total = self.cfg.epochs * ipe
            if self.cfg.max_iterations is not None:
                self.total = min(self.total, self.cfg.max_iterations)
            self.validation_images = _validations(self.cfg, self.total, ipe, self.done) * _validation_images(
                self.cfg, self.trainer.class_names)
            self.report(None)
        elif p.kind == EventKind.STEP:
            self.stamps.append(time.monotonic())
            if len(self.stamps) >= 2:  # the first step warms up (allocations, oneDNN's kernels): not timed
                self.report(self.seconds())

    def seconds(self) -> float:
        per_step = (self.stamps[-1] - self.stamps[0]) / max(1, len(self.stamps) - 1)
        per_image_val = per_step / self.cfg.batch_size * VALIDATION_COST
        seconds = per_step * max(0, self.total - self.done) + self.validation_images * per_image_val
        return seconds if math.isfinite(seconds) else math.inf

    def report(self, seconds: float | None, final: bool = False) -> None:
        if self.on_progress is not None:
            self.on_progress(RunEstimate(seconds, max(0, self.total - self.done), self.cfg.batch_size,
                                         max(0, len(self.stamps) - 1), final))


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
