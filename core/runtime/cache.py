"""On-disk cache of converted and quantized networks, so that no start converts or quantizes twice.

One folder per entry under the cache root (``$SSD_CACHE_DIR``, else ``$XDG_CACHE_HOME/ssd-desktop``,
else ``~/.cache/ssd-desktop``), then ``openvino/<name>-<key>/`` holding ``model.xml``, ``model.bin``
and ``record.json`` (what the entry is, which calibration images an int8 entry used, the SHA-256 of
``model.bin``). The key is a hash of the weights file's SHA-256 (of its content, read at every load),
the precision, the input size, the OpenVINO version, this project's export version and, for int8,
which calibration was asked for. OpenVINO's own compiled blobs go to ``openvino/compiled/`` (its
``CACHE_DIR``).

An entry whose ``model.bin`` is not the one its record and its ``model.xml`` name (overwritten in place,
cut short) is not used: it is converted again and replaced. A cache folder that cannot be written, or a
full disk, is not an error: the model is converted in memory, runs uncached, and
:attr:`NetworkCache.problem` says why (the CLI prints it, the GUI shows it).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from core.io.fileio import (describe_os_error, file_sha256, free_space_note, make_temp_dir,  # noqa: F401
                            remove_stale_temps, write_json)  # file_sha256: the API
from core.runtime.metadata import EXPORT_VERSION, NetworkMeta

CACHE_ENV = "SSD_CACHE_DIR"


def default_cache_root() -> Path:
    """``$SSD_CACHE_DIR``, else ``$XDG_CACHE_HOME/ssd-desktop``, else ``~/.cache/ssd-desktop``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ssd-desktop"


class NetworkCache:
    """The cache folder of OpenVINO networks.

    Attributes:
        root: the ``openvino`` folder inside the cache root.
        problem: None, or why nothing can be cached (a sentence naming the folder).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root() / "openvino"
        self.problem: str | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            self.problem = (f"cache folder '{self.root}' is not writable ({describe_os_error(exc)}): the network runs "
                            f"uncached and is converted again at every start (set {CACHE_ENV} to another folder)")

    @property
    def writable(self) -> bool:
        return self.problem is None

    @property
    def compiled_dir(self) -> Path | None:
        """OpenVINO's ``CACHE_DIR`` for compiled blobs, or None when the cache is not writable."""
        return None if self.problem else self.root / "compiled"

    @staticmethod
    def key(weights_sha256: str, precision: str, image_size: int, calibration: str = "") -> str:
        from core.runtime.openvino import openvino_version

        parts = {"weights": weights_sha256, "precision": precision, "image_size": int(image_size),
                 "openvino": openvino_version(), "export_version": EXPORT_VERSION, "calibration": calibration}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]

    def entry(self, name: str, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "model"
        return self.root / f"{safe}-{key}"

    def lookup(self, folder: Path) -> tuple[Any, NetworkMeta, dict[str, Any]] | None:
        """(``openvino.Model``, metadata, record) of a complete entry, or None: a broken entry (cut short,
        its ``model.bin`` not the one its record and its ``model.xml`` name) is not used, and :meth:`store`
        replaces it."""
        record_file = folder / "record.json"
        if not record_file.is_file():
            return None
        from core.runtime.formats import read_ir

        try:
            record = json.loads(record_file.read_text())
            model, meta = read_ir(folder / "model.xml")  # checks model.bin against the .xml's SHA-256
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("bin_sha256") != meta.weights_sha256:
            return None
        return model, meta, record

    def store(self, folder: Path, model: Any, meta: NetworkMeta, record: dict[str, Any]) -> Path | None:
        """Write an entry (IR + record) into a temporary folder, then rename it into place.

        Returns the entry's ``model.xml``, or None when the cache is not writable (``problem`` says why).
        """
        if self.problem:
            return None
        from core.runtime.formats import write_ir

        tmp = None
        try:
            remove_stale_temps(self.root, folder.name)  # what a kill during an earlier store left
            tmp = make_temp_dir(self.root, folder.name)
            write_ir(model, meta, tmp / "model.xml")
            write_json(tmp / "record.json", {**record, "bin_sha256": file_sha256(tmp / "model.bin"),
                                             "created": time.strftime("%Y-%m-%d %H:%M:%S")}, "cache record")
            if folder.exists():  # an unusable entry (lookup said None): replace it
                shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
            tmp = None
        except OSError as exc:
            room = f"; {free_space_note(self.root)}" if exc.errno == errno.ENOSPC else ""
            self.problem = (f"could not write to the cache folder '{self.root}' ({describe_os_error(exc)}{room}): "
                            f"the network runs uncached")
            return None
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        return folder / "model.xml"
