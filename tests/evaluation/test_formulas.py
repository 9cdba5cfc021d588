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
