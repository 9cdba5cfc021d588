"""Drawing tracks on a frame (the annotated video of ``ssd detect --track``): each track's trail and id.

The boxes and their captions are :func:`core.io.drawing.draw_detections`'s; this adds, per track seen
in the frame, a polyline through the centres of its last detections and a tag ``#<id>`` in the class
colour at the bottom-left corner of its box (inside the box when it fits below the frame's edge).
"""
from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from core.io.drawing import class_color, ink_for
from core.tracking.bytetrack import TrackView


def id_text(track_id: int) -> str:
    """``"#7"``: the tag of track 7."""
    return f"#{int(track_id)}"


def id_tag_rect(box: np.ndarray, text: str, frame_size: tuple[int, int],
                font_scale: float) -> tuple[int, int, int, int]:
    """Where the id tag of a box goes: (x1, y1, x2, y2) in pixels, clipped to ``frame_size`` = (width, height).

    The tag's bottom-left corner is the box's bottom-left corner (moved up to stay on the frame).
    """
    w, h = frame_size
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    x1 = int(min(max(0, round(float(box[0]))), w - 1))
    y2 = int(min(max(th + base + 2, round(float(box[3]))), h - 1))
    return x1, max(0, y2 - th - base - 2), int(min(w - 1, x1 + tw + 4)), y2


def draw_tracks(image_rgb: np.ndarray, tracks: Iterable[TrackView], in_place: bool = False) -> np.ndarray:
    """``image_rgb`` (uint8 [H, W, 3]) with each track's trail and id tag drawn (a copy unless ``in_place``).

    Args:
        tracks: the tracks to draw (e.g. :meth:`core.tracking.ByteTracker.tracks`); boxes and trails in
            pixels of ``image_rgb``.
    """
    out = image_rgb if in_place else np.ascontiguousarray(image_rgb.copy())
    h, w = out.shape[:2]
    thick = max(1, int(round(min(h, w) / 300)))
    font_scale = max(0.35, min(h, w) / 900)
    for t in tracks:
        if not (np.isfinite(t.box).all() and np.isfinite(t.trail).all()):
            continue
        color = class_color(int(t.label))
        if len(t.trail) > 1:
            pts = np.rint(t.trail).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], False, color, thick, cv2.LINE_AA)
        text = id_text(t.track_id)
        x1, y1, x2, y2 = id_tag_rect(t.box, text, (w, h), font_scale)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, -1)
        (_, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        cv2.putText(out, text, (x1 + 2, y1 + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink_for(color), 1,
                    cv2.LINE_AA)
    return out


__all__ = ["draw_tracks", "id_text", "id_tag_rect"]
