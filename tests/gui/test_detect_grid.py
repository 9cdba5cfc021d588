"""Several sources in the Detect view, driven as a person would (real widgets, a real tiny model, real video
decoding): the grid opens, swaps and closes sources without leaking threads; each tile keeps its own filters;
one forward pass serves every tile; several dropped files open as a grid; a zone drawn with the mouse counts."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QThread
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from core.data.synthetic import MovingScene, render_video
from core.types import Detections
from core.tracking import CountingZone, ZoneCounter
from core.tracking.bytetrack import TrackView
from tests.gui.assets import drop_files

WAIT_MS = 60_000


def os_threads() -> int:
    """The threads of this process, as the kernel counts them (Qt's, OpenCV's decoders, Python's)."""
    return len(os.listdir("/proc/self/task"))


def running_readers(view) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for t in view.findChildren(QThread) if t.isRunning() and t.objectName().startswith("ssd-frame-reader"))


@pytest.fixture(scope="module")
def second_clip(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return render_video(tmp_path_factory.mktemp("grid") / "yard.mp4", seconds=2.0, fps=10, seed=41, size=(200, 150))


def _load(qtbot, view, weights: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_model(weights)


def _result_of(qtbot, view, tile, action):  # type: ignore[no-untyped-def]
    """Run ``action`` and wait for a result of ``tile``'s source."""
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS, check_params_cb=lambda r: r.slot == tile.slot) as got:
        action()
    return got.args[0]


def _open_new_tile(qtbot, view, path: Path):  # type: ignore[no-untyped-def]
    """Open ``path`` paused in a new tile and wait for its first frame's detections; the new tile."""
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS,
                          check_params_cb=lambda r: r.slot == view.tiles[-1].slot and view.tiles[-1].state.source):
        assert view.open_in_new_tile(path, play=False)
    return view.tiles[-1]


def _settled_threads(qtbot, expected: int | None = None) -> int:  # type: ignore[no-untyped-def]
    """The thread count once it stops changing (joined threads leave the kernel's list a moment later)."""
    last, same = os_threads(), 0
    for _ in range(100):
        qtbot.wait(50)
        now = os_threads()
        same = same + 1 if now == last else 0
        last = now
        if same >= 6 and (expected is None or now == expected):
            break
    return last


def test_the_grid_opens_swaps_and_closes_sources_without_leaking_threads(qtbot, detect_view, detect_assets,  # type: ignore[no-untyped-def]
                                                                         second_clip) -> None:
    view = detect_view
    _load(qtbot, view, detect_assets["weights"])
    _result_of(qtbot, view, view.tiles[0], lambda: view.open_source(detect_assets["video"], play=False))
    assert not view.tiles[0].frame.header.isVisibleTo(view)  # one source: the plain view
    # A first round warms up what stays (the model's inference threads for a batch of two).
    _open_new_tile(qtbot, view, second_clip)
    assert view.close_tile(1)
    baseline = _settled_threads(qtbot)
    assert running_readers(view) == 1

    for _ in range(2):
        tile = _open_new_tile(qtbot, view, second_clip)
        assert len(view.tiles) == 2 and view.tile is tile and running_readers(view) == 2
        assert all(t.frame.header.isVisibleTo(view) for t in view.tiles)  # the grid, with headers
        assert tile.frame.title_label.text() == "yard.mp4" and view.sources.source_label.text().startswith("yard.mp4")
        grown = _settled_threads(qtbot)
        assert grown > baseline  # its reader thread (and its decoder's)
        # Swap the new tile's source for another: the same threads, the old capture's released; the old source's
        # boxes are gone when the new one opens (before its first result)
        tile.canvas.grab()
        assert tile.canvas.drawn_boxes > 0
        with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS,
                              check_params_cb=lambda _: tile.canvas.grab() is not None and tile.canvas.drawn_boxes == 0):
            view.open_source(detect_assets["video"], play=False)
        assert tile.state.source.name == "clip.mp4" and view.tiles[0].state.source.name == "clip.mp4"
        assert _settled_threads(qtbot, grown) == grown and running_readers(view) == 2
        # Close it with its header's button: back to one reader, the thread count of before.
        qtbot.mouseClick(tile.frame.close_button, Qt.MouseButton.LeftButton)
        assert len(view.tiles) == 1 and running_readers(view) == 1
        assert _settled_threads(qtbot, baseline) == baseline
        assert not view.tiles[0].frame.header.isVisibleTo(view)
    # The remaining tile still plays its source.
    _result_of(qtbot, view, view.tiles[0], view.step)
    assert not view.close_tile(0)  # the last tile stays


def test_each_tile_keeps_its_own_filters_and_controls(qtbot, detect_view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    view = detect_view
    _load(qtbot, view, detect_assets["weights"])
    first = _result_of(qtbot, view, view.tiles[0], lambda: view.open_source(detect_assets["video"], play=False))
    a = view.tiles[0]
    b = _open_new_tile(qtbot, view, detect_assets["video"])  # the same frame in both: only the filters differ
    scores, labels = first.detections.scores, first.detections.labels
    assert view.confidence is b.confidence  # the new tile is selected: its controls are shown
    b.confidence.spin.setValue(0.7)
    circle = next(item for item in b.class_filter.items() if item.text() == "circle")
    circle.setCheckState(Qt.CheckState.Unchecked)
    # Select the first tile with a click on its frame: the side panel shows its own (untouched) filters.
    qtbot.mouseClick(a.canvas, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    assert view.tile is a and view.confidence is a.confidence and view.side_stack.currentWidget() is a.side
    assert a.state.min_score == 0.4 and a.state.shown_labels is None
    assert b.state.min_score == 0.7 and 1 not in b.state.shown_labels
    for tile, keep in ((a, scores >= 0.4), (b, (scores >= 0.7) & (labels != 1))):
        tile.canvas.grab()
        assert tile.canvas.drawn_boxes == int(keep.sum()) > 0
        assert tile.stats.count_label.text() == f"{int(keep.sum())} of {len(scores)} boxes"
    assert int((scores >= 0.4).sum()) > int(((scores >= 0.7) & (labels != 1)).sum())
    # The playback keys act on the selected tile only.
    _result_of(qtbot, view, a, view.step)
    assert (a.state.position, b.state.position) == (1, 0)


def test_one_forward_pass_serves_every_tile(qtbot, detect_view, detect_assets, second_clip) -> None:  # type: ignore[no-untyped-def]
    """Sources opened before the model: loading it detects every paused frame in one call, as does a new NMS
    method; the real detector's calls are counted."""
    view = detect_view
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        view.open_source(detect_assets["video"], play=False)
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        view.open_in_new_tile(second_clip, play=False)
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        view.open_in_new_tile(detect_assets["video"], play=False)
    qtbot.waitUntil(lambda: all(t.state.result is not None for t in view.tiles), timeout=WAIT_MS)  # without boxes
    calls: list[int] = []

    def count_calls(detector) -> None:  # type: ignore[no-untyped-def]
        real = detector.detect
        detector.detect = lambda images, **kw: (calls.append(len(images)), real(images, **kw))[1]

    view.grid.model.events.model.connect(count_calls)  # before the view hands the model to the worker
    results: list = []
    view.result_shown.connect(results.append)
    _load(qtbot, view, detect_assets["weights"])
    qtbot.waitUntil(lambda: len(results) == 3, timeout=WAIT_MS)
    assert calls == [3]
    assert sorted(r.slot for r in results) == sorted(t.slot for t in view.tiles) and {r.batch for r in results} == {3}
    assert [r.frame.image.shape for r in sorted(results, key=lambda r: r.slot)] == [(120, 160, 3), (150, 200, 3),
                                                                                 (120, 160, 3)]
    assert all(len(t.state.result.detections) > 0 for t in view.tiles)
    results.clear()
    view.nms.combo.setCurrentIndex(1)
    view.nms.combo.activated.emit(1)  # soft-NMS, as the user picks it
    qtbot.waitUntil(lambda: len(results) == 3, timeout=WAIT_MS)
    assert calls == [3, 3] and view.detector.config.postprocess.nms == "soft-linear"


def test_one_pass_answers_are_painted_one_tile_per_turn(qtbot, detect_view, detect_assets, second_clip) -> None:  # type: ignore[no-untyped-def]
    """The four answers of one forward pass reach their tiles one per turn of the event loop, each tile painted
    with its boxes before the next tile gets its own (four overlays in one paint stalled the GUI thread); a newer
    answer for a tile replaces one not yet shown."""
    view = detect_view
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        view.open_source(detect_assets["video"], play=False)
    for clip in (second_clip, detect_assets["video"], second_clip):
        with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
            view.open_in_new_tile(clip, play=False)
    qtbot.waitUntil(lambda: all(t.state.result is not None for t in view.tiles), timeout=WAIT_MS)
    qtbot.wait(200)
    assert len(view.tiles) == 4 and all(t.canvas.drawn_boxes == 0 for t in view.tiles)  # no model: no boxes

    def answer(tile, n: int):  # type: ignore[no-untyped-def]
        boxes = np.array([[5 + 9 * i, 5, 30 + 9 * i, 40] for i in range(n)], np.float32)
        dets = Detections(boxes=boxes, scores=np.linspace(0.9, 0.5, n, dtype=np.float32),
                          labels=np.ones(n, np.int64))
        return dataclasses.replace(tile.state.result, detections=dets, class_names=("__background__", "thing"))

    seen: list[tuple[int, list[int]]] = []  # (slot shown, every tile's drawn boxes at that moment)
    view.result_shown.connect(lambda r: seen.append((r.slot, [t.canvas.drawn_boxes for t in view.tiles])))
    stale = answer(view.tiles[0], 7)
    fresh = [answer(t, k + 2) for k, t in enumerate(view.tiles)]  # tile k gets k + 2 boxes
    for result in [stale] + fresh:  # as the detection thread delivers one pass: one signal per tile
        view.pipeline.detection.progress.emit(result)
    assert seen == []  # nothing drawn in the turn the answers arrived
    qtbot.waitUntil(lambda: len(seen) == 4, timeout=WAIT_MS)
    qtbot.wait(100)
    assert len(seen) == 4 and [slot for slot, _ in seen] == [t.slot for t in view.tiles]
    for k in range(1, 4):  # when tile k's boxes are set, tile k - 1 has painted its own already
        assert seen[k][1][k - 1] == k + 1, seen
        assert seen[k][1][k] == 0, seen
    assert [t.canvas.drawn_boxes for t in view.tiles] == [2, 3, 4, 5]  # tile 0: the newer answer, not the stale 7


def test_several_dropped_files_open_as_a_grid_and_a_fifth_source_is_refused(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                            detect_assets, second_clip) -> None:
    win = make_window(start_demo=False)
    view = win.detect_view
    assert view.sources.new_tile_menu.title() in [a.text() for a in win.menuBar().actions()[0].menu().actions()]
    with qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
        assert drop_files(win, [detect_assets["video"], second_clip, detect_assets["video"]])
    qtbot.waitUntil(lambda: len(view.tiles) == 3 and all(t.state.source for t in view.tiles), timeout=WAIT_MS)
    assert [t.state.source.name for t in view.tiles] == ["clip.mp4", "yard.mp4", "clip.mp4"]
    rows = {t.frame.geometry().top() for t in view.tiles}
    assert len(rows) == 2  # three tiles: two rows of a 2 x 2 grid
    assert view.open_in_new_tile(second_clip, play=False)
    qtbot.waitUntil(lambda: all(t.state.source for t in view.tiles), timeout=WAIT_MS)
    assert not view.open_in_new_tile(second_clip, play=False)
    assert "at most 4 sources at once" in view.banner.text() and len(view.tiles) == 4


SEED, SIZE, FPS, FRAMES = 900_006, (320, 240), 10, 15  # the tracking tests' scene: objects leave and enter
CENTRE = ((80, 60), (240, 60), (240, 180), (80, 180))


def _mouse(widget, kind: QEvent.Type, pos: QPointF, button: Qt.MouseButton) -> None:  # type: ignore[no-untyped-def]
    buttons = button if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick) else Qt.MouseButton.NoButton
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                                               Qt.KeyboardModifier.NoModifier))


def _click_zone(canvas, corners) -> None:  # type: ignore[no-untyped-def]
    """Click each corner, moving there first, and double-click the last one (as Qt delivers a double click)."""
    press, release, double = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
                              QEvent.Type.MouseButtonDblClick)
    left = Qt.MouseButton.LeftButton
    for k, (x, y) in enumerate(corners):
        pos = canvas.widget_point(x, y)
        _mouse(canvas, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton)
        _mouse(canvas, press, pos, left)
        _mouse(canvas, release, pos, left)
        if k == len(corners) - 1:
            _mouse(canvas, double, pos, left)
            _mouse(canvas, release, pos, left)


@pytest.mark.slow  # the demo model stepped through 15 frames (half a minute on two busy cores)
def test_a_zone_drawn_with_the_mouse_counts_the_objects_inside(qtbot, detect_view, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = detect_view
    video = render_video(tmp_path / "crossing.mp4", FRAMES / FPS, FPS, SEED, SIZE)
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_demo_model()
    _result_of(qtbot, view, view.tiles[0], lambda: view.open_source(video, play=False))
    qtbot.mouseClick(view.tracking.track_box, Qt.MouseButton.LeftButton, pos=QPoint(6, view.tracking.track_box.height() // 2))
    qtbot.mouseClick(view.tracking.zone_button, Qt.MouseButton.LeftButton)
    canvas = view.canvas
    assert canvas.zone_mode and not view.tracking.draw_button.isChecked()
    # A right click drops the corners placed so far; then the zone is drawn.
    _mouse(canvas, QEvent.Type.MouseButtonPress, canvas.widget_point(10, 10), Qt.MouseButton.LeftButton)
    _mouse(canvas, QEvent.Type.MouseButtonPress, canvas.widget_point(10, 10), Qt.MouseButton.RightButton)
    _click_zone(canvas, CENTRE)
    zone = view.state.tracks.zone
    assert zone is not None and not canvas.zone_mode and not view.tracking.zone_button.isChecked()
    assert np.allclose(zone.points, CENTRE, atol=1.0) and view.tracking.clear_zone_button.isEnabled()

    truth = ZoneCounter(CountingZone(zone.points))
    for _, boxes, labels, ids in MovingScene(SEED, SIZE, FPS).frames_with_ids(FRAMES):
        truth.update([TrackView(int(i), int(k), b, 1.0, np.zeros((0, 2)), False) for i, k, b in zip(ids, labels, boxes)])
    expected = {k: (truth.inside_counts().get(k, 0), n) for k, n in truth.seen_counts().items()}
    # six objects of six classes crossed the zone; one of them (a circle) is inside at the end
    assert expected == {1: (1, 1), 3: (0, 1), 4: (0, 1), 6: (0, 1), 7: (0, 1), 8: (0, 1)}

    _result_of(qtbot, view, view.tiles[0], lambda: view.seek(0))  # tracks start with the zone in place
    for index in range(1, FRAMES):
        with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS, check_params_cb=lambda r, i=index: r.frame.index == i):
            view.step()
    names = view.detector.class_names
    counted = {names.index(row[0]): (row[4], row[5]) for row in view.tracking.rows() if row[5]}
    assert counted == expected
    headers = [view.tracking.table.horizontalHeaderItem(c).text() for c in range(view.tracking.table.columnCount())]
    assert headers[4:] == ["In zone", "Zone seen"]
    qtbot.mouseClick(view.tracking.clear_zone_button, Qt.MouseButton.LeftButton)
    assert view.state.tracks.zone is None and canvas._zone is None
