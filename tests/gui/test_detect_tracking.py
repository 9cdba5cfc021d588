"""Tracking in the Detect view: ids and trails on the canvas, the distinct objects seen, and a counting line
drawn with real mouse events on the frame; the demo model on a synthetic video whose true crossings are known
from the renderer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from core.data.synthetic import MovingScene, render_video
from core.tracking import CountingLine, LineCounter
from core.tracking.bytetrack import TrackView

WAIT_MS = 60_000
SEED, SIZE, FPS, FRAMES = 900_006, (320, 240), 10, 30  # a triangle and a circle cross x = 160 right to left


def _mouse(widget, kind: QEvent.Type, pos: QPointF, buttons: Qt.MouseButton) -> None:  # type: ignore[no-untyped-def]
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                                               Qt.KeyboardModifier.NoModifier))


def _true_crossings(line: CountingLine) -> dict:
    """The crossings of ``line`` by the scene's true boxes, followed by the renderer's object ids."""
    counter = LineCounter(line)
    for _, boxes, labels, ids in MovingScene(SEED, SIZE, FPS).frames_with_ids(FRAMES):
        counter.update([TrackView(int(i), int(k), b, 1.0, np.zeros((0, 2)), False) for i, k, b in zip(ids, labels, boxes)])
    return counter.counts


def _open(qtbot, view, video: Path):  # type: ignore[no-untyped-def]
    """The demo model and the first frame of ``video`` in ``view`` (paused)."""
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_demo_model()
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
        view.open_source(video, play=False)
    return view


@pytest.fixture(scope="module")
def crossing_video(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return render_video(tmp_path_factory.mktemp("tracking") / "crossing.mp4", FRAMES / FPS, FPS, SEED, SIZE)


@pytest.mark.slow
def test_line_drawn_with_the_mouse_counts_the_crossing_per_class_and_direction(qtbot, detect_view, crossing_video):  # type: ignore[no-untyped-def]
    view = _open(qtbot, detect_view, crossing_video)
    box = view.tracking.track_box
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(6, box.height() // 2))  # on the indicator
    assert view.state.tracking and view.tracking.draw_button.isEnabled()

    # Draw the line from the frame's top to its bottom at x = 160, with a press, moves and a release.
    qtbot.mouseClick(view.tracking.draw_button, Qt.MouseButton.LeftButton)
    assert view.canvas.line_mode
    canvas = view.canvas
    start, end = canvas.widget_point(160, 2), canvas.widget_point(160, 238)
    _mouse(canvas, QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    for k in range(1, 6):
        _mouse(canvas, QEvent.Type.MouseMove, start + (end - start) * (k / 5), Qt.MouseButton.LeftButton)
    _mouse(canvas, QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)
    line = view.state.tracks.line
    assert line is not None and not canvas.line_mode and not view.tracking.draw_button.isChecked()
    assert np.allclose([*line.start, *line.end], [160, 2, 160, 238], atol=1.0)
    truth = _true_crossings(line)
    assert truth == {(3, "out"): 1, (1, "out"): 1}  # the scene: from the line's right-hand side (x < 160)

    # The first frame was detected before tracking began: step back to it, then through the clip.
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS, check_params_cb=lambda r: r.frame.index == 0):
        view.seek(0)
    for index in range(1, FRAMES):
        with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS, check_params_cb=lambda r, i=index: r.frame.index == i):
            view.step()
    rows = {row[0]: row[1:] for row in view.tracking.rows()}
    names = view.detector.class_names
    # a row: seen, in, out, then the zone's two columns (no zone drawn here: zero)
    counted = {(names.index(n), d): v for n, (_, i, o, *_) in rows.items() for d, v in (("in", i), ("out", o)) if v}
    assert all(list(r[3:]) == [0, 0] for r in rows.values())
    assert counted == truth  # per class and direction, as the renderer says
    table = {view.tracking.table.item(r, 0).text(): view.tracking.table.item(r, 3).text()
             for r in range(view.tracking.table.rowCount())}
    assert table["triangle"] == "1" and table["circle"] == "1"  # the "Out" column shown
    # every class the scene shows was seen as at least one distinct object, and ids are drawn on the canvas
    assert {"circle", "square", "triangle"} <= set(rows)
    assert canvas._ids is not None and (canvas._ids >= 0).any()


def test_tracking_off_draws_no_ids_and_clears_the_counts(qtbot, detect_view, crossing_video):  # type: ignore[no-untyped-def]
    view = _open(qtbot, detect_view, crossing_video)
    view.tracking.track_box.setChecked(True)
    for index in (1, 2):
        with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS, check_params_cb=lambda r, i=index: r.frame.index == i):
            view.step()
    dets, ids = view.state.visible_tracked()
    assert ids is not None and len(ids) == len(dets) and (ids >= 0).sum() >= 2
    assert view.tracking.table.rowCount() >= 2
    view.tracking.track_box.setChecked(False)
    assert view.canvas._ids is None and view.tracking.table.rowCount() == 0
    assert not view.tracking.draw_button.isEnabled()
