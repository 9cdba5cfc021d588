"""The Evaluate view driven as a person would: real widgets, a real tiny model, real files.

Two sources are evaluated on a few synthetic 300x300 scenes:

* an untrained SSD300 at width 0.125 (its detections are meaningless but real: the test
  checks that the whole model -> matching -> table/PR-curve path runs in the background);
* a COCO results JSON written from the ground truth itself: every object detected exactly
  at score 0.9 plus one false positive per image at score 0.3, so the figures at a threshold
  are known by hand (above 0.3: no FP, precision 1, recall 1; below: one FP per image).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt

from core.config import ssd300
from core.data.synthetic import SHAPE_CLASSES, synthetic_index
from core.model import build_model
from core.weights import save_checkpoint
from ssd_gui.views.evaluate_view import COLUMN, EvaluateView
from ssd_gui.widgets.image_strip import FP_COLOR, MISSED_COLOR
from tests.gui.assets import coco_results_from

WAIT_MS = 90_000
COUNT, SEED, SIZE = 4, 11, 300


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("evaluate_view")
    cfg = ssd300(num_classes=len(SHAPE_CLASSES), priors="voc", width=0.125)
    torch.manual_seed(0)  # the same untrained weights whichever tests ran before
    weights = save_checkpoint(folder / "tiny.pt", build_model(cfg.model), cfg, SHAPE_CLASSES)
    entries = coco_results_from(synthetic_index(COUNT, SEED, (SIZE, SIZE)))
    dets = folder / "results.json"
    dets.write_text(json.dumps(entries))
    empty_voc = folder / "empty_voc"
    (empty_voc / "ImageSets" / "Main").mkdir(parents=True)
    (empty_voc / "Annotations").mkdir()
    (empty_voc / "JPEGImages").mkdir()
    (empty_voc / "ImageSets" / "Main" / "test.txt").write_text("")
    return {"weights": Path(weights), "dets": dets, "empty_voc": empty_voc, "folder": folder}


@pytest.fixture()
def view(qtbot):  # type: ignore[no-untyped-def]
    v = EvaluateView()
    qtbot.addWidget(v)
    v.resize(1200, 900)
    v.show()
    yield v
    v.shutdown()


def _type(qtbot, edit, text: str) -> None:  # type: ignore[no-untyped-def]
    edit.clear()
    qtbot.keyClicks(edit, text)


def _choose_synthetic(qtbot, view: EvaluateView) -> None:  # type: ignore[no-untyped-def]
    view.inputs.dataset_combo.setCurrentIndex(view.inputs.dataset_combo.findData("synthetic"))
    for spin, value in ((view.inputs.count_spin, COUNT), (view.inputs.seed_spin, SEED), (view.inputs.size_spin, SIZE)):
        spin.lineEdit().selectAll()
        qtbot.keyClicks(spin.lineEdit(), str(value))
    assert (view.inputs.count_spin.value(), view.inputs.seed_spin.value(), view.inputs.size_spin.value()) == (COUNT, SEED, SIZE)


def _run(qtbot, view: EvaluateView):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(view.inputs.evaluate_button, Qt.MouseButton.LeftButton)
        assert view.is_busy() and not view.inputs.evaluate_button.isEnabled()
    assert not view.is_busy()
    return blocker.args[0]


def _column(view: EvaluateView, key: str) -> dict[str, str]:
    return {view.table.item(r, 0).text(): view.table.item(r, COLUMN[key]).text() for r in range(view.table.rowCount())}


def test_model_on_synthetic_split_fills_table_and_pr_curve(qtbot, view: EvaluateView, assets) -> None:  # type: ignore[no-untyped-def]
    _type(qtbot, view.inputs.model_edit, str(assets["weights"]))
    _choose_synthetic(qtbot, view)
    out = _run(qtbot, view)
    assert out.request.weights == str(assets["weights"]) and len(out.result.gt.records) == COUNT

    # one row per class with the GT counts of the dataset and the model's detection counts
    assert view.table.rowCount() == len(SHAPE_CLASSES) - 1
    gt = synthetic_index(COUNT, SEED, (SIZE, SIZE))
    expected_gt = np.bincount(np.concatenate([r.labels for r in gt.records]), minlength=len(SHAPE_CLASSES))
    assert _column(view, "num_gt") == {SHAPE_CLASSES[k]: str(expected_gt[k]) for k in range(1, len(SHAPE_CLASSES))}
    assert sum(int(v) for v in _column(view, "num_det").values()) == out.result.match.det_score.shape[0] > 0

    # the class with the most objects starts selected
    assert expected_gt[view.selected_labels()[0]] == expected_gt[1:].max()
    # clicking the row of the class with the most detections draws its PR curve, one point per counted detection
    label = int(np.argmax([out.result.sweep.curves[k].scores.size if k else -1 for k in range(len(SHAPE_CLASSES))]))
    row = next(r for r in range(view.table.rowCount())
               if view.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == label)
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.table.visualItemRect(view.table.item(row, 0)).center())
    assert view.selected_labels() == [label] and view.pr_plot.labels == [label]
    recall, precision = view.pr_plot.curve_data(label)
    curve = out.result.pr_curve(label)
    assert recall.size == curve.confidence.size + 1 > 1
    np.testing.assert_allclose(precision[1:], curve.precision)
    assert view.map_plot.curve.getData()[0].size == out.thresholds.size

    # moving the slider below every score keeps every counted detection
    view.set_threshold(0.0)
    row = view.table.rows[label]
    assert int(row[COLUMN["t_tp"]].text()) + int(row[COLUMN["t_fp"]].text()) == curve.confidence.size


def test_threshold_slider_updates_figures_from_a_detections_file(qtbot, view: EvaluateView, assets) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(view.inputs.dets_radio, Qt.MouseButton.LeftButton)
    _type(qtbot, view.inputs.dets_edit, str(assets["dets"]))
    _choose_synthetic(qtbot, view)
    out = _run(qtbot, view)
    gt = out.result.gt
    n_gt = sum(len(r.labels) for r in gt.records)
    fp_per_class = np.bincount([int(r.labels[0]) for r in gt.records], minlength=len(SHAPE_CLASSES))

    # every class evaluated: VOC07/VOC2010+/COCO APs are shown (exact boxes: AP 1 everywhere)
    for key in ("ap07", "ap12", "ap_coco"):
        values = [v for v in _column(view, key).values() if v != "–"]
        assert values and all(abs(float(v) - 1.0) < 1e-6 for v in values), (key, values)

    # slider at 0.5: the 0.3 false positives are dropped
    view.threshold_panel.slider.setFocus()
    view.set_threshold(0.5)
    assert view.threshold_panel.value_label.text() == "0.500"
    assert sum(int(v) for v in _column(view, "t_fp").values()) == 0
    assert sum(int(v) for v in _column(view, "t_tp").values()) == n_gt
    assert view.stats.mAP == pytest.approx(1.0)
    text_at_05 = view.threshold_panel.operating_label.text()
    assert "FP 0" in text_at_05

    # the person moves the slider down with the keyboard (Page Down = 0.05) below 0.3
    for _ in range(6):
        qtbot.keyClick(view.threshold_panel.slider, Qt.Key.Key_PageDown)
    assert view.threshold == pytest.approx(0.2)
    fp = {k: int(v) for k, v in _column(view, "t_fp").items()}
    assert fp == {SHAPE_CLASSES[k]: int(fp_per_class[k]) for k in range(1, len(SHAPE_CLASSES))}
    assert view.threshold_panel.operating_label.text() != text_at_05
    label = view.selected_labels()[0]
    expected_p = out.result.sweep.num_gt[label] / (out.result.sweep.num_gt[label] + fp_per_class[label])
    assert float(view.table.rows[label][COLUMN["t_precision"]].text()) == pytest.approx(expected_p, abs=1e-3)

    # the operating point on the curve is the last point kept: recall 1 at the FP's precision
    op = view.pr_plot.operating_points()[label]
    assert op is not None and op[0] == pytest.approx(1.0) and op[1] == pytest.approx(expected_p)
    # mAP-by-threshold marker follows the slider
    assert view.map_plot.marker_position() == pytest.approx((0.2, view.stats.mAP))

    # above every score nothing is kept: all objects missed
    view.set_threshold(0.95)
    assert sum(int(v) for v in _column(view, "t_tp").values()) == 0
    assert sum(int(v) for v in _column(view, "t_fn").values()) == n_gt
    assert view.pr_plot.operating_points()[label] is None


def test_several_classes_hover_sorting_strip_and_export(qtbot, view: EvaluateView, assets, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    view.set_detections(assets["dets"])
    view.set_dataset("synthetic", count=COUNT, seed=SEED, size=SIZE)
    out = _run(qtbot, view)
    evaluated = [int(v) for v in np.flatnonzero(out.result.sweep.evaluated)]
    assert len(evaluated) >= 2

    # select two classes by clicking their rows (Ctrl for the second): two curves, two operating points
    rows = {int(view.table.item(r, 0).data(Qt.ItemDataRole.UserRole)): r for r in range(view.table.rowCount())}
    first, second = evaluated[:2]
    vp = view.table.viewport()
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=view.table.visualItemRect(view.table.item(rows[first], 0)).center())
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     view.table.visualItemRect(view.table.item(rows[second], 0)).center())
    assert sorted(view.selected_labels()) == sorted([first, second])
    assert sorted(view.pr_plot.labels) == sorted([first, second])
    view.set_threshold(0.2)
    assert all(p is not None for p in view.pr_plot.operating_points().values())

    # hovering the mouse over a curve point shows its precision, recall and confidence
    curve = out.result.pr_curve(view.pr_plot.labels[0])
    pos = view.pr_plot.view_to_widget(float(curve.recall[-1]), float(curve.precision[-1]))
    with qtbot.waitSignal(view.pr_plot.hovered, timeout=5000, check_params_cb=lambda t: bool(t)):
        qtbot.mouseMove(view.pr_plot.viewport(), QPoint(int(pos.x()), int(pos.y())))
    assert view.pr_plot.hover is not None
    assert f"confidence {view.pr_plot.hover.confidence:.3f}" in view.hover_label.text()
    assert view.pr_plot.hover.confidence in (pytest.approx(0.9), pytest.approx(0.3))

    # sorting by a column: clicking the GT header orders the rows by object count, clicking again reverses
    header = view.table.horizontalHeader()

    def click_gt_header() -> list[int]:
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(header.sectionViewportPosition(COLUMN["num_gt"]) + 5, header.height() // 2))
        return [int(view.table.item(r, COLUMN["num_gt"]).text()) for r in range(view.table.rowCount())]

    counts = click_gt_header()
    assert len(set(counts)) > 1
    ascending = counts == sorted(counts)
    assert ascending or counts == sorted(counts, reverse=True)
    assert click_gt_header() == sorted(counts, reverse=ascending)
    assert sorted(view.selected_labels()) == sorted([first, second])  # the selection follows the rows

    # the image strip of the first selected class: false positives (red) at 0.25, only missed (orange) at 0.95
    strip_label = view.strip_label_for()
    with qtbot.waitSignal(view.strip_updated, timeout=5000):
        view.set_threshold(0.25)
    assert view.strip.count() == len(view.strip.entries) > 0
    assert sum(e.num_fp for e in view.strip.entries) == sum(1 for r in out.result.gt.records
                                                             if int(r.labels[0]) == strip_label)
    red = np.all(np.abs(np.stack([e.thumbnail for e in view.strip.entries if e.num_fp]).astype(int)
                        - np.array(FP_COLOR)) < 40, axis=-1)
    assert red.any()
    with qtbot.waitSignal(view.strip_updated, timeout=5000):
        view.set_threshold(0.95)
    assert all(e.num_tp == 0 and e.num_fp == 0 and e.num_missed > 0 for e in view.strip.entries)
    thumbs = np.concatenate([e.thumbnail.reshape(-1, 3) for e in view.strip.entries]).astype(int)
    assert np.any(np.all(np.abs(thumbs - np.array(MISSED_COLOR)) < 40, axis=-1))

    # export: PNG plots, PR CSVs per class, the table
    paths = view.export(tmp_path / "export")
    names = {p.name for p in paths}
    assert {"pr_curves.png", "map_by_threshold.png", "classes.csv", "map_by_threshold.csv"} <= names
    assert all(p.stat().st_size > 0 for p in paths)
    from PySide6.QtGui import QImage

    img = QImage(str(tmp_path / "export" / "pr_curves.png"))
    assert not img.isNull() and img.width() > 100
    with (tmp_path / "export" / f"pr_{SHAPE_CLASSES[first]}.csv").open() as fh:
        rows_csv = list(csv.DictReader(fh))
    assert len(rows_csv) == out.result.pr_curve(first).confidence.size
    with (tmp_path / "export" / "classes.csv").open() as fh:
        table_rows = [row for row in csv.DictReader(fh) if not row["threshold"].startswith("#")]
    assert len(table_rows) == len(SHAPE_CLASSES) - 1 and table_rows[0]["threshold"] == "0.950"


def test_errors_are_shown_and_the_view_keeps_working(qtbot, view: EvaluateView, assets) -> None:  # type: ignore[no-untyped-def]
    # no model chosen: a message, nothing starts
    qtbot.mouseClick(view.inputs.evaluate_button, Qt.MouseButton.LeftButton)
    assert not view.is_busy() and view.banner.isVisible() and "choose a model" in view.banner.text()

    # an empty dataset (VOC split file without images): the worker fails, the window says why
    view.set_model(assets["weights"])
    view.set_dataset("voc", assets["empty_voc"], split="test")
    with qtbot.waitSignal(view.evaluation_failed, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(view.inputs.evaluate_button, Qt.MouseButton.LeftButton)
    assert "empty" in blocker.args[0] and "test.txt" in blocker.args[0]
    assert view.banner.kind == "error" and "test.txt" in view.banner.text()
    assert not view.is_busy() and view.inputs.evaluate_button.isEnabled()

    # a missing model file: named in the message
    view.set_model(assets["folder"] / "missing.pt")
    view.set_dataset("synthetic", count=2, seed=SEED, size=SIZE)
    with qtbot.waitSignal(view.evaluation_failed, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(view.inputs.evaluate_button, Qt.MouseButton.LeftButton)
    assert "missing.pt" in blocker.args[0]

    # and a good run still works afterwards
    view.set_detections(assets["dets"])
    view.set_dataset("synthetic", count=COUNT, seed=SEED, size=SIZE)
    out = _run(qtbot, view)
    assert view.table.rowCount() == len(SHAPE_CLASSES) - 1 and out.result.voc(False).mAP == pytest.approx(1.0)


def test_demo_model_on_a_small_synthetic_split(qtbot, view: EvaluateView) -> None:  # type: ignore[no-untyped-def]
    """The bundled demo model, chosen with its button, on 12 held-out scenes: a table, PR curves,
    and figures that move with the threshold slider."""
    from core.detector import DEMO_WEIGHTS

    qtbot.mouseClick(view.inputs.demo_button, Qt.MouseButton.LeftButton)
    assert view.inputs.model_edit.text() == str(DEMO_WEIGHTS) and view.inputs.model_radio.isChecked()
    view.inputs.dataset_combo.setCurrentIndex(view.inputs.dataset_combo.findData("synthetic"))
    for spin, value in ((view.inputs.count_spin, 12), (view.inputs.seed_spin, 2024), (view.inputs.size_spin, 300)):
        spin.lineEdit().selectAll()
        qtbot.keyClicks(spin.lineEdit(), str(value))
    out = _run(qtbot, view)
    assert view.table.rowCount() == len(SHAPE_CLASSES) - 1
    assert out.result.voc(True).mAP > 0.3  # a trained model, unlike the untrained one above
    label = view.selected_labels()[0]
    recall, precision = view.pr_plot.curve_data(label)
    assert recall.size > 2 and precision.max() > 0.5

    def kept() -> int:  # TP + FP over all classes at the slider's threshold, as the table shows them
        return sum(int(view.table.item(r, COLUMN[k]).text()) for r in range(view.table.rowCount())
                   for k in ("t_tp", "t_fp"))

    view.set_threshold(0.05)
    low = kept()
    view.set_threshold(0.9)
    assert kept() < low


def test_strip_images_decode_off_the_gui_thread_and_a_vanished_one_is_named(qtbot, view: EvaluateView,  # type: ignore[no-untyped-def]
                                                                            tmp_path: Path, monkeypatch) -> None:
    """A COCO dataset on disk evaluated from a results file (no image is read for that), one image
    deleted beforehand: the strip shows the others, drawn by a worker thread, and names the missing file."""
    import threading

    from core.data.synthetic import write_dataset
    from core.evaluation.io import load_ground_truth
    from ssd_gui.widgets import image_strip

    ann = write_dataset(tmp_path / "coco", count=COUNT, seed=SEED, fmt="coco", size=(SIZE, SIZE))
    gt = load_ground_truth(ann)
    entries = [{"image_id": rec.image_id, "category_id": lab, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": 0.9}
               for rec in gt.records for (x1, y1, x2, y2), lab in zip(rec.boxes.tolist(), rec.labels.tolist())]
    dets = tmp_path / "results.json"
    dets.write_text(json.dumps(entries))
    with_objects = [rec for rec in gt.records if len(rec.labels)]
    assert len(with_objects) >= 2
    gone = Path(with_objects[0].file)
    gone.unlink()

    drawn_on: list[str] = []
    original = image_strip.draw_breakdown

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        drawn_on.append(threading.current_thread().name)  # records the thread; the real drawing still runs
        return original(*args, **kwargs)

    monkeypatch.setattr(image_strip, "draw_breakdown", spy)
    view.set_detections(dets)
    view.set_dataset("coco", ann)
    _run(qtbot, view)
    with qtbot.waitSignal(view.strip_updated, timeout=WAIT_MS):
        view.table.clearSelection()  # no class selected: the strip shows every image with objects
    assert view.strip_label_for() is None
    assert drawn_on and threading.main_thread().name not in drawn_on
    shown_ids = {e.image_id for e in view.strip.entries}
    assert with_objects[0].image_id not in shown_ids
    assert {rec.image_id for rec in with_objects[1:]} <= shown_ids
    assert view.banner.isVisible() and gone.name in view.banner.text()
