"""Several processes (GPUs or machines) under ``torchrun``: process group, ranks, reductions.

The trainer is the same program on every rank. ``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`init_distributed` reads them and joins the group (NCCL on CUDA, gloo on
the CPU). Without them everything here is a no-op on a world of one.

Each rank reads its own shard of every epoch (see :class:`core.engine.sampler.EpochSampler`)
and DistributedDataParallel averages the gradients, so all ranks hold identical weights after
every step; rank 0 alone writes checkpoints, the metrics CSV and progress events.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_dist_info() -> DistInfo:
    """The ranks ``torchrun`` put in the environment (a world of one when absent)."""
    try:
        return DistInfo(rank=int(os.environ.get("RANK", 0)), world_size=int(os.environ.get("WORLD_SIZE", 1)),
                        local_rank=int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError as exc:
        raise ValueError(f"invalid torchrun environment RANK/WORLD_SIZE/LOCAL_RANK: {exc}") from exc


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (idempotent).

    On CUDA each rank takes GPU ``LOCAL_RANK``; the caller moves the model to
    :func:`rank_device`.
    """
    info = env_dist_info()
    if not info.enabled:
        return info
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=info.local_rank)


def rank_device(device: torch.device, info: DistInfo) -> torch.device:
    """``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun; the CPU stays the CPU."""
    if device.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return device


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``values`` (any shape) over the ranks; unchanged on a world of one."""
    if not info.enabled:
        return values
    out = values.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def any_rank(flag: bool, device: torch.device, info: DistInfo) -> bool:
    """True on every rank when ``flag`` is true on at least one (e.g. a stop request seen by rank 0)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup_distributed(info: DistInfo) -> None:
    """Leave the process group (only if this module's caller joined one)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
