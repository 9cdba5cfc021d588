"""Precision/recall/F1 against confidence with the best-F1 threshold; comparing two evaluations;
COCO AP by size and AR per class; the AP definitions and the VOC07 recall levels they describe."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.data.coco import load_coco
from core.evaluation import evaluate
from core.evaluation.coco import COCO_STAT_NAMES, COCOMetrics
from core.evaluation.compare import compare_evaluations
from core.evaluation.definitions import AP_DEFINITIONS, ap_definition
from core.evaluation.voc import VOC07_RECALL_LEVELS, average_precision
from core.types import Detections
from tests.evaluation.helpers import random_case
from tests.evaluation.test_coco import random_coco, to_detections


@pytest.mark.parametrize("seed", [0, 4])
def test_confidence_curves_equal_the_sweep_and_the_best_f1_is_the_best(seed: int) -> None:
    gt, dets = random_case(seed, num_images=40)
    result = evaluate(gt, dets)
    grid = np.linspace(0, 1, 21)
    curves = result.confidence_curves(grid)
    for i, t in enumerate(grid):
        s = result.at_threshold(t)
        np.testing.assert_array_equal(curves.precision[1:, i], s.precision[1:])
        np.testing.assert_array_equal(curves.recall[1:, i], s.recall[1:])
        np.testing.assert_array_equal(curves.f1[1:, i], s.f1[1:])
        tp, kept, n = s.tp[1:].sum(), (s.tp + s.fp)[1:].sum(), s.num_gt[1:].sum()
        assert curves.overall_precision[i] == pytest.approx(tp / kept if kept else np.nan, nan_ok=True)
        assert curves.overall_recall[i] == pytest.approx(tp / n)
        assert curves.mean_f1[i] == pytest.approx(np.mean(s.f1[result.sweep.evaluated]))
    # the best F1 is searched over every score, so no grid point and no score beats it
    scores = np.unique(result.match.det_score)
    all_f1 = np.array([result.at_threshold(float(t)).f1 for t in scores])  # [S, C]
    for label in np.flatnonzero(result.sweep.evaluated):
        best = np.nanmax(all_f1[:, label])
        assert curves.best_f1[label] == pytest.approx(best)
        if best > 0:
            top = scores[all_f1[:, label] == best].max()  # the highest threshold on ties
            assert curves.best_threshold[label] == float(top)
            assert result.at_threshold(curves.best_threshold[label]).f1[label] == pytest.approx(best)
    pooled = []
    for t in scores:
        s = result.at_threshold(float(t))
        tp, fp, n = s.tp[1:].sum(), s.fp[1:].sum(), s.num_gt[1:].sum()
        pooled.append(2 * tp / (2 * tp + fp + (n - tp)))
    assert curves.overall_best_f1 == pytest.approx(max(pooled))
    assert curves.overall_best_threshold == float(scores[np.flatnonzero(np.isclose(pooled, max(pooled))).max()])
    assert np.isnan(curves.f1[0]).all() and np.isnan(curves.best_threshold[0])


def test_comparison_holds_two_curves_per_class_and_the_difference() -> None:
    gt, dets = random_case(2, num_images=30)
    rng = np.random.default_rng(9)
    worse = {}
    for k, d in dets.items():
        b = d.boxes + rng.normal(0, 4, d.boxes.shape).astype(np.float32)
        b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
        worse[k] = Detections(b, d.scores, d.labels)
    a, b = evaluate(gt, dets), evaluate(gt, worse)
    cmp = compare_evaluations(a, b, "voc07", names=("clean", "jittered"))
    np.testing.assert_array_equal(cmp.ap_a, a.voc(True).ap)
    np.testing.assert_array_equal(cmp.ap_b, b.voc(True).ap)
    np.testing.assert_array_equal(cmp.ap_diff[1:], (b.voc(True).ap - a.voc(True).ap)[1:])
    assert cmp.map_diff == pytest.approx(b.voc(True).mAP - a.voc(True).mAP) and cmp.map_diff < 0
    label = int(np.flatnonzero(a.sweep.evaluated)[0])
    curve_a, curve_b = cmp.pr_curves(label)
    assert curve_a.label == curve_b.label == label and curve_a.name == curve_b.name
    np.testing.assert_array_equal(curve_a.precision, a.pr_curve(label).precision)
    np.testing.assert_array_equal(curve_b.recall, b.pr_curve(label).recall)
    assert not np.array_equal(curve_a.is_tp, curve_b.is_tp)  # the jitter turned some TPs into FPs
    err_a, err_b = cmp.errors_by_image(None, 0.0)
    assert err_a.shape == err_b.shape == (len(gt.records),) and err_b.sum() > err_a.sum()
    rows = cmp.rows()
    assert {r["class"] for r in rows} <= set(gt.class_names[1:]) and all("diff" in r for r in rows)
    assert len(cmp.confidence_curves()) == 2 and len(cmp.map_by_threshold(np.array([0.0, 0.5]))) == 2

    other, other_dets = random_case(3, num_images=30)
    with pytest.raises(ValueError, match="ground-truth objects|images"):
        compare_evaluations(a, evaluate(other, other_dets))
    with pytest.raises(ValueError, match="metric"):
        compare_evaluations(a, b, "map")


def test_coco_ap_by_size_and_ar_per_class_are_pycocotools_numbers(tmp_path: Path) -> None:
    data, results = random_coco(1)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    ds = load_coco(path, check_images=False)
    cm = evaluate(ds, to_detections(ds, results)).coco()
    stat = dict(zip(COCO_STAT_NAMES, cm.stats))
    checked = 0
    for stat_name, field in COCOMetrics.PER_CLASS_STATS:
        per_class = getattr(cm, field)[1:]
        if stat[stat_name] > -1:
            # pycocotools averages over every filled entry; each class fills all or none of its own
            assert np.nanmean(per_class) == pytest.approx(stat[stat_name], abs=1e-12), stat_name
            checked += 1
    assert checked >= 5
    js = evaluate(ds, to_detections(ds, results)).metrics_dict("coco", cm)
    entry = js["per_class"]["car"]
    assert set(entry) >= {"ap", "ap50", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100"}
    assert js["ap_definition"] == ap_definition("coco").text and "101" in js["ap_definition"]


def _ap_with_np_arange(recall: np.ndarray, precision: np.ndarray) -> float:
    """The 11-point AP as py-faster-rcnn's voc_eval.py and mmdetection's mean_ap.py write it."""
    return sum((precision[recall >= t].max() if (recall >= t).any() else 0.0) / 11.0
               for t in np.arange(0.0, 1.1, 0.1))


def test_voc07_levels_differ_from_np_arange_at_exactly_06_and_07() -> None:
    levels = np.arange(0.0, 1.1, 0.1)
    differ = np.flatnonzero(levels != VOC07_RECALL_LEVELS)
    np.testing.assert_array_equal(VOC07_RECALL_LEVELS[differ], [0.6, 0.7])
    assert levels[6] == 0.6000000000000001 and levels[7] == 0.7000000000000001
    # 5 objects; the third true positive reaches recall 3/5 = 0.6 exactly, at precision 1; then two false
    # positives and the last two objects at precision 5/7
    tp = np.array([1, 1, 1, 0, 0, 1, 1])
    recall = np.cumsum(tp) / 5
    precision = np.cumsum(tp) / np.arange(1, 8)
    ours, theirs = average_precision(recall, precision, True), _ap_with_np_arange(recall, precision)
    assert ours - theirs == pytest.approx((1.0 - 5 / 7) / 11)  # the 0.6 level gets precision 1 here, 5/7 there
    for metric, d in AP_DEFINITIONS.items():
        assert d.metric == metric and d.title and d.short and len(d.text) > len(d.short)
    assert "0:0.1:1" in ap_definition("voc07").text and "all" in ap_definition("voc12").short
    with pytest.raises(ValueError, match="voc07"):
        ap_definition("map50")
