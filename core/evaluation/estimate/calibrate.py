"""The calibration meta-set: labelled images like the model's own data, shifted by every corruption of
the family at every severity, each copy scored for the model's true mAP and for the signals.

    data = calibration_data(detector.meta, "model.pt")              # what the checkpoint records
    data = calibration_data({}, "model.pt", path="data/VOC2007")    # or a VOC folder / COCO JSON
    sets = build_meta_set(detector, data, SignalSettings(), metric="voc07", on_progress=print)

Where the images come from (:func:`calibration_data`): a folder or file given by the user (a VOC folder
or a COCO annotation JSON), else the validation data the checkpoint's ``meta["train_config"]`` records
(synthetic scenes are re-rendered from their seed; a VOC image set or COCO JSON is read where the
checkpoint says), else its training data; when none of that is on this machine, a ValueError says to
pass ``--calibration-data``. At most ``count`` images are used, spread evenly over the data.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.engine.config import COPY_SEED_STRIDE
from core.evaluation.estimate.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from core.evaluation.estimate.fit import CalibrationSet
from core.evaluation.estimate.scoring import SignalSettings, measure_images
from core.jobs import ProgressFn, StopFn, check_stop, report
from core.types import DatasetIndex

#: Images per calibration set (each set is these images under one corruption and severity).
DEFAULT_IMAGES = 100
#: Fewer labelled images than this cannot calibrate (the mAP of a set would be mostly chance).
MIN_IMAGES = 20


@dataclass(frozen=True)
class CalibrationData:
    """The labelled images a calibration shifts.

    Attributes:
        gt: the records used (at most ``count``, spread over the source).
        description: where they come from, in words.
        key: plain values that identify the images (part of the calibration's cache key).
    """

    gt: DatasetIndex = field(repr=False)
    description: str
    key: dict[str, Any]


def _content_key(gt: DatasetIndex) -> str:
    """A hash of the records' ids, sizes, boxes and labels: the same annotations give the same key."""
    h = hashlib.sha256()
    for r in gt.records:
        h.update(f"{r.image_id}|{r.width}x{r.height}|".encode())
        h.update(np.ascontiguousarray(r.boxes, np.float64).tobytes())
        h.update(np.ascontiguousarray(r.labels, np.int64).tobytes())
    return h.hexdigest()[:20]


def _spread(gt: DatasetIndex, count: int) -> DatasetIndex:
    n = len(gt.records)
    keep = list(range(n)) if n <= count else sorted({int(round(v)) for v in np.linspace(0, n - 1, count)})
    return DatasetIndex(name=gt.name, source=gt.source, class_names=gt.class_names,
                        records=[gt.records[i] for i in keep], warnings=list(gt.warnings),
                        category_ids=gt.category_ids)


def _recorded(meta: dict[str, Any], count: int) -> tuple[Any, str] | tuple[None, str]:
    """(the DatasetSpec of the data ``meta["train_config"]`` records, in words) or (None, why not)."""
    from core.data.index import DatasetSpec

    tc = meta.get("train_config") if isinstance(meta, dict) else None
    if not isinstance(tc, dict):
        return None, "its checkpoint records no training data"
    kind, path = tc.get("data_format"), tc.get("data_path")
    val = tc.get("val_split")
    if kind == "synthetic":
        size = int(tc.get("synthetic_size", 300))
        if val is not None:
            n, seed = min(count, int(tc.get("val_count", count))), int(tc.get("val_seed", 0))
            return DatasetSpec("synthetic", count=n, seed=seed, size=size), \
                f"{n} of its validation scenes (synthetic, seed {seed})"
        n, seed = min(count, int(tc.get("synthetic_count", count))), int(tc.get("synthetic_seed", 0))
        return DatasetSpec("synthetic", count=n, seed=seed, size=size), f"{n} of its training scenes (seed {seed})"
    if kind == "voc" and path:
        roots = [Path(p) for p in str(path).split(",")]
        if not all(r.exists() for r in roots):
            return None, f"its training data '{path}' is not on this machine"
        from core.data.voc import voc_splits

        try:
            split = val if val and val in voc_splits(path) else tc.get("train_split", "trainval")
        except ValueError as exc:
            return None, f"its training data '{path}' cannot be read ({exc})"
        return DatasetSpec("voc", str(path), split), f"its VOC data '{path}' (image set {split})"
    if kind == "coco" and path:
        file = val if val and Path(str(val)).is_file() else path
        if not Path(str(file)).is_file():
            return None, f"its training data '{path}' is not on this machine"
        return DatasetSpec("coco", str(file)), f"its COCO data '{file}'"
    return None, f"its checkpoint records data of an unknown kind ({kind!r})"


def calibration_data(meta: dict[str, Any], weights: str, path: str | Path | None = None,
                     count: int = DEFAULT_IMAGES, min_images: int = MIN_IMAGES) -> CalibrationData:
    """The labelled images to calibrate ``weights`` on (see the module docstring for the order).

    Args:
        meta: the checkpoint's ``meta`` (``detector.meta``).
        weights: names the model in messages.
        path: a VOC folder (its default image set) or a COCO annotation JSON given by the user.
        count: use at most this many images, spread evenly.
        min_images: fewer images than this is an error.

    Raises:
        ValueError: nothing recorded and nothing given (says to pass ``--calibration-data``), a source
            that cannot be read, or fewer than ``min_images`` images.
    """
    from core.data.index import DatasetSpec

    if count < 1:
        raise ValueError(f"calibration image count must be >= 1, got {count}")
    if path is not None:
        spec, words = DatasetSpec("auto", str(path)), f"the calibration data '{path}'"
    else:
        spec, words = _recorded(meta, count)
        if spec is None:
            raise ValueError(f"cannot calibrate an accuracy estimate for '{weights}': {words}; pass labelled "
                             f"images like the footage it will see (--calibration-data: a VOC folder or a COCO "
                             f"annotation JSON)")
    gt = _spread(spec.index(), count)
    if len(gt.records) < min_images:
        raise ValueError(f"{words} holds {len(gt.records)} labelled image(s): too few to calibrate an estimate "
                         f"(at least {min_images} are needed; {DEFAULT_IMAGES} are used when there are enough)")
    if sum(len(r.labels) for r in gt.records) == 0:
        raise ValueError(f"{words} has no object in its {len(gt.records)} images: the true mAP of every "
                         f"calibration set would be undefined")
    key = {"spec": {k: str(v) for k, v in vars(spec).items()}, "images": len(gt.records), "content": _content_key(gt)}
    return CalibrationData(gt, f"{len(gt.records)} images: {words}", key)


def true_map(gt: DatasetIndex, detections: Sequence[Any], class_names: Sequence[str], metric: str) -> float:
    """The model's mAP on ``gt`` (``detections`` one per record, labels into ``class_names``) in ``metric``
    ("voc07", "voc12": VOC AP at IoU 0.5; "coco": pycocotools' AP@[.5:.95]). An undefined mAP counts as 0."""
    from core.evaluation.evaluate import evaluate

    dets = {r.image_id: d for r, d in zip(gt.records, detections)}
    result = evaluate(gt, dets, detector_class_names=class_names)
    value = result.coco().stats[0] if metric == "coco" else result.voc(metric == "voc07").mAP
    return float(value) if np.isfinite(value) and value >= 0 else 0.0


def min_scored(images: int) -> int:
    """Images with boxes on both passes a calibration set needs for a signal to count (else it is None):
    a quarter of its images, at least 2 and at most 10."""
    return max(2, min(10, images // 4))


def set_list(corruptions: Sequence[str] = CORRUPTIONS, severities: Sequence[int] = range(1, SEVERITIES + 1)
             ) -> list[tuple[str, int]]:
    """The (corruption, severity) pairs of a meta-set, the clean set ("clean", 0) first."""
    return [("clean", 0)] + [(c, s) for c in corruptions for s in severities]


def build_meta_set(detector: Any, data: CalibrationData, settings: SignalSettings = SignalSettings(),
                   metric: str = "voc07", sets: Sequence[tuple[str, int]] | None = None, seed: int = 0,
                   on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> list[CalibrationSet]:
    """Score ``detector`` on every shifted copy of ``data``'s images.

    Image ``i`` of a copy is ``corrupt(image_i, corruption, severity, seed=seed * COPY_SEED_STRIDE + i)``. A signal
    measured on fewer than :func:`min_scored` images of a copy (a shift so strong that the model keeps
    almost no box) is recorded as None; the fit leaves such sets out.

    Args:
        sets: (corruption, severity) pairs (default :func:`set_list`: clean + 7 corruptions x 6 severities).
        on_progress: ``Progress(images done, of all sets, "meta-set", "calibration set 9/43: blur 3/6")`` after each batch.
        should_stop: polled between batches; True raises :class:`core.jobs.Cancelled`.
    """
    from core.data.loader import read_image_rgb

    pairs = list(sets) if sets is not None else set_list()
    images = []
    for r in data.gt.records:
        check_stop(should_stop, "calibration cancelled while reading its images")
        images.append(read_image_rgb(r))
    total, n = len(pairs) * len(images), len(images)
    out: list[CalibrationSet] = []
    for k, (name, severity) in enumerate(pairs):
        shifted = images if name == "clean" else [corrupt(im, name, severity, seed * COPY_SEED_STRIDE + i)
                                                  for i, im in enumerate(images)]

        def progress(p: Any, k: int = k, name: str = name, severity: int = severity) -> None:
            label = "clean" if name == "clean" else f"{name} {severity}/{SEVERITIES}"
            report(on_progress, k * n + p.done, total, "meta-set", f"calibration set {k + 1}/{len(pairs)}: {label}")

        measured = measure_images(detector, shifted, settings, total=n, on_progress=progress, should_stop=should_stop)
        signals = {k: (a.value if a.scored >= min_scored(n) else None) for k, a in measured.signals.items()}
        out.append(CalibrationSet(name, severity, true_map(data.gt, measured.detections, detector.class_names, metric),
                                  signals, n))
    return out


__all__ = ["DEFAULT_IMAGES", "MIN_IMAGES", "CalibrationData", "build_meta_set", "calibration_data", "min_scored", "set_list",
           "true_map"]
