"""Dataset and DataLoader for training and evaluation: pixels + SSD transforms -> padded batches.

Pixels come from the record's file (read with OpenCV, converted to RGB), for a synthetic
record (``file = synthetic://<seed>/<index>``) from re-rendering the scene, which is
deterministic, and for a frame of a video (``file = videoframe:<video>#<frame>``) from decoding it
(:mod:`core.data.frames`).

Loading and augmentation run in DataLoader worker processes when ``num_workers > 0``; each
worker seeds NumPy's and Python's global RNGs from torch's per-worker seed (itself derived from
the loader's ``seed``), which is what the transforms draw from (see core.data.transforms).
"""
from __future__ import annotations

import multiprocessing
import random
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from core.config import ModelConfig
from core.data.frames import parse_video_frame_path, read_video_frame
from core.data.synthetic import parse_synthetic_path, render_scene
from core.data.transforms import Compose, build_transforms
from core.io.images import read_image
from core.types import DatasetIndex, ImageRecord


def read_image_rgb(record: ImageRecord) -> np.ndarray:
    """The pixels of one record: uint8 [H, W, 3] RGB.

    Raises:
        ValueError: the file is missing or OpenCV cannot decode it (names the file).
    """
    key = parse_synthetic_path(record.file)
    if key is not None:
        image, _, _ = render_scene(key[0], key[1], (record.width, record.height))
        return image
    frame = parse_video_frame_path(record.file)
    if frame is not None:
        return read_video_frame(*frame)
    try:
        return read_image(record.file)
    except ValueError as exc:
        raise ValueError(f"{exc} (image id {record.image_id!r})") from None


class DetectionDataset(Dataset):
    """A :class:`DatasetIndex` with pixels and transforms.

    ``dataset[i]`` returns ``(image float32 tensor [3, S, S], boxes float32 [N, 4] normalised
    x1y1x2y2, labels int64 [N])`` (boxes and labels as NumPy arrays; :func:`collate` makes tensors).
    Difficult (VOC) and crowd (COCO) objects are left out of the targets unless
    ``keep_difficult`` is set: the evaluation ignores them, so training on them teaches
    boxes that are never rewarded.
    """

    def __init__(self, index: DatasetIndex, transform: Compose | None, keep_difficult: bool = False) -> None:
        self.index = index
        self.transform = transform
        self.keep_difficult = keep_difficult

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.index.class_names

    def __len__(self) -> int:
        return len(self.index.records)

    def targets(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Training targets of record ``i`` before transforms: (boxes float32 [N, 4] pixels, labels int64 [N])."""
        r = self.index.records[i]
        boxes, labels = np.asarray(r.boxes, np.float32).reshape(-1, 4), np.asarray(r.labels, np.int64)
        if not self.keep_difficult:
            keep = np.ones(len(labels), bool)
            if len(r.difficult) == len(labels):
                keep &= ~np.asarray(r.difficult, bool)
            if len(r.iscrowd) == len(labels):
                keep &= ~np.asarray(r.iscrowd, bool)
            boxes, labels = boxes[keep], labels[keep]
        return boxes, labels

    def __getitem__(self, i: int) -> tuple:
        image = read_image_rgb(self.index.records[i])
        boxes, labels = self.targets(i)
        if self.transform is not None:
            return self.transform(image, boxes.copy(), labels.copy())
        return image, boxes, labels


@dataclass(frozen=True)
class Batch:
    """Padded training batch.

    Attributes:
        images: float32 [B, 3, S, S], mean-subtracted RGB.
        boxes: float32 [B, M, 4], normalised x1y1x2y2; rows past an image's objects are 0.
        labels: int64 [B, M]; 0 marks padding (background is never a ground-truth label).
    """

    images: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        return Batch(self.images.to(device, non_blocking=non_blocking),
                     self.boxes.to(device, non_blocking=non_blocking),
                     self.labels.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "Batch":
        # DataLoader(pin_memory=True) calls this on custom batch types.
        return Batch(self.images.pin_memory(), self.boxes.pin_memory(), self.labels.pin_memory())


def collate(batch: Sequence[tuple]) -> Batch:
    """Stack samples of :class:`DetectionDataset` into a :class:`Batch`; M = max objects (>= 1)."""
    if not batch:
        raise ValueError("collate: empty batch")
    m = max(1, max(len(s[2]) for s in batch))
    images = torch.stack([s[0] if isinstance(s[0], torch.Tensor) else torch.as_tensor(s[0]) for s in batch])
    boxes = torch.zeros((len(batch), m, 4), dtype=torch.float32)
    labels = torch.zeros((len(batch), m), dtype=torch.int64)
    for k, (_, b, lab) in enumerate(batch):
        n = len(lab)
        if n:
            boxes[k, :n] = torch.as_tensor(np.asarray(b, np.float32).reshape(-1, 4))
            labels[k, :n] = torch.as_tensor(np.asarray(lab, np.int64))
    return Batch(images, boxes, labels)


def build_dataset(kind: str, path: str | Path | Sequence[str | Path] | None, split: str | None,
                  model_cfg: ModelConfig, train: bool, *, count: int | None = None, seed: int | None = None,
                  size: int | tuple[int, int] = (320, 320), image_dir: str | Path | None = None,
                  keep_difficult: bool = False, class_names: Sequence[str] | None = None) -> DetectionDataset:
    """:func:`core.data.index.build_index` with pixels and the SSD transforms.

    Args:
        kind, path, split, count, seed, size, image_dir, class_names: see
            :func:`~core.data.index.build_index`.
        model_cfg: network size and mean for the transforms.
        train: training augmentation or the evaluation chain.
        keep_difficult: keep difficult (VOC) and crowd (COCO) objects in the targets.
    """
    from core.data.index import build_index  # noqa: PLC0415

    index = build_index(kind, path, split, count=count, seed=seed, size=size, image_dir=image_dir,
                        class_names=class_names)
    return DetectionDataset(index, build_transforms(model_cfg, train), keep_difficult=keep_difficult)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed NumPy and ``random`` from torch's per-worker seed.

    Workers ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and the main
    process decides what it means (``ssd train`` saves a checkpoint first); a worker that died of
    it would fail the very batch the checkpoint waits for. The main process ends its workers.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def worker_context(num_workers: int) -> multiprocessing.context.BaseContext | None:
    """How the loader starts its workers: None (the platform's default) or a forkserver.

    Forking a process that runs other threads (the GUI's, a job's QThread, TensorBoard's event writer)
    copies the locks those threads hold at that instant into the child, which can then wait on them for
    ever: the Train view's runs hung on their first batch this way. A forkserver child is forked from a
    server that started single-threaded, so it cannot inherit a held lock; the workers persist across
    epochs, so its start-up cost (importing torch once) is paid once per run.
    """
    if num_workers == 0 or "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    if threading.active_count() > 1 or threading.current_thread() is not threading.main_thread():
        return multiprocessing.get_context("forkserver")
    return None


def build_loader(dataset: Dataset, batch_size: int, shuffle: bool, num_workers: int = 2,
                 sampler: Sampler | Iterable | None = None, seed: int = 0, drop_last: bool = False,
                 pin_memory: bool = False) -> DataLoader:
    """A DataLoader of :class:`Batch` es.

    With ``num_workers > 0`` the workers persist across epochs; shuffling and the workers'
    seeds derive from ``seed`` (a ``torch.Generator``), so a run repeats given the same seed.
    With ``num_workers == 0`` the transforms use the main process' global NumPy RNG.
    A ``sampler`` (e.g. DistributedSampler) replaces ``shuffle``.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle if sampler is None else False,
                      sampler=sampler, num_workers=num_workers, collate_fn=collate,
                      worker_init_fn=seed_worker if num_workers > 0 else None,
                      persistent_workers=num_workers > 0, generator=g, drop_last=drop_last,
                      pin_memory=pin_memory, multiprocessing_context=worker_context(num_workers))
