"""Widgets that never push a window past the screen: a one-line label that elides its text, a scroll area
that asks for its content's size but accepts less, and a resize to the content bounded by the screen.

A QLabel without word wrap asks for the width of its whole text; a long progress message or path in one
then widens the window (Qt grows a window to its layout's minimum), past the edge of a 1280-pixel screen.
"""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QScrollArea, QSizePolicy, QWidget

#: Room kept for the window frame and a panel or taskbar when a window is fitted to its screen.
SCREEN_MARGIN = QSize(40, 80)


class ElidedLabel(QLabel):
    """A one-line plain-text label cut with "…" (in the middle, where paths differ least) to the width it
    gets; it asks for no width of its own, so no text makes its window wider. :meth:`text` is the whole
    text, which is also the tooltip when it does not fit."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = str(text)
        self._elide()

    def text(self) -> str:
        return self._full

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(0, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(min(self.fontMetrics().horizontalAdvance(self._full), 300), super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, max(1, self.width()))
        super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")


class FittingScrollArea(QScrollArea):
    """A scroll area that asks for its content's whole size (QScrollArea caps its size hint at a few
    hundred pixels) and needs only a little: a dialog built on it opens at its natural size and scrolls
    only on a screen too small for it."""

    def __init__(self, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        content.installEventFilter(self)

    def refresh(self) -> None:
        """Lay the content out now and ask for its new size at once (rows were just shown or hidden)."""
        # The groups inside re-lay themselves out on posted LayoutRequest events: handle those now, so that
        # the size asked for is the content's as it is shown, not as it was before.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        content = self.widget()
        if content is not None and content.layout() is not None:
            content.layout().invalidate()
            content.layout().activate()
        self.updateGeometry()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the content's size changed (rows shown or hidden): so does this hint
        return super().eventFilter(watched, event)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        content = self.widget().sizeHint() if self.widget() is not None else QSize(0, 0)
        frame = 2 * self.frameWidth()
        return QSize(content.width() + frame + self.verticalScrollBar().sizeHint().width(),
                     content.height() + frame)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(200, 120)


def fit_to_screen(window: QWidget) -> QSize:
    """Resize ``window`` to its size hint, no larger than its screen's free area less :data:`SCREEN_MARGIN`
    (no gap left by rows that were hidden, nothing past the screen's edge). Returns the new size."""
    layout = window.layout()
    if layout is not None:
        layout.activate()
    want = window.sizeHint()
    screen = window.screen()
    if screen is not None:
        free = screen.availableGeometry().size() - SCREEN_MARGIN
        want = want.boundedTo(free)
    want = want.expandedTo(window.minimumSizeHint())
    window.resize(want)
    return want


__all__ = ["ElidedLabel", "FittingScrollArea", "fit_to_screen", "SCREEN_MARGIN"]
