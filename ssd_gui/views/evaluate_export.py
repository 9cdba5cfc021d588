"""Writing what the Evaluate view shows: plots as fixed-size PNGs, the PR points, the table, the mAP curve,
the confusion matrix, the confidence curves and the comparison with the evaluation kept as "A".

Every file that holds an AP says which AP: the PNG's title has the definition's line under it, and a
CSV ends with ``# <title>: <definition>`` lines (read it with ``comment="#"`` in pandas).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg

from core.evaluation.definitions import ap_definition
from ssd_gui.state.evaluate import EvaluateState
from ssd_gui.widgets.class_table import COLUMNS
from ssd_gui.widgets.plots import ThresholdPlot, render_png, series_color
from ssd_gui.widgets.pr_plot import PRPlot


def _number(v: float | None) -> str:
    return "" if v is None or np.isnan(v) else repr(float(v))


def definition_rows(*metrics: str) -> list[list[str]]:
    """``# title: definition`` lines (one CSV cell each) for the AP ``metrics``."""
    return [[f"# {ap_definition(m).title}: {ap_definition(m).text}"] for m in metrics]


def _title(text: str, metric: str | None = None) -> str:
    """A plot title, with the AP definition's line under it when the plot shows an AP."""
    return text if metric is None else f"{text}<br><span style='font-size:9pt'>{ap_definition(metric).short}</span>"


def _pr_plot(state: EvaluateState, colors: dict[int, tuple[int, int, int]], what: str) -> PRPlot:
    t = state.threshold
    pr = PRPlot()
    curves, names, dashed = state.pr_curves()
    pr.set_curves(curves, colors, names=names, dashed=dashed)
    if state.kept is not None and state.comparison()[0] is not None:
        what = f"A {state.kept_name} (dashed), B {state.output_name}"
    pr.set_threshold(t)
    pr.setTitle(f"Precision-recall at confidence {t:.3f}: {what}")
    return pr


def export_evaluation(state: EvaluateState, table_rows: Sequence[Sequence[str]],
                      colors: dict[int, tuple[int, int, int]], folder: str | Path) -> list[Path]:
    """Write into ``folder`` (created when missing):

    * ``pr_curves.png`` (the selected classes; A and B overlaid when comparing), ``map_by_threshold.png``
      and ``f1_by_threshold.png``, drawn afresh at a fixed size, titled, without the hover label;
    * ``pr_<class>.csv`` for every class, ``classes.csv`` (``table_rows``, the table at the current
      threshold), ``map_by_threshold.csv``, ``confidence_curves.csv`` (precision, recall, F1 per class and
      overall against the threshold, with the best-F1 thresholds), ``confusion_matrix.csv`` (counts at
      the threshold and the confusion IoU, background first), and ``compare.csv`` when an evaluation is
      kept as "A" and comparable.

    Raises:
        ValueError: ``folder`` is a file. OSError: a file could not be written (names it).
    """
    from core.evaluation.io import write_csv, write_pr_csvs
    from core.io.fileio import check_output_dir

    out, t = state.output, state.threshold
    folder = check_output_dir(folder, "export folder")
    what = f"{state.output_name or Path(out.request.source).name} on {out.gt.name}"
    flavour = "voc07" if state.use_07 else "voc12"
    map_plot = ThresholdPlot(_title(f"mAP by confidence threshold: {what}", flavour), "mAP")
    map_plot.set_curve(out.thresholds, out.map_voc07 if state.use_07 else out.map_voc12)
    map_plot.set_threshold(t, state.stats().mAP)
    paths = [render_png(_pr_plot(state, colors, what), folder / "pr_curves.png"),
             render_png(map_plot, folder / "map_by_threshold.png"), _f1_png(state, folder / "f1_by_threshold.png", what)]
    paths += write_pr_csvs(folder, out.result)
    rows: list[list[Any]] = [[f"{t:.3f}"] + list(row) for row in table_rows]
    paths.append(write_csv(folder / "classes.csv", ["threshold"] + [h for h, _ in COLUMNS],
                           rows + definition_rows("voc07", "voc12", "coco"), "class table"))
    rows = [[f"{x:.3f}", _number(a), _number(b)] for x, a, b in zip(out.thresholds, out.map_voc07, out.map_voc12)]
    paths.append(write_csv(folder / "map_by_threshold.csv", ["threshold", "map_voc07", "map_voc12"],
                           rows + definition_rows("voc07", "voc12"), "mAP-by-threshold file"))
    paths.append(_confidence_csv(state, folder / "confidence_curves.csv"))
    paths.append(_confusion_csv(state, folder / "confusion_matrix.csv"))
    comparison, _ = state.comparison()
    if comparison is not None:
        rows = [[r["class"], r["num_gt"], r["num_det_a"], r["num_det_b"], _number(r["ap_a"]), _number(r["ap_b"]),
                 _number(r["diff"])] for r in comparison.rows()]
        rows.append(["mAP", "", "", "", _number(comparison.map_a), _number(comparison.map_b),
                     _number(comparison.map_diff)])
        rows.append([f"# A: {state.kept_name}; B: {state.output_name}"])
        paths.append(write_csv(folder / "compare.csv", ["class", "num_gt", "num_det_a", "num_det_b", "ap_a", "ap_b",
                                                       "b_minus_a"], rows + definition_rows(comparison.metric),
                               "comparison file"))
    return paths


def _f1_png(state: EvaluateState, path: Path, what: str) -> Path:
    """Overall precision, recall and F1 against the threshold, the best-F1 threshold marked."""
    curves = state.confidence_curves()
    plot = ThresholdPlot(f"Precision, recall and F1 (all classes) by confidence threshold: {what}<br>"
                         f"<span style='font-size:9pt'>best F1 {curves.overall_best_f1:.3f} at "
                         f"{curves.overall_best_threshold:.4f}</span>", "value")
    plot.set_curve(curves.thresholds, curves.overall_f1)
    for i, values in enumerate((curves.overall_precision, curves.overall_recall), start=2):
        plot.plot(curves.thresholds, values, pen=pg.mkPen(series_color(i), width=2), connect="finite")
    if np.isfinite(curves.overall_best_threshold):
        plot.set_threshold(curves.overall_best_threshold, curves.overall_best_f1)
    return render_png(plot, path)


def _confidence_csv(state: EvaluateState, path: Path) -> Path:
    from core.evaluation.io import write_csv

    c = state.confidence_curves()
    names = state.class_names
    header = ["threshold", "precision_all", "recall_all", "f1_all", "mean_f1"]
    header += [f"{kind}_{names[k]}" for k in range(1, len(names)) for kind in ("precision", "recall", "f1")]
    rows: list[list[Any]] = []
    for j, x in enumerate(c.thresholds):
        row = [f"{x:.3f}", _number(c.overall_precision[j]), _number(c.overall_recall[j]), _number(c.overall_f1[j]),
               _number(c.mean_f1[j])]
        row += [_number(a[k, j]) for k in range(1, len(names)) for a in (c.precision, c.recall, c.f1)]
        rows.append(row)
    best = [f"# best F1: all classes {_number(c.overall_best_f1)} at {_number(c.overall_best_threshold)}"]
    best += [f"{names[k]} {_number(c.best_f1[k])} at {_number(c.best_threshold[k])}" for k in range(1, len(names))]
    return write_csv(path, header, rows + [best], "confidence curves file")


def _confusion_csv(state: EvaluateState, path: Path) -> Path:
    from core.evaluation.io import write_csv

    cm = state.confusion()
    names = ["background"] + list(cm.class_names[1:])
    rows: list[list[Any]] = [[names[i]] + [int(v) for v in cm.counts[i]] for i in range(len(names))]
    rows.append([f"# rows: true class, columns: predicted class; confidence >= {cm.threshold:.3f}, "
                 f"IoU {cm.iou_threshold:.2f}"])
    return write_csv(path, ["true \\ predicted"] + names, rows, "confusion matrix file")
