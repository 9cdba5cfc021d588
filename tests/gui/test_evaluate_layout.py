"""What a new user meets in the Evaluate view: room for the plots at the default window size, a strip
that folds away, a thumbnail opened full size and in Detect, exports of a fixed size into folders that
do not exist yet, the VOC split box, results cleared when the model changes, one class palette.

The ground truth is a real synthetic COCO dataset on disk (images and annotations) and the
detections a COCO results file written from it (every object found at 0.9, one false positive at
0.3 per image), so nothing needs a model."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from core.data.synthetic import write_dataset
from core.io.drawing import class_color
from ssd_gui.main_window import MainWindow
from ssd_gui.views.evaluate_view import EvaluateView
from tests.gui.assets import coco_results_from

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from core.evaluation.io import load_ground_truth

    folder = tmp_path_factory.mktemp("eval_layout")
    ann = write_dataset(folder / "coco", count=6, seed=21, fmt="coco", size=(200, 160))
    entries = coco_results_from(load_ground_truth(ann))
    dets = folder / "results.json"
    dets.write_text(json.dumps(entries))
    other = folder / "other_results.json"
    other.write_text(json.dumps(entries[:3]))
    return {"ann": Path(ann), "dets": dets, "other": other}


@pytest.fixture()
def window(qtbot):  # type: ignore[no-untyped-def]
    win = MainWindow(start_demo=False)  # the default size, as a new user gets it
    qtbot.addWidget(win)
    win.show()
    win.tabs.setCurrentWidget(win.evaluate_view)
    yield win
    win.close()


def _evaluate(qtbot, view: EvaluateView, coco: dict[str, Path]):  # type: ignore[no-untyped-def]
    view.set_detections(coco["dets"])
    view.set_dataset("coco", coco["ann"])
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS) as blocker:
        assert view.start()
    with qtbot.waitSignal(view.strip_updated, timeout=WAIT_MS):
        view.set_threshold(0.25)
    return blocker.args[0]


def test_the_plots_have_room_at_the_default_window_size_and_the_strip_folds_away(qtbot, window, coco) -> None:  # type: ignore[no-untyped-def]
    view = window.evaluate_view
    assert (window.width(), window.height()) == (1200, 760)
    _evaluate(qtbot, view, coco)
    qtbot.wait(50)
    pr, map_plot, table = view.pr_plot, view.map_plot, view.table
    assert view.strip_panel.expanded and view.strip.count() > 0
    assert pr.height() >= 240 and pr.width() >= 400, pr.size()
    assert map_plot.height() >= 120, map_plot.size()
    assert table.viewport().height() >= 3 * table.rowHeight(0)  # every class row of the shapes is reachable
    before = pr.height()
    qtbot.mouseClick(view.strip_panel.toggle, Qt.MouseButton.LeftButton)
    qtbot.wait(50)
    assert not view.strip_panel.expanded and not view.strip.isVisible()
    assert pr.height() > before + 80


def test_a_thumbnail_opens_full_size_and_in_the_detect_view(qtbot, window, coco) -> None:  # type: ignore[no-untyped-def]
    view = window.evaluate_view
    out = _evaluate(qtbot, view, coco)
    entry = view.strip.entries[0]
    item = view.strip.item(0)
    center = view.strip.visualItemRect(item).center()
    qtbot.mouseClick(view.strip.viewport(), Qt.MouseButton.LeftButton, pos=center)  # a double click's first press
    qtbot.mouseDClick(view.strip.viewport(), Qt.MouseButton.LeftButton, pos=center)
    dialog = view.strip_panel.image_dialog
    assert dialog is not None and dialog.isVisible()
    record = out.gt.records[entry.index]
    pixmap = dialog.image_label.pixmap()
    assert (pixmap.width(), pixmap.height()) == (record.width, record.height) == (200, 160)
    assert str(entry.image_id) in dialog.windowTitle()
    with qtbot.waitSignal(window.detect_view.source_opened, timeout=WAIT_MS) as opened:
        qtbot.mouseClick(dialog.detect_button, Qt.MouseButton.LeftButton)
    assert Path(opened.args[0].spec) == Path(record.file)
    assert window.tabs.currentWidget() is window.detect_view and not dialog.isVisible()


def test_exports_are_a_fixed_size_whatever_the_window_and_the_mouse(qtbot, window, coco, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = window.evaluate_view
    _evaluate(qtbot, view, coco)
    curve = view.state.output.result.pr_curve(view.state.selected[0])
    pos = view.pr_plot.view_to_widget(float(curve.recall[-1]), float(curve.precision[-1]))
    with qtbot.waitSignal(view.pr_plot.hovered, timeout=5000, check_params_cb=bool):
        qtbot.mouseMove(view.pr_plot.viewport(), QPoint(int(pos.x()), int(pos.y())))
    assert view.pr_plot.hover is not None  # the hover label is up on screen
    first = view.export(tmp_path / "not" / "there" / "yet")  # missing folders are created
    view.pr_plot.hover_at(-5, -5)
    window.resize(900, 700)
    qtbot.wait(50)
    second = view.export(tmp_path / "second")
    for name in ("pr_curves.png", "map_by_threshold.png"):
        a, b = (QImage(str(p.parent / name)) for p in (first[0], second[0]))
        assert (a.width(), a.height()) == (b.width(), b.height()) == (1200, 900)
        assert a == b, f"{name} depends on the window size or on the mouse"
        top = np.frombuffer(a.convertToFormat(QImage.Format.Format_Grayscale8).constBits(), np.uint8)
        assert top.reshape(900, -1)[:40].min() < 128  # a title is drawn above the plot
    assert {p.name for p in first} >= {"classes.csv", "map_by_threshold.csv"}


def test_the_voc_split_box_lists_the_splits_there_are_and_picks_the_held_out_one(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = EvaluateView()
    qtbot.addWidget(view)
    view.set_detections(tmp_path / "results.json")
    voc = write_dataset(tmp_path / "voc", count=12, seed=3, fmt="voc", size=(120, 100))
    view.set_dataset("voc", voc)
    box = view.inputs.split_combo
    assert [box.itemText(i) for i in range(box.count())] == ["test", "val", "trainval", "train"]  # synth has a test split
    assert box.currentText() == "test" and view.state.inputs.split == "test"
    (Path(voc) / "ImageSets" / "Main" / "test.txt").unlink()  # a dataset without one: val
    view.set_dataset("voc", voc)
    assert [box.itemText(i) for i in range(box.count())] == ["val", "trainval", "train"] and box.currentText() == "val"
    box.setCurrentText("trainval")  # the person picks another
    assert view.state.inputs.split == "trainval" and view.state.inputs.request().ground_truth.split == "trainval"


def test_the_summary_says_which_split_and_how_many_images(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19 item 10: a synthetic set's default split is its held-out test tenth, and the view says so."""
    from core.evaluation.io import load_ground_truth

    voc = write_dataset(tmp_path / "shapes", count=20, seed=3, fmt="voc", size=(120, 100))
    dets = tmp_path / "results.json"
    dets.write_text(json.dumps(coco_results_from(load_ground_truth(voc, "test"))))
    view = EvaluateView()
    qtbot.addWidget(view)
    view.set_detections(dets)
    view.set_dataset("voc", voc)  # the split box picks the held-out split there is: test
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS):
        assert view.start()
    text = html.unescape(view.summary_label.text())
    assert "on split 'test' of shapes: 2 of its 20 image(s)" in text, text


def test_a_yolo_dataset_is_evaluated_on_its_held_out_split(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from core.evaluation.io import load_ground_truth

    root = tmp_path / "yolo"
    for i, split in enumerate(("train", "train", "val")):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / split / f"f{i}.jpg"), np.full((80, 100, 3), 40 * i, np.uint8))
        (root / "labels" / split / f"f{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.4 0.5\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [cat, dog]\n")
    dets = tmp_path / "results.json"
    dets.write_text(json.dumps(coco_results_from(load_ground_truth(root, "val"))))
    view = EvaluateView()
    qtbot.addWidget(view)
    view.set_detections(dets)
    view.set_dataset("yolo", root)
    box = view.inputs.split_combo
    assert box.isVisibleTo(view) and [box.itemText(i) for i in range(box.count())] == ["val", "train"]
    assert view.state.inputs.split == "val" and "data.yaml" in view.inputs.dataset_edit.placeholderText()
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS) as blocker:
        assert view.start()
    assert blocker.args[0].result.voc(False).mAP == pytest.approx(1.0)
    assert "on split 'val' of yolo: 1 of its 3 image(s)" in html.unescape(view.summary_label.text())


def test_results_are_cleared_when_the_model_changes(qtbot, window, coco) -> None:  # type: ignore[no-untyped-def]
    view = window.evaluate_view
    _evaluate(qtbot, view, coco)
    assert view.table.rowCount() > 0 and view.results.isEnabled()
    view.set_threshold(0.6)
    view.state.set_inputs(split="")  # not the source: the results stay
    assert view.output is not None
    view.inputs.dets_edit.setText(str(coco["other"]))
    assert view.output is None and view.table.rowCount() == 0 and not view.results.isEnabled()
    assert view.strip.count() == 0 and "No results" in view.summary_label.text()
    assert not view.threshold_panel.export_button.isEnabled()


def test_one_class_palette_in_the_table_the_curves_and_the_detect_view(qtbot, window, coco) -> None:  # type: ignore[no-untyped-def]
    view = window.evaluate_view
    _evaluate(qtbot, view, coco)
    view.select_classes([1, 2])
    for row in range(view.table.rowCount()):
        label = view.table.label_at(row)
        assert view.table.item(row, 0).foreground().color().getRgb()[:3] == class_color(label)
    for label in (1, 2):
        i = view.pr_plot.labels.index(label)
        assert view.pr_plot._lines[i].opts["pen"].color().getRgb()[:3] == class_color(label)
    swatch = window.detect_view.class_filter
    swatch.set_class_names(("__background__", "a", "b"))
    icon = swatch.items()[1].icon().pixmap(12, 12).toImage()
    assert icon.pixelColor(6, 6).getRgb()[:3] == class_color(2)
