"""Evaluation formulas the README states, with values worked out by hand: F1 and the best-F1 threshold
over tied scores, the confidence curves' grid, the threshold sweep's inclusive ``score >= t``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.evaluation import evaluate
from core.evaluation.confidence import best_f1_point
from core.types import DatasetIndex, Detections, ImageRecord

NAMES = ("__background__", "cat")


def test_best_f1_over_tied_scores_by_hand() -> None:
    """F1 = 2TP / (kept + objects). Scores .9 (TP), .8 (FP), .8 (TP), .5 (TP), 4 objects: a threshold keeps
    whole tied groups, so the points are kept = 1, 3, 4 with F1 = 2/5, 4/7, 6/8; the best is 0.75 at 0.5."""
    scores = np.array([0.9, 0.8, 0.8, 0.5])
    t, f1 = best_f1_point(scores, np.array([True, False, True, True]), 4)
    assert (t, f1) == (0.5, pytest.approx(0.75))
    # the tied group's first detection alone (kept = 2, F1 2/6) is no point: with .8 (TP), .8 (FP) first,
    # the points are kept = 1 (F1 2/5 at .9) and kept = 3 (F1 4/7 at .8), never 2/6
    t, f1 = best_f1_point(np.array([0.9, 0.8, 0.8]), np.array([False, True, False]), 2)
    assert (t, f1) == (0.8, pytest.approx(2 / 5))
    # equal F1s: the highest threshold wins. .9 (TP), .7, .5 (FP), .4 (TP), 2 objects: 2/3, 2/4, 2/5, 4/6
    t, f1 = best_f1_point(np.array([0.9, 0.7, 0.5, 0.4]), np.array([True, False, False, True]), 2)
    assert (t, f1) == (0.9, pytest.approx(2 / 3))
    assert np.isnan(best_f1_point(np.array([0.4]), np.array([False]), 2)[0])


def _case() -> tuple[DatasetIndex, dict]:
    rec = ImageRecord("a", Path("a.jpg"), 100, 100, np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32),
                      np.array([1, 1]), np.zeros(2, bool), np.zeros(2, bool))
    dets = {"a": Detections(np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], np.float32),
                            np.array([0.75, 0.5, 0.25], np.float32), np.array([1, 1, 1]))}
    return DatasetIndex("hand", "<hand>", NAMES, [rec]), dets


def test_a_threshold_keeps_scores_at_or_above_it() -> None:
    """Detections .75 (TP), .5 (FP), .25 (TP) of 2 objects. At t = 0.5 exactly: TP 1, FP 1, FN 1,
    precision 1/2, recall 1/2, F1 1/2; VOC2010+ AP of the kept prefix: 1/2 * 1 = 1/2."""
    gt, dets = _case()
    res = evaluate(gt, dets)
    s = res.at_threshold(0.5)
    assert (s.tp[1], s.fp[1], s.fn[1]) == (1, 1, 1)
    assert (s.precision[1], s.recall[1], s.f1[1]) == (0.5, 0.5, pytest.approx(0.5))
    assert s.ap[1] == pytest.approx(0.5) and s.mAP == pytest.approx(0.5)
    above = res.at_threshold(float(np.nextafter(np.float32(0.5), np.float32(1))))
    assert (above.tp[1], above.fp[1], above.fn[1]) == (1, 0, 1) and above.f1[1] == pytest.approx(2 / 3)
    # everything kept: precision 2/3, recall 1, AP (all points) 1/2 * 1 + 1/2 * 2/3 = 5/6
    full = res.at_threshold(0.0)
    assert full.ap[1] == pytest.approx(5 / 6) and full.f1[1] == pytest.approx(0.8)
    np.testing.assert_allclose(res.map_by_threshold([0.0, 0.5, 0.6, 0.8]), [5 / 6, 0.5, 0.5, 0.0])
    # the image strip at 0.5: the .75 TP, the .5 FP, the object at (50, 50) missed (its .25 taker is below)
    [b] = res.image_breakdown(1, 0.5)
    assert b.tp_scores.tolist() == [0.75] and b.fp_scores.tolist() == [0.5]
    assert b.missed_boxes.tolist() == [[50, 50, 60, 60]]
    assert [c.tolist() for c in res.image_counts(None, 0.5)] == [[1], [1], [1]]


def test_confidence_curves_on_the_default_grid() -> None:
    gt, dets = _case()
    curves = evaluate(gt, dets).confidence_curves()
    np.testing.assert_allclose(curves.thresholds, np.arange(101) / 100)
    i = 50  # t = 0.5: as at_threshold
    assert (curves.precision[1, i], curves.recall[1, i]) == (0.5, 0.5) and curves.f1[1, i] == pytest.approx(0.5)
    # the best F1 over every score: .25 keeps all (2TP / (3 + 2) = 4/5); at .75, 2/3
    assert curves.best_threshold[1] == pytest.approx(0.25) and curves.best_f1[1] == pytest.approx(0.8)
    assert curves.overall_best_f1 == pytest.approx(0.8)


def _rec(image_id: str, boxes: list, labels: list, difficult: list | None = None, crowd: list | None = None
         ) -> ImageRecord:
    n = len(labels)
    return ImageRecord(image_id, Path(f"{image_id}.jpg"), 200, 200, np.array(boxes, np.float32).reshape(-1, 4),
                       np.array(labels, np.int64), np.array(difficult or [False] * n, bool),
                       np.array(crowd or [False] * n, bool))


def _dets(rows: list) -> Detections:
    return Detections(np.array([r[1] for r in rows], np.float32).reshape(-1, 4),
                      np.array([r[0] for r in rows], np.float32), np.array([r[2] for r in rows], np.int64))


ANIMALS = ("__background__", "cat", "dog", "bird")


def test_a_class_confusion_at_iou_exactly_the_threshold() -> None:
    """A dog (0, 0, 10, 10) is, in the devkit's pixels, (1, 1, 10, 10): 100 px. A cat detection (0, 0, 10, 5)
    covers 50 of them: IoU exactly 1/2, so it is a confusion (cell [dog, cat]) at IoU 0.5, and a background
    false positive plus a missed dog at 0.55."""
    gt = DatasetIndex("hand", "<hand>", ANIMALS, [_rec("a", [[0, 0, 10, 10]], [2])])
    res = evaluate(gt, {"a": _dets([(0.9, [0, 0, 10, 5], 1)])})
    cm = res.confusion_matrix(0.5)
    assert cm.counts[2, 1] == 1 and cm.counts.sum() == 1
    strict = res.confusion_matrix(0.5, iou_threshold=0.55)
    assert strict.counts[0, 1] == 1 and strict.counts[2, 0] == 1 and strict.counts.sum() == 2
    # an IoU threshold of 1 is allowed (only exact boxes match); the matrix has no cell (0, 4)
    assert res.confusion_matrix(0.5, iou_threshold=1.0).counts[2, 0] == 1
    with pytest.raises(ValueError, match="outside"):
        cm.images(0, 4)
    with pytest.raises(ValueError, match="iou_threshold"):
        res.confusion_matrix(0.5, iou_threshold=1.5)


def test_the_higher_scored_confusion_takes_the_object() -> None:
    """A dog, a cat detection (0.6) and a bird detection (0.9) on it: the bird (higher score) is the confusion
    [dog, bird]; the cat is a background false positive [0, cat]."""
    gt = DatasetIndex("hand", "<hand>", ANIMALS, [_rec("a", [[0, 0, 10, 10]], [2])])
    res = evaluate(gt, {"a": _dets([(0.6, [0, 0, 10, 10], 1), (0.9, [0, 0, 10, 9], 3)])})
    cm = res.confusion_matrix(0.1)
    assert cm.counts[2, 3] == 1 and cm.counts[0, 1] == 1 and cm.counts.sum() == 2
    # normalised by true class: the dog row is [0, 0, 0, 1]; the background row has no objects (NaN)
    norm = cm.normalized("true")
    np.testing.assert_array_equal(norm[2], [0, 0, 0, 1])
    assert np.isnan(norm[1]).all()


def test_coco_size_ranges_use_the_box_area() -> None:
    """pycocotools' ranges: small < 32^2, medium 32^2..96^2, large > 96^2 (areas in px^2). A 20 x 60 box
    (area 1200, medium, though 20 < 32) found exactly gives AP 1 for medium and nothing for small or large."""
    gt = DatasetIndex("hand", "<hand>", NAMES, [_rec("a", [[10, 10, 30, 70]], [1])])
    coco = evaluate(gt, {"a": _dets([(0.9, [10, 10, 30, 70], 1)])}).coco()
    assert coco.ap_medium[1] == pytest.approx(1.0) and coco.ap[1] == pytest.approx(1.0)
    assert np.isnan(coco.ap_small[1]) and np.isnan(coco.ap_large[1])
    # only a crowd (ignored) object: nothing to evaluate
    crowd = DatasetIndex("hand", "<hand>", NAMES, [_rec("a", [[10, 10, 30, 70]], [1], crowd=[True])])
    with pytest.raises(ValueError, match="no object to evaluate"):
        evaluate(crowd, {"a": _dets([(0.9, [10, 10, 30, 70], 1)])}).coco()


def test_a_duplicate_at_exactly_the_iou_threshold_is_no_confusion() -> None:
    """A cat (0, 0, 10, 10) found by an exact cat detection (0.9); a second cat detection (0, 0, 10, 5) overlaps
    that cat by exactly 1/2: a duplicate (false positive of its own class, cell [0, cat]), not a confusion
    with the dog (0, 0, 10, 5) it covers exactly, which stays missed (cell [dog, 0])."""
    gt = DatasetIndex("hand", "<hand>", ANIMALS, [_rec("a", [[0, 0, 10, 10], [0, 0, 10, 5]], [1, 2])])
    res = evaluate(gt, {"a": _dets([(0.9, [0, 0, 10, 10], 1), (0.8, [0, 0, 10, 5], 1)])})
    cm = res.confusion_matrix(0.5)
    assert (cm.counts[1, 1], cm.counts[0, 1], cm.counts[2, 0], cm.counts[2, 1]) == (1, 1, 1, 0)
    with pytest.raises(ValueError, match="iou_threshold"):
        res.confusion_matrix(0.5, iou_threshold=0.0)


def test_labels_outside_the_classes_are_refused() -> None:
    gt, dets = _case()
    res = evaluate(gt, dets)
    for bad in (0, 2):
        with pytest.raises(ValueError, match=f"label {bad} is not a class"):
            res.pr_curve(bad)


def test_the_image_strip_at_exactly_a_taker_score_and_its_image_choice() -> None:
    gt, dets = _case()
    empty = ImageRecord("b", Path("b.jpg"), 100, 100, np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                        np.zeros(0, bool), np.zeros(0, bool))
    gt = DatasetIndex("hand", "<hand>", NAMES, [gt.records[0], empty])
    res = evaluate(gt, dict(dets, b=Detections.empty()))
    # at 0.75 exactly the .75 detection is kept and its object found: only the (50, 50) object is missed
    [b] = res.image_breakdown(1, 0.75)
    assert b.tp_scores.tolist() == [0.75] and b.missed_boxes.tolist() == [[50, 50, 60, 60]]
    # the empty image b is left out unless asked for
    assert [x.image_id for x in res.image_breakdown(None, 0.5)] == ["a"]
    assert [x.image_id for x in res.image_breakdown(None, 0.5, only_with_content=False)] == ["a", "b"]
    for bad in ([2], [-1]):
        with pytest.raises(ValueError, match="within 0..1"):
            res.image_breakdown(None, 0.5, images=bad)


def test_detections_the_dataset_cannot_place_are_counted_and_named() -> None:
    from core.evaluation.evaluate import prepare_detections

    gt, dets = _case()
    box = [0, 0, 10, 10]
    five = {f"x{i}": _dets([(0.5, box, 1)]) for i in range(5)}
    _, warnings = prepare_detections(gt, dict(dets, **five))
    assert warnings == ["detections: 5 detection(s) on 5 image id(s) not in <hand> were ignored: "
                        "'x0', 'x1', 'x2', 'x3', 'x4'"]
    _, warnings = prepare_detections(gt, dict(dets, **five, x5=_dets([(0.5, box, 1)])))
    assert warnings[0].endswith("'x0', 'x1', 'x2', 'x3', 'x4', ...")
    # labels 0 (the background) and 2 (past the last class) are unknown classes, named or numbered
    flat, warnings = prepare_detections(gt, {"a": _dets([(0.5, box, 0), (0.4, box, 2), (0.3, box, 1)])})
    assert warnings == ["detections: 2 detection(s) of 2 class(es) unknown to <hand> were ignored: "
                        "'__background__', 2"]
    assert flat.labels.tolist() == [1] and flat.scores.tolist() == [np.float32(0.3)]
    # a box of zero width or height is a box; a negative one is an error naming the image and the count
    flat, _ = prepare_detections(gt, {"a": _dets([(0.5, [5, 5, 5, 9], 1), (0.4, [5, 5, 9, 5], 1)])})
    assert len(flat.labels) == 2
    with pytest.raises(ValueError, match=r"image 'a' has 2 box\(es\) with negative width"):
        prepare_detections(gt, {"x": _dets([(0.5, box, 1)]), "a": _dets([(0.5, [5, 5, 4, 9], 1),
                                                                          (0.4, [5, 5, 9, 4], 1)])})
    nan = Detections(np.array([box, box, box], np.float32), np.array([0.5, np.nan, np.nan], np.float32),
                     np.array([1, 1, 1]))
    with pytest.raises(ValueError, match=r"image 'a' has 2 non-finite score"):
        prepare_detections(gt, {"a": nan, "x": _dets([(np.nan, box, 1)])})
    for n_scores, n_labels in ((1, 2), (2, 1)):
        bad = Detections(np.array([box, box], np.float32), np.full(n_scores, 0.5, np.float32),
                         np.ones(n_labels, np.int64))
        with pytest.raises(ValueError, match=f"has 2 boxes, {n_scores} scores and {n_labels} labels"):
            prepare_detections(gt, {"a": bad})


def test_a_detection_that_only_touches_an_object_has_no_object() -> None:
    """(10, 0, 20, 10) next to the object (0, 0, 10, 10): in the devkit's pixels (11..20) and (1..10) share no
    pixel (iw = 10 - 11 + 1 = 0), so the devkit never pairs them: no best object (-1), IoU 0, a false positive."""
    gt = DatasetIndex("hand", "<hand>", NAMES, [_rec("a", [[0, 0, 10, 10]], [1])])
    for box in ([10, 0, 20, 10], [0, 10, 10, 20]):
        m = evaluate(gt, {"a": _dets([(0.9, box, 1)])}).match
        assert m.det_gt.tolist() == [-1] and m.det_iou.tolist() == [0.0] and m.det_status.tolist() == [0]
    # one pixel column shared (pixel 11 of the object's 1..11 and the detection's 11..20): IoU 10 / (110 + 100 - 10)
    gt11 = DatasetIndex("hand", "<hand>", NAMES, [_rec("a", [[0, 0, 11, 10]], [1])])
    m = evaluate(gt11, {"a": _dets([(0.9, [10, 0, 20, 10], 1)])}).match
    assert m.det_gt.tolist() == [0] and m.det_iou[0] == pytest.approx(10 / 200)


def test_flat_detections_must_be_in_dataset_order_and_range() -> None:
    from core.evaluation.matching import match_flat

    gt, _ = _case()
    box = np.array([[0, 0, 10, 10]], np.float64)
    for image in ([1], [-1]):
        with pytest.raises(ValueError, match=r"within 0..0"):
            match_flat(gt, np.array(image), box, np.array([0.5]), np.array([1]))
    two = DatasetIndex("hand", "<hand>", NAMES, [gt.records[0], gt.records[0]])
    with pytest.raises(ValueError, match="sorted"):
        match_flat(two, np.array([1, 0]), np.repeat(box, 2, 0), np.array([0.5, 0.4]), np.array([1, 1]))


def test_f1_is_zero_when_nothing_right_is_kept_and_ap_needs_objects() -> None:
    from core.evaluation.voc import prefix_average_precision

    gt, dets = _case()
    s = evaluate(gt, dets).at_threshold(0.8)  # nothing kept: precision undefined, recall 0, F1 0
    assert np.isnan(s.precision[1]) and s.recall[1] == 0.0 and s.f1[1] == 0.0 and s.fn[1] == 2
    with pytest.raises(ValueError, match="num_gt > 0, got 0"):
        prefix_average_precision(np.array([0]), np.array([1]), 0, 1, True)


def test_match_detections_takes_one_detections_per_record() -> None:
    from core.evaluation.matching import TP, FP, match_detections

    gt, dets = _case()
    m = match_detections(gt, [dets["a"]])
    assert m.det_status.tolist() == [TP, FP, TP] and m.gt_det.tolist() == [0, 2]
    assert m.det_score.dtype == np.float32  # float32 scores stay float32: thresholds compare as Detections.filter
    empty = match_detections(gt, [Detections.empty()])
    assert empty.det_status.size == 0 and empty.gt_det.tolist() == [-1, -1]
    with pytest.raises(ValueError, match="got detections for 2 images, the dataset has 1"):
        match_detections(gt, [dets["a"], dets["a"]])
