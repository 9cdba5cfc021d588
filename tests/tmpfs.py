"""A small tmpfs mounted on a test's folder, where the machine lets us mount one (root on Linux): a disk that
can really be filled, or a file system that really refuses writes (root included)."""
from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[bool]:
    """Mount a tmpfs with mount ``options`` (e.g. ``"size=256k"``, ``"ro,size=64k"``) on the existing empty
    ``folder``; yields whether it was mounted (False: the folder stays a plain one), and unmounts it after."""
    mounted = shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount_read_only(folder: Path) -> bool:
    """Make the tmpfs mounted on ``folder`` read-only; whether that worked."""
    return subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True).returncode == 0
