"""Layouts fit a 1280x800 screen in every state (issue 19, items 17 and 19), on real widgets offscreen:
the Evaluate view through an evaluation against a reference model and a comparison, the Train dialog with
each data source, the Train dialog's opt-in to code in a teacher, and an empty plot without stray ticks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSize, Qt

from core.detector import DEMO_WEIGHTS
from core.engine import TrainConfig
from ssd_gui.dialogs.train_dialog import TEACHER, TrainDialog
from ssd_gui.main_window import MainWindow

#: A 1280x800 screen less a title bar and a panel.
SCREEN = QSize(1280, 740)
WAIT_MS = 180_000


def _fits(size: QSize, what: str) -> None:
    assert size.width() <= SCREEN.width() and size.height() <= SCREEN.height(), f"{what}: {size}"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.data.synthetic import render_video

    return Path(render_video(tmp_path_factory.mktemp("fit_clip") / "a clip with a rather long file name.mp4",
                             seconds=1, fps=6, seed=5, size=(240, 240)))


def test_the_evaluate_view_keeps_to_the_window_through_a_reference_evaluation_and_a_comparison(
        qtbot, clip: Path) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(start_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.tabs.setCurrentWidget(win.evaluate_view)
    start = win.size()
    view, inputs = win.evaluate_view, win.evaluate_view.inputs
    _fits(win.minimumSizeHint(), "empty")
    qtbot.mouseClick(inputs.demo_button, Qt.MouseButton.LeftButton)
    inputs.dataset_combo.setCurrentIndex(inputs.dataset_combo.findData("reference"))
    _fits(win.minimumSizeHint(), "the reference form")
    qtbot.keyClicks(inputs.ref_edit, str(DEMO_WEIGHTS))
    qtbot.keyClicks(inputs.dataset_edit, str(clip))
    inputs.dataset_edit.editingFinished.emit()
    widest = []
    view.state.events.progress.connect(lambda _text: widest.append(win.minimumSizeHint().width()))
    for compare in (False, True):
        if compare:  # keep it as A, evaluate B under soft-NMS: the comparison's text and curves
            qtbot.mouseClick(view.compare_panel.keep_button, Qt.MouseButton.LeftButton)
            inputs.nms_combo.setCurrentIndex(inputs.nms_combo.findData("soft-gaussian"))
        with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS):
            qtbot.mouseClick(inputs.evaluate_button, Qt.MouseButton.LeftButton)
        qtbot.wait(50)
        for tab in range(view.plot_tabs.count()):
            view.plot_tabs.setCurrentIndex(tab)
            qtbot.wait(10)
            _fits(win.minimumSizeHint(), f"after the evaluation (compare={compare}), tab {tab}")
    assert widest and max(widest) <= SCREEN.width(), widest  # while it ran, with its progress messages
    assert win.size() == start, (win.size(), start)  # the window never grew
    assert view.table.viewport().height() >= 3 * view.table.rowHeight(0)  # the class table keeps its rows
    # a progress message of any length is elided, never widens the window
    inputs.progress_label.setText("reference " + "x" * 400 + ".mp4: frame 3 of 12")
    _fits(win.minimumSizeHint(), "a long progress message")
    assert inputs.progress_label.text().endswith("frame 3 of 12")
    win.close()


@pytest.mark.parametrize("source", ["synthetic", "voc", "coco", TEACHER])
def test_the_train_dialog_fits_with_every_data_source_and_leaves_no_gap(qtbot, tmp_path: Path, source: str) -> None:  # type: ignore[no-untyped-def]
    dialog = TrainDialog(initial=TrainConfig(out_dir=str(tmp_path / "r")), devices=["cpu"])
    qtbot.addWidget(dialog)
    dialog.show()
    natural = dialog.sizeHint()
    _fits(dialog.minimumSizeHint(), "the dialog's minimum")
    _fits(natural, "the dialog's natural size")
    combo = dialog.format_combo
    for step in (source, "synthetic", source):  # there and back: a hidden group must not leave its room
        combo.setCurrentIndex(combo.findData(step))
        qtbot.wait(10)
        _fits(dialog.minimumSizeHint(), f"minimum with {step}")
        _fits(dialog.sizeHint(), f"natural size with {step}")
        _fits(dialog.size(), f"size with {step}")
        assert abs(dialog.height() - min(dialog.sizeHint().height(), dialog.screen().availableGeometry().height()
                                         - 80)) <= 2, (step, dialog.size(), dialog.sizeHint())
    dialog.reject()


def test_the_opt_in_to_code_in_a_teacher_is_offered_only_where_it_applies(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = TrainDialog(initial=TrainConfig(out_dir=str(tmp_path / "r")), devices=["cpu"])
    qtbot.addWidget(dialog)
    dialog.show()
    box = dialog.widget("trust_code")
    assert not box.isVisible()  # no teacher that runs code: nothing to opt into
    assert "read and write your files" in box.text() and "read and write your files" in box.toolTip()
    dialog.editors["distill_teacher"].set_value(str(tmp_path / "teacher.torchscript"))
    assert box.isVisible() and not box.isChecked()
    assert dialog.config().trust_code is False  # shown, not given: the user ticks it knowingly
    box.setChecked(True)
    assert dialog.config().trust_code is True
    dialog.editors["distill_teacher"].set_value(str(tmp_path / "teacher.pt"))
    assert box.isVisible()  # once given, the opt-in stays in sight until it is taken back
    box.setChecked(False)
    assert not box.isVisible()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(TEACHER))  # the labelling teacher too
    dialog.teacher_fields.widget("teacher").setText(str(tmp_path / "labeller.torchscript"))
    assert box.isVisible() and not box.isChecked()
    dialog.teacher_fields.widget("teacher").setText(str(tmp_path / "labeller.pt"))
    assert not box.isVisible()
    dialog.teacher_fields.widget("teacher").setText(f"py:{tmp_path / 'plugin.py'}:make")  # a plug-in runs code too
    assert box.isVisible()
    dialog.reject()


def test_an_empty_plot_shows_no_ticks(qtbot) -> None:  # type: ignore[no-untyped-def]
    from ssd_gui.widgets.plots import SeriesPlot

    plot = SeriesPlot("Learning rate", "learning rate", [("lr", (90, 90, 90))], log_y=True)
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.show()

    def drawn(side: str) -> tuple[list[str], int]:
        """The numbers and the tick lines (grid lines included) pyqtgraph draws on an axis."""
        from PySide6.QtGui import QImage, QPainter

        image = QImage(8, 8, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        try:
            specs = plot.getAxis(side).generateDrawSpecs(painter)
        finally:
            painter.end()
        return ([text for _rect, _flags, text in specs[2] if text], len(specs[1])) if specs else ([], 0)

    assert plot.empty and drawn("left") == ([], 0) and drawn("bottom") == ([], 0)
    plot.set_data("lr", [1, 2, 3], [1e-3, 1e-3, 1e-4])
    qtbot.waitUntil(lambda: "1e-4" in drawn("left")[0], timeout=5000)  # once the view has fitted the data
    texts, lines = drawn("left")
    assert not plot.empty and "1e-3" in texts and "1e-4" in texts and lines > 0
    plot.clear_data()
    assert drawn("left") == ([], 0) and drawn("bottom") == ([], 0)
