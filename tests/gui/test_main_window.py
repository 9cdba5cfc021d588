"""The main window as a returning user meets it: settings kept between sessions (in a test-only settings
file), File > Recent files, files dropped on the window, Help > Keyboard shortcuts and About."""
from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from PySide6.QtWidgets import QApplication

from core.io.video import open_source
from ssd_gui import settings
from tests.gui.assets import drop_files as _drop

WAIT_MS = 30_000


def test_the_session_is_kept_in_the_settings_file(qtbot, make_window, detect_assets, isolated_settings) -> None:  # type: ignore[no-untyped-def]
    win = make_window(start_demo=False)
    screen = QApplication.primaryScreen().availableGeometry()
    height = min(650, screen.height() - 60)  # restoring fits a window into the screen
    win.resize(1000, height)
    state = win.detect_view.state
    state.set_min_score(0.63)
    state.set_realtime(False)
    win.tabs.setCurrentWidget(win.evaluate_view)
    with qtbot.waitSignal(win.detect_view.model_changed, timeout=WAIT_MS):
        win.detect_view.load_model(detect_assets["weights"])
    win.close()
    assert Path(isolated_settings).is_file() and "min_score" in Path(isolated_settings).read_text()

    again = make_window(start_demo=True)  # a new session: the last model instead of the demo model
    with qtbot.waitSignal(again.detect_view.model_changed, timeout=WAIT_MS) as loaded:
        pass
    assert Path(loaded.args[0].weights_path) == detect_assets["weights"]
    s = again.detect_view.state
    assert (s.min_score, s.realtime) == (0.63, False)
    assert again.detect_view.confidence.spin.value() == pytest.approx(0.63)
    assert not again.detect_view.transport.realtime_check.isChecked()
    # the offscreen test screen is narrower than the window's minimum width: only the height can come back as is
    assert again.height() == height and again.width() >= again.minimumSizeHint().width()
    assert again.tabs.currentWidget() is again.evaluate_view


def test_recent_files_reopen_sources_and_weights(qtbot, make_window, detect_assets) -> None:  # type: ignore[no-untyped-def]
    win = make_window(start_demo=False)
    view = win.detect_view
    win.fill_recent_menu()
    assert [a.text() for a in win.recent_menu.actions()] == ["No recent files"]
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_model(detect_assets["weights"])
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        view.open_source(detect_assets["video"], play=False)
    win.fill_recent_menu()
    names = [a.text() for a in win.recent_menu.actions()]
    assert names[:2] == ["clip.mp4", "tiny.pt"]
    assert settings.recent_files()[0] == str(detect_assets["video"].resolve())
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS) as opened:
        win.recent_menu.actions()[0].trigger()
    assert Path(opened.args[0].spec) == detect_assets["video"].resolve()


def test_files_dropped_on_the_window_are_opened(qtbot, make_window, detect_assets, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = make_window(start_demo=False)
    view = win.detect_view
    win.tabs.setCurrentWidget(win.train_view)
    folder = tmp_path / "shots"
    folder.mkdir()
    with open_source(detect_assets["video"]) as src:
        for k, frame in zip(range(2), src):
            cv2.imwrite(str(folder / f"s{k}.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS), \
            qtbot.waitSignal(view.source_opened, timeout=WAIT_MS) as opened:
        assert _drop(win, [folder, detect_assets["weights"]])
    assert Path(opened.args[0].spec) == folder and win.tabs.currentWidget() is view
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS) as shown:
        pass
    assert len(shown.args[0].detections) > 0  # the folder's first image, with the dropped model's boxes
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS) as opened:
        assert _drop(win, [detect_assets["video"]])
    assert opened.args[0].kind == "video"
    assert not _drop(win, [tmp_path / "not_there.mp4"])  # refused at the door


def test_help_lists_the_shortcuts_and_about_shows_the_version(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    from importlib.metadata import version

    win = make_window(start_demo=False)
    win.shortcuts_action.trigger()
    text = win.shortcuts_box.text()
    for key, what in (("Space", "play / pause"), ("Left", "previous frame"), ("Right", "next frame"),
                      ("Home", "first frame"), ("End", "last frame"), ("Ctrl+O", "Open video"),
                      ("Ctrl+M", "Open weights"), ("Ctrl+E", "Export annotated video and JSON")):
        assert key in text and what in text, (key, what)
    assert win.shortcuts_box.isVisible()
    win.about_action.trigger()
    assert f"SSD Detector {version('ssd-desktop')}" in win.about_box.text() and win.about_box.isVisible()


def test_file_dialogs_start_in_the_last_folder_of_their_kind(qtbot, make_window, detect_assets, monkeypatch,  # type: ignore[no-untyped-def]
                                                             tmp_path) -> None:
    """The Open-video dialog starts where the last video came from, the weights dialog where the last
    weights came from; the answers are kept in the settings file. (The platform's file dialog itself is
    replaced by a recorder of where it was asked to start: it would wait for a person.)"""
    from PySide6.QtWidgets import QFileDialog

    asked: list[str] = []
    answers = iter([str(detect_assets["video"]), str(detect_assets["weights"]), str(detect_assets["video"])])

    def dialog(parent, caption, start, file_filter):  # type: ignore[no-untyped-def]
        asked.append(start)
        return next(answers), file_filter

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(dialog))
    win = make_window(start_demo=False)
    view = win.detect_view
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        view.sources.open_video_action.trigger()
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.models.open_weights_action.trigger()
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        view.sources.open_video_action.trigger()
    assert asked == ["", "", str(detect_assets["video"].parent)]
    assert settings.last_folder("weights") == str(detect_assets["weights"].parent)
