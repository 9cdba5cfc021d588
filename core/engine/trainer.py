"""The training loop: one function, :func:`train`, used by ``ssd train``, the GUI and ``torchrun``.

    result = train(TrainConfig(data_format="synthetic", out_dir="runs/demo", width=0.125, epochs=4),
                   on_progress=print, should_stop=lambda: False)

Per iteration: match the batch's ground truth to the default boxes (core.matching), run the
network, MultiBox loss (core.loss), backward, optimizer step, scheduler step. The learning rate
warms up linearly over ``warmup_iters`` and is multiplied by ``gamma`` at each milestone (given
as fractions of the run, the paper's 80k/100k/120k VOC schedule being about (2/3, 5/6)).

Run folder (``out_dir``):
    ``last.pt``     resumable: model, optimizer, scheduler, AMP scaler, iteration, RNG states;
                    written atomically every ``checkpoint_every`` iterations, at every epoch end
                    and when stopped;
    ``model.pt``    the final weights (core.load_detector reads it; no optimizer state);
    ``best.pt``     the weights with the best validation mAP so far (if validation runs);
    ``metrics.csv`` one row per iteration (and per validation), see :data:`CSV_COLUMNS`.

A non-finite loss raises :class:`NonFiniteLossError` naming the iteration before anything is
written, so the last checkpoint on disk stays the last good one.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.config import SSDConfig, preset
from core.engine.config import TrainConfig
from core.engine.events import (EventKind, NonFiniteLossError, ProgressFn, StopFn, TrainProgress,
                                TrainResult)
from core.engine.metrics import CSV_COLUMNS, Ema, MetricsCSV
from core.engine.checkpoint import load_training_checkpoint, restore_rng_state, save_training_checkpoint
from core.engine.distributed import (DistInfo, all_reduce_mean, any_rank, barrier, cleanup_distributed,
                                     init_distributed, rank_device)
from core.engine.sampler import EpochSampler, SeededSamples
from core.types import DatasetIndex

# ------------------------------------------------------------------------------------ data

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
    steps += [T.Resize(model_cfg.image_size), T.ToNetworkInput(model_cfg.image_mean)]
    return T.Compose(steps)


def init_from_detector(model: nn.Module, config: SSDConfig, class_names: Sequence[str], path: str | Path) -> None:
    """Load a detector's weights into ``model`` (fine-tuning start).

    Raises:
        ValueError, naming ``path``, when the file's architecture, width, default boxes or class list
        differ from this run's.
    """
    from core.weights import load_state_into, load_weights

    lw = load_weights(path)
    if lw.config.model != config.model or tuple(lw.class_names) != tuple(class_names):
        raise ValueError(f"'{path}': its model ({lw.config.model.arch}, width {lw.config.model.width}, "
                         f"{len(lw.class_names)} classes) does not match this run's ({config.model.arch}, "
                         f"width {config.model.width}, {len(class_names)} classes)")
    load_state_into(model, lw.state_dict, path)


def build_train_dataset(cfg: TrainConfig, model_cfg: Any) -> Any:
    """The training DetectionDataset of ``cfg`` with its transforms (see :func:`build_train_transforms`)."""
    from core.data.loader import build_dataset

    path: Any = cfg.data_path
    if cfg.data_format == "voc" and path and "," in path:
        path = [p for p in path.split(",") if p]
    size = (cfg.synthetic_size, cfg.synthetic_size)
    ds = build_dataset(cfg.data_format, path, cfg.train_split, model_cfg, train=True,
                       count=cfg.synthetic_count, seed=cfg.synthetic_seed, size=size)
    ds.transform = build_train_transforms(model_cfg, cfg.augment)
    return ds


def build_val_index(cfg: TrainConfig, class_names: tuple[str, ...]) -> DatasetIndex | None:
    """The validation ground truth of ``cfg``, or None when validation is off."""
    if cfg.val_split is None:
        return None
    if cfg.data_format == "synthetic":
        from core.data.synthetic import synthetic_index

        return synthetic_index(cfg.val_count, cfg.val_seed, (cfg.synthetic_size, cfg.synthetic_size))
    if cfg.data_format == "voc":
        from core.data.voc import load_voc

        path: Any = cfg.data_path
        if path and "," in path:
            path = [p for p in path.split(",") if p]
        return load_voc(path, cfg.val_split, list(class_names))
    from core.data.coco import load_coco

    return load_coco(cfg.val_split)


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


# ------------------------------------------------------------------------------ optimisation

def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay) as in the paper, or Adam (weight decay as L2, like SGD's)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(iteration: int, total: int, warmup_iters: int, milestones: tuple[float, ...], gamma: float) -> float:
    """Learning-rate multiplier for the step after ``iteration`` steps: linear warm-up, then step decay."""
    warm = min(1.0, (iteration + 1) / warmup_iters) if warmup_iters > 0 else 1.0
    decays = sum(1 for m in milestones if iteration >= int(round(m * total)))
    return warm * gamma ** decays


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: lr_factor(it, total, cfg.warmup_iters, tuple(cfg.milestones), cfg.gamma))


# ----------------------------------------------------------------------------------- trainer

def _resolve_device(device: str) -> torch.device:
    from core.detector import resolve_device

    return resolve_device(device)


class Trainer:
    """One training run. :func:`train` is the public entry; tests use :attr:`model` after :meth:`run`."""

    def __init__(self, cfg: TrainConfig, on_progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> None:
        self.cfg = cfg
        self.on_progress = on_progress
        self.should_stop = should_stop or (lambda: False)
        self.dist: DistInfo = DistInfo()
        self.model: nn.Module | None = None

    # -- helpers
    def _emit(self, kind: EventKind, iteration: int, message: str = "", **kw: Any) -> None:
        """Send one event; fields not given are the run's latest (NaN losses, no mAP)."""
        if self.on_progress is None or not self.dist.is_main:
            return
        values: dict[str, Any] = dict(
            total_iterations=self.total, epoch=min(iteration // self.iters_per_epoch + 1, self.epochs),
            loss=math.nan, loc_loss=math.nan, conf_loss=math.nan, lr=self.optimizer.param_groups[0]["lr"],
            images_per_s=self._rate.value or 0.0, eta_s=math.nan, val_map=None,
            data_wait_fraction=self._wait.value or 0.0)
        values.update(kw)
        self.on_progress(TrainProgress(iteration=iteration, message=message, kind=kind, **values))

    def _check_finite_weights(self, iteration: int) -> None:
        module = self._module
        bad = [n for n, p in module.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise NonFiniteLossError(
                f"weights became non-finite at iteration {iteration} (first: {bad[0]}); nothing was saved, "
                f"the last good checkpoint is {self._last_saved_desc()}; lower the learning rate")

    def _last_saved_desc(self) -> str:
        if self._last_saved_iteration is None:
            return "none (no checkpoint was written yet)"
        return f"'{self.run_dir / 'last.pt'}' (iteration {self._last_saved_iteration})"

    @property
    def _module(self) -> nn.Module:
        assert self.model is not None
        return self.model.module if hasattr(self.model, "module") else self.model

    def _save(self, iteration: int, epoch: int, name: str = "last.pt") -> Path:
        self._check_finite_weights(iteration)
        path = self.run_dir / name
        if self.dist.is_main:
            save_training_checkpoint(path, self.model, self.ssd_config, self.class_names, iteration=iteration,
                                     epoch=epoch, optimizer=self.optimizer, scheduler=self.scheduler,
                                     scaler=self.scaler, train_config=self.cfg.to_dict(), meta=self._meta(iteration))
        if name == "last.pt":
            self._last_saved_iteration = iteration
        return path

    def _export(self, name: str, iteration: int) -> Path:
        from core.weights import save_checkpoint

        path = self.run_dir / name
        if self.dist.is_main:
            save_checkpoint(path, self._module, self.ssd_config, self.class_names, meta=self._meta(iteration))
        return path

    def _meta(self, iteration: int) -> dict[str, Any]:
        return {"iterations": int(iteration), "dataset": self.dataset_name, "data_format": self.cfg.data_format,
                "val_map_voc07": self.best_map, "train_time_s": float(self._elapsed()),
                "train_config": self.cfg.to_dict()}

    def _elapsed(self) -> float:
        return self._elapsed_before + (time.monotonic() - self._t_start)

    def _validate(self, iteration: int) -> float | None:
        # Every rank takes part (if only to wait at the barrier); rank 0 alone evaluates.
        if self.cfg.val_split is None:
            return None
        value = None
        if self.dist.is_main and self.val_index is not None:
            value = validate(self._module, self.ssd_config, self.class_names, self.val_index, self.device,
                             self.cfg.val_batch_size)
        self.model.train()
        barrier(self.dist)
        if value is not None and (self.best_map is None or value > self.best_map):
            self.best_map = value
            self._export("best.pt", iteration)
        return value

    # -- the run
    def run(self) -> TrainResult:
        cfg = self.cfg
        device = _resolve_device(cfg.device)
        if cfg.num_threads is not None:
            torch.set_num_threads(cfg.num_threads)
        self.dist = init_distributed(device)
        try:
            return self._run(rank_device(device, self.dist))
        finally:
            cleanup_distributed(self.dist)

    def _run(self, device: torch.device) -> TrainResult:
        from core.loss import MultiBoxLoss
        from core.matching import BoxCoder, Matcher, build_targets
        from core.model import build_model

        cfg, info = self.cfg, self.dist
        self.device = device
        self.run_dir = Path(cfg.out_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._t_start, self._elapsed_before = time.monotonic(), 0.0
        self._last_saved_iteration: int | None = None
        self.best_map: float | None = None

        ckpt = load_training_checkpoint(cfg.resume) if cfg.resume else None

        # Data first: the class list fixes the classifier's size.
        placeholder = preset(cfg.arch, num_classes=2, priors=cfg.priors, width=cfg.width).model
        dataset = build_train_dataset(cfg, placeholder)
        self.class_names = tuple(dataset.class_names)
        self.dataset_name = dataset.index.name
        self.ssd_config = preset(cfg.arch, num_classes=len(self.class_names), priors=cfg.priors, width=cfg.width)
        if ckpt is not None:
            saved = SSDConfig.from_dict(ckpt["config"], source=str(cfg.resume))
            if saved.model != self.ssd_config.model or tuple(ckpt["class_names"]) != self.class_names:
                raise ValueError(f"'{cfg.resume}': its model ({saved.model.arch}, width {saved.model.width}, "
                                 f"{saved.model.num_classes} classes) does not match this run's "
                                 f"({cfg.arch}, width {cfg.width}, {len(self.class_names)} classes)")
        self.val_index = build_val_index(cfg, self.class_names) if info.is_main else None

        torch.manual_seed(cfg.seed)
        model = build_model(self.ssd_config.model)
        if cfg.backbone_weights and ckpt is None:
            from core.weights import init_backbone_from_vgg16

            init_backbone_from_vgg16(model, cfg.backbone_weights)
        if cfg.init_weights and ckpt is None:
            init_from_detector(model, self.ssd_config, self.class_names, cfg.init_weights)
        model.to(device).train()
        self.model = model
        if info.enabled:
            self.model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)

        samples: Any = CachedImages(dataset) if cfg.cache_images else dataset
        sampler = EpochSampler(len(dataset), seed=cfg.seed, shuffle=True, rank=info.rank, world_size=info.world_size)
        from core.data.loader import build_loader

        loader = build_loader(SeededSamples(samples, cfg.seed), cfg.batch_size, shuffle=False,
                              num_workers=cfg.num_workers, sampler=sampler, seed=cfg.seed,
                              pin_memory=device.type == "cuda")
        iters_per_epoch = -(-sampler.shard_size // cfg.batch_size)
        total = cfg.epochs * iters_per_epoch
        if cfg.max_iterations is not None:
            total = min(total, cfg.max_iterations)

        self.optimizer = build_optimizer(model, cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, total)
        use_amp = cfg.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_amp else None

        iteration = 0
        if ckpt is not None:
            from core.weights import load_state_into

            load_state_into(model, ckpt["model"], str(cfg.resume))
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
            if self.scaler is not None and "scaler" in ckpt:
                self.scaler.load_state_dict(ckpt["scaler"])
            restore_rng_state(ckpt["rng"], str(cfg.resume))
            iteration = int(ckpt["iteration"])
            meta = ckpt.get("meta") or {}
            self.best_map = meta.get("val_map_voc07")
            self._elapsed_before = float(meta.get("train_time_s", 0.0))
            self._last_saved_iteration = iteration
        csv_log = MetricsCSV(self.run_dir / "metrics.csv", iteration if ckpt is not None else None) \
            if info.is_main else None
        self.total, self.iters_per_epoch = total, iters_per_epoch
        self.epochs = -(-total // iters_per_epoch)
        rate, wait, step_time = Ema(), Ema(), Ema()
        self._rate, self._wait = rate, wait
        if ckpt is not None:
            self._emit(EventKind.RESUMED, iteration, f"resumed from '{cfg.resume}' at iteration {iteration}",
                       path=Path(cfg.resume))
        else:
            self._emit(EventKind.STARTED, iteration, f"training on {len(dataset)} images of {self.dataset_name}: "
                       f"{total} iterations of {cfg.batch_size * info.world_size} images")

        matcher, coder, criterion = Matcher(self.ssd_config.matcher), BoxCoder(self.ssd_config.model.variances), \
            MultiBoxLoss(self.ssd_config.loss)
        priors = model.priors(device)
        last_val: float | None = None
        stopped = False
        val_every = cfg.val_every_epochs

        try:
            while iteration < total and not stopped:
                epoch = iteration // iters_per_epoch
                sampler.set_epoch(epoch, start=(iteration % iters_per_epoch) * cfg.batch_size)
                t_wait = time.monotonic()
                for batch in loader:
                    t_got = time.monotonic()
                    batch = batch.to(device, non_blocking=True)
                    lr = self.optimizer.param_groups[0]["lr"]
                    target_labels, target_deltas = build_targets(matcher, coder, batch.boxes, batch.labels, priors)
                    with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                        logits, deltas = self.model(batch.images)
                    out = criterion(logits, deltas, target_labels, target_deltas)
                    terms = all_reduce_mean(torch.stack([out.total.detach(), out.loc.detach(), out.conf.detach()]).float(),
                                            info)
                    loss_v, loc_v, conf_v = (float(v) for v in terms.cpu())
                    if not all(math.isfinite(v) for v in (loss_v, loc_v, conf_v)):
                        raise NonFiniteLossError(
                            f"non-finite loss at iteration {iteration + 1} (epoch {epoch + 1}): total={loss_v}, "
                            f"loc={loc_v}, conf={conf_v} (lr {lr:g}). Training stopped; the last good checkpoint "
                            f"is {self._last_saved_desc()}. Lower the learning rate or check the data.")
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.scaler is not None:
                        self.scaler.scale(out.total).backward()
                        self.scaler.step(self.optimizer)
                        self.scaler.update()
                    else:
                        out.total.backward()
                        self.optimizer.step()
                    self.scheduler.step()
                    iteration += 1

                    t_end = time.monotonic()
                    dt = max(t_end - t_wait, 1e-9)
                    ips = rate.update(len(batch) * info.world_size / dt)
                    wfrac = wait.update((t_got - t_wait) / dt)
                    spi = step_time.update(dt)
                    eta = spi * (total - iteration)
                    epoch_done = iteration % iters_per_epoch == 0 or iteration == total
                    val_now = None
                    if epoch_done and cfg.val_split is not None:
                        ep = (iteration - 1) // iters_per_epoch + 1
                        if iteration == total or (val_every > 0 and ep % val_every == 0):
                            val_now = self._validate(iteration)
                            last_val = val_now if val_now is not None else last_val
                    row = {"iteration": iteration, "epoch": epoch + 1, "loss": loss_v, "loc_loss": loc_v,
                           "conf_loss": conf_v, "lr": lr, "images_per_s": ips, "data_wait_fraction": wfrac,
                           "val_map": val_now, "elapsed_s": round(self._elapsed(), 3)}
                    if csv_log is not None:
                        csv_log.write(row)
                    stop_now = any_rank(bool(self.should_stop()) if info.is_main else False, device, info)
                    saved = None
                    if (cfg.checkpoint_every and iteration % cfg.checkpoint_every == 0) or epoch_done or stop_now:
                        saved = self._save(iteration, epoch + (1 if epoch_done else 0))
                    stopped = stop_now
                    self._emit(EventKind.STEP, iteration, epoch=epoch + 1, loss=loss_v, loc_loss=loc_v,
                               conf_loss=conf_v, lr=lr, images_per_s=ips, eta_s=eta, data_wait_fraction=wfrac)
                    if val_now is not None:
                        self._emit(EventKind.VALIDATED, iteration, f"validation VOC07 mAP@0.5 = {val_now:.4f}",
                                   epoch=epoch + 1, val_map=val_now, lr=lr, eta_s=eta)
                    if saved is not None:
                        self._emit(EventKind.CHECKPOINT_SAVED, iteration, f"checkpoint saved: {saved}",
                                   epoch=epoch + 1, path=saved, lr=lr, eta_s=eta)
                    if stopped or iteration >= total or epoch_done:
                        break
                    t_wait = time.monotonic()
        finally:
            if csv_log is not None:
                csv_log.close()

        final = self._export("model.pt", iteration)
        if not stopped and self.cfg.val_split is None and self.dist.is_main:
            self._export("best.pt", iteration)
        barrier(info)
        if stopped:
            last = self.run_dir / "last.pt"
            self._emit(EventKind.STOPPED, iteration, f"stopped at iteration {iteration}; resume with --resume "
                       f"'{last}'", path=last)
        else:
            self._emit(EventKind.FINISHED, iteration, f"finished after {iteration} iterations; model -> {final}",
                       path=final)
        return TrainResult(run_dir=self.run_dir, checkpoint=final, iterations=iteration, stopped=stopped,
                           val_map=last_val, metrics_csv=self.run_dir / "metrics.csv")


def train(cfg: TrainConfig, on_progress: ProgressFn | None = None,
          should_stop: StopFn | None = None) -> TrainResult:
    """Train an SSD as ``cfg`` says; see the module docstring for what the run folder holds.

    Args:
        cfg: the run.
        on_progress: called on rank 0 after every iteration (and on resume) with a TrainProgress.
        should_stop: polled between iterations; when it returns True a checkpoint is saved and
            the function returns with ``stopped=True``.

    Raises:
        NonFiniteLossError: the loss became NaN/inf (the message names the iteration).
        ValueError / FileNotFoundError: bad configuration or data (naming the file).
    """
    return Trainer(cfg, on_progress, should_stop).run()


def config_with(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    """A copy of ``cfg`` with some fields changed (validated again)."""
    return replace(cfg, **changes)
