"""An accuracy estimate ready to print, write and show: the number, its interval, the signals it came
from, the calibration behind it, and in words how far to trust it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.evaluation.estimate.scoring import SIGNAL_NAMES
from core.evaluation.estimate.pooled import Signal

METRIC_NAMES = {"voc07": "VOC07 11-point mAP@0.5", "voc12": "VOC2010+ mAP@0.5", "coco": "COCO AP@[.5:.95]"}
CAVEAT = ("An estimate, not a measurement: no label of this footage was used. The number comes from how stable "
          "the model's boxes are, calibrated on shifted copies of labelled images like its own data.")


@dataclass(frozen=True)
class EstimateOutput:
    """What :func:`core.evaluation.estimate.run.run_estimate` found.

    Attributes:
        request: the :class:`~core.evaluation.estimate.run.EstimateRequest`.
        estimate: the estimated mAP (the request's metric), clipped to [0, 1].
        interval: (low, high): the estimate +/- the fit's interval half width, clipped to [0, 1].
        signals: name -> the signal on the footage (an Agreement or a PooledSignal: ``value``, ``scored``).
        frames: frames measured; ``boxes_per_image``: boxes per frame at the signal threshold.
        calibration: the :class:`~core.evaluation.estimate.run.Calibration` used.
        outside: the fit's signals whose footage value lies outside the calibration range.
        model: what ran the model, in words ("demo_model.pt, PyTorch fp32").
        notes: sentences for the user (runtime, cache, extrapolation, temporal agreement).
    """

    request: Any
    estimate: float
    interval: tuple[float, float]
    signals: dict[str, Signal]
    frames: int
    boxes_per_image: float
    calibration: Any = field(repr=False)
    outside: tuple[str, ...]
    model: str
    notes: tuple[str, ...]

    @staticmethod
    def build(request: Any, detector: Any, calibration: Any, measured: Any) -> "EstimateOutput":
        """The output of ``calibration``'s fit applied to the footage's ``measured`` signals."""
        fit = calibration.fit
        values = measured.values()
        raw = fit.predict(values)
        estimate = min(1.0, max(0.0, raw))
        runtime = "OpenVINO" if detector.runtime == "openvino" else "PyTorch"
        model = f"{Path(str(getattr(detector, 'weights_path', None) or request.weights)).name}, {runtime} " \
                f"{detector.precision}"  # the file loaded: demo_model.pt for "demo"
        notes = list(calibration.notes) + list(measured.notes)
        if "bos" in fit.features and (detector.runtime != "torch" or detector.precision != "fp32"):
            notes.append(f"BoS's dropout pass runs the PyTorch model in fp32 (dropout cannot be switched on inside "
                         f"a compiled network); the other passes and the calibration's true mAPs ran on {runtime} "
                         f"{detector.precision}")
        outside = tuple(fit.outside(values))
        for f in outside:
            lo, hi = fit.ranges[f]
            notes.append(f"the footage's {f} {values[f]:.3f} lies outside the calibration sets' range "
                         f"{lo:.3f}-{hi:.3f}: the fit extrapolates, trust the estimate less than its interval says")
        if raw != estimate:
            notes.append(f"the fit gives {raw:.3f}, outside [0, 1]; shown clipped")
        if "temporal" in measured.signals:
            notes.append("the agreement between neighbouring frames is reported, not used by the fit (the "
                         "calibration images are stills)")
        return EstimateOutput(request, estimate, fit.interval(estimate), dict(measured.signals),
                              len(measured.detections), measured.boxes_per_image, calibration, outside, model,
                              tuple(notes))

    @property
    def metric(self) -> str:
        return str(self.request.metric)

    @property
    def caveat(self) -> str:
        return CAVEAT

    def trust(self) -> str:
        """How far to trust the estimate, in one sentence (from the fit's left-out validation)."""
        fit = self.calibration.fit
        return (f"Predicting each of its {len(fit.residuals)} calibration sets by a fit that had not seen that kind of "
                f"shift, the fit missed the true value by {fit.loco_rmse:.3f} RMS, at most {fit.loco_max:.3f}; the "
                f"interval (+/-{fit.half_width:.3f}) holds {fit.coverage:.0%} of such misses"
                + (", but this footage lies outside the calibration range" if self.outside else "") + ".")

    def signal_text(self) -> str:
        """The fit's signals with their footage values ("BoS 0.812")."""
        names = {"bos": "BoS", "flip": "flip agreement", "scale": "scale agreement", "bos_union": "BoS (lost boxes as 0)",
                 "flip_union": "flip agreement (lost boxes as 0)", "scale_union": "scale agreement (lost boxes as 0)",
                 "confidence": "mean confidence"}
        return ", ".join(f"{names.get(f, f)} {self.signals[f].value:.3f}" for f in self.calibration.fit.features)

    def summary_lines(self) -> list[str]:
        """What ``ssd eval --estimate`` prints: the estimate, that it is one, and how far to trust it."""
        lo, hi = self.interval
        fit = self.calibration.fit
        lines = [f"ESTIMATED {METRIC_NAMES[self.metric]}: {self.estimate:.3f}, interval [{lo:.3f}, {hi:.3f}] "
                 f"({self.model}, {self.frames} frames of {self.request.images})",
                 self.caveat,
                 f"From {self.signal_text()} on this footage, through a linear fit on "
                 f"{len(self.calibration.sets)} calibration sets ({self.calibration.source}).",
                 self.trust()]
        lines += [f"note: {n}" for n in self.notes]
        if fit.features != ("bos",) or fit.link != "identity":
            how = " through the logistic link" if fit.link == "logit" else ""
            lines.append(f"note: the fit uses {', '.join(fit.features)}{how}: it beat BoS alone in the left-out "
                         f"validation")
        return lines

    def scatter(self) -> dict[str, Any]:
        """What the Evaluate view plots: each calibration set at (x, its true mAP), the fit as a line, and this
        footage at (x, the estimate) with its interval. ``x`` is the fit's signal when it is linear in one, else
        the fit's value (then the line is the diagonal). Calibration sets the fit skipped (a signal not measured
        there) are not plotted.

        Returns:
            {"x_label": str, "points": [(x, true mAP, set name, corruption)], "line": ((x0, x1), (y0, y1)),
            "footage": (x, estimate, low, high)}
        """
        fit = self.calibration.fit
        single = len(fit.features) == 1 and fit.link == "identity"  # else: against the fitted value

        def x_of(signals: dict[str, Any]) -> float:
            return float(signals[fit.features[0]]) if single else fit.predict(signals)

        points = [(x_of(s.signals), s.true_map, s.name, s.corruption) for s in self.calibration.sets
                  if all(s.signals.get(f) is not None for f in fit.features)]
        xs = [p[0] for p in points] + [x_of(self.values())]
        x0, x1 = min(xs), max(xs)
        line = ((x0, x1), (fit.coef[0] + fit.coef[1] * x0, fit.coef[0] + fit.coef[1] * x1)) if single else (
            (x0, x1), (x0, x1))
        label = ({"bos": "BoS (box stability under feature dropout)"}.get(fit.features[0], fit.features[0]) if single
                 else f"fitted value of {' + '.join(fit.features)}")
        return {"x_label": label, "points": points, "line": line,
                "footage": (x_of(self.values()), self.estimate, self.interval[0], self.interval[1])}

    def values(self) -> dict[str, float | None]:
        """name -> the footage's value of each signal."""
        return {k: a.value for k, a in self.signals.items()}

    def metrics(self) -> dict[str, Any]:
        """The ``metrics.json`` content (plain JSON values, no NaN)."""
        fit, cal, r = self.calibration.fit, self.calibration, self.request
        return {
            "kind": "estimate", "caveat": self.caveat, "metric": self.metric, "metric_name": METRIC_NAMES[self.metric],
            "estimated_mAP": self.estimate, "interval": list(self.interval), "interval_coverage": fit.coverage,
            "trust": self.trust(), "weights": str(r.weights), "model": self.model, "images": str(r.images),
            "every": r.every, "frames": self.frames, "boxes_per_frame": self.boxes_per_image,
            "signals": {k: {**a.as_dict(), "name": SIGNAL_NAMES.get(k, k)} for k, a in self.signals.items()},
            "signal_settings": r.settings.as_dict(),
            "fit": fit.as_dict(), "validation_error": fit.validation(),
            "candidates": [{"features": list(c.features), "validation": c.validation()} for c in cal.candidates],
            "calibration": {"source": cal.source, "cache_file": cal.cache_file, "from_cache": cal.cached,
                            "sets": [s.as_dict() for s in cal.sets]},
            "extrapolating": list(self.outside), "notes": list(self.notes),
        }


__all__ = ["CAVEAT", "METRIC_NAMES", "EstimateOutput"]
