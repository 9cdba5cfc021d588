"""The Detect view's canvas keeps its boxes in an overlay drawn once per change: a new frame of the same size is
painted under the same boxes, a frame of another size, a resize or new detections place them again."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from core.io.drawing import class_color
from core.types import Detections
from ssd_gui.widgets.frame_canvas import FrameCanvas

BOX = [50.0, 40.0, 150.0, 110.0]  # x1, y1, x2, y2 in pixels of the frame


def _canvas(qtbot) -> FrameCanvas:  # type: ignore[no-untyped-def]
    canvas = FrameCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    canvas.smooth = False
    return canvas


def _box_edge_at(canvas: FrameCanvas, x: int, y: int) -> bool:
    """True when the box's colour is within one pixel of widget point (x, y) on a fresh paint."""
    image = canvas.grab().toImage()
    want = QColor(*class_color(1))
    return any(image.pixelColor(x + dx, y) == want for dx in (-1, 0, 1))


def _rgb(canvas: FrameCanvas, x: int, y: int) -> tuple[int, int, int]:
    c = canvas.grab().toImage().pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def test_a_new_frame_keeps_the_boxes_and_a_new_size_or_resize_places_them_again(qtbot) -> None:  # type: ignore[no-untyped-def]
    canvas = _canvas(qtbot)
    dets = Detections(np.array([BOX], np.float32), np.array([0.9], np.float32), np.array([1]))
    # 200x150 in 400x300: scale 2, no margin; the box's left edge at x = 2 * 50 = 100, rows 80..220
    canvas.set_frame(np.full((150, 200, 3), 128, np.uint8), dets, ("background", "thing"))
    assert _box_edge_at(canvas, 100, 150) and _rgb(canvas, 200, 150) == (128, 128, 128)
    assert canvas.drawn_boxes == 1

    canvas.set_image(np.zeros((150, 200, 3), np.uint8))  # the next frame of the same source
    assert _box_edge_at(canvas, 100, 150) and _rgb(canvas, 200, 150) == (0, 0, 0)

    # 300x150 in 400x300: scale 4/3, 50 px above and below; the left edge at 50 * 4/3 = 66.7
    canvas.set_image(np.zeros((150, 300, 3), np.uint8))
    assert _box_edge_at(canvas, 67, 150) and not _box_edge_at(canvas, 100, 150)

    canvas.resize(800, 600)  # scale 8/3, 100 px above and below: 50 * 8/3 = 133.3
    assert _box_edge_at(canvas, 133, 300) and not _box_edge_at(canvas, 67, 300)

    canvas.set_detections(Detections.empty())
    assert not _box_edge_at(canvas, 133, 300) and canvas.drawn_boxes == 0


def test_tags_go_on_the_most_confident_boxes_as_many_as_the_picture_has_room_for(qtbot) -> None:  # type: ignore[no-untyped-def]
    canvas = _canvas(qtbot)
    canvas.resize(1280, 720)
    # 60 small boxes far apart in a 1280x720 frame (scale 1): every tag has room above its box
    xs, ys = np.meshgrid(np.arange(10) * 125.0 + 10, np.arange(6) * 115.0 + 40)
    boxes = np.stack([xs.ravel(), ys.ravel(), xs.ravel() + 30, ys.ravel() + 30], 1).astype(np.float32)
    scores = np.linspace(0.99, 0.41, 60).astype(np.float32)
    dets = Detections(boxes, scores, np.ones(60, np.int64))
    canvas.set_frame(np.zeros((720, 1280, 3), np.uint8), dets, ("background", "thing"))
    canvas.grab()
    assert canvas.drawn_boxes == 60 and len(canvas.label_rects) == FrameCanvas.MAX_LABELS == 40
    # the tags are the 40 most confident boxes': each sits just above its box (the first 40 in score order)
    lefts = sorted(round(r.left()) for r in canvas.label_rects)
    assert lefts == sorted(round(float(b[0])) for b in boxes[:40])

    canvas.resize(640, 360)  # a quarter of the area (a tile of the grid): 40 * 1/4 = 10 tags
    canvas.grab()
    assert canvas.drawn_boxes == 60 and len(canvas.label_rects) == 10
    canvas.resize(200, 120)  # smaller still: never fewer than MIN_LABELS, as far as they fit
    assert canvas.label_budget(canvas.image_rect()) == FrameCanvas.MIN_LABELS == 10


def test_boxes_that_fall_outside_the_picture_draw_nothing_and_raise_nothing(qtbot) -> None:  # type: ignore[no-untyped-def]
    canvas = _canvas(qtbot)
    outside = np.array([[250.0, 10.0, 300.0, 40.0], [-60.0, -50.0, -10.0, -5.0]], np.float32)  # a 200x150 frame
    canvas.set_frame(np.full((150, 200, 3), 128, np.uint8),
                     Detections(outside, np.array([0.9, 0.8], np.float32), np.array([1, 2])), ("bg", "a", "b"))
    canvas.grab()
    assert canvas.drawn_boxes == 0 and canvas.label_rects == []
    assert _rgb(canvas, 200, 150) == (128, 128, 128)
