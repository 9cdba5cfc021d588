"""The newest frame of each live source, waiting for one model: one single-slot mailbox per source, emptied
all at once into one batch.

    boxes = FrameMailboxes()
    boxes.put(slot=0, frame=f0, read_time=t0, generation=1)   # True: the consumer was idle, wake it
    boxes.put(slot=1, frame=g0, read_time=t1, generation=1)
    boxes.put(slot=0, frame=f1, read_time=t2, generation=1)   # replaces f0, counted as dropped for slot 0
    letters = boxes.take()     # [Letter(0, f1, ...), Letter(1, g0, ...)]: one forward pass for both sources

The rule of the Detect view's live pipeline (:mod:`ssd_gui.live`): a frame not yet taken is replaced by a
newer one of the same source (a camera never builds a backlog when the model is slower; the frames
replaced are counted per source as dropped); the consumer takes the newest frame of every source that has
one, so each forward pass serves every source. A source's ``generation`` counts the sources opened in its
slot: a new one starts its dropped count over. Thread-safe: readers put from their threads, one consumer
takes from its own.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable

from core.io.video import Frame


@dataclass(frozen=True)
class Letter:
    """A frame taken from its mailbox.

    Attributes:
        slot: the source's mailbox (the Detect view's tile).
        frame: the frame (image uint8 [H, W, 3] RGB).
        read_time: ``time.perf_counter()`` when it was decoded (for the latency).
        generation: the source it belongs to in its slot.
        dropped: frames of this source replaced before being taken, so far.
    """

    slot: int
    frame: Frame
    read_time: float
    generation: int
    dropped: int


class FrameMailboxes:
    """One single-slot mailbox per source, taken together (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Frame, float, int]] = {}
        self._generation: dict[int, int] = {}
        self._dropped: dict[int, int] = {}
        self._scheduled = False
        self._closed = False

    def put(self, slot: int, frame: Frame, read_time: float, generation: int | None = None) -> bool:
        """Leave ``frame`` in ``slot``'s mailbox, replacing one waiting there (counted as dropped).

        ``generation`` None keeps the slot's current one. Returns True when the consumer is idle and must be woken
        (it was not already told to :meth:`take`); False otherwise, and after :meth:`close`.
        """
        return self.put_many([(slot, frame, read_time, generation)])

    def put_many(self, letters: Iterable[tuple[int, Frame, float, int | None]]) -> bool:
        """:meth:`put` several frames (of different slots) at once: the consumer takes them in one batch."""
        with self._lock:
            if self._closed:
                return False
            for slot, frame, read_time, generation in letters:
                gen = self._generation.get(slot, 0) if generation is None else generation
                if gen != self._generation.get(slot):
                    self._generation[slot], self._dropped[slot] = gen, 0
                elif slot in self._pending:
                    self._dropped[slot] += 1
                self._pending[slot] = (frame, read_time, gen)
            wake = not self._scheduled and bool(self._pending)
            self._scheduled = self._scheduled or wake
            return wake

    def take(self) -> list[Letter]:
        """Every waiting frame, one per slot in slot order, emptying the mailboxes; [] when none waits (the
        consumer is then idle until the next :meth:`put` says to wake it)."""
        with self._lock:
            if not self._pending or self._closed:
                self._scheduled = False
                return []
            letters = [Letter(slot, frame, t, gen, self._dropped[slot])
                       for slot, (frame, t, gen) in sorted(self._pending.items())]
            self._pending.clear()
            return letters

    def is_idle(self) -> bool:
        """True when no frame waits and none is being processed (the consumer found the mailboxes empty)."""
        with self._lock:
            return not self._scheduled

    def forget(self, slot: int) -> None:
        """Drop ``slot``'s waiting frame and counters (its source was closed)."""
        with self._lock:
            self._pending.pop(slot, None)
            self._generation.pop(slot, None)
            self._dropped.pop(slot, None)

    def close(self) -> None:
        """Accept no more frames and drop those waiting."""
        with self._lock:
            self._closed = True
            self._pending.clear()


__all__ = ["FrameMailboxes", "Letter"]
