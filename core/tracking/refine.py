"""Temporal refinement of a detector's per-frame boxes: the labels a teacher gives a video, cleaned by time.

    refiner = TemporalRefiner(TemporalConfig(score_thresh=0.5, max_gap=10, min_track=3, smooth=3))
    for index, dets in enumerate(teacher_detections):         # consecutive frames, detections >= low_thresh
        for frame in refiner.push(index, dets):                # frames whose labels are final, in order
            use(frame.index, frame.detections, frame.interpolated)
    for frame in refiner.finish():
        ...

A teacher's labels flicker: an object found in frames 10 and 12 is missed in 11; a false box shows for
one frame. Linking the detections into tracks fixes both:

1. **Link.** A :class:`core.tracking.ByteTracker` (per class; tracks start from detections scoring
   ``>= score_thresh``, lower ones down to ``low_thresh`` extend them; a track lost for more than
   ``max_gap`` frames ends) gives every detection the key of its track.
2. **Drop short tracks.** A track the teacher detected in fewer than ``min_track`` frames is dropped
   with all its boxes (a one-frame false positive is such a track).
3. **Fill gaps.** Between two detections of a track ``L < R`` with ``R - L - 1 <= max_gap`` missing
   frames, frame ``f`` gets ``box_L + (box_R - box_L) (f - L) / (R - L)`` and the score interpolated the
   same way, marked ``interpolated``.
4. **Smooth.** The box of a track at frame ``t`` is the mean of its boxes (detected or filled) at the
   frames ``t - h .. t + h`` it covers, ``h = smooth // 2`` (fewer at the ends of the track; ``smooth``
   1 keeps the boxes as they are).
5. **One class per object.** Tracks are per class, so a teacher unsure between two classes makes two
   tracks on one object (one of them often kept alive by the low-score pass). In each frame, where boxes
   of different classes overlap at IoU ``>= one_class_iou``, only the one of the track with the highest
   mean score over its detections stays (None: no such step).

The result of frame ``t`` is every kept track covering ``t``, with its class and that box: detections of
kept tracks that scored under ``score_thresh`` (a partly hidden object the second association kept)
stay; detections of dropped tracks go. Frames come out in order, each as soon as nothing later can
change it (at most a few times ``max_gap`` frames after it), so memory stays bounded on long videos.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from core.tracking.association import box_iou
from core.tracking.bytetrack import ByteTracker, TrackerConfig
from core.types import Detections


@dataclass(frozen=True)
class TemporalConfig:
    """The refinement's settings (module docstring).

    Attributes:
        score_thresh: detections scoring at least this start tracks (the labels' threshold).
        low_thresh: detections down to this may extend a track (ByteTrack's second association);
            the detector must be run at this threshold or lower.
        max_gap: the most missing frames filled between two detections of a track.
        min_track: the fewest frames in which the teacher detected a track for it to be kept.
        smooth: the odd window (frames) of the boxes' moving average; 1: no smoothing.
        one_class_iou: boxes of different classes overlapping at least this are one object: only the
            strongest track's box stays (None: keep both).
    """

    score_thresh: float = 0.5
    low_thresh: float = 0.1
    max_gap: int = 10
    min_track: int = 3
    smooth: int = 3
    one_class_iou: float | None = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_thresh <= self.score_thresh <= 1.0:
            raise ValueError(f"TemporalConfig: need 0 <= low_thresh <= score_thresh <= 1, got low_thresh="
                             f"{self.low_thresh!r}, score_thresh={self.score_thresh!r}")
        for name, low in (("max_gap", 0), ("min_track", 1), ("smooth", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"TemporalConfig.{name} (--{name.replace('_', '-')}) must be an integer >= {low}, "
                                 f"got {value!r}")
        if self.one_class_iou is not None and not 0.0 < self.one_class_iou <= 1.0:
            raise ValueError(f"TemporalConfig.one_class_iou must be in (0, 1] or None, got {self.one_class_iou!r}")
        if self.smooth % 2 == 0:
            raise ValueError(f"TemporalConfig.smooth (--smooth) must be odd (a window centred on the frame), "
                             f"got {self.smooth!r}")

    def tracker_config(self) -> TrackerConfig:
        """The tracker that links the detections: every track confirmed at birth (short ones are dropped
        afterwards, by ``min_track``), kept while lost for up to ``max_gap`` frames."""
        return TrackerConfig(high_thresh=self.score_thresh, low_thresh=self.low_thresh,
                             new_track_thresh=self.score_thresh, max_lost=self.max_gap, min_hits=1, trail_length=1)

    def settings(self) -> dict[str, float | int]:
        """What makes the refined labels what they are (part of a pseudo-labelling's resume identity)."""
        return {"low_thresh": self.low_thresh, "max_gap": self.max_gap, "min_track": self.min_track,
                "smooth": self.smooth, "one_class_iou": self.one_class_iou}


@dataclass(frozen=True)
class RefinedFrame:
    """The refined labels of one frame.

    Attributes:
        index: the frame number given to :meth:`TemporalRefiner.push`.
        detections: boxes float32 [N, 4] x1, y1, x2, y2 px, scores float32 [N] (filled boxes: the
            interpolated score), labels int64 [N]; sorted by score, highest first.
        interpolated: bool [N], True for a box filled into a gap (no detection of the teacher there).
        track_keys: int64 [N], the track each box belongs to.
    """

    index: int
    detections: Detections
    interpolated: np.ndarray
    track_keys: np.ndarray


@dataclass
class _Obs:
    """One track's detections: frames ascending, boxes and scores in the same order."""

    label: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def mean_score(self, first: int, last: int) -> float:
        """The mean score of the detections at frames ``first .. last`` (0 without any)."""
        lo, hi = bisect.bisect_left(self.frames, first), bisect.bisect_right(self.frames, last)
        return float(np.mean(self.scores[lo:hi])) if hi > lo else 0.0

    def at(self, f: int, max_gap: int) -> tuple[np.ndarray, float, bool] | None:
        """(box, score, interpolated) at frame ``f``, or None where the track does not cover it."""
        k = bisect.bisect_left(self.frames, f)
        if k < len(self.frames) and self.frames[k] == f:
            return self.boxes[k], self.scores[k], False
        if k == 0 or k == len(self.frames):
            return None
        left, right = self.frames[k - 1], self.frames[k]
        if right - left - 1 > max_gap:
            return None
        w = (f - left) / (right - left)
        box = self.boxes[k - 1] + (self.boxes[k] - self.boxes[k - 1]) * w
        return box, self.scores[k - 1] + (self.scores[k] - self.scores[k - 1]) * w, True


class TemporalRefiner:
    """Streams ``(frame index, detections)`` in, refined frames out (module docstring)."""

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config or TemporalConfig()
        self._tracker = ByteTracker(self.config.tracker_config())
        self._tracks: dict[int, _Obs] = {}
        self._pending: list[int] = []
        self._last: int | None = None

    def push(self, index: int, detections: Detections) -> list[RefinedFrame]:
        """Add the detections of frame ``index`` (after the previous one; frames are consecutive; a
        skipped number is a frame without detections that is not given back). Returns the frames now final, in order."""
        ids = self._tracker.update(detections, index)
        self._last = int(index)
        boxes = np.asarray(detections.boxes, np.float64).reshape(-1, 4)
        for i, key in enumerate(ids.keys.tolist()):
            if key < 0:
                continue
            obs = self._tracks.setdefault(key, _Obs(int(detections.labels[i])))
            obs.frames.append(self._last)
            obs.boxes.append(boxes[i].copy())
            obs.scores.append(float(detections.scores[i]))
        self._pending.append(self._last)
        return self._emit(final=False)

    def finish(self) -> list[RefinedFrame]:
        """The frames still pending: the end of the stream decides everything."""
        return self._emit(final=True)

    def _decided(self, obs: _Obs, final: bool) -> bool:
        """Long enough to keep, or ended (no detection can join it any more)."""
        return (final or len(obs.frames) >= self.config.min_track
                or self._last >= obs.frames[-1] + self.config.max_gap + 1)

    def _ready(self, t: int) -> bool:
        cfg = self.config
        reach = cfg.smooth // 2 + cfg.max_gap + 1
        if self._last < t + reach:
            return False
        return all(self._decided(o, False) for o in self._tracks.values()
                   if o.frames[-1] >= t - reach and o.frames[0] <= t + reach)

    def _emit(self, final: bool) -> list[RefinedFrame]:
        out = []
        while self._pending and (final or self._ready(self._pending[0])):
            out.append(self._frame(self._pending.pop(0)))
        if self._pending:  # tracks that can no longer reach the oldest pending frame's window
            horizon = self._pending[0] - self.config.smooth // 2 - self.config.max_gap - 1
            self._tracks = {k: o for k, o in self._tracks.items() if o.frames[-1] >= horizon}
        return out

    def _frame(self, t: int) -> RefinedFrame:
        cfg = self.config
        h = cfg.smooth // 2
        reach = h + cfg.max_gap + 1  # what is known of every track around t when t is final
        boxes, scores, labels, flags, keys, strength = [], [], [], [], [], []
        for key, obs in self._tracks.items():
            if len(obs.frames) < cfg.min_track:
                continue
            here = obs.at(t, cfg.max_gap)
            if here is None:
                continue
            window = [obs.at(f, cfg.max_gap) for f in range(t - h, t + h + 1)]
            boxes.append(np.mean([w[0] for w in window if w is not None], axis=0))
            scores.append(here[1])
            labels.append(obs.label)
            flags.append(here[2])
            keys.append(key)
            strength.append(obs.mean_score(t - reach, t + reach))
        if cfg.one_class_iou is not None:
            keep = one_class(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(labels, np.int64),
                             np.asarray(strength, np.float64), cfg.one_class_iou).tolist()
            boxes, scores, labels, flags, keys = ([x for x, k in zip(a, keep) if k]
                                                  for a in (boxes, scores, labels, flags, keys))
        order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
        dets = Detections(np.asarray(boxes, np.float32).reshape(-1, 4)[order],
                          np.asarray(scores, np.float32)[order], np.asarray(labels, np.int64)[order])
        return RefinedFrame(t, dets, np.asarray(flags, bool)[order], np.asarray(keys, np.int64)[order])


def one_class(boxes: np.ndarray, labels: np.ndarray, strength: np.ndarray, min_iou: float) -> np.ndarray:
    """Which boxes stay when boxes of different classes overlapping at IoU ``>= min_iou`` are one object:
    strongest first, each removes the weaker boxes of other classes it overlaps (bool [N]).

    Args:
        boxes: float [N, 4] x1, y1, x2, y2 px; labels: int [N]; strength: float [N], ties kept in order.
    """
    keep = np.ones(len(labels), bool)
    if len(labels) < 2:
        return keep
    iou = box_iou(boxes, boxes)
    for i in np.argsort(-strength, kind="stable").tolist():
        if keep[i]:
            clash = (iou[i] >= min_iou) & (labels != labels[i])
            keep &= ~clash
    return keep


def refine_all(frames: list[tuple[int, Detections]], config: TemporalConfig | None = None) -> list[RefinedFrame]:
    """:class:`TemporalRefiner` over a whole list of ``(frame index, detections)``."""
    refiner = TemporalRefiner(config)
    out = [r for index, dets in frames for r in refiner.push(index, dets)]
    return out + refiner.finish()


__all__ = ["TemporalConfig", "TemporalRefiner", "RefinedFrame", "one_class", "refine_all"]
