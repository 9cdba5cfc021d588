"""Accuracy without labels (issue 21): the estimated mAP against the true mAP on shifted sets the fit never saw.

    .venv/bin/python -m benchmarks.bench_estimate [--quick] [--estimate-weights W] [--estimate-out DIR]
                                                  [--images-per-set N] [--severities 2,4,6]

1. The model is calibrated as ``ssd eval --estimate`` calibrates it (:func:`core.evaluation.estimate.calibrate_model`):
   its recorded validation scenes, clean and under the 7 corruptions of the family at 6 severities (43 sets;
   ``--quick``: 40 images per set and severities 2, 4, 6, 22 sets).
2. Held-out sets are measured on synthetic scenes of another seed (:data:`HELD_OUT_SEED`, used by nothing else):
   a. *unseen shifts*: the 4 corruptions outside the family (:data:`core.evaluation.estimate.corruptions.HELD_OUT`)
      at the same severities (24 sets; quick: 12), predicted by the calibration's fit;
   b. *left-out corruptions* (with ``--left-out``): each corruption of the family at the same severities (42
      sets; quick: 21), predicted by a fit of the calibration sets of the other corruptions only (the chosen
      fit's signals and link), with that fit's own interval. Without ``--left-out`` the row reports the calibration's own leave-one-corruption-out
      validation (the same fits, on the calibration seed's images).
For each group: RMSE of estimated against true VOC07 mAP, Spearman's rank correlation and the share of true
values inside the intervals (targets: RMSE <= 0.05, Spearman >= 0.9, >= 80 % inside). Every set is written
to ``DIR/estimate_<model>.json`` and the unseen-shift table is printed as Markdown (the README's).
The model must have been trained on synthetic scenes (the held-out sets are scenes of another seed).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import Row, bench_main

HELD_OUT_SEED = 4242
TARGET_RMSE, TARGET_SPEARMAN, TARGET_INSIDE = 0.05, 0.9, 0.8


def add_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--estimate-weights", default="demo", metavar="W", help="the model (default: the demo model)")
    ap.add_argument("--estimate-out", default=None, metavar="DIR", help="write estimate_<model>.json there")
    ap.add_argument("--images-per-set", type=int, default=None, metavar="N", help="default 100 (quick: 40)")
    ap.add_argument("--severities", default=None, metavar="S,S", help="default 1-6 (quick: 2,4,6)")
    ap.add_argument("--left-out", action="store_true", help="measure the left-out corruptions on held-out images too")


def _held_out_data(detector: Any, count: int) -> Any:
    from core.data.index import build_index
    from core.evaluation.estimate.calibrate import CalibrationData

    tc = detector.meta.get("train_config", {})
    if tc.get("data_format") != "synthetic":
        raise ValueError(f"{detector.weights_path}: the benchmark needs a model trained on synthetic scenes (its "
                         f"held-out sets are scenes of seed {HELD_OUT_SEED}); this one records {tc.get('data_format')!r}")
    gt = build_index("synthetic", count=count, seed=HELD_OUT_SEED, size=int(tc.get("synthetic_size", 300)))
    return CalibrationData(gt, f"{count} scenes of seed {HELD_OUT_SEED}", {"seed": HELD_OUT_SEED})


def _rows(sets: list[Any], fits: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per held-out set: its true mAP, the estimate of the fit for its corruption, the interval."""
    out = []
    for s in sets:
        fit = fits.get(s.corruption, fits["*"])
        if any(s.signals.get(f) is None for f in fit.features):  # the model keeps almost no box: refused
            out.append({"set": s.name, "true": s.true_map, "estimated": None, "interval": None, "inside": None,
                        "signals": s.signals})
            continue
        est = min(1.0, max(0.0, fit.predict(s.signals)))
        lo, hi = fit.interval(est)
        out.append({"set": s.name, "true": s.true_map, "estimated": est, "interval": [lo, hi],
                    "inside": bool(lo <= s.true_map <= hi), "signals": s.signals})
    return out


def summary(all_rows: list[dict[str, Any]]) -> dict[str, float]:
    """RMSE, largest miss, Spearman and share inside the interval over the sets that got an estimate; ``refused``
    counts the others (the signals could not be measured: the model keeps almost no box there)."""
    from scipy.stats import spearmanr

    rows = [r for r in all_rows if r["estimated"] is not None]
    if len(rows) < 2:
        raise ValueError(f"only {len(rows)} of {len(all_rows)} held-out sets got an estimate")
    true = np.array([r["true"] for r in rows])
    est = np.array([r["estimated"] for r in rows])
    return {"sets": len(rows), "rmse": float(np.sqrt(np.mean((est - true) ** 2))),
            "max_abs": float(np.max(np.abs(est - true))), "spearman": float(spearmanr(est, true).statistic),
            "inside": float(np.mean([r["inside"] for r in rows])), "refused": len(all_rows) - len(rows)}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| set | true mAP | estimated | interval | inside? |", "|---|---|---|---|---|"]
    lines += [f"| {r['set']} | {r['true']:.3f} | {r['estimated']:.3f} | [{r['interval'][0]:.3f}, "
              f"{r['interval'][1]:.3f}] | {'yes' if r['inside'] else 'no'} |" if r["estimated"] is not None
              else f"| {r['set']} | {r['true']:.3f} | refused (no boxes to measure) | - | - |" for r in rows]
    return "\n".join(lines)


def measure(weights: str, quick: bool, images: int | None = None, severities: tuple[int, ...] | None = None,
            left_out: bool = False) -> dict[str, Any]:
    """Calibrate, measure the held-out sets and compare (see the module docstring)."""
    from core import load_detector
    from core.evaluation.estimate import EstimateRequest, calibrate_model
    from core.evaluation.estimate.calibrate import MIN_IMAGES, build_meta_set, set_list
    from core.evaluation.estimate.corruptions import CORRUPTIONS, HELD_OUT, SEVERITIES
    from core.evaluation.estimate.fit import fit_sets

    severities = severities or ((2, 4, 6) if quick else tuple(range(1, SEVERITIES + 1)))
    images = images or (40 if quick else 100)
    t0 = time.perf_counter()
    detector = load_detector(weights, optimize=True)
    request = EstimateRequest(weights, "-", calibration_images=images, min_calibration_images=min(MIN_IMAGES, images),
                              sets=tuple(set_list(CORRUPTIONS, severities)))
    calibration = calibrate_model(detector, request, on_progress=_dots)
    t_cal = time.perf_counter() - t0
    fit = calibration.fit
    held = _held_out_data(detector, images)
    unseen_sets = build_meta_set(detector, held, request.settings, "voc07", set_list(HELD_OUT, severities), seed=1,
                                 on_progress=_dots)
    left_fits = {c: fit_sets([s for s in calibration.sets if s.corruption != c], fit.features, fit.coverage, fit.link)
                 for c in CORRUPTIONS}
    if left_out:
        left_sets = [s for s in build_meta_set(detector, held, request.settings, "voc07",
                                               set_list(CORRUPTIONS, severities), seed=1, on_progress=_dots)
                     if s.corruption != "clean"]
    else:  # the calibration's own sets, each predicted by the fit that left its corruption out
        left_sets = [s for s in calibration.sets if s.corruption != "clean"]
    unseen = _rows(unseen_sets, {"*": fit})
    left = _rows(left_sets, {**left_fits, "*": fit})
    return {"weights": str(detector.weights_path), "model": Path(str(detector.weights_path)).name,
            "fit": fit.as_dict(), "calibration": {"source": calibration.source, "sets": len(calibration.sets),
                                                  "seconds": t_cal, "from_cache": calibration.cached},
            "held_out_seed": HELD_OUT_SEED, "images_per_set": images, "quick": quick,
            "unseen": {"summary": summary(unseen[1:]), "rows": unseen},
            "left_out": {"summary": summary(left), "rows": left, "held_out_images": left_out},
            "severities": list(severities),
            "seconds": time.perf_counter() - t0}


_SEEN: set[str] = set()


def _dots(p: Any) -> None:
    """One line per set as it starts."""
    if p.detail and p.detail not in _SEEN:
        _SEEN.add(p.detail)
        print(f"  {time.strftime('%H:%M:%S')} {p.detail}", flush=True)


def _row(figure: str, s: dict[str, float]) -> Row:
    ok = s["rmse"] <= TARGET_RMSE and s["spearman"] >= TARGET_SPEARMAN and s["inside"] >= TARGET_INSIDE
    return Row(figure, f"RMSE {s['rmse']:.3f}, rho {s['spearman']:.2f}", "true VOC07 mAP",
               f"{s['inside']:.0%} inside", f"<= {TARGET_RMSE}, >= {TARGET_SPEARMAN}, >= {TARGET_INSIDE:.0%}",
               "pass" if ok else "FAIL", f"{int(s['sets'])} held-out sets, largest miss {s['max_abs']:.3f}"
               + (f"; {int(s['refused'])} more refused (too few boxes to measure)" if s["refused"] else ""))


def run(quick: bool = False, estimate_weights: str = "demo", estimate_out: str | None = None,
        images_per_set: int | None = None, severities: str | None = None, left_out: bool = False) -> list[Row]:
    sev = tuple(int(v) for v in severities.split(",")) if severities else None
    result = measure(estimate_weights, quick, images_per_set, sev, left_out)
    if estimate_out:
        out = Path(estimate_out)
        out.mkdir(parents=True, exist_ok=True)
        from core.io.fileio import write_json

        write_json(out / f"estimate_{Path(result['model']).stem}.json", result, "benchmark result")
    fit = result["fit"]
    print(f"calibration: {result['calibration']['sets']} sets, fit on {', '.join(fit['features'])}: coefficients "
          f"{[round(c, 4) for c in fit['coefficients']]}, validation {fit['validation']}")
    print(markdown(result["unseen"]["rows"]))
    name = Path(result["model"]).stem
    return [_row(f"17. estimate, unseen shifts ({name})", result["unseen"]["summary"]),
            _row(f"17b. estimate, left-out corruptions ({name}, "
                 f"{'held-out seed' if left_out else 'calibration seed'})", result["left_out"]["summary"])]


if __name__ == "__main__":
    bench_main(run, __doc__.splitlines()[0], add_options)
