"""Soft-NMS's per-class candidates and the same-class NMS's per-class cap, against their definitions
(issue 24's mutation check covers core/ssd/candidates.py and core/ssd/nms.py): the candidates of each
class are its first k entries above the threshold by descending score, equal scores by prior, and only
the classes that have one are listed; NMS with ``max_per_class`` = m lets exactly m boxes of a class take
part; boxes apart on an axis do not overlap; soft-NMS's early stop keeps a box tied with the worst wanted."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.ssd.candidates import class_candidates
from core.ssd.nms import greedy_nms_same_class, pair_iou
from core.ssd.soft_nms import soft_nms_padded
from tests.core.postprocess_plain import plain_candidates


def test_class_candidates_are_each_classes_first_k_of_the_definition() -> None:
    """Coarse scores (2 to 5 levels): ties everywhere, at the k-th place of most classes; some classes
    have no entry above the threshold."""
    rng = np.random.default_rng(1)
    for trial in range(150):
        p, c = int(rng.integers(1, 300)), int(rng.integers(1, 5))
        levels = int(rng.integers(2, 6))
        scores = (rng.integers(0, levels, (p, c)) / levels).astype(np.float32)
        thresh, k = float(rng.choice([0.0, 0.2, 1 / levels])), int(rng.integers(1, 40))
        want: dict[int, list[tuple[int, float]]] = {}
        for value, col, prior in plain_candidates(scores, thresh, k):
            want.setdefault(col, []).append((prior, value))
        columns, prior, values, valid = class_candidates(torch.from_numpy(scores), thresh, k)
        assert columns.tolist() == sorted(want), trial  # only classes with an entry, ascending
        assert valid.shape[1] == max((len(v) for v in want.values()), default=0), trial
        for g, col in enumerate(columns.tolist()):
            n = int(valid[g].sum())
            assert bool(valid[g, :n].all()) and not bool(valid[g, n:].any()), trial  # padding after the last
            assert list(zip(prior[g, :n].tolist(), values[g, :n].tolist())) == want[col], (trial, col)


def test_max_per_class_lets_exactly_that_many_take_part() -> None:
    """Three disjoint boxes of class 0 and one of class 1, best first: with max_per_class = 2 the third box
    of class 0 is dropped (it takes no part), class 1's box stays; without a cap all four stay."""
    boxes = torch.tensor([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10]], dtype=torch.float32)
    classes = torch.tensor([0, 0, 0, 1])
    assert greedy_nms_same_class(boxes, classes, 0.5, max_per_class=2).tolist() == [True, True, False, True]
    assert greedy_nms_same_class(boxes, classes, 0.5, max_per_class=3).tolist() == [True] * 4
    assert greedy_nms_same_class(boxes, classes, 0.5).tolist() == [True] * 4


def test_boxes_apart_on_both_axes_do_not_overlap() -> None:
    """(0, 0, 1, 1) and (2, 2, 3, 3) are apart by 1 px in x and in y, (2, 0, 3, 1) in x only: no overlap
    (the negative width and height are clamped to 0 before their product, which would otherwise be +1,
    an IoU of 1 / 1, or -1, an IoU of -1 / 3); (0.5, 0, 1.5, 1) overlaps by half a pixel of 1.5."""
    boxes = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [2, 0, 3, 1], [0.5, 0, 1.5, 1]], np.float32)
    np.testing.assert_array_equal(pair_iou(boxes, np.array([0, 0, 0]), np.array([1, 2, 3])),
                                  np.float32([0.0, 0.0, 0.5 / 1.5]))
    kept = greedy_nms_same_class(torch.from_numpy(boxes[:2]), torch.tensor([0, 0]), 0.5)
    assert kept.tolist() == [True, True]


def test_soft_nms_stopping_early_keeps_a_box_tied_with_the_worst_wanted() -> None:
    """max_out = 2. Step 1 keeps class 0's 0.9 and class 1's 0.6; the worst wanted is then 0.6, and class 0's
    second box (0.6, apart from the first: no decay) ties it, so it stays and is kept in step 2: by
    detection order (equal scores by class) it is the second detection, ahead of class 1's."""
    boxes = torch.tensor([[[0, 0, 1, 1], [2, 2, 3, 3]], [[0, 0, 1, 1], [0, 0, 1, 1]]], dtype=torch.float32) / 4
    scores = torch.tensor([[0.9, 0.6], [0.6, 0.0]])
    valid = torch.tensor([[True, True], [True, False]])
    for method in ("soft-linear", "soft-gaussian"):
        final, kept = soft_nms_padded(boxes, scores, valid, method, 0.45, 0.5, 0.01, max_out=2)
        assert kept.tolist() == [[True, True], [True, False]], method
        assert final[kept].tolist() == pytest.approx([0.9, 0.6, 0.6])
