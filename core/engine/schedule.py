"""Optimiser and learning-rate schedule: linear warm-up, then a step decay at fixed iterations.

The milestones are given as fractions of the run (the paper's 80k/100k of 120k VOC iterations are
about 2/3 and 5/6) but fixed in absolute iterations when the run starts, and recorded in its
checkpoints: a run resumed with more epochs keeps its decays where they were, so the learning
rate never jumps back up to a rate the run had already decayed from.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from core.engine.config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay) as in the paper, or Adam (weight decay as L2, like SGD's)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def milestone_iterations(milestones: Sequence[float], total: int) -> tuple[int, ...]:
    """Fractions of a ``total``-iteration run -> the iterations after which the rate decays."""
    return tuple(int(round(m * total)) for m in milestones)


def lr_factor(iteration: int, warmup_iters: int, milestone_iters: Sequence[int], gamma: float) -> float:
    """Learning-rate multiplier for the step after ``iteration`` steps: linear warm-up, then step decay."""
    warm = min(1.0, (iteration + 1) / warmup_iters) if warmup_iters > 0 else 1.0
    decays = sum(1 for m in milestone_iters if iteration >= m)
    return warm * gamma ** decays


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                    milestone_iters: Sequence[int]) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of ``cfg`` with decays after ``milestone_iters`` (see :func:`schedule_for`)."""
    fixed = tuple(int(m) for m in milestone_iters)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, cfg.warmup_iters, fixed, cfg.gamma))


def validation_due(iteration: int, total: int, iters_per_epoch: int, every_epochs: int) -> bool:
    """Whether the run validates after ``iteration`` steps: at the end of every ``every_epochs``-th
    epoch (0: none but the last) and always after the last iteration."""
    if iteration == total:
        return True
    epoch_end = iteration % iters_per_epoch == 0
    return epoch_end and every_epochs > 0 and (iteration // iters_per_epoch) % every_epochs == 0


def schedule_for(cfg: TrainConfig, total: int, iters_per_epoch: int, ckpt: Mapping[str, Any] | None) -> tuple[int, ...]:
    """The run's milestones in absolute iterations.

    A new run fixes them from ``cfg.milestones`` and its ``total``; a resumed run keeps the ones its
    checkpoint recorded (or, for a checkpoint older than that record, the ones of the run it came
    from: its saved configuration's length with this dataset's ``iters_per_epoch``).
    """
    if ckpt is None:
        return milestone_iterations(cfg.milestones, total)
    saved = ckpt.get("schedule")
    if isinstance(saved, Mapping) and "milestone_iters" in saved:
        return tuple(int(m) for m in saved["milestone_iters"])
    old = ckpt.get("train_config") or {}
    old_total = int(old.get("epochs", cfg.epochs)) * iters_per_epoch
    if old.get("max_iterations") is not None:
        old_total = min(old_total, int(old["max_iterations"]))
    return milestone_iterations(tuple(old.get("milestones", cfg.milestones)), old_total)


def resumed_schedule_warnings(milestone_iters: Sequence[int], total: int, ckpt: Mapping[str, Any],
                              source: str) -> list[str]:
    """Warnings for a resumed run whose kept milestones (see :func:`schedule_for`) fall at or after its new
    ``total`` although they lay inside the run the checkpoint came from: a run shortened on resume would
    otherwise end without the learning-rate decays it was set up with, silently. ``source`` is the
    checkpoint resumed from (named in the message)."""
    saved = ckpt.get("schedule")
    before = int(saved["total_iterations"]) if isinstance(saved, Mapping) and "total_iterations" in saved else None
    late = [int(m) for m in milestone_iters if m >= total and (before is None or m < before)]
    if not late:
        return []
    return [f"'{source}': the learning-rate decay{'s' if len(late) > 1 else ''} this run fixed when it started "
            f"(after iteration{'s' if len(late) > 1 else ''} {', '.join(map(str, late))}) "
            f"{'fall' if len(late) > 1 else 'falls'} at or after the end of the resumed run ({total} iterations), "
            "so the rate will not decay there; resume with at least the run's original epochs, or start a new run "
            "to place the decays within the shorter one"]


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any | None) -> None:
    """Backward ``loss`` (a 0-d tensor), then one optimizer and one scheduler step; through the AMP
    ``scaler`` (``torch.amp.GradScaler``) when there is one."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    scheduler.step()
