"""Target 6: the Detect view on a 720p video with a model slower than the video.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_video [--quick]

A 1280x720, 25 fps synthetic video is rendered with core.data.synthetic.render_video; the GUI
engineer's DetectView (ssd_gui/views/detect_view.py) loads a full-size SSD300 (torchvision's
layout, random weights, several hundred ms per frame here) and plays the file offscreen.
Measured on the GUI thread: frames read per second (the reader's pace, which should equal the source
rate), results displayed per second (bounded by the model), and the longest gap between ticks of a
5 ms QTimer, i.e. the longest time the GUI thread could not react. The file is then played again with
the demo model (real shapes to track, many results a second), once with tracking off and once on with a
counting line across the frame (row 6c): the tracker, the line counter, the ids and trails run on the GUI
thread with every result.
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
        if not _load(view, weights):
            return [Row("6. video 720p: GUI stall", "n/a", "n/a", "n/a", "source fps", "FAIL", "model did not load")]
        reads, shown, ticks = _play(app, view, video, seconds)
        model_s = float(view.state.model_time.value or float("nan"))
        tracking_row = _tracking_row(app, view, video, seconds, 1 if quick else 2)
        view.close()

    def rate(ts: list[float]) -> float:
        ts = ts[1:]  # the first one marks the start
        return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 2 else 0.0

    gap = max((b - a for a, b in zip(ticks, ticks[1:])), default=float("nan"))
    read_fps, shown_fps = rate(reads), rate(shown)
    return [
        Row("6. video 720p: frames read per s", f"{read_fps:.1f} fps", f"{FPS} fps (source)",
            f"{read_fps / FPS:.2f}x", ">= 0.95x", status(read_fps >= 0.95 * FPS),
            f"{seconds} s of playback, {len(reads)} frames read, {len(shown)} results displayed "
            f"({shown_fps:.1f}/s, bounded by the model; model ~{model_s:.2f} s/frame)"),
        Row("6b. video 720p: longest GUI-thread stall", f"{gap * 1e3:.0f} ms", "5 ms timer", "-",
            f"< {1000 / FPS:.0f} ms (one frame)", status(gap < 1.0 / FPS),
            "longest interval between ticks of a 5 ms QTimer on the GUI thread while playing"),
        tracking_row,
    ]


def _load(view, weights: Path | str) -> bool:  # type: ignore[no-untyped-def]
    """Load a model into the view and wait for it; False when it failed."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    view.model_changed.connect(lambda *_: loop.quit())
    view.model_failed.connect(lambda *_: loop.quit())
    view.load_demo_model() if weights == "demo" else view.load_model(weights)
    QTimer.singleShot(120_000, loop.quit)
    loop.exec()
    return view.detector is not None and (weights != "demo" or "demo" in str(view.detector.weights_path))


def _tracking_row(app, view, video: Path, seconds: float, rounds: int = 2) -> Row:  # type: ignore[no-untyped-def]
    """Row 6c: the demo model's playback with tracking off and on (and a counting line), alternating ``rounds``
    times each; the tracker's own time per result on the GUI thread is timed too."""
    from core.tracking import CountingLine

    if not _load(view, "demo"):
        return Row("6c. video 720p: GUI stall, tracking on", "n/a", "n/a", "-", "one frame", "FAIL", "no demo model")
    live, spent = view.state.tracks, []
    update = live.update

    def timed(*args):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        out = update(*args)
        spent.append(time.perf_counter() - t0)
        return out

    live.update = timed
    gaps: dict[bool, list[float]] = {False: [], True: []}
    shown = {False: 0, True: 0}
    for _ in range(rounds):
        for on in (False, True):
            view.state.set_tracking(on)
            view.state.set_counting_line(CountingLine((640, 0), (640, 720)) if on else None)
            _, results, ticks = _play(app, view, video, seconds)
            gaps[on] += [b - a for a, b in zip(ticks, ticks[1:])]
            shown[on] += len(results)
    off, on = max(gaps[False], default=float("nan")), max(gaps[True], default=float("nan"))
    per = sorted(spent) or [float("nan")]
    return Row("6c. video 720p: longest GUI-thread stall, tracking on", f"{on * 1e3:.0f} ms",
               f"{off * 1e3:.0f} ms (off)", "-", f"< {1000 / FPS:.0f} ms (one frame)", status(on < 1.0 / FPS),
               f"the demo model on the same video, tracking off and on alternating ({rounds} x {seconds:g} s each): "
               f"{shown[True]} results tracked on the GUI thread ({shown[False]} with tracking off); the tracker and "
               f"line counter take {per[len(per) // 2] * 1e3:.1f} ms a result (median), {per[-1] * 1e3:.1f} ms at most")


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
