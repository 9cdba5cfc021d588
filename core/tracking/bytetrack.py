"""ByteTrack: multi-object tracking by associating every detection box (Zhang et al., ECCV 2022).

    tracker = ByteTracker(TrackerConfig(high_thresh=0.5))
    for frame_index, dets in enumerate(detections_per_frame):
        ids = tracker.update(dets, frame_index).ids     # int64 [N]: the track id of each detection, -1 none

Written from the paper's Algorithm 1 (with the motion model of its code, SORT's Kalman filter; see
:mod:`core.tracking.kalman`) rather than taken from a library: supervision's ``ByteTrack`` matches
across classes and returns only the tracks seen in the frame, while this project needs tracks that
keep their class, the lost tracks (the temporal refinement of pseudo-labels fills their gaps) and no
second OpenCV build (supervision requires ``opencv-python`` beside this project's headless one).

One frame (:meth:`ByteTracker.update`):

1. Every track is moved to this frame by its Kalman filter (several steps when frames were skipped).
2. The detections are split by score: *high* (``>= high_thresh``) and *low* (``>= low_thresh``, below
   high); lower ones are ignored.
3. First association: confirmed tracks, lost ones included, with the high detections, gated at IoU
   ``>= match_iou`` (:func:`core.tracking.association.match`: same class, most pairs, then least
   ``1 - IoU``).
4. Second association: the confirmed tracks seen in the previous frame that are still unmatched, with
   the low detections, at IoU ``>= low_match_iou``. This is ByteTrack's idea: a partly hidden object
   scores low but still belongs to its track, and a low-score box that matches no track is dropped as
   background. The tracks still unmatched become lost.
5. Tentative tracks (born in the previous frame) with the remaining high detections, at IoU
   ``>= tentative_match_iou``; ``min_hits`` detections confirm a track and give it its id. A tentative
   track that misses a frame is deleted, so a one-frame false positive never gets an id.
6. Remaining high detections scoring ``>= new_track_thresh`` start tentative tracks (confirmed at once
   on the first frame after a reset, or when ``min_hits`` is 1).
7. A track lost for more than ``max_lost`` frames is deleted; until then it can be found again with the
   same id.

Ids are 1, 2, 3, ... in the order tracks are confirmed, never reused until :meth:`reset`.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from core.tracking import kalman
from core.tracking.association import match
from core.types import Detections

TENTATIVE, TRACKED, LOST = "tentative", "tracked", "lost"


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack's settings; the defaults are its code's for MOT17 (30 frames/s).

    Attributes:
        high_thresh: detections scoring at least this take part in the first association and start tracks.
        low_thresh: detections below it are ignored; those between it and ``high_thresh`` only extend
            tracks (the second association).
        new_track_thresh: the least score of a detection that starts a track (None: ``high_thresh + 0.1``,
            ByteTrack's ``det_thresh``, at most 1).
        match_iou, low_match_iou, tentative_match_iou: least IoU of a pair in the first, second and
            tentative associations (ByteTrack's costs 0.8, 0.5 and 0.7 as ``1 - IoU``).
        max_lost: frames a lost track is kept before it is deleted (ByteTrack's ``track_buffer``).
        min_hits: detections a new track needs before it gets its id (ByteTrack: 2).
        trail_length: centres kept per track for drawing its trail.
    """

    high_thresh: float = 0.5
    low_thresh: float = 0.1
    new_track_thresh: float | None = None
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    tentative_match_iou: float = 0.3
    max_lost: int = 30
    min_hits: int = 2
    trail_length: int = 30

    def __post_init__(self) -> None:
        for name in ("high_thresh", "low_thresh", "match_iou", "low_match_iou", "tentative_match_iou"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"TrackerConfig.{name} must be in [0, 1], got {value!r}")
        if self.low_thresh > self.high_thresh:
            raise ValueError(f"TrackerConfig.low_thresh ({self.low_thresh!r}) must not exceed high_thresh "
                             f"({self.high_thresh!r})")
        if self.new_track_thresh is not None and not self.high_thresh <= self.new_track_thresh <= 1.0:
            raise ValueError(f"TrackerConfig.new_track_thresh must be in [high_thresh, 1] = [{self.high_thresh}, 1], "
                             f"got {self.new_track_thresh!r}")
        for name, low in (("max_lost", 0), ("min_hits", 1), ("trail_length", 1)):
            value = getattr(self, name)
            if int(value) != value or value < low:
                raise ValueError(f"TrackerConfig.{name} must be an integer >= {low}, got {value!r}")

    @property
    def birth_thresh(self) -> float:
        """The least score that starts a track."""
        return self.new_track_thresh if self.new_track_thresh is not None else min(1.0, self.high_thresh + 0.1)


@dataclass(frozen=True)
class FrameTracks:
    """What :meth:`ByteTracker.update` says about one frame's detections.

    Attributes:
        ids: int64 [N], the id of the confirmed track each detection belongs to, -1 for none (ignored,
            unmatched, or the first detection of a track not yet confirmed).
        keys: int64 [N], the internal key of any track the detection joined, tentative ones included
            (a track keeps its key from birth; -1 for none). Offline users such as the temporal
            refinement link detections by key, so a track's first detection is not lost.
    """

    ids: np.ndarray
    keys: np.ndarray


@dataclass(frozen=True)
class TrackView:
    """A confirmed track as drawn: its id, class, last detected box and trail.

    Attributes:
        track_id: the id (1, 2, ...); label: its class index.
        box: float64 [4], x1, y1, x2, y2 in pixels: the last detection it matched.
        score: that detection's score.
        trail: float64 [K, 2], the centres (x, y) of its last K detections, oldest first.
        lost: it matched no detection in the last frame.
    """

    track_id: int
    label: int
    box: np.ndarray
    score: float
    trail: np.ndarray
    lost: bool


@dataclass
class _Track:
    key: int
    label: int
    mean: np.ndarray
    cov: np.ndarray
    box: np.ndarray
    score: float
    last_frame: int
    trail: deque = field(default_factory=deque)
    hits: int = 1
    track_id: int = -1
    state: str = TENTATIVE

    def observe(self, box: np.ndarray, score: float, frame: int) -> None:
        self.box, self.score, self.last_frame = box, score, frame
        self.hits += 1
        self.trail.append(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))


class ByteTracker:
    """Per-class multi-object tracker (module docstring). Not thread-safe: one caller feeds the frames in order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget every track, the counts and the last frame; ids start again at 1."""
        self._tracks: list[_Track] = []
        self._frame: int | None = None
        self._next_key = 0
        self._next_id = 1
        self._seen: dict[int, int] = {}

    @property
    def last_frame(self) -> int | None:
        """The frame index of the last :meth:`update` (None after a reset)."""
        return self._frame

    def counts(self) -> dict[int, int]:
        """Distinct objects seen since the last reset: confirmed tracks per class label."""
        return dict(self._seen)

    def tracks(self, include_lost: bool = False) -> list[TrackView]:
        """The confirmed tracks, seen in the last frame (and, with ``include_lost``, the lost ones), by id."""
        out = [TrackView(t.track_id, t.label, t.box.copy(), t.score,
                         np.asarray(list(t.trail), np.float64).reshape(-1, 2), t.state == LOST)
               for t in self._tracks if t.state != TENTATIVE and (include_lost or t.state == TRACKED)]
        return sorted(out, key=lambda v: v.track_id)

    # ------------------------------------------------------------------------------------------ one frame
    def update(self, detections: Detections, frame_index: int | None = None) -> FrameTracks:
        """Associate one frame's detections (boxes x1, y1, x2, y2 px) with the tracks (module docstring).

        Args:
            detections: this frame's detections, any score; non-finite boxes or scores are ignored.
            frame_index: the frame's number (default: the last one + 1). Frames may be skipped (the
                tracks move on by as many Kalman steps); a number not after the last one is a ValueError.
        """
        cfg = self.config
        frame = (0 if self._frame is None else self._frame + 1) if frame_index is None else int(frame_index)
        if self._frame is not None and frame <= self._frame:
            raise ValueError(f"frame_index {frame} is not after the last frame tracked ({self._frame}); reset() "
                             f"the tracker to start again")
        first = self._frame is None
        self._predict(1 if first else frame - self._frame)
        self._frame = frame
        boxes = np.asarray(detections.boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(detections.scores, np.float64).reshape(-1)
        labels = np.asarray(detections.labels, np.int64).reshape(-1)
        ids = np.full(len(scores), -1, np.int64)
        keys = np.full(len(scores), -1, np.int64)
        usable = np.isfinite(boxes).all(axis=1) & np.isfinite(scores) & (scores >= cfg.low_thresh)
        free_high = set(np.flatnonzero(usable & (scores >= cfg.high_thresh)).tolist())
        free_low = set(np.flatnonzero(usable & (scores < cfg.high_thresh)).tolist())
        det = (boxes, scores, labels, ids, keys, frame)

        was_tracked = {t.key for t in self._tracks if t.state == TRACKED}
        confirmed = [t for t in self._tracks if t.state != TENTATIVE]
        matched = self._associate(confirmed, free_high, cfg.match_iou, det)
        second = [t for t in confirmed if t.key not in matched and t.key in was_tracked]
        matched |= self._associate(second, free_low, cfg.low_match_iou, det)
        for t in confirmed:
            if t.key not in matched:
                t.state = LOST
        tentative = [t for t in self._tracks if t.state == TENTATIVE]
        matched_tentative = self._associate(tentative, free_high, cfg.tentative_match_iou, det)
        self._tracks = [t for t in self._tracks if t.state != TENTATIVE or t.key in matched_tentative]
        for i in sorted(free_high):
            if scores[i] >= cfg.birth_thresh:
                self._birth(boxes[i], float(scores[i]), int(labels[i]), frame, confirm=first or cfg.min_hits <= 1)
                keys[i] = self._tracks[-1].key
                ids[i] = self._tracks[-1].track_id
        self._tracks = [t for t in self._tracks if t.state != LOST or frame - t.last_frame <= cfg.max_lost]
        return FrameTracks(ids, keys)

    def _predict(self, steps: int) -> None:
        if not self._tracks:
            return
        mean = np.stack([t.mean for t in self._tracks])
        cov = np.stack([t.cov for t in self._tracks])
        lost = np.array([t.state == LOST for t in self._tracks])
        mean[lost, 7] = 0.0  # a lost box keeps its height (ByteTrack)
        for _ in range(min(steps, self.config.max_lost + 1)):
            mean, cov = kalman.predict(mean, cov)
        for t, m, c in zip(self._tracks, mean, cov):
            t.mean, t.cov = m, c

    def _associate(self, tracks: list[_Track], free: set[int], min_iou: float, det: tuple) -> set[int]:
        """Match ``tracks`` with the detections in ``free`` (taken out of it); update the matched tracks.
        Returns the keys of the matched tracks."""
        boxes, scores, labels, ids, keys, frame = det
        if not tracks or not free:
            return set()
        rows = np.array(sorted(free))
        predicted = kalman.cxcyah_to_xyxy(np.stack([t.mean for t in tracks]))
        pairs = match(predicted, np.array([t.label for t in tracks]), boxes[rows], labels[rows], min_iou)
        if not pairs:
            return set()
        chosen = [tracks[r] for r, _ in pairs]
        cols = rows[[c for _, c in pairs]]
        mean, cov = kalman.update(np.stack([t.mean for t in chosen]), np.stack([t.cov for t in chosen]),
                                  kalman.xyxy_to_cxcyah(boxes[cols]))
        for t, m, c, i in zip(chosen, mean, cov, cols.tolist()):
            t.mean, t.cov = m, c
            t.observe(boxes[i].copy(), float(scores[i]), frame)
            if t.state == TENTATIVE and t.hits >= self.config.min_hits:
                self._confirm(t)
            elif t.state == LOST:
                t.state = TRACKED
            free.discard(i)
            keys[i], ids[i] = t.key, t.track_id
        return {t.key for t in chosen}

    def _birth(self, box: np.ndarray, score: float, label: int, frame: int, confirm: bool) -> None:
        mean, cov = kalman.initiate(kalman.xyxy_to_cxcyah(box[None]))
        t = _Track(self._next_key, label, mean[0], cov[0], box.copy(), score, frame,
                   deque(maxlen=self.config.trail_length))
        t.trail.append(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
        self._next_key += 1
        self._tracks.append(t)
        if confirm:
            self._confirm(t)

    def _confirm(self, t: _Track) -> None:
        t.state = TRACKED
        t.track_id = self._next_id
        self._next_id += 1
        self._seen[t.label] = self._seen.get(t.label, 0) + 1


def track_all(frames: Iterable[tuple[int, Detections]], config: TrackerConfig | None = None
              ) -> list[tuple[int, Detections, FrameTracks]]:
    """Run one tracker over ``(frame index, detections)`` in order; each frame with what it said."""
    tracker = ByteTracker(config)
    return [(i, d, tracker.update(d, i)) for i, d in frames]


__all__ = ["TrackerConfig", "ByteTracker", "FrameTracks", "TrackView", "track_all", "TENTATIVE", "TRACKED", "LOST"]
