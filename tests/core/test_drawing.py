"""Captions of neighbouring boxes never overlap (issue 19, item 19): core's placement, the exported
drawing and the Detect view's canvas."""
from __future__ import annotations

import numpy as np
import pytest

from core.io.drawing import class_color, draw_detections
from core.types import Detections

NAMES = ("__background__", "circle", "square", "triangle")


def _overlap(a: np.ndarray, b: np.ndarray, sa: np.ndarray, sb: np.ndarray) -> bool:
    return bool(a[0] < b[0] + sb[0] and b[0] < a[0] + sa[0] and a[1] < b[1] + sb[1] and b[1] < a[1] + sa[1])


def test_placement_by_hand() -> None:
    from core.io.drawing import place_labels

    boxes = np.array([[10, 50, 60, 100],    # first: its caption goes above it, (10, 40)
                      [40, 52, 90, 100],    # above would cover the first's: inside at its top, (40, 52)
                      [45, 55, 95, 100],    # above and top taken: below, (45, 100)
                      [200, 2, 260, 40]],   # no room above the picture: inside at its top, (200, 2)
                     np.float64)
    sizes = np.array([[40, 10]] * 4, np.float64)
    corners = place_labels(boxes, sizes, (0, 0, 300, 200))
    np.testing.assert_array_equal(corners, [[10, 40], [40, 52], [45, 100], [200, 2]])
    # near the right edge a caption moves left to stay on the picture
    np.testing.assert_array_equal(place_labels(np.array([[280, 50, 299, 90]]), np.array([[40, 10]]), (0, 0, 300, 200)),
                                  [[260, 40]])
    # five boxes on one spot: four places, the fifth caption is left out rather than drawn over another
    same = place_labels(np.repeat(boxes[:1], 5, axis=0), np.repeat(sizes[:1], 5, axis=0), (0, 0, 300, 200))
    assert np.isnan(same[4]).all() and not np.isnan(same[:4]).any()
    for i in range(4):
        for j in range(i):
            assert not _overlap(same[i], same[j], sizes[0], sizes[0])


def test_drawn_captions_of_neighbouring_boxes_do_not_overlap() -> None:
    import cv2

    from core.io.drawing import label_text

    image = np.full((120, 200, 3), 255, np.uint8)
    dets = Detections(np.array([[20, 40, 80, 110], [50, 42, 110, 110], [90, 44, 150, 110]], np.float32),
                      np.array([0.9, 0.8, 0.7], np.float32), np.array([1, 2, 3]))
    out = draw_detections(image, dets, NAMES)
    # each caption is a filled block of its class colour, as wide as its text: whole (none covers another's)
    # and apart from the others
    blocks = []
    for label, score in zip((1, 2, 3), (0.9, 0.8, 0.7)):
        mask = np.abs(out.astype(int) - np.array(class_color(label))).sum(-1) < 10
        wide = mask.sum(1) >= 8  # rows with 8 px of the colour: the caption's, and a box's top or bottom edge
        runs = np.split(np.flatnonzero(wide), np.flatnonzero(np.diff(np.flatnonzero(wide)) > 1) + 1)
        rows = max(runs, key=len)  # the caption: the longest run of such rows (an edge is one or two rows)
        assert len(rows) >= 8, label
        cols = np.flatnonzero(mask[rows].sum(0) >= len(rows) // 2)
        (text_width, _), _ = cv2.getTextSize(label_text(label, score, NAMES), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
        assert cols.max() - cols.min() + 1 >= text_width, (label, cols.min(), cols.max(), text_width)
        blocks.append((rows.min(), rows.max(), cols.min(), cols.max()))
    for i in range(3):
        for j in range(i):
            (t1, b1, l1, r1), (t2, b2, l2, r2) = blocks[i], blocks[j]
            vertical = b1 < t2 or b2 < t1
            horizontal = r1 < l2 or r2 < l1
            assert vertical or horizontal, (blocks[i], blocks[j])


def test_the_detect_views_tags_do_not_overlap(qtbot) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("PySide6")
    from ssd_gui.widgets.frame_canvas import FrameCanvas

    canvas = FrameCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(640, 480)
    canvas.show()
    image = np.full((240, 320, 3), 128, np.uint8)
    boxes = np.array([[20 + 12 * k, 60 + 2 * k, 120 + 12 * k, 200] for k in range(6)], np.float32)
    dets = Detections(boxes, np.linspace(0.9, 0.4, 6).astype(np.float32), np.array([1, 2, 3, 1, 2, 3]))
    canvas.set_frame(image, dets, NAMES)
    canvas.grab()  # renders the widget now
    rects = canvas.label_rects
    assert len(rects) >= 4
    for i in range(len(rects)):
        for j in range(i):
            assert not rects[i].intersects(rects[j]), (rects[i], rects[j])
