"""From stability signals to mAP: the linear fit over the calibration meta-set, its leave-one-corruption-out
validation, and the interval that validation gives.

    fit = choose_fit(sets)                    # sets: CalibrationSet rows (signals + true mAP)
    estimate = fit.predict({"bos": 0.81})
    low, high = fit.interval(estimate)

The fit is least squares of the true mAP on the signals, with an intercept: either linear
(``mAP = c0 + x @ c``) or through the logistic link (``mAP = 1 / (1 + exp(-(c0 + x @ c)))``, which
bends towards 0 and 1 where a shift has taken nearly everything or nothing away). It is validated
by leaving out one corruption at a time (all its severities): the sets of that corruption are
predicted by the fit of all the others, the way a new kind of footage is predicted by a fit that never
saw its kind of shift. Those residuals (true - predicted) give

* the validation error: their root mean square (``loco_rmse``), mean absolute value and maximum;
* the interval: ``estimate +/- h``, where ``h`` is the ``k``-th smallest absolute residual with
  ``k = ceil((n + 1) * coverage)`` (split conformal prediction; with exchangeable errors the interval
  holds the true value with probability at least ``coverage``), clipped to [0, 1].

:func:`choose_fit` fits BoS alone, linear, first (:data:`FEATURE_SETS`' first entry) and takes another
candidate (a feature set with either link, :data:`LINKS`) only when its leave-one-corruption-out RMSE is
lower by at least :data:`MIN_GAIN` (5 %) and it leaves out no more calibration sets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

#: Candidate feature sets, the one to beat first (BoS alone, as the paper fits it); then the test-time
#: agreements, the same agreements with lost boxes counted (``*_union``), the mean confidence, and
#: the union agreements with the confidence (one signal of each kind: dropout, rescale, score). A
#: candidate whose signals were not measured (``bos*`` on an exported network) is not tried.
FEATURE_SETS: tuple[tuple[str, ...], ...] = (
    ("bos",), ("bos", "flip", "scale"), ("flip", "scale"), ("flip",),
    ("bos_union",), ("scale_union",), ("bos_union", "flip_union", "scale_union"), ("confidence",),
    ("scale_union", "confidence"), ("bos_union", "scale_union", "confidence"),
    ("bos_union", "flip_union", "scale_union", "confidence"),
)
#: The links tried for every feature set, linear first: "identity" (linear) and "logit" (logistic).
LINKS: tuple[str, ...] = ("identity", "logit")
#: Share of held-out residuals the interval is built to hold.
COVERAGE = 0.9
#: Kinds of shift (corruptions, the clean set counting as one) a fit needs: each left-out fit keeps two.
MIN_GROUPS = 3
#: Another candidate replaces the first only when its left-out RMSE is lower by at least this share
#: (a smaller gain is within what another draw of the calibration images changes).
MIN_GAIN = 0.05


@dataclass(frozen=True)
class CalibrationSet:
    """One shifted copy of the calibration images: its signals and the model's true mAP on it.

    Attributes:
        corruption: "clean" or a name of :data:`core.evaluation.estimate.corruptions.CORRUPTIONS`.
        severity: 0 for clean, else 1 .. SEVERITIES.
        true_map: the model's mAP on it (the calibration's metric).
        signals: name -> value (None where nothing could be measured).
        images: how many images.
    """

    corruption: str
    severity: int
    true_map: float
    signals: dict[str, float | None]
    images: int

    @property
    def name(self) -> str:
        return "clean" if self.corruption == "clean" else f"{self.corruption}-{self.severity}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "corruption": self.corruption, "severity": self.severity,
                "true_map": self.true_map, "signals": dict(self.signals), "images": self.images}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "CalibrationSet":
        return CalibrationSet(str(d["corruption"]), int(d["severity"]), float(d["true_map"]),
                              {str(k): (None if v is None else float(v)) for k, v in d["signals"].items()},
                              int(d["images"]))


def fit_linear(x: np.ndarray, y: np.ndarray, link: str = "identity") -> np.ndarray:
    """Least-squares ``y ~ g(c0 + x @ c[1:])``: x float [n, k], y float [n] -> c float64 [k + 1].

    ``link`` "identity": g(t) = t, ordinary least squares. "logit": g(t) = 1 / (1 + exp(-t)), the squared
    errors of g minimised by scipy's ``least_squares`` (trust region) from the linear fit of
    ``logit(clip(y, 0.01, 0.99))``; deterministic for the same inputs.
    """
    x = np.asarray(x, np.float64).reshape(len(y), -1)
    y = np.asarray(y, np.float64)
    design = np.concatenate([np.ones((len(y), 1)), x], axis=1)
    if link == "identity":
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        return coef
    if link != "logit":
        raise ValueError(f"link must be one of {LINKS}, got {link!r}")
    from scipy.optimize import least_squares

    p = np.clip(y, 0.01, 0.99)
    start, *_ = np.linalg.lstsq(design, np.log(p / (1.0 - p)), rcond=None)
    return least_squares(lambda c: _sigmoid(design @ c) - y, start, method="trf", xtol=1e-12, ftol=1e-12).x


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-t))


def predict_linear(coef: np.ndarray, x: np.ndarray, link: str = "identity") -> np.ndarray:
    """``g(c0 + x @ c[1:])`` for x float [n, k] -> float64 [n] (g: the ``link``'s inverse, see :func:`fit_linear`)."""
    x = np.asarray(x, np.float64).reshape(-1, len(coef) - 1)
    t = coef[0] + x @ np.asarray(coef[1:], np.float64)
    return _sigmoid(t) if link == "logit" else t


def loco_residuals(x: np.ndarray, y: np.ndarray, groups: Sequence[str], link: str = "identity") -> np.ndarray:
    """Leave-one-group-out residuals ``y - prediction`` (float64 [n]): the rows of each group predicted
    by the fit of all other rows."""
    groups_arr = np.asarray(list(groups))
    out = np.empty(len(y))
    for g in dict.fromkeys(groups_arr.tolist()):
        held = groups_arr == g
        coef = fit_linear(x[~held], y[~held], link)
        out[held] = y[held] - predict_linear(coef, x[held], link)
    return out


def conformal_half_width(residuals: np.ndarray, coverage: float = COVERAGE) -> float:
    """The ``ceil((n + 1) * coverage)``-th smallest ``|residual|``.

    Raises:
        ValueError: too few residuals for that coverage (says how many are needed).
    """
    r = np.sort(np.abs(np.asarray(residuals, np.float64)))
    k = math.ceil((len(r) + 1) * coverage)
    if k > len(r):
        need = next(n for n in range(1, 10_000) if math.ceil((n + 1) * coverage) <= n)
        raise ValueError(f"{len(r)} calibration sets are too few for a {coverage:.0%} interval: at least "
                         f"{need} are needed")
    return float(r[k - 1])


@dataclass(frozen=True)
class LinearFit:
    """A fitted and validated map from signals to mAP (linear, or linear inside the logistic link).

    Attributes:
        features: the signals it uses, in order.
        coef: intercept, then one coefficient per feature.
        link: "identity" (linear) or "logit" (logistic), see :func:`fit_linear`.
        residuals: leave-one-corruption-out residuals (true - predicted), one per calibration set.
        half_width: the interval's half width (:func:`conformal_half_width` of ``residuals``).
        coverage: what the interval is built to hold.
        ranges: feature -> (min, max) over the calibration sets.
        spearman: rank correlation of the left-out predictions with the true mAPs.
        skipped: calibration sets left out because a feature could not be measured on them (the model
            kept too few boxes there: a shift so strong that it finds almost nothing).
    """

    features: tuple[str, ...]
    coef: tuple[float, ...]
    residuals: tuple[float, ...] = field(repr=False)
    half_width: float
    coverage: float
    ranges: dict[str, tuple[float, float]]
    spearman: float
    skipped: tuple[str, ...] = ()
    link: str = "identity"

    @property
    def loco_rmse(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.residuals))))

    @property
    def loco_mae(self) -> float:
        return float(np.mean(np.abs(self.residuals)))

    @property
    def loco_max(self) -> float:
        return float(np.max(np.abs(self.residuals)))

    def predict(self, signals: dict[str, float | None]) -> float:
        """The fit's mAP for ``signals`` (not clipped).

        Raises:
            ValueError: a feature of the fit is missing or None in ``signals``.
        """
        missing = [f for f in self.features if signals.get(f) is None]
        if missing:
            raise ValueError(f"the fit needs the signal(s) {', '.join(missing)}, which could not be measured")
        x = np.array([[signals[f] for f in self.features]])
        return float(predict_linear(np.asarray(self.coef), x, self.link)[0])

    def interval(self, estimate: float) -> tuple[float, float]:
        """``[estimate - h, estimate + h]`` clipped to [0, 1]."""
        return max(0.0, estimate - self.half_width), min(1.0, estimate + self.half_width)

    def outside(self, signals: dict[str, float | None]) -> list[str]:
        """Features whose value lies outside the calibration range (the fit then extrapolates)."""
        return [f for f in self.features if signals.get(f) is not None
                and not self.ranges[f][0] <= float(signals[f]) <= self.ranges[f][1]]  # type: ignore[arg-type]

    def validation(self) -> dict[str, Any]:
        return {"method": "leave-one-corruption-out", "sets": len(self.residuals), "skipped": list(self.skipped),
                "rmse": self.loco_rmse,
                "mae": self.loco_mae, "max_abs": self.loco_max, "spearman": self.spearman,
                "interval_half_width": self.half_width, "coverage": self.coverage}

    def as_dict(self) -> dict[str, Any]:
        return {"model": _MODELS[self.link], "features": list(self.features), "coefficients": list(self.coef),
                "residuals": list(self.residuals), "ranges": {k: list(v) for k, v in self.ranges.items()},
                "validation": self.validation()}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "LinearFit":
        v = d["validation"]
        return LinearFit(tuple(d["features"]), tuple(float(c) for c in d["coefficients"]),
                         tuple(float(r) for r in d["residuals"]), float(v["interval_half_width"]),
                         float(v["coverage"]), {k: (float(a), float(b)) for k, (a, b) in d["ranges"].items()},
                         float(v["spearman"]), tuple(v.get("skipped", ())), _link_of(d.get("model", "linear")))


#: The name of each link in ``metrics.json`` and the cache ("model").
_MODELS = {"identity": "linear", "logit": "logistic"}


def _link_of(model: str) -> str:
    """The link of a recorded fit's "model" name."""
    links = {name: link for link, name in _MODELS.items()}
    if model not in links:
        raise ValueError(f"a recorded fit's model is {model!r}; this version knows {', '.join(sorted(links))}")
    return links[model]


def fit_sets(sets: Sequence[CalibrationSet], features: Sequence[str], coverage: float = COVERAGE,
             link: str = "identity") -> LinearFit:
    """Fit and validate the map on ``features`` over ``sets`` (``link``: see :func:`fit_linear`).

    Sets on which a feature could not be measured (None) are left out of the fit and named in ``skipped``.

    Raises:
        ValueError: fewer than :data:`MIN_GROUPS` corruptions, no set with every feature, a signal
            that does not vary, or too few sets for the interval; each says which.
    """
    skipped = tuple(s.name for s in sets if any(s.signals.get(f) is None for f in features))
    sets = [s for s in sets if all(s.signals.get(f) is not None for f in features)]
    if not sets:
        raise ValueError(f"signal(s) {', '.join(features)} could not be measured on any calibration set (too few "
                         f"boxes on both passes): the calibration images are too few or the model finds nothing "
                         f"on them")
    groups = [s.corruption for s in sets]
    if len(set(groups)) < MIN_GROUPS:
        raise ValueError(f"the calibration has {len(set(groups))} kind(s) of shift ({', '.join(sorted(set(groups)))}); "
                         f"a fit validated by leaving one out needs at least {MIN_GROUPS}")
    x = np.array([[float(s.signals[f]) for f in features] for s in sets])  # type: ignore[arg-type]
    y = np.array([s.true_map for s in sets], np.float64)
    for j, f in enumerate(features):
        if np.ptp(x[:, j]) < 1e-9:
            raise ValueError(f"signal {f!r} is {x[0, j]:.4f} on every calibration set: nothing to fit")
    residuals = loco_residuals(x, y, groups, link)
    half = conformal_half_width(residuals, coverage)
    from scipy.stats import spearmanr

    rho = float(spearmanr(y - residuals, y).statistic) if np.ptp(y) > 0 else 0.0
    return LinearFit(tuple(features), tuple(float(c) for c in fit_linear(x, y, link)),
                     tuple(float(r) for r in residuals), half, coverage,
                     {f: (float(x[:, j].min()), float(x[:, j].max())) for j, f in enumerate(features)},
                     rho if math.isfinite(rho) else 0.0, skipped, link)


def choose_fit(sets: Sequence[CalibrationSet], candidates: Sequence[Sequence[str]] = FEATURE_SETS,
               coverage: float = COVERAGE, links: Sequence[str] = LINKS) -> tuple[LinearFit, list[LinearFit]]:
    """(the fit to use, every candidate fitted): each feature set of ``candidates`` with each of ``links``
    (:data:`LINKS`: linear, then logistic), in that order; the first candidate whose signals were measured
    (BoS alone, linear, when the model has a PyTorch model), replaced by a later one only if its
    leave-one-corruption-out RMSE is lower
    by at least :data:`MIN_GAIN` of the current choice's and it leaves out no more calibration sets (a candidate
    must not win by skipping the sets it cannot measure).

    Raises:
        ValueError: no candidate can be fitted (the first candidate's reason).
    """
    measured = {f for s in sets for f, v in s.signals.items() if v is not None}
    available = [tuple(c) for c in candidates if set(c) <= measured] or [tuple(candidates[0])]
    fits: list[LinearFit] = []
    first_error: ValueError | None = None
    for features, link in [(f, link) for link in links for f in available]:
        try:
            fits.append(fit_sets(sets, features, coverage, link))
        except ValueError as exc:
            first_error = first_error or exc
    if not fits:
        assert first_error is not None
        raise first_error
    best = fits[0]
    for f in fits[1:]:
        if f.loco_rmse < best.loco_rmse * (1.0 - MIN_GAIN) and len(f.skipped) <= len(best.skipped):
            best = f
    return best, fits


__all__ = ["COVERAGE", "FEATURE_SETS", "LINKS", "MIN_GAIN", "MIN_GROUPS", "CalibrationSet", "LinearFit", "choose_fit",
           "conformal_half_width", "fit_linear", "fit_sets", "loco_residuals", "predict_linear"]
