"""Objects over time: ByteTrack's multi-object tracker, line and zone counting, the MOTChallenge text format and
the temporal refinement of a teacher's labels. Plain NumPy and SciPy; no Qt, no torch.

    from core.tracking import ByteTracker, TrackerConfig
    tracker = ByteTracker(TrackerConfig(high_thresh=0.5))
    ids = tracker.update(detections, frame_index).ids   # int64 [N], -1: no track

Modules: :mod:`~core.tracking.kalman` (the motion model), :mod:`~core.tracking.association` (IoU and
the gated assignment), :mod:`~core.tracking.bytetrack` (the tracker), :mod:`~core.tracking.counting`
(line crossings, objects in a zone), :mod:`~core.tracking.live` (tracks and counts for a player that seeks),
:mod:`~core.tracking.mot` (the text export), :mod:`~core.tracking.refine` (tracks
that clean pseudo-labels).
"""
from core.tracking.bytetrack import ByteTracker, FrameTracks, TrackerConfig, TrackView, track_all
from core.tracking.counting import CountingLine, CountingZone, LineCounter, ZoneCounter
from core.tracking.live import LiveTracks
from core.tracking.mot import mot_lines, mot_text
from core.tracking.refine import RefinedFrame, TemporalConfig, TemporalRefiner, refine_all

__all__ = ["ByteTracker", "FrameTracks", "TrackerConfig", "TrackView", "track_all", "CountingLine", "LineCounter", "CountingZone", "ZoneCounter",
           "LiveTracks", "mot_lines", "mot_text", "RefinedFrame", "TemporalConfig", "TemporalRefiner", "refine_all"]
