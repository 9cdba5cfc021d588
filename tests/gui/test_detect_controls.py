"""What a new user does with the Detect view's controls: click and drag the seek bar, the keyboard,
the counters of a new source, folders, the class search, the confidence number box, a truncated
video, the export's folder link. Real widgets, a real tiny model, real decoded files."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

from core.io.video import open_source
from ssd_gui.live import LivePipeline
from ssd_gui.views.detect_view import DetectView
from ssd_gui.widgets.class_filter import ClassFilter
from tests.gui.assets import N_FRAMES, truncated_video

WAIT_MS = 20_000


@pytest.fixture()
def view(detect_view):  # type: ignore[no-untyped-def]
    return detect_view  # tests/gui/conftest.py


def _load_and_open(qtbot, view: DetectView, weights: Path, source: Path):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_model(weights)
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS) as blocker:
        view.open_source(source, play=False)
    return blocker.args[0]


def _result_after(qtbot, view: DetectView, action, index: int):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS, check_params_cb=lambda r: r.frame.index == index) as b:
        action()
    return b.args[0]


def _mouse(widget, kind: QEvent.Type, pos: QPointF, buttons: Qt.MouseButton) -> None:  # type: ignore[no-untyped-def]
    """A mouse event with the button state a real drag has (QTest's moves carry no buttons)."""
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _handle_center(slider) -> QPointF:  # type: ignore[no-untyped-def]
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    rect = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle,
                                         slider)
    return QPointF(rect.center())


def test_a_click_on_the_seek_bar_jumps_there_and_dragging_updates_the_picture(qtbot, view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    _load_and_open(qtbot, view, detect_assets["weights"], detect_assets["video"])
    slider = view.transport.seek_slider
    y = slider.height() / 2
    x = slider.width() * 0.8
    target = slider.value_at(x)
    assert target > slider.pageStep() + 2  # a page step from 0 would stop far short of it
    jumped = _result_after(qtbot, view, lambda: qtbot.mouseClick(slider, Qt.MouseButton.LeftButton,
                                                                 pos=QPoint(int(x), int(y))), target)
    assert slider.value() == target and view.state.position == target
    with open_source(detect_assets["video"]) as src:
        truth = [f.image for f in src]
    assert np.array_equal(jumped.frame.image, truth[target])

    # drag the handle back to the start: pictures arrive while the button is still down
    seen: list[int] = []
    view.result_shown.connect(lambda r: seen.append(r.frame.index))
    start = _handle_center(slider)
    _mouse(slider, QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    assert slider.isSliderDown()
    for k in range(1, 9):
        _mouse(slider, QEvent.Type.MouseMove, QPointF(start.x() * (1 - k / 8) + 2, y), Qt.MouseButton.LeftButton)
        qtbot.wait(120)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=WAIT_MS)
    during = list(seen)
    assert slider.isSliderDown() and all(i < target for i in during)
    _mouse(slider, QEvent.Type.MouseButtonRelease, QPointF(2, y), Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: view.state.position == slider.value() == 0, timeout=WAIT_MS)


def test_left_home_and_end_keys(qtbot, view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    _load_and_open(qtbot, view, detect_assets["weights"], detect_assets["video"])
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow, timeout=5000)
    _result_after(qtbot, view, lambda: view.seek(6), 6)
    _result_after(qtbot, view, lambda: qtbot.keyClick(view.canvas, Qt.Key.Key_Left), 5)
    _result_after(qtbot, view, lambda: qtbot.keyClick(view.canvas, Qt.Key.Key_Right), 6)
    _result_after(qtbot, view, lambda: qtbot.keyClick(view.canvas, Qt.Key.Key_End), N_FRAMES - 1)
    assert view.transport.position_label.text().startswith(f"{N_FRAMES} / {N_FRAMES}")
    _result_after(qtbot, view, lambda: qtbot.keyClick(view.canvas, Qt.Key.Key_Home), 0)
    assert not view.playing
    keys = [k for k, _ in view.shortcuts()]
    assert keys == ["Space", "Right", "Left", "Home", "End"]


def test_counters_start_over_with_each_source(qtbot, view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    _load_and_open(qtbot, view, detect_assets["weights"], detect_assets["video"])
    results: list = []
    view.result_shown.connect(results.append)
    view.play()
    qtbot.waitUntil(lambda: len(results) >= 5, timeout=WAIT_MS)
    view.pause()
    qtbot.waitUntil(lambda: not view.playing, timeout=WAIT_MS)
    view.state.dropped = 7  # as after a camera faster than the model
    view.stats.refresh()
    assert view.stats.latency_label.text().endswith("7 dropped") and view.state.source_rate.value is not None
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        view.open_source(detect_assets["video"], play=False)
    assert view.state.dropped == 0 and view.state.source_rate.value is None and view.state.latency.value is None
    assert view.stats.latency_label.text() == "–" and view.stats.source_fps_label.text().endswith("fps file")


def test_the_mailbox_counts_dropped_frames_per_source(qtbot, detect_assets) -> None:  # type: ignore[no-untyped-def]
    from core import load_detector
    from tests.gui.test_detect_view import _Collector

    pipeline = LivePipeline()
    try:
        pipeline.detection.set_detector(load_detector(detect_assets["weights"]))
        with open_source(detect_assets["video"]) as src:
            frames = list(src)
        results: list = []
        collector = _Collector(results)
        pipeline.detection.progress.connect(collector.add)
        for frame in frames:
            pipeline.detection.submit(frame, generation=1)
        qtbot.waitUntil(lambda: bool(results) and results[-1].frame.index == frames[-1].index, timeout=WAIT_MS)
        assert results[-1].dropped > 0 and results[-1].generation == 1
        pipeline.detection.submit(frames[0], generation=2)
        qtbot.waitUntil(lambda: results[-1].generation == 2, timeout=WAIT_MS)
        assert results[-1].dropped == 0
    finally:
        pipeline.shutdown()


def test_a_folder_shows_the_current_file_name(qtbot, view, detect_assets, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "frames"
    folder.mkdir()
    with open_source(detect_assets["video"]) as src:
        for k, frame in zip(range(3), src):
            cv2.imwrite(str(folder / f"shot_{k}.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    _load_and_open(qtbot, view, detect_assets["weights"], folder)
    assert view.transport.position_label.text() == "1 / 3  shot_0.png"
    _result_after(qtbot, view, view.step, 1)
    assert view.transport.position_label.text() == "2 / 3  shot_1.png"
    assert view.sources.source_label.text() == "frames (images, 3 frames)"


def test_all_and_none_act_on_the_classes_the_search_shows(qtbot) -> None:  # type: ignore[no-untyped-def]
    f = ClassFilter()
    qtbot.addWidget(f)
    f.set_class_names(("__background__", "cat", "car", "dog", "carrot"))
    changes: list = []
    f.changed.connect(changes.append)
    qtbot.keyClicks(f.search, "car")
    assert [i.text() for i in f.items() if not i.isHidden()] == ["car", "carrot"]
    qtbot.mouseClick(f.none_button, Qt.MouseButton.LeftButton)
    assert changes[-1] == {1, 3}  # cat and dog, hidden by the search, stay checked
    f.search.clear()
    qtbot.mouseClick(f.none_button, Qt.MouseButton.LeftButton)
    assert changes[-1] == set()
    qtbot.keyClicks(f.search, "d")
    qtbot.mouseClick(f.all_button, Qt.MouseButton.LeftButton)
    assert changes[-1] == {3}


def test_the_confidence_has_a_number_box_and_a_tooltip(qtbot, view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    result = _load_and_open(qtbot, view, detect_assets["weights"], detect_assets["video"])
    control = view.confidence
    assert "confidence" in control.slider.toolTip() and control.spin.toolTip() == control.slider.toolTip()
    spin = control.spin
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "0.7")
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert view.min_score == pytest.approx(0.7) and control.slider.value() == 70
    view.canvas.grab()
    assert view.canvas.drawn_boxes == int((result.detections.scores >= 0.7).sum()) > 0
    qtbot.keyClick(control.slider, Qt.Key.Key_PageDown)  # the slider moves the box too
    assert spin.value() == pytest.approx(0.65) and view.min_score == pytest.approx(0.65)


def test_a_truncated_video_gets_its_real_frame_count_and_true_frame_numbers(qtbot, view, detect_assets,  # type: ignore[no-untyped-def]
                                                                            tmp_path) -> None:
    path, decodable = truncated_video(tmp_path / "cut.avi")
    _load_and_open(qtbot, view, detect_assets["weights"], path)
    view.transport.realtime_check.setChecked(False)
    view.transport.loop_check.setChecked(False)
    indices: list[int] = []
    view.result_shown.connect(lambda r: indices.append(r.frame.index))
    with qtbot.waitSignal(view.pipeline.reader.ended, timeout=60_000):
        view.play()
    qtbot.waitUntil(lambda: not view.playing, timeout=WAIT_MS)
    assert view.state.source.frame_count == decodable
    assert view.transport.seek_slider.maximum() == decodable - 1
    assert "truncated" in view.banner.text() and str(decodable) in view.banner.text()
    assert indices and max(indices) <= decodable - 1
    last = _result_after(qtbot, view, lambda: view.seek(-1), decodable - 1)
    cap = cv2.VideoCapture(str(path))
    for _ in range(decodable):
        ok, bgr = cap.read()
    assert ok and np.array_equal(last.frame.image, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert view.transport.position_label.text().startswith(f"{decodable} / {decodable}")


def test_export_ends_with_a_link_to_its_folder(qtbot, view, detect_assets, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _load_and_open(qtbot, view, detect_assets["weights"], detect_assets["video"])
    out = tmp_path / "new" / "folder"
    with qtbot.waitSignal(view.export_finished, timeout=60_000):
        assert view.export(out / "clip.mp4", out / "clip.json")
    panel = view.export_panel
    assert panel.isVisible() and panel.done_label.isVisible() and not panel.progress.isVisible()
    assert panel.folder == out and "Open folder" in panel.done_label.text()
    assert f'href="{out.as_uri()}"' in panel.done_label.text()
    assert (out / "clip.json").is_file() and (out / "clip.mp4").is_file()


def test_export_checks_its_paths_before_the_first_frame_and_the_view_stays_up(qtbot, view, detect_assets,  # type: ignore[no-untyped-def]
                                                                               tmp_path) -> None:
    _load_and_open(qtbot, view, detect_assets["weights"], detect_assets["video"])
    progress: list = []
    view.export_panel.progress.valueChanged.connect(progress.append)
    folder = tmp_path / "a_folder.json"
    folder.mkdir()  # the JSON path names a folder: refused before any frame is detected
    with qtbot.waitSignal(view.export_panel.failed, timeout=WAIT_MS) as failed:
        assert view.export(None, folder)
    assert "a_folder.json" in failed.args[0] and view.banner.kind == "error" and "a_folder.json" in view.banner.text()
    assert not any(progress) and not view.export_panel.busy and view.export_button.isEnabled()
    _result_after(qtbot, view, view.step, 1)  # the view keeps working


def test_a_cancelled_export_keeps_the_frames_done_in_a_valid_partial_json(qtbot, view, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from core.config import ssd300
    from core.data.synthetic import render_video
    from core.model import build_model
    from core.weights import save_checkpoint

    cfg = ssd300(num_classes=3, priors="voc", width=0.5)  # slow enough to be stopped mid-way
    weights = save_checkpoint(tmp_path / "slow.pt", build_model(cfg.model), cfg, ("__background__", "a", "b"))
    video = render_video(tmp_path / "long.mp4", seconds=6, fps=10, seed=8, size=(160, 120))
    _load_and_open(qtbot, view, weights, video)
    out = tmp_path / "out.json"
    assert view.export(None, out)
    qtbot.waitUntil(lambda: view.export_panel.progress.value() >= 2, timeout=60_000)
    with qtbot.waitSignal(view.export_finished, timeout=60_000) as done:
        qtbot.mouseClick(view.export_panel.cancel_button, Qt.MouseButton.LeftButton)
    result = done.args[0]
    doc = json.loads(out.read_text())
    assert result.partial and doc["partial"] is True and 2 <= doc["frames_done"] == len(doc["images"]) < 60
    assert [e["frame"] for e in doc["images"]] == list(range(doc["frames_done"]))
    assert "stopped after" in view.export_panel.done_label.text() and "Open folder" in view.export_panel.done_label.text()


def test_a_full_disk_during_export_is_a_message_naming_the_file(qtbot, view, detect_assets, full_disk) -> None:  # type: ignore[no-untyped-def]
    _load_and_open(qtbot, view, detect_assets["weights"], detect_assets["video"])
    full_disk.fill()
    with qtbot.waitSignal(view.export_panel.failed, timeout=60_000) as failed:
        assert view.export(None, Path(full_disk.folder) / "dets.json")
    assert "dets.json" in failed.args[0] and ("space" in failed.args[0].lower() or "ENOSPC" in failed.args[0])
    assert view.banner.kind == "error" and not (Path(full_disk.folder) / "dets.json").exists()
    _result_after(qtbot, view, view.step, 1)
