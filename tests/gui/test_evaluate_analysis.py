"""The Evaluate view's analysis tabs on real files: the confusion matrix (cells -> the image strip), the
F1-against-confidence curve and its best-F1 button, COCO's size and recall columns, and the AP
definitions shown with every figure and written into every exported file.

The ground truth is a real synthetic COCO dataset on disk; the detections a COCO results file written
from it with known mistakes: the first object of every image is detected under the next class (a class
confusion), the others exactly at 0.9, plus a 4x4 corner box per image at 0.3 (a background FP).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.data.synthetic import write_dataset
from core.evaluation.confidence import best_f1_point
from core.evaluation.definitions import ap_definition
from ssd_gui.views.evaluate_view import COLUMN, EvaluateView
from ssd_gui.widgets.class_table import COCO_ONLY, fmt

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def confused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from core.evaluation.io import load_ground_truth

    folder = tmp_path_factory.mktemp("eval_analysis")
    ann = write_dataset(folder / "coco", count=8, seed=5, fmt="coco", size=(200, 160))
    gt = load_ground_truth(ann)
    n = len(gt.class_names) - 1
    entries = []
    for rec in gt.records:
        for k, ((x1, y1, x2, y2), lab) in enumerate(zip(rec.boxes.tolist(), rec.labels.tolist())):
            wrong = k == 0
            entries.append({"image_id": rec.image_id, "category_id": lab % n + 1 if wrong else lab,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": 0.8 if wrong else 0.9 - 0.01 * k})
        entries.append({"image_id": rec.image_id, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.3})
    dets = folder / "results.json"
    dets.write_text(json.dumps(entries))
    return {"ann": Path(ann), "dets": dets}


@pytest.fixture()
def view(qtbot, confused):  # type: ignore[no-untyped-def]
    v = EvaluateView()
    qtbot.addWidget(v)
    v.resize(1200, 800)
    v.show()
    v.set_detections(confused["dets"])
    v.set_dataset("coco", confused["ann"])
    with qtbot.waitSignal(v.evaluation_finished, timeout=WAIT_MS):
        assert v.start()
    yield v
    v.shutdown()


def test_confusion_matrix_counts_are_the_sweeps_and_a_cell_fills_the_strip(qtbot, view: EvaluateView) -> None:  # type: ignore[no-untyped-def]
    view.plot_tabs.setCurrentWidget(view.confusion)
    cv, result = view.confusion, view.output.result
    for t in (0.25, 0.75):
        view.set_threshold(t)
        stats = result.at_threshold(t)
        labels = cv.labels
        assert labels[0] == 0 and cv.table.verticalHeaderItem(0).text() == "background"
        shown = np.array([[int(cv.cell_text(a, b)) for b in labels] for a in labels])
        for i, k in enumerate(labels[1:], start=1):  # the diagonal, the column and the row of each class
            assert shown[i, i] == stats.tp[k]
            assert shown[:, i].sum() - shown[i, i] == stats.fp[k]
            assert shown[i, :].sum() - shown[i, i] == stats.fn[k]
    # at 0.75 the wrongly labelled objects are kept: class confusions off the diagonal, between classes
    confusions = [(a, b) for a in cv.labels[1:] for b in cv.labels[1:] if a != b and int(cv.cell_text(a, b))]
    assert confusions

    # clicking a confusion cell shows exactly its images in the strip
    cell = confusions[0]
    rect = cv.cell_rect(*cell)
    with qtbot.waitSignal(view.strip_updated, timeout=WAIT_MS):
        qtbot.mouseClick(cv.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert view.state.cell == cell
    expected = view.state.confusion().images(*cell)
    assert sorted(e.index for e in view.strip.entries) == expected.tolist() and expected.size > 0
    assert "true" in view.strip_panel.caption.text()
    # the background column at 0.25: the corner boxes, one image each
    view.set_threshold(0.25)
    with qtbot.waitSignal(view.strip_updated, timeout=WAIT_MS):
        qtbot.mouseClick(cv.table.viewport(), Qt.MouseButton.LeftButton, pos=cv.cell_rect(0, 1).center())
    assert [e.index for e in view.strip.entries] == list(range(len(result.gt.records)))
    assert all(e.num_fp >= 1 for e in view.strip.entries)

    # normalised: each true-class row sums to 1
    qtbot.mouseClick(cv.normalized_check, Qt.MouseButton.LeftButton)
    assert cv.normalized
    for a in cv.labels[1:]:
        assert sum(float(cv.cell_text(a, b)) for b in cv.labels) == pytest.approx(1.0, abs=0.02)
    # another IoU: the core function at that IoU
    cv.iou_spin.setValue(0.9)
    assert view.state.confusion().iou_threshold == pytest.approx(0.9) and view.state.cell is None
    qtbot.mouseClick(cv.normalized_check, Qt.MouseButton.LeftButton)
    cm = result.confusion_matrix(0.25, 0.9)
    assert [[int(cv.cell_text(a, b)) for b in cv.labels] for a in cv.labels] == \
        cm.counts[np.ix_(cv.labels, cv.labels)].tolist()


def test_the_confusion_caption_gives_the_summarys_totals(qtbot, view: EvaluateView) -> None:  # type: ignore[no-untyped-def]
    """Issue 19, item 9: the missed objects (the background column) are not counted as false positives."""
    view.plot_tabs.setCurrentWidget(view.confusion)
    for t in (0.25, 0.75, 0.95):  # at 0.95 every object is missed: the background column holds them all
        view.set_threshold(t)
        stats = view.output.result.at_threshold(t)
        tp, fp, fn = (int(v[1:].sum()) for v in (stats.tp, stats.fp, stats.fn))
        missed = int(view.state.confusion().counts[1:, 0].sum())
        assert (fp > 0 and tp > 0) if t < 0.9 else (missed == fn > 0 and fp == 0)
        assert f"TP {tp}, FP {fp}, FN {fn}" in view.confusion.caption.text(), view.confusion.caption.text()
        assert f"TP {tp}, FP {fp}, FN {fn}" in view.threshold_panel.operating_label.text()


def test_best_f1_button_moves_the_slider_to_the_best_threshold(qtbot, view: EvaluateView) -> None:  # type: ignore[no-untyped-def]
    view.plot_tabs.setCurrentWidget(view.f1_plot)
    f1, sweep = view.f1_plot, view.output.result.sweep
    label = view.selected_labels()[0]
    assert f1.label == label
    c = sweep.curves[label]
    best, best_f1 = best_f1_point(c.scores, c.is_tp, c.num_gt)
    assert np.isfinite(best) and f1.best == pytest.approx(best)
    assert f1.best_line.value() == pytest.approx(best)
    qtbot.mouseClick(f1.best_button, Qt.MouseButton.LeftButton)
    assert view.threshold == pytest.approx(best, abs=1e-3) and view.threshold <= best
    assert view.threshold_panel.slider.value() == round(view.threshold * 1000)
    assert view.stats.f1[label] == pytest.approx(best_f1)  # the detection scored ``best`` is still kept
    _, y = f1.curve("F1")
    np.testing.assert_allclose(y, view.state.confidence_curves().f1[label], equal_nan=True)

    # every class together: the summed counts' best threshold
    f1.class_combo.setCurrentIndex(f1.class_combo.findText("all classes"))
    assert f1.label is None
    overall = view.state.confidence_curves().overall_best_threshold
    qtbot.mouseClick(f1.best_button, Qt.MouseButton.LeftButton)
    assert view.threshold == pytest.approx(overall, abs=1e-3)
    assert f1.curve("mean F1")[1].size == view.state.confidence_curves().thresholds.size


def test_coco_columns_and_ap_definitions_next_to_every_figure(qtbot, view: EvaluateView, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table, coco = view.table, view.output.coco
    assert all(table.isColumnHidden(COLUMN[k]) for k in COCO_ONLY)
    assert ap_definition("voc12").short in view.definition_label.text()
    combo = view.threshold_panel.metric_combo
    combo.setCurrentIndex(combo.findData("coco"))
    assert view.state.metric == "coco"
    assert not any(table.isColumnHidden(COLUMN[k]) for k in COCO_ONLY)
    for label, items in table.rows.items():
        for key in COCO_ONLY:
            assert items[COLUMN[key]].text() == fmt(getattr(coco, key)[label])
    assert ap_definition("coco").short in view.definition_label.text()
    assert ap_definition("coco").text in view.definition_label.toolTip()
    for key, metric in (("ap07", "voc07"), ("ap12", "voc12"), ("ap_coco", "coco")):
        assert ap_definition(metric).text in table.horizontalHeaderItem(COLUMN[key]).toolTip()
    combo.setCurrentIndex(combo.findData("voc07"))
    assert view.state.use_07 and table.isColumnHidden(COLUMN["ar100"])
    assert ap_definition("voc07").short in view.compare_panel.definition.text()

    paths = {p.name: p for p in view.export(tmp_path / "export")}
    for name, metrics in (("classes.csv", ("voc07", "voc12", "coco")), ("map_by_threshold.csv", ("voc07", "voc12"))):
        with paths[name].open() as fh:
            comments = [row[0] for row in csv.reader(fh) if row and row[0].startswith("#")]
        assert comments == [f"# {ap_definition(m).title}: {ap_definition(m).text}" for m in metrics], name
    with paths["confusion_matrix.csv"].open() as fh:
        rows = [r for r in csv.reader(fh) if not r[0].startswith("#")]
    assert rows[0][1] == rows[1][0] == "background"
    cm = view.state.confusion()
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == cm.counts.tolist()
    assert {"f1_by_threshold.png", "confidence_curves.csv"} <= set(paths)


def test_evaluations_of_other_data_are_not_compared(qtbot, view: EvaluateView, confused, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Kept as A, then the same detections scored on another dataset: core's reason, no table, one curve."""
    qtbot.mouseClick(view.compare_panel.keep_button, Qt.MouseButton.LeftButton)
    assert not view.compare_panel.keep_button.isEnabled() and view.compare_panel.clear_button.isEnabled()
    other = write_dataset(tmp_path / "other", count=8, seed=6, fmt="coco", size=(200, 160))
    view.set_dataset("coco", other)
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS):
        assert view.start()
    assert view.state.kept is not None and view.state.comparison()[0] is None
    assert "Not comparable" in view.compare_panel.caption.text() and "same" in view.compare_panel.caption.text()
    assert view.compare_panel.rows() == []
    assert all(len(view.pr_plot.lines_for(label)) == 1 for label in view.selected_labels())
