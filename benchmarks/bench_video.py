"""Target 6: the Detect view on a 720p video with a model slower than the video.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_video [--quick]

A 1280x720, 25 fps synthetic video is rendered with core.data.synthetic.render_video; the GUI
engineer's DetectView (ssd_gui/views/detect_view.py) loads a full-size SSD300 (torchvision's
layout, random weights, several hundred ms per frame here) and plays the file offscreen.
Measured on the GUI thread: frames read per second (the reader's pace, which should equal the source
rate), results displayed per second (bounded by the model), and the longest gap between ticks of a
5 ms QTimer, i.e. the longest time the GUI thread could not react. The file is then played again with
tracking on and a counting line across the frame (row 6c): the tracker, the line counter, the ids and
trails run on the GUI thread with every result.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

from benchmarks._common import Row, bench_main, status  # noqa: E402
from benchmarks._models import torchvision_ssd300  # noqa: E402

FPS = 25


def run(quick: bool = False) -> list[Row]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from core.data.synthetic import render_video
    from ssd_gui.views.detect_view import DetectView

    app = QApplication.instance() or QApplication([])
    seconds = 4 if quick else 10
    with tempfile.TemporaryDirectory() as tmp:
        video = render_video(Path(tmp) / "bench_720p.mp4", seconds=seconds + 2, fps=FPS, seed=5, size=(1280, 720))
        weights = Path(tmp) / "ssd300_random.pth"
        torch.save(torchvision_ssd300().state_dict(), weights)

        view = DetectView()
        view.resize(1280, 800)
        view.show()
        loop = QEventLoop()
        view.model_changed.connect(lambda *_: loop.quit())
        view.model_failed.connect(lambda *_: loop.quit())
        view.load_model(weights)
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()
        if view.detector is None:
            return [Row("6. video 720p: GUI stall", "n/a", "n/a", "n/a", "source fps", "FAIL", "model did not load")]

        reads, shown, ticks = _play(app, view, video, seconds)
        from core.tracking import CountingLine

        view.state.set_tracking(True)
        view.state.set_counting_line(CountingLine((640, 0), (640, 720)))
        _, shown_t, ticks_t = _play(app, view, video, seconds)
        tracked = len(view.state.tracks.counts())
        view.close()

    def rate(ts: list[float]) -> float:
        ts = ts[1:]  # the first one marks the start
        return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 2 else 0.0

    gap = max((b - a for a, b in zip(ticks, ticks[1:])), default=float("nan"))
    gap_t = max((b - a for a, b in zip(ticks_t, ticks_t[1:])), default=float("nan"))
    read_fps, shown_fps = rate(reads), rate(shown)
    model_s = float(view.state.model_time.value or float("nan"))
    return [
        Row("6. video 720p: frames read per s", f"{read_fps:.1f} fps", f"{FPS} fps (source)",
            f"{read_fps / FPS:.2f}x", ">= 0.95x", status(read_fps >= 0.95 * FPS),
            f"{seconds} s of playback, {len(reads)} frames read, {len(shown)} results displayed "
            f"({shown_fps:.1f}/s, bounded by the model; model ~{model_s:.2f} s/frame)"),
        Row("6b. video 720p: longest GUI-thread stall", f"{gap * 1e3:.0f} ms", "5 ms timer", "-",
            f"< {1000 / FPS:.0f} ms (one frame)", status(gap < 1.0 / FPS),
            "longest interval between ticks of a 5 ms QTimer on the GUI thread while playing"),
        Row("6c. video 720p: longest GUI-thread stall, tracking on", f"{gap_t * 1e3:.0f} ms", "5 ms timer", "-",
            f"< {1000 / FPS:.0f} ms (one frame)", status(gap_t < 1.0 / FPS),
            f"the same playback with tracking and a counting line: {len(shown_t)} results tracked on the GUI "
            f"thread, tracks of {tracked} classes (the model's random weights give hundreds of boxes a frame)"),
    ]


def _play(app, view, video: Path,  # type: ignore[no-untyped-def]
          seconds: float) -> tuple[list[float], list[float], list[float]]:
    """Play ``video`` for ``seconds``: the times of the frames read, the results shown, a 5 ms timer's ticks."""
    from PySide6.QtCore import QEventLoop, QTimer

    reads: list[float] = []
    shown: list[float] = []
    ticks: list[float] = []
    on_read, on_shown = (lambda *_: reads.append(time.perf_counter())), (lambda *_: shown.append(time.perf_counter()))
    view.pipeline.reader.progress.connect(on_read)
    view.result_shown.connect(on_shown)
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    view.open_source(str(video), play=True)
    done = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), done.quit)
    done.exec()
    timer.stop()
    view.pause()
    app.processEvents()
    view.pipeline.reader.progress.disconnect(on_read)
    view.result_shown.disconnect(on_shown)
    return reads, shown, ticks


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
