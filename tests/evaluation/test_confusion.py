"""Confusion matrix: its counts are the threshold sweep's TP/FP/FN, and each cell lists its images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.evaluation import evaluate
from core.evaluation.confusion import confusion_matrix
from core.types import DatasetIndex, Detections, ImageRecord
from tests.evaluation.helpers import random_case


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("iou", [0.5, 0.7])
def test_counts_equal_the_sweep_at_the_same_setting(seed: int, iou: float) -> None:
    gt, dets = random_case(seed, num_images=40)
    base = evaluate(gt, dets)  # IoU 0.5: another IoU must re-match inside confusion_matrix
    at_iou = evaluate(gt, dets, iou_threshold=iou)
    confusions = 0
    for threshold in (0.0, 0.25, 0.5, 0.77, 1.0):
        cm = confusion_matrix(base, threshold, iou_threshold=iou)
        stats = at_iou.at_threshold(threshold)
        np.testing.assert_array_equal(cm.tp[1:], stats.tp[1:])
        np.testing.assert_array_equal(cm.fp[1:], stats.fp[1:])
        np.testing.assert_array_equal(cm.fn[1:], stats.fn[1:])
        assert cm.counts[0, 0] == 0 and cm.counts.sum() == cm.entry_true.size
        off = cm.counts[1:, 1:].sum() - np.trace(cm.counts[1:, 1:])
        confusions += off
        # every entry's image: the detection's or the object's own
        m = base.match if iou == 0.5 else at_iou.match
        has_det = cm.entry_det >= 0
        np.testing.assert_array_equal(cm.entry_image[has_det], m.det_image[cm.entry_det[has_det]])
        has_gt = cm.entry_gt >= 0
        np.testing.assert_array_equal(cm.entry_image[has_gt], m.gt_image[cm.entry_gt[has_gt]])
        assert not (m.gt_difficult[cm.entry_gt[has_gt]]).any()
    if iou == 0.5:
        assert confusions > 0  # the random cases do confuse classes (10 % of detections change class)


def _record(image_id: str, boxes: list, labels: list) -> ImageRecord:
    n = len(labels)
    return ImageRecord(image_id, Path(f"{image_id}.jpg"), 100, 100, np.array(boxes, np.float32).reshape(-1, 4),
                       np.array(labels, np.int64), np.zeros(n, bool), np.zeros(n, bool))


def test_hand_worked_cells() -> None:
    names = ("__background__", "cat", "dog")
    gt = DatasetIndex("hand", "<hand>", names, [
        _record("a", [[10, 10, 50, 50], [60, 60, 90, 90]], [1, 2]),   # a cat and a dog
        _record("b", [[10, 10, 50, 50]], [1]),                         # a cat
        _record("c", [], []),                                           # nothing
    ])
    dets = {
        "a": Detections(np.array([[10, 10, 50, 50], [11, 11, 50, 50], [60, 60, 90, 90]], np.float32),
                        np.array([0.9, 0.8, 0.6], np.float32), np.array([1, 1, 1])),  # cat, its duplicate, dog->cat
        "b": Detections(np.array([[10, 10, 50, 50]], np.float32), np.array([0.3], np.float32), np.array([2])),
        "c": Detections(np.array([[5, 5, 20, 20]], np.float32), np.array([0.7], np.float32), np.array([2])),
    }
    result = evaluate(gt, dets)
    cm = result.confusion_matrix(0.5)
    expected = np.array([[0, 1, 1],    # background: the cat duplicate, the dog on the empty image
                         [0, 1, 0],    # cats: one found, the one of image b missed (its dog detection is 0.3)
                         [0, 1, 0]])   # dog: taken for a cat
    expected[1, 0] = 1
    np.testing.assert_array_equal(cm.counts, expected)
    np.testing.assert_array_equal(cm.images(2, 1), [0])
    np.testing.assert_array_equal(cm.images(0, 2), [2])
    np.testing.assert_array_equal(cm.images(1, 0), [1])
    image, det, obj = cm.entries(2, 1)
    assert det.tolist() == [2] and obj.tolist() == [1]
    # at 0.2 the dog detection of image b takes its cat: a confusion instead of a miss
    low = result.confusion_matrix(0.2)
    assert low.counts[1, 2] == 1 and low.counts[1, 0] == 0
    np.testing.assert_allclose(cm.normalized("true").sum(axis=1), 1.0)   # where each class's objects went
    np.testing.assert_allclose(cm.normalized("pred"), [[0.0, 1 / 3, 1.0], [1.0, 1 / 3, 0.0],
                                                       [0.0, 1 / 3, 0.0]])  # column 0: the missed objects
    with pytest.raises(ValueError, match="'true'"):
        cm.normalized("rows")
    with pytest.raises(ValueError, match="outside"):
        cm.images(3, 0)


def test_totals_count_a_missed_object_once_as_a_miss() -> None:
    """Issue 19, item 9: the background column holds the missed objects; they are FN, never FP."""
    names = ("__background__", "cat", "dog")
    gt = DatasetIndex("hand", "<hand>", names, [
        _record("a", [[10, 10, 50, 50], [60, 60, 90, 90]], [1, 2]),
        _record("b", [[10, 10, 50, 50]], [1]),
        _record("c", [], []),
    ])
    dets = {
        "a": Detections(np.array([[10, 10, 50, 50], [11, 11, 50, 50], [60, 60, 90, 90]], np.float32),
                        np.array([0.9, 0.8, 0.6], np.float32), np.array([1, 1, 1])),
        "b": Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)),
        "c": Detections(np.array([[5, 5, 20, 20]], np.float32), np.array([0.7], np.float32), np.array([2])),
    }
    result = evaluate(gt, dets)
    cm = result.confusion_matrix(0.5)
    # rows true (background, cat, dog), columns predicted: b's cat is missed (row cat, column background)
    np.testing.assert_array_equal(cm.counts, [[0, 1, 1], [1, 1, 0], [0, 1, 0]])
    # TP: a's cat. FP: a's duplicate cat, a's dog taken for a cat, c's dog on nothing. FN: b's cat, a's dog.
    assert cm.tp.tolist() == [0, 1, 0] and cm.fp.tolist() == [0, 2, 1] and cm.fn.tolist() == [0, 1, 1]
    stats = result.at_threshold(0.5)
    assert (cm.tp.sum(), cm.fp.sum(), cm.fn.sum()) == (stats.tp[1:].sum(), stats.fp[1:].sum(), stats.fn[1:].sum())

