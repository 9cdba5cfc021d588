"""A Qt-free event: the way a state object tells its views that something changed.

The state objects of :mod:`ssd_gui.state` are plain Python, testable without a QApplication;
views subscribe to their events (as napari's ``QtDims`` listens to ``Dims.events``). Events are
emitted and handled on the GUI thread only: worker results reach a state object through a view's
slot, never directly from a worker thread.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator


class Event:
    """A list of callbacks called in connection order by :meth:`emit`.

    A callback that raises does not stop the others: the exception is re-raised after all ran,
    so one broken listener cannot leave the rest of the window out of date.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []
        self._blocked = 0

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback(*args)`` on every :meth:`emit`; returns it (usable as a decorator)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any] | None = None) -> None:
        """Forget ``callback`` (every callback when None); unknown callbacks are ignored."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        if self._blocked:
            return
        error: BaseException | None = None
        for cb in list(self._callbacks):
            try:
                cb(*args)
            except Exception as exc:  # noqa: BLE001 - re-raised once every listener had its turn
                error = error or exc
        if error is not None:
            raise error

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Emit nothing inside the ``with`` block."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    def __len__(self) -> int:
        return len(self._callbacks)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self._callbacks)} callback(s))"


class Events:
    """A named group of :class:`Event` s: ``Events("source", "position").position.connect(cb)``."""

    def __init__(self, *names: str) -> None:
        for name in names:
            setattr(self, name, Event(name))

    def __iter__(self) -> Iterator[Event]:
        return (v for v in vars(self).values() if isinstance(v, Event))
