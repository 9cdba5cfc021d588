"""Writing what the Evaluate view shows: plots as fixed-size PNGs, the PR points, the table, the mAP curve."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ssd_gui.state.evaluate import EvaluateState
from ssd_gui.widgets.class_table import COLUMNS
from ssd_gui.widgets.plots import ThresholdPlot, render_png
from ssd_gui.widgets.pr_plot import PRPlot


def _number(v: float) -> str:
    return "" if np.isnan(v) else repr(float(v))


def export_evaluation(state: EvaluateState, table_rows: Sequence[Sequence[str]],
                      colors: dict[int, tuple[int, int, int]], folder: str | Path) -> list[Path]:
    """Write ``pr_curves.png`` and ``map_by_threshold.png`` (drawn afresh at a fixed size, titled, without
    the hover label), ``pr_<class>.csv`` for every class, ``classes.csv`` (``table_rows``, the table at
    the current threshold) and ``map_by_threshold.csv`` into ``folder`` (created when missing).

    Raises:
        ValueError: ``folder`` is a file. OSError: a file could not be written (names it).
    """
    from core.evaluation.io import write_csv, write_pr_csvs
    from core.fileio import check_output_dir

    out, t = state.output, state.threshold
    folder = check_output_dir(folder, "export folder")
    what = f"{Path(out.request.source).name} on {out.gt.name}"
    pr = PRPlot()
    pr.set_curves([out.result.pr_curve(label) for label in state.selected], colors)
    pr.set_threshold(t)
    pr.setTitle(f"Precision-recall at confidence {t:.3f}: {what}")
    map_plot = ThresholdPlot(f"mAP ({'VOC07' if state.use_07 else 'VOC2010+'}) by confidence threshold: {what}",
                             "mAP")
    map_plot.set_curve(out.thresholds, out.map_voc07 if state.use_07 else out.map_voc12)
    map_plot.set_threshold(t, state.stats().mAP)
    paths = [render_png(pr, folder / "pr_curves.png"), render_png(map_plot, folder / "map_by_threshold.png")]
    paths += write_pr_csvs(folder, out.result)
    paths.append(write_csv(folder / "classes.csv", ["threshold"] + [h for h, _ in COLUMNS],
                           ([f"{t:.3f}"] + list(row) for row in table_rows), "class table"))
    rows: list[list[Any]] = [[f"{x:.3f}", _number(a), _number(b)]
                             for x, a, b in zip(out.thresholds, out.map_voc07, out.map_voc12)]
    paths.append(write_csv(folder / "map_by_threshold.csv", ["threshold", "map_voc07", "map_voc12"], rows,
                           "mAP-by-threshold file"))
    return paths
