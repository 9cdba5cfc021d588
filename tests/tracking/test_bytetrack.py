"""The tracker's association on hand-made detections: a crossing, a miss of N frames, the low-score second
pass, the IoU thresholds at exactly their value, per-class tracks, and the Kalman filter's arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from core.tracking import ByteTracker, TrackerConfig, kalman
from core.tracking.association import box_iou, match
from core.types import Detections


def dets(*rows: tuple) -> Detections:
    """Detections from rows (x1, y1, x2, y2, score, label)."""
    a = np.asarray(rows, np.float64).reshape(-1, 6)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.float32), a[:, 5].astype(np.int64))


def square(cx: float, cy: float, side: float = 40.0) -> tuple[float, float, float, float]:
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def test_iou_by_hand() -> None:
    # (0, 0, 10, 10) and (5, 0, 15, 10): intersection 5 x 10 = 50, union 100 + 100 - 50 = 150.
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 10]]))
    assert iou[0, 0] == pytest.approx(1 / 3, abs=1e-15)
    assert iou[0, 1] == 0.0 and iou[0, 2] == 0.0  # apart; a box without area


def test_iou_threshold_is_inclusive_at_exactly_its_value() -> None:
    track = np.array([[0.0, 0.0, 10.0, 10.0]])
    at = np.array([[0.0, 0.0, 2.0, 10.0]])       # intersection 20, union 100: IoU 0.2 exactly
    assert box_iou(track, at)[0, 0] == 0.2
    assert match(track, [1], at, [1], 0.2) == [(0, 0)]
    assert match(track, [1], at, [1], np.nextafter(0.2, 1.0)) == []
    assert match(track, [1], at, [2], 0.2) == []  # another class never matches


def test_first_association_threshold_in_the_tracker() -> None:
    """A still track predicted at (0, 0, 10, 10): a detection at IoU exactly match_iou keeps its id, one just
    under it starts another track."""
    for x2, same in ((2.0, True), (1.99, False)):
        tracker = ByteTracker(TrackerConfig(match_iou=0.2, min_hits=1))
        first = tracker.update(dets((0, 0, 10, 10, 0.9, 1)), 0).ids[0]
        tracker.update(dets((0, 0, 10, 10, 0.9, 1)), 1)
        after = tracker.update(dets((0, 0, x2, 10, 0.9, 1)), 2).ids[0]
        assert bool(after == first) is same, (x2, first, after)


def test_matching_takes_the_most_pairs_then_the_lowest_cost() -> None:
    """Greedy (or a cost with a price for leaving a pair out) would give track 0 its best box (IoU 0.9) and
    leave track 1 alone; the gated assignment matches both: 0.55 and 0.8 instead."""
    tracks = np.array([[0, 0, 10, 10], [0, 1, 10, 10]], np.float64)
    boxes = np.array([[0, 0, 10, 9], [0, 0, 10, 5.5]], np.float64)
    iou = box_iou(tracks, boxes)
    assert np.allclose(iou, [[0.9, 0.55], [0.8, 0.45]])
    assert match(tracks, [1, 1], boxes, [1, 1], 0.5) == [(0, 1), (1, 0)]
    # the same two pairs, cheaper: track 0 to box 0 (cost 0.1) and track 1 to nothing is not taken either
    assert match(tracks, [1, 1], boxes[:1], [1], 0.5) == [(0, 0)]


def test_two_objects_crossing_keep_their_ids() -> None:
    """Two squares of one class pass each other (their boxes overlap at IoU up to 0.67 around frame 10);
    the Kalman filter's velocities keep each id on its own object."""
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    history = []
    for f in range(21):
        a, b = square(20 + 10 * f, 100), square(220 - 10 * f, 108)
        out = tracker.update(dets((*a, 0.9, 1), (*b, 0.8, 1)), f)
        history.append(out.ids.tolist())
    assert box_iou(np.array([square(120, 100)]), np.array([square(120, 108)]))[0, 0] > 0.6
    assert all(h == history[0] for h in history), history
    assert sorted(history[0]) == [1, 2]


def test_a_miss_of_n_frames_keeps_the_id_up_to_max_lost() -> None:
    for missed, same in ((3, True), (4, False)):
        tracker = ByteTracker(TrackerConfig(max_lost=3, min_hits=1))
        ids = []
        for f in range(12):
            seen = not (4 <= f < 4 + missed)
            out = tracker.update(dets((*square(50 + 5 * f, 60), 0.9, 2)) if seen else Detections.empty(), f)
            ids += out.ids.tolist()
        assert (len(set(ids)) == 1) is same, (missed, ids)


def test_lost_track_is_predicted_along_its_motion() -> None:
    """After 5 missed frames the object reappears 25 px further on: the prediction follows it (a still
    prediction would have IoU under 0.2 with it)."""
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    ids = [tracker.update(dets((*square(40 + 5 * f, 60, 20), 0.9, 1)), f).ids[0] for f in range(10)]
    ids.append(tracker.update(dets((*square(40 + 5 * 16, 60, 20), 0.9, 1)), 16).ids[0])
    assert box_iou(np.array([square(85, 60, 20)]), np.array([square(120, 60, 20)]))[0, 0] < 0.2
    assert set(ids) == {1}


def test_low_score_second_pass_keeps_the_track() -> None:
    """A detection at 0.3 (under high_thresh 0.5, over low_thresh 0.1) extends the track it overlaps;
    without the second pass (low_thresh = high_thresh) it is ignored and the track is lost."""
    def run(low: float) -> list[int]:
        tracker = ByteTracker(TrackerConfig(high_thresh=0.5, low_thresh=low, min_hits=1))
        scores = [0.9, 0.9, 0.9, 0.3, 0.3, 0.9]
        out = [tracker.update(dets((*square(50 + 4 * f, 50), s, 1)), f).ids[0] for f, s in enumerate(scores)]
        return [int(v) for v in out]

    assert run(0.1) == [1, 1, 1, 1, 1, 1]
    assert run(0.5) == [1, 1, 1, -1, -1, 1]


def test_low_score_detection_never_starts_a_track() -> None:
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    tracker.update(dets((*square(50, 50), 0.9, 1)), 0)
    out = tracker.update(dets((*square(52, 50), 0.9, 1), (*square(200, 200), 0.3, 1)), 1)
    assert out.ids.tolist() == [1, -1] and out.keys.tolist()[1] == -1
    assert tracker.counts() == {1: 1}


def test_tentative_track_gets_its_id_on_its_second_detection() -> None:
    tracker = ByteTracker(TrackerConfig(min_hits=2))
    assert tracker.update(dets((*square(50, 50), 0.9, 1)), 0).ids.tolist() == [1]  # the first frame: at once
    out = tracker.update(dets((*square(52, 50), 0.9, 1), (*square(200, 200), 0.9, 3)), 1)
    assert out.ids.tolist() == [1, -1] and out.keys[1] >= 0  # tentative: a key, no id yet
    out = tracker.update(dets((*square(54, 50), 0.9, 1), (*square(201, 200), 0.9, 3)), 2)
    assert out.ids.tolist() == [1, 2]
    # a one-frame false positive never gets an id, and its tentative track is deleted
    tracker.update(dets((*square(56, 50), 0.9, 1), (*square(202, 200), 0.9, 3), (*square(400, 50), 0.9, 5)), 3)
    out = tracker.update(dets((*square(58, 50), 0.9, 1), (*square(203, 200), 0.9, 3)), 4)
    assert out.ids.tolist() == [1, 2] and tracker.counts() == {1: 1, 3: 1}


def test_classes_keep_their_own_tracks() -> None:
    """Two classes on the same box: two tracks; a track never takes a box of another class."""
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    for f in range(4):
        out = tracker.update(dets((*square(50 + f, 50), 0.9, 1), (*square(50 + f, 50), 0.8, 2)), f)
    assert out.ids.tolist() == [1, 2]
    assert [v.label for v in tracker.tracks()] == [1, 2]
    out = tracker.update(dets((*square(54, 50), 0.9, 2)), 4)
    assert out.ids.tolist() == [2]


def test_frames_must_go_forward_and_reset_starts_over() -> None:
    tracker = ByteTracker()
    tracker.update(dets((*square(50, 50), 0.9, 1)), 5)
    with pytest.raises(ValueError, match="frame_index 5 is not after the last frame tracked"):
        tracker.update(Detections.empty(), 5)
    tracker.reset()
    assert tracker.update(dets((*square(50, 50), 0.9, 1)), 0).ids.tolist() == [1]


@pytest.mark.parametrize("changes, field", [({"low_thresh": 0.6}, "low_thresh"), ({"high_thresh": 1.5}, "high_thresh"),
                                            ({"max_lost": -1}, "max_lost"), ({"min_hits": 0}, "min_hits"),
                                            ({"new_track_thresh": 0.2}, "new_track_thresh")])
def test_bad_settings_are_refused_by_name(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TrackerConfig(**changes)


def test_kalman_by_hand() -> None:
    """One predict and one update of a track at rest, checked against the formulas written out."""
    z = kalman.xyxy_to_cxcyah(np.array([[10.0, 20.0, 30.0, 60.0]]))
    assert z.tolist() == [[20.0, 40.0, 0.5, 40.0]]
    mean, cov = kalman.initiate(z)
    # initial std of x: 2 * h / 20 = 4 -> variance 16; of vx: 10 * h / 160 = 2.5 -> 6.25
    assert cov[0, 0, 0] == pytest.approx(16.0) and cov[0, 4, 4] == pytest.approx(6.25)
    mean, cov = kalman.predict(mean, cov)
    # var(x) = 16 + 6.25 (velocity carried into position) + (h / 20)^2 = 4 -> 26.25
    assert cov[0, 0, 0] == pytest.approx(26.25) and cov[0, 0, 4] == pytest.approx(6.25)
    z2 = np.array([[24.0, 40.0, 0.5, 40.0]])
    new, _ = kalman.update(mean, cov, z2)
    # gain of x: P_xx / (P_xx + R), R = (h / 20)^2 = 4 -> x = 20 + 4 * 26.25 / 30.25
    assert new[0, 0] == pytest.approx(20 + 4 * 26.25 / 30.25)
    # velocity: P_vx,x / (P_xx + R) * innovation = 6.25 / 30.25 * 4
    assert new[0, 4] == pytest.approx(6.25 / 30.25 * 4)
    assert np.allclose(kalman.cxcyah_to_xyxy(z), [[10.0, 20.0, 30.0, 60.0]])


def test_a_lost_track_keeps_its_height() -> None:
    """A square growing by 8 px a frame is lost for 20 frames and comes back at its last size: found again,
    because a lost track's height stops changing (ByteTrack); grown on by its velocity it would not match."""
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    ids = [tracker.update(dets((*square(200, 200, 40 + 8 * f), 0.9, 1)), f).ids[0] for f in range(12)]
    ids.append(tracker.update(dets((*square(200, 200, 128), 0.9, 1)), 32).ids[0])
    assert set(ids) == {1}
