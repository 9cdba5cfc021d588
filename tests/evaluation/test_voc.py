"""VOC AP: a case worked out by hand, and randomized cases against a plain devkit loop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.evaluation import FP, IGNORED, TP, average_precision, evaluate
from core.types import DatasetIndex, Detections, ImageRecord
from .helpers import devkit_ap, random_case

NAMES = ("__background__", "cat", "dog")


def _rec(image_id: str, boxes: list, difficult: list[bool]) -> ImageRecord:
    n = len(boxes)
    return ImageRecord(image_id, Path(f"{image_id}.jpg"), 100, 100, np.array(boxes, np.float32).reshape(-1, 4),
                       np.ones(n, np.int64), np.array(difficult, bool), np.zeros(n, bool))


def _dets(rows: list[tuple[float, list[float], int]]) -> Detections:
    return Detections(np.array([r[1] for r in rows], np.float32).reshape(-1, 4),
                      np.array([r[0] for r in rows], np.float32), np.array([r[2] for r in rows], np.int64))


def hand_case() -> tuple[DatasetIndex, dict]:
    # Boxes in continuous pixels; (0, 0, 10, 10) is the VOC box xmin=1..xmax=10, 100 pixels.
    # Image a: A = cat (0,0,10,10); B = cat (20,0,30,10), difficult.
    # Image b: C = cat (0,0,10,10).
    # Image c: D = cat (0,0,10,10); E = cat (3,0,13,10).
    # npos(cat) = 4 (A, C, D, E); dog has no ground truth at all.
    gt = DatasetIndex("hand", "<hand>", NAMES, [
        _rec("a", [[0, 0, 10, 10], [20, 0, 30, 10]], [False, True]),
        _rec("b", [[0, 0, 10, 10]], [False]),
        _rec("c", [[0, 0, 10, 10], [3, 0, 13, 10]], [False, False]),
    ])
    dets = {
        "a": _dets([
            (0.9, [0, 0, 10, 10], 1),     # A, IoU 1 -> TP (A taken)
            (0.8, [0, 0, 10, 10], 1),     # A again -> FP (duplicate)
            (0.7, [20, 0, 30, 10], 1),    # B is difficult -> ignored
            (0.4, [50, 50, 60, 60], 1),   # overlaps nothing -> FP
            (0.3, [0, 0, 10, 10], 2),     # dog: a class without ground truth
        ]),
        "b": _dets([(0.5, [0, 0, 10, 5], 1)]),  # C: 50 px / 100 px, IoU exactly 0.5 -> TP (>= 0.5)
        "c": _dets([
            (0.65, [0, 0, 10, 10], 1),    # D -> TP
            # IoU 90/110 = 0.82 with D (taken), 80/120 = 0.67 with E: the devkit does not fall
            # back to E, so this is an FP.
            (0.6, [1, 0, 11, 10], 1),
        ]),
    }
    return gt, dets


def test_hand_worked_case() -> None:
    gt, dets = hand_case()
    res = evaluate(gt, dets)
    # Counted cat detections by score: .9 TP, .8 FP, .65 TP, .6 FP, .5 TP, .4 FP (.7 ignored)
    # cum TP 1 1 2 2 3 3, cum FP 0 1 1 2 2 3
    # precision 1, 1/2, 2/3, 1/2, 3/5, 1/2;  recall 1/4, 1/4, 1/2, 1/2, 3/4, 3/4
    curve = res.pr_curve(1)
    np.testing.assert_allclose(curve.precision, [1, 1 / 2, 2 / 3, 1 / 2, 3 / 5, 1 / 2])
    np.testing.assert_allclose(curve.recall, [1 / 4, 1 / 4, 1 / 2, 1 / 2, 3 / 4, 3 / 4])
    np.testing.assert_allclose(curve.confidence, [0.9, 0.8, 0.65, 0.6, 0.5, 0.4], rtol=1e-6)
    # F1 = 2PR / (P + R) at each point: 2/5, 1/3, 4/7, 1/2, 2/3, 3/5
    np.testing.assert_allclose(curve.f1, [2 / 5, 1 / 3, 4 / 7, 1 / 2, 2 / 3, 3 / 5])
    # All-point (VOC2010+): the monotone envelope at the recall steps is 1, 2/3, 3/5, 0,
    # AP = 1/4 * 1 + 1/4 * 2/3 + 1/4 * 3/5 + 1/4 * 0 = 17/30.
    voc12 = res.voc(use_07_metric=False)
    assert voc12.ap[1] == pytest.approx(17 / 30, abs=1e-12)
    # 11-point (VOC2007): levels 0, .1, .2 -> 1; .3 (= 3*0.1, just above 0.3), .4, .5 -> 2/3;
    # .6, .7 -> 3/5; .8, .9, 1 -> 0.  AP = (3 + 3 * 2/3 + 2 * 3/5) / 11 = 6.2 / 11.
    voc07 = res.voc(use_07_metric=True)
    assert voc07.ap[1] == pytest.approx(6.2 / 11, abs=1e-12)
    # dog has no ground truth: no AP, left out of the mean
    assert np.isnan(voc12.ap[2]) and np.isnan(voc07.ap[2])
    assert voc12.mAP == pytest.approx(17 / 30, abs=1e-12)
    assert voc12.num_gt.tolist() == [0, 4, 0] and voc12.num_det.tolist() == [0, 7, 1]
    js = res.metrics_dict("voc12")
    assert js["per_class"]["dog"] == {"ap": None, "num_gt": 0, "num_det": 1}
    assert js["mAP"] == pytest.approx(17 / 30)

    # status per detection, in input order
    assert res.match.det_status.tolist() == [TP, FP, IGNORED, FP, FP, TP, TP, FP]

    # threshold 0.55 keeps .9 .8 .65 .6: TP 2, FP 2, FN 2, P = R = F1 = 1/2;
    # AP = 1/4 * 1 + 1/4 * 2/3 = 5/12.
    st = res.at_threshold(0.55)
    assert (st.tp[1], st.fp[1], st.fn[1]) == (2, 2, 2)
    assert st.precision[1] == pytest.approx(0.5) and st.recall[1] == pytest.approx(0.5)
    assert st.f1[1] == pytest.approx(0.5)
    assert st.ap[1] == pytest.approx(5 / 12, abs=1e-12)
    assert np.isnan(st.ap[2]) and np.isnan(st.recall[2])

    # per-image breakdown at 0.55 for cat
    by_image = {b.image_id: b for b in res.image_breakdown(1, 0.55)}
    assert set(by_image) == {"a", "b", "c"}
    assert by_image["a"].tp_scores.tolist() == pytest.approx([0.9]) and by_image["a"].fp_scores.tolist() == \
        pytest.approx([0.8])
    assert by_image["a"].missed_boxes.shape == (0, 4)  # B is difficult: never "missed"
    np.testing.assert_array_equal(by_image["b"].missed_boxes, [[0, 0, 10, 10]])  # its taker scored 0.5
    assert by_image["b"].tp_scores.size == 0 and by_image["b"].fp_scores.size == 0
    np.testing.assert_array_equal(by_image["c"].missed_boxes, [[3, 0, 13, 10]])
    assert by_image["c"].num_errors == 2
    tp, fp, missed = res.image_counts(1, 0.55)
    assert tp.tolist() == [1, 0, 1] and fp.tolist() == [1, 0, 1] and missed.tolist() == [0, 1, 1]
    only_c = res.image_breakdown(1, 0.55, images=[2])
    assert [b.image_id for b in only_c] == ["c"]
    # all classes at once: the dog detection in image a is an FP there (dog has no objects)
    all_a = res.image_breakdown(None, 0.0, images=[0])[0]
    assert sorted(all_a.fp_labels.tolist()) == [1, 1, 2] and all_a.tp_labels.tolist() == [1]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_random_cases_match_plain_devkit_loop(seed: int) -> None:
    gt, dets = random_case(seed)
    res = evaluate(gt, dets)
    assert res.warnings == ()
    checked = 0
    for use_07 in (True, False):
        vm = res.voc(use_07)
        aps = []
        for label in range(1, len(gt.class_names)):
            ref = devkit_ap(gt, dets, label, use_07)
            if ref is None:
                assert np.isnan(vm.ap[label])
                continue
            assert vm.ap[label] == pytest.approx(ref, abs=1e-9), (seed, use_07, label)
            aps.append(ref)
            checked += 1
        assert vm.mAP == pytest.approx(float(np.mean(aps)), abs=1e-9)
    assert checked >= 6
    # the randomized case does exercise duplicates and difficult objects
    assert (res.match.det_status == IGNORED).any()
    dup = res.match.det_status == FP
    assert (dup & (res.match.det_iou >= 0.5)).any()


def test_average_precision_edges() -> None:
    assert average_precision(np.zeros(0), np.zeros(0), True) == 0.0
    assert average_precision(np.zeros(0), np.zeros(0), False) == 0.0
    # perfect ranking reaching full recall
    r = np.array([0.5, 1.0])
    p = np.array([1.0, 1.0])
    assert average_precision(r, p, False) == pytest.approx(1.0)
    assert average_precision(r, p, True) == pytest.approx(1.0)


def test_threshold_sweep_prefix_properties() -> None:
    gt, dets = random_case(11, num_images=40)
    res = evaluate(gt, dets)
    thresholds = np.linspace(0, 1, 41)
    for use_07 in (True, False):
        plain = res.voc(use_07)
        at0 = res.at_threshold(0.0, use_07)
        np.testing.assert_allclose(at0.ap, plain.ap, atol=1e-12, equal_nan=True)
        assert at0.mAP == pytest.approx(plain.mAP)
        curve = res.map_by_threshold(thresholds, use_07)
        assert curve[0] == pytest.approx(plain.mAP)
        assert np.all(np.diff(curve) <= 1e-12), curve
        for label in np.flatnonzero(res.sweep.evaluated):
            per_class = res.ap_by_threshold(int(label), thresholds, use_07)
            assert np.all(np.diff(per_class) <= 1e-12)
    # AP at threshold t equals evaluating only the detections with score >= t from scratch
    t = 0.45
    kept = {k: d.filter(min_score=t) for k, d in dets.items()}
    again = evaluate(gt, kept)
    for use_07 in (True, False):
        np.testing.assert_allclose(res.at_threshold(t, use_07).ap, again.voc(use_07).ap, atol=1e-12, equal_nan=True)
    st = res.at_threshold(t)
    st_again = again.at_threshold(-np.inf)
    assert st.tp.tolist() == st_again.tp.tolist() and st.fp.tolist() == st_again.fp.tolist()
    assert (st.tp + st.fn == st.num_gt).all()
