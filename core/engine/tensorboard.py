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

from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: Validation images drawn into TensorBoard at each validation.
NUM_IMAGES = 4
#: Detections drawn on those images score at least this.
IMAGE_SCORE_THRESH = 0.3


class TensorBoardLog:
    """The run's TensorBoard writer.

    Args:
        run_dir: the run folder (the event files go there, beside ``metrics.csv``).
        resume_iteration: the iteration a resumed run continues from (None for a new run).
    """

    def __init__(self, run_dir: Path, resume_iteration: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events at or after the first step this process logs (an earlier process's) are dropped
        self.writer = SummaryWriter(log_dir=str(run_dir),
                                    purge_step=None if resume_iteration is None else resume_iteration + 1)

    def step(self, iteration: int, loss: float, loc: float, conf: float, lr: float, images_per_s: float,
             data_wait_fraction: float, distill: float | None = None) -> None:
        """The scalars of one optimizer step."""
        w = self.writer
        w.add_scalar("loss/total", loss, iteration)
        w.add_scalar("loss/loc", loc, iteration)
        w.add_scalar("loss/conf", conf, iteration)
        if distill is not None:
            w.add_scalar("loss/distill", distill, iteration)
        w.add_scalar("lr", lr, iteration)
        w.add_scalar("speed/images_per_s", images_per_s, iteration)
        w.add_scalar("speed/data_wait_fraction", data_wait_fraction, iteration)

    def validation(self, iteration: int, val_map: float, model: Any = None, config: Any = None,
                   class_names: Sequence[str] = (), val_index: Any = None, device: Any = None) -> None:
        """The validation mAP and, given the model and the validation data, the first :data:`NUM_IMAGES`
        validation images with the model's boxes drawn (leaves ``model`` in eval mode)."""
        self.writer.add_scalar("val/map_voc07", val_map, iteration)
        images: list[np.ndarray] = []
        if model is not None and val_index is not None:
            images = prediction_images(model, config, class_names, val_index.records[:NUM_IMAGES], device)
        for k, image in enumerate(images):
            self.writer.add_image(f"val/predictions/{k}", image, iteration, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


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
