"""The stability signals are exact functions of the boxes (issue 21, must-show 2): hand-computed IoUs,
the Hungarian matching against brute force, and the per-set aggregation."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.evaluation.estimate.signals import (agreement, flip_boxes, iou_matrix, match_boxes, matched_iou,
                                              shrink_and_pad, unshrink_boxes)

A = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 40, 60, 80]], np.float64)


def test_identical_sets_give_one_and_disjoint_sets_give_zero() -> None:
    assert matched_iou(A, A[::-1].copy()) == 1.0
    assert matched_iou(A, A + 1000.0) == 0.0
    assert agreement([(A, A), (A[:1], A[:1])]).value == 1.0
    assert agreement([(A, A + 1000.0)]).value == 0.0


def test_partial_overlaps_by_hand() -> None:
    # 5x10 shared of a 150 union: 1/3
    assert matched_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]])) == pytest.approx(1 / 3, abs=1e-12)
    # IoU 50/100 = 1/2 for the first pair, 80/120 = 2/3 for the second: mean 7/12
    b = np.array([[22, 0, 32, 10], [0, 0, 10, 5]], np.float64)
    assert matched_iou(A[:2], b) == pytest.approx(7 / 12, abs=1e-12)
    rows, cols, ious = match_boxes(A[:2], b)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    np.testing.assert_allclose(ious, [1 / 2, 2 / 3], atol=1e-12)


def test_hungarian_beats_greedy_by_hand() -> None:
    """Greedy would pair a0-b0 (IoU 2/3) and leave a1-b1 at 0; the assignment takes a0-b1 and a1-b0,
    3/7 each (60 / 140), for a larger sum 6/7."""
    a = np.array([[0, 0, 10, 10], [6, 0, 16, 10]], np.float64)
    b = np.array([[2, 0, 12, 10], [-4, 0, 6, 10]], np.float64)
    iou = iou_matrix(a, b)
    np.testing.assert_allclose(iou, [[2 / 3, 3 / 7], [3 / 7, 0.0]], atol=1e-12)
    rows, cols, ious = match_boxes(a, b)
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 1, 1: 0}
    assert matched_iou(a, b) == pytest.approx(3 / 7, abs=1e-12)


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 40, (n, 2))
    wh = rng.uniform(2, 30, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


@pytest.mark.parametrize("seed", range(40))
def test_matching_against_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    a, b = _random_boxes(rng, n), _random_boxes(rng, m)
    iou = iou_matrix(a, b)
    if n <= m:
        best = max(sum(iou[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
    else:
        best = max(sum(iou[p[j], j] for j in range(m)) for p in itertools.permutations(range(n), m))
    rows, cols, ious = match_boxes(a, b)
    assert len(rows) == min(n, m) and len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
    assert ious.sum() == pytest.approx(best, abs=1e-12)
    assert matched_iou(a, b) == pytest.approx(best / min(n, m), abs=1e-12)


def test_empty_and_zero_area_boxes() -> None:
    assert matched_iou(np.zeros((0, 4)), A) is None
    assert matched_iou(A, np.zeros((0, 4))) is None
    point = np.array([[5, 5, 5, 5]], np.float64)
    assert matched_iou(point, point) == 0.0  # 0 / 0: no area, no overlap to speak of
    assert iou_matrix(np.zeros((0, 4)), A).shape == (0, 3)


def test_agreement_over_images_by_hand() -> None:
    """Image 1 agrees fully (1), image 2 a third; image 3 has boxes on one side, image 4 on neither:
    the value is (1 + 1/3) / 2 over the two scored images."""
    half = np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]])
    found = agreement([(A, A), half, (A, np.zeros((0, 4))), (np.zeros((0, 4)), np.zeros((0, 4)))])
    assert found.value == pytest.approx(2 / 3, abs=1e-12)
    assert (found.scored, found.one_sided, found.empty, found.pairs, found.images) == (2, 1, 1, 4, 4)
    nothing = agreement([(np.zeros((0, 4)), A)])
    assert nothing.value is None and nothing.one_sided == 1


def test_flip_and_scale_map_boxes_back() -> None:
    np.testing.assert_allclose(flip_boxes(np.array([[10, 20, 30, 40]]), 100), [[70, 20, 90, 40]])
    np.testing.assert_allclose(flip_boxes(flip_boxes(A, 73), 73), A)
    # 300 x 200 shrunk by 0.8 to 240 x 160: a box found at (24, 16, 48, 32) was at (30, 20, 60, 40)
    np.testing.assert_allclose(unshrink_boxes(np.array([[24, 16, 48, 32]]), (200, 300, 3), 0.8), [[30, 20, 60, 40]])
    image = np.zeros((200, 300, 3), np.uint8)
    image[:, :150] = 200  # mean colour (100, 100, 100)
    canvas = shrink_and_pad(image, 0.8)
    assert canvas.shape == image.shape and canvas.dtype == np.uint8
    assert (canvas[160:, :] == 100).all() and (canvas[:, 240:] == 100).all()
    assert (canvas[:160, :110] == 200).all() and (canvas[:160, 130:240] == 0).all()
