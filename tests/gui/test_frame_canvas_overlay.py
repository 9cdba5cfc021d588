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
