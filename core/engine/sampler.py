"""A sample stream that is a pure function of (seed, epoch, position): resumable and shardable.

:class:`EpochSampler` yields ``(epoch, index)`` keys: epoch ``e`` visits the dataset in the order
of a permutation drawn from ``(seed, e)``; rank ``r`` of ``w`` takes every ``w``-th key of it
(like torch's DistributedSampler, padding by wrapping so all ranks do the same number of steps).
:class:`SeededSamples` receives those keys and seeds NumPy's and Python's global RNGs, which the
SSD transforms draw from, from ``(seed, epoch, index)`` before loading a sample.

So the augmentation of a sample does not depend on the worker that loads it, on the number of
workers, or on whether the run was restarted; resuming at step ``k`` of an epoch just skips the
first ``k * batch_size`` keys of this rank's shard.
"""
from __future__ import annotations

import random
from typing import Iterator

import numpy as np
from torch.utils.data import Dataset, Sampler


def epoch_permutation(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """Visiting order of ``n`` samples in ``epoch``: int64 [n]."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng((seed, epoch, 0x5A3D)).permutation(n).astype(np.int64)


class EpochSampler(Sampler):
    """Keys ``(epoch, index)`` of one epoch for one rank; call :meth:`set_epoch` before iterating.

    Args:
        n: dataset length (> 0).
        seed: run seed; the same seed gives the same order on every machine.
        shuffle: draw a fresh permutation per epoch (else dataset order).
        rank, world_size: this process's shard (0, 1 when not distributed).
        start: keys of this rank's shard to skip in the *current* epoch (resume mid-epoch);
            reset to 0 by :meth:`set_epoch`.
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        if n <= 0:
            raise ValueError(f"EpochSampler needs a non-empty dataset, got n={n}")
        if not (0 <= rank < world_size):
            raise ValueError(f"rank {rank} out of range for world size {world_size}")
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0

    @property
    def shard_size(self) -> int:
        """Keys per rank per epoch: ceil(n / world_size)."""
        return -(-self.n // self.world_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        if not (0 <= start <= self.shard_size):
            raise ValueError(f"start {start} outside the epoch's {self.shard_size} samples")
        self.epoch, self.start = int(epoch), int(start)

    def shard(self, epoch: int) -> np.ndarray:
        """This rank's indices of ``epoch`` in visiting order: int64 [shard_size]."""
        perm = epoch_permutation(self.n, self.seed, epoch, self.shuffle)
        total = self.shard_size * self.world_size
        if total > self.n:  # wrap around so every rank takes the same number of steps
            perm = np.concatenate([perm, np.resize(perm, total - self.n)])
        return perm[self.rank:total:self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i in self.shard(self.epoch)[self.start:]:
            yield self.epoch, int(i)

    def __len__(self) -> int:
        return self.shard_size - self.start


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for one sample of one epoch."""
    return int(np.random.SeedSequence((seed, epoch, index)).generate_state(1)[0])


class SeededSamples(Dataset):
    """Wraps a map-style dataset so that ``self[(epoch, index)]`` is reproducible.

    The global NumPy and ``random`` states are re-seeded per sample (the transforms of
    core.data draw from them); the caller's states are put back afterwards so that loading
    in the main process leaves the rest of the program's random streams alone.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> tuple:
        epoch, index = key
        s = sample_seed(self.seed, epoch, index)
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            np.random.seed(s)
            random.seed(s)
            return self.dataset[index]
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
