"""Line counting (sides and crossings by hand) and the MOTChallenge text format (read back by motrics, the
metric library the tracking benchmark uses)."""
from __future__ import annotations

import numpy as np
import pytest

from core.tracking import ByteTracker, CountingLine, CountingZone, LineCounter, TrackerConfig, mot_lines, mot_text
from core.tracking.bytetrack import TrackView
from core.types import Detections


def view(track_id: int, label: int, cx: float, cy: float) -> TrackView:
    return TrackView(track_id, label, np.array([cx - 5, cy - 5, cx + 5, cy + 5], float), 0.9, np.zeros((0, 2)), False)


def test_side_by_hand() -> None:
    line = CountingLine((0, 0), (10, 0))  # pointing right on the screen; y grows downwards
    assert line.side((5, 3)) == 30.0     # (10)(3) - (0)(5): below, the right-hand side walking a -> b
    assert line.side((5, -2)) == -20.0
    assert line.side((7, 0)) == 0.0


def test_crossings_per_class_and_direction() -> None:
    counter = LineCounter(CountingLine((100, 0), (100, 200)))  # vertical, drawn downwards
    path = {1: [(60, 50), (90, 50), (110, 50), (130, 50)],       # from x < 100 to x > 100
            2: [(150, 80), (120, 80), (95, 80), (70, 80)],       # from x > 100 to x < 100
            3: [(60, 300), (140, 300), (160, 300), (170, 300)]}  # passes below the segment's end: not counted
    crossed = []
    for step in range(4):
        crossed += counter.update([view(tid, 3, *pts[step]) for tid, pts in path.items()])
    # side((x, y)) = (0)(y - 0) - (200)(x - 100) = -200 (x - 100): x < 100 is the positive (right-hand) side
    assert counter.line.side((60, 50)) > 0
    assert crossed == [(1, 3, "out"), (2, 3, "in")]
    assert counter.counts == {(3, "out"): 1, (3, "in"): 1}
    assert counter.total("in") == 1


def test_stopping_on_the_line_and_going_back_is_not_a_crossing() -> None:
    counter = LineCounter(CountingLine((0, 100), (200, 100)))
    for y in (80, 100, 80, 100, 120, 130):  # touches the line twice, then crosses once
        counter.update([view(7, 1, 50, y)])
    assert counter.counts == {(1, "in"): 1}


def test_each_crossing_counts() -> None:
    counter = LineCounter(CountingLine((0, 100), (200, 100)))
    for y in (80, 120, 80, 120):
        counter.update([view(7, 2, 50, y)])
    assert counter.counts == {(2, "in"): 2, (2, "out"): 1}
    assert (counter.total("in"), counter.total("out")) == (2, 1)


def test_side_of_a_slanted_line_by_hand() -> None:
    line = CountingLine((0, 0), (10, 10))  # down and to the right on the screen
    assert line.side((10, 0)) == -100.0   # (10)(0 - 0) - (10)(10 - 0): above it, the left-hand side
    assert line.side((0, 10)) == 100.0    # (10)(10) - (10)(0)
    assert line.side((3, 3)) == 0.0


def test_a_move_from_or_onto_the_line_is_no_crossing_and_the_segment_includes_its_ends() -> None:
    line = CountingLine((0, 100), (200, 100))
    assert not line.crosses((50, 100), (50, 120))  # starts on the line: it has no side there
    assert not line.crosses((50, 80), (50, 100))
    # through the segment's end point (200, 100) exactly: the segment includes it
    assert line.crosses((200, 80), (200, 120)) and not line.crosses((201, 80), (201, 120))
    counter = LineCounter(line)
    for y in (80, 120):
        counter.update([view(4, 1, 200, y)])
    assert counter.counts == {(1, "in"): 1}


def test_a_track_is_its_box_centre() -> None:
    """Boxes 20 px wide straddle the line before their centre crosses it: the crossing is counted when the
    centre passes (the third box), not a corner or an edge."""
    vertical = LineCounter(CountingLine((100, 0), (100, 200)))
    horizontal = LineCounter(CountingLine((0, 100), (200, 100)))
    steps = []
    for lo in (70, 85, 95):  # centres 80, 95, 105: the box's far edge is past the line from the second on
        v = vertical.update([TrackView(1, 2, np.array([lo, 40, lo + 20, 60], float), 0.9, np.zeros((0, 2)), False)])
        h = horizontal.update([TrackView(1, 2, np.array([40, lo, 60, lo + 20], float), 0.9, np.zeros((0, 2)), False)])
        steps.append((len(v), len(h)))
    assert steps == [(0, 0), (0, 0), (1, 1)]


def test_a_line_needs_two_points() -> None:
    with pytest.raises(ValueError, match="two different points"):
        CountingLine((5, 5), (5, 5))
    with pytest.raises(ValueError, match="finite"):
        CountingLine((5, float("nan")), (5, 6))


def test_mot_lines_format_by_hand() -> None:
    boxes = np.array([[10.5, 20, 40.25, 80], [0, 0, 5, 5], [100, 100, 110, 130]], np.float32)
    lines = mot_lines(0, boxes, np.array([0.91, 0.5, 0.7]), np.array([3, -1, 1]))
    # 1-based frame; id order; x, y, w, h; score; -1 for the world coordinates; untracked boxes left out
    assert lines == ["1,1,100,100,10,30,0.7,-1,-1,-1", "1,3,10.5,20,29.75,60,0.91,-1,-1,-1"]
    assert mot_text(lines) == "1,1,100,100,10,30,0.7,-1,-1,-1\n1,3,10.5,20,29.75,60,0.91,-1,-1,-1\n"
    with pytest.raises(ValueError, match="start at 0"):
        mot_lines(-1, boxes, np.ones(3), np.ones(3, int))
    # the score keeps 6 decimals, coordinates 3; a coordinate that rounds to -0 is written 0
    assert mot_lines(4, np.array([[-0.0001, -0.0, 5.1229, 5]]), np.array([0.123456]), np.array([2])) == \
        ["5,2,0,0,5.123,5,0.123456,-1,-1,-1"]
    # only a negative id is "untracked": 0 is an id like any other (the tracker's own start at 1)
    assert mot_lines(0, np.array([[0, 0, 2, 2], [1, 1, 3, 3]]), np.array([0.5, 0.25]), np.array([0, -1])) == \
        ["1,0,0,0,2,2,0.5,-1,-1,-1"]


def test_mot_file_reads_back_in_motrics_and_scores_perfectly(tmp_path) -> None:
    """Tracks of two objects written as MOT text and read by motrics.load_motchallenge: the same frames, ids
    and boxes, and, scored against the truth they came from, MOTA = IDF1 = 1."""
    motrics = pytest.importorskip("motrics")
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    lines, truth = [], []
    for f in range(6):
        boxes = np.array([[10 + 3 * f, 10, 50 + 3 * f, 60], [200 - 2 * f, 40, 240 - 2 * f, 90]], np.float32)
        d = Detections(boxes, np.array([0.9, 0.8], np.float32), np.array([1, 2]))
        lines += mot_lines(f, d.boxes, d.scores, tracker.update(d, f).ids)
        truth.append(boxes)
    path = tmp_path / "tracks.txt"
    path.write_text(mot_text(lines))
    loaded = motrics.load_motchallenge(str(path))   # {frame: (ids, boxes x1, y1, x2, y2)}
    frames = sorted(loaded)
    assert frames == [1, 2, 3, 4, 5, 6]
    ids = [list(loaded[f][0]) for f in frames]
    assert ids == [[1, 2]] * 6
    assert np.allclose(np.array(loaded[1][1], float), truth[0])
    r = motrics.evaluate(motrics.Frames([[1, 2]] * 6, [t.astype(float) for t in truth]),
                         motrics.Frames(ids, [np.array(loaded[f][1], float) for f in frames]))
    assert r.clear.mota == 1.0 and r.identity.idf1 == 1.0


def test_a_zone_of_area_1e_9_is_the_smallest_accepted() -> None:
    """Area by the shoelace formula, by hand: the triangle (0, 0), (1, 0), (0, h) has x_i y_{i+1} - x_{i+1} y_i
    summing to h, area h / 2. h = 2e-9 gives exactly 1e-9 (halving is exact in binary): accepted; one step
    below is no area. A square of side 10 has area 100 whichever way it is drawn."""
    assert CountingZone(((0, 0), (1, 0), (0, 2e-9))).area == 1e-9
    with pytest.raises(ValueError, match="lie on one line"):
        CountingZone(((0, 0), (1, 0), (0, float(np.nextafter(2e-9, 0)))))
    assert CountingZone(((0, 0), (10, 0), (10, 10), (0, 10))).area == 100.0
    assert CountingZone(((0, 0), (0, 10), (10, 10), (10, 0))).area == 100.0
    assert CountingZone(((0, 0), (4, 0), (4, 3))).area == 6.0
