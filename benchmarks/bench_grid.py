"""Issue 23, Must-show 2: four 720p videos at 25 fps in the Detect view's grid, one SSDlite320 for all of them.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_grid [--quick] [--seconds S]

Four 1280x720, 25 fps synthetic videos (core.data.synthetic.render_video, seeds 23_001-23_004) are opened
in four tiles of a real DetectView (offscreen) running torchvision's ``ssdlite320_mobilenet_v3_large``
layout with random weights (benchmarks/_models.py: BatchNorm statistics measured on synthetic scenes, so
the scores spread as a trained model's) on the app's default runtime. Rounds alternate: the first tile
playing alone (the reference: one source, batch 1), then all four playing at once (each forward pass takes
the newest frame of every source). Measured per source on the GUI thread: frames read per second (the
reader's pace, which should stay at 25), model results per second, and frames dropped by the mailbox
(frames read that were never detected, because newer ones replaced them); and the longest gap between
ticks of a 5 ms QTimer on the GUI thread (the longest time the window could not react), which must stay
under one frame (40 ms). The machine's load (``os.getloadavg``) and the CPU's vector extensions are
printed with the figures: on a shared machine both move the numbers.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

from benchmarks._common import Row, bench_main, status  # noqa: E402
from benchmarks._models import torchvision_ssdlite  # noqa: E402

FPS = 25
SIZE = (1280, 720)
SOURCES = 4
STALL_LIMIT_S = 1.0 / FPS


def cpu_flags() -> str:
    """The vector extensions that decide OpenVINO's kernels: avx2, avx512f, avx512_vnni / avx_vnni, amx, bf16."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "flags n/a"
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")
    return " ".join(w for w in wanted if w in flags) or "no avx2"


def run(quick: bool = False, seconds: float | None = None) -> list[Row]:
    from PySide6.QtWidgets import QApplication

    from core.data.synthetic import render_video
    from ssd_gui.views.detect_view import DetectView

    app = QApplication.instance() or QApplication([])
    seconds = seconds or (4.0 if quick else 8.0)
    rounds = 1 if quick else 2
    with tempfile.TemporaryDirectory() as tmp:
        videos = [render_video(Path(tmp) / f"cam{k}.mp4", seconds=seconds + 2, fps=FPS, seed=23_001 + k, size=SIZE)
                  for k in range(SOURCES)]
        weights = Path(tmp) / "ssdlite320_random.pth"
        torch.save(torchvision_ssdlite().state_dict(), weights)
        view = DetectView()
        view.resize(1280, 800)
        view.show()
        if not _load(view, weights) or not _open_all(app, view, videos):
            view.shutdown()
            return [Row("19. grid 4 x 720p", "n/a", "n/a", "-", "-", "FAIL", "the model or a video did not open")]
        runtime = view.models.model_label.text()
        alone: list[dict] = []
        grid: list[dict] = []
        for _ in range(rounds):
            alone.append(_play(app, view, [0], seconds))
            grid.append(_play(app, view, list(range(SOURCES)), seconds))
        view.shutdown()
    return _rows(alone, grid, seconds, runtime)


def _load(view, weights: Path) -> bool:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    view.model_changed.connect(lambda *_: loop.quit())
    view.model_failed.connect(lambda *_: loop.quit())
    view.load_model(weights)
    QTimer.singleShot(300_000, loop.quit)
    loop.exec()
    return view.detector is not None


def _open_all(app, view, videos: list[Path]) -> bool:  # type: ignore[no-untyped-def]
    """The first video in the view's tile, the others in new tiles, all paused on their first frame."""
    view.open_source(videos[0], play=False)
    for video in videos[1:]:
        view.open_in_new_tile(video, play=False)
    end = time.monotonic() + 120
    while time.monotonic() < end and not all(t.state.result is not None for t in view.tiles):
        app.processEvents()
        time.sleep(0.01)
    return len(view.tiles) == len(videos) and all(t.state.result is not None for t in view.tiles)


def _play(app, view, playing: list[int], seconds: float) -> dict:  # type: ignore[no-untyped-def]
    """Play tiles ``playing`` from their first frame for ``seconds``; per tile: reads, results, dropped; the ticks;
    the GUI thread's CPU time over the wall time (how busy its own work kept it)."""
    from PySide6.QtCore import QEventLoop, QTimer

    tiles = [view.tiles[i] for i in playing]
    for tile in tiles:
        tile.seek(0)
    _settle(app, 0.5)
    reads: dict[int, list[float]] = {t.slot: [] for t in tiles}
    results: dict[int, list] = {t.slot: [] for t in tiles}
    ticks: list[float] = []
    hooks = [(t.handle.reader.progress, lambda *_, s=t.slot: reads[s].append(time.perf_counter())) for t in tiles]
    for signal, hook in hooks:
        signal.connect(hook)

    def on_result(r) -> None:  # type: ignore[no-untyped-def]
        if r.slot in results:
            results[r.slot].append((time.perf_counter(), r.dropped, r.batch, r.inference_s))

    view.result_shown.connect(on_result)
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    for tile in tiles:
        tile.play()
    done = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), done.quit)
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    done.exec()
    gui_busy = (time.thread_time() - cpu0) / (time.perf_counter() - wall0)
    timer.stop()
    for tile in tiles:
        tile.pause()
    view.result_shown.disconnect(on_result)
    for signal, hook in hooks:
        signal.disconnect(hook)
    _settle(app, 0.5)
    return {"reads": reads, "results": results, "ticks": ticks, "gui_busy": gui_busy}


def _settle(app, s: float) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + s
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def _rate(ts: list[float]) -> float:
    """Events per second between the second event and the last (the first marks the start)."""
    ts = ts[1:]
    return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 2 else 0.0


def _summary(rounds: list[dict]) -> dict:
    """Per source, over the rounds: read rate, result rate, dropped (first to last result) and read; the stall."""
    slots = sorted(rounds[0]["reads"])
    read = {s: sum(_rate(r["reads"][s]) for r in rounds) / len(rounds) for s in slots}
    done = {s: sum(_rate([t for t, *_ in r["results"][s]]) for r in rounds) / len(rounds) for s in slots}
    dropped = {s: sum(r["results"][s][-1][1] - r["results"][s][0][1] for r in rounds if r["results"][s]) for s in slots}
    frames = {s: sum(len(r["reads"][s]) for r in rounds) for s in slots}
    batches = [b for r in rounds for s in slots for _, _, b, _ in r["results"][s]]
    passes = [t for r in rounds for s in slots for _, _, _, t in r["results"][s]]
    gap = max((b - a for r in rounds for a, b in zip(r["ticks"], r["ticks"][1:])), default=float("nan"))
    busy = sum(r["gui_busy"] for r in rounds) / len(rounds)
    return {"read": read, "done": done, "dropped": dropped, "frames": frames, "gap": gap, "busy": busy,
            "batch": sum(batches) / max(1, len(batches)), "pass_s": sorted(passes)[len(passes) // 2] if passes else 0.0}


def _rows(alone: list[dict], grid: list[dict], seconds: float, runtime: str) -> list[Row]:
    a, g = _summary(alone), _summary(grid)
    one = next(iter(a["done"].values()))
    per_source = list(g["done"].values())
    total = sum(per_source)
    load = "load average %.1f %.1f %.1f" % os.getloadavg()
    where = f"{runtime}; CPU {cpu_flags()}; {load}"
    reads = ", ".join(f"{v:.1f}" for v in g["read"].values())
    drops = ", ".join(f"{g['dropped'][s]} of {g['frames'][s]}" for s in g["dropped"])
    return [
        Row("19. grid 4 x 720p: model results per source", " / ".join(f"{v:.1f}" for v in per_source) + " /s",
            f"{one:.1f}/s (1 source)", f"{total / one:.2f}x" if one else "-", ">= 1.0x in all",
            status(one > 0 and total >= one),
            f"4 videos 1280x720 at {FPS} fps playing at once, {len(grid)} x {seconds:g} s, interleaved with the first "
            f"alone; mean batch {g['batch']:.2f} frames per forward pass, a pass {g['pass_s'] * 1e3:.0f} ms "
            f"(alone: {a['pass_s'] * 1e3:.0f} ms); the ratio is all four sources' results per second over one "
            f"source's alone: {where}"),
        Row("19b. grid 4 x 720p: frames read per source", f"{reads} fps", f"{FPS} fps (source)",
            f"{min(g['read'].values()) / FPS:.2f}x", ">= 0.95x", status(min(g["read"].values()) >= 0.95 * FPS),
            f"frames dropped by the mailboxes (read, never detected: a newer frame replaced them): {drops}"),
        Row("19c. grid 4 x 720p: longest GUI-thread stall", f"{g['gap'] * 1e3:.0f} ms",
            f"{a['gap'] * 1e3:.0f} ms (1 source)", "-", f"< {STALL_LIMIT_S * 1e3:.0f} ms (one frame)",
            status(g["gap"] < STALL_LIMIT_S),
            f"longest interval between ticks of a 5 ms QTimer on the GUI thread while the four tiles play and paint; "
            f"the GUI thread's own work took {g['busy']:.0%} of one core (alone: {a['busy']:.0%}): the rest of a stall "
            f"is waiting for a core or the GIL (the detection thread's Python and torch work) on the shared machine"),
    ]


def add_options(ap) -> None:  # type: ignore[no-untyped-def]
    ap.add_argument("--seconds", type=float, default=None, help="seconds of playback per round (default 8, quick 4)")


def main() -> None:
    bench_main(run, __doc__.splitlines()[0], add_options)


if __name__ == "__main__":
    main()
