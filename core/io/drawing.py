"""Drawing detections: the one class-colour palette and label text of the app.

Detect (the frame canvas), Evaluate (class table, curves) and the exported videos all take
their colours from :func:`class_color`, so a class looks the same everywhere.
"""
from __future__ import annotations

import colorsys
import functools
from typing import Collection, Sequence

import cv2
import numpy as np

from core.types import Detections

_GOLDEN = 0.618033988749895


@functools.lru_cache(maxsize=1024)  # called for every box drawn: the Detect view's grid draws thousands a second
def class_color(label: int) -> tuple[int, int, int]:
    """A stable RGB colour (0-255 each) for class index ``label``.

    Hues step by the golden ratio so that neighbouring labels get far-apart hues; saturation
    and value alternate between two levels so that labels whose hues wrap close stay apart.
    """
    h = (0.1 + label * _GOLDEN) % 1.0
    s = 0.85 if label % 2 == 0 else 0.65
    v = 0.95 if (label // 2) % 2 == 0 else 0.80
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def class_name(label: int, class_names: Sequence[str]) -> str:
    """``class_names[label]``; an index beyond the list shows as ``"class <label>"``."""
    return class_names[label] if 0 <= label < len(class_names) else f"class {label}"


def label_text(label: int, score: float, class_names: Sequence[str]) -> str:
    """``"name 0.87"``: the caption of one detection."""
    return f"{class_name(label, class_names)} {score:.2f}"


def ink_for(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on a background of ``color`` (RGB)."""
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def place_labels(boxes: np.ndarray, sizes: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """Where each box's caption goes so that no two captions overlap.

    Boxes are taken in the order given (put the most confident first: it gets the best place). A caption
    goes above its box; when that place is taken by an earlier caption or outside ``bounds``, inside the
    box at its top, then below the box, then inside at its bottom. A caption with none of the four places
    free is not placed (its box is still drawn): unreadable overlapping text would say less.

    Args:
        boxes: float [N, 4], x1, y1, x2, y2.
        sizes: float [N, 2], each caption's width and height.
        bounds: (left, top, right, bottom) the captions must stay within (the picture).

    Returns:
        float [N, 2]: each caption's top-left corner (x, y), NaN where it is not placed; x is moved left
        when the caption would run past ``right``.
    """
    left, top, right, bottom = (float(v) for v in bounds)
    out = np.full((len(boxes), 2), np.nan)
    placed: list[tuple[float, float, float, float]] = []
    for i, ((x1, y1, x2, y2), (tw, th)) in enumerate(zip(np.asarray(boxes, float), np.asarray(sizes, float))):
        x = max(left, min(x1, right - tw))
        for y in (y1 - th, y1, y2, y2 - th):  # above, inside at the top, below, inside at the bottom
            if y < top or y + th > bottom:
                continue
            if all(x + tw <= a or b <= x or y + th <= c or d <= y for a, c, b, d in placed):
                out[i] = (x, y)
                placed.append((x, y, x + tw, y + th))
                break
    return out


def draw_detections(image_rgb: np.ndarray, detections: Detections, class_names: Sequence[str],
                    min_score: float = 0.0, labels: Collection[int] | None = None) -> np.ndarray:
    """A copy of ``image_rgb`` (uint8 [H, W, 3]) with boxes, class names and scores drawn.

    The boxes are drawn least confident first (the most confident on top), then their captions where
    :func:`place_labels` puts them, so that captions of neighbouring boxes never overlap.

    Args:
        detections: boxes x1, y1, x2, y2 in pixels of ``image_rgb``.
        class_names: index 0 is the background; label l is drawn as ``class_names[l]``.
        min_score: detections below it are not drawn.
        labels: if given, only these labels are drawn.
    """
    out = np.ascontiguousarray(image_rgb.copy())
    dets = detections.filter(min_score, set(labels) if labels is not None else None)
    h, w = out.shape[:2]
    thick = max(1, int(round(min(h, w) / 300)))
    font_scale = max(0.35, min(h, w) / 900)
    finite = np.flatnonzero(np.isfinite(dets.boxes).all(axis=1))  # a diverged model's NaN box: not drawn
    order = finite[np.argsort(-dets.scores[finite], kind="stable")]  # most confident first
    boxes = np.round(dets.boxes[order].astype(np.float64))
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w - 1)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h - 1)
    texts = [label_text(int(dets.labels[i]), float(dets.scores[i]), class_names) for i in order]
    metrics = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1) for t in texts]
    sizes = np.array([(tw + 4, th + base + 2) for (tw, th), base in metrics], np.float64).reshape(-1, 2)
    corners = place_labels(boxes, sizes, (0, 0, w - 1, h - 1))
    colors = [class_color(int(dets.labels[i])) for i in order]
    for k in reversed(range(len(order))):
        x1, y1, x2, y2 = (int(v) for v in boxes[k])
        cv2.rectangle(out, (x1, y1), (x2, y2), colors[k], thick)
    for k in reversed(range(len(order))):
        if np.isnan(corners[k, 0]):
            continue
        x, y = int(corners[k, 0]), int(corners[k, 1])
        (_, th), _base = metrics[k]
        cv2.rectangle(out, (x, y), (x + int(sizes[k, 0]) - 1, y + int(sizes[k, 1]) - 1), colors[k], -1)
        cv2.putText(out, texts[k], (x + 2, y + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink_for(colors[k]), 1,
                    cv2.LINE_AA)
    return out
