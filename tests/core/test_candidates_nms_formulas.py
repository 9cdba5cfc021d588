"""Soft-NMS's per-class candidates and the same-class NMS's per-class cap, against their definitions
(issue 24's mutation check covers core/ssd/candidates.py and core/ssd/nms.py): the candidates of each
class are its first k entries above the threshold by descending score, equal scores by prior, and only
the classes that have one are listed; NMS with ``max_per_class`` = m lets exactly m boxes of a class take
part; boxes apart on an axis do not overlap; soft-NMS's early stop keeps a box tied with the worst wanted."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import nms

from core.ssd.candidates import class_candidates
import core.ssd.nms as nms_module
from core.ssd.nms import greedy_nms_same_class, nms_same_class_np
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
    """(0, 0, 1, 1) against (2, 2, 3, 3), apart by 1 px in x and in y, (2, 0, 3, 1), apart in x only, and
    (0, 2, 1, 3), apart in y only, and (0.5, 0, 1.5, 1), overlapping by half a pixel of 1.5 (IoU 1/3). The
    negative width and height are clamped to 0 before their product: at threshold 0 the first pair is no
    overlap (unclamped, +1 / 1 would suppress it); at -0.2 the two apart on one axis are IoU 0 > -0.2
    (unclamped, -1 / 3 would keep them); the last is kept at 0.34 and suppressed at 0.33. Every decision is also torchvision's ``nms``."""
    boxes = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [2, 0, 3, 1], [0.5, 0, 1.5, 1], [0, 2, 1, 3]], np.float32)
    cases = [([0, 1], 0.0, [True, True]), ([0, 2], -0.2, [True, False]), ([0, 4], -0.2, [True, False]),
             ([0, 3], 0.34, [True, True]), ([0, 3], 0.33, [True, False])]
    for rows, thresh, want in cases:
        pair = torch.from_numpy(boxes[rows])
        assert greedy_nms_same_class(pair, torch.tensor([0, 0]), thresh).tolist() == want, (rows, thresh)
        kernel = nms(pair, torch.tensor([2.0, 1.0]), thresh).tolist()
        assert [i in kernel for i in range(2)] == want, (rows, thresh)
        # boxes of another class never suppress
        assert greedy_nms_same_class(pair, torch.tensor([0, 1]), thresh).tolist() == [True, True]


def test_same_class_nms_equals_torchvisions_kernel_class_by_class() -> None:
    """Random boxes of a few classes (half the trials on a 1/8 grid, so IoUs fall exactly on the threshold;
    some with NaN coordinates; float32 and float64; some boxes not taking part; classes just below, at and
    above the size decided on its own when a memo is kept, with and without one): the kept flags are those of torchvision's ``nms`` run
    on each class's boxes in order."""
    rng = np.random.default_rng(7)
    for trial in range(400):
        k, n_cls = int(rng.integers(1, 90)), int(rng.integers(1, 6))
        if trial < 12:  # one class of about _MEMO_FROM boxes: the largest decided with the others, and the memo's
            k, n_cls = nms_module._MEMO_FROM + trial % 4 - 1, 1
        xy, wh = rng.random((k, 2)), rng.random((k, 2)) * 0.4
        if trial % 2:
            xy, wh = np.round(xy * 8) / 8, np.round(wh * 8) / 8
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float64 if trial % 3 == 0 else np.float32)
        if trial % 5 == 0:
            boxes[rng.random(boxes.shape) < 0.05] = np.nan
        classes = rng.integers(0, n_cls, k)
        taking = rng.random(k) < 0.8 if trial % 4 == 0 else None
        thresh = float(rng.choice([0.5, 0.25, 1 / 3]))
        want = np.zeros(k, bool)
        for c in np.unique(classes):
            rows = np.flatnonzero((classes == c) & (True if taking is None else taking))
            t = torch.from_numpy(boxes[rows])
            kept = nms(t, -torch.arange(rows.size, dtype=t.dtype), thresh)
            want[rows[kept.numpy()]] = True
        assert np.array_equal(nms_same_class_np(boxes, classes, thresh, taking), want), trial
        memo: dict[bytes, np.ndarray] = {}
        ids = np.arange(k)
        assert np.array_equal(nms_same_class_np(boxes, classes, thresh, taking, box_ids=ids, memo=memo), want), trial
    with pytest.raises(ValueError, match="NMS classes must be >= 0, got -1"):
        nms_same_class_np(np.zeros((2, 4), np.float32), np.array([0, -1]), 0.5)


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
