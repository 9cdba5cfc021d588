"""The calibration cache: one JSON file per weights file and settings, so a model is calibrated once.

Files live in ``<cache root>/estimate/`` (the root of :func:`core.runtime.cache.default_cache_root`:
``$SSD_CACHE_DIR``, else ``$XDG_CACHE_HOME/ssd-desktop``, else ``~/.cache/ssd-desktop``), named
``<first 16 hex digits of the weights' SHA-256>-<key>.json``. The key hashes everything the calibration
depends on besides the weights: the calibration images, the signal settings, the metric, the runtime
and precision, the corruption family and :data:`CALIBRATION_VERSION`. A file holds the calibration sets
(signals and true mAP of each), every candidate fit with its validation, and which one is used.
A cache folder that cannot be written is not an error: the calibration is used uncached and the
returned problem says why.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from core.io.fileio import describe_os_error, write_json

#: Bump when a change of the signals, the corruptions or the fit makes older calibrations wrong.
CALIBRATION_VERSION = 3


def estimate_cache_dir(root: str | Path | None = None) -> Path:
    """``<root>/estimate``; ``root`` defaults to core.runtime.cache's cache root."""
    if root is None:
        from core.runtime.cache import default_cache_root

        root = default_cache_root()
    return Path(root).expanduser() / "estimate"


def calibration_key(parts: dict[str, Any]) -> str:
    """20 hex digits of the SHA-256 of ``parts`` (plain JSON values) with :data:`CALIBRATION_VERSION`."""
    text = json.dumps({**parts, "version": CALIBRATION_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_file(weights_sha256: str, key: str, root: str | Path | None = None) -> Path:
    return estimate_cache_dir(root) / f"{weights_sha256[:16]}-{key}.json"


def load_cached(path: Path) -> dict[str, Any] | None:
    """The record in ``path``, or None when it is missing, unreadable or of another version."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != CALIBRATION_VERSION:
        return None
    return record


def store_cached(path: Path, record: dict[str, Any]) -> str | None:
    """Write ``record`` atomically to ``path``; None on success, else why it could not be cached."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {**record, "version": CALIBRATION_VERSION}, "calibration cache")
    except OSError as exc:
        return (f"the calibration could not be cached in '{path.parent}' ({describe_os_error(exc)}); it is used "
                f"now and computed again next time")
    return None


__all__ = ["CALIBRATION_VERSION", "cache_file", "calibration_key", "estimate_cache_dir", "load_cached", "store_cached"]
