"""A widget that paints one RGB frame, scaled to fit, with detection boxes on top (and, while tracking,
the tracks' ids and trails, the counting line and the counting zone, which the user draws on it with the
mouse: the line with a drag, the zone with a click per corner and a double click on the last one)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QFont, QFontMetricsF, QImage, QMouseEvent, QPainter, QPaintEvent, QPen,
                           QPolygonF, QResizeEvent)
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.tracking import CountingLine, CountingZone, TrackView
from core.tracking.draw import id_text
from core.types import Detections
from core.io.drawing import class_color, ink_for, label_text, place_labels
from ssd_gui.widgets.qimages import rgb_to_qimage


_TAG_ALIGN = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft


class FrameCanvas(QWidget):
    """Paints a frame letter-boxed to the widget and its detections with QPainter.

    Boxes are in pixels of the frame (x1, y1, x2, y2) and are mapped to the widget at paint
    time, so resizing never needs new detections. ``drawn_boxes`` is the number of boxes
    drawn by the last paint (what a person sees). Every box is drawn; the name-and-score
    tags go on the most confident ones, at most :meth:`label_budget` (``MAX_LABELS`` on a picture of
    720p's area or larger, fewer on a smaller one such as a tile of the grid), as more would only cover
    each other.

    The boxes, tags, trails, line and zone are drawn once into an overlay image the size of the widget
    and kept until they change: a video in real time gets a new frame 25 times a second but new boxes
    only with each result, so a frame's paint is two image copies (a grid of four 720p videos paints
    100 frames a second on the GUI thread).
    """

    MAX_LABELS = 40
    #: The fewest tags a picture of any size may show.
    MIN_LABELS = 10
    #: A line drawn with the mouse, in pixels of the frame: (x1, y1, x2, y2). Only in :attr:`line_mode`.
    line_drawn = Signal(float, float, float, float)
    #: A polygon drawn with the mouse: its corners [(x, y), ...] in pixels of the frame. Only in :attr:`zone_mode`.
    zone_drawn = Signal(object)
    #: Any mouse press on the canvas (the grid selects the tile).
    pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._image: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._detections = Detections.empty()
        self._class_names: tuple[str, ...] = ("__background__",)
        self._placeholder = "No source open"
        self.drawn_boxes = 0
        self.paint_count = 0
        self.label_rects: list[QRectF] = []  # where the last paint put the tags (for tests and tools)
        self.smooth = True  # bilinear scaling costs tens of ms a large frame: off while a video plays
        self._ids: np.ndarray | None = None
        self._tracks: list[TrackView] = []
        self._line: CountingLine | None = None
        self.line_mode = False  # the next drag draws the counting line
        self._drag: tuple[QPointF, QPointF] | None = None
        self._zone: CountingZone | None = None
        self._zone_mode = False
        self._corners: list[tuple[float, float]] = []  # the zone being drawn, in pixels of the frame
        self._cursor: QPointF | None = None
        self._overlay: QImage | None = None  # what is drawn over the frame; None: draw it again at the next paint

    # ------------------------------------------------------------------------------- state
    def set_frame(self, image: np.ndarray, detections: Detections | None = None,
                  class_names: Sequence[str] | None = None, track_ids: np.ndarray | None = None,
                  tracks: Sequence[TrackView] = ()) -> None:
        """Show ``image`` (uint8 [H, W, 3] RGB) with ``detections`` already filtered for display (and their
        track ids and the tracks' trails, see :meth:`set_detections`)."""
        self._qimage = rgb_to_qimage(image)
        self._image = image  # keeps the QImage's buffer alive
        self.set_detections(detections if detections is not None else Detections.empty(), class_names, track_ids,
                            tracks)

    def set_image(self, image: np.ndarray) -> None:
        """Show ``image`` (uint8 [H, W, 3] RGB), the next frame of the same source, under the boxes already set."""
        same_size = self._image is not None and self._image.shape[:2] == image.shape[:2]
        self._qimage = rgb_to_qimage(image)
        self._image = image
        if same_size:
            self.update()
        else:
            self._redraw_overlay()  # the frame's place on the widget moves

    def _redraw_overlay(self) -> None:
        self._overlay = None
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        self._overlay = None
        super().resizeEvent(event)

    def set_detections(self, detections: Detections, class_names: Sequence[str] | None = None,
                       track_ids: np.ndarray | None = None, tracks: Sequence[TrackView] = ()) -> None:
        """Replace the drawn boxes (e.g. after the confidence slider moved) without a new frame; with
        ``track_ids`` (int [N], -1: none) each tracked box gets its ``#id`` tag, and ``tracks`` their trails."""
        self._detections = detections
        self._ids, self._tracks = track_ids, list(tracks)
        if class_names is not None:
            self._class_names = tuple(class_names)
        self._redraw_overlay()

    def clear(self, placeholder: str = "No source open") -> None:
        self._image = None
        self._qimage = None
        self._detections = Detections.empty()
        self._ids, self._tracks = None, []
        self._placeholder = placeholder
        self._redraw_overlay()

    def set_counting_line(self, line: CountingLine | None) -> None:
        """The counting line to draw (pixels of the frame), or None."""
        self._line = line
        self._redraw_overlay()

    def set_counting_zone(self, zone: CountingZone | None) -> None:
        """The counting zone to draw (pixels of the frame), or None."""
        self._zone = zone
        self._redraw_overlay()

    @property
    def zone_mode(self) -> bool:
        """Clicks add the corners of a zone; a double click adds the last one and closes it; a right click or
        leaving the mode drops the corners placed."""
        return self._zone_mode

    @zone_mode.setter
    def zone_mode(self, on: bool) -> None:
        self._zone_mode = bool(on)
        self._corners, self._cursor = [], None
        self.setMouseTracking(self._zone_mode)
        self._redraw_overlay()

    @property
    def has_frame(self) -> bool:
        return self._qimage is not None

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the shown frame."""
        return None if self._image is None else (int(self._image.shape[1]), int(self._image.shape[0]))

    @property
    def detections(self) -> Detections:
        """The detections currently meant to be drawn."""
        return self._detections

    def image_rect(self) -> QRectF:
        """Where the frame lands in widget coordinates (aspect ratio kept, centred)."""
        if self._image is None:
            return QRectF()
        h, w = self._image.shape[:2]
        scale = min(self.width() / w, self.height() / h)
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2.0, (self.height() - dh) / 2.0, dw, dh)

    # ------------------------------------------------------------------------------- paint
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), QColor(24, 24, 28))
            self.paint_count += 1
            if self._qimage is None or self._image is None:
                p.setPen(QColor(200, 200, 200))
                p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
                self.drawn_boxes = 0
                return
            target = self.image_rect()
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
            p.drawImage(target, self._qimage)
            if self._overlay is None:
                self._overlay = self._draw_overlay(target)
            p.drawImage(0, 0, self._overlay)
        finally:
            p.end()

    def _draw_overlay(self, target: QRectF) -> QImage:
        """The boxes, tags, trails, line and zone on a transparent image the size of the widget."""
        ratio = self.devicePixelRatioF()
        overlay = QImage(int(round(self.width() * ratio)), int(round(self.height() * ratio)),
                         QImage.Format.Format_ARGB32_Premultiplied)
        overlay.setDevicePixelRatio(ratio)
        overlay.fill(Qt.GlobalColor.transparent)
        p = QPainter(overlay)
        try:
            self._paint_zone(p)
            self._paint_trails(p, target)
            self.drawn_boxes = self._paint_boxes(p, target)
            self._paint_line(p, target)
        finally:
            p.end()
        return overlay

    def _paint_boxes(self, p: QPainter, target: QRectF) -> int:
        dets = self._detections
        self.label_rects = []
        if len(dets) == 0:
            return 0
        assert self._image is not None
        scale = target.width() / self._image.shape[1]
        # Map and clip all boxes at once in NumPy; Python-level work per box is what costs
        # GUI time while the worker threads compete for the GIL.
        xy = dets.boxes.astype(np.float64) * scale + [target.x(), target.y(), target.x(), target.y()]
        xy[:, 0::2] = xy[:, 0::2].clip(target.left(), target.right())
        xy[:, 1::2] = xy[:, 1::2].clip(target.top(), target.bottom())
        visible = (xy[:, 2] > xy[:, 0]) & (xy[:, 3] > xy[:, 1])
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setBrush(QBrush())
        shown = np.flatnonzero(visible)
        shown = shown[np.argsort(dets.labels[shown], kind="stable")]  # grouped by class: one pen, one call each
        labels = dets.labels[shown]
        starts = np.flatnonzero(np.r_[len(shown) > 0, labels[1:] != labels[:-1]]).tolist() + [len(shown)]
        rects = [QRectF(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in xy[shown].tolist()]
        for a, b in zip(starts, starts[1:]):
            p.setPen(QPen(QColor(*class_color(int(labels[a]))), 2.0))
            p.drawRects(rects[a:b])
        self._paint_labels(p, target, xy, visible)
        return int(visible.sum())

    def label_budget(self, target: QRectF) -> int:
        """How many tags a picture in ``target`` shows: ``MAX_LABELS`` x its area / 1280x720's, at least ``MIN_LABELS``."""
        share = target.width() * target.height() / (1280.0 * 720.0)
        return max(self.MIN_LABELS, min(self.MAX_LABELS, int(round(self.MAX_LABELS * share))))

    def _paint_labels(self, p: QPainter, target: QRectF, xy: np.ndarray, visible: np.ndarray) -> None:
        """Name and score tags for the :meth:`label_budget` most confident visible boxes."""
        dets = self._detections
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, min(11.0, target.height() / 40.0)))
        p.setFont(font)
        fm = QFontMetricsF(font)
        th = fm.height() + 2
        self._paint_ids(p, target, xy, visible, th, fm)
        order = [int(i) for i in np.argsort(-dets.scores, kind="stable") if visible[i]][:self.label_budget(target)]
        texts = [label_text(int(dets.labels[i]), float(dets.scores[i]), self._class_names) for i in order]
        sizes = np.array([(fm.horizontalAdvance(t) + 6, th) for t in texts], np.float64).reshape(-1, 2)
        # core's placement, as in exported videos: above the box, else inside or below, never on another tag
        corners = place_labels(xy[order], sizes, (target.left(), target.top(), target.right(), target.bottom()))
        self.label_rects = []
        for k, i in enumerate(order):
            if np.isnan(corners[k, 0]):
                continue
            r, g, b = class_color(int(dets.labels[i]))
            tag = QRectF(float(corners[k, 0]), float(corners[k, 1]), float(sizes[k, 0]), th)
            p.fillRect(tag, QColor(r, g, b))
            p.setPen(QColor(*ink_for((r, g, b))))
            p.drawText(tag.adjusted(3, 0, 0, 0), _TAG_ALIGN, texts[k])
            self.label_rects.append(tag)

    # ------------------------------------------------------------------------------- tracks and the line
    def frame_point(self, pos: QPointF) -> tuple[float, float] | None:
        """A widget position in pixels of the frame (clamped to it), or None without a frame."""
        target = self.image_rect()
        if self._image is None or target.width() <= 0:
            return None
        scale = target.width() / self._image.shape[1]
        x = (min(max(pos.x(), target.left()), target.right()) - target.x()) / scale
        y = (min(max(pos.y(), target.top()), target.bottom()) - target.y()) / scale
        return x, y

    def widget_point(self, x: float, y: float) -> QPointF:
        """A point in pixels of the frame, in widget coordinates."""
        target = self.image_rect()
        scale = target.width() / self._image.shape[1] if self._image is not None else 1.0
        return QPointF(target.x() + x * scale, target.y() + y * scale)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        self.pressed.emit()
        if self._zone_mode and self.has_frame:
            self._zone_press(event)
            return
        if self.line_mode and event.button() == Qt.MouseButton.LeftButton and self.has_frame:
            self._drag = (event.position(), event.position())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        """In zone mode: the corner of the first click of the pair closes the zone (three corners at least)."""
        if not (self._zone_mode and event.button() == Qt.MouseButton.LeftButton):
            super().mouseDoubleClickEvent(event)
            return
        if len(self._corners) >= 3:
            corners, self._corners, self._cursor = list(self._corners), [], None
            self._redraw_overlay()
            self.zone_drawn.emit(corners)

    def _zone_press(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self._corners = []
        elif event.button() == Qt.MouseButton.LeftButton:
            point = self.frame_point(event.position())
            if point is not None and (not self._corners or point != self._corners[-1]):
                self._corners.append(point)
        event.accept()
        self._redraw_overlay()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if self._zone_mode:
            self._cursor = event.position()
            if self._corners:
                self._redraw_overlay()
            return
        if self._drag is not None:
            self._drag = (self._drag[0], event.position())
            self._redraw_overlay()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if self._drag is None:
            super().mouseReleaseEvent(event)
            return
        start, end = self._drag[0], event.position()
        self._drag = None
        self._redraw_overlay()
        a, b = self.frame_point(start), self.frame_point(end)
        if a is not None and b is not None and (abs(a[0] - b[0]) + abs(a[1] - b[1])) >= 2.0:
            self.line_drawn.emit(a[0], a[1], b[0], b[1])

    def _paint_trails(self, p: QPainter, target: QRectF) -> None:
        if not self._tracks or self._image is None:
            return
        scale = target.width() / self._image.shape[1]
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for t in self._tracks:
            if len(t.trail) < 2:
                continue
            p.setPen(QPen(QColor(*class_color(int(t.label))), 2.0))
            p.drawPolyline(QPolygonF([QPointF(target.x() + x * scale, target.y() + y * scale)
                                      for x, y in t.trail.tolist()]))

    def _paint_ids(self, p: QPainter, target: QRectF, xy: np.ndarray, visible: np.ndarray, th: float,
                   fm: QFontMetricsF) -> None:
        """``#id`` tags at the bottom-left corner of the tracked boxes."""
        if self._ids is None:
            return
        for i in np.flatnonzero(visible & (self._ids >= 0)).tolist():
            r, g, b = class_color(int(self._detections.labels[i]))
            text = id_text(int(self._ids[i]))
            y2 = max(float(xy[i, 3]), target.top() + th)
            tag = QRectF(float(xy[i, 0]), y2 - th, fm.horizontalAdvance(text) + 6, th)
            p.fillRect(tag, QColor(r, g, b))
            p.setPen(QColor(*ink_for((r, g, b))))
            p.drawText(tag.adjusted(3, 0, 0, 0), _TAG_ALIGN, text)

    def _paint_line(self, p: QPainter, target: QRectF) -> None:
        """The counting line (white on black, an arrow on its "in" side) or the one being drawn."""
        if self._drag is not None:
            ends = self._drag
        elif self._line is not None:
            ends = (self.widget_point(*self._line.start), self.widget_point(*self._line.end))
        else:
            return
        a, b = ends
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for color, width in ((QColor(0, 0, 0), 5.0), (QColor(255, 255, 255), 2.5)):
            p.setPen(QPen(color, width))
            p.drawLine(a, b)
        dx, dy = b.x() - a.x(), b.y() - a.y()
        length = (dx * dx + dy * dy) ** 0.5
        if length < 1:
            return
        # "in" crosses from the left-hand side to the right-hand side of a -> b (core.tracking.counting)
        mid = QPointF((a.x() + b.x()) / 2, (a.y() + b.y()) / 2)
        nx, ny = -dy / length, dx / length
        p.drawLine(mid - QPointF(nx, ny) * 14, mid + QPointF(nx, ny) * 14)
        tip = mid + QPointF(nx, ny) * 14
        p.drawText(QRectF(tip.x() - 20, tip.y() - 10, 40, 20), Qt.AlignmentFlag.AlignCenter, "in")

    def _paint_zone(self, p: QPainter) -> None:
        """The counting zone (white outline, translucent fill) or the corners placed so far and the cursor."""
        if self._zone_mode and self._corners:
            corners, closed = self._corners, False
        elif self._zone is not None:
            corners, closed = list(self._zone.points), True
        else:
            return
        pts = [self.widget_point(x, y) for x, y in corners] + ([self._cursor] if not closed and self._cursor else [])
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if closed:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 48))
            p.drawPolygon(QPolygonF(pts))
            p.setBrush(QBrush())
            pts = pts + pts[:1]
        for color, width in ((QColor(0, 0, 0), 4.0), (QColor(255, 255, 255), 2.0)):
            p.setPen(QPen(color, width))
            p.drawPolyline(QPolygonF(pts))
