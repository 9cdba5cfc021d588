"""Counting tracked objects that cross a line drawn on the frame (per class and direction), or that are inside a
zone drawn on it (per class: now, and distinct objects seen there).

    counter = LineCounter(CountingLine((100, 0), (100, 480)))
    for dets in frames:
        tracker.update(dets)
        counter.update(tracker.tracks())
    counter.counts      # {(label, "in"): 3, (label, "out"): 1, ...}

A track is followed by the centre of its box. It crosses when the segment from its last position
off the line to its new position meets the line *segment* (not the infinite line through it), and
its side changes. The side of a point ``p`` is the sign of
``(b - a) x (p - a) = (bx - ax) (py - ay) - (by - ay) (px - ax)`` in image coordinates (y down):
positive on the right-hand side of someone walking from ``a`` to ``b`` as seen on the screen.
``"in"`` is a crossing from the left-hand side to the right-hand side, ``"out"`` the reverse. A point
exactly on the line has no side: the track's last side off the line counts, so a box that stops on
the line and goes back is not counted, and one that goes on is counted once. Every crossing counts
(an object that goes in, out and in again is two "in" and one "out").

A zone (:class:`CountingZone`, :class:`ZoneCounter`) is a polygon; a track is inside when the centre of its
box (the point the line follows) is inside the polygon or on its border (OpenCV's ``pointPolygonTest``,
even-odd rule for a polygon that crosses itself). Only tracks seen in the frame count as inside (a lost
track is not there). ``inside`` counts the objects in the zone now, per class; ``seen`` the distinct track
ids that were ever inside since the last reset, per class (an object that leaves and comes back is one).

    zone = ZoneCounter(CountingZone(((0, 0), (200, 0), (200, 100), (0, 100))))
    zone.update(tracker.tracks())
    zone.inside_counts(), zone.seen_counts()    # {label: n}, {label: n}
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from core.tracking.bytetrack import TrackView

DIRECTIONS: tuple[str, str] = ("in", "out")


def box_centre(box: np.ndarray) -> tuple[float, float]:
    """The centre (x, y) of a box x1, y1, x2, y2 in pixels: the point of a track that lines and zones follow."""
    return (float(box[0]) + float(box[2])) / 2, (float(box[1]) + float(box[3])) / 2


@dataclass(frozen=True)
class CountingLine:
    """A segment on the frame, from ``start`` to ``end`` (x, y in pixels of the frame).

    Raises:
        ValueError: the two points are the same, or not finite.
    """

    start: tuple[float, float]
    end: tuple[float, float]

    def __post_init__(self) -> None:
        pts = np.asarray([self.start, self.end], np.float64)
        if pts.shape != (2, 2) or not np.isfinite(pts).all():
            raise ValueError(f"a counting line needs two finite points (x, y), got {self.start!r} and {self.end!r}")
        if np.allclose(pts[0], pts[1]):
            raise ValueError(f"a counting line needs two different points, got {self.start!r} twice")
        object.__setattr__(self, "start", (float(pts[0, 0]), float(pts[0, 1])))
        object.__setattr__(self, "end", (float(pts[1, 0]), float(pts[1, 1])))

    def side(self, point: tuple[float, float]) -> float:
        """``(b - a) x (p - a)``: > 0 right-hand side, < 0 left-hand side, 0 on the line (module docstring)."""
        (ax, ay), (bx, by) = self.start, self.end
        return (bx - ax) * (point[1] - ay) - (by - ay) * (point[0] - ax)

    def crosses(self, p: tuple[float, float], q: tuple[float, float]) -> bool:
        """Whether the move from ``p`` to ``q`` (each strictly on one side) meets the segment."""
        sp, sq = self.side(p), self.side(q)
        if sp * sq >= 0:
            return False
        # The segment's end points must not lie strictly on the same side of the move p -> q.
        dx, dy = q[0] - p[0], q[1] - p[1]
        sa = dx * (self.start[1] - p[1]) - dy * (self.start[0] - p[0])
        sb = dx * (self.end[1] - p[1]) - dy * (self.end[0] - p[0])
        return sa * sb <= 0


class LineCounter:
    """Crossings of one :class:`CountingLine` by tracks, per (class label, direction)."""

    def __init__(self, line: CountingLine) -> None:
        self.line = line
        self.counts: dict[tuple[int, str], int] = {}
        self._last: dict[int, tuple[float, float, float]] = {}  # track id -> (x, y, side) off the line

    def reset(self) -> None:
        """Zero the counts and forget where the tracks were."""
        self.counts.clear()
        self._last.clear()

    def total(self, direction: str) -> int:
        """Crossings in ``direction`` over every class."""
        return sum(n for (_, d), n in self.counts.items() if d == direction)

    def update(self, tracks: Iterable[TrackView]) -> list[tuple[int, int, str]]:
        """Move each track to the centre of its box; returns the crossings (track id, label, direction)."""
        crossed = []
        for t in tracks:
            p = box_centre(t.box)
            s = self.line.side(p)
            if s == 0:
                continue
            last = self._last.get(t.track_id)
            if last is not None and self.line.crosses(last[:2], p):
                direction = "in" if last[2] < 0 else "out"
                self.counts[(t.label, direction)] = self.counts.get((t.label, direction), 0) + 1
                crossed.append((t.track_id, t.label, direction))
            self._last[t.track_id] = (p[0], p[1], s)
        return crossed


@dataclass(frozen=True)
class CountingZone:
    """A polygon on the frame: its vertices (x, y in pixels of the frame), in drawing order, closed implicitly.

    Raises:
        ValueError: fewer than three vertices, a vertex that is not a finite (x, y), or no area (all on a line).
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, np.float64)
        if pts.ndim != 2 or pts.shape[1:] != (2,) or len(pts) < 3 or not np.isfinite(pts).all():
            raise ValueError(f"a counting zone needs at least three finite points (x, y), got {self.points!r}")
        if self._shoelace(pts) < 1e-9:
            raise ValueError(f"a counting zone needs an area; the points {self.points!r} lie on one line")
        object.__setattr__(self, "points", tuple((float(x), float(y)) for x, y in pts))

    @staticmethod
    def _shoelace(pts: np.ndarray) -> float:
        x, y = pts[:, 0], pts[:, 1]
        return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2

    @property
    def area(self) -> float:
        """The area in square pixels (the shoelace formula ``|sum(x_i y_{i+1} - x_{i+1} y_i)| / 2``)."""
        return self._shoelace(np.asarray(self.points, np.float64))

    def contains(self, point: tuple[float, float]) -> bool:
        """Whether ``point`` (x, y) is inside the polygon or on its border."""
        contour = np.asarray(self.points, np.float32).reshape(-1, 1, 2)
        return cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), False) >= 0


class ZoneCounter:
    """The tracks inside one :class:`CountingZone`: now and distinct ever, per class label (module docstring)."""

    def __init__(self, zone: CountingZone) -> None:
        self.zone = zone
        self.inside: dict[int, int] = {}       # track id -> label, of the tracks inside now
        self.seen: dict[int, set[int]] = {}    # label -> the ids of the tracks ever inside

    def reset(self) -> None:
        """Forget who is inside and who was."""
        self.inside.clear()
        self.seen.clear()

    def update(self, tracks: Iterable[TrackView]) -> list[tuple[int, int]]:
        """The tracks seen in this frame (lost ones are skipped); returns those that came in (track id, label)."""
        now = {t.track_id: t.label for t in tracks if not t.lost and self.zone.contains(box_centre(t.box))}
        entered = [(tid, label) for tid, label in now.items() if tid not in self.inside]
        for tid, label in now.items():
            self.seen.setdefault(label, set()).add(tid)
        self.inside = now
        return entered

    def inside_counts(self) -> dict[int, int]:
        """Objects inside now, per class label."""
        out: dict[int, int] = {}
        for label in self.inside.values():
            out[label] = out.get(label, 0) + 1
        return out

    def seen_counts(self) -> dict[int, int]:
        """Distinct objects that were inside since the last reset, per class label."""
        return {label: len(ids) for label, ids in self.seen.items()}


__all__ = ["CountingLine", "LineCounter", "CountingZone", "ZoneCounter", "DIRECTIONS", "box_centre"]
