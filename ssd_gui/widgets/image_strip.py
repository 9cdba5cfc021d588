"""A horizontal strip of thumbnails showing what a confidence threshold costs.

:func:`draw_breakdown` draws one :class:`core.evaluation.ImageBreakdown` on its image:
true positives as solid green boxes, false positives as solid red boxes (both with their
score), missed objects as dashed orange boxes. :class:`ImageStrip` lists such thumbnails.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from core.evaluation.curves import ImageBreakdown
from ssd_gui.widgets.qimages import rgb_to_pixmap

# RGB
TP_COLOR: tuple[int, int, int] = (0, 170, 60)
FP_COLOR: tuple[int, int, int] = (225, 30, 30)
MISSED_COLOR: tuple[int, int, int] = (255, 150, 0)


def _dashed_rect(img: np.ndarray, p1: tuple[int, int], p2: tuple[int, int], color: tuple[int, int, int],
                 thickness: int, dash: int = 6) -> None:
    (x1, y1), (x2, y2) = p1, p2
    for a, b, fixed, horizontal in ((x1, x2, y1, True), (x1, x2, y2, True), (y1, y2, x1, False), (y1, y2, x2, False)):
        for s in range(a, b + 1, 2 * dash):
            e = min(s + dash, b)
            if horizontal:
                cv2.line(img, (s, fixed), (e, fixed), color, thickness, cv2.LINE_AA)
            else:
                cv2.line(img, (fixed, s), (fixed, e), color, thickness, cv2.LINE_AA)


def draw_breakdown(image: np.ndarray, breakdown: ImageBreakdown, class_names: Sequence[str],
                   height: int = 150, show_names: bool = False) -> np.ndarray:
    """A thumbnail of ``image`` with the breakdown's boxes drawn on it.

    Args:
        image: uint8 [H, W, 3] RGB, the pixels the boxes refer to.
        breakdown: kept TPs/FPs and missed objects of the image (boxes x1, y1, x2, y2 in
            continuous pixels of ``image``).
        class_names: the dataset's names (for ``show_names``).
        height: thumbnail height in pixels; the width keeps the aspect ratio.
        show_names: write the class name next to each box (useful when all classes are shown).

    Returns:
        uint8 [height, round(W * height / H), 3] RGB.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"draw_breakdown expects uint8 [H, W, 3] RGB, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    scale = height / float(h)
    out = cv2.resize(image, (max(1, int(round(w * scale))), height), interpolation=cv2.INTER_AREA)
    out = np.ascontiguousarray(out)
    bd = breakdown

    def corners(box: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
        x1, y1, x2, y2 = (float(v) * scale for v in box)
        return (int(round(x1)), int(round(y1))), (max(int(round(x2)) - 1, 0), max(int(round(y2)) - 1, 0))

    def caption(p: tuple[int, int], text: str, color: tuple[int, int, int]) -> None:
        y = p[1] - 3 if p[1] > 12 else p[1] + 11
        cv2.putText(out, text, (p[0] + 1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(out, text, (p[0] + 1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1, cv2.LINE_AA)

    for box, lab in zip(bd.missed_boxes, bd.missed_labels):
        p1, p2 = corners(box)
        _dashed_rect(out, p1, p2, MISSED_COLOR, 2)
        if show_names:
            caption(p1, f"{class_names[int(lab)]} missed", MISSED_COLOR)
    for boxes, scores, labels, color in ((bd.fp_boxes, bd.fp_scores, bd.fp_labels, FP_COLOR),
                                         (bd.tp_boxes, bd.tp_scores, bd.tp_labels, TP_COLOR)):
        for box, score, lab in zip(boxes, scores, labels):
            p1, p2 = corners(box)
            cv2.rectangle(out, p1, p2, color, 2, cv2.LINE_AA)
            name = f"{class_names[int(lab)]} " if show_names else ""
            caption(p1, f"{name}{float(score):.2f}", color)
    return out


@dataclass(frozen=True)
class StripEntry:
    """One thumbnail of the strip (``index``: the record's position in the dataset, -1 when unknown)."""

    image_id: str | int
    thumbnail: np.ndarray   # uint8 [h, w, 3] RGB
    num_tp: int
    num_fp: int
    num_missed: int
    index: int = -1

    def caption(self) -> str:
        return f"{self.image_id}\nTP {self.num_tp}  FP {self.num_fp}  missed {self.num_missed}"


class ImageStrip(QListWidget):
    """A single row of thumbnails, scrolled sideways; a double click emits ``opened(StripEntry)``."""

    opened = Signal(object)

    def __init__(self, thumb_height: int = 150, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.itemDoubleClicked.connect(lambda item: self.opened.emit(self.entries[self.row(item)]))
        self.thumb_height = thumb_height
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setIconSize(QSize(int(thumb_height * 1.6), thumb_height))
        self.setSpacing(4)
        self.setFixedHeight(thumb_height + 64)
        self.entries: list[StripEntry] = []

    def set_entries(self, entries: list[StripEntry]) -> None:
        self.clear()
        self.entries = list(entries)
        for e in self.entries:
            item = QListWidgetItem(QIcon(rgb_to_pixmap(e.thumbnail)), e.caption())
            item.setToolTip(f"image {e.image_id}: {e.num_tp} true positive(s), {e.num_fp} false positive(s), "
                            f"{e.num_missed} missed object(s). Double-click: full size")
            item.setForeground(QColor(30, 30, 30))
            self.addItem(item)


class ImageCache:
    """A small thread-safe LRU of decoded dataset images (uint8 [H, W, 3] RGB) keyed by record index."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._images: OrderedDict[int, np.ndarray] = OrderedDict()

    def get(self, index: int, record: Any) -> np.ndarray:
        """The pixels of ``record`` (a :class:`core.types.ImageRecord`), decoded on first use.

        Raises:
            ValueError: the image is missing or cannot be decoded (names the file).
        """
        with self._lock:
            img = self._images.get(index)
            if img is not None:
                self._images.move_to_end(index)
                return img
        from core.data.loader import read_image_rgb

        img = read_image_rgb(record)
        with self._lock:
            self._images[index] = img
            while len(self._images) > self.size:
                self._images.popitem(last=False)
        return img

    def clear(self) -> None:
        with self._lock:
            self._images.clear()

    def __len__(self) -> int:
        return len(self._images)


@dataclass(frozen=True)
class Thumbnails:
    """What :func:`draw_thumbnails` made.

    Attributes:
        generation: the request number it answers (older answers are dropped by the view).
        entries: a :class:`StripEntry` per image that could be drawn, in request order.
        errors: one message per image that could not be read (the others are still shown).
    """

    generation: int
    entries: list[StripEntry]
    errors: list[str]


def draw_thumbnails(generation: int, jobs: Sequence[tuple[int, Any, ImageBreakdown]], class_names: Sequence[str],
                    height: int, show_names: bool, cache: ImageCache,
                    should_stop: Callable[[], bool] | None = None) -> Thumbnails:
    """Decode dataset images and draw their threshold breakdowns (run in a job, off the GUI thread).

    ``jobs`` are ``(record_index, record, breakdown)`` triples; ``should_stop`` is polled between
    images (a newer request supersedes this one and its answer is dropped anyway).
    """
    entries: list[StripEntry] = []
    errors: list[str] = []
    for index, record, bd in jobs:
        if should_stop is not None and should_stop():
            break
        try:
            thumb = draw_breakdown(cache.get(index, record), bd, class_names, height=height, show_names=show_names)
        except ValueError as exc:  # an image vanished or cannot be decoded: say so, keep the rest
            errors.append(str(exc))
            continue
        entries.append(StripEntry(bd.image_id, thumb, len(bd.tp_scores), len(bd.fp_scores), len(bd.missed_labels),
                                  index))
    return Thumbnails(generation, entries, errors)

