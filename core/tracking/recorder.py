"""Tracks in a detection run (``ssd detect --track``, the Detect view's export): a track id per detection,
the MOTChallenge text file and the ids and trails of the annotated video.

:func:`core.inference.run_inference` feeds each frame's kept detections (after the class filter) to
:meth:`TrackRecorder.add` and writes what it returns into the JSON (``"track"``: the id, or null for a
detection in no confirmed track); :meth:`TrackRecorder.save` writes the MOT file (atomically, with the
JSON's partial saves and at the end).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.io.fileio import atomic_write
from core.tracking.bytetrack import ByteTracker, TrackerConfig
from core.tracking.draw import draw_tracks
from core.tracking.mot import mot_lines, mot_text
from core.types import Detections


class TrackRecorder:
    """One run's tracker and its MOTChallenge lines.

    Args:
        config: the tracker's settings.
        mot_path: the MOTChallenge text file to write, or None.
    """

    def __init__(self, config: TrackerConfig | None = None, mot_path: str | Path | None = None) -> None:
        self.tracker = ByteTracker(config)
        self.mot_path = None if mot_path is None else Path(mot_path)
        self.lines: list[str] = []

    def add(self, frame_index: int, detections: Detections) -> np.ndarray:
        """Track one frame (boxes x1, y1, x2, y2 px); returns int64 [N], each detection's track id or -1."""
        ids = self.tracker.update(detections, frame_index).ids
        self.lines += mot_lines(frame_index, detections.boxes, detections.scores, ids)
        return ids

    def draw(self, image_rgb: np.ndarray) -> np.ndarray:
        """The trails and ids of the tracks seen in the last frame, drawn onto ``image_rgb`` (in place)."""
        return draw_tracks(image_rgb, self.tracker.tracks(), in_place=True)

    def describe(self) -> dict[str, Any]:
        """The JSON's ``"tracker"``: the method, its settings and the distinct objects seen per class label."""
        cfg = self.tracker.config
        return {"method": "bytetrack", "high_thresh": cfg.high_thresh, "low_thresh": cfg.low_thresh,
                "new_track_thresh": cfg.birth_thresh, "max_lost": cfg.max_lost, "min_hits": cfg.min_hits,
                "mot_file": None if self.mot_path is None else str(self.mot_path),
                "objects": {str(k): v for k, v in sorted(self.tracker.counts().items())}}

    def save(self) -> None:
        """Write the MOT file with every line so far (nothing without ``mot_path``)."""
        if self.mot_path is not None:
            atomic_write(self.mot_path, mot_text(self.lines), "MOTChallenge tracks file")


__all__ = ["TrackRecorder"]
