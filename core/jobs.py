"""The one shape of long-running work in core, shared by the CLI and the GUI.

A job is a plain function that takes keyword arguments ``on_progress`` and ``should_stop``:

    def run_something(..., on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> Result

``on_progress`` receives a :class:`Progress` (immutable, plain numbers) after each step;
``should_stop`` is polled between steps and, when it returns True, the job ends by raising
:class:`Cancelled` (or returns a result marked partial where the partial work is worth keeping,
as its docstring then says). The CLI passes a progress bar and ``None``; the GUI runs the same
function in a worker thread with a Cancel flag (napari's ``create_worker`` shape).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Progress:
    """One step of a job: ``done`` of ``total`` units (``total`` None when unknown, e.g. a camera).

    ``stage`` names the phase for jobs with several ("load", "detect", "evaluate", ...);
    ``detail`` is a short human-readable note (a file name, a warning) and never needs parsing.
    """

    done: int
    total: int | None = None
    stage: str = ""
    detail: str = ""

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or None when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


ProgressFn = Callable[[Any], None]
StopFn = Callable[[], bool]


class Cancelled(RuntimeError):
    """A job stopped because its ``should_stop`` returned True."""


def check_stop(should_stop: StopFn | None, what: str = "stopped") -> None:
    """Raise :class:`Cancelled` with ``what`` when ``should_stop`` says so."""
    if should_stop is not None and should_stop():
        raise Cancelled(what)


def report(on_progress: ProgressFn | None, done: int, total: int | None = None, stage: str = "",
           detail: str = "") -> None:
    """Call ``on_progress`` with a :class:`Progress` when there is one."""
    if on_progress is not None:
        on_progress(Progress(done, total, stage, detail))
