"""The compiled loops of the postprocess (core/ssd/kernels.py) on a read-only installation.

Numba caches compiled code in the module's ``__pycache__`` or else the user's cache folder; where neither
can be written (a read-only install run by a user without a writable home, e.g. a read-only container) it
refuses ``cache=True`` when the module is imported, which stopped every import of the postprocess. The
module is copied onto a read-only file system (a tmpfs remounted read-only, where this machine lets us
mount one: root on Linux; elsewhere Numba's own setting that leaves it no cache folder) and imported there by
a real Python process with no writable home: it imports, compiles in memory and gives the same answers.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import core.ssd.kernels as kernels

CHILD = """
import json, sys
import numpy as np
import kernels
boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
classes = np.array([0, 0, 0, 1], np.int64)
keep = kernels.nms_small_classes(boxes, classes, np.ones(4, bool), 0.5, 100)[0]
print(json.dumps({"keep": keep.tolist()}))
"""


def _read_only_folder(tmp_path: Path) -> tuple[Path, bool]:
    """A folder holding a copy of kernels.py (and an empty home) on a read-only tmpfs where one can be mounted."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    mounted = shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode == 0
    _fill(mnt)
    if mounted and subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode != 0:
        subprocess.run(["umount", str(mnt)], capture_output=True)  # no read-only remount: the plain folder instead
        return _fill(mnt), False
    return mnt, mounted


def _fill(mnt: Path) -> Path:
    """``mnt`` with a copy of kernels.py and an empty home folder."""
    shutil.copy2(kernels.__file__, mnt / "kernels.py")
    (mnt / "home").mkdir()
    return mnt


def test_the_compiled_loops_import_and_run_where_nothing_can_be_cached(tmp_path: Path) -> None:
    folder, real = _read_only_folder(tmp_path)
    try:
        if real:
            try:  # the file system really refuses writes, root included
                (folder / "probe").write_text("x")
                raise AssertionError("the tmpfs is writable")
            except OSError:
                pass
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
        env.update(PYTHONPATH=str(folder), HOME=str(folder / "home"), XDG_CACHE_HOME=str(folder / "home" / ".cache"),
                   PYTHONDONTWRITEBYTECODE="1")
        if not real:  # Numba's own switch: the only locator left applies to modules inside zip files
            env["NUMBA_CACHE_LOCATOR_CLASSES"] = "ZipCacheLocator"
        r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
        # box 1 overlaps box 0 (IoU 0.81) and goes; box 2 is apart; box 3 is another class
        assert out["keep"] == [True, False, True, True]
        want = kernels.nms_small_classes(np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]],
                                                  np.float32), np.array([0, 0, 0, 1], np.int64), np.ones(4, bool),
                                         0.5, 100)[0]
        assert out["keep"] == want.tolist()
        assert sorted(p.name for p in folder.iterdir()) == ["home", "kernels.py"]  # nothing was written there
    finally:
        if real:
            subprocess.run(["umount", str(folder)], capture_output=True)
