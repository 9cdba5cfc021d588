"""The training loop: one function, :func:`train`, used by ``ssd train``, the GUI and ``torchrun``.

    result = train(TrainConfig(data_format="synthetic", out_dir="runs/demo", width=0.125, epochs=4),
                   on_progress=print, should_stop=lambda: False)

:meth:`Trainer._run` reads in one screen: build (data, model, loader, optimiser, schedule), resume,
then per iteration a train step (match the batch's ground truth to the default boxes, network,
MultiBox loss, backward, optimizer and scheduler step) and the end of the step (log, validate at
epoch ends, checkpoint, stop). The schedule is in core.engine.schedule, events in core.engine.events.

Run folder (``out_dir``; a folder holding another run is refused, see core.engine.rundir):
    ``last.pt``     resumable: model, optimizer, scheduler, AMP scaler, iteration, RNG states, schedule;
                    written atomically every ``checkpoint_every`` iterations, at epoch ends, when stopped;
    ``model.pt``    the final weights (core.load_detector reads it; no optimizer state);
    ``best.pt``     the weights with the best validation mAP so far (if validation runs);
    ``metrics.csv`` one row per iteration, see core.engine.metrics;
    ``events.out.tfevents.*``  the same curves, validation images with predicted boxes, for
                    ``tensorboard --logdir`` (core.engine.tensorboard).

With ``distill_teacher`` the loss has a third term, the teacher's soft class scores on the matched
priors (core.engine.distill).

A non-finite loss raises :class:`NonFiniteLossError` naming the iteration before anything is
written, so the last checkpoint on disk stays the last good one.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from core.config import SSDConfig, preset
from core.engine.checkpoint import load_training_checkpoint, restore_rng_state, save_training_checkpoint
from core.engine.config import TrainConfig
from core.engine.data import (build_epoch_loader, build_train_dataset, build_val_index, check_has_objects,
                              check_weights_fit, dataset_warnings, first_non_finite, init_from_detector, validate)
from core.engine.distributed import (DistInfo, all_reduce_mean, any_rank, barrier, cleanup_distributed,
                                     init_distributed, rank_device)
from core.engine.events import (EventKind, NonFiniteLossError, ProgressFn, StepOut, StopFn, TrainProgress,
                                TrainResult)
from core.engine.metrics import Ema, MetricsCSV
from core.engine.rundir import check_run_dir, check_run_inputs, prepare_run_dir, remove_if_empty
from core.engine.schedule import (build_optimizer, build_scheduler, optimizer_step, resumed_schedule_warnings,
                                  schedule_for, validation_due)
from core.ssd.loss import MultiBoxLoss
from core.ssd.matching import BoxCoder, Matcher, build_targets
from core.model import build_model

__all__ = ["Trainer", "train", "validate"]


class Trainer:
    """One training run. :func:`train` is the public entry; tests use :attr:`model` after :meth:`run`."""

    def __init__(self, cfg: TrainConfig, on_progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> None:
        self.cfg = cfg
        self.on_progress = on_progress
        self.should_stop = should_stop or (lambda: False)
        self.dist: DistInfo = DistInfo()
        self.model: nn.Module | None = None
        self.run_dir = Path(cfg.out_dir).expanduser()
        self.stopped = False
        self.best_map: float | None = None
        self.last_val: float | None = None
        self._last_saved_iteration: int | None = None
        self._warnings: list[str] = []
        self._rate, self._wait, self._step_time = Ema(), Ema(), Ema()

    # ------------------------------------------------------------------------------ the run
    def run(self) -> TrainResult:
        from core.detector import resolve_device

        cfg = self.cfg
        check_run_dir(self.run_dir, cfg.resume, cfg.overwrite)  # before any work
        check_run_inputs(self.run_dir, cfg.model_inputs())  # the run never replaces a file it reads
        device = resolve_device(cfg.device)
        if cfg.num_threads is not None:
            torch.set_num_threads(cfg.num_threads)
        created = not self.run_dir.exists()
        self.dist = init_distributed(device)
        try:
            return self._run(rank_device(device, self.dist))
        except BaseException:
            if created:  # a start that failed (a bad resume file, bad data) leaves no empty folder
                remove_if_empty(self.run_dir)
            raise
        finally:
            cleanup_distributed(self.dist)

    def _run(self, device: torch.device) -> TrainResult:
        ckpt = self._build(device)
        iteration = self._resume(ckpt)
        self._open_run_dir(iteration, resumed=ckpt is not None)
        try:
            while iteration < self.total and not self.stopped:
                for batch, t_wait, t_got in self._batches(iteration):
                    step = self._train_step(batch, iteration)
                    iteration += 1
                    if self._end_of_step(iteration, step, t_wait, t_got):
                        break
        finally:
            if self.csv_log is not None:
                self.csv_log.close()
            if self.tb is not None:
                self.tb.close()
        return self._finish(iteration)

    # ------------------------------------------------------------------------------ build
    def _build(self, device: torch.device) -> dict[str, Any] | None:
        """Data, model, loader, optimiser and schedule; returns the checkpoint to resume from (or None)."""
        cfg = self.cfg
        self.device = device
        self._t_start, self._elapsed_before = time.monotonic(), 0.0
        ckpt = load_training_checkpoint(cfg.resume) if cfg.resume else None
        self._build_data(ckpt)
        self._build_model(ckpt)
        self._build_loader()
        self.optimizer = build_optimizer(self._module, cfg)
        self.milestone_iters = schedule_for(cfg, self.total, self.iters_per_epoch, ckpt)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.milestone_iters)
        if ckpt is not None:
            self._warnings += resumed_schedule_warnings(self.milestone_iters, self.total, ckpt, str(cfg.resume))
        use_amp = cfg.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_amp else None
        return ckpt

    def _build_data(self, ckpt: dict[str, Any] | None) -> None:
        # Data first: the class list fixes the classifier's size.
        cfg = self.cfg
        placeholder = preset(cfg.arch, num_classes=2, priors=cfg.priors, width=cfg.width).model
        self.dataset = build_train_dataset(cfg, placeholder)
        check_has_objects(self.dataset)
        self.class_names = tuple(self.dataset.class_names)
        self.dataset_name = self.dataset.index.name
        self.ssd_config = preset(cfg.arch, num_classes=len(self.class_names), priors=cfg.priors, width=cfg.width)
        if ckpt is not None:
            check_weights_fit(SSDConfig.from_dict(ckpt["config"], source=str(cfg.resume)), ckpt["class_names"],
                              ckpt["model"], self.ssd_config, self.class_names, cfg.resume, "resume")
        self.val_index = build_val_index(cfg, self.class_names) if self.dist.is_main else None
        self._warnings += dataset_warnings(self.dataset.index, "training")
        if self.val_index is not None:
            self._warnings += dataset_warnings(self.val_index, "validation")

    def _build_model(self, ckpt: dict[str, Any] | None) -> None:
        cfg, device = self.cfg, self.device
        torch.manual_seed(cfg.seed)
        model = build_model(self.ssd_config.model)
        if cfg.backbone_weights and ckpt is None:
            from core.weights.backbones import init_backbone

            init_backbone(model, cfg.backbone_weights)
        if cfg.init_weights and ckpt is None:
            init_from_detector(model, self.ssd_config, self.class_names, cfg.init_weights)
        model.to(device).train()
        self.model = model
        if self.dist.enabled:
            self.model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        c = self.ssd_config
        self.matcher, self.coder, self.criterion = Matcher(c.matcher), BoxCoder(c.model.variances), MultiBoxLoss(c.loss)
        self.priors = model.priors(device)
        from core.engine.distill import build_distiller

        self.distiller = build_distiller(cfg, c, self.class_names, self.priors, device)  # None without a teacher

    def _build_loader(self) -> None:
        cfg = self.cfg
        self.sampler, self.loader, self.iters_per_epoch = build_epoch_loader(
            self.dataset, cfg, self._module, self.dist.rank, self.dist.world_size, self.device)
        self.total = cfg.epochs * self.iters_per_epoch
        if cfg.max_iterations is not None:
            self.total = min(self.total, cfg.max_iterations)

    # ------------------------------------------------------------------------------ resume
    def _resume(self, ckpt: dict[str, Any] | None) -> int:
        """Put the checkpoint's weights, optimiser, schedule and RNG states back; its iteration (0 if new)."""
        if ckpt is None:
            return 0
        from core.weights import load_state_into

        source = str(self.cfg.resume)
        load_state_into(self._module, ckpt["model"], source)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        restore_rng_state(ckpt["rng"], source)
        meta = ckpt.get("meta") or {}
        self.best_map = meta.get("val_map_voc07")
        self._elapsed_before = float(meta.get("train_time_s", 0.0))
        self._last_saved_iteration = int(ckpt["iteration"])
        return int(ckpt["iteration"])

    def _open_run_dir(self, iteration: int, resumed: bool) -> None:
        """Clean the folder (the overwritten run, a kill's temp files), open metrics.csv, say we started."""
        self.csv_log: MetricsCSV | None = None
        self.tb: Any = None
        if self.dist.is_main:
            from core.engine.tensorboard import TensorBoardLog

            self._warnings[:0] = prepare_run_dir(self.run_dir, self.cfg.overwrite, resumed)
            history = Path(self.cfg.resume).expanduser().parent / "metrics.csv" if resumed else None
            self.csv_log = MetricsCSV(self.run_dir / "metrics.csv", iteration if resumed else None, history)
            self.tb = TensorBoardLog(self.run_dir, iteration if resumed else None,
                                     lambda at, message: self._emit(EventKind.WARNING, at, message))
        if resumed:
            self._emit(EventKind.RESUMED, iteration, f"resumed from '{self.cfg.resume}' at iteration {iteration}",
                       path=Path(self.cfg.resume))
        else:
            self._emit(EventKind.STARTED, iteration, f"training on {len(self.dataset)} images of "
                       f"{self.dataset_name}: {self.total} iterations of {self.cfg.batch_size * self.dist.world_size} "
                       "images")
        for w in self._warnings:
            self._emit(EventKind.WARNING, iteration, w)

    # ------------------------------------------------------------------------------ one step
    def _batches(self, iteration: int) -> Iterator[tuple[Any, float, float]]:
        """The rest of the epoch of ``iteration``: (batch, time the wait for it began, time it came)."""
        ipe = self.iters_per_epoch
        self.sampler.set_epoch(iteration // ipe, start=(iteration % ipe) * self.cfg.batch_size)
        t_wait = time.monotonic()
        for batch in self.loader:
            yield batch, t_wait, time.monotonic()
            t_wait = time.monotonic()

    def _train_step(self, batch: Any, iteration: int) -> StepOut:
        """Match, forward, loss, backward, optimizer and scheduler step; raises on a non-finite loss."""
        device = self.device
        batch = batch.to(device, non_blocking=True)
        lr = self.optimizer.param_groups[0]["lr"]
        labels, deltas_t = build_targets(self.matcher, self.coder, batch.boxes, batch.labels, self.priors)
        with torch.autocast(device.type, dtype=torch.float16, enabled=self.scaler is not None):
            logits, deltas = self.model(batch.images)
        out = self.criterion(logits, deltas, labels, deltas_t)
        total, distill = out.total, None
        if self.distiller is not None:
            distill_term = self.distiller(batch.images, logits, labels)
            total = total + distill_term
            distill = float(all_reduce_mean(distill_term.detach().float(), self.dist))
        terms = all_reduce_mean(torch.stack([total.detach(), out.loc.detach(), out.conf.detach()]).float(),
                                self.dist)
        loss, loc, conf = (float(v) for v in terms.cpu())
        if not all(math.isfinite(v) for v in (loss, loc, conf)):
            raise NonFiniteLossError(
                f"non-finite loss at iteration {iteration + 1} (epoch {iteration // self.iters_per_epoch + 1}): "
                f"total={loss}, loc={loc}, conf={conf} (lr {lr:g}). Training stopped; the last good checkpoint "
                f"is {self._last_saved_desc()}. Lower the learning rate or check the data.")
        optimizer_step(total, self.optimizer, self.scheduler, self.scaler)
        return StepOut(loss, loc, conf, lr, len(batch), distill)

    def _end_of_step(self, iteration: int, step: StepOut, t_wait: float, t_got: float) -> bool:
        """Log, validate (epoch ends), checkpoint, poll for a stop; True when this epoch's loop ends."""
        cfg, ipe = self.cfg, self.iters_per_epoch
        dt = max(time.monotonic() - t_wait, 1e-9)
        ips = self._rate.update(step.images * self.dist.world_size / dt)
        wait = self._wait.update((t_got - t_wait) / dt)
        eta = self._step_time.update(dt) * (self.total - iteration)
        epoch = (iteration - 1) // ipe  # 0-based epoch of this step
        epoch_done = iteration % ipe == 0 or iteration == self.total
        val = self._validate_if_due(iteration)
        if self.csv_log is not None:
            self.csv_log.write({"iteration": iteration, "epoch": epoch + 1, "loss": step.loss, "loc_loss": step.loc,
                                "conf_loss": step.conf, "lr": step.lr, "images_per_s": ips,
                                "data_wait_fraction": wait, "val_map": val, "elapsed_s": round(self._elapsed(), 3),
                                "distill_loss": step.distill})
        if self.tb is not None:
            self.tb.step(iteration, step.loss, step.loc, step.conf, step.lr, ips, wait, step.distill)
        stop = any_rank(bool(self.should_stop()) if self.dist.is_main else False, self.device, self.dist)
        due = cfg.checkpoint_every and iteration % cfg.checkpoint_every == 0
        saved = self._save(iteration, epoch + (1 if epoch_done else 0)) if due or epoch_done or stop else None
        common = dict(epoch=epoch + 1, lr=step.lr, eta_s=eta)
        self._emit(EventKind.STEP, iteration, loss=step.loss, loc_loss=step.loc, conf_loss=step.conf,
                   images_per_s=ips, data_wait_fraction=wait, **common)
        if val is not None:
            self._emit(EventKind.VALIDATED, iteration, f"validation VOC07 mAP@0.5 = {val:.4f}", val_map=val, **common)
        if saved is not None:
            self._emit(EventKind.CHECKPOINT_SAVED, iteration, f"checkpoint saved: {saved}", path=saved, **common)
        self.stopped = stop
        return stop or iteration >= self.total or epoch_done

    # ------------------------------------------------------------------------------ validate, save, finish
    def _validate_if_due(self, iteration: int) -> float | None:
        if self.cfg.val_split is None or not validation_due(iteration, self.total, self.iters_per_epoch,
                                                            self.cfg.val_every_epochs):
            return None
        # Every rank takes part (if only to wait at the barrier); rank 0 alone evaluates.
        value = None
        if self.dist.is_main and self.val_index is not None:
            value = validate(self._module, self.ssd_config, self.class_names, self.val_index, self.device,
                             self.cfg.val_batch_size)
            if self.tb is not None:
                self.tb.validation(iteration, value, self._module, self.ssd_config, self.class_names, self.val_index,
                                   self.device)
        self.model.train()
        barrier(self.dist)
        if value is not None:
            self.last_val = value
            if self.best_map is None or value > self.best_map:
                self.best_map = value
                self._export("best.pt", iteration)
        return value

    def _save(self, iteration: int, epoch: int) -> Path:
        """Write ``last.pt``; a failed write (a full disk) says that the previous one is intact."""
        self._check_finite_weights(iteration)
        path = self.run_dir / "last.pt"
        if self.dist.is_main:
            save_training_checkpoint(
                path, self.model, self.ssd_config, self.class_names, iteration=iteration, epoch=epoch,
                optimizer=self.optimizer, scheduler=self.scheduler, scaler=self.scaler,
                train_config=self.cfg.to_dict(), meta=self._meta(iteration),
                schedule={"milestone_iters": list(self.milestone_iters), "total_iterations": self.total},
                previous_iteration=self._last_saved_iteration)
        self._last_saved_iteration = iteration
        return path

    def _finish(self, iteration: int) -> TrainResult:
        final = self._export("model.pt", iteration)
        if not self.stopped and self.cfg.val_split is None:
            self._export("best.pt", iteration)
        barrier(self.dist)
        last = self.run_dir / "last.pt"
        if self.stopped:
            self._emit(EventKind.STOPPED, iteration, f"stopped at iteration {iteration}; resume from {last}", path=last)
        else:
            self._emit(EventKind.FINISHED, iteration, f"finished after {iteration} iterations; model {final}",
                       path=final)
        return TrainResult(run_dir=self.run_dir, checkpoint=final, iterations=iteration, stopped=self.stopped,
                           val_map=self.last_val, metrics_csv=self.run_dir / "metrics.csv")

    # ------------------------------------------------------------------------------ helpers
    def _emit(self, kind: EventKind, iteration: int, message: str = "", **kw: Any) -> None:
        """Send one event; fields not given are the run's latest (NaN losses, no mAP)."""
        if self.on_progress is None or not self.dist.is_main:
            return
        epochs = -(-self.total // self.iters_per_epoch)
        values: dict[str, Any] = dict(
            total_iterations=self.total, epoch=min(iteration // self.iters_per_epoch + 1, epochs),
            loss=math.nan, loc_loss=math.nan, conf_loss=math.nan, lr=self.optimizer.param_groups[0]["lr"],
            images_per_s=self._rate.value or 0.0, eta_s=math.nan, val_map=None,
            data_wait_fraction=self._wait.value or 0.0)
        values.update(kw)
        self.on_progress(TrainProgress(iteration=iteration, message=message, kind=kind, **values))

    def _check_finite_weights(self, iteration: int) -> None:
        bad = first_non_finite(dict(self._module.named_parameters()))
        if bad is not None:
            raise NonFiniteLossError(
                f"weights became non-finite at iteration {iteration} (first: {bad}); nothing was saved, "
                f"the last good checkpoint is {self._last_saved_desc()}; lower the learning rate")

    def _last_saved_desc(self) -> str:
        if self._last_saved_iteration is None:
            return "none (no checkpoint was written yet)"
        return f"'{self.run_dir / 'last.pt'}' (iteration {self._last_saved_iteration})"

    @property
    def _module(self) -> nn.Module:
        assert self.model is not None
        return self.model.module if hasattr(self.model, "module") else self.model

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


def train(cfg: TrainConfig, on_progress: ProgressFn | None = None,
          should_stop: StopFn | None = None) -> TrainResult:
    """Train an SSD as ``cfg`` says; see the module docstring for what the run folder holds.

    Args:
        cfg: the run.
        on_progress: called on rank 0 with a TrainProgress for every event (see core.engine.events).
        should_stop: polled after every step; when it returns True a checkpoint is saved and
            the function returns with ``stopped=True``.

    Raises:
        RunExistsError: ``out_dir`` holds another run (neither ``resume`` nor ``overwrite``).
        NonFiniteLossError: the loss became NaN/inf (the message names the iteration).
        ValueError / FileNotFoundError: bad configuration or data (naming the file).
        OSError: a file could not be written (a full disk: the previous checkpoint is intact).
    """
    return Trainer(cfg, on_progress, should_stop).run()
