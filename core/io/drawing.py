"""Drawing detections: the one class-colour palette and label text of the app.

Detect (the frame canvas), Evaluate (class table, curves) and the exported videos all take
their colours from :func:`class_color`, so a class looks the same everywhere.
"""
from __future__ import annotations

import colorsys
from typing import Collection, Sequence

import cv2
import numpy as np

from core.types import Detections

_GOLDEN = 0.618033988749895


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


def draw_detections(image_rgb: np.ndarray, detections: Detections, class_names: Sequence[str],
                    min_score: float = 0.0, labels: Collection[int] | None = None) -> np.ndarray:
    """A copy of ``image_rgb`` (uint8 [H, W, 3]) with boxes, class names and scores drawn.

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
    # Lowest scores first so that the most confident box ends on top.
    for i in np.argsort(dets.scores, kind="stable"):
        if not np.all(np.isfinite(dets.boxes[i])):
            continue  # a diverged model's NaN box has no place on the picture
        x1, y1, x2, y2 = (int(round(float(v))) for v in dets.boxes[i])
        x1, x2 = max(0, min(x1, w - 1)), max(0, min(x2, w - 1))
        y1, y2 = max(0, min(y1, h - 1)), max(0, min(y2, h - 1))
        color = class_color(int(dets.labels[i]))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
        text = label_text(int(dets.labels[i]), float(dets.scores[i]), class_names)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1
        cv2.rectangle(out, (x1, ty), (min(w - 1, x1 + tw + 4), ty + th + base + 2), color, -1)
        cv2.putText(out, text, (x1 + 2, ty + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink_for(color), 1,
                    cv2.LINE_AA)
    return out
