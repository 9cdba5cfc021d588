"""Plain data passed between the engine, the CLI and the GUI (NumPy only, no torch, no Qt).

Box convention everywhere in this project unless a docstring says otherwise:
``x1, y1, x2, y2`` in continuous pixel coordinates of the original image, where the
top-left pixel covers [0, 1) x [0, 1). A VOC annotation (1-based, inclusive pixel indices
``xmin..xmax``) therefore becomes ``(xmin - 1, ymin - 1, xmax, ymax)``; the VOC evaluation
converts back exactly to apply the devkit's own +1 convention.

Labels are indices into the owner's ``class_names``, whose entry 0 is ``"__background__"``;
real objects have labels >= 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Detections for one image.

    Attributes:
        boxes: float32 [N, 4], x1, y1, x2, y2 in pixels of the original image.
        scores: float32 [N], softmax confidence, sorted in descending order.
        labels: int64 [N], indices into the detector's ``class_names`` (>= 1).
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> "Detections":
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64))

    def filter(self, min_score: float = 0.0, labels: set[int] | None = None) -> "Detections":
        """Subset with ``score >= min_score`` and, if given, a label in ``labels``."""
        keep = self.scores >= min_score
        if labels is not None:
            keep &= np.isin(self.labels, np.fromiter(labels, dtype=np.int64, count=len(labels)))
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])


@dataclass(frozen=True)
class ImageRecord:
    """Ground truth for one image of a dataset.

    Attributes:
        image_id: the dataset's id (VOC: file stem; COCO: the integer image id).
        file: path of the image file.
        width, height: image size in pixels as annotated.
        boxes: float32 [N, 4], x1, y1, x2, y2 in continuous pixels (see module docstring).
        labels: int64 [N], indices into the dataset's ``class_names`` (>= 1).
        difficult: bool [N], VOC ``difficult`` flag (False for COCO).
        iscrowd: bool [N], COCO ``iscrowd`` flag (False for VOC).
        area: float64 [N], the object's area as the dataset states it (COCO ``area``: the
            segmentation's, which COCO's small/medium/large ranges use); empty when the dataset
            states none (VOC, synthetic scenes: the box area is used).
    """

    image_id: str | int
    file: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray = field(default_factory=lambda: np.zeros((0,), bool))
    iscrowd: np.ndarray = field(default_factory=lambda: np.zeros((0,), bool))
    area: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float64))


@dataclass
class DatasetIndex:
    """An annotated dataset as a list of records (no pixels loaded).

    Attributes:
        name: a short description, e.g. "VOC2007 test" or "synthetic seed=7".
        source: the file or folder it was read from (for messages).
        class_names: index 0 is ``"__background__"``; label l names ``class_names[l]``.
        records: one per image, in dataset order.
        warnings: counted, human-readable problems met while reading (each names its file).
        category_ids: COCO only: ``category_ids[l]`` is the category id of label l (0 for background).
    """

    name: str
    source: str
    class_names: tuple[str, ...]
    records: list[ImageRecord]
    warnings: list[str] = field(default_factory=list)
    category_ids: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.records)
