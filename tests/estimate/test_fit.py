"""The fit from signals to mAP, its leave-one-corruption-out validation and interval, checked by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluation.estimate.fit import (FEATURE_SETS, CalibrationSet, LinearFit, choose_fit, conformal_half_width,
                                          fit_linear, fit_sets, loco_residuals)


def _sets(xs: list[float], ys: list[float], groups: list[str], extra: dict[str, list[float]] | None = None
          ) -> list[CalibrationSet]:
    extra = extra or {}
    return [CalibrationSet(g, i, y, {"bos": x, **{k: v[i] for k, v in extra.items()}}, 10)
            for i, (x, y, g) in enumerate(zip(xs, ys, groups))]


X, Y, G = [0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 4.0], ["a", "b", "c", "d"]
# Least squares by hand: mean x 1.5, mean y 1.75, Sxy 6.5, Sxx 5 -> slope 1.3, intercept -0.2.
# Left out one at a time (fits of the other three, by hand):
#   a: slope 3/2, intercept -2/3 -> predicts -2/3 at 0, residual 0 - (-2/3) = 2/3
#   b: slope 9/7, intercept -1/7 -> predicts 8/7 at 1, residual -1/7
#   c: slope 19/14, intercept -1/7 -> predicts 18/7 at 2, residual -4/7
#   d: slope 1, intercept 0 -> predicts 3 at 3, residual 1
RESIDUALS = [2 / 3, -1 / 7, -4 / 7, 1.0]


def test_least_squares_by_hand() -> None:
    np.testing.assert_allclose(fit_linear(np.array(X)[:, None], np.array(Y)), [-0.2, 1.3], atol=1e-12)


def test_leave_one_corruption_out_residuals_by_hand() -> None:
    np.testing.assert_allclose(loco_residuals(np.array(X)[:, None], np.array(Y), G), RESIDUALS, atol=1e-12)
    # a group holds all its rows out together: with a and b one group, its fit is the line through (2,2), (3,4)
    r = loco_residuals(np.array(X)[:, None], np.array(Y), ["ab", "ab", "c", "d"])
    np.testing.assert_allclose(r[:2], [0 - (-2.0), 1 - 0.0], atol=1e-12)


def test_interval_half_width_is_the_conformal_quantile() -> None:
    # sorted |r| = 1/7, 4/7, 2/3, 1; coverage 0.5: k = ceil(5 * 0.5) = 3 -> 2/3; 0.7: k = ceil(3.5) = 4 -> 1
    assert conformal_half_width(np.array(RESIDUALS), 0.5) == pytest.approx(2 / 3, abs=1e-12)
    assert conformal_half_width(np.array(RESIDUALS), 0.7) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="4 calibration sets are too few for a 90% interval: at least 9"):
        conformal_half_width(np.array(RESIDUALS), 0.9)


def test_fit_sets_by_hand() -> None:
    fit = fit_sets(_sets(X, Y, G), ("bos",), coverage=0.5)
    np.testing.assert_allclose(fit.coef, [-0.2, 1.3], atol=1e-12)
    np.testing.assert_allclose(fit.residuals, RESIDUALS, atol=1e-12)
    assert fit.loco_rmse == pytest.approx(math.sqrt((4 / 9 + 1 / 49 + 16 / 49 + 1) / 4), abs=1e-12)
    assert fit.loco_max == pytest.approx(1.0) and fit.half_width == pytest.approx(2 / 3, abs=1e-12)
    assert fit.ranges == {"bos": (0.0, 3.0)}
    assert fit.predict({"bos": 0.5}) == pytest.approx(-0.2 + 0.65, abs=1e-12)
    # interval: estimate +/- 2/3, clipped to [0, 1]
    assert fit.interval(0.2) == (0.0, pytest.approx(0.2 + 2 / 3, abs=1e-12))
    assert fit.interval(0.7) == (pytest.approx(0.7 - 2 / 3, abs=1e-12), 1.0)
    lo, hi = fit_sets(_sets([0, 1, 2, 3], [0.1, 0.2, 0.3, 0.5], G), ("bos",), coverage=0.5).interval(0.3)
    assert hi - lo == pytest.approx(2 * 0.0666666666666, abs=1e-9)  # the same residuals scaled by 1/10
    assert fit.outside({"bos": 3.5}) == ["bos"] and fit.outside({"bos": 2.9}) == []
    # left-out predictions 0-2/3, 1+1/7, 2+4/7, 3 against true 0, 1, 2, 4: ranks agree -> Spearman 1
    assert fit.spearman == pytest.approx(1.0)
    assert LinearFit.from_dict(fit.as_dict()) == fit


def test_choose_fit_keeps_bos_unless_another_is_clearly_better() -> None:
    rng = np.random.default_rng(0)
    groups = [g for g in "abcde" for _ in range(2)]
    flip = rng.uniform(0.3, 0.9, 10)
    noisy_bos = flip + rng.normal(0, 0.1, 10)
    # mAP exactly linear in BoS: BoS alone is kept (the others can only tie, within rounding)
    sets = _sets(list(flip), list(0.2 + 0.7 * flip), groups, {"flip": list(noisy_bos), "scale": list(rng.random(10))})
    chosen, candidates = choose_fit(sets)
    assert chosen.features == ("bos",) and chosen.loco_rmse < 1e-9
    tried = [("bos",), ("bos", "flip", "scale"), ("flip", "scale"), ("flip",)]
    assert [(c.features, c.link) for c in candidates] == [(f, "identity") for f in tried] + [(f, "logit") for f in tried]
    # mAP exactly linear in the flip agreement and BoS noisy: a fit with flip wins
    sets = _sets(list(noisy_bos), list(0.2 + 0.7 * flip), groups, {"flip": list(flip), "scale": list(rng.random(10))})
    chosen, candidates = choose_fit(sets)
    assert "flip" in chosen.features and chosen.loco_rmse < 1e-9 < candidates[0].loco_rmse
    # without BoS (an exported network) the flip and scale agreements are the first candidate
    for s in sets:
        s.signals.pop("bos")
    assert choose_fit(sets)[0].features in (("flip", "scale"), ("flip",))


def test_a_set_without_the_signal_is_left_out() -> None:
    """Set b (no boxes on both passes) is skipped; the rest, left out one at a time: a predicted by the line
    through (2, 2), (3, 4) (-2 at 0: residual 2), c by the line through (0, 0), (3, 4) (8/3: residual -2/3),
    d by the line through (0, 0), (2, 2) (3: residual 1)."""
    sets = _sets(X, Y, G)
    sets[1].signals["bos"] = None
    fit = fit_sets(sets, ("bos",), coverage=0.5)
    assert fit.skipped == ("b-1",)
    np.testing.assert_allclose(fit.residuals, [2.0, -2 / 3, 1.0], atol=1e-12)
    assert fit.half_width == pytest.approx(1.0)  # k = ceil(4 * 0.5) = 2: sorted 2/3, 1, 2
    assert fit.validation()["skipped"] == ["b-1"] and LinearFit.from_dict(fit.as_dict()) == fit


def test_sets_that_cannot_be_fitted() -> None:
    with pytest.raises(ValueError, match=r"2 kind\(s\) of shift \(a, b\); .* at least 3"):
        fit_sets(_sets(X, Y, ["a", "a", "b", "b"]), ("bos",), coverage=0.5)
    with pytest.raises(ValueError, match="signal 'bos' is 0.5000 on every calibration set: nothing to fit"):
        fit_sets(_sets([0.5] * 4, Y, G), ("bos",), coverage=0.5)
    nothing = _sets(X, Y, G)
    for one in nothing:
        one.signals["bos"] = None
    with pytest.raises(ValueError, match=r"signal\(s\) bos could not be measured on any calibration set"):
        fit_sets(nothing, ("bos",), coverage=0.5)
    with pytest.raises(ValueError, match="too few for a 90% interval"):
        choose_fit(_sets(X, Y, G))


def test_a_candidate_does_not_win_by_skipping_sets() -> None:
    """The confidence is exactly linear in mAP where measured but missing on set e-0 (the hardest): its
    left-out RMSE is 0, yet BoS (all five sets, noisy) stays chosen; with e-0 measured as well it wins."""
    xs, ys = [0.1, 0.35, 0.5, 0.8, 0.95], [0.05, 0.3, 0.5, 0.7, 0.9]
    conf = [0.1 + 0.5 * y for y in ys]
    sets = [CalibrationSet(g, 0, y, {"bos": x, "confidence": c}, 10) for g, x, y, c in zip("abcde", xs, ys, conf)]
    sets[0].signals["confidence"] = None
    chosen, candidates = choose_fit(sets, candidates=(("bos",), ("confidence",)), coverage=0.5)
    assert candidates[1].loco_rmse < 1e-9 and candidates[1].skipped == ("a-0",)
    assert chosen.features == ("bos",) and candidates[0].loco_rmse > 0.01
    sets[0].signals["confidence"] = conf[0]
    assert choose_fit(sets, candidates=(("bos",), ("confidence",)), coverage=0.5)[0].features == ("confidence",)


def test_the_candidates_start_with_bos_and_name_measured_signals() -> None:
    from core.evaluation.estimate.scoring import SIGNALS

    assert FEATURE_SETS[0] == ("bos",)
    assert all(set(c) <= set(SIGNALS) for c in FEATURE_SETS) and len(set(FEATURE_SETS)) == len(FEATURE_SETS)


def test_the_scatter_leaves_out_sets_the_fit_skipped() -> None:
    """Set b has no BoS (too few boxes): the fit skips it and the Evaluate view's scatter has no point for it;
    the footage sits at its BoS and the estimate, the line is the fit's at the extreme x values."""
    from core.evaluation.estimate.output import EstimateOutput
    from core.evaluation.estimate.pooled import PooledSignal
    from core.evaluation.estimate.run import Calibration

    sets = _sets(X, Y, G)
    sets[1].signals["bos"] = None
    fit = fit_sets(sets, ("bos",), coverage=0.5)
    calibration = Calibration(sets, fit, [fit], "four hand-made sets", "voc07")
    footage = {"bos": PooledSignal(1.5, 10, 10, 20)}
    out = EstimateOutput(None, 0.7, fit.interval(0.7), footage, 10, 2.0, calibration, (), "m", ())  # type: ignore[arg-type]
    data = out.scatter()
    assert [p[2] for p in data["points"]] == ["a-0", "c-2", "d-3"]
    assert data["footage"] == (1.5, 0.7, *fit.interval(0.7))
    (x0, x1), (y0, y1) = data["line"]
    assert (x0, x1) == (0.0, 3.0) and y0 == pytest.approx(fit.coef[0]) and y1 == pytest.approx(fit.coef[0] + 3 * fit.coef[1])
