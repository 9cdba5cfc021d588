"""The tracker's numbers the README and the docstrings state, with values worked out by hand: every term of one
Kalman predict and update, the association's pricing (most pairs first), the default thresholds and gates at
and around their values, and what each pass of ByteTrack may and may not take."""
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


def run(tracker: ByteTracker, frames: dict[int, Detections]) -> list[list[int]]:
    """The ids of each frame's detections, frames in increasing order."""
    return [tracker.update(d, f).ids.tolist() for f, d in sorted(frames.items())]


# ------------------------------------------------------------------------------------------- Kalman filter


def test_kalman_every_term_by_hand() -> None:
    """Box (10, 20, 30, 60): z = (20, 40, 0.5, 40), h = 40. Standard deviations (DeepSORT's): position h/20 = 2,
    velocity h/160 = 0.25, aspect 1e-2 and 1e-5; a new track has twice the position and ten times the velocity
    deviation. The state pairs (x, vx), (y, vy), (a, va), (h, vh) stay independent, so each pair is a 2x2
    filter worked out on its own."""
    z = kalman.xyxy_to_cxcyah(np.array([[10.0, 20.0, 30.0, 60.0]]))
    assert z.tolist() == [[20.0, 40.0, 0.5, 40.0]]
    mean, cov = kalman.initiate(z)
    assert mean.tolist() == [[20.0, 40.0, 0.5, 40.0, 0.0, 0.0, 0.0, 0.0]]
    # (2 * 2)^2 = 16 for x, y, h; (1e-2)^2 for a; (10 * 0.25)^2 = 6.25 for the velocities; (1e-5)^2 for va
    assert np.diag(cov[0]) == pytest.approx([16, 16, 1e-4, 16, 6.25, 6.25, 1e-10, 6.25], rel=1e-12)
    assert np.count_nonzero(cov[0] - np.diag(np.diag(cov[0]))) == 0

    mean, cov = kalman.predict(mean, cov)
    assert mean.tolist() == [[20.0, 40.0, 0.5, 40.0, 0.0, 0.0, 0.0, 0.0]]  # at rest
    # P' = F P F^T + Q: position 16 + 6.25 + 2^2, aspect 1e-4 + 1e-10 + 1e-4, velocity 6.25 + 0.25^2,
    # va 1e-10 + 1e-10; covariance of a term with its velocity: the velocity's variance
    p_pos, p_a, p_vel, p_va = 16 + 6.25 + 4, 2e-4 + 1e-10, 6.25 + 0.0625, 2e-10
    assert np.diag(cov[0]) == pytest.approx([p_pos, p_pos, p_a, p_pos, p_vel, p_vel, p_va, p_vel], rel=1e-12)
    for i in range(4):
        assert cov[0, i, i + 4] == pytest.approx([6.25, 6.25, 1e-10, 6.25][i], rel=1e-12)

    # measurement noise R: 2^2 for x, y, h; (1e-1)^2 for a. S = P' + R per term; gain K = P' / S, its velocity
    # part P'_(v, x) / S; the innovation z2 - z = (4, -2, 0.1, 4).
    new, ncov = kalman.update(mean, cov, np.array([[24.0, 38.0, 0.6, 44.0]]))
    s_pos, s_a = p_pos + 4, p_a + 1e-2
    k_pos, k_vel, k_a, k_va = p_pos / s_pos, 6.25 / s_pos, p_a / s_a, 1e-10 / s_a
    assert new[0] == pytest.approx([20 + 4 * k_pos, 40 - 2 * k_pos, 0.5 + 0.1 * k_a, 40 + 4 * k_pos,
                                    4 * k_vel, -2 * k_vel, 0.1 * k_va, 4 * k_vel], rel=1e-12)
    # P'' = P' - K S K^T: position p_pos * 4 / s_pos, velocity p_vel - 6.25^2 / s_pos, aspect p_a * 1e-2 / s_a
    assert np.diag(ncov[0]) == pytest.approx(
        [p_pos * 4 / s_pos] * 2 + [p_a * 1e-2 / s_a, p_pos * 4 / s_pos]
        + [p_vel - 6.25 ** 2 / s_pos] * 2 + [p_va - 1e-20 / s_a, p_vel - 6.25 ** 2 / s_pos], rel=1e-9)
    assert ncov[0, 0, 4] == pytest.approx(6.25 * 4 / s_pos, rel=1e-12)


def test_a_growing_object_is_predicted_growing() -> None:
    """A square growing by 8 px a frame (40, 48, ..., 128 over frames 0-11): the filter's height velocity
    reaches about 6.9 px a frame and frame 12 is predicted 134 px high, IoU 0.97 with the true 136 px. A low
    box there passes a second-pass gate of 0.9; a filter that did not learn the growth (predicting ~124 px,
    IoU 0.83) would lose it."""
    tracker = ByteTracker(TrackerConfig(min_hits=1, low_match_iou=0.9))
    ids = run(tracker, {f: dets((*square(200, 200, 40 + 8 * f), 0.9, 1)) for f in range(12)})
    ids += run(tracker, {12: dets((*square(200, 200, 136), 0.3, 1))})
    assert ids == [[1]] * 13


# ------------------------------------------------------------------------------------------------ association


def test_iou_of_two_boxes_without_area_is_zero() -> None:
    flat = np.array([[0.0, 0.0, 0.0, 10.0]])
    assert box_iou(flat, flat).tolist() == [[0.0]]  # union 0: no overlap, not 0 / 0


def test_assignment_takes_two_pairs_over_one_better_pair() -> None:
    """Boxes 10 high; x: track A 0-10, B -8-2, detection X 0-9.5, Y 8-18. IoU(A, X) = 0.95, IoU(A, Y) = 20/180
    = 1/9, IoU(B, X) = 20/175 = 4/35, IoU(B, Y) = 0. Gated at 0.1: the two pairs A-Y, B-X (cost 8/9 + 31/35
    = 1.77) beat A-X alone (0.05), because a forbidden pair costs more than all allowed pairs together."""
    tracks = np.array([[0, 0, 10, 10], [-8, 0, 2, 10]], np.float64)
    boxes = np.array([[0, 0, 9.5, 10], [8, 0, 18, 10]], np.float64)
    assert box_iou(tracks, boxes) == pytest.approx(np.array([[0.95, 1 / 9], [4 / 35, 0.0]]))
    assert match(tracks, [1, 1], boxes, [1, 1], 0.1) == [(0, 1), (1, 0)]


# ------------------------------------------------------------------------------------- the default settings


def test_default_second_pass_band_and_gate() -> None:
    """Defaults (README): boxes from 0.1 to under 0.5 extend a track at IoU >= 0.5. Squares of 40 px moved by d
    have IoU (40 - d) / (40 + d): 0.6 at d = 10 (extends), 3/7 = 0.43 at d = 16 (does not)."""
    for shift, score, expected in ((10, 0.15, 1), (16, 0.15, -1), (10, 0.05, -1)):
        tracker = ByteTracker()
        run(tracker, {f: dets((*square(100, 100), 0.9, 1)) for f in range(3)})
        assert run(tracker, {3: dets((*square(100 + shift, 100), score, 1))}) == [[expected]], (shift, score)


def test_default_birth_score_hits_and_tentative_gate() -> None:
    """A track starts from a box scoring at least high_thresh + 0.1 = 0.6 (ByteTrack's det_thresh); after the
    first frame it needs 2 detections (min_hits) before it gets an id, the second at IoU >= 0.3 with the
    first: IoU 3/7 = 0.43 at d = 16 confirms it, 0.25 at d = 24 does not (a new tentative track instead)."""
    assert run(ByteTracker(), {0: dets((*square(100, 100), 0.55, 1), (*square(300, 100), 0.65, 1))}) == [[-1, 1]]
    for shift, second in ((16, 2), (24, -1)):
        tracker = ByteTracker()
        got = run(tracker, {0: dets((*square(100, 100), 0.9, 1)),
                            1: dets((*square(100, 100), 0.9, 1), (*square(300, 300), 0.9, 1)),
                            2: dets((*square(100, 100), 0.9, 1), (*square(300 + shift, 300), 0.9, 1))})
        assert got == [[1], [1, -1], [1, second]], shift


@pytest.mark.parametrize("missed, same", [(30, True), (31, False)])
def test_default_lost_track_keeps_its_id_for_30_frames(missed: int, same: bool) -> None:
    tracker = ByteTracker()
    frames = {f: dets((*square(100, 100), 0.9, 1)) for f in range(3)}
    frames.update({f: Detections.empty() for f in range(3, 3 + missed)})
    frames[3 + missed] = dets((*square(100, 100), 0.9, 1))
    assert run(tracker, frames)[-1] == ([1] if same else [-1])


def test_settings_at_their_bounds_are_accepted() -> None:
    TrackerConfig(high_thresh=1.0, low_thresh=0.0, match_iou=0.0, low_match_iou=1.0, tentative_match_iou=1.0)
    TrackerConfig(high_thresh=0.5, low_thresh=0.5, new_track_thresh=0.5, max_lost=0, min_hits=1, trail_length=1)
    TrackerConfig(high_thresh=0.5, new_track_thresh=1.0)
    assert TrackerConfig(high_thresh=0.95).birth_thresh == 1.0  # 0.95 + 0.1, at most 1


# ----------------------------------------------------------------------------- scores exactly at a threshold


def test_a_box_scoring_exactly_low_thresh_extends_a_track() -> None:
    tracker = ByteTracker(TrackerConfig(low_thresh=0.25, min_hits=1))
    run(tracker, {f: dets((*square(100, 100), 0.9, 1)) for f in range(3)})
    assert run(tracker, {3: dets((*square(100, 100), 0.25, 1))}) == [[1]]


def test_a_box_scoring_exactly_high_thresh_is_a_high_box() -> None:
    """0.5 is high: it starts a track (new_track_thresh 0.5), and it takes part in the first pass only: taken
    there by track 1, the track beside it (IoU 9/11 = 0.82, unmatched) may not take it again in the low pass."""
    cfg = TrackerConfig(high_thresh=0.5, new_track_thresh=0.5, min_hits=1)
    assert run(ByteTracker(cfg), {0: dets((0, 0, 10, 10, 0.5, 1))}) == [[1]]
    tracker = ByteTracker(cfg)
    run(tracker, {f: dets((0, 0, 10, 10, 0.9, 1), (1, 0, 11, 10, 0.9, 1)) for f in range(2)})
    assert run(tracker, {2: dets((0, 0, 10, 10, 0.5, 1))}) == [[1]]
    assert [(v.track_id, v.lost) for v in tracker.tracks(include_lost=True)] == [(1, False), (2, True)]


def test_a_box_scoring_exactly_new_track_thresh_starts_a_track() -> None:
    cfg = TrackerConfig(high_thresh=0.5, new_track_thresh=0.75, min_hits=1)
    got = run(ByteTracker(cfg), {0: dets((0, 0, 10, 10, 0.75, 1), (50, 0, 60, 10, 0.625, 1))})
    assert got == [[1, -1]]


# ------------------------------------------------------------------------------------------ what a pass takes


def test_the_low_pass_takes_only_tracks_seen_in_the_previous_frame() -> None:
    """ByteTrack's second association is for tracks tracked until now: a track already lost (missed frame 3)
    is not found again by a low box at frame 4, a high one finds it."""
    for score, expected in ((0.3, -1), (0.9, 1)):
        tracker = ByteTracker(TrackerConfig(min_hits=1))
        frames = {f: dets((*square(100, 100), 0.9, 1)) for f in range(3)}
        frames[3] = Detections.empty()
        frames[4] = dets((*square(100, 100), score, 1))
        assert run(tracker, frames)[-1] == [expected], score


def test_with_min_hits_1_a_later_track_gets_its_id_at_once() -> None:
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    got = run(tracker, {0: dets((*square(100, 100), 0.9, 1)),
                        1: dets((*square(100, 100), 0.9, 1), (*square(300, 100), 0.9, 2))})
    assert got == [[1], [1, 2]]


def test_a_found_lost_track_is_tracked_again_and_views_say_lost() -> None:
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    run(tracker, {0: dets((*square(100, 100), 0.9, 1), (*square(300, 100), 0.9, 1)),
                  1: dets((*square(100, 100), 0.9, 1))})
    assert [(v.track_id, v.lost) for v in tracker.tracks(include_lost=True)] == [(1, False), (2, True)]
    assert [v.track_id for v in tracker.tracks()] == [1]
    run(tracker, {2: dets((*square(100, 100), 0.9, 1), (*square(300, 100), 0.9, 1))})
    assert [(v.track_id, v.lost) for v in tracker.tracks()] == [(1, False), (2, False)]


def test_the_trail_holds_the_last_box_centres() -> None:
    tracker = ByteTracker(TrackerConfig(min_hits=1, trail_length=2))
    run(tracker, {f: dets((10 + 4 * f, 20, 30 + 4 * f, 60, 0.9, 1)) for f in range(3)})
    [view] = tracker.tracks()
    assert view.trail.tolist() == [[24.0, 40.0], [28.0, 40.0]]  # centres of frames 1 and 2, x = 20 + 4f
    assert view.box.tolist() == [18.0, 20.0, 38.0, 60.0]


def test_a_lost_track_keeps_its_last_height() -> None:
    """The growing square of test_a_growing_object_is_predicted_growing is lost at frame 12 (predicted 134 px)
    and comes back at 128 px at frame 41, 29 missed frames later: found again (IoU 0.91), because a lost track's
    height stops changing (ByteTrack). Grown on at 6.9 px a frame it would be ~333 px: IoU 0.15, under 0.2."""
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    frames = {f: dets((*square(200, 200, 40 + 8 * f), 0.9, 1)) for f in range(12)}
    frames.update({f: Detections.empty() for f in range(12, 41)})
    frames[41] = dets((*square(200, 200, 128), 0.9, 1))
    assert run(tracker, frames)[-1] == [1]


@pytest.mark.timeout(60)
def test_a_huge_frame_jump_is_predicted_in_a_bounded_number_of_steps() -> None:
    """A frame number 10^9 after the last (a stream's counter after a reconnect): a track is moved on at most
    max_lost + 1 Kalman steps (after that it is deleted unless matched), so the update takes no longer than
    that; the object that did not move keeps its id."""
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    run(tracker, {f: dets((*square(100, 100), 0.9, 1)) for f in range(2)})
    assert run(tracker, {10 ** 9: dets((*square(100, 100), 0.9, 1))}) == [[1]]
