"""Tiled detection for small objects in large frames (SAHI-style slicing), around any teacher.

    teacher = TiledTeacher(inner, Tiling(rows=2, cols=3, overlap=0.2))
    [dets] = teacher.detect([frame])   # the whole frame and its 6 overlapping tiles, merged by NMS

Each frame is cut into ``rows x cols`` tiles that overlap by ``overlap`` of a tile's size (the last tile of a
row or column ends at the frame's edge); the teacher sees the whole frame too (SAHI's "standard
prediction"), so that objects larger than a tile keep one whole box. The boxes of all views, moved back to
frame pixels, are merged by greedy NMS per class at IoU :data:`MERGE_IOU`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torchvision.ops import batched_nms

from core.types import Detections

#: Boxes of one class from two views overlapping by more than this IoU are one object.
MERGE_IOU = 0.5


@dataclass(frozen=True)
class Tiling:
    """``rows x cols`` tiles overlapping by ``overlap`` (a fraction of the tile, in [0, 0.9])."""

    rows: int
    cols: int
    overlap: float = 0.2

    def __post_init__(self) -> None:
        for name, n in (("rows", self.rows), ("columns", self.cols)):
            if not isinstance(n, int) or not 1 <= n <= 16:
                raise ValueError(f"tiles: {name} must be an integer from 1 to 16, got {n!r}")
        if not 0.0 <= self.overlap <= 0.9:
            raise ValueError(f"tile overlap must be in [0, 0.9] (a fraction of a tile), got {self.overlap!r}")

    def fingerprint(self) -> dict[str, Any]:
        return {"tiles": [self.rows, self.cols], "tile_overlap": self.overlap}

    def text(self) -> str:
        return f"{self.rows}x{self.cols} tiles, overlap {self.overlap:g}"


def parse_tiling(tiles: str | None, overlap: float = 0.2) -> Tiling | None:
    """``"2x3"`` (rows x columns) and the overlap -> :class:`Tiling`; None or "1x1" -> None (no tiling)."""
    if tiles is None or not str(tiles).strip():
        return None
    rows, sep, cols = str(tiles).lower().partition("x")
    try:
        tiling = Tiling(int(rows), int(cols), float(overlap))
    except ValueError as exc:
        if not sep or not rows.strip().isdigit() or not cols.strip().isdigit():
            raise ValueError(f"--tiles takes ROWSxCOLUMNS, e.g. 2x3, got {tiles!r}") from None
        raise exc
    return None if (tiling.rows, tiling.cols) == (1, 1) else tiling


def tile_windows(width: int, height: int, tiling: Tiling) -> list[tuple[int, int, int, int]]:
    """The tiles of a ``width x height`` frame: (x1, y1, x2, y2) in pixels, row by row.

    A tile is ``ceil(W / (cols - (cols - 1) * overlap))`` wide (so that ``cols`` of them overlapping by
    ``overlap`` cover the frame) and likewise high; tiles start every ``(1 - overlap)`` tile, the last one
    ending at the frame's edge.
    """
    def spans(size: int, n: int) -> list[tuple[int, int]]:
        if n == 1:
            return [(0, size)]
        tile = min(size, math.ceil(size / (n - (n - 1) * tiling.overlap)))
        starts = [min(round(i * tile * (1 - tiling.overlap)), size - tile) for i in range(n)]
        starts[-1] = size - tile
        return [(s, s + tile) for s in starts]

    return [(x1, y1, x2, y2) for y1, y2 in spans(height, tiling.rows) for x1, x2 in spans(width, tiling.cols)]


def merge_views(views: list[Detections], offsets: list[tuple[int, int]], iou: float = MERGE_IOU) -> Detections:
    """The detections of several views of one frame, moved by their (x, y) offsets and merged by per-class NMS."""
    boxes = np.concatenate([v.boxes + np.array([dx, dy, dx, dy], np.float32) for v, (dx, dy) in zip(views, offsets)])
    scores = np.concatenate([v.scores for v in views])
    labels = np.concatenate([v.labels for v in views])
    if len(scores) == 0:
        return Detections.empty()
    keep = batched_nms(torch.from_numpy(boxes).float(), torch.from_numpy(scores).float(),
                       torch.from_numpy(labels), iou).numpy()  # by descending score
    return Detections(boxes[keep].astype(np.float32), scores[keep].astype(np.float32), labels[keep].astype(np.int64))


class TiledTeacher:
    """A :class:`core.teachers.protocol.Teacher` that runs ``inner`` on the whole frame and its tiles."""

    def __init__(self, inner: Any, tiling: Tiling) -> None:
        self.inner, self.tiling = inner, tiling
        self.class_names = tuple(inner.class_names)
        self.description = f"{inner.description}, {tiling.text()}"
        self.default_threshold = getattr(inner, "default_threshold", None)
        self.class_thresholds = getattr(inner, "class_thresholds", None)

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Boxes x1, y1, x2, y2 in pixels of each whole frame; labels index ``class_names``."""
        crops: list[np.ndarray] = []
        plan: list[list[tuple[int, int]]] = []
        for img in images:
            h, w = img.shape[:2]
            windows = [(0, 0, w, h)] + tile_windows(w, h, self.tiling)
            crops += [np.ascontiguousarray(img[y1:y2, x1:x2]) for x1, y1, x2, y2 in windows]
            plan.append([(x1, y1) for x1, y1, _, _ in windows])
        dets = self.inner.detect(crops)
        out, at = [], 0
        for offsets in plan:
            out.append(merge_views(list(dets[at:at + len(offsets)]), offsets))
            at += len(offsets)
        return out

    def fingerprint(self) -> dict[str, Any]:
        return {**self.inner.fingerprint(), **self.tiling.fingerprint()}

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


__all__ = ["MERGE_IOU", "Tiling", "TiledTeacher", "merge_views", "parse_tiling", "tile_windows"]
