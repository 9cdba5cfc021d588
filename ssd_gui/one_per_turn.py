"""Items handed to a slot one per turn of the Qt event loop, the newest per key."""
from __future__ import annotations

from typing import Callable, Hashable

from PySide6.QtCore import QObject, QTimer, Slot


class OnePerTurn(QObject):
    """``put(key, item)`` queues ``item``; ``deliver(item)`` gets the queued items one per turn of the event loop
    (a zero-interval timer), in the order their keys were first queued. A newer item for a key that is still
    queued replaces the older one.

    Why: one forward pass answers every tile of the Detect view's grid at once; their overlays drawn in the same
    paint kept the GUI thread busy for several frames. One per turn, each tile's canvas paints (a posted
    update, handled before the timer fires again) before the next tile gets its boxes, and the event loop runs
    in between.
    """

    def __init__(self, deliver: Callable[[object], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self._queued: dict[Hashable, object] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._next)

    def put(self, key: Hashable, item: object) -> None:
        self._queued[key] = item
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def _next(self) -> None:
        if self._queued:
            self._deliver(self._queued.pop(next(iter(self._queued))))
        if self._queued:
            self._timer.start()
