"""The estimate's output pinned by values computed by hand, for issue 24's mutation check
(tools/mutants.toml: core/evaluation/estimate/output.py): the estimate clamped to [0, 1] with its interval
around the clamped value, the "outside the calibration range" flag and its sentence, the model's name,
which notes appear, and the Evaluate view's scatter for one signal and for several."""
from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.estimate.fit import CalibrationSet, fit_sets
from core.evaluation.estimate.output import EstimateOutput
from core.evaluation.estimate.pooled import PooledSignal
from core.evaluation.estimate.run import Calibration, EstimateRequest
from core.evaluation.estimate.scoring import Measured

X, Y, G = [0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 4.0], ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def demo():  # type: ignore[no-untyped-def]
    from core import load_detector

    return load_detector("demo")


def _calibration(signals: dict[str, list[float]] | None = None, groups: list[str] = G,
                 ys: list[float] = Y) -> Calibration:
    signals = signals or {"bos": X}
    sets = [CalibrationSet(g, i, y, {k: v[i] for k, v in signals.items()}, 10) for i, (y, g) in enumerate(zip(ys, groups))]
    fit = fit_sets(sets, tuple(signals), coverage=0.5)
    return Calibration(sets, fit, [fit], "four hand-made sets", "voc07")


def _output(demo, footage: dict[str, float], calibration: Calibration | None = None):  # type: ignore[no-untyped-def]
    measured = Measured([], {k: PooledSignal(v, 8, 8, 16) for k, v in footage.items()}, 2.0, 0.6)
    return EstimateOutput.build(EstimateRequest("demo", "clip.mp4"), demo, calibration or _calibration(), measured)


def test_the_estimate_and_its_interval_by_hand(demo) -> None:  # type: ignore[no-untyped-def]
    """The fit is -0.2 + 1.3 x BoS with half width 2/3 (test_fit.py's hand case). BoS 0.5: 0.45, interval
    [max(0, 0.45 - 2/3), min(1, 0.45 + 2/3)] = [0, 1]; BoS 0.3: 0.19, [0, 0.19 + 2/3]."""
    out = _output(demo, {"bos": 0.5})
    assert out.estimate == pytest.approx(0.45, abs=1e-12) and out.interval == (0.0, 1.0)
    out = _output(demo, {"bos": 0.3})
    assert out.estimate == pytest.approx(0.19, abs=1e-12)
    assert out.interval == (0.0, pytest.approx(0.19 + 2 / 3, abs=1e-12))
    assert out.model == "demo_model.pt, PyTorch fp32" and out.outside == ()
    assert not any("clipped" in n or "dropout pass" in n or "outside" in n for n in out.notes)
    assert "outside the calibration range" not in out.trust()
    assert not any(line.startswith("note: the fit uses") for line in out.summary_lines())


def test_an_estimate_above_1_is_clamped_and_its_interval_is_around_1(demo) -> None:  # type: ignore[no-untyped-def]
    """BoS 1.0: the fit gives 1.1, shown as 1.0 with the interval [1 - 2/3, 1]; below: BoS 0.1 gives -0.07,
    shown as 0 with [0, 2/3]."""
    out = _output(demo, {"bos": 1.0})
    assert out.estimate == 1.0 and out.interval == (pytest.approx(1 / 3, abs=1e-12), 1.0)
    assert "the fit gives 1.100, outside [0, 1]; shown clipped" in out.notes
    low = _output(demo, {"bos": 0.1})
    assert low.estimate == 0.0 and low.interval == (0.0, pytest.approx(2 / 3, abs=1e-12))
    assert "the fit gives -0.070, outside [0, 1]; shown clipped" in low.notes


def test_footage_outside_the_calibration_range_is_flagged(demo) -> None:  # type: ignore[no-untyped-def]
    """BoS 3.5 lies above the sets' 0 .. 3: flagged, named in a note and in the trust sentence; the scatter's
    line reaches the footage's x (3.5), and the footage sits at the clamped estimate (1.0), not the fit's 4.35."""
    out = _output(demo, {"bos": 3.5})
    assert out.outside == ("bos",)
    assert ("the footage's bos 3.500 lies outside the calibration sets' range 0.000-3.000: the fit extrapolates, "
            "trust the estimate less than its interval says") in out.notes
    assert out.trust().endswith(", but this footage lies outside the calibration range.")
    assert out.metrics()["extrapolating"] == ["bos"]
    data = out.scatter()
    (x0, x1), (y0, y1) = data["line"]
    assert (x0, x1) == (0.0, 3.5) and y1 == pytest.approx(-0.2 + 1.3 * 3.5, abs=1e-12)
    assert data["footage"] == (3.5, 1.0, pytest.approx(1 / 3, abs=1e-12), 1.0)
    assert [p[:3] for p in data["points"]] == [(0.0, 0.0, "a-0"), (1.0, 1.0, "b-1"), (2.0, 2.0, "c-2"), (3.0, 4.0, "d-3")]


def test_a_fit_on_two_signals(demo) -> None:  # type: ignore[no-untyped-def]
    """mAP = 0.1 + 0.5 BoS + 0.3 flip exactly, on five sets: the fit recovers it; the scatter's x is the
    fitted value, so each set sits at (its mAP, its mAP), the line is the diagonal, and the summary says
    which signals beat BoS alone."""
    bos, flip = [0.2, 0.4, 0.5, 0.9, 0.7], [0.5, 0.1, 0.8, 0.3, 0.6]
    ys = [0.1 + 0.5 * b + 0.3 * f for b, f in zip(bos, flip)]
    cal = _calibration({"bos": bos, "flip": flip}, list("abcde"), ys)
    np.testing.assert_allclose(cal.fit.coef, [0.1, 0.5, 0.3], atol=1e-9)
    out = _output(demo, {"bos": 0.6, "flip": 0.4}, cal)
    assert out.estimate == pytest.approx(0.1 + 0.3 + 0.12, abs=1e-9)
    data = out.scatter()
    np.testing.assert_allclose([p[0] for p in data["points"]], ys, atol=1e-9)
    (x0, x1), (y0, y1) = data["line"]
    assert (y0, y1) == (x0, x1) and x0 == pytest.approx(min(ys), abs=1e-9) and x1 == pytest.approx(max(ys), abs=1e-9)
    assert data["x_label"] == "fitted value of bos + flip"
    assert data["footage"][:2] == (pytest.approx(0.52, abs=1e-9), pytest.approx(0.52, abs=1e-9))
    assert "note: the fit uses bos, flip: it beat BoS alone in the left-out validation" in out.summary_lines()
