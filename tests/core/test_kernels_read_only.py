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
from tests.tmpfs import remount_read_only, tmpfs

BOXES = [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]
CLASSES = [0, 0, 0, 1]
CHILD = f"""
import json
import numpy as np
import kernels
keep = kernels.nms_small_classes(np.array({BOXES}, np.float32), np.array({CLASSES}, np.int64), np.ones(4, bool),
                                 0.5, 100)[0]
print(json.dumps(keep.tolist()))
"""


def test_the_compiled_loops_import_and_run_where_nothing_can_be_cached(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with tmpfs(folder, "size=1m") as real:
        shutil.copy2(kernels.__file__, folder / "kernels.py")
        (folder / "home").mkdir()
        if real:
            assert remount_read_only(folder)
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
        keep = json.loads(r.stdout.strip().splitlines()[-1])
        # box 1 overlaps box 0 (IoU 0.81) and goes; box 2 is apart; box 3 is another class
        assert keep == [True, False, True, True]
        want = kernels.nms_small_classes(np.array(BOXES, np.float32), np.array(CLASSES, np.int64), np.ones(4, bool),
                                         0.5, 100)[0]
        assert keep == want.tolist()
        assert sorted(p.name for p in folder.iterdir()) == ["home", "kernels.py"]  # nothing was written there
