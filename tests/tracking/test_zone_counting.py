"""Zone counting by hand-made tracks: inside or not (border, concave and crossing polygons), the objects inside
now and the distinct ones seen inside, per class; through LiveTracks with a real tracker."""
from __future__ import annotations

import numpy as np
import pytest

from core.tracking import CountingZone, LiveTracks, ZoneCounter
from core.tracking.bytetrack import TrackView
from core.types import Detections

SQUARE = ((100, 100), (200, 100), (200, 200), (100, 200))


def view(track_id: int, label: int, cx: float, cy: float, lost: bool = False) -> TrackView:
    return TrackView(track_id, label, np.array([cx - 5, cy - 5, cx + 5, cy + 5], float), 0.9, np.zeros((0, 2)), lost)


def test_area_by_the_shoelace_formula() -> None:
    assert CountingZone(SQUARE).area == 10_000.0
    # a right triangle with legs 30 and 40: 30 * 40 / 2
    assert CountingZone(((0, 0), (30, 0), (0, 40))).area == 600.0
    # an L: the 20 x 20 square without its 10 x 10 top-right quarter, 400 - 100
    assert CountingZone(((0, 0), (10, 0), (10, 10), (20, 10), (20, 20), (0, 20))).area == 300.0


def test_inside_outside_and_on_the_border() -> None:
    zone = CountingZone(SQUARE)
    assert zone.contains((150, 150)) and zone.contains((100, 150)) and zone.contains((200, 200))  # border counts
    assert not zone.contains((99, 150)) and not zone.contains((150, 201))
    ell = CountingZone(((0, 0), (10, 0), (10, 10), (20, 10), (20, 20), (0, 20)))  # concave
    assert ell.contains((5, 5)) and ell.contains((15, 15)) and not ell.contains((15, 5))


def test_a_zone_needs_three_points_and_an_area() -> None:
    with pytest.raises(ValueError, match="at least three finite points"):
        CountingZone(((0, 0), (10, 10)))
    with pytest.raises(ValueError, match="at least three finite points"):
        CountingZone(((0, 0), (10, float("inf")), (5, 5)))
    with pytest.raises(ValueError, match="lie on one line"):
        CountingZone(((0, 0), (5, 5), (10, 10)))


def test_inside_now_and_distinct_seen_per_class() -> None:
    counter = ZoneCounter(CountingZone(SQUARE))
    # track 1 (class 2) walks through the zone and out; track 2 (class 2) comes in and stays; track 3 (class 5)
    # stays outside; track 4 (class 5) is inside, lost for a frame (not counted then), seen again, leaves and
    # comes back (one distinct object).
    frames = [
        [view(1, 2, 50, 150), view(2, 2, 150, 50), view(3, 5, 300, 300), view(4, 5, 150, 150)],
        [view(1, 2, 150, 150), view(2, 2, 150, 120), view(3, 5, 300, 300), view(4, 5, 150, 150, lost=True)],
        [view(1, 2, 250, 150), view(2, 2, 150, 130), view(3, 5, 300, 300), view(4, 5, 160, 160)],
        [view(2, 2, 150, 140), view(4, 5, 260, 160)],
        [view(2, 2, 150, 150), view(4, 5, 190, 160)],
    ]
    entered = [counter.update(f) for f in frames]
    assert entered == [[(4, 5)], [(1, 2), (2, 2)], [(4, 5)], [], [(4, 5)]]
    assert counter.inside_counts() == {2: 1, 5: 1}         # tracks 2 and 4 are inside now
    assert counter.seen_counts() == {2: 2, 5: 1}           # tracks 1 and 2 of class 2, track 4 of class 5
    counter.reset()
    assert counter.inside_counts() == {} and counter.seen_counts() == {}


def test_live_tracks_count_a_zone_with_the_real_tracker() -> None:
    live = LiveTracks()
    live.set_threshold(0.5)
    live.set_zone(CountingZone(SQUARE))
    # one object of class 1 moving right by 10 px a frame through the zone, one of class 3 standing inside
    for k in range(20):
        x = 60 + 10 * k
        boxes = np.array([[x - 20, 140, x + 20, 160], [140, 170, 160, 190]], np.float32)
        live.update(k, Detections(boxes, np.array([0.9, 0.8], np.float32), np.array([1, 3], np.int64)))
    # the mover's centre is at x = 250 in the last frame: out again; the still one is inside
    assert live.zone_counts() == {1: (0, 1), 3: (1, 1)}
    live.set_zone(None)
    assert live.zone_counts() == {}
