"""The temporal refinement's arithmetic on hand-made tracks: a gap filled by linear interpolation, a short
track dropped, a smoothed box computed by hand, the low-score detections a kept track keeps, and the
stream giving every frame once, in order, whatever the batch of frames it waits for."""
from __future__ import annotations

import numpy as np
import pytest

from core.tracking import TemporalConfig, TemporalRefiner, refine_all
from core.types import Detections


def frame(*rows: tuple) -> Detections:
    a = np.asarray(rows, np.float64).reshape(-1, 6)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.float32), a[:, 5].astype(np.int64))


def by_index(refined: list) -> dict:
    return {r.index: r for r in refined}


def test_gap_filled_by_linear_interpolation() -> None:
    """Seen at frames 0-2 and 6-8 (x1 = 10 + 2f), missed at 3-5: the three missing boxes are interpolated
    between frame 2 (x1 = 14) and frame 6 (x1 = 22): 16, 18, 20; scores between 0.9 and 0.6: 0.825, 0.75, 0.675."""
    stream = []
    for f in range(9):
        x = 10 + 2 * f
        score = 0.9 if f < 3 else 0.6
        stream.append((f, frame((x, 20, x + 30, 50, score, 1)) if f not in (3, 4, 5) else Detections.empty()))
    out = by_index(refine_all(stream, TemporalConfig(max_gap=3, min_track=3, smooth=1)))
    assert sorted(out) == list(range(9))
    for f, x1, score in ((3, 16, 0.825), (4, 18, 0.75), (5, 20, 0.675)):
        r = out[f]
        assert r.interpolated.tolist() == [True]
        assert r.detections.boxes[0].tolist() == pytest.approx([x1, 20, x1 + 30, 50])
        assert float(r.detections.scores[0]) == pytest.approx(score, abs=1e-6)
    assert out[2].interpolated.tolist() == [False] and out[6].interpolated.tolist() == [False]


def test_gap_longer_than_max_gap_is_not_filled() -> None:
    stream = [(f, frame((10 + 2 * f, 20, 40 + 2 * f, 50, 0.9, 1)) if f not in (3, 4, 5) else Detections.empty())
              for f in range(9)]
    out = by_index(refine_all(stream, TemporalConfig(max_gap=2, min_track=3, smooth=1)))
    assert [len(out[f].detections) for f in range(9)] == [1, 1, 1, 0, 0, 0, 1, 1, 1]


def test_short_track_dropped() -> None:
    """A box seen in two frames (min_track 3) goes with all its boxes; the object seen in three stays."""
    stream = []
    for f in range(6):
        rows = [(100, 100, 140, 140, 0.95, 2)]
        if f in (2, 3):
            rows.append((10, 10, 30, 30, 0.99, 5))  # a two-frame false positive
        stream.append((f, frame(*rows)))
    out = refine_all(stream, TemporalConfig(max_gap=2, min_track=3, smooth=1))
    assert [r.detections.labels.tolist() for r in out] == [[2]] * 6
    kept = refine_all(stream, TemporalConfig(max_gap=2, min_track=2, smooth=1))
    assert [sorted(r.detections.labels.tolist()) for r in kept] == [[2], [2], [2, 5], [2, 5], [2], [2]]


def test_smoothed_box_by_hand() -> None:
    """smooth 3: the box at frame t is the mean of the track's boxes at t-1, t, t+1 (two at the track's ends).
    x1 over frames 0-4: 10, 16, 13, 19, 22 -> smoothed 13, 13, 16, 18, 20.5."""
    xs = [10, 16, 13, 19, 22]
    stream = [(f, frame((x, 0, x + 40, 40, 0.9, 1))) for f, x in enumerate(xs)]
    out = refine_all(stream, TemporalConfig(max_gap=2, min_track=1, smooth=3))
    assert [float(r.detections.boxes[0, 0]) for r in out] == pytest.approx([13, 13, 16, 18, 20.5])
    assert [float(r.detections.boxes[0, 2]) for r in out] == pytest.approx([53, 53, 56, 58, 60.5])


def test_smoothing_averages_filled_boxes_too() -> None:
    """x1 = 0 at frame 0, a gap at 1 (filled: 10), 20 at frame 2, 30 at frame 3: smooth 3 at frame 2 is
    (10 + 20 + 30) / 3 = 20 and at frame 1 (0 + 10 + 20) / 3 = 10."""
    stream = [(0, frame((0, 0, 40, 40, 0.9, 1))), (1, Detections.empty()), (2, frame((20, 0, 60, 40, 0.9, 1))),
              (3, frame((30, 0, 70, 40, 0.9, 1)))]
    out = by_index(refine_all(stream, TemporalConfig(max_gap=1, min_track=1, smooth=3)))
    assert float(out[1].detections.boxes[0, 0]) == pytest.approx(10.0) and out[1].interpolated.tolist() == [True]
    assert float(out[2].detections.boxes[0, 0]) == pytest.approx(20.0)


def test_low_score_detections_of_a_kept_track_stay_and_lone_ones_go() -> None:
    stream = []
    for f in range(6):
        rows = [(50 + f, 50, 90 + f, 90, 0.9 if f < 3 else 0.3, 1)]  # partly hidden from frame 3
        rows.append((200, 200, 240, 240, 0.3, 4))                    # low score, never a track
        stream.append((f, frame(*rows)))
    out = refine_all(stream, TemporalConfig(score_thresh=0.5, low_thresh=0.1, max_gap=2, min_track=3, smooth=1))
    assert [r.detections.labels.tolist() for r in out] == [[1]] * 6
    assert [round(float(r.detections.scores[0]), 2) for r in out] == [0.9, 0.9, 0.9, 0.3, 0.3, 0.3]


def test_stream_gives_each_frame_once_in_order_and_holds_few() -> None:
    """Frames come out in order, each once; one object moving steadily: a frame is final a bounded number
    of frames after it was pushed (smooth // 2 + max_gap + 1 = 5 here), not at the end."""
    refiner = TemporalRefiner(TemporalConfig(max_gap=3, min_track=3, smooth=3))
    got, lag = [], []
    for f in range(40):
        ready = refiner.push(f, frame((f, 0, f + 30, 30, 0.9, 1)))
        lag += [f - r.index for r in ready]
        got += [r.index for r in ready]
    got += [r.index for r in refiner.finish()]
    assert got == list(range(40))
    assert max(lag) == 5


@pytest.mark.parametrize("changes, field", [({"smooth": 2}, "smooth"), ({"min_track": 0}, "min_track"),
                                            ({"max_gap": -1}, "max_gap"), ({"low_thresh": 0.7}, "low_thresh")])
def test_bad_settings_are_refused_by_name(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TemporalConfig(**changes)


def test_one_class_per_object_keeps_the_strongest_track() -> None:
    """An object the teacher calls class 1 at 0.9 and, underneath, class 2 at 0.3 (a track the low-score pass
    keeps alive): only the class-1 box stays. A class-2 object elsewhere is untouched."""
    stream = []
    for f in range(6):
        rows = [(50 + f, 50, 90 + f, 90, 0.9, 1), (51 + f, 50, 91 + f, 90, 0.6 if f == 0 else 0.3, 2),
                (200, 200, 240, 240, 0.8, 2)]
        stream.append((f, frame(*rows)))
    cfg = TemporalConfig(max_gap=2, min_track=3, smooth=1)
    assert [sorted(r.detections.labels.tolist()) for r in refine_all(stream, cfg)] == [[1, 2]] * 6
    loose = TemporalConfig(max_gap=2, min_track=3, smooth=1, one_class_iou=None)
    assert [sorted(r.detections.labels.tolist()) for r in refine_all(stream, loose)] == [[1, 2, 2]] * 6


def test_one_class_by_hand() -> None:
    from core.tracking.refine import one_class

    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 8], [0, 0, 10, 5], [50, 50, 60, 60]], np.float64)
    labels = np.array([1, 2, 3, 2])
    # IoU(0, 1) = 0.8, IoU(0, 2) = 0.5, IoU(1, 2) = 0.625; box 3 overlaps nothing
    assert one_class(boxes, labels, np.array([0.9, 0.5, 0.4, 0.1]), 0.6).tolist() == [True, False, True, True]
    assert one_class(boxes, labels, np.array([0.9, 0.5, 0.4, 0.1]), 0.5).tolist() == [True, False, False, True]
    # the strongest goes first: box 1 removes boxes 0 (0.8) and 2 (0.625)
    assert one_class(boxes, labels, np.array([0.5, 0.9, 0.4, 0.1]), 0.6).tolist() == [False, True, False, True]


def test_settings_at_their_bounds() -> None:
    TemporalConfig(score_thresh=1.0, low_thresh=0.0, one_class_iou=1.0)
    TemporalConfig(score_thresh=0.5, low_thresh=0.5, one_class_iou=None)
    with pytest.raises(ValueError, match="one_class_iou must be in"):
        TemporalConfig(one_class_iou=0.0)


def test_a_box_scoring_over_the_threshold_starts_a_track() -> None:
    """Tracks start from boxes scoring at least score_thresh (0.55 > 0.5 here): not ByteTrack's own
    high_thresh + 0.1, which would leave a teacher's boxes between 0.5 and 0.6 without labels."""
    stream = [(f, frame((10, 10, 50, 50, 0.55, 1))) for f in range(4)]
    out = refine_all(stream, TemporalConfig(score_thresh=0.5, max_gap=1, min_track=3, smooth=1))
    assert [r.detections.labels.tolist() for r in out] == [[1]] * 4


def test_a_track_missing_more_than_max_gap_frames_ends() -> None:
    """Seen at 0, 1, missed at 2, 3 (two frames, max_gap 1), seen at 4, 5: the tracker ends the track after one
    missed frame, so the halves are two tracks of two frames each, both under min_track 3: nothing is kept."""
    stream = [(f, frame((10, 10, 50, 50, 0.9, 1)) if f in (0, 1, 4, 5) else Detections.empty()) for f in range(6)]
    out = refine_all(stream, TemporalConfig(max_gap=1, min_track=3, smooth=1))
    assert [len(r.detections) for r in out] == [0] * 6
    # missing one frame (max_gap) is one track of five frames: kept, the gap filled
    stream = [(f, frame((10, 10, 50, 50, 0.9, 1)) if f != 2 else Detections.empty()) for f in range(6)]
    out = refine_all(stream, TemporalConfig(max_gap=1, min_track=3, smooth=1))
    assert [r.interpolated.tolist() for r in out] == [[False], [False], [True], [False], [False], [False]]


def test_a_track_born_after_the_first_frame_survives_a_gap() -> None:
    """Object 2 appears at frame 1 (object 1 was there from frame 0), is missed at 2 and seen at 3, 4: one track
    from its first box on (every track is confirmed at birth), so frame 2 is filled and frame 1 kept."""
    stream = []
    for f in range(5):
        rows = [(200, 200, 240, 240, 0.9, 1)]
        if f in (1, 3, 4):
            rows.append((10, 10, 50, 50, 0.9, 2))
        stream.append((f, frame(*rows)))
    out = by_index(refine_all(stream, TemporalConfig(max_gap=2, min_track=2, smooth=1)))
    assert [sorted(out[f].detections.labels.tolist()) for f in range(5)] == [[1], [1, 2], [1, 2], [1, 2], [1, 2]]
    assert 2 in out[2].detections.labels[out[2].interpolated].tolist()


def test_one_class_goes_by_the_mean_score_not_the_frame_score() -> None:
    """Class 1 scores 0.9 except 0.55 at frame 2; class 2 scores 0.6 on the same object throughout. At frame 2
    class 2 scores higher, but class 1's mean over the frames around (0.83) is higher: class 1 stays everywhere."""
    stream = [(f, frame((50, 50, 90, 90, 0.55 if f == 2 else 0.9, 1), (51, 50, 91, 90, 0.6, 2))) for f in range(5)]
    out = refine_all(stream, TemporalConfig(max_gap=2, min_track=3, smooth=1))
    assert [r.detections.labels.tolist() for r in out] == [[1]] * 5


def test_one_class_of_two_boxes() -> None:
    from core.tracking.refine import one_class

    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 8]], np.float64)  # IoU 0.8
    assert one_class(boxes, np.array([1, 2]), np.array([0.4, 0.9]), 0.5).tolist() == [False, True]
    assert one_class(boxes, np.array([1, 1]), np.array([0.4, 0.9]), 0.5).tolist() == [True, True]


def test_each_frame_comes_out_as_soon_as_it_is_decided() -> None:
    """max_gap 1, smooth 1: frame t can come out once frame t + 2 (t + smooth // 2 + max_gap + 1) is in and every
    track near it is decided: kept (min_track 3 detections) or ended (no detection for max_gap + 1 frames)."""
    cfg = TemporalConfig(max_gap=1, min_track=3, smooth=1)

    def released(seen: set[int]) -> list[list[int]]:
        refiner = TemporalRefiner(cfg)
        out = [[r.index for r in refiner.push(f, frame((10, 10, 50, 50, 0.9, 1)) if f in seen
                                               else Detections.empty())] for f in range(7)]
        return out + [[r.index for r in refiner.finish()]]

    # three detections: decided (kept) at frame 2, so frame 0 comes out then, one frame later each
    assert released({0, 1, 2}) == [[], [], [0], [1], [2], [3], [4], [5, 6]]
    # two detections: undecided until it ends, at frame 3 (1 + max_gap + 1): frames 0 and 1 come out together
    assert released({0, 1}) == [[], [], [], [0, 1], [2], [3], [4], [5, 6]]
