"""One-shot background work: a plain function run once in its own QThread (napari's ``create_worker``).

:class:`Job` is the only one-shot worker of the GUI. It calls a function, usually from core, with
the job's own ``on_progress`` and ``should_stop`` when the function takes them (``core.jobs``'s
shape), and reports with three signals:

* ``progress(object)``: whatever the function passed to ``on_progress`` (a ``core.jobs.Progress``,
  a ``TrainProgress``, ...);
* ``finished(object)``: the function's return value;
* ``failed(str)``: a message naming what was being done and why it failed. Every exception becomes
  this signal, never a dead thread; :attr:`Job.cancelled` tells a cancellation (``core.jobs.Cancelled``
  or a subclass) from an error.

Cancelling sets a flag that the function sees through ``should_stop``; the thread is never
terminated. Threads have no QObject parent and live in a module registry until they end, so a
widget deleted while its job runs cannot take a running thread with it (a crash).

Threading notes (PySide6):

* Connect the signals to bound methods of QObjects that live on the GUI thread (``Job.start``
  refuses anything else): a lambda or a plain function would run on the job's thread and touch
  widgets from there.
* A slot that overrides a base-class slot is called on the *sender's* thread, not the receiver's:
  a worker subclass overriding ``run`` would run on the GUI thread and freeze it. :class:`Job` is
  therefore never subclassed; what varies is the function it is given.
"""
from __future__ import annotations

import inspect
import os
import sys
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from core.jobs import Cancelled
from core.weights.download import DownloadCancelled

# Cancellation exceptions of core that predate core.jobs.Cancelled.
_CANCELLED: tuple[type[BaseException], ...] = (Cancelled, DownloadCancelled)
try:  # the evaluation runner's own cancellation, while it still has one
    from core.evaluation.run import EvaluationCancelled

    _CANCELLED += (EvaluationCancelled,)
except ImportError:  # pragma: no cover - moved into core.jobs.Cancelled
    pass


#: How many nice levels below the GUI thread the app's worker threads run (Linux): a worker that keeps every core
#: busy (the model on a video, a training) is preempted as soon as the GUI thread has an event to handle.
WORKER_NICENESS = 10


def lower_thread_priority(steps: int = WORKER_NICENESS) -> None:
    """Lower the calling thread's CPU priority by ``steps`` nice levels (Linux only; elsewhere nothing).

    Called at the start of every worker thread (connected to ``QThread.started`` directly, so it runs in the
    new thread). Linux keeps a nice value per thread, and the threads a worker starts (the OpenMP threads of
    its PyTorch calls, OpenVINO's) inherit it, so the model's computation yields to the GUI thread instead
    of sharing the cores with it evenly. A thread's priority can always be lowered without privileges; a
    refusal (a sandbox) leaves it as it was.
    """
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except OSError:
        pass


def _takes(fn: Callable[..., Any]) -> frozenset[str]:
    """Which of ``on_progress`` / ``should_stop`` ``fn`` accepts and has not had bound by a partial."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return frozenset()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        names = frozenset({"on_progress", "should_stop"})
    else:
        names = frozenset(params) & {"on_progress", "should_stop"}
    return names - set(getattr(fn, "keywords", None) or {})


class Job(QObject):
    """``fn()`` in a thread of its own, started by :meth:`start`.

    Args:
        fn: the work; bind its arguments with ``functools.partial``. It is given ``on_progress``
            and ``should_stop`` when its signature has them (unless already bound).
        label: what the job does, for the failure message ("loading model 'x.pt'").

    Attributes:
        done: a ``threading.Event`` set when ``fn`` has returned or raised, whatever the outcome,
            so a caller can wait for the work without touching the QThread.
        cancelled: True when ``fn`` ended by a cancellation exception.
        error: the exception ``fn`` raised, if any.
    """

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[..., Any], label: str = "") -> None:
        super().__init__()
        self.fn = fn
        self.label = label or getattr(fn, "__name__", "background job")
        self._stop = threading.Event()
        self.done = threading.Event()
        self.cancelled = False
        self.error: BaseException | None = None

    # ---------------------------------------------------------------- any thread
    def cancel(self) -> None:
        """Ask ``fn`` to stop at its next ``should_stop`` check."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until ``fn`` has ended; True if it did within ``timeout_s``."""
        return self.done.wait(timeout_s)

    # ---------------------------------------------------------------- GUI thread
    def start(self, *, finished: Callable[[Any], None], failed: Callable[[str], None],
              progress: Callable[[Any], None] | None = None) -> "Job":
        """Connect the outcome to GUI-thread slots and run ``fn`` in a new thread.

        Raises:
            TypeError: a receiver is not a bound method of a QObject (it would run on the job's thread).
        """
        for name, slot in (("finished", finished), ("failed", failed), ("progress", progress)):
            if slot is None:
                continue
            owner = getattr(slot, "__self__", None)
            if not isinstance(owner, QObject):
                raise TypeError(f"Job.start({name}=...) needs a bound method of a QObject on the GUI thread, "
                                f"got {slot!r}")
            getattr(self, name).connect(slot)
        _registry().start(self)
        return self

    # ---------------------------------------------------------------- the job's thread
    @Slot()
    def run(self) -> None:
        kwargs: dict[str, Any] = {}
        takes = _takes(self.fn)
        if "on_progress" in takes:
            kwargs["on_progress"] = self.progress.emit
        if "should_stop" in takes:
            kwargs["should_stop"] = self._stop.is_set
        try:
            try:
                result = self.fn(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - every failure becomes a message in the window
                self.error = exc
                self.cancelled = isinstance(exc, _CANCELLED)
                self.failed.emit(self.describe(exc))
            else:
                self.finished.emit(result)
        finally:
            # After the emit: once ``done`` is set, the outcome is already queued for the GUI thread.
            self.done.set()

    def describe(self, exc: BaseException) -> str:
        """The failure message: what was being done, then the exception."""
        if isinstance(exc, _CANCELLED):
            return f"{self.label}: cancelled" + (f" ({exc})" if str(exc) else "")
        return f"{self.label} failed: {type(exc).__name__}: {exc}"


class _Registry(QObject):
    """Owns each job's QThread until it ends; lives on the GUI thread, so the clean-up runs there."""

    def __init__(self) -> None:
        super().__init__()
        self._running: dict[QThread, Job] = {}

    def start(self, job: Job) -> None:
        thread = QThread()
        thread.setObjectName(f"ssd-job: {job.label}"[:60])
        job.moveToThread(thread)
        thread.started.connect(lower_thread_priority, Qt.ConnectionType.DirectConnection)
        thread.started.connect(job.run)
        # Direct: QThread.quit is thread-safe, and a queued call would wait for the GUI loop.
        job.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        job.failed.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._reap)
        self._running[thread] = job
        thread.start()

    @Slot()
    def _reap(self) -> None:
        thread = self.sender()
        if isinstance(thread, QThread) and thread in self._running:
            thread.wait()
            del self._running[thread]
            thread.deleteLater()

    def cancel_and_wait(self, timeout_ms: int) -> None:
        for thread, job in list(self._running.items()):
            job.cancel()
            thread.wait(timeout_ms)

    def __len__(self) -> int:
        return len(self._running)


_REGISTRY: _Registry | None = None


def _registry() -> _Registry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _Registry()
    return _REGISTRY


def wait_for_jobs(timeout_ms: int = 10_000) -> None:
    """Cancel every running job and wait for its thread (used when the window closes)."""
    if _REGISTRY is not None:
        _REGISTRY.cancel_and_wait(timeout_ms)


def running_jobs() -> int:
    """Number of jobs whose thread has not been cleaned up yet."""
    return 0 if _REGISTRY is None else len(_REGISTRY)
