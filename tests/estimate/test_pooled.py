"""The pooled signals (lost boxes counted as IoU 0, mean confidence) are exact functions of the boxes and
scores: hand-computed values, and the signal set measure_images builds from them."""
from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.estimate.pooled import PooledSignal, mean_confidence, union_agreement
from core.evaluation.estimate.scoring import SIGNALS, SignalSettings, set_signals
from core.evaluation.estimate.signals import agreement
from core.types import Detections

A = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 40, 60, 80]], np.float64)
NONE = np.zeros((0, 4))


def test_identical_disjoint_and_one_sided_sets() -> None:
    assert union_agreement([(A, A[::-1].copy()), (A[:1], A[:1])]).value == 1.0
    assert union_agreement([(A, A + 1000.0)]).value == 0.0
    # every box lost by one pass: 0, where BoS's matched mean has nothing to say (None)
    assert union_agreement([(A, NONE), (NONE, A[:2])]).value == 0.0
    assert agreement([(A, NONE), (NONE, A[:2])]).value is None
    nothing = union_agreement([(NONE, NONE)])
    assert nothing == PooledSignal(None, 0, 1, 0)


def test_union_agreement_by_hand() -> None:
    """Image 1: A0 and A1 against one box overlapping A0 by 5x10 of a 150 union (IoU 1/3); A1 is lost:
    1/3 over 2 + 1 - 1 = 2 boxes. Image 2: one box, lost by the other pass: 0 over 1. Image 3: no box on
    either pass, not counted. Pooled: (1/3) / 3 = 1/9. BoS's matched mean of the same pairs: 1/3."""
    pairs = [(A[:2], np.array([[5, 0, 15, 10]], np.float64)), (A[:1], NONE), (NONE, NONE)]
    found = union_agreement(pairs)
    assert found.value == pytest.approx(1 / 9, abs=1e-12)
    assert (found.scored, found.images, found.boxes) == (2, 3, 3)
    assert agreement(pairs).value == pytest.approx(1 / 3, abs=1e-12)
    # pooled, not a mean of image values: image 1 (1 of 1 box) and image 2 (1/3 over 2 boxes): 4/3 over 3
    pooled = union_agreement([(A[:1], A[:1]), (A[:2], np.array([[5, 0, 15, 10]], np.float64))])
    assert pooled.value == pytest.approx(4 / 9, abs=1e-12) and pooled.value != pytest.approx((1 + 1 / 6) / 2)
    assert pooled.as_dict() == {"value": pooled.value, "scored": 2, "images": 2, "boxes": 3}


def test_mean_confidence_by_hand() -> None:
    scores = [np.array([0.9, 0.04, 0.5]), np.zeros(0), np.array([0.06, 0.01])]
    found = mean_confidence(scores, floor=0.05)  # 0.9, 0.5, 0.06 kept: 1.46 / 3
    assert found.value == pytest.approx(1.46 / 3, abs=1e-12)
    assert (found.scored, found.images, found.boxes) == (2, 3, 3)
    assert mean_confidence(scores, floor=0.0).value == pytest.approx(1.51 / 5, abs=1e-12)
    assert mean_confidence(scores, floor=0.95) == PooledSignal(None, 0, 3, 0)


def _dets(boxes: np.ndarray, scores: list[float]) -> Detections:
    return Detections(boxes.astype(np.float32), np.array(scores, np.float32), np.ones(len(scores), np.int64))


def test_measured_signal_set_from_pairs_and_scores() -> None:
    """set_signals: the three agreements twice (matched mean, union) and the confidence of the first pass."""
    half = np.array([[5, 0, 15, 10]], np.float64)
    pairs = {"bos": [(A, A)], "flip": [(A[:2], half)], "scale": [(A, NONE)]}
    clean = [_dets(A, [0.9, 0.6, 0.03])]
    out = set_signals(pairs, clean, SignalSettings(confidence_floor=0.05), has_torch=True)
    assert tuple(out) == SIGNALS
    assert out["bos"].value == 1.0 and out["bos_union"].value == 1.0
    assert out["flip"].value == pytest.approx(1 / 3) and out["flip_union"].value == pytest.approx(1 / 6)
    assert out["scale"].value is None and out["scale_union"].value == 0.0
    assert out["confidence"].value == pytest.approx(0.75)  # 0.9 and 0.6; 0.03 is below the floor
    # an exported network: no dropout pass, so neither BoS signal
    exported = set_signals({k: v for k, v in pairs.items() if k != "bos"} | {"bos": []}, clean, SignalSettings(), False)
    assert "bos" not in exported and "bos_union" not in exported and "flip_union" in exported
    with pytest.raises(ValueError, match="confidence floor must be in"):
        SignalSettings(confidence_floor=1.0)
