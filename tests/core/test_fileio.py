"""core.io.fileio: atomic writes keep the previous file on a full disk; JSON never holds NaN."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.io.fileio import (atomic_write, check_output_dir, check_output_file, remove_stale_temps, write_json)
from core.jobs import Cancelled, Progress, check_stop


def test_full_disk_keeps_the_previous_file(full_disk) -> None:  # type: ignore[no-untyped-def]
    folder = full_disk.folder
    target = folder / "results.json"
    write_json(target, {"images": [1, 2, 3]})
    before = target.read_bytes()
    full_disk.fill()
    with pytest.raises(OSError, match="no space left on device.*previous version is intact"):
        write_json(target, {"images": list(range(100_000))})
    assert target.read_bytes() == before
    assert json.loads(before) == {"images": [1, 2, 3]}
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_non_finite_numbers_are_refused_with_their_place(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"images\[0\]\.score = nan"):
        write_json(tmp_path / "d.json", {"images": [{"score": float("nan")}]})
    assert not (tmp_path / "d.json").exists()


def test_output_checks_before_the_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a folder"):
        check_output_file(tmp_path, "detections JSON")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(ValueError, match="exists"):
        check_output_file(tmp_path / "f", overwrite=False)
    assert check_output_file(tmp_path / "a" / "b.json") == tmp_path / "a" / "b.json"
    assert (tmp_path / "a").is_dir() and not list((tmp_path / "a").iterdir())


def test_interrupted_write_leaves_the_old_file_and_stale_temps_are_cleaned(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "m.csv", "a,b\n")

    class Boom(Exception):
        pass

    from core.io.fileio import atomic_path
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise Boom
    assert target.read_text() == "a,b\n"
    (tmp_path / ".m.csv.abc.tmp").write_bytes(b"")  # what a SIGKILL mid-write leaves
    assert remove_stale_temps(tmp_path, "m.csv") == [tmp_path / ".m.csv.abc.tmp"]
    assert target.exists()


def test_progress_and_cancel() -> None:
    assert Progress(3, 4).fraction == 0.75 and Progress(3, None).fraction is None
    check_stop(lambda: False)
    with pytest.raises(Cancelled, match="after 2 frames"):
        check_stop(lambda: True, "after 2 frames")


_KILLED_WRITER = """
import sys, time
import numpy as np
from core.io.video_writer import VideoWriter
w = VideoWriter(sys.argv[1], 10.0, (64, 48))
for i in range(5):
    w.write(np.full((48, 64, 3), 40 * i, np.uint8))
print("writing", flush=True)
time.sleep(120)
"""


def _kill_mid_video(target: Path) -> None:
    """A real process writing ``target`` through core.io.video_writer, SIGKILLed mid-video."""
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_a_killed_video_write_leaves_temps_that_are_cleaned(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from core.io.video_writer import VideoWriter

    target = tmp_path / "clip.mp4"
    with VideoWriter(target, 10.0, (64, 48)) as w:
        for _ in range(3):
            w.write(np.zeros((48, 64, 3), np.uint8))
    before = target.read_bytes()
    (tmp_path / "notes.tmp.mp4").write_bytes(b"the user's")  # not ours: never removed
    (tmp_path / ".hidden.txt").write_bytes(b"the user's")

    _kill_mid_video(target)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".clip.mp4."))
    assert len(left) == 2 and left[0].endswith(".tmp") and left[1] == left[0] + ".mp4"  # atomic_path's + OpenCV's
    assert target.read_bytes() == before
    assert sorted(p.name for p in remove_stale_temps(tmp_path)) == left
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden.txt", "clip.mp4", "notes.tmp.mp4"]

    _kill_mid_video(target)  # again: the next writer of the same file cleans up after the killed one
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".clip.mp4.")]) == 2
    with VideoWriter(target, 10.0, (64, 48)) as w:
        assert len([p for p in tmp_path.iterdir() if p.name.startswith(".clip.mp4.")]) == 2  # its own, at work
        w.write(np.zeros((48, 64, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden.txt", "clip.mp4", "notes.tmp.mp4"]
    cap = cv2.VideoCapture(str(target))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 1
    cap.release()
