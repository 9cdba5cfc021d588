"""Running a detector over a dataset to get detections for evaluation."""
from __future__ import annotations

from typing import Any, Callable

from core.types import DatasetIndex, Detections


class EvaluationCancelled(RuntimeError):
    """``should_stop`` asked to stop; partial detections are not evaluated (they would give a wrong mAP)."""


def run_detector(detector: Any, gt: DatasetIndex, batch_size: int = 8,
                 on_progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 score_thresh: float | None = None) -> dict[Any, Detections]:
    """Detect on every image of ``gt``.

    Args:
        detector: a :class:`core.detector.Detector` (``detect(list of HxWx3 uint8 RGB)``).
        gt: the dataset; pixels come from :func:`core.data.loader.read_image_rgb` (image files,
            or re-rendered synthetic scenes).
        batch_size: images per ``detect`` call.
        on_progress: called with (images done, total) after each batch.
        should_stop: polled between batches; True raises :class:`EvaluationCancelled`.
        score_thresh: overrides the detector's score threshold (VOC evaluations use 0.01).

    Returns:
        ``{image_id: Detections}``; labels index ``detector.class_names``, boxes x1, y1, x2, y2
        in pixels of the original image.
    """
    from core.data.loader import read_image_rgb

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    records = gt.records
    out: dict[Any, Detections] = {}
    for start in range(0, len(records), batch_size):
        if should_stop is not None and should_stop():
            raise EvaluationCancelled(f"stopped after {start} of {len(records)} images")
        batch = records[start:start + batch_size]
        images = [read_image_rgb(r) for r in batch]
        for rec, img, det in zip(batch, images, detector.detect(images, score_thresh=score_thresh)):
            if img.shape[0] != rec.height or img.shape[1] != rec.width:
                # boxes come back in pixels of the decoded image; the GT is in annotated pixels
                raise ValueError(f"{rec.file}: image is {img.shape[1]}x{img.shape[0]} but annotated as "
                                 f"{rec.width}x{rec.height} (image id {rec.image_id!r})")
            out[rec.image_id] = det
        if on_progress is not None:
            on_progress(min(start + batch_size, len(records)), len(records))
    return out
