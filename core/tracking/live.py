"""Tracks for a player: frames that may skip ahead, repeat or go back (seeking, stepping, re-detecting a
paused frame), a detection threshold the user moves, an optional counting line and an optional counting zone.

    live = LiveTracks()
    live.set_threshold(0.4)                      # the view's confidence threshold
    live.set_line(CountingLine((0, 200), (640, 200)))
    ids = live.update(frame_index, detections)   # int64 [N], -1: no track
    live.counts()                                # distinct objects seen per class label
    live.line_counts()                           # crossings per (class label, "in" / "out")
    live.set_zone(CountingZone(((0, 0), (320, 0), (320, 240), (0, 240))))
    live.zone_counts()                           # {class label: (inside now, distinct seen inside)}

A frame number not after the last one (the user stepped back, or the same frame was detected again)
starts the tracks and counts afresh: a track cannot go back in time. Skipped frames (a model slower
than the video) are bridged by the Kalman filter.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.tracking.bytetrack import ByteTracker, TrackerConfig, TrackView
from core.tracking.counting import CountingLine, CountingZone, LineCounter, ZoneCounter
from core.types import Detections


class LiveTracks:
    """A :class:`ByteTracker`, a :class:`LineCounter` and a :class:`ZoneCounter` over a player's frames (module
    docstring)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.tracker = ByteTracker(config)
        self.counter: LineCounter | None = None
        self.zone_counter: ZoneCounter | None = None

    def reset(self) -> None:
        """Forget the tracks and zero the counts (the line and the zone stay)."""
        self.tracker.reset()
        for counter in (self.counter, self.zone_counter):
            if counter is not None:
                counter.reset()

    def set_threshold(self, high: float) -> None:
        """Detections scoring at least ``high`` start and extend tracks (ByteTrack's first pass); the low pass
        keeps its 0.1, or ``high`` when that is lower. The tracks go on."""
        cfg = self.tracker.config
        low = min(TrackerConfig.low_thresh, high)
        if (cfg.high_thresh, cfg.low_thresh) != (high, low):
            self.tracker.config = replace(cfg, high_thresh=high, low_thresh=low)

    @property
    def line(self) -> CountingLine | None:
        return None if self.counter is None else self.counter.line

    def set_line(self, line: CountingLine | None) -> None:
        """Count crossings of ``line`` from now on (None: no line); its counts start at zero."""
        self.counter = None if line is None else LineCounter(line)

    @property
    def zone(self) -> CountingZone | None:
        return None if self.zone_counter is None else self.zone_counter.zone

    def set_zone(self, zone: CountingZone | None) -> None:
        """Count the objects inside ``zone`` from now on (None: no zone); its counts start at zero."""
        self.zone_counter = None if zone is None else ZoneCounter(zone)

    def update(self, frame_index: int, detections: Detections) -> np.ndarray:
        """Track one frame (boxes x1, y1, x2, y2 px); int64 [N]: each detection's track id, -1 for none."""
        last = self.tracker.last_frame
        if last is not None and frame_index <= last:
            self.reset()
        ids = self.tracker.update(detections, frame_index).ids
        if self.counter is not None or self.zone_counter is not None:
            tracks = self.tracker.tracks()
            for counter in (self.counter, self.zone_counter):
                if counter is not None:
                    counter.update(tracks)
        return ids

    def tracks(self) -> list[TrackView]:
        """The tracks seen in the last frame, with their trails."""
        return self.tracker.tracks()

    def counts(self) -> dict[int, int]:
        """Distinct objects (confirmed tracks) seen per class label since the last reset."""
        return self.tracker.counts()

    def line_counts(self) -> dict[tuple[int, str], int]:
        """Crossings of the line per (class label, direction); empty without a line."""
        return {} if self.counter is None else dict(self.counter.counts)

    def zone_counts(self) -> dict[int, tuple[int, int]]:
        """Per class label: (objects inside the zone now, distinct objects seen inside); empty without a zone."""
        z = self.zone_counter
        if z is None:
            return {}
        now, seen = z.inside_counts(), z.seen_counts()
        return {label: (now.get(label, 0), seen.get(label, 0)) for label in sorted(set(now) | set(seen))}


__all__ = ["LiveTracks"]
