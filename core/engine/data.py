"""What a run trains and validates on: datasets of a :class:`TrainConfig`, their checks, the training
loader, validation mAP, and the weights a run starts from.

The dataset readers (core.data) record what they dropped or clipped in ``DatasetIndex.warnings``;
:func:`dataset_warnings` turns them into the lines a run reports (``ssd train`` prints them, the
Train view shows them). :func:`check_has_objects` refuses a training set without a single object:
it would train at loss 0 and report success.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from core.config import SSDConfig
from core.data.index import DatasetSpec, build_index
from core.engine.config import TrainConfig
from core.engine.sampler import EpochSampler, SeededSamples
from core.types import DatasetIndex

#: Dataset warnings reported one by one; the rest are counted in one more line.
MAX_WARNINGS_SHOWN = 20


class CachedImages(torch.utils.data.Dataset):
    """A core.data DetectionDataset whose source images are decoded/rendered once per process.

    ``self[i]`` is ``dataset[i]``: the transform still runs on every call (so augmentation
    varies); only the pixels of the record are kept (uint8 [H, W, 3] RGB).
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._images: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple:
        from core.data.loader import read_image_rgb

        image = self._images.get(i)
        if image is None:
            image = self._images[i] = read_image_rgb(self.dataset.index.records[i])
        boxes, labels = self.dataset.targets(i)
        return self.dataset.transform(image, boxes.copy(), labels.copy())


def build_train_transforms(model_cfg: Any, augment: str) -> Any:
    """The training chain: "ssd" is core.data's paper chain; "light" photometric + flip; "none" resize."""
    from core.data import transforms as T

    if augment == "ssd":
        return T.build_transforms(model_cfg, train=True)
    steps: list[Any] = [T.ToFloat()]
    if augment == "light":
        steps += [T.PhotometricDistort(), T.RandomHorizontalFlip()]
    steps += [T.Resize(model_cfg.image_size), T.network_input(model_cfg)]
    return T.Compose(steps)


def train_spec(cfg: TrainConfig) -> DatasetSpec:
    """The training data of ``cfg`` as a core.data DatasetSpec (``DatasetSpec.index()`` reads it)."""
    if cfg.data_format == "synthetic":
        return DatasetSpec("synthetic", count=cfg.synthetic_count, seed=cfg.synthetic_seed, size=cfg.synthetic_size)
    return DatasetSpec(cfg.data_format, cfg.data_path, cfg.train_split if cfg.data_format in ("voc", "yolo") else None)


def val_spec(cfg: TrainConfig) -> DatasetSpec | None:
    """The validation data of ``cfg`` (None when validation is off): held-out synthetic scenes, the VOC
    image set ``val_split`` of the same folders, the YOLO split ``val_split`` of the same dataset, or the COCO
    instances JSON ``val_split``."""
    if cfg.val_split is None:
        return None
    if cfg.data_format == "synthetic":
        return DatasetSpec("synthetic", count=cfg.val_count, seed=cfg.val_seed, size=cfg.synthetic_size)
    if cfg.data_format in ("voc", "yolo"):
        return DatasetSpec(cfg.data_format, cfg.data_path, cfg.val_split)
    return DatasetSpec("coco", cfg.val_split)


def build_train_dataset(cfg: TrainConfig, model_cfg: Any) -> Any:
    """The training DetectionDataset of ``cfg`` with its transforms (see :func:`build_train_transforms`)."""
    from core.data.loader import DetectionDataset

    return DetectionDataset(train_spec(cfg).index(), build_train_transforms(model_cfg, cfg.augment))


def build_val_index(cfg: TrainConfig, class_names: tuple[str, ...]) -> DatasetIndex | None:
    """The validation ground truth of ``cfg`` (VOC read with the training class list), or None."""
    spec = val_spec(cfg)
    if spec is None:
        return None
    return build_index(spec.kind, spec.path, spec.split, count=spec.count, seed=spec.seed, size=spec.size,
                       class_names=list(class_names) if spec.kind == "voc" else None)


def dataset_warnings(index: DatasetIndex, role: str) -> list[str]:
    """The reader's warnings of ``index`` as report lines ("training data: <file>: ..."), at most
    :data:`MAX_WARNINGS_SHOWN` of them plus one line counting the rest."""
    lines = [f"{role} data: {w}" for w in index.warnings[:MAX_WARNINGS_SHOWN]]
    rest = len(index.warnings) - MAX_WARNINGS_SHOWN
    if rest > 0:
        lines.append(f"{role} data: {rest} more problem(s) in {index.source} not shown")
    return lines


def check_has_objects(dataset: Any) -> int:
    """Number of objects the training set teaches (difficult/crowd objects left out as in training).

    Raises:
        ValueError: not one object in the whole set (names the source and what the reader dropped).
    """
    n = sum(len(dataset.targets(i)[1]) for i in range(len(dataset)))
    if n == 0:
        index = dataset.index
        dropped = f"; the reader dropped: {index.warnings[0]}" if index.warnings else ""
        raise ValueError(f"{index.source}: the training set ({len(dataset)} images) holds no object to learn from "
                         f"(no annotated box that is not difficult or crowd){dropped}. Nothing was trained.")
    return n


def validate(model: nn.Module, config: SSDConfig, class_names: tuple[str, ...], gt: DatasetIndex,
             device: torch.device, batch_size: int = 16) -> float:
    """VOC07 11-point mAP@0.5 of ``model`` on ``gt`` (detections through core.detector's pipeline).

    Leaves ``model`` in eval mode on ``device``; the caller switches it back to training.
    """
    from core.data.loader import read_image_rgb
    from core.detector import Detector
    from core.evaluation.evaluate import evaluate

    detector = Detector(model, config, class_names, device=device)
    dets = {}
    records = gt.records
    for s in range(0, len(records), batch_size):
        chunk = records[s:s + batch_size]
        for r, d in zip(chunk, detector.detect([read_image_rgb(r) for r in chunk])):
            dets[r.image_id] = d
    m = evaluate(gt, dets, detector_class_names=class_names, source="validation").voc(use_07_metric=True).mAP
    return float(m)


def first_non_finite(state: Mapping[str, Any]) -> str | None:
    """Name of the first floating-point tensor of ``state`` holding NaN or infinity, else None."""
    for name, t in state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


def check_finite_state(state: Mapping[str, Any], path: str | Path, what: str) -> None:
    """Refuse weights with NaN or infinity before training from them, naming the file and the tensor."""
    bad = first_non_finite(state)
    if bad is not None:
        raise ValueError(f"'{path}': tensor {bad} holds non-finite values (NaN or infinity); cannot {what} from "
                         "these weights. Use another weights file (or train from scratch).")


def check_weights_fit(saved: SSDConfig, saved_names: Sequence[str], state: Mapping[str, Any], config: SSDConfig,
                      class_names: Sequence[str], path: str | Path, what: str) -> None:
    """Refuse to ``what`` ("resume", "fine-tune") from weights of another model or class list, or holding
    NaN or infinity, with a ValueError naming ``path``, both models and the tensor."""
    if saved.model != config.model or tuple(saved_names) != tuple(class_names):
        raise ValueError(f"'{path}': its model ({saved.model.arch}, width {saved.model.width}, "
                         f"{len(saved_names)} classes) does not match this run's ({config.model.arch}, "
                         f"width {config.model.width}, {len(class_names)} classes)")
    check_finite_state(state, path, what)


def init_from_detector(model: nn.Module, config: SSDConfig, class_names: Sequence[str], path: str | Path) -> None:
    """Load a detector's weights into ``model`` (fine-tuning start).

    Raises:
        ValueError, naming ``path``, when the file's architecture, width, default boxes or class list
        differ from this run's, or when a tensor holds NaN or infinity (named).
    """
    from core.weights import load_state_into, load_weights

    lw = load_weights(path)
    check_weights_fit(lw.config, lw.class_names, lw.state_dict, config, class_names, path, "fine-tune")
    load_state_into(model, lw.state_dict, path)


class EpochLoader(NamedTuple):
    """The training loader of one process: its sampler (``set_epoch`` before each epoch), the loader,
    and the optimizer steps of an epoch."""

    sampler: EpochSampler
    loader: Any
    iters_per_epoch: int


def build_epoch_loader(dataset: Any, cfg: TrainConfig, model: nn.Module, rank: int, world_size: int,
                       device: torch.device) -> EpochLoader:
    """The loader of this process's shard of ``dataset``, seeded by ``cfg.seed``.

    BatchNorm cannot train on a single image (its last feature map is 1x1: one value per channel), so
    for models that have it a trailing batch of one image is left out of every epoch.

    Raises:
        ValueError naming ``--batch-size`` when a model with BatchNorm would train on single images.
    """
    from core.data.loader import build_loader

    samples: Any = CachedImages(dataset) if cfg.cache_images else dataset
    sampler = EpochSampler(len(dataset), seed=cfg.seed, shuffle=True, rank=rank, world_size=world_size)
    shard = sampler.shard_size
    batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if batchnorm and min(cfg.batch_size, shard) < 2:
        raise ValueError(f"{cfg.arch} has BatchNorm layers and trains on at least 2 images per batch; got "
                         f"--batch-size {cfg.batch_size} with {shard} image(s) per process")
    one_left = batchnorm and shard % cfg.batch_size == 1
    loader = build_loader(SeededSamples(samples, cfg.seed), cfg.batch_size, shuffle=False,
                          num_workers=cfg.num_workers, sampler=sampler, seed=cfg.seed,
                          pin_memory=device.type == "cuda", drop_last=one_left)
    iters = shard // cfg.batch_size if one_left else -(-shard // cfg.batch_size)
    return EpochLoader(sampler, loader, iters)
