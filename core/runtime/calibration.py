"""Calibration images for int8 quantization: where they come from, and a record of what was used.

A calibration spec is one of:

- a list of HxWx3 uint8 RGB images;
- a path: an image folder, a video file, one image, a VOC dataset folder or a COCO annotation JSON;
- a core.types.DatasetIndex (the images of its records);
- None: the model's own training data when its checkpoint records it (``meta["train_config"]``:
  synthetic scenes are re-rendered from their seed; a VOC or COCO dataset is read where the
  checkpoint says it was), otherwise a fallback the caller names (the frames of the source being
  opened), otherwise a ValueError saying what to pass.

At most :data:`DEFAULT_COUNT` images are used, spread evenly over the source.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from core.jobs import ProgressFn, StopFn, check_stop, report

CalibrationSpec = Union[Sequence[np.ndarray], str, Path]
#: NNCF's own default subset size for post-training quantization.
DEFAULT_COUNT = 300
_LISTED_FILES = 20


@dataclass(frozen=True)
class CalibrationSet:
    """Images to calibrate on and a JSON-able record of them (stored with the quantized model).

    Attributes:
        images: HxWx3 uint8 RGB.
        record: {"source": str, "kind": str, "count": int, "files": first file names, ...}.
    """

    images: list[np.ndarray]
    record: dict[str, Any]


def spec_fingerprint(spec: CalibrationSpec | None) -> str:
    """A short stable id of an explicit spec (part of the int8 cache key); "default" for None."""
    if spec is None:
        return "default"
    h = hashlib.sha256()
    if isinstance(spec, (str, Path)):
        p = Path(spec).expanduser().resolve()
        h.update(str(p).encode())
        if p.exists():
            h.update(str(p.stat().st_mtime_ns).encode())
    else:
        for img in spec:
            a = np.ascontiguousarray(img)
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    return h.hexdigest()[:16]


def resolve_calibration(spec: CalibrationSpec | None, *, training: dict[str, Any] | None = None,
                        fallback: CalibrationSpec | None = None, weights: str | Path = "the model",
                        limit: int = DEFAULT_COUNT, on_progress: ProgressFn | None = None,
                        should_stop: StopFn | None = None) -> CalibrationSet:
    """The calibration images for ``spec`` (see the module docstring for the order of defaults).

    Args:
        training: the checkpoint's ``meta`` (its ``train_config`` says what it was trained on).
        fallback: used when ``spec`` is None and the training data is not recorded or not on this machine.
        weights: names the model in messages.

    Raises:
        ValueError: nothing to calibrate on (says what to pass), or a source without images.
    """
    if spec is not None:
        return _from_spec(spec, limit, on_progress, should_stop)
    found = training_calibration(training or {}, limit, on_progress, should_stop)
    if found is not None:
        return found
    if fallback is not None:
        out = _from_spec(fallback, limit, on_progress, should_stop)
        return CalibrationSet(out.images, {**out.record, "why": "the model records no training data here; "
                                                                  "calibrated on the source being opened"})
    raise ValueError(f"int8 needs calibration images for '{weights}' and it records no training data that is on "
                     f"this machine: pass calibration images (a list of HxWx3 uint8 RGB images, an image folder, "
                     f"a video or a dataset; on the command line --calibration PATH)")


def training_calibration(meta: dict[str, Any], limit: int = DEFAULT_COUNT, on_progress: ProgressFn | None = None,
                         should_stop: StopFn | None = None) -> CalibrationSet | None:
    """The training images a checkpoint's ``meta["train_config"]`` names, or None when not recorded or missing."""
    from core.data.index import build_index

    tc = meta.get("train_config") if isinstance(meta, dict) else None
    if not isinstance(tc, dict):
        return None
    kind, path = tc.get("data_format"), tc.get("data_path")
    if kind == "synthetic":
        size = int(tc.get("synthetic_size", 300))
        gt = build_index("synthetic", count=min(limit, int(tc.get("synthetic_count", limit))),
                         seed=int(tc.get("synthetic_seed", 1)), size=size)
    elif kind in ("voc", "coco") and path and all(Path(p).exists() for p in str(path).split(",")):
        gt = build_index(kind, path, tc.get("train_split") if kind == "voc" else None)
    else:
        return None
    out = _records(gt, "the training data", limit, on_progress, should_stop)
    return CalibrationSet(out.images, {**out.record, "kind": "training data"})


def _from_spec(spec: CalibrationSpec, limit: int, on_progress: ProgressFn | None,
               should_stop: StopFn | None) -> CalibrationSet:
    from core.types import DatasetIndex

    if isinstance(spec, DatasetIndex):
        return _records(spec, spec.source, limit, on_progress, should_stop)
    if isinstance(spec, (str, Path)):
        from core.io.video import parse_camera_spec

        if parse_camera_spec(spec) is not None:  # "camera:N": the first frames it gives
            return _frames(spec, limit, on_progress, should_stop)
        p = Path(spec).expanduser()
        if not p.exists():
            raise ValueError(f"calibration source '{p}' does not exist")
        if (p.is_file() and p.suffix.lower() == ".json") or _is_voc(p):
            return _dataset(p, limit, on_progress, should_stop)
        return _frames(p, limit, on_progress, should_stop)
    images = list(spec)
    if not images:
        raise ValueError("int8 needs calibration images: the list given is empty")
    from core.io.images import check_image

    for i, img in enumerate(images):
        check_image(img, i)
    picked = [images[i] for i in _spread(len(images), limit)]
    report(on_progress, len(picked), len(picked), "calibration", "images given")
    return CalibrationSet(picked, {"source": "images given by the caller", "kind": "images", "count": len(picked),
                                   "files": []})


def _is_voc(p: Path) -> bool:
    return p.is_dir() and ((p / "ImageSets" / "Main").is_dir() or (p / "VOCdevkit").is_dir()
                           or any((c / "ImageSets" / "Main").is_dir() for c in p.iterdir() if c.is_dir()))


def _spread(n: int, limit: int) -> list[int]:
    """At most ``limit`` indices spread evenly over range(n), in order."""
    if n <= limit:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, limit)})


def _dataset(p: Path, limit: int, on_progress: ProgressFn | None, should_stop: StopFn | None) -> CalibrationSet:
    from core.data.index import build_index, infer_kind

    return _records(build_index(infer_kind(p), p), p, limit, on_progress, should_stop)


def _records(gt: Any, where: Any, limit: int, on_progress: ProgressFn | None,
             should_stop: StopFn | None) -> CalibrationSet:
    """Images of an already indexed dataset (core.types.DatasetIndex), spread over it."""
    from core.data.loader import read_image_rgb

    picked = [gt.records[i] for i in _spread(len(gt.records), limit)]
    images = []
    for k, rec in enumerate(picked):
        check_stop(should_stop, "calibration cancelled")
        images.append(read_image_rgb(rec))
        report(on_progress, k + 1, len(picked), "calibration", Path(rec.file).name)
    if not images:
        raise ValueError(f"calibration dataset '{where}' holds no readable images")
    return CalibrationSet(images, {"source": f"{gt.name} ({where})", "kind": "dataset", "count": len(images),
                                   "files": [Path(r.file).name for r in picked[:_LISTED_FILES]]})


def _frames(p: Path | str, limit: int, on_progress: ProgressFn | None, should_stop: StopFn | None) -> CalibrationSet:
    """Frames of an image folder, a video, one image or a camera, every k-th so that at most ``limit`` are kept."""
    from core.io.video import VideoFileSource, open_source

    source = open_source(p)
    total = source.frame_count
    stride = max(1, math.ceil(total / limit)) if total else 1
    images, files = [], []
    with source:
        for frame in source:
            check_stop(should_stop, "calibration cancelled")
            if frame.index % stride:
                continue
            images.append(frame.image)
            files.append(Path(frame.file).name if frame.file else f"frame {frame.index}")
            report(on_progress, len(images), min(limit, math.ceil(total / stride)) if total else None,
                   "calibration", files[-1])
            if len(images) >= limit:
                break
    if not images:
        raise ValueError(f"calibration source '{p}' gave no images")
    kind = ("video" if isinstance(source, VideoFileSource) else "camera" if source.frame_count is None
            else "folder" if Path(p).is_dir() else "image")
    return CalibrationSet(images, {"source": str(p), "kind": kind, "count": len(images),
                                   "files": files[:_LISTED_FILES]})
