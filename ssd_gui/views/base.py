"""What every tab has in common: a message banner, ``show_error``, its background jobs and a clean shutdown."""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import QWidget

from ssd_gui.jobs import Job
from ssd_gui.widgets.message_banner import MessageBanner


class View(QWidget):
    """Base of the Detect, Train and Evaluate views.

    A view is handed its Qt-free state object, builds its sub-widgets on it, and talks to the rest
    of the window only through signals that the main window connects (it never looks the window
    up). ``message`` goes to the status bar.
    """

    message = Signal(str, str)  # text, "error" or "info"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = MessageBanner(self)
        self._jobs: set[Job] = set()
        self._shut_down = False

    # ---------------------------------------------------------------- messages
    def show_error(self, text: str, topic: str = "") -> None:
        """Show ``text`` in the banner and the status bar; the view keeps working."""
        self.banner.show_message(text, "error", topic)
        self.message.emit(text, "error")

    def show_info(self, text: str, topic: str = "") -> None:
        """A notice in the banner and the status bar."""
        self.banner.show_message(text, "info", topic)
        self.message.emit(text, "info")

    def say(self, text: str) -> None:
        """A passing note in the status bar only."""
        self.message.emit(text, "info")

    # ---------------------------------------------------------------- jobs
    def run_job(self, fn: Callable[..., Any], label: str, *, finished: Callable[[Any], None],
                failed: Callable[[str], None], progress: Callable[[Any], None] | None = None) -> Job:
        """Run ``fn`` in a :class:`ssd_gui.jobs.Job`; it is cancelled and awaited at :meth:`shutdown`."""
        job = Job(fn, label)
        self._jobs.add(job)
        job.finished.connect(self._forget_job)
        job.failed.connect(self._forget_job)
        return job.start(finished=finished, failed=failed, progress=progress)

    def _forget_job(self, *_: object) -> None:
        job = self.sender()
        if isinstance(job, Job):
            self._jobs.discard(job)

    def running_jobs(self) -> list[Job]:
        return [j for j in self._jobs if not j.done.is_set()]

    # ---------------------------------------------------------------- the window's hooks
    def menu_actions(self) -> list[QAction]:
        """Entries of the main window's menu named after the view."""
        return []

    def is_busy(self) -> bool:
        """True while work runs that closing the window would interrupt."""
        return False

    def shutdown(self) -> None:
        """Cancel the view's jobs and join its threads (the window calls this when it closes)."""
        if self._shut_down:
            return
        self._shut_down = True
        for job in list(self._jobs):
            job.cancel()
        for job in list(self._jobs):
            job.wait(30.0)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)
