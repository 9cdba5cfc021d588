"""Issue 20: a labelling run's memory stays flat: peak RSS of `ssd pseudo-label` at 1,000 and 10,000 frames.

    .venv/bin/python -m benchmarks.bench_pseudo_label_memory [--quick] [--teacher W] [--frames 1000,10000]

Each run is a real `ssd pseudo-label VIDEO --teacher W --format yolo` process on a video of that many frames
(320x240, 250 distinct synthetic scenes repeated), and its peak resident memory is what the kernel reports
for that child alone (``os.wait4``'s ``ru_maxrss``). The pipeline holds one batch of frames at a time and
only the frame ids besides, so the peak may not grow with the frame count: the row passes when the
10,000-frame run peaks within 10 % of the 1,000-frame run (a run that kept its frames would hold
another 2 GB of pixels at 10,000). ``--quick``: 200 and 2,000 frames.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, bench_main, status

FRAMES = (1_000, 10_000)
QUICK_FRAMES = (200, 2_000)
SIZE = (320, 240)
#: Flat: the larger run may peak at most this much above the smaller one.
MAX_GROWTH = 1.10


def write_video(path: Path, frames: int, distinct: int = 250) -> Path:
    """An MP4 of ``frames`` frames of synthetic shape scenes (``distinct`` of them, repeated)."""
    import cv2

    from core.data.scenes import render_scene

    scenes = [cv2.cvtColor(render_scene(11, i, SIZE)[0], cv2.COLOR_RGB2BGR) for i in range(min(distinct, frames))]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, SIZE)
    for i in range(frames):
        writer.write(scenes[i % len(scenes)])
    writer.release()
    return path


def measure(video: Path, out: Path, teacher: str = "demo", batch_size: int = 8) -> dict[str, float]:
    """Run `ssd pseudo-label` on ``video`` in a child process: its peak RSS (MiB), wall time and frames labelled.

    Raises:
        RuntimeError: the command failed (its last lines of output are in the message).
    """
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "core.cli", "pseudo-label", str(video), "--teacher", teacher, "--out", str(out),
           "--format", "yolo", "--batch-size", str(batch_size), "--runtime", "torch", "--quiet"]
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, code, usage = os.wait4(proc.pid, 0)  # this child's own resource usage, not the other runs'
        proc.returncode = os.waitstatus_to_exitcode(code)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"ssd pseudo-label exited {proc.returncode}: {log.read()[-600:].decode(errors='replace')}")
    labelled = sum(1 for _ in (out / "labels").glob("*.txt"))
    return {"peak_rss_mib": usage.ru_maxrss / 1024.0, "seconds": seconds, "frames": float(labelled)}


def run(quick: bool = False, teacher: str = "demo", frames: str | None = None) -> list[Row]:
    counts = tuple(int(n) for n in frames.split(",")) if frames else (QUICK_FRAMES if quick else FRAMES)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            video = write_video(Path(tmp) / f"clip_{n}.mp4", n)
            results[n] = measure(video, Path(tmp) / f"labels_{n}", teacher)
            video.unlink()
    rows = []
    small = results[counts[0]]
    for n in counts:
        r = results[n]
        ok = r["frames"] == n
        rows.append(Row(f"16. pseudo-label {n:,} frames: peak RSS", f"{r['peak_rss_mib']:.0f} MiB", "-",
                        "-", "(info)", "info" if ok else "FAIL",
                        f"teacher {teacher}, YOLO output, {r['frames']:.0f} frames labelled in {r['seconds']:.0f} s "
                        f"({r['frames'] / max(r['seconds'], 1e-9):.1f} frames/s, process start and teacher load "
                        f"included)"))
    large = results[counts[-1]]
    growth = large["peak_rss_mib"] / small["peak_rss_mib"]
    rows.append(Row(f"16b. peak RSS, {counts[-1]:,} / {counts[0]:,} frames", f"{large['peak_rss_mib']:.0f} MiB",
                    f"{small['peak_rss_mib']:.0f} MiB", f"{growth:.2f}x", f"<= {MAX_GROWTH:.2f}x",
                    status(growth <= MAX_GROWTH), "memory flat: one batch of frames held, whatever the run's length"))
    return rows


def add_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--teacher", default="demo", help="the teacher model (default: the demo model)")
    ap.add_argument("--frames", default=None, help="comma-separated frame counts (default 1000,10000)")


if __name__ == "__main__":
    bench_main(run, __doc__.splitlines()[0], add_options)
