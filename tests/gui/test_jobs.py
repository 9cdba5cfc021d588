"""The generic job worker: a plain function in a QThread, its outcome on the GUI thread, cancel by a flag,
every exception a message; and the Qt-free state events."""
from __future__ import annotations

import subprocess
import sys
import threading
from functools import partial

import pytest
from PySide6.QtCore import QObject

from core.jobs import Progress, check_stop, report
from ssd_gui.jobs import Job, running_jobs
from ssd_gui.state.events import Event


class Receiver(QObject):
    """Collects a job's signals with the thread each arrived on."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: list[tuple[object, str]] = []
        self.finished: list[tuple[object, str]] = []
        self.failed: list[tuple[str, str]] = []

    def on_progress(self, p: object) -> None:
        self.progress.append((p, threading.current_thread().name))

    def on_finished(self, value: object) -> None:
        self.finished.append((value, threading.current_thread().name))

    def on_failed(self, text: str) -> None:
        self.failed.append((text, threading.current_thread().name))


def count_to(n: int, gate: threading.Event | None = None, on_progress=None, should_stop=None) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    for i in range(n):
        if gate is not None:
            gate.wait(5)
        check_stop(should_stop, f"stopped at {i}")
        report(on_progress, i + 1, n, "count")
    return n, threading.current_thread().name


def _start(fn, label: str = "counting") -> tuple[Job, Receiver]:  # type: ignore[no-untyped-def]
    rec = Receiver()
    job = Job(fn, label)
    job.start(finished=rec.on_finished, failed=rec.on_failed, progress=rec.on_progress)
    return job, rec


def test_function_runs_in_its_thread_and_signals_arrive_on_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    job, rec = _start(partial(count_to, 3))
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=10_000)
    (value, worker_thread), gui = rec.finished[0][0], threading.current_thread().name
    assert value == 3 and worker_thread != gui
    assert [p for p, _ in rec.progress] == [Progress(1, 3, "count"), Progress(2, 3, "count"), Progress(3, 3, "count")]
    assert {t for _, t in rec.progress} == {gui} and rec.finished[0][1] == gui
    # `finished` is emitted before `done` is set: the worker, below the GUI thread's priority, may not have
    # run its last line yet when the result arrives
    assert job.wait(30) and not job.cancelled and rec.failed == []
    qtbot.waitUntil(lambda: running_jobs() == 0, timeout=10_000)


def test_an_exception_becomes_a_failed_message_and_the_thread_ends(qtbot) -> None:  # type: ignore[no-untyped-def]
    def broken() -> None:
        raise ValueError("'data.json': field 'width' is not a number")

    job, rec = _start(broken, "reading 'data.json'")
    qtbot.waitUntil(lambda: bool(rec.failed), timeout=10_000)
    assert rec.failed[0][0] == "reading 'data.json' failed: ValueError: 'data.json': field 'width' is not a number"
    assert isinstance(job.error, ValueError) and not job.cancelled and rec.finished == []
    qtbot.waitUntil(lambda: running_jobs() == 0, timeout=10_000)


def test_cancel_is_a_flag_seen_as_should_stop(qtbot) -> None:  # type: ignore[no-untyped-def]
    gate = threading.Event()
    job, rec = _start(partial(count_to, 1000, gate))
    job.cancel()  # before the first step: the function sees it at its first check
    gate.set()
    qtbot.waitUntil(lambda: bool(rec.failed), timeout=10_000)
    assert job.cancelled and job.stop_requested and rec.failed[0][0] == "counting: cancelled (stopped at 0)"
    assert rec.progress == [] and rec.finished == []


def test_a_job_refuses_receivers_that_would_run_on_its_thread() -> None:
    job = Job(partial(count_to, 1))
    with pytest.raises(TypeError, match="bound method of a QObject"):
        job.start(finished=lambda v: None, failed=lambda t: None)
    assert not job.done.wait(0.2)  # nothing was started


def test_events_call_every_listener_and_can_be_blocked() -> None:
    seen: list[object] = []
    event = Event("changed")

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    event.connect(broken)
    event.connect(seen.append)
    with pytest.raises(RuntimeError, match="listener bug"):
        event.emit(1)
    assert seen == [1]  # the second listener still ran
    event.disconnect(broken)
    with event.blocked():
        event.emit(2)
    event.emit(3)
    assert seen == [1, 3]


def test_state_modules_do_not_import_qt() -> None:
    code = ("import sys, pkgutil, importlib, ssd_gui.state as s\n"
            "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('ssd_gui.state.' + m.name)\n"
            "print(sorted(k for k in sys.modules if k.startswith(('PySide6', 'pyqtgraph'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
