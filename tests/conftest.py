"""Test-wide settings: Qt runs offscreen; torch uses the machine's two cores deterministically."""
from __future__ import annotations

import os
import signal

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A suite started in the background (`nohup make test &`) inherits SIGINT ignored, and so would every
# process the tests start: Python installs no KeyboardInterrupt handler then, and the tests that press
# Ctrl-C on a real `ssd detect` / `ssd synth` would see it ignored. Ctrl-C reaches a program only from
# a terminal, where it is not ignored: give this process (and through it its children) that disposition.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# Idle OpenMP threads that spin take the second core from the GUI thread (as in ssd_gui/app.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _runtime_cache(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """Networks converted for OpenVINO during the tests are cached in a temporary folder, not ~/.cache."""
    os.environ["SSD_CACHE_DIR"] = str(tmp_path_factory.mktemp("ssd_cache"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


class FullDisk:
    """A folder whose file system can be filled: ``fill()`` makes the next write fail with ENOSPC."""

    def __init__(self, folder, real: bool, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        self.folder, self.real, self._monkeypatch = folder, real, monkeypatch

    def fill(self) -> None:
        """Fill the tmpfs to the last byte; without a tmpfs, make ``core.io.fileio``'s fsync fail with ENOSPC."""
        import errno

        if not self.real:
            import core.io.fileio

            def no_space(fd: int) -> None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            self._monkeypatch.setattr(core.io.fileio.os, "fsync", no_space)
            return
        fd = os.open(os.path.join(self.folder, ".filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)


@pytest.fixture
def full_disk(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A :class:`FullDisk` on a 256 KiB tmpfs, where the machine lets us mount one (root on Linux).
    Elsewhere a plain folder where ``core.io.fileio``'s fsync raises ``OSError(ENOSPC)``, the error a
    full disk gives at that call (``full_disk.real`` is then False).
    """
    from tests.tmpfs import tmpfs

    mnt = tmp_path / "small_disk"
    mnt.mkdir()
    with tmpfs(mnt, "size=256k") as mounted:
        yield FullDisk(mnt, mounted, monkeypatch)
