"""The estimate's fit and pooled signals pinned by values computed by hand, for issue 24's mutation check
(tools/mutants.toml: core/evaluation/estimate/fit.py and pooled.py): the left-out validation's RMSE, MAE,
maximum and Spearman on a case where the sign of the residuals matters, the choice rule's 5 % margin and
its ties, the boundaries of the calibration range and of a signal that does not vary, the fallback when no
candidate was measured; the confidence floor's inclusive bound and default."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluation.estimate.fit import CalibrationSet, choose_fit, fit_sets
from core.evaluation.estimate.pooled import CONFIDENCE_FLOOR, mean_confidence

G = ["a", "b", "c", "d"]


def _sets(signals: dict[str, list[float]], ys: list[float], groups: list[str] = G) -> list[CalibrationSet]:
    return [CalibrationSet(g, i, y, {k: v[i] for k, v in signals.items()}, 10) for i, (y, g) in enumerate(zip(ys, groups))]


def test_validation_where_the_residuals_sign_matters() -> None:
    """x 0, 1, 2, 3 and true mAP 0, 2, 1, 3, each its own corruption. Left out one at a time (the fits of
    the other three, by hand): a: slope 1/2, intercept 1 -> 1; b: slope 13/14, intercept -3/14 -> 5/7;
    c: slope 13/14, intercept 3/7 -> 16/7; d: slope 1/2, intercept 1/2 -> 2. Residuals (true - predicted):
    -1, 9/7, -9/7, 1. RMSE sqrt((1 + 81/49 + 81/49 + 1) / 4) = sqrt(65) / 7, MAE (2 + 18/7) / 4 = 8/7, max
    9/7. Predictions 1, 5/7, 16/7, 2 rank 2, 1, 4, 3 against the true ranks 1, 3, 2, 4: d = 1, -2, 2, -1,
    Spearman 1 - 6 * 10 / (4 * 15) = 0 (true + residual would rank 1, 3, 2, 4: 1)."""
    fit = fit_sets(_sets({"bos": [0, 1, 2, 3]}, [0, 2, 1, 3]), ("bos",), coverage=0.5)
    np.testing.assert_allclose(fit.residuals, [-1, 9 / 7, -9 / 7, 1], atol=1e-12)
    assert fit.loco_rmse == pytest.approx(math.sqrt(65) / 7, abs=1e-12)
    assert fit.loco_mae == pytest.approx(8 / 7, abs=1e-12)
    assert fit.loco_max == pytest.approx(9 / 7, abs=1e-12)
    assert fit.spearman == pytest.approx(0.0, abs=1e-12)
    # sorted |r| 1, 1, 9/7, 9/7; coverage 0.5: k = ceil(5 * 0.5) = 3 -> 9/7
    assert fit.half_width == pytest.approx(9 / 7, abs=1e-12)
    v = fit.validation()
    assert (v["rmse"], v["mae"], v["max_abs"], v["sets"]) == (fit.loco_rmse, fit.loco_mae, fit.loco_max, 4)


def test_the_largest_miss_is_the_largest_in_absolute_value() -> None:
    """True mAP 0, -1, -2, -4 (the earlier hand case of test_fit.py negated): residuals -2/3, 1/7, 4/7, -1:
    the largest miss is 1 (below), the largest residual only 4/7; the MAE (2/3 + 1/7 + 4/7 + 1) / 4 = 50/84."""
    fit = fit_sets(_sets({"bos": [0, 1, 2, 3]}, [0, -1, -2, -4]), ("bos",), coverage=0.5)
    np.testing.assert_allclose(fit.residuals, [-2 / 3, 1 / 7, 4 / 7, -1], atol=1e-12)
    assert fit.loco_max == pytest.approx(1.0, abs=1e-12)
    assert fit.loco_mae == pytest.approx(50 / 84, abs=1e-12)


def test_the_calibration_range_includes_its_ends() -> None:
    fit = fit_sets(_sets({"bos": [0, 1, 2, 3]}, [0, 1, 2, 4]), ("bos",), coverage=0.5)
    assert fit.ranges == {"bos": (0.0, 3.0)}
    assert fit.outside({"bos": 0.0}) == [] and fit.outside({"bos": 3.0}) == []
    assert fit.outside({"bos": -1e-9}) == ["bos"] and fit.outside({"bos": 3.0 + 1e-9}) == ["bos"]
    assert fit.outside({"bos": None}) == []  # not measured: nothing to say


def test_a_signal_that_varies_by_exactly_1e_9_is_fitted() -> None:
    """The 'does not vary' refusal is for a spread below 1e-9; 0 .. 1e-9 is a spread of exactly 1e-9."""
    fit = fit_sets(_sets({"bos": [0.0, 1e-9, 0.5e-9, 0.0]}, [0, 1, 0.5, 0]), ("bos",), coverage=0.5)
    assert fit.ranges["bos"] == (0.0, 1e-9)
    with pytest.raises(ValueError, match="nothing to fit"):
        fit_sets(_sets({"bos": [0.0, 0.9e-9, 0.5e-9, 0.0]}, [0, 1, 0.5, 0]), ("bos",), coverage=0.5)


def test_another_candidate_needs_a_gain_of_5_percent() -> None:
    """BoS alone is replaced only when the other's left-out RMSE is below 0.95 times BoS's. The flip
    agreement is BoS with set b's value moved: to 1.1 (RMSE ratio 0.937: it wins), 1.05 (0.968: BoS stays)
    and 0.95 (1.032: BoS stays, and would have lost with a margin of +5 %)."""
    xs, ys = [0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 1.0, 3.0, 4.0]
    groups = list("abcde")
    bos_rmse = fit_sets(_sets({"bos": xs}, ys, groups), ("bos",), 0.5).loco_rmse

    def flip_rmse(flip: list[float]) -> float:
        return fit_sets(_sets({"flip": flip}, ys, groups), ("flip",), 0.5).loco_rmse

    def chosen(flip: list[float]) -> tuple[str, ...]:
        return choose_fit(_sets({"bos": xs, "flip": flip}, ys, groups), (("bos",), ("flip",)), 0.5,
                          ("identity",))[0].features

    a, b, c = [0.0, 1.1, 2.0, 3.0, 4.0], [0.0, 1.05, 2.0, 3.0, 4.0], [0.0, 0.95, 2.0, 3.0, 4.0]
    ratios = [flip_rmse(f) / bos_rmse for f in (a, b, c)]
    assert ratios[0] < 0.95 < ratios[1] < 1.0 < ratios[2] < 1.05, ratios  # the cases are what they say
    assert chosen(a) == ("flip",)
    assert chosen(b) == ("bos",) and chosen(c) == ("bos",)


def test_a_tie_keeps_the_first_candidate() -> None:
    """True mAP 0 on every set: every candidate's residuals are exactly 0; the later one does not replace
    the first (its RMSE is not lower than 0.95 x 0)."""
    sets = _sets({"bos": [0, 1, 2, 3], "flip": [3, 1, 2, 0]}, [0, 0, 0, 0])
    best, fits = choose_fit(sets, (("bos",), ("flip",)), 0.5, ("identity",))
    assert [f.loco_rmse for f in fits] == [0.0, 0.0] and best.features == ("bos",)
    assert best.spearman == 0.0  # no variation in the true mAP: no rank correlation


def test_the_first_candidates_error_is_the_one_raised() -> None:
    sets = _sets({"bos": [0.5] * 4, "flip": [0.7] * 4}, [0, 1, 2, 4])
    with pytest.raises(ValueError, match="signal 'bos' is 0.5000 on every calibration set"):
        choose_fit(sets, (("bos",), ("flip",)), 0.5)


def test_without_any_measured_candidate_the_first_says_why() -> None:
    """Only the confidence was measured: no candidate's signals are all there, so the first is fitted
    anyway and says which signal could not be measured."""
    sets = _sets({"confidence": [0, 1, 2, 3]}, [0, 1, 2, 4])
    with pytest.raises(ValueError, match=r"signal\(s\) bos could not be measured on any calibration set"):
        choose_fit(sets, (("bos",), ("bos", "flip")), 0.5)


def test_a_candidate_with_exactly_the_measured_signals_is_tried() -> None:
    sets = _sets({"bos": [0, 1, 2, 3], "confidence": [0, 1, 2, 4]}, [0, 1, 2, 4])
    _, fits = choose_fit(sets, (("bos",), ("bos", "confidence"), ("flip",)), 0.5)
    assert [(f.features, f.link) for f in fits] == [(("bos",), "identity"), (("bos", "confidence"), "identity"),
                                                    (("bos",), "logit"), (("bos", "confidence"), "logit")]


def test_a_set_missing_one_of_two_features_is_skipped() -> None:
    """Set b has BoS but no flip agreement: a fit on both skips it; a fit on BoS alone keeps it."""
    sets = _sets({"bos": [0, 1, 2, 3, 4], "flip": [1, None, 0, 3, 2]}, [0, 1, 2, 4, 3], list("abcde"))  # type: ignore[list-item]
    both = fit_sets(sets, ("bos", "flip"), 0.5)
    assert both.skipped == ("b-1",) and len(both.residuals) == 4
    alone = fit_sets(sets, ("bos",), 0.5)
    assert alone.skipped == () and len(alone.residuals) == 5


def test_the_logistic_link_recovers_a_sigmoid_and_wins_only_by_5_percent() -> None:
    """True mAP exactly 1 / (1 + exp(-(-6 + 12 x))) at x = 0, 0.1, .., 1 (11 sets, 4 corruptions): the
    logistic fit recovers (-6, 12), predicts the sigmoid, leaves residuals of 0 out of each corruption, and
    is chosen over the linear fit of the same signal (whose left-out RMSE is not 0); on a straight line
    (mAP = 0.1 + 0.8 x) the linear fit is exact and the logistic one does not replace it."""
    xs = np.linspace(0, 1, 11)
    groups = [G[i % 4] for i in range(11)]
    curve = 1 / (1 + np.exp(-(-6 + 12 * xs)))
    sets = _sets({"bos": xs.tolist()}, curve.tolist(), groups)
    logistic = fit_sets(sets, ("bos",), 0.5, "logit")
    np.testing.assert_allclose(logistic.coef, [-6, 12], atol=1e-6)
    assert logistic.predict({"bos": 0.25}) == pytest.approx(1 / (1 + math.exp(3)), abs=1e-9)
    assert logistic.loco_rmse < 1e-6 and logistic.link == "logit"
    assert logistic.as_dict()["model"] == "logistic"
    assert type(logistic).from_dict(logistic.as_dict()) == logistic
    best, fits = choose_fit(sets, (("bos",),), 0.5)
    assert [f.link for f in fits] == ["identity", "logit"] and best is fits[1]
    assert fits[0].loco_rmse > 0.05 and fits[0].as_dict()["model"] == "linear"
    line = _sets({"bos": xs.tolist()}, (0.1 + 0.8 * xs).tolist(), groups)
    best, fits = choose_fit(line, (("bos",),), 0.5)
    assert best.link == "identity" and best.loco_rmse < 1e-12 and fits[1].loco_rmse > 0
    with pytest.raises(ValueError, match="link must be one of"):
        fit_sets(sets, ("bos",), 0.5, "probit")
    with pytest.raises(ValueError, match="a recorded fit's model is 'probit'"):
        type(logistic).from_dict(dict(logistic.as_dict(), model="probit"))


# --- pooled signals ----------------------------------------------------------------------------------------


def test_a_score_exactly_at_the_default_floor_counts() -> None:
    """The default floor is 0.05 (BoS's detectors' test threshold), inclusive: 0.05 and 0.9 are kept,
    0.0499 is not: (0.05 + 0.9) / 2 = 0.475."""
    assert CONFIDENCE_FLOOR == 0.05
    found = mean_confidence([np.array([0.05, 0.0499]), np.array([0.9])])
    assert found.value == pytest.approx(0.475, abs=1e-12) and (found.scored, found.boxes) == (2, 2)
    assert mean_confidence([np.array([0.0499])]).value is None
