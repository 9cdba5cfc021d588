"""The app's worker threads run below the GUI thread's CPU priority (Linux keeps a nice value per thread), and
so do the threads their PyTorch calls start: a model that keeps every core busy yields to the GUI thread
(benchmark rows 6b/6c: the longest GUI-thread stall while a video plays)."""
from __future__ import annotations

import glob
import os
import sys
import threading

import pytest
import torch
from PySide6.QtCore import QTimer

from ssd_gui.jobs import WORKER_NICENESS, Job
from ssd_gui.live import LivePipeline
from tests.gui.test_jobs import Receiver

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def _nice(tid: int | None = None) -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id() if tid is None else tid)


def _expected() -> int:
    return min(19, _nice() + WORKER_NICENESS)


def _threads_nice() -> dict[int, int]:
    """Every thread of this process: its id and nice value (field 19 of /proc/self/task/TID/stat)."""
    out = {}
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/stat"):
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[int(path.split("/")[-2])] = int(fields[16])
    return out


def test_a_job_runs_below_the_gui_thread_and_so_do_the_threads_its_torch_calls_start(qtbot) -> None:  # type: ignore[no-untyped-def]
    assert WORKER_NICENESS > 0
    before = set(_threads_nice())

    def work() -> tuple[int, int, dict[int, int]]:
        torch.set_num_threads(2)
        for _ in range(3):  # a parallel convolution: PyTorch starts its intra-op threads from this thread
            torch.nn.functional.conv2d(torch.randn(1, 32, 96, 96), torch.randn(32, 32, 3, 3)).sum()
        return threading.get_native_id(), _nice(), _threads_nice()

    gui_nice = _nice()
    receiver = Receiver()
    job = Job(work, "priority").start(finished=receiver.on_finished, failed=receiver.on_failed)
    qtbot.waitUntil(lambda: bool(receiver.finished or receiver.failed), timeout=20_000)
    assert not receiver.failed, receiver.failed
    (tid, nice, threads), _ = receiver.finished[0]
    # `finished` is emitted before `done` is set (jobs.py): the GUI thread may see the result while the
    # worker, below its priority on a busy machine, has not yet run its last line.
    assert job.wait(30)
    assert tid != threading.get_native_id() and nice == _expected()
    started = {t: n for t, n in threads.items() if t not in before and t != tid}
    assert started and all(n == _expected() for n in started.values()), started
    assert _nice() == gui_nice == _threads_nice()[threading.get_native_id()]  # the GUI thread kept its own


def test_the_detection_and_reader_threads_run_below_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    gui_nice = _nice()
    pipeline = LivePipeline()
    try:
        seen: dict[str, int] = {}
        QTimer.singleShot(0, pipeline.detection, lambda: seen.__setitem__("detection", _nice()))
        QTimer.singleShot(0, pipeline.reader, lambda: seen.__setitem__("reader", _nice()))
        qtbot.waitUntil(lambda: len(seen) == 2, timeout=10_000)
        assert seen == {"detection": _expected(), "reader": _expected()}
        assert _nice() == gui_nice
    finally:
        pipeline.shutdown()
