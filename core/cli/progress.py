"""A plain text progress bar on stderr, shared by the subcommands."""
from __future__ import annotations

import sys


class ProgressBar:
    """A plain text progress bar on stderr (no dependency); ``total`` None shows a counter."""

    def __init__(self, label: str, total: int | None, enabled: bool = True, width: int = 30) -> None:
        import time

        self.label, self.total, self.enabled, self.width = label, total, enabled, width
        self.n, self._t0, self._last = 0, time.monotonic(), 0.0

    def update(self, k: int = 1, suffix: str = "") -> None:
        import time

        self.n += k
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and self.n != self.total):
            return
        self._last = now
        rate = self.n / max(now - self._t0, 1e-9)
        if self.total:
            frac = min(1.0, self.n / self.total)
            fill = int(frac * self.width)
            eta = (self.total - self.n) / rate if rate > 0 else 0.0
            line = (f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {self.n}/{self.total} "
                    f"{rate:.1f}/s eta {eta:.0f}s {suffix}")
        else:
            line = f"\r{self.label} {self.n} {rate:.1f}/s {suffix}"
        sys.stderr.write(line)
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.n:
            sys.stderr.write("\n")
            sys.stderr.flush()
