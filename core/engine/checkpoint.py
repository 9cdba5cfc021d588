"""Training checkpoints: the detector checkpoint of core.weights plus what a resume needs.

A training checkpoint is the project's own weights dict (``format``, ``config``, ``class_names``,
``model``, ``meta``; loadable by :func:`core.load_detector`) with extra plain entries:

    ``iteration`` (int, optimizer steps done), ``epoch`` (int), ``optimizer``, ``scheduler`` and
    ``scaler`` state dicts, ``rng`` (see :func:`capture_rng_state`), ``train_config`` (dict) and
    ``schedule`` (``{"milestone_iters": [int, ...], "total_iterations": int}``: the learning-rate decays
    fixed when the run started, see core.engine.schedule).

Everything in it is a tensor, number, string, list or dict, so ``torch.load(weights_only=True)``
reads it back; that is why the RNG states are converted to tensors and lists here.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from core.config import SSDConfig
from core.io.fileio import describe_os_error
from core.weights import FORMAT, read_file, save_checkpoint

TRAINING_KEYS: tuple[str, ...] = ("iteration", "epoch", "optimizer", "scheduler", "rng")


def capture_rng_state() -> dict[str, Any]:
    """Torch (CPU and every CUDA device), NumPy global and Python ``random`` states as plain data.

    Returns:
        ``{"torch": ByteTensor, "cuda": [ByteTensor, ...], "numpy": {"keys": int64 Tensor[624],
        "pos": int, "has_gauss": int, "cached_gaussian": float}, "python": [version, [ints], gauss_next]}``.
    """
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    if name != "MT19937":
        raise ValueError(f"unexpected NumPy bit generator {name!r}; expected 'MT19937'")
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        # uint32 keys do not fit a signed int32 tensor; int64 holds them exactly.
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": [int(version), [int(v) for v in internal], gauss_next],
    }


def restore_rng_state(state: Mapping[str, Any], source: str = "<checkpoint>") -> None:
    """Inverse of :func:`capture_rng_state`; ``source`` names the file in error messages."""
    try:
        torch.set_rng_state(state["torch"].to(torch.uint8).cpu())
        cuda = list(state.get("cuda") or [])
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([t.to(torch.uint8).cpu() for t in cuda])
        n = state["numpy"]
        np.random.set_state(("MT19937", np.asarray(n["keys"].numpy(), np.uint32), int(n["pos"]),
                             int(n["has_gauss"]), float(n["cached_gaussian"])))
        version, internal, gauss_next = state["python"]
        random.setstate((int(version), tuple(int(v) for v in internal), gauss_next))
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise ValueError(f"{source}: invalid RNG state in checkpoint ({type(exc).__name__}: {exc})") from exc


def save_training_checkpoint(path: str | Path, model: nn.Module, config: SSDConfig,
                             class_names: tuple[str, ...] | list[str], *, iteration: int, epoch: int,
                             optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any | None,
                             train_config: Mapping[str, Any], meta: Mapping[str, Any] | None = None,
                             schedule: Mapping[str, Any] | None = None, previous_iteration: int | None = None
                             ) -> Path:
    """Write a resumable checkpoint atomically (temp file, fsync, rename) and return its path.

    ``model`` may be wrapped in DistributedDataParallel; the unwrapped module's weights are stored.

    Raises:
        OSError naming the file and the cause (a full disk: "no space left on device") and saying what is
        kept: the previous checkpoint, of ``previous_iteration``, is intact (None: there is none).
    """
    module = model.module if hasattr(model, "module") else model
    extra: dict[str, Any] = {
        "iteration": int(iteration),
        "epoch": int(epoch),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": capture_rng_state(),
        "train_config": dict(train_config),
    }
    if scaler is not None:
        extra["scaler"] = scaler.state_dict()
    if schedule is not None:
        extra["schedule"] = dict(schedule)
    try:
        return save_checkpoint(path, module, config, class_names, meta=meta, **extra)
    except OSError as exc:
        kept = (f"the previous checkpoint is intact: {path}, iteration {previous_iteration}"
                if previous_iteration is not None else "no earlier checkpoint of this run")
        raise OSError(exc.errno, f"could not save the checkpoint of iteration {iteration} to {path}: "
                                 f"{describe_os_error(exc)} ({kept})") from exc


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a resumable checkpoint with ``weights_only=True``.

    Raises:
        FileNotFoundError for a missing file; ValueError naming the file when it is not this
        project's checkpoint or lacks the training state (e.g. a ``model.pt`` exported for detection).
    """
    p = Path(path)
    obj = read_file(p)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"'{p}' is not a checkpoint of this project (format {FORMAT!r}); cannot resume from it")
    missing = [k for k in TRAINING_KEYS + ("model", "config", "class_names") if k not in obj]
    if missing:
        raise ValueError(f"'{p}' has no training state ({', '.join(missing)} missing): resume from 'last.pt' "
                         f"of a run folder, not from an exported model")
    return obj


def saved_train_config(path: str | Path) -> dict[str, Any]:
    """The ``train_config`` a resumable checkpoint was written with (``{}`` when it has none).

    Raises:
        FileNotFoundError / ValueError as :func:`load_training_checkpoint`.
    """
    cfg = load_training_checkpoint(path).get("train_config")
    return dict(cfg) if isinstance(cfg, Mapping) else {}
