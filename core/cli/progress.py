"""What the subcommands share on the terminal: a plain text progress bar on stderr, and SIGTERM
handled as Ctrl-C."""
from __future__ import annotations

import contextlib
import signal
import sys
import time
from typing import Any, Iterator


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block a SIGTERM (``kill``, a session ending) raises ``KeyboardInterrupt`` as Ctrl-C does,
    so the work is wound up the same way (frames done saved, temporaries removed) instead of the
    process vanishing mid-write. The previous handler is back afterwards."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class ProgressBar:
    """A plain text progress bar on stderr (no dependency); ``total`` None shows a counter.

    The rate (and the ETA from it) is measured from the first :meth:`update` on: the work before
    it (loading a model, building a dataset, the first step's warm-up) and the units already done
    when the bar starts (``start``, e.g. a resumed run's iterations) would make the first lines'
    rate meaningless, so no rate is shown until a second update.
    """

    def __init__(self, label: str, total: int | None, enabled: bool = True, width: int = 30, start: int = 0) -> None:
        self.label, self.total, self.enabled, self.width = label, total, enabled, width
        self.n = start
        self._first: tuple[float, int] | None = None  # (time, n) of the first update
        self._last = 0.0

    @property
    def started(self) -> bool:
        """True once :meth:`update` has been called (a line is on the screen)."""
        return self._first is not None

    def rate(self, now: float | None = None) -> float | None:
        """Units per second since the first update, or None before there is an interval to measure."""
        if self._first is None:
            return None
        t0, n0 = self._first
        now = time.monotonic() if now is None else now
        if self.n <= n0 or now <= t0:
            return None
        return (self.n - n0) / (now - t0)

    def update(self, k: int = 1, suffix: str = "") -> None:
        self.n += k
        now = time.monotonic()
        if self._first is None:
            self._first = (now, self.n)
        if not self.enabled or (now - self._last < 0.1 and self.n != self.total and self._last):
            return
        self._last = now
        rate = self.rate(now)
        speed = "–/s" if rate is None else f"{rate:.1f}/s"
        if self.total:
            frac = min(1.0, self.n / self.total)
            fill = int(frac * self.width)
            eta = "–" if rate is None else f"{(self.total - self.n) / rate:.0f}s"
            line = (f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {self.n}/{self.total} "
                    f"{speed} eta {eta} {suffix}")
        else:
            line = f"\r{self.label} {self.n} {speed} {suffix}"
        sys.stderr.write(line)
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self._first is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()
