"""The Train view driven as a person would: the set-up dialog, a real (tiny) training run on
synthetic scenes in the worker thread, the live plots, Stop, closing the window mid-run, and
the buttons that hand the weights to the Detect and Evaluate views of a real main window.

Runs are tiny: SSD300 at width 0.125, four 300x300 synthetic scenes, batch 2, no warm-up.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer, Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from ssd_gui.main_window import MainWindow
from core.engine import read_metrics_csv
from ssd_gui.views.train_view import TrainView, format_duration

WAIT_MS = 120_000


@pytest.fixture()
def window(qtbot):  # type: ignore[no-untyped-def]
    win = MainWindow(start_demo=False)
    qtbot.addWidget(win)
    win.resize(1100, 800)
    win.show()
    win.tabs.setCurrentWidget(win.train_view)
    yield win
    win.train_view.stop_and_wait()
    win.close()


def _set(qtbot, widget, value) -> None:  # type: ignore[no-untyped-def]
    """Type ``value`` into a spin box or a line edit as a person would."""
    from PySide6.QtWidgets import QLineEdit

    edit = widget if isinstance(widget, QLineEdit) else widget.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, str(value))
    if not isinstance(widget, QLineEdit):
        widget.interpretText()
        assert widget.value() == pytest.approx(value), (widget, widget.value(), value)


def _new_run(qtbot, view: TrainView, out_dir: Path, *, epochs: int, validate: bool,  # type: ignore[no-untyped-def]
             data_format: str = "synthetic", data_path: str = "", fails: bool = False) -> str | None:
    """Click "New run…", fill the dialog for a tiny run and click "Start training".

    With ``fails`` the run is expected to fail at once (bad data): returns the failure message,
    waited for around the click, since it can arrive before control returns here.
    """
    qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    dialog = view.dialog
    assert dialog is not None and dialog.isVisible()
    field = dialog.widget
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(data_format))
    if data_path:
        _set(qtbot, field("data_path"), data_path)
    if data_format == "synthetic":
        _set(qtbot, field("synthetic_count"), 4)
        _set(qtbot, field("synthetic_size"), 300)
        if validate:
            _set(qtbot, field("val_count"), 2)
    _set(qtbot, field("val_split"), "val" if validate else "none")
    field("arch").setCurrentIndex(field("arch").findData("ssd300"))
    _set(qtbot, field("width"), 0.125)
    _set(qtbot, field("epochs"), epochs)
    _set(qtbot, field("batch_size"), 2)
    _set(qtbot, field("warmup_iters"), 0)
    _set(qtbot, field("checkpoint_every"), 0)
    field("augment").setCurrentIndex(field("augment").findData("none"))
    _set(qtbot, field("out_dir"), str(out_dir))
    if fails:
        with qtbot.waitSignal(view.run_failed, timeout=WAIT_MS) as blocker:
            qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
        return str(blocker.args[0])
    with qtbot.waitSignal(view.run_started, timeout=5000):
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    cfg = view.config
    assert (cfg.data_format, cfg.synthetic_count, cfg.width, cfg.epochs, cfg.batch_size, cfg.out_dir) == \
        (data_format, 4, 0.125, epochs, 2, str(out_dir))
    assert view.is_busy() and view.stop_button.isEnabled() and not view.new_button.isEnabled()
    return None


def _answer_close_question(qtbot, view: TrainView, button: QMessageBox.StandardButton) -> None:  # type: ignore[no-untyped-def]
    """Click ``button`` in the "stop and close?" box as soon as it shows (it runs its own loop)."""
    def answer() -> None:
        box = view.close_question
        if box is None or not box.isVisible():
            QTimer.singleShot(50, answer)
            return
        qtbot.mouseClick(box.button(button), Qt.MouseButton.LeftButton)
    QTimer.singleShot(50, answer)


def test_run_shows_loss_points_close_asks_stop_saves_and_detect_loads(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                                        tmp_path: Path) -> None:
    view = window.train_view
    run_dir = tmp_path / "run"
    _new_run(qtbot, view, run_dir, epochs=20, validate=False)  # 40 iterations: it will be stopped first

    qtbot.waitUntil(lambda: view.loss_plot.points("total")[0].size >= 1, timeout=WAIT_MS)
    assert view.status.progress.maximum() == 40 and view.status.progress.value() >= 1
    assert "images/s" in view.status.speed_label.text() and view.status.eta_label.text() != "ETA –"

    # closing the window mid-run asks; "No" keeps the window and the run
    _answer_close_question(qtbot, view, QMessageBox.StandardButton.No)
    window.close()
    assert window.isVisible() and view.is_busy()

    with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
        assert not view.stop_button.isEnabled()
    result = blocker.args[0]
    assert result.stopped and 2 <= result.iterations < 40
    assert (run_dir / "last.pt").is_file() and Path(result.checkpoint).is_file()
    assert not view.is_busy() and view.new_button.isEnabled() and "stopped" in view.status.status_label.text()

    # one point per iteration on each loss curve, the numbers the engine logged in metrics.csv
    rows = read_metrics_csv(result.metrics_csv)
    x, y = view.loss_plot.points("total")
    np.testing.assert_array_equal(x, np.arange(1, result.iterations + 1))
    np.testing.assert_allclose(y, [r["loss"] for r in rows], rtol=1e-6)
    _, loc = view.loss_plot.points("localization")
    _, conf = view.loss_plot.points("confidence")
    np.testing.assert_allclose(loc + conf, y, rtol=1e-4)
    assert view.lr_plot.points("lr")[1].size == result.iterations

    # one click loads the weights into the Detect view
    with qtbot.waitSignal(window.detect_view.model_changed, timeout=WAIT_MS) as loaded:
        qtbot.mouseClick(view.detect_button, Qt.MouseButton.LeftButton)
    assert Path(loaded.args[0].weights_path) == Path(result.checkpoint)
    assert window.tabs.currentWidget() is window.detect_view

    # resume from the saved checkpoint for one more iteration: the earlier points come back from metrics.csv
    stopped_at = result.iterations
    qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    dialog = view.dialog
    assert dialog.widget("width").text() == "0.125" and dialog.widget("out_dir").text() != str(run_dir)  # last settings, new folder
    _set(qtbot, dialog.widget("out_dir"), str(run_dir))
    _set(qtbot, dialog.widget("resume"), str(run_dir / "last.pt"))
    _set(qtbot, dialog.widget("max_iterations"), stopped_at + 1)
    with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    resumed = blocker.args[0]
    assert view.config.resume == str(run_dir / "last.pt") and resumed.iterations == stopped_at + 1
    x, y = view.loss_plot.points("total")
    np.testing.assert_array_equal(x, np.arange(1, stopped_at + 2))
    np.testing.assert_allclose(y, [r["loss"] for r in read_metrics_csv(resumed.metrics_csv)], rtol=1e-6)
    assert f"resumed from '{run_dir / 'last.pt'}'" in view.log.toPlainText()


def test_finished_run_shows_validation_and_evaluates(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    view = window.train_view
    _new_run(qtbot, view, tmp_path / "run", epochs=1, validate=True)  # 2 iterations, then validation
    with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS) as blocker:
        pass
    result = blocker.args[0]
    assert not result.stopped and result.iterations == 2 and result.val_map is not None
    assert view.loss_plot.points("total")[0].size == 2
    x, y = view.map_plot.points("val mAP")
    assert x.tolist() == [2.0] and y[0] == pytest.approx(result.val_map)
    assert view.status.progress.value() == view.status.progress.maximum() == 2
    assert view.detect_button.isEnabled() and view.evaluate_button.isEnabled()

    # one click evaluates the weights on the run's held-out scenes in the Evaluate view
    ev = window.evaluate_view
    with qtbot.waitSignal(ev.evaluation_finished, timeout=WAIT_MS) as done:
        qtbot.mouseClick(view.evaluate_button, Qt.MouseButton.LeftButton)
        assert window.tabs.currentWidget() is ev
    out = done.args[0]
    assert out.request.weights == str(result.checkpoint)
    gt = out.request.ground_truth
    assert (gt.kind, gt.count, gt.seed) == ("synthetic", view.config.val_count, view.config.val_seed)
    # the engine's validation and the Evaluate view agree on the VOC07 mAP of the same scenes
    assert out.result.voc(True).mAP == pytest.approx(result.val_map, abs=1e-9) or \
        (math.isnan(out.result.voc(True).mAP) and result.val_map == 0.0)
    assert ev.table.rowCount() > 0


def test_training_crash_is_a_message_and_the_app_keeps_running(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    view = window.train_view
    missing = tmp_path / "no_such_voc"
    message = _new_run(qtbot, view, tmp_path / "run", epochs=1, validate=False, data_format="voc",
                       data_path=str(missing), fails=True)
    assert message is not None and "no_such_voc" in message
    assert view.banner.isVisible() and view.banner.kind == "error" and "no_such_voc" in view.banner.text()
    assert window.messages[-1] == ("error", message)
    assert not view.is_busy() and view.new_button.isEnabled() and not view.detect_button.isEnabled()
    # the window is still usable: a new dialog opens
    qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    assert view.dialog is not None and view.dialog.isVisible()
    assert view.dialog.format_combo.currentData() == "voc"  # the last settings are kept
    view.dialog.reject()


def test_closing_the_window_mid_run_stops_it_cleanly(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    view = window.train_view
    run_dir = tmp_path / "run"
    _new_run(qtbot, view, run_dir, epochs=20, validate=False)
    qtbot.waitUntil(lambda: view.last_progress is not None, timeout=WAIT_MS)
    worker = view._job
    _answer_close_question(qtbot, view, QMessageBox.StandardButton.Yes)
    window.close()
    # the window stays up and says that the run is stopping until the run has saved its checkpoint
    notice = window.stopping_notice
    assert notice is not None and notice.isVisible() and "Stopping the training run" in notice.labelText()
    assert window.messages[-1] == ("info", "Stopping the training run before closing…")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert worker is not None and worker.done.is_set() and worker.stop_requested
    assert (run_dir / "last.pt").is_file() and (run_dir / "model.pt").is_file()


def test_dialog_rejects_bad_fields_and_formats_durations(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = TrainView()
    qtbot.addWidget(view)
    view.show()
    dialog = view.open_dialog()
    assert dialog is not None
    dialog.widget("milestones").setText("0.5, soon")
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "soon" in dialog.error_label.text() and not view.is_busy()
    dialog.widget("milestones").setText("0.9, 0.5")
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "milestones" in dialog.error_label.text() and not view.is_busy()
    dialog.reject()
    assert (format_duration(65), format_duration(3725), format_duration(float("nan"))) == ("1:05", "1:02:05", "–")


def test_dialog_start_from_field_sets_init_weights(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    view = TrainView()
    qtbot.addWidget(view)
    view.show()
    dialog = view.open_dialog()
    assert dialog is not None
    start = tmp_path / "start.pt"
    qtbot.keyClicks(dialog.widget("init_weights"), str(start))
    assert dialog.config().init_weights == str(start)
    dialog.widget("init_weights").clear()
    assert dialog.config().init_weights is None
    dialog.reject()
