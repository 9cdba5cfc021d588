"""TensorBoard event files for every training run, next to ``metrics.csv`` (``tensorboard --logdir RUNS``).

Written through ``torch.utils.tensorboard.SummaryWriter`` into the run folder:

* every step: ``loss/total``, ``loss/loc``, ``loss/conf`` (and ``loss/distill`` when distilling),
  ``lr``, ``speed/images_per_s``, ``speed/data_wait_fraction``;
* every validation: ``val/map_voc07`` and ``val/predictions``, a few validation images with the
  model's detections drawn (score >= :data:`IMAGE_SCORE_THRESH`), so one sees what the mAP means.

The step is the iteration, as in ``metrics.csv``. A resumed run opens the writer with
``purge_step`` = the checkpoint's iteration + 1, so TensorBoard drops what an earlier process logged
past the checkpoint (steps it does not hold), as ``metrics.csv`` drops those rows.
"""
from __future__ import annotations

import contextlib
import errno
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from core.io.fileio import describe_os_error, free_space_note

#: Validation images drawn into TensorBoard at each validation.
NUM_IMAGES = 4
#: Detections drawn on those images score at least this.
IMAGE_SCORE_THRESH = 0.3


class TensorBoardLog:
    """The run's TensorBoard writer.

    TensorBoard is a view of the run, not the run: when its event file cannot be written (a full disk),
    ``on_problem(iteration, message)`` is told once, in one line naming the file and the room left,
    logging stops, and training goes on (``metrics.csv`` and the checkpoints say what they say).

    Args:
        run_dir: the run folder (the event files go there, beside ``metrics.csv``).
        resume_iteration: the iteration a resumed run continues from (None for a new run).
        on_problem: called once with (iteration, message) when the writer fails.
    """

    def __init__(self, run_dir: Path, resume_iteration: int | None = None,
                 on_problem: Callable[[int, str], None] | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        _quiet_writer_thread()
        self.run_dir, self._on_problem = Path(run_dir), on_problem
        self.problem: str | None = None
        self._iteration = resume_iteration or 0
        # purge_step: events at or after the first step this process logs (an earlier process's) are dropped
        self.writer: Any = SummaryWriter(log_dir=str(run_dir),
                                         purge_step=None if resume_iteration is None else resume_iteration + 1)

    def step(self, iteration: int, loss: float, loc: float, conf: float, lr: float, images_per_s: float,
             data_wait_fraction: float, distill: float | None = None) -> None:
        """The scalars of one optimizer step."""
        values = {"loss/total": loss, "loss/loc": loc, "loss/conf": conf, "loss/distill": distill, "lr": lr,
                  "speed/images_per_s": images_per_s, "speed/data_wait_fraction": data_wait_fraction}
        with self._guard(iteration) as w:
            for tag, value in values.items():
                if value is not None:  # no teacher, no distillation term
                    w.add_scalar(tag, value, iteration)

    def validation(self, iteration: int, val_map: float, model: Any = None, config: Any = None,
                   class_names: Sequence[str] = (), val_index: Any = None, device: Any = None) -> None:
        """The validation mAP and, given the model and the validation data, the first :data:`NUM_IMAGES`
        validation images with the model's boxes drawn (leaves ``model`` in eval mode)."""
        if self.writer is None:
            return
        images: list[np.ndarray] = []
        if model is not None and val_index is not None:
            images = prediction_images(model, config, class_names, val_index.records[:NUM_IMAGES], device)
        with self._guard(iteration) as w:
            w.add_scalar("val/map_voc07", val_map, iteration)
            for k, image in enumerate(images):
                w.add_image(f"val/predictions/{k}", image, iteration, dataformats="HWC")
            w.flush()

    def close(self) -> None:
        with self._guard(self._iteration) as w:
            w.close()
        self.writer = None

    @contextlib.contextmanager
    def _guard(self, iteration: int) -> Iterator[Any]:
        """The writer, or a sink when it failed; a write error stops the logging and is told once."""
        self._iteration = max(self._iteration, iteration)
        if self.writer is None:
            yield _Sink()
            return
        try:
            yield self.writer
        except OSError as exc:
            writer, self.writer = self.writer, None
            with contextlib.suppress(Exception):  # its thread died with the same error; let it go
                writer.close()
            file = self._event_file(writer)
            room = f"; {free_space_note(file.parent)}" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            self.problem = (f"TensorBoard: could not write its event file {file}: {describe_os_error(exc)}{room}; "
                            f"TensorBoard logging stopped, training goes on (metrics.csv keeps the curves)")
            if self._on_problem is not None:
                self._on_problem(iteration, self.problem)

    def _event_file(self, writer: Any) -> Path:
        name = getattr(getattr(getattr(writer, "file_writer", None), "event_writer", None), "_file_name", None)
        return Path(name) if name else self.run_dir / "events.out.tfevents.*"


class _Sink:
    """Takes what a failed writer would have written."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def _quiet_writer_thread() -> None:
    """Keep the traceback of TensorBoard's writer thread off the terminal when its write fails.

    The thread (``_AsyncWriterThread``) re-raises the OSError after storing it, and the writer raises
    that same error in the training thread at its next call, where :class:`TensorBoardLog` reports it
    in one line; only this thread's copy is silenced, every other thread's error reaches the
    hook that was installed before.
    """
    if getattr(threading.excepthook, "_ssd_tensorboard", False):
        return
    previous = threading.excepthook

    def hook(args: Any) -> None:
        if type(args.thread).__name__ == "_AsyncWriterThread" and isinstance(args.exc_value, OSError):
            return
        previous(args)

    hook._ssd_tensorboard = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def prediction_images(model: Any, config: Any, class_names: Sequence[str], records: Sequence[Any],
                      device: Any) -> list[np.ndarray]:
    """``records``' images with ``model``'s detections drawn: uint8 [H, W, 3] RGB each.

    Leaves ``model`` in eval mode (the caller switches it back to training, as after validation).
    """
    from core.data.loader import read_image_rgb
    from core.detector import Detector
    from core.io.drawing import draw_detections

    if not records:
        return []
    detector = Detector(model, config, class_names, device=device)
    images = [read_image_rgb(r) for r in records]
    dets = detector.detect(images, score_thresh=IMAGE_SCORE_THRESH)
    return [draw_detections(img, d, class_names) for img, d in zip(images, dets)]


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a run folder's event files, by tag: [(step, value), ...] in step order
    (TensorBoard's own event reader; what ``tensorboard --logdir`` shows)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


__all__ = ["TensorBoardLog", "prediction_images", "read_scalars", "NUM_IMAGES", "IMAGE_SCORE_THRESH"]
